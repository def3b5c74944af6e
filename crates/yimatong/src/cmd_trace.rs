//! `yimatong trace`, `yimatong bench trace` and the check-in import used by
//! `yimatong import`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use ymt_trace::{
    CheckinLog, ImportOptions, Interner, Positive, StayPolicy, TraceIndex, TraceQuery, TraceResult,
    TraceStore,
};

#[derive(clap::Args)]
pub struct TraceArgs {
    /// Data directory holding the check-in log (`DIR/checkins/`).
    #[arg(long)]
    data: PathBuf,
    /// `person,confirmed` CSV of the confirmed cases.
    #[arg(long)]
    positives: PathBuf,
    /// Least overlap, in seconds, that makes a close contact.
    #[arg(long, default_value_t = 900)]
    min_overlap_secs: u32,
    /// Trace only the positives' check-ins that entered before confirmation.
    #[arg(long)]
    before_confirmed: bool,
    /// Trace only stays that end at most this many seconds before each
    /// positive's confirmation or later (for example 345600 for 4 days).
    #[arg(long)]
    lookback_secs: Option<u32>,
    /// Write the sorted pairs as `positive,contact` CSV.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct BenchTraceArgs {
    /// `person,venue,enter,leave` CSV.
    #[arg(long)]
    checkins: PathBuf,
    /// `person,confirmed` CSV.
    #[arg(long)]
    positives: PathBuf,
    /// Trace only this overlap (default: both 1 s and 900 s).
    #[arg(long)]
    min_overlap_secs: Option<u32>,
    /// Timed runs of each trace variant; the JSON gives the median and minimum.
    #[arg(long, default_value_t = 3)]
    repeats: u32,
    /// Also time the durable path: import into this (empty) data directory,
    /// then reopen it and rebuild the index from the log.
    #[arg(long)]
    import_into: Option<PathBuf>,
}

fn read_positives(path: &Path) -> anyhow::Result<Vec<Positive>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    ymt_trace::csv::parse_positives_csv(file).with_context(|| format!("{}", path.display()))
}

