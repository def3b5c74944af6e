//! Crash test: a child process appends as fast as it can and prints every
//! acknowledgement; the parent SIGKILLs it after a pseudo-random number of
//! acknowledgements (seeded), reopens the store and checks that every
//! acknowledged event is there with its payload, that no batch is partly
//! stored, that the audit chain verifies and that the latest snapshot is
//! intact. This file has its own `main` because it re-executes itself as the
//! child.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use ymt_core::{EventId, PersonId, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome, EmbeddedStore, EventStore, NewEvent, StoreConfig};

const CHILD_DIR_ENV: &str = "YMT_STORE_CRASH_CHILD_DIR";
const CHILD_ROUND_ENV: &str = "YMT_STORE_CRASH_CHILD_ROUND";
const ROUNDS: u64 = 24;
const SEED: u64 = 0x005E_ED0F_C4A5;
/// Kill after 0..ACKS_BEFORE_KILL_MAX acknowledgements (0: right after the
/// spawn, possibly during open and recovery).
const ACKS_BEFORE_KILL_MAX: u64 = 150;
const CHILD_WRITERS: u64 = 4;
/// A child that sends no acknowledgement for this long is stuck.
const CHILD_SILENCE_LIMIT_SECS: u64 = 60;

/// The name filters (as in `cargo test NAME`) match against.
const TEST_NAME: &str = "crash_sigkill_loses_no_acknowledged_event";

fn main() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        return child(Path::new(&dir));
    }
    // Behave like a libtest binary towards `cargo test FILTER` and `--list`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        println!("{TEST_NAME}: test");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|filter| TEST_NAME.contains(filter.as_str()))
    {
        println!("0 passed, 0 failed");
        return;
    }
    parent();
}

/// splitmix64: a tiny seeded generator, enough for kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Whether writer 1 purges the first event of this batch (five batches
/// later).
fn is_purge_target(writer: u64, batch: u64) -> bool {
    writer == 1 && batch % 10 == 4
}

/// What the child acknowledged, over all rounds.
#[derive(Default)]
struct Acked {
    batches: Vec<(u64, u64, u64)>,
    /// Batches (round, writer, batch) whose first event was purged.
    purged: std::collections::HashSet<(u64, u64, u64)>,
    /// Round → the last acknowledged progress value.
    meta: HashMap<u64, u64>,
}

impl Acked {
    fn record(&mut self, round: u64, line: &str) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |index: usize| -> u64 { fields[index].parse().unwrap() };
        match fields.first() {
            Some(&"ACK") => self.batches.push((round, number(1), number(2))),
            Some(&"PURGED") => {
                self.purged.insert((round, number(1), number(2)));
            }
            Some(&"META") => {
                self.meta.insert(round, number(1));
            }
            Some(&"OPENING") => {}
            _ => panic!("unexpected child output {line:?}"),
        }
    }
}

/// Events per batch, a function of the batch number so that the parent can
/// rebuild batches it never saw acknowledged.
fn batch_len(batch: u64) -> u64 {
    1 + batch % 7 * 3
}

fn batch_prefix(round: u64, writer: u64, batch: u64) -> String {
    format!("r{round}-w{writer}-b{batch}")
}

fn batch_events(round: u64, writer: u64, batch: u64) -> Vec<NewEvent> {
    let prefix = batch_prefix(round, writer, batch);
    (0..batch_len(batch))
        .map(|i| {
            let id = format!("{prefix}-e{i}");
            NewEvent {
                id: EventId::parse(&id).unwrap(),
                person: PersonId::parse(&format!("p{}", (batch + i) % 13)).unwrap(),
                recorded_at: Timestamp::from_unix_secs(1_642_000_000 + batch as i64).unwrap(),
                payload: payload_of(&id),
            }
        })
        .collect()
}

fn payload_of(id: &str) -> Vec<u8> {
    let len = 10 + id.len() * 37 % 200;
    id.bytes().cycle().take(len).collect()
}

fn snapshot_body(upto_seq: u64) -> Vec<u8> {
    (0..50_000u64).map(|i| (i * 31 + upto_seq) as u8).collect()
}

