//! The check-in side of the node's state: registered venues, the venue-QR
//! key, and the in-memory venue×time index of check-ins that tracing and
//! risk areas query.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use parking_lot::RwLock;
use ymt_core::event::CHECK_IN_DEFAULT_STAY_SECS;
use ymt_core::event::ContactKind;
use ymt_core::{EventBody, EventId, PersonId, RegionCode, Timestamp, VenueId};
use ymt_store::{EventStore, StoredEvent};
use ymt_trace::{CheckIn, StayPolicy, TraceIndex};

use crate::config::TracingConfig;
use crate::error::NodeError;
use crate::model::{EventRecord, META_TRACED_FROM, parse_traced_from};
use crate::venues::{META_NODE_KEYS, META_VENUES, VENUE_QR_KEY_NAME, Venue};

/// The tracing part of the node's state.
pub struct TracingState {
    pub config: TracingConfig,
    pub policy: StayPolicy,
    venues: RwLock<HashMap<VenueId, Venue>>,
    pub index: RwLock<TraceIndex>,
    venue_key: OnceLock<[u8; 32]>,
    /// Serialises decisions on pending actions, so one is never applied
    /// twice, and the tracing of positive results, so two batches never
    /// write one case's designations at once.
    pub decisions: tokio::sync::Mutex<()>,
    /// The positive results traced so far, to find which a late check-in
    /// concerns.
    pub traced: parking_lot::Mutex<TracedCases>,
    /// Passes of the retention task completed so far (the first runs at
    /// start), for whoever must know that a pass is over.
    pub retention_passes: tokio::sync::watch::Sender<u64>,
}

impl TracingState {
    pub fn new(config: TracingConfig) -> TracingState {
        TracingState {
            config,
            policy: StayPolicy {
                default_stay_secs: CHECK_IN_DEFAULT_STAY_SECS as u32,
                stay_max_secs: ymt_core::event::CHECK_IN_STAY_SECS_MAX as u32,
            },
            venues: RwLock::new(HashMap::new()),
            index: RwLock::new(TraceIndex::new()),
            venue_key: OnceLock::new(),
            decisions: tokio::sync::Mutex::new(()),
            traced: parking_lot::Mutex::new(TracedCases::default()),
            retention_passes: tokio::sync::watch::channel(0).0,
        }
    }

    pub fn venue(&self, id: &VenueId) -> Option<Venue> {
        self.venues.read().get(id).cloned()
    }

    /// Every venue whose region lies inside `region`.
    pub fn venues_in(&self, region: &RegionCode) -> Vec<Venue> {
        self.venues
            .read()
            .values()
            .filter(|venue| region.contains(&venue.region))
            .cloned()
            .collect()
    }

    pub fn venue_key(&self) -> [u8; 32] {
        *self
            .venue_key
            .get()
            .expect("the venue key is loaded on open")
    }

    /// Adds a venue to memory (its record is already durable).
    pub fn insert_venue(&self, venue: Venue) {
        self.venues.write().insert(venue.id.clone(), venue);
    }