pub fn run_trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let mut positives = read_positives(&args.positives)?;
    if let Some(lookback_secs) = args.lookback_secs {
        for positive in &mut positives {
            positive.window_start = Some(positive.confirmed.plus_secs(-(lookback_secs as i64)));
        }
    }
    let load_watch = Stopwatch::start();
    let loaded = CheckinLog::load_read_only(&args.data)
        .with_context(|| format!("loading the check-in log of {}", args.data.display()))?;
    let (load_secs, load_cpu_secs) = (load_watch.wall_secs(), load_watch.cpu_secs());
    let torn_bytes = loaded.recovery.torn_bytes_truncated;
    let index_watch = Stopwatch::start();
    let index = TraceIndex::from_parts(loaded.persons, loaded.venues, loaded.stays);
    let (index_secs, index_cpu_secs) = (index_watch.wall_secs(), index_watch.cpu_secs());
    let query = TraceQuery {
        min_overlap_secs: args.min_overlap_secs,
        before_confirmed: args.before_confirmed,
    };
    let started = Instant::now();
    let result = index.trace(&positives, &query)?;
    let trace_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    if let Some(out) = &args.out {
        write_pairs_csv(&index, &result, out)?;
    }
    let output_secs = started.elapsed().as_secs_f64();
    let report = json!({
        "checkins": index.len(),
        "positives": positives.len(),
        "positives_unknown": result.positives_unknown,
        "min_overlap_secs": args.min_overlap_secs,
        "before_confirmed": args.before_confirmed,
        "lookback_secs": args.lookback_secs,
        "pairs": result.pairs.len(),
        "contacts": result.contacts.len(),
        "log_torn_bytes_ignored": torn_bytes,
        "elapsed_secs": {
            "load": load_secs,
            "index": index_secs,
            "trace": trace_secs,
            "output": output_secs,
        },
        "cpu_secs": { "load": load_cpu_secs, "index": index_cpu_secs },
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// Orders ids numerically when both are plain numbers, else as text, so the
/// file matches the numerically sorted reference files of the benchmark.
fn natural_key(text: &str) -> (u8, u64, &str) {
    match text.parse::<u64>() {
        Ok(number) if !text.starts_with('+') => (0, number, text),
        _ => (1, 0, text),
    }
}

fn write_pairs_csv(index: &TraceIndex, result: &TraceResult, out: &Path) -> anyhow::Result<()> {
    let persons = index.persons();
    let mut rows: Vec<(&str, &str)> = result
        .pairs
        .iter()
        .map(|pair| {
            (
                persons.resolve(pair.positive),
                persons.resolve(pair.contact),
            )
        })
        .collect();
    rows.sort_unstable_by(|x, y| {
        natural_key(x.0)
            .cmp(&natural_key(y.0))
            .then_with(|| natural_key(x.1).cmp(&natural_key(y.1)))
    });
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = BufWriter::new(file);
    writeln!(writer, "positive,contact")?;
    for (positive, contact) in rows {
        writeln!(writer, "{positive},{contact}")?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Imports a `person,venue,enter,leave` CSV into the check-in log of
/// `data_dir`, with a progress bar on a terminal. Without `skip_bad` the first
/// bad line aborts the import and nothing is written; with it, bad lines are
/// skipped and counted. Prints a JSON report.
pub fn run_import_checkins(
    csv: &Path,
    data_dir: &Path,
    skip_bad: bool,
) -> anyhow::Result<ExitCode> {
    let report = import_checkins(csv, data_dir, skip_bad)?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn import_checkins(
    csv: &Path,
    data_dir: &Path,
    skip_bad: bool,
) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let file = File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let total_bytes = file.metadata()?.len();
    let (mut store, recovery) = TraceStore::open(data_dir, StayPolicy::default())
        .with_context(|| format!("opening the check-in store of {}", data_dir.display()))?;
    let open_secs = started.elapsed().as_secs_f64();
    let bar = indicatif::ProgressBar::new(total_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    let options = ImportOptions {
        skip_bad,
        ..ImportOptions::default()
    };
    let watch = Stopwatch::start();
    let outcome = store.import_csv(file, &options, &mut |bytes| bar.set_position(bytes));
    bar.finish_and_clear();
    let report = outcome.with_context(|| format!("importing {}", csv.display()))?;
    let (import_secs, import_cpu_secs) = (watch.wall_secs(), watch.cpu_secs());
    let skipped_errors: Vec<String> = report
        .parse
        .skipped_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(json!({
        "file": csv.display().to_string(),
        "data": data_dir.display().to_string(),
        "lines": report.parse.lines,
        "imported": report.parse.checkins,
        "skipped": report.parse.skipped,
        "skipped_errors_first": skipped_errors,
        "new_persons": report.new_persons,
        "new_venues": report.new_venues,
        "bytes_written": report.bytes_written,
        "checkins_total": store.index().len(),
        "log_torn_bytes_truncated": recovery.torn_bytes_truncated,
        "elapsed_secs": { "open": open_secs, "import_and_index": import_secs },
        "cpu_secs": { "import_and_index": import_cpu_secs },
    }))
}

/// CPU time (user + system, all threads) of this process so far, in seconds,
/// from /proc/self/stat at the usual 100 ticks a second. On a shared machine
/// it shows the work done even when the wall clock includes waiting for a core.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

/// Wall and CPU seconds since it was started.
struct Stopwatch {
    wall: Instant,
    cpu_secs: Option<f64>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu_secs: process_cpu_secs(),
        }
    }

    fn wall_secs(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }

    fn cpu_secs(&self) -> Option<f64> {
        Some(process_cpu_secs()? - self.cpu_secs?)
    }
}

/// Resident and peak resident memory in bytes, from /proc/self/status.
fn memory_bytes() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.trim();
            let kib: u64 = rest.strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run_bench(args: BenchTraceArgs) -> anyhow::Result<ExitCode> {
    let positives = read_positives(&args.positives)?;
    let repeats = args.repeats.clamp(1, 100);

    let load_watch = Stopwatch::start();
    let file = File::open(&args.checkins)
        .with_context(|| format!("opening {}", args.checkins.display()))?;
    let mut persons = Interner::new();
    let mut venues = Interner::new();
    let (stays, parse) = ymt_trace::csv::parse_checkins_csv(
        file,
        &mut persons,
        &mut venues,
        &ImportOptions::default(),
        &mut |_| {},
    )
    .with_context(|| format!("{}", args.checkins.display()))?;
    let (load_secs, load_cpu_secs) = (load_watch.wall_secs(), load_watch.cpu_secs());

    let index_watch = Stopwatch::start();
    let index = TraceIndex::from_parts(persons, venues, stays);
    let (index_secs, index_cpu_secs) = (index_watch.wall_secs(), index_watch.cpu_secs());
    let stats = index.stats();

    let overlaps: Vec<u32> = match args.min_overlap_secs {
        Some(secs) => vec![secs],
        None => vec![1, 900],
    };
    let mut variants = Vec::new();
    for &min_overlap_secs in &overlaps {
        for before_confirmed in [false, true] {
            let query = TraceQuery {
                min_overlap_secs,
                before_confirmed,
            };
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..repeats {
                let started = Instant::now();
                let result = index.trace(&positives, &query)?;
                times.push(started.elapsed().as_secs_f64());
                last = Some(result);
            }
            let result = last.expect("at least one repeat");
            let trace_secs_min = times.iter().copied().fold(f64::INFINITY, f64::min);
            variants.push(json!({
                "min_overlap_secs": min_overlap_secs,
                "before_confirmed": before_confirmed,
                "pairs": result.pairs.len(),
                "contacts": result.contacts.len(),
                "trace_secs_median": median(&mut times),
                "trace_secs_min": trace_secs_min,
            }));
        }
    }
    let (vm_rss, vm_hwm) = memory_bytes();
    drop(index);

    let durable = match &args.import_into {
        None => serde_json::Value::Null,
        Some(dir) => {
            let started = Instant::now();
            let import = import_checkins(&args.checkins, dir, false)?;
            let import_secs = started.elapsed().as_secs_f64();
            let reload_watch = Stopwatch::start();
            let loaded = CheckinLog::load_read_only(dir)?;
            let (reload_secs, reload_cpu_secs) =
                (reload_watch.wall_secs(), reload_watch.cpu_secs());
            let reindex_watch = Stopwatch::start();
            let index = TraceIndex::from_parts(loaded.persons, loaded.venues, loaded.stays);
            let (reindex_secs, reindex_cpu_secs) =
                (reindex_watch.wall_secs(), reindex_watch.cpu_secs());
            json!({
                "import": import,
                "import_total_secs": import_secs,
                "reopen_load_secs": reload_secs,
                "reopen_index_secs": reindex_secs,
                "reopen_load_cpu_secs": reload_cpu_secs,
                "reopen_index_cpu_secs": reindex_cpu_secs,
                "reopen_checkins": index.len(),
            })
        }
    };

    let report = json!({
        "checkins": stats.checkins,
        "persons": stats.persons,
        "venues": stats.venues,
        "positives": positives.len(),
        "csv_lines": parse.lines,
        "load_csv_secs": load_secs,
        "index_secs": index_secs,
        "load_csv_cpu_secs": load_cpu_secs,
        "index_cpu_secs": index_cpu_secs,
        "index_bytes": stats.index_bytes,
        "index_bytes_per_checkin": stats.index_bytes_per_checkin(),
        "interner_bytes": stats.interner_bytes,
        "variants": variants,
        "vm_rss_bytes": vm_rss,
        "vm_hwm_bytes": vm_hwm,
        "durable": durable,
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
