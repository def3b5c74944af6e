//! The durable check-in store: the log on disk plus the index in memory,
//! kept in step. Every change is written and fsynced before the index sees it.

use std::io::Read;
use std::path::Path;

use ymt_core::Timestamp;

use crate::csv::{CsvError, ImportOptions, ParseReport, parse_checkins_csv};
use crate::index::{IndexError, RawStay, TraceIndex};
use crate::intern::Interner;
use crate::log::{CheckinLog, FLAG_BASE, LogError, RecoveryReport};
use crate::stay::{CheckIn, StayPolicy, from_rel};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("check-in {index} of the batch: {error}")]
    Invalid { index: usize, error: IndexError },
    #[error(transparent)]
    Csv(#[from] CsvError),
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    pub parse: ParseReport,
    pub new_persons: usize,
    pub new_venues: usize,
    pub bytes_written: u64,
}

/// What a retention purge removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub checkins_purged: usize,
    pub checkins_kept: usize,
    /// Persons and venues with no remaining check-in, whose ids were dropped.
    pub persons_forgotten: usize,
    pub venues_forgotten: usize,
    pub segments_before: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

#[derive(Debug)]
pub struct TraceStore {
    log: CheckinLog,
    index: TraceIndex,
    policy: StayPolicy,
}

impl TraceStore {
    /// Opens the store under `data_dir`, repairing a torn log tail, and
    /// builds the index from the log.
    pub fn open(
        data_dir: &Path,
        policy: StayPolicy,
    ) -> Result<(TraceStore, RecoveryReport), StoreError> {
        let (log, loaded) = CheckinLog::open(data_dir)?;
        let recovery = loaded.recovery.clone();
        let index = TraceIndex::from_parts(loaded.persons, loaded.venues, loaded.stays);
        Ok((TraceStore { log, index, policy }, recovery))
    }

    pub fn index(&self) -> &TraceIndex {
        &self.index
    }

    pub fn log(&self) -> &CheckinLog {
        &self.log
    }

    /// Validates a batch; if every check-in is valid, logs it durably and adds
    /// it to the index. If any is invalid, nothing changes.
    pub fn append(&mut self, checkins: &[CheckIn]) -> Result<(), StoreError> {
        let persons_from = self.index.persons().len();
        let venues_from = self.index.venues().len();
        let mut stays: Vec<RawStay> = Vec::with_capacity(checkins.len());
        for (index, checkin) in checkins.iter().enumerate() {
            match self.index.prepare(checkin, &self.policy) {
                Ok(stay) => stays.push(stay),
                Err(error) => {
                    self.rollback_ids(persons_from, venues_from);
                    return Err(StoreError::Invalid { index, error });
                }
            }
        }
        self.commit(persons_from, venues_from, stays, false)
            .map(|_| ())
    }

    fn rollback_ids(&mut self, persons_len: usize, venues_len: usize) {
        let (persons, venues) = self.index.interners_mut();
        persons.truncate(persons_len);
        venues.truncate(venues_len);
    }

    fn commit(
        &mut self,
        persons_from: usize,
        venues_from: usize,
        stays: Vec<RawStay>,
        own_segment: bool,
    ) -> Result<u64, StoreError> {
        // Refuse before logging, so the log never holds what the index cannot.
        if self.index.len() + stays.len() > crate::index::STAYS_MAX {
            self.rollback_ids(persons_from, venues_from);
            return Err(StoreError::Invalid {
                index: 0,
                error: IndexError::Full,
            });
        }
        if own_segment {
            // A bulk import: build the merged index while the segment is being
            // written and synced, and install it only once the write succeeded.
            let index = &self.index;
            let log = &mut self.log;
            let (written, run) = rayon::join(
                || {
                    log.write_segment(
                        0,
                        index.persons(),
                        persons_from,
                        index.venues(),
                        venues_from,
                        &stays,
                    )
                },
                || index.build_merged(&stays),
            );
            return match written {
                Ok(written) => {
                    self.index.install_merged(run);
                    Ok(written)
                }
                Err(error) => {
                    self.rollback_ids(persons_from, venues_from);
                    Err(error.into())
                }
            };
        }
        let written = self.log.append(
            self.index.persons(),
            persons_from,
            self.index.venues(),
            venues_from,
            &stays,
        );
        let written = match written {
            Ok(written) => written,
            Err(error) => {
                self.rollback_ids(persons_from, venues_from);
                return Err(error.into());
            }
        };
        self.index
            .extend(stays)
            .map_err(|error| StoreError::Invalid { index: 0, error })?;
        Ok(written)
    }

    /// Imports `person,venue,enter,leave` CSV. The whole file is parsed and
    /// validated first, then written as one new segment (temp file + rename),
    /// so an import either lands whole or not at all.
    pub fn import_csv<R: Read>(
        &mut self,
        reader: R,
        options: &ImportOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport, StoreError> {
        let persons_from = self.index.persons().len();
        let venues_from = self.index.venues().len();
        let (persons, venues) = self.index.interners_mut();
        let (stays, parse) = parse_checkins_csv(reader, persons, venues, options, progress)?;
        let new_persons = self.index.persons().len() - persons_from;
        let new_venues = self.index.venues().len() - venues_from;
        let bytes_written = self.commit(persons_from, venues_from, stays, true)?;
        Ok(ImportReport {
            parse,
            new_persons,
            new_venues,
            bytes_written,
        })
    }

    /// Retention: drops every check-in that ended before `cutoff`
    /// (leave < cutoff), and the ids nobody refers to any more, from the log
    /// and the index. The log is rewritten as one new base segment.
    pub fn purge_before(&mut self, cutoff: Timestamp) -> Result<PurgeReport, StoreError> {
        let cutoff_secs = cutoff.unix_secs();
        let mut report = PurgeReport {
            segments_before: self.log.segment_count(),
            bytes_before: self.log.bytes(),
            ..PurgeReport::default()
        };
        let old_persons = self.index.persons();
        let old_venues = self.index.venues();
        let mut kept: Vec<RawStay> = self
            .index
            .iter_raw()
            .filter(|stay| from_rel(stay.leave_rel) >= cutoff_secs)
            .collect();
        report.checkins_purged = self.index.len() - kept.len();
        report.checkins_kept = kept.len();
        // Renumber densely, keeping the old order of the ids that remain.
        let mut person_used = vec![false; old_persons.len()];
        let mut venue_used = vec![false; old_venues.len()];
        for stay in &kept {
            person_used[stay.person as usize] = true;
            venue_used[stay.venue as usize] = true;
        }
        let renumber = |old: &Interner, used: &[bool]| -> (Interner, Vec<u32>) {
            let mut fresh = Interner::new();
            let mut map = vec![u32::MAX; old.len()];
            for (number, &is_used) in used.iter().enumerate() {
                if is_used {
                    map[number] = fresh
                        .intern(old.resolve(number as u32))
                        .expect("a subset of an interner fits in one");
                }
            }
            (fresh, map)
        };
        let (persons, person_map) = renumber(old_persons, &person_used);
        let (venues, venue_map) = renumber(old_venues, &venue_used);
        report.persons_forgotten = old_persons.len() - persons.len();
        report.venues_forgotten = old_venues.len() - venues.len();
        for stay in &mut kept {
            stay.person = person_map[stay.person as usize];
            stay.venue = venue_map[stay.venue as usize];
        }
        report.bytes_after = self
            .log
            .write_segment(FLAG_BASE, &persons, 0, &venues, 0, &kept)?;
        self.index = TraceIndex::from_parts(persons, venues, kept);
        Ok(report)
    }
}
