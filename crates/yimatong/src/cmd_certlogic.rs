//! `yimatong certlogic …`: evaluate, validate and test CertLogic expressions.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ymt_rules::certlogic::test_suite::{RunOptions, run_paths_with};
use ymt_rules::certlogic::{Expr, Value, validate};

/// Expression and data files larger than this are refused.
const INPUT_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

#[derive(clap::Subcommand)]
pub enum CertlogicCommand {
    /// Evaluate an expression against data; print the result as JSON.
    Eval {
        /// JSON file with the CertLogic expression.
        #[arg(long)]
        logic: PathBuf,
        /// JSON file with the data context.
        #[arg(long)]
        data: PathBuf,
    },
    /// Run CertLogic test-suite files (evaluator or validation format) found
    /// under the given files or directories.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// List every failure and per-file counts.
        #[arg(long)]
        verbose: bool,
        /// Also run files, cases and assertions marked `directive: "skip"`.
        #[arg(long)]
        no_skip: bool,
    },
    /// Report the structural issues of an expression (exit 1 if any).
    Validate {
        /// JSON file with the CertLogic expression.
        file: PathBuf,
    },
}

pub fn run(command: CertlogicCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertlogicCommand::Eval { logic, data } => run_eval(&logic, &data),
        CertlogicCommand::Test {
            paths,
            verbose,
            no_skip,
        } => Ok(run_test(&paths, verbose, no_skip)),
        CertlogicCommand::Validate { file } => run_validate(&file),
    }
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > INPUT_FILE_BYTES_MAX {
        bail!(
            "{} has {size} bytes, more than the limit of {INPUT_FILE_BYTES_MAX}",
            path.display()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn run_eval(logic_path: &Path, data_path: &Path) -> anyhow::Result<ExitCode> {
    let logic = read_json(logic_path)?;
    let data = read_json(data_path)?;
    let expr = Expr::compile(&logic)
        .with_context(|| format!("invalid CertLogic expression in {}", logic_path.display()))?;
    let result = expr
        .eval(&Value::from_json(&data))
        .with_context(|| format!("evaluating {}", logic_path.display()))?;
    println!("{}", result.to_json());
    Ok(ExitCode::SUCCESS)
}

fn run_test(paths: &[PathBuf], verbose: bool, no_skip: bool) -> ExitCode {
    let options = RunOptions {
        honour_skip: !no_skip,
    };
    let summary = run_paths_with(paths, verbose, options);
    if verbose {
        for file in &summary.files {
            println!(
                "{}: {} passed, {} failed, {} skipped",
                file.file, file.passed, file.failed, file.skipped
            );
        }
        for failure in &summary.failures {
            println!("FAILED {failure}");
        }
    } else if summary.failed > 0 {
        eprintln!("(run with --verbose to list the failures)");
    }
    println!("{}", summary.counts_line());
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_validate(path: &Path) -> anyhow::Result<ExitCode> {
    let expr = read_json(path)?;
    let issues = validate(&expr);
    for issue in &issues {
        let location = if issue.path.is_empty() {
            "(root)"
        } else {
            issue.path.as_str()
        };
        println!("{location}: {}", issue.message);
    }
    if issues.is_empty() {
        println!("valid");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} issue(s)", issues.len());
        Ok(ExitCode::FAILURE)
    }
}
