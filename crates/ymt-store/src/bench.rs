//! Ingest benchmark helper, called by `yimatong bench ingest` and by the
//! `bench_ingest` example: durable events per second with N concurrent
//! writers submitting batches of B events.

use crate::{EmbeddedStore, EventStore, NewEvent, StoreConfig, StoreError};
use std::path::Path;
use std::time::Instant;
use ymt_core::{EventId, PersonId, Timestamp};

#[derive(Clone, Debug)]
pub struct BenchIngestConfig {
    /// Threads appending concurrently, each waiting for its batch to be
    /// durable before sending the next.
    pub writers: usize,
    pub batch_events: usize,
    /// Events in total, split evenly across writers.
    pub total_events: usize,
    pub payload_bytes: usize,
    /// Distinct persons the events are spread over.
    pub persons: usize,
}

impl Default for BenchIngestConfig {
    fn default() -> Self {
        BenchIngestConfig {
            writers: 8,
            batch_events: 100,
            total_events: 200_000,
            payload_bytes: 100,
            persons: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BenchIngestReport {
    pub writers: usize,
    pub batch_events: usize,
    pub payload_bytes: usize,
    pub events: u64,
    pub batches: u64,
    pub commits: u64,
    pub overloaded_retries: u64,
    pub elapsed_secs: f64,
    pub events_per_sec: f64,
    pub commits_per_sec: f64,
}

impl BenchIngestReport {
    /// One JSON object (no dependency on a JSON library is needed for
    /// numbers only).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"bench\":\"ingest\",\"writers\":{},\"batch_events\":{},\"payload_bytes\":{},\"events\":{},\"batches\":{},\"commits\":{},\"overloaded_retries\":{},\"elapsed_secs\":{:.3},\"events_per_sec\":{:.0},\"commits_per_sec\":{:.0}}}",
            self.writers,
            self.batch_events,
            self.payload_bytes,
            self.events,
            self.batches,
            self.commits,
            self.overloaded_retries,
            self.elapsed_secs,
            self.events_per_sec,
            self.commits_per_sec
        )
    }
}

/// Opens a fresh store in `dir` (which should be empty) and measures
/// durable ingest. The clock is read here because this is a benchmark.
pub fn bench_ingest(
    dir: &Path,
    bench: &BenchIngestConfig,
) -> Result<BenchIngestReport, StoreError> {
    let writers = bench.writers.max(1);
    let batch_events = bench.batch_events.max(1);
    let persons = bench.persons.max(1);
    let store = EmbeddedStore::open(
        dir,
        StoreConfig {
            batch_events_max: batch_events.max(StoreConfig::default().batch_events_max),
            ..StoreConfig::default()
        },
    )?;
    let per_writer = bench.total_events / writers;
    let payload = vec![0x5au8; bench.payload_bytes];
    let recorded_at = Timestamp::from_unix_secs(1_642_161_600).unwrap_or_default();
    let started = Instant::now();
    let results: Vec<Result<(u64, u64, u64), StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let store = &store;
                let payload = &payload;
                scope.spawn(move || {
                    let (mut events, mut batches, mut retries) = (0u64, 0u64, 0u64);
                    let mut next = 0usize;
                    while next < per_writer {
                        let end = (next + batch_events).min(per_writer);
                        let batch = (next..end)
                            .map(|index| bench_event(writer, index, persons, recorded_at, payload))
                            .collect::<Result<Vec<_>, _>>()?;
                        loop {
                            match store.append(batch.clone()) {
                                Ok(_) => break,
                                Err(StoreError::Overloaded) => {
                                    retries += 1;
                                    std::thread::yield_now();
                                }
                                Err(err) => return Err(err),
                            }
                        }
                        events += (end - next) as u64;
                        batches += 1;
                        next = end;
                    }
                    Ok((events, batches, retries))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or(Err(StoreError::WriterGone)))
            .collect()
    });
    let elapsed_secs = started.elapsed().as_secs_f64().max(1e-9);
    let (mut events, mut batches, mut retries) = (0, 0, 0);
    for result in results {
        let (e, b, r) = result?;
        events += e;
        batches += b;
        retries += r;
    }
    let commits = store.stats().commits;
    Ok(BenchIngestReport {
        writers,
        batch_events,
        payload_bytes: bench.payload_bytes,
        events,
        batches,
        commits,
        overloaded_retries: retries,
        elapsed_secs,
        events_per_sec: events as f64 / elapsed_secs,
        commits_per_sec: commits as f64 / elapsed_secs,
    })
}