    /// Loads venues and the venue-code key, and the check-in index: from
    /// `snapshot` (an index as it was after the log up to `upto_seq`) and the
    /// log after it, or, without one, from the whole log.
    ///
    /// `on_retraction` sees every retraction read from the log, so the
    /// caller can note whose timelines hold one.
    pub fn load(
        &self,
        store: &dyn EventStore,
        snapshot: Option<(u64, &[u8])>,
        mut on_retraction: impl FnMut(&EventRecord),
    ) -> anyhow::Result<()> {
        let key = match store.meta_get(META_NODE_KEYS, VENUE_QR_KEY_NAME)? {
            Some(bytes) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(&bytes, &mut key)
                    .map_err(|_| anyhow::anyhow!("the stored venue-code key is not 64 hex"))?;
                key
            }
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|error| anyhow::anyhow!("randomness: {error}"))?;
                store.meta_put(
                    META_NODE_KEYS,
                    VENUE_QR_KEY_NAME,
                    hex::encode(key).into_bytes(),
                )?;
                key
            }
        };
        let _ = self.venue_key.set(key);
        {
            let mut venues = self.venues.write();
            for (_, bytes) in store.meta_list(META_VENUES)? {
                let venue: Venue = serde_json::from_slice(&bytes)?;
                venues.insert(venue.id.clone(), venue);
            }
        }
        {
            let mut traced = self.traced.lock();
            for (key, bytes) in store.meta_list(META_TRACED_FROM)? {
                let Ok(test) = EventId::parse(&key) else {
                    continue;
                };
                let (current, designations) = parse_traced_from(&bytes)?;
                // Written before the case was kept: its positive names it.
                let (case, mut close_contacts) = match current {
                    Some(traced) => (traced.case, traced.close_contacts),
                    None => (
                        match store.event_by_id(&test)? {
                            Some(stored) => serde_json::from_slice::<EventRecord>(&stored.payload)?
                                .event
                                .person
                                .clone(),
                            None => continue,
                        },
                        Vec::new(),
                    ),
                };
                close_contacts.extend(
                    designations
                        .iter()
                        .filter(|designation| designation.kind == ContactKind::Close)
                        .map(|designation| designation.pid.clone()),
                );
                let contacts = designations
                    .iter()
                    .map(|designation| designation.pid.clone())
                    .collect();
                traced.insert(test, case, close_contacts, contacts, None);
            }
        }
        let (mut from_seq, mut index) = match snapshot {
            Some((upto_seq, bytes)) => match TraceIndex::from_snapshot_bytes(bytes) {
                Ok(index) => (upto_seq + 1, index),
                Err(error) => {
                    tracing::warn!(
                        "check-in index snapshot unreadable ({error}); rebuilding it from the log"
                    );
                    (1, TraceIndex::new())
                }
            },
            None => (1, TraceIndex::new()),
        };
        // Targets of retractions, withdrawn from the index once it is built
        // (a retraction may be stored before or after its target's scan).
        let mut retracted: Vec<EventId> = Vec::new();
        loop {
            let events = store.scan_from(from_seq, 100_000)?;
            let Some(last) = events.last() else { break };
            from_seq = last.seq + 1;
            for stored in &events {
                let is_retraction = may_be_retraction(stored);
                if !is_retraction && !may_be_check_in(stored) {
                    continue;
                }
                // A stored event that no longer reads does not stop the
                // node: it is skipped here, and its person is shown "cannot
                // be computed" (evaluation reads their timeline again).
                let Ok(record) = serde_json::from_slice::<EventRecord>(&stored.payload) else {
                    tracing::warn!("stored event {} unreadable; not indexed", stored.id);
                    continue;
                };
                if is_retraction {
                    on_retraction(&record);
                    if let EventBody::Retraction(retraction) = &record.event.body {
                        retracted.push(retraction.target.clone());
                    }
                }
                if let Some(check_in) = check_in_of(&record) {
                    // A stored check-in the index cannot hold (for example
                    // an imported one before 2020) is skipped, not fatal.
                    if let Err(error) = index.append(&check_in, &self.policy) {
                        tracing::warn!("check-in {} not indexed: {error}", record.event.id);
                    }
                }
            }
        }
        for target in &retracted {
            if let Some(stored) = store.event_by_id(target)?
                && let Ok(record) = serde_json::from_slice::<EventRecord>(&stored.payload)
                && let Some(check_in) = check_in_of(&record)
            {
                index.retract(&check_in, &self.policy);
            }
        }
        index.seal();
        *self.index.write() = index;
        Ok(())
    }

    /// Withdraws a retracted check-in from the index, if `target` is one.
    pub fn retract_check_in(
        &self,
        store: &dyn EventStore,
        target: &EventId,
    ) -> Result<(), NodeError> {
        let Some(stored) = store.event_by_id(target)? else {
            return Ok(());
        };
        let record: EventRecord = serde_json::from_slice(&stored.payload)
            .map_err(|error| NodeError::internal(format!("stored event {target}: {error}")))?;
        if let Some(check_in) = check_in_of(&record) {
            self.index.write().retract(&check_in, &self.policy);
        }
        Ok(())
    }

    /// Appends stored check-ins to the index.
    pub fn index_records<'a>(&self, records: impl IntoIterator<Item = &'a EventRecord>) {
        let check_ins: Vec<CheckIn> = records.into_iter().filter_map(check_in_of).collect();
        if check_ins.is_empty() {
            return;
        }
        let mut index = self.index.write();
        for check_in in &check_ins {
            if let Err(error) = index.append(check_in, &self.policy) {
                tracing::warn!("check-in of {} not indexed: {error}", check_in.person);
            }
        }
    }
}

/// The positive results the node has traced, with their cases and the close
/// contacts they designated: a check-in that arrives late concerns the
/// tracing of its own person's positives, of the positives of whoever
/// overlapped it, and of the positives that made any of them a close
/// contact (secondary contacts).
///
/// Also every person a tracing designates: a designation's id carries the
/// retracted check-ins of the persons it rests on (`tracing_plan`), so a
/// retracted check-in of any of them concerns the tracing too.
///
/// Only stays entered by a tracing's horizon concern it
/// (`TracingPlan::horizon`): a tracing is planned again for the late
/// check-ins that can change it, not for every check-in of its persons
/// since (docs/simulation.md, Cost).
#[derive(Default)]
pub struct TracedCases {
    by_test: HashMap<EventId, TracedCase>,
    by_case: HashMap<PersonId, BTreeSet<EventId>>,
    by_close_contact: HashMap<PersonId, BTreeSet<EventId>>,
    by_contact: HashMap<PersonId, BTreeSet<EventId>>,
}

