//! Runs CertLogic test-suite files in the official formats:
//!
//! - evaluator suites (`schemas/CertLogic-testSuite.json`): each case has an
//!   expression and assertions `{data, expected}`; each assertion is a unit;
//! - validation suites (`schemas/CertLogic-validation-testSuite.json`): each
//!   case has an expression and the expected `issues`; each case is a unit.
//!
//! `directive: "skip"` on a file, case or assertion counts the units it
//! covers as skipped (unless [`RunOptions::honour_skip`] is false).
//! `directive: "only"` is treated like no directive.
//!
//! [`run_suite`] is pure; [`run_paths`] reads files and directories.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::compile::{Expr, validate};
use super::value::Value;

/// Test files larger than this are reported as failures, not read.
pub const SUITE_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// How deep [`run_paths`] descends into directories.
pub const DIRECTORY_DEPTH_MAX: usize = 16;

#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Count units marked `directive: "skip"` as skipped instead of running
    /// them.
    pub honour_skip: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { honour_skip: true }
    }
}

/// Counts over all units run, plus every failure.
#[derive(Clone, Debug, Default)]
pub struct TestSuiteSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<TestFailure>,
    /// Per-file counts; filled only when running verbosely.
    pub files: Vec<FileSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    pub file: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// One failed unit (or a file that could not be run at all).
#[derive(Clone, Debug)]
pub struct TestFailure {
    pub file: String,
    /// Empty when the whole file failed (unreadable, malformed).
    pub case: String,
    /// The assertion's index within its case, for evaluator suites.
    pub assertion_index: Option<usize>,
    /// The assertion's `message`, when it has one.
    pub assertion_message: Option<String>,
    pub expected: Json,
    /// The result as JSON text, or a description of the error.
    pub actual: String,
}

impl fmt::Display for TestFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file)?;
        if !self.case.is_empty() {
            write!(formatter, " › {}", self.case)?;
        }
        if let Some(index) = self.assertion_index {
            write!(formatter, " › assertion #{index}")?;
        }
        if let Some(message) = &self.assertion_message {
            write!(formatter, " ({message})")?;
        }
        write!(
            formatter,
            ": expected {}, got {}",
            self.expected, self.actual
        )
    }
}

impl TestSuiteSummary {
    /// `N passed, M failed, K skipped`.
    pub fn counts_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    fn fail(&mut self, failure: TestFailure) {
        self.failed += 1;
        self.failures.push(failure);
    }
}

/// Runs every `*.json` file under `paths` (files are run whatever their
/// name), honouring skip directives. With `verbose`, per-file counts are
/// recorded in [`TestSuiteSummary::files`].
pub fn run_paths(paths: &[PathBuf], verbose: bool) -> TestSuiteSummary {
    run_paths_with(paths, verbose, RunOptions::default())
}

/// [`run_paths`] with options.
pub fn run_paths_with(paths: &[PathBuf], verbose: bool, options: RunOptions) -> TestSuiteSummary {
    let mut summary = TestSuiteSummary::default();
    // (file, whether it was named explicitly rather than found in a directory)
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            if let Err(failure) = collect_json_files(path, 0, &mut found) {
                summary.fail(*failure);
            }
            files.extend(found.into_iter().map(|file| (file, false)));
        } else {
            files.push((path.clone(), true));
        }
    }
    for (file, explicit) in files {
        let label = file.display().to_string();
        let before = (summary.passed, summary.failed, summary.skipped);
        match read_suite(&file) {
            // JSON files without cases found in a directory (such as the
            // schemas next to the suites) are not test suites: pass them by.
            Ok(suite) if !explicit && suite.get("cases").is_none() => continue,
            Ok(suite) => run_suite(&label, &suite, options, &mut summary),
            Err(actual) => summary.fail(TestFailure {
                file: label.clone(),
                case: String::new(),
                assertion_index: None,
                assertion_message: None,
                expected: Json::String("a readable test-suite JSON file".to_string()),
                actual,
            }),
        }
        if verbose {
            summary.files.push(FileSummary {
                file: label,
                passed: summary.passed - before.0,
                failed: summary.failed - before.1,
                skipped: summary.skipped - before.2,
            });
        }
    }
    summary
}

fn collect_json_files(
    directory: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
) -> Result<(), Box<TestFailure>> {
    let directory_failure = |actual: String| {
        Box::new(TestFailure {
            file: directory.display().to_string(),
            case: String::new(),
            assertion_index: None,
            assertion_message: None,
            expected: Json::String("a readable directory".to_string()),
            actual,
        })
    };
    if depth > DIRECTORY_DEPTH_MAX {
        return Err(directory_failure(format!(
            "directories nested more than {DIRECTORY_DEPTH_MAX} deep"
        )));
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(directory)
        .map_err(|error| directory_failure(error.to_string()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_json_files(&entry, depth + 1, files)?;
        } else if entry
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            files.push(entry);
        }
    }
    Ok(())
}

fn read_suite(file: &Path) -> Result<Json, String> {
    let size = fs::metadata(file)
        .map_err(|error| format!("cannot read: {error}"))?
        .len();
    if size > SUITE_FILE_BYTES_MAX {
        return Err(format!(
            "file of {size} bytes exceeds the limit of {SUITE_FILE_BYTES_MAX}"
        ));
    }
    let text = fs::read_to_string(file).map_err(|error| format!("cannot read: {error}"))?;
    serde_json::from_str(&text).map_err(|error| format!("not JSON: {error}"))
}

fn is_skip(object: &Json) -> bool {
    object.get("directive").and_then(Json::as_str) == Some("skip")
}

