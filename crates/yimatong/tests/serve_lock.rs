//! A second `serve` on a data directory a running node holds is refused,
//! changes nothing, and says why: a server may already be running there
//! (issue 13, item 25).

mod support;

use std::process::Command;

use support::{binary, start};

#[test]
fn a_second_server_on_the_same_data_directory_is_refused_with_a_hint_that_one_is_running() {
    let data = tempfile::tempdir().unwrap();
    // `start` returns once the first node prints where it listens, so it
    // holds the directory by then.
    let (_first, _base) = start(data.path(), &[]);
    let second = Command::new(binary())
        .args(["serve", "--data"])
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second server started: {stderr}"
    );
    assert!(
        stderr.contains("is a server already running on it?"),
        "{stderr}"
    );
}