fn child(dir: &Path) {
    let round: u64 = std::env::var(CHILD_ROUND_ENV).unwrap().parse().unwrap();
    // Announced first, so that the parent can kill while the store opens.
    println!("OPENING");
    std::io::stdout().flush().unwrap();
    let store = EmbeddedStore::open(dir, StoreConfig::default()).unwrap();
    let stdout = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|scope| {
        for writer in 0..CHILD_WRITERS {
            let (store, stdout) = (&store, &stdout);
            scope.spawn(move || {
                for batch in 0.. {
                    let audit = AuditEntry {
                        at: Timestamp::from_unix_secs(1_642_000_000).unwrap(),
                        principal: format!("lab-{writer}"),
                        role: "lab".into(),
                        action: "ingest".into(),
                        target: batch_prefix(round, writer, batch),
                        outcome: AuditOutcome::Allowed,
                        detail: String::new(),
                    };
                    loop {
                        let submitted = store.submit_with_audit(
                            batch_events(round, writer, batch),
                            vec![audit.clone()],
                        );
                        match submitted {
                            Ok(receiver) => {
                                receiver.blocking_recv().unwrap().unwrap();
                                break;
                            }
                            Err(ymt_store::StoreError::Overloaded) => std::thread::yield_now(),
                            Err(err) => panic!("{err}"),
                        }
                    }
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "ACK {writer} {batch}").unwrap();
                    out.flush().unwrap();
                    drop(out);
                    if writer == 0 && batch % 25 == 24 {
                        let upto = store.last_seq();
                        store.snapshot_write(upto, &snapshot_body(upto)).unwrap();
                    }
                    // Writer 1 purges the first event of an earlier batch,
                    // writer 2 records its progress in the metadata area;
                    // both are acknowledged like appends.
                    if writer == 1 && batch % 10 == 9 {
                        let target = batch - 5;
                        let id =
                            EventId::parse(&format!("{}-e0", batch_prefix(round, writer, target)))
                                .unwrap();
                        let report = store.purge(&[id]).unwrap();
                        assert_eq!(report.purged, 1);
                        let mut out = stdout.lock().unwrap();
                        writeln!(out, "PURGED {writer} {target}").unwrap();
                        out.flush().unwrap();
                    }
                    if writer == 2 && batch % 10 == 9 {
                        store
                            .meta_put(
                                "progress",
                                &format!("r{round}"),
                                batch.to_be_bytes().to_vec(),
                            )
                            .unwrap();
                        let mut out = stdout.lock().unwrap();
                        writeln!(out, "META {batch}").unwrap();
                        out.flush().unwrap();
                    }
                }
            });
        }
    });
}