/// Runs one parsed suite file, adding its results to `summary`.
pub fn run_suite(file: &str, suite: &Json, options: RunOptions, summary: &mut TestSuiteSummary) {
    let file_failure = |actual: &str| TestFailure {
        file: file.to_string(),
        case: String::new(),
        assertion_index: None,
        assertion_message: None,
        expected: Json::String("a test suite with a \"cases\" array".to_string()),
        actual: actual.to_string(),
    };
    let Some(cases) = suite.get("cases").and_then(Json::as_array) else {
        summary.fail(file_failure("no \"cases\" array"));
        return;
    };
    let skip_file = options.honour_skip && is_skip(suite);
    for (case_index, case) in cases.iter().enumerate() {
        let case_name = case
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("case #{case_index}"));
        let skip_case = skip_file || (options.honour_skip && is_skip(case));
        if let Some(assertions) = case.get("assertions").and_then(Json::as_array) {
            run_evaluator_case(
                file, &case_name, case, assertions, skip_case, options, summary,
            );
        } else if let Some(issues) = case.get("issues").and_then(Json::as_array) {
            if skip_case {
                summary.skipped += 1;
            } else {
                run_validation_case(file, &case_name, case, issues, summary);
            }
        } else {
            summary.fail(TestFailure {
                case: case_name,
                ..file_failure("a case with neither \"assertions\" nor \"issues\"")
            });
        }
    }
}

fn run_evaluator_case(
    file: &str,
    case_name: &str,
    case: &Json,
    assertions: &[Json],
    skip_case: bool,
    options: RunOptions,
    summary: &mut TestSuiteSummary,
) {
    let case_expr = case.get("certLogicExpression").map(Expr::compile);
    for (index, assertion) in assertions.iter().enumerate() {
        if skip_case || (options.honour_skip && is_skip(assertion)) {
            summary.skipped += 1;
            continue;
        }
        let expected = assertion.get("expected").cloned().unwrap_or(Json::Null);
        let failure = |actual: String| TestFailure {
            file: file.to_string(),
            case: case_name.to_string(),
            assertion_index: Some(index),
            assertion_message: assertion
                .get("message")
                .and_then(Json::as_str)
                .map(str::to_string),
            expected: expected.clone(),
            actual,
        };
        let own_expr = assertion.get("certLogicExpression").map(Expr::compile);
        let compiled = match (own_expr.as_ref(), case_expr.as_ref()) {
            (Some(Ok(expr)), _) | (None, Some(Ok(expr))) => expr,
            (Some(Err(error)), _) | (None, Some(Err(error))) => {
                summary.fail(failure(format!("compile error: {error}")));
                continue;
            }
            (None, None) => {
                summary.fail(failure("no certLogicExpression".to_string()));
                continue;
            }
        };
        let data = Value::from_json(assertion.get("data").unwrap_or(&Json::Null));
        match compiled.eval(&data) {
            Ok(actual) if actual == Value::from_json(&expected) => summary.passed += 1,
            Ok(actual) => summary.fail(failure(actual.to_string())),
            Err(error) => summary.fail(failure(format!("evaluation error: {error}"))),
        }
    }
}

fn run_validation_case(
    file: &str,
    case_name: &str,
    case: &Json,
    expected_issues: &[Json],
    summary: &mut TestSuiteSummary,
) {
    let expr = case.get("certLogicExpression").unwrap_or(&Json::Null);
    let issues = validate(expr);
    // Compare as (expression at the issue's location, message) pairs, the
    // shape the validation suite uses.
    let actual: Vec<Json> = issues
        .iter()
        .map(|issue| {
            serde_json::json!({
                "expr": expr.pointer(&issue.path).cloned().unwrap_or(Json::Null),
                "message": issue.message,
            })
        })
        .collect();
    let expected = Json::Array(expected_issues.to_vec());
    if Json::Array(actual.clone()) == expected {
        summary.passed += 1;
    } else {
        summary.fail(TestFailure {
            file: file.to_string(),
            case: case_name.to_string(),
            assertion_index: None,
            assertion_message: None,
            expected,
            actual: Json::Array(actual).to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_passes_failures_and_skips() {
        let suite = json!({
            "name": "demo",
            "cases": [
                {"name": "plus", "certLogicExpression": {"+": [{"var": "a"}, 1]}, "assertions": [
                    {"data": {"a": 1}, "expected": 2},
                    {"data": {"a": 1}, "expected": 3, "message": "wrong on purpose"},
                    {"data": {"a": 1}, "expected": 3, "directive": "skip"}
                ]},
                {"name": "skipped case", "directive": "skip", "certLogicExpression": true, "assertions": [
                    {"data": null, "expected": false}
                ]},
                {"name": "own expression", "assertions": [
                    {"certLogicExpression": {"var": "x"}, "data": {"x": 2.0}, "expected": 2}
                ]},
                {"name": "validation", "certLogicExpression": {"var": 0}, "issues": [
                    {"expr": {"var": 0}, "message": "not of the form { \"var\": \"<path>\" }"}
                ]}
            ]
        });
        let mut summary = TestSuiteSummary::default();
        run_suite("demo.json", &suite, RunOptions::default(), &mut summary);
        assert_eq!(summary.counts_line(), "3 passed, 1 failed, 2 skipped");
        let failure = summary.failures[0].to_string();
        assert_eq!(
            failure,
            "demo.json › plus › assertion #1 (wrong on purpose): expected 3, got 2"
        );

        let mut unskipped = TestSuiteSummary::default();
        run_suite(
            "demo.json",
            &suite,
            RunOptions { honour_skip: false },
            &mut unskipped,
        );
        assert_eq!(unskipped.counts_line(), "3 passed, 3 failed, 0 skipped");
    }
}
