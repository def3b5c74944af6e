//! `yimatong verify`: a trust list is trusted only through a pinned anchor,
//! and a code living longer than the maximum is refused (issue 12, item 7).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_yimatong");
// After the keys are generated (at the real now), so they are in force.
const CLOCK: &str = "2030-01-01T08:00:00Z";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn issue(keys: &Path, ttl_secs: i64) -> String {
    let output = run(&[
        "keys",
        "issue",
        "--keys-dir",
        keys.to_str().unwrap(),
        "--person",
        "p-0123456789abcdef",
        "--clock",
        CLOCK,
        "--ttl-secs",
        &ttl_secs.to_string(),
    ]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_trust_list_without_a_pinned_anchor_is_reported_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    assert!(
        run(&["keys", "generate", "--keys-dir", keys_arg])
            .status
            .success()
    );
    let list = dir.path().join("trust.json");
    let anchor = dir.path().join("anchor.json");
    let exported = run(&[
        "keys",
        "export-trust-list",
        "--keys-dir",
        keys_arg,
        "--out",
        list.to_str().unwrap(),
        "--anchor-out",
        anchor.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{exported:?}");
    let token = issue(&keys, 300);
    let at = "2030-01-01T08:01:00Z";

    let unpinned = run(&[
        "verify",
        &token,
        "--trust-list",
        list.to_str().unwrap(),
        "--clock",
        at,
    ]);
    let report = stdout_json(&unpinned);
    assert!(
        !unpinned.status.success(),
        "an unpinned list passed: {report}"
    );
    assert_eq!(report["verdict"], "untrusted", "{report}");
    assert_eq!(report["valid"], false, "{report}");

    let pinned = run(&[
        "verify",
        &token,
        "--trust-list",
        list.to_str().unwrap(),
        "--trust-anchor",
        anchor.to_str().unwrap(),
        "--clock",
        at,
    ]);
    let report = stdout_json(&pinned);
    assert!(pinned.status.success(), "{report}");
    assert_eq!(report["verdict"], "valid", "{report}");
    assert_eq!(report["valid"], true, "{report}");
}

#[test]
fn the_verify_command_refuses_a_code_living_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    assert!(
        run(&["keys", "generate", "--keys-dir", keys_arg])
            .status
            .success()
    );
    let token = issue(&keys, 365 * 86_400);
    // The maximum is the key store's, and configurable.
    let set = run(&["keys", "set-ttl", "--keys-dir", keys_arg, "--secs", "600"]);
    assert_eq!(stdout_json(&set)["max_token_ttl_secs"], 600);
    let ten_minutes = issue(&keys, 600);
    let eleven_minutes = issue(&keys, 660);
    for (token, expect_valid) in [(&ten_minutes, true), (&eleven_minutes, false)] {
        let output = run(&[
            "verify",
            token,
            "--keys-dir",
            keys_arg,
            "--clock",
            "2030-01-01T08:01:00Z",
        ]);
        assert_eq!(
            output.status.success(),
            expect_valid,
            "{}",
            stdout_json(&output)
        );
    }
    let output = run(&[
        "verify",
        &token,
        "--keys-dir",
        keys_arg,
        "--clock",
        "2030-01-01T08:01:00Z",
    ]);
    let report = stdout_json(&output);
    assert!(!output.status.success(), "a one-year code passed: {report}");
    assert_eq!(
        report["report"]["error"]["code"], "lifetime_too_long",
        "{report}"
    );
}

#[test]
fn verify_takes_the_node_data_directory_from_any_directory_and_says_its_verdict_first() {
    let data = tempfile::tempdir().unwrap();
    let keys = data.path().join("keys");
    assert!(
        run(&["keys", "generate", "--keys-dir", keys.to_str().unwrap()])
            .status
            .success()
    );
    let token = issue(&keys, 300);
    let elsewhere = tempfile::tempdir().unwrap();
    let check = |token: &str, expect_success: bool, expect_verdict: &str| {
        let output = Command::new(BIN)
            .current_dir(elsewhere.path())
            .args(["verify", token, "--data", data.path().to_str().unwrap()])
            .args(["--clock", "2030-01-01T08:01:00Z"])
            .output()
            .expect("the binary runs");
        let report = stdout_json(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), expect_success, "{report}");
        assert_eq!(
            stderr.lines().next().unwrap_or(""),
            expect_verdict,
            "{stderr}"
        );
    };
    check(
        &token,
        true,
        "VALID: green code of 张*, expires 2030-01-01T08:05:00Z (issuer ymt:cn, rule set rules-1)",
    );
    // One character changed in the signed part: forged or damaged.
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let output = Command::new(BIN)
        .current_dir(elsewhere.path())
        .args(["verify", &tampered, "--data", data.path().to_str().unwrap()])
        .args(["--clock", "2030-01-01T08:01:00Z"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("INVALID: the "), "{stderr}");
}

#[test]
fn verify_without_a_key_store_says_where_it_looked_instead_of_calling_every_code_invalid() {
    let elsewhere = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(elsewhere.path())
        .args(["verify", "YMT1:ABC"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no key store at ./data/keys") && stderr.contains("--data DIR"),
        "{stderr}"
    );
    assert!(
        !elsewhere.path().join("data").exists(),
        "verify created a key store"
    );
}
