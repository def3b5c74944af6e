//! The official CertLogic test vectors, read from `../shared/external`
//! (or `$YMT_CONFORMANCE_DIR`); skipped with a clear line when absent.

use std::path::PathBuf;

use ymt_rules::certlogic::test_suite::{RunOptions, TestSuiteSummary, run_paths, run_paths_with};

/// The `external` directory holding the vectors, if present.
fn external_dir() -> Option<PathBuf> {
    let candidate = match std::env::var_os("YMT_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/external"),
    };
    candidate.is_dir().then_some(candidate)
}

fn certlogic_dir(name: &str) -> Option<PathBuf> {
    let dir = external_dir()?.join("certlogic").join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: CertLogic vectors not found at {}", dir.display());
        None
    }
}

fn report(summary: &TestSuiteSummary) {
    for failure in &summary.failures {
        println!("FAILED {failure}");
    }
    println!("{}", summary.counts_line());
}

#[test]
fn evaluator_conformance_suite_passes() {
    let Some(dir) = certlogic_dir("testSuite") else {
        println!("skipped: CertLogic evaluator test suite not found (set YMT_CONFORMANCE_DIR)");
        return;
    };
    let summary = run_paths(&[dir], false);
    report(&summary);
    assert_eq!(summary.failed, 0, "{}", summary.counts_line());
    assert!(summary.passed >= 218, "{}", summary.counts_line());
}

#[test]
fn patched_reduce_vectors_pass_with_our_patched_reduce() {
    let Some(dir) = certlogic_dir("testSuite") else {
        println!("skipped: CertLogic evaluator test suite not found (set YMT_CONFORMANCE_DIR)");
        return;
    };
    // The file is marked skip upstream because plain CertLogic lacks the
    // patch; ours has it, so run it regardless of directives.
    let summary = run_paths_with(
        &[dir.join("patched-reduce.json")],
        false,
        RunOptions { honour_skip: false },
    );
    report(&summary);
    assert_eq!(summary.failed, 0, "{}", summary.counts_line());
    assert!(summary.passed >= 10, "{}", summary.counts_line());
}

#[test]
fn validation_suite_passes() {
    let Some(dir) = certlogic_dir("validation-testSuite") else {
        println!("skipped: CertLogic validation test suite not found (set YMT_CONFORMANCE_DIR)");
        return;
    };
    let summary = run_paths(&[dir], false);
    report(&summary);
    assert_eq!(summary.failed, 0, "{}", summary.counts_line());
    assert!(summary.passed >= 23, "{}", summary.counts_line());
}
