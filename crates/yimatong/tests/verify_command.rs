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