fn bench_event(
    writer: usize,
    index: usize,
    persons: usize,
    recorded_at: Timestamp,
    payload: &[u8],
) -> Result<NewEvent, StoreError> {
    let invalid = |err: ymt_core::IdError| StoreError::InvalidArgument {
        what: "bench id",
        reason: err.to_string(),
    };
    // A multiplicative hash spreads persons like real traffic would.
    let person = (writer * 1_000_003 + index).wrapping_mul(2_654_435_761) % persons;
    Ok(NewEvent {
        id: EventId::parse(&format!("bench-{writer}-{index}")).map_err(invalid)?,
        person: PersonId::parse(&format!("p{person}")).map_err(invalid)?,
        recorded_at,
        payload: payload.to_vec(),
    })
}

#[derive(Clone, Debug)]
pub struct BenchReadConfig {
    /// Events loaded before reading (in batches of 10 000).
    pub events: usize,
    pub readers: usize,
    /// Lookups per reader for each kind of read.
    pub reads_per_reader: usize,
    pub payload_bytes: usize,
    pub persons: usize,
}

impl Default for BenchReadConfig {
    fn default() -> Self {
        BenchReadConfig {
            events: 200_000,
            readers: 2,
            reads_per_reader: 100_000,
            payload_bytes: 100,
            persons: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BenchReadReport {
    pub events: usize,
    pub readers: usize,
    pub by_id_per_sec: f64,
    pub person_timelines_per_sec: f64,
    pub events_per_timeline: f64,
}

impl BenchReadReport {
    pub fn to_json(&self) -> String {
        format!(
            "{{\"bench\":\"reads\",\"events\":{},\"readers\":{},\"by_id_per_sec\":{:.0},\"person_timelines_per_sec\":{:.0},\"events_per_timeline\":{:.2}}}",
            self.events,
            self.readers,
            self.by_id_per_sec,
            self.person_timelines_per_sec,
            self.events_per_timeline
        )
    }
}

/// Loads `events` events into a fresh store in `dir`, then measures random
/// `event_by_id` and `events_for_person` lookups from concurrent readers.
pub fn bench_reads(dir: &Path, bench: &BenchReadConfig) -> Result<BenchReadReport, StoreError> {
    let readers = bench.readers.max(1);
    let persons = bench.persons.max(1);
    let store = EmbeddedStore::open(dir, StoreConfig::default())?;
    let payload = vec![0x5au8; bench.payload_bytes];
    let recorded_at = Timestamp::from_unix_secs(1_642_161_600).unwrap_or_default();
    let load_batch = StoreConfig::default().batch_events_max;
    let mut next = 0;
    while next < bench.events {
        let end = (next + load_batch).min(bench.events);
        let batch = (next..end)
            .map(|index| bench_event(0, index, persons, recorded_at, &payload))
            .collect::<Result<Vec<_>, _>>()?;
        store.append(batch)?;
        next = end;
    }
    let events = bench.events.max(1);
    let timed = |kind: u8| -> Result<(f64, u64), StoreError> {
        let started = Instant::now();
        let found: Vec<Result<u64, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..readers)
                .map(|reader| {
                    let store = &store;
                    scope.spawn(move || {
                        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ reader as u64;
                        let mut found = 0u64;
                        for _ in 0..bench.reads_per_reader {
                            state = state
                                .wrapping_mul(6_364_136_223_846_793_005)
                                .wrapping_add(1_442_695_040_888_963_407);
                            let index = (state >> 33) as usize % events;
                            if kind == 0 {
                                let id =
                                    EventId::parse(&format!("bench-0-{index}")).map_err(|err| {
                                        StoreError::InvalidArgument {
                                            what: "bench id",
                                            reason: err.to_string(),
                                        }
                                    })?;
                                found += u64::from(store.event_by_id(&id)?.is_some());
                            } else {
                                let person = PersonId::parse(&format!("p{}", index % persons))
                                    .map_err(|err| StoreError::InvalidArgument {
                                        what: "bench person",
                                        reason: err.to_string(),
                                    })?;
                                found += store.events_for_person(&person)?.len() as u64;
                            }
                        }
                        Ok(found)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or(Err(StoreError::WriterGone)))
                .collect()
        });
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let mut total = 0;
        for result in found {
            total += result?;
        }
        Ok(((readers * bench.reads_per_reader) as f64 / elapsed, total))
    };
    let (by_id_per_sec, _) = timed(0)?;
    let (person_timelines_per_sec, timeline_events) = timed(1)?;
    Ok(BenchReadReport {
        events: bench.events,
        readers,
        by_id_per_sec,
        person_timelines_per_sec,
        events_per_timeline: timeline_events as f64
            / (readers * bench.reads_per_reader).max(1) as f64,
    })
}