fn parent() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(SEED);
    let mut acked = Acked::default();
    let mut failures = 0;
    for round in 0..ROUNDS {
        // Every sixth round kills as soon as the child starts opening (and
        // recovering) the store.
        let draw = rng.next() % ACKS_BEFORE_KILL_MAX;
        let kill_after = if round % 6 == 5 { 0 } else { draw };
        let round_started = std::time::Instant::now();
        let stderr_path = dir.path().join(format!("child-{round}.stderr"));
        let mut child = Command::new(&exe)
            .env(CHILD_DIR_ENV, dir.path().join("store"))
            .env(CHILD_ROUND_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut round_acks = 0;
        let watchdog = watchdog(child.id());
        if kill_after == 0 {
            // Kill while the child is opening (and recovering) the store.
            let first = lines.next().map(|line| line.unwrap());
            assert_eq!(first.as_deref(), Some("OPENING"), "round {round}");
        }
        while round_acks < kill_after {
            match lines.next() {
                Some(line) => {
                    acked.record(round, &line.unwrap());
                    round_acks += 1;
                }
                None => panic!(
                    "round {round}: child ended by itself; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                ),
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        drop(watchdog);
        // Acknowledgements printed before the kill are still in the pipe.
        for line in lines {
            acked.record(round, &line.unwrap());
            round_acks += 1;
        }
        let child_secs = round_started.elapsed().as_secs_f64();
        match verify(&dir.path().join("store"), &acked, round) {
            Ok(summary) => println!(
                "crash round {round}: killed after {kill_after} acks ({round_acks} read), {summary}, child {child_secs:.2}s, total {:.2}s",
                round_started.elapsed().as_secs_f64()
            ),
            Err(message) => {
                println!("crash round {round}: FAILED: {message}");
                failures += 1;
            }
        }
    }
    println!(
        "crash: {ROUNDS} rounds, {} acknowledged batches, {} purges, {} progress writes in {:.1}s",
        acked.batches.len(),
        acked.purged.len(),
        acked.meta.len(),
        started.elapsed().as_secs_f64()
    );
    if failures > 0 {
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
    println!("1 passed, 0 failed");
}

/// Kills a child that stopped talking, so the test cannot hang forever.
fn watchdog(pid: u32) -> std::sync::mpsc::Sender<()> {
    let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let limit = std::time::Duration::from_secs(CHILD_SILENCE_LIMIT_SECS);
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(limit) {
            eprintln!("crash child {pid} is stuck; killing it");
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    cancel
}

fn verify(store_dir: &Path, acked: &Acked, round: u64) -> Result<String, String> {
    let store = EmbeddedStore::open(store_dir, StoreConfig::default())
        .map_err(|err| format!("reopen failed: {err}"))?;
    let acked_batches: std::collections::HashSet<(u64, u64, u64)> =
        acked.batches.iter().copied().collect();
    for &(ack_round, writer, batch) in &acked.batches {
        let purged = acked.purged.contains(&(ack_round, writer, batch));
        // The purge is sent right after batch + 5 is acknowledged; the child
        // may die before acknowledging the purge itself.
        let purge_sent = is_purge_target(writer, batch)
            && acked_batches.contains(&(ack_round, writer, batch + 5));
        for (index, expected) in batch_events(ack_round, writer, batch)
            .into_iter()
            .enumerate()
        {
            let found = store
                .event_by_id(&expected.id)
                .map_err(|err| format!("read {}: {err}", expected.id))?;
            if purged && index == 0 && found.is_some() {
                return Err(format!("purged event {} is back", expected.id));
            }
            if purge_sent && index == 0 {
                continue;
            }
            let stored =
                found.ok_or_else(|| format!("acknowledged event {} is missing", expected.id))?;
            if stored.payload != expected.payload || stored.person != expected.person {
                return Err(format!("event {} has the wrong content", expected.id));
            }
        }
    }
    for (progress_round, progress) in &acked.meta {
        let stored = store
            .meta_get("progress", &format!("r{progress_round}"))
            .map_err(|err| err.to_string())?
            .ok_or("acknowledged progress is missing")?;
        let stored = u64::from_be_bytes(stored.try_into().map_err(|_| "bad progress value")?);
        if stored < *progress {
            return Err(format!(
                "progress of round {progress_round} is {stored}, {progress} was acknowledged"
            ));
        }
    }
    // No batch may be partly stored, acknowledged or not (except for the
    // first event of a purge target).
    let mut batch_counts: HashMap<String, u64> = HashMap::new();
    let mut first_present: std::collections::HashSet<String> = Default::default();
    let mut from = 0;
    let mut total = 0;
    loop {
        let chunk = store
            .scan_from(from, 10_000)
            .map_err(|err| err.to_string())?;
        let Some(last) = chunk.last() else { break };
        from = last.seq + 1;
        for event in &chunk {
            let id = event.id.as_str();
            let prefix = &id[..id.rfind("-e").ok_or("bad id")?];
            *batch_counts.entry(prefix.to_string()).or_default() += 1;
            if id.ends_with("-e0") {
                first_present.insert(prefix.to_string());
            }
            total += 1;
        }
    }
    let writer_and_batch = |prefix: &str| -> Result<(u64, u64), String> {
        let mut parts = prefix.split('-').skip(1);
        let mut number = |tag: char| -> Result<u64, String> {
            parts
                .next()
                .and_then(|part| part.strip_prefix(tag))
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| format!("bad batch prefix {prefix}"))
        };
        Ok((number('w')?, number('b')?))
    };
    for (prefix, count) in &batch_counts {
        let (writer, batch) = writer_and_batch(prefix)?;
        let purged_first = is_purge_target(writer, batch) && !first_present.contains(prefix);
        if *count + u64::from(purged_first) != batch_len(batch) {
            return Err(format!(
                "batch {prefix} is partly stored: {count} of {} events",
                batch_len(batch)
            ));
        }
    }
    let audit = store.audit_verify().map_err(|err| err.to_string())?;
    if let Some(broken) = audit.first_broken {
        return Err(format!("audit chain broken: {broken}"));
    }
    // Every stored batch was committed with its audit record, and every
    // audit record belongs to a stored batch (or to a one-event batch whose
    // event was purged).
    let targets: std::collections::HashSet<String> = store
        .audit_list(&ymt_store::AuditFilter::default(), 100_000)
        .map_err(|err| err.to_string())?
        .into_iter()
        .map(|record| record.target)
        .collect();
    if let Some(prefix) = batch_counts
        .keys()
        .find(|prefix| !targets.contains(*prefix))
    {
        return Err(format!("stored batch {prefix} has no audit record"));
    }
    for target in targets
        .iter()
        .filter(|target| !batch_counts.contains_key(*target))
    {
        let (writer, batch) = writer_and_batch(target)?;
        if !(is_purge_target(writer, batch) && batch_len(batch) == 1) {
            return Err(format!(
                "audit record for batch {target}, which is not stored"
            ));
        }
    }
    let snapshots = store.snapshot_latest().map_err(|err| err.to_string())?;
    if !snapshots.warnings.is_empty() {
        return Err(format!("snapshot warnings: {:?}", snapshots.warnings));
    }
    if let Some(snapshot) = &snapshots.latest
        && snapshot.bytes != snapshot_body(snapshot.upto_seq)
    {
        return Err("snapshot content differs".into());
    }
    Ok(format!(
        "store has {total} events in {} batches, {} audit records, snapshot {:?} (round {round})",
        batch_counts.len(),
        audit.records_checked,
        snapshots.latest.map(|s| s.upto_seq)
    ))
}
