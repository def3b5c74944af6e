//! `yimatong import FILE`: JSON lines of events, or the check-in CSV
//! (README, "Import formats"), with progress on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ymt_core::{Event, RegionCode};
use ymt_node::state::EventRecord;

use crate::cmd_server::open_state;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// JSON lines of events (or of `{region, event}` records), or a check-in
    /// CSV `person,venue,enter,leave`.
    pub file: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// The region recorded for plain events (GB/T 2260 code).
    #[arg(long, default_value = "44")]
    pub region: RegionCode,
    /// Skip malformed lines instead of refusing the whole file.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run_import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let head = {
        use std::io::BufRead;
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        let mut first = String::new();
        std::io::BufReader::new(file).read_line(&mut first)?;
        first
    };
    if head.trim_start().starts_with("person,") {
        return crate::cmd_trace::run_import_checkins(&args.file, &args.data, args.skip_bad);
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let mut records = Vec::new();
    let mut skipped = 0u64;
    let parsing = crate::progress::bar(text.len() as u64, "reading events (bytes)");
    let mut bytes_read = 0u64;
    for (index, line) in text.lines().enumerate() {
        bytes_read += line.len() as u64 + 1;
        if index.is_multiple_of(65_536) {
            parsing.set_position(bytes_read);
        }
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<EventRecord>(line)
            .or_else(|_| {
                serde_json::from_str::<Event>(line).map(|event| EventRecord {
                    region: args.region.clone(),
                    event,
                })
            })
            .map_err(|error| anyhow::anyhow!("{} line {}: {error}", args.file.display(), index + 1))
            .and_then(|record| {
                record.event.validate().map_err(|error| {
                    anyhow::anyhow!("{} line {}: {error}", args.file.display(), index + 1)
                })?;
                Ok(record)
            });
        match parsed {
            Ok(record) => records.push(record),
            Err(error) if args.skip_bad => {
                eprintln!("skipped: {error}");
                skipped += 1;
            }
            Err(error) => {
                return Err(
                    error.context("nothing was imported (use --skip-bad to skip bad lines)")
                );
            }
        }
    }
    parsing.finish_and_clear();
    let state = open_state(&args.data)?;
    let started = Instant::now();
    let summary = crate::progress::import_records(&state, &records, "cli-import")
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    println!(
        "{}",
        serde_json::json!({"stored": summary.stored, "duplicate": summary.duplicate, "skipped": skipped, "persons": summary.persons, "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(ExitCode::SUCCESS)
}