struct TracedCase {
    case: PersonId,
    close: Vec<PersonId>,
    contacts: Vec<PersonId>,
    /// Unknown (every stay concerns it) until it is planned on this node.
    horizon: Option<Timestamp>,
}

impl TracedCases {
    pub fn is_empty(&self) -> bool {
        self.by_test.is_empty()
    }

    /// Notes (or replaces) the case of `test`, the close contacts its
    /// tracing finds, the persons it designates and its plan's horizon.
    pub fn insert(
        &mut self,
        test: EventId,
        case: PersonId,
        mut close: Vec<PersonId>,
        mut contacts: Vec<PersonId>,
        horizon: Option<Timestamp>,
    ) {
        self.remove(&test);
        for persons in [&mut close, &mut contacts] {
            persons.sort();
            persons.dedup();
        }
        for (map, persons) in [
            (&mut self.by_close_contact, &close),
            (&mut self.by_contact, &contacts),
        ] {
            for person in persons {
                map.entry(person.clone()).or_default().insert(test.clone());
            }
        }
        self.by_case
            .entry(case.clone())
            .or_default()
            .insert(test.clone());
        self.by_test.insert(
            test,
            TracedCase {
                case,
                close,
                contacts,
                horizon,
            },
        );
    }

    /// Forgets a positive result (retracted: its tracing is withdrawn).
    pub fn remove(&mut self, test: &EventId) {
        let Some(traced) = self.by_test.remove(test) else {
            return;
        };
        let forget = |map: &mut HashMap<PersonId, BTreeSet<EventId>>, person: &PersonId| {
            if let Some(tests) = map.get_mut(person) {
                tests.remove(test);
                if tests.is_empty() {
                    map.remove(person);
                }
            }
        };
        forget(&mut self.by_case, &traced.case);
        for contact in &traced.close {
            forget(&mut self.by_close_contact, contact);
        }
        for contact in &traced.contacts {
            forget(&mut self.by_contact, contact);
        }
    }

    pub fn contains(&self, test: &EventId) -> bool {
        self.by_test.contains_key(test)
    }

    /// The traced positives a stay of `person` entered at `entered_at` can
    /// change: the person's own and those that made the person a close
    /// contact, whose horizon is not before it.
    pub fn concerning(
        &self,
        person: &PersonId,
        entered_at: Timestamp,
    ) -> impl Iterator<Item = &EventId> {
        self.by_case
            .get(person)
            .into_iter()
            .chain(self.by_close_contact.get(person))
            .flatten()
            .filter(move |test| self.within_horizon(test, entered_at))
    }

    /// The traced positives a retracted check-in of `person`, entered at
    /// `entered_at`, can change: those it concerns as a stay, and those
    /// designating the person.
    pub fn concerning_retracted(
        &self,
        person: &PersonId,
        entered_at: Timestamp,
    ) -> impl Iterator<Item = &EventId> {
        self.concerning(person, entered_at).chain(
            self.by_contact
                .get(person)
                .into_iter()
                .flatten()
                .filter(move |test| self.within_horizon(test, entered_at)),
        )
    }

    /// Every person a stay entered at `entered_from` or later can concern
    /// the tracing of ([`TracedCases::concerning`]): the case and the close
    /// contacts of each tracing whose horizon is not before it. Usually a
    /// few: a tracing's horizon is soon passed.
    pub fn persons_concerned_from(&self, entered_from: Timestamp) -> BTreeSet<&PersonId> {
        let mut persons = BTreeSet::new();
        for traced in self.by_test.values() {
            if traced.horizon.is_none_or(|horizon| entered_from <= horizon) {
                persons.insert(&traced.case);
                persons.extend(traced.close.iter());
            }
        }
        persons
    }

    fn within_horizon(&self, test: &EventId, entered_at: Timestamp) -> bool {
        self.by_test
            .get(test)
            .and_then(|traced| traced.horizon)
            .is_none_or(|horizon| entered_at <= horizon)
    }
}

pub fn may_be_retraction(stored: &StoredEvent) -> bool {
    stored
        .payload
        .windows(b"\"retraction\"".len())
        .any(|window| window == b"\"retraction\"")
}

pub fn may_be_check_in(stored: &StoredEvent) -> bool {
    stored
        .payload
        .windows(b"\"check_in\"".len())
        .any(|window| window == b"\"check_in\"")
}

pub fn check_in_of(record: &EventRecord) -> Option<CheckIn> {
    match &record.event.body {
        EventBody::CheckIn(check_in) => Some(CheckIn {
            person: record.event.person.clone(),
            venue: check_in.venue.clone(),
            enter: check_in.entered_at,
            leave: check_in.left_at,
        }),
        _ => None,
    }
}
