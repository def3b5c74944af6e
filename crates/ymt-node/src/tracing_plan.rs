//! What tracing one positive PCR result designates, as a deterministic
//! function of the result, the check-ins in the index and the rules in
//! force: the same events in any order give the same plan, with the same
//! derived ids (no clock is read; the positive's `recorded_at` is the
//! instant of tracing).

use std::collections::BTreeMap;

use ymt_core::event::ContactKind;
use ymt_core::{Color, EventBody, EventId, EventKind, PersonId, RegionCode, Timestamp, VenueId};
use ymt_trace::TraceIndex;

use crate::auth::TRACE_AUTHOR;
use crate::checkins::TracingState;
use crate::model::{Impact, TracedDesignation, derived_event_id};
use crate::state::{EventRecord, Node, Subject, Submission};

pub const RULE_TRACE_CLOSE: &str = "TRACE-CLOSE-01";
pub const RULE_TRACE_COMPANION: &str = "TRACE-COMPANION-01";
pub const RULE_TRACE_SECONDARY: &str = "TRACE-SECONDARY-01";

/// What automatic tracing takes from the rule set in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracingParameters {
    pub lookback_days: i64,
    pub companion_min_overlap_secs: u32,
    pub close_indoor_min_overlap_secs: u32,
    pub close_outdoor_min_overlap_secs: u32,
    pub secondary_lookback_days: i64,
}

impl TracingParameters {
    /// The national defaults, for a rule set published before these
    /// parameters existed.
    pub const NATIONAL_DEFAULTS: TracingParameters = TracingParameters {
        lookback_days: 4,
        companion_min_overlap_secs: 15 * 60,
        close_indoor_min_overlap_secs: 30 * 60,
        close_outdoor_min_overlap_secs: 240 * 60,
        secondary_lookback_days: 2,
    };

    pub fn of(rules: &ymt_rules::CompiledRules) -> TracingParameters {
        let defaults = TracingParameters::NATIONAL_DEFAULTS;
        let parameters = rules.parameters();
        let minutes = |name: &str, default_secs: u32| {
            parameters
                .get(name)
                .map(|&minutes| (minutes.clamp(1, 7 * 1440) * 60) as u32)
                .unwrap_or(default_secs)
        };
        let days = |name: &str, default_days: i64| {
            parameters
                .get(name)
                .map(|&days| days.clamp(0, 30))
                .unwrap_or(default_days)
        };
        TracingParameters {
            lookback_days: days("tracingLookbackDays", defaults.lookback_days),
            companion_min_overlap_secs: minutes(
                "tracingCompanionMinOverlapMinutes",
                defaults.companion_min_overlap_secs,
            ),
            close_indoor_min_overlap_secs: minutes(
                "tracingCloseContactIndoorMinOverlapMinutes",
                defaults.close_indoor_min_overlap_secs,
            ),
            close_outdoor_min_overlap_secs: minutes(
                "tracingCloseContactOutdoorMinOverlapMinutes",
                defaults.close_outdoor_min_overlap_secs,
            ),
            secondary_lookback_days: days(
                "tracingSecondaryLookbackDays",
                defaults.secondary_lookback_days,
            ),
        }
    }

    /// The contact an overlap makes, if any.
    fn kind_of(&self, indoor: bool, overlap_secs: u32) -> Option<ContactKind> {
        let close_secs = if indoor {
            self.close_indoor_min_overlap_secs
        } else {
            self.close_outdoor_min_overlap_secs
        };
        if overlap_secs >= close_secs {
            Some(ContactKind::Close)
        } else if overlap_secs >= self.companion_min_overlap_secs {
            Some(ContactKind::Companion)
        } else {
            None
        }
    }
}

/// A contact found by tracing with the evidence of its designation.
#[derive(Clone, Debug)]
pub struct FoundContact {
    pub contact: PersonId,
    pub kind: ContactKind,
    pub venue: VenueId,
    pub overlap_start: Timestamp,
    pub overlap_end: Timestamp,
}

/// Finds the contacts of `person` over its stays in `[window_start,
/// window_end)`: every overlap long enough to designate, sorted by contact
/// (per stay of `person`, a contact's longest overlap; close before
/// companion, then the longest overlap). Raises `horizon` to the end of
/// every stay of `person` it traced: no overlap found ends later.
#[allow(clippy::too_many_arguments)]
pub fn find_contacts(
    tracing: &TracingState,
    index: &TraceIndex,
    parameters: &TracingParameters,
    person: &PersonId,
    window_start: Timestamp,
    window_end: Timestamp,
    close_only: bool,
    horizon: &mut Timestamp,
) -> Vec<FoundContact> {
    let least_secs = if close_only {
        parameters
            .close_indoor_min_overlap_secs
            .min(parameters.close_outdoor_min_overlap_secs)
    } else {
        parameters
            .companion_min_overlap_secs
            .min(parameters.close_indoor_min_overlap_secs)
            .min(parameters.close_outdoor_min_overlap_secs)
    };
    let least_secs = least_secs.max(1);
    let mut found_all: Vec<FoundContact> = Vec::new();
    let Some(person_number) = index.persons().get(person.as_str()) else {
        return found_all;
    };
    for (venue, enter, leave) in index.stays_of(person) {
        if leave < window_start || enter >= window_end {
            continue;
        }
        *horizon = (*horizon).max(leave);
        let (Some(venue_number), Ok(enter_rel), Ok(leave_rel)) = (
            index.venues().get(venue.as_str()),
            ymt_trace::index::rel_of(enter),
            ymt_trace::index::rel_of(leave),
        ) else {
            continue;
        };
        // Venues only imported, never registered, count as outdoor:
        // tracing them can only make companions.
        let indoor = tracing.venue(&venue).is_some_and(|venue| venue.indoor);
        // Every other stay at the venue, one overlap each: the evidence of
        // one stay of the case never hides behind another's (a later
        // check-in of the case cannot take a designation away).
        index.for_each_stay_at(venue_number, |other| {
            if other.person == person_number {
                return;
            }
            let start_rel = enter_rel.max(other.enter_rel);
            let end_rel = leave_rel.min(other.leave_rel);
            if end_rel <= start_rel || end_rel - start_rel < least_secs {
                return;
            }
            let kind = match parameters.kind_of(indoor, end_rel - start_rel) {
                Some(ContactKind::Close) => ContactKind::Close,
                Some(kind) if !close_only => kind,
                _ => return,
            };
            let instant = |rel: u32| {
                Timestamp::from_unix_secs(ymt_trace::TIME_BASE_UNIX_SECS + i64::from(rel))
                    .expect("an indexed instant")
            };
            found_all.push(FoundContact {
                contact: index.person_id(other.person),
                kind,
                venue: venue.clone(),
                overlap_start: instant(start_rel),
                overlap_end: instant(end_rel),
            });
        });
    }
    // Every overlap is evidence of its own: a designation stands as long as
    // its evidence does, so one overlap outdone by another is not
    // withdrawn (and never has to come back under a withdrawn id when the
    // other is retracted). One person's designations give one color.
    found_all.sort_by(|a, b| {
        (
            &a.contact,
            &a.venue,
            a.overlap_start,
            a.overlap_end,
            a.kind == ContactKind::Close,
        )
            .cmp(&(
                &b.contact,
                &b.venue,
                b.overlap_start,
                b.overlap_end,
                b.kind == ContactKind::Close,
            ))
    });
    found_all.dedup_by(|a, b| {
        a.contact == b.contact
            && a.venue == b.venue
            && a.overlap_start == b.overlap_start
            && a.overlap_end == b.overlap_end
    });
    found_all
}

/// The designation of one piece of evidence found by tracing
/// `test_record` (the positive: its id, its region when the venue has
/// none, and its `recorded_at`, the instant of tracing).
fn designation_submission(
    state: &Node,
    test_record: &EventRecord,
    source: &PersonId,
    found: &FoundContact,
    kind: ContactKind,
    approved: bool,
    retraction_epoch: usize,
) -> (PlannedSubmission, TracedDesignation) {
    let trigger: &EventId = &test_record.event.id;
    let fallback_region: &RegionCode = &test_record.region;
    let traced_at = test_record.event.recorded_at;
    let kind_name = match kind {
        ContactKind::Close => "close",
        ContactKind::Companion => "companion",
        ContactKind::Secondary => "secondary",
    };
    // An overlap's evidence can end after the instant of tracing (an
    // assumed departure); evidence never lies beyond it.
    let overlap_end = found.overlap_end.min(traced_at);
    let overlap_start = found.overlap_start.min(overlap_end);
    // The id names everything the designation says, so the same evidence
    // gives the same id on every node and in any order of arrival, and
    // other evidence (a later check-in with a longer overlap) a new id
    // rather than a conflict. Designations put into force by an approval
    // of held tracing have ids of their own: those withdrawn when the
    // tracing was held stay withdrawn.
    //
    // A withdrawn id never comes back (events are immutable; its
    // withdrawal is a retraction), so evidence that goes away and comes
    // back must name itself anew: a check-in retracted, then another with
    // the same stay (a re-upload under a new id) arriving later. The id
    // therefore also carries the retraction epoch (`retraction_epoch`):
    // how many check-ins of the persons it rests on were retracted
    // within the tracing's window. That count only grows and is a function
    // of the events, not of their order, so the designation in force at
    // the end has the same id whatever arrived first. Zero (no such
    // retraction) adds nothing, so ids are as they always were.
    let retraction_epoch_text = format!("retraction-epoch-{retraction_epoch}");
    let overlap_start_text = overlap_start.to_string();
    let overlap_end_text = overlap_end.to_string();
    let mut parts = vec![
        trigger.as_str(),
        found.contact.as_str(),
        kind_name,
        found.venue.as_str(),
        overlap_start_text.as_str(),
        overlap_end_text.as_str(),
        source.as_str(),
    ];
    if approved {
        parts.push("approved");
    }
    if retraction_epoch > 0 {
        parts.push(retraction_epoch_text.as_str());
    }
    let id = derived_event_id(TRACE_AUTHOR, &parts);
    let region = state
        .tracing
        .venue(&found.venue)
        .map(|venue| venue.region)
        .unwrap_or_else(|| fallback_region.clone());
    (
        PlannedSubmission {
            id: id.clone(),
            contact: found.contact.clone(),
            region: region.clone(),
            kind,
            source: source.clone(),
            traced_at,
            venue: found.venue.clone(),
            overlap_start,
            overlap_end,
            trigger: trigger.clone(),
        },
        TracedDesignation {
            id,
            pid: found.contact.clone(),
            region,
            kind,
        },
    )
}

/// The submission of one planned designation, its `data` written only when
/// it is to be stored: a tracing is planned again whenever a batch can
/// change it, and most of its designations are then already stored.
pub(crate) struct PlannedSubmission {
    id: EventId,
    contact: PersonId,
    region: RegionCode,
    kind: ContactKind,
    source: PersonId,
    traced_at: Timestamp,
    venue: VenueId,
    overlap_start: Timestamp,
    overlap_end: Timestamp,
    trigger: EventId,
}

impl PlannedSubmission {
    pub(crate) fn id(&self) -> &EventId {
        &self.id
    }

    pub(crate) fn into_submission(self) -> Submission {
        let PlannedSubmission {
            id,
            contact,
            region,
            kind,
            source,
            traced_at,
            venue,
            overlap_start,
            overlap_end,
            trigger,
        } = self;
        let (kind_name, rule) = match kind {
            ContactKind::Close => ("close", RULE_TRACE_CLOSE),
            ContactKind::Companion => ("companion", RULE_TRACE_COMPANION),
            ContactKind::Secondary => ("secondary", RULE_TRACE_SECONDARY),
        };
        let data = serde_json::json!({
            "contact": kind,
            "source_case": source,
            "designated_at": traced_at,
            "last_exposure_at": overlap_end,
            "venue": venue,
            "overlap_start": overlap_start,
            "overlap_end": overlap_end,
            "rule": rule,
            "reason": format!(
                "{kind_name} contact: stay at venue {venue} overlapped {source} from {overlap_start} to {overlap_end} (traced from {trigger})",
            ),
        });
        Submission {
            id,
            subject: Subject::Pid { pid: contact },
            region,
            kind: EventKind::ContactDesignation,
            data,
        }
    }
}

/// What tracing one positive result would designate.
pub struct TracingPlan {
    pub(crate) submissions: Vec<PlannedSubmission>,
    pub(crate) traced: Vec<TracedDesignation>,
    /// The color each designated person would get at least, for the impact.
    designated: Vec<(PersonId, Color)>,
    /// The latest instant the plan depends on: the instant of tracing, or
    /// the end of a stay it traced, if later. A stay entered after it
    /// overlaps no stay the plan traced, and a check-in retracted after it
    /// counts in no retraction epoch, so neither can change the plan
    /// (`tracing_service::concerned_tests` plans it again only for stays
    /// entered by then).
    pub(crate) horizon: Timestamp,
}

impl TracingPlan {
    /// How many persons it designates (one person can have several
    /// designations, one per overlap).
    pub fn len(&self) -> usize {
        self.designated
            .iter()
            .map(|(pid, _)| pid)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.submissions.is_empty()
    }

    /// The close contacts the plan designates (or would, were it not held).
    /// Sorted, each once.
    pub fn close_contacts(&self) -> Vec<PersonId> {
        let mut close: Vec<PersonId> = self
            .traced
            .iter()
            .filter(|designation| designation.kind == ContactKind::Close)
            .map(|designation| designation.pid.clone())
            .collect();
        close.sort();
        close.dedup();
        close
    }

    /// How many designated persons' codes would change: those whose color
    /// now is below what their designation gives (red for close contacts,
    /// yellow for the others).
    pub fn impact(&self, state: &Node) -> Impact {
        let mut strongest: BTreeMap<&PersonId, Color> = BTreeMap::new();
        for (pid, color) in &self.designated {
            let known = strongest.entry(pid).or_insert(*color);
            *known = (*known).max(*color);
        }
        let mut impact = Impact {
            persons_reached: strongest.len(),
            ..Default::default()
        };
        for (pid, color) in strongest {
            let before = state
                .projection
                .get(pid)
                .map(|(slot, _)| slot.color())
                .unwrap_or(Color::Green);
            // A designation only raises a code; one already as severe stays.
            impact.record(before, before.max(color));
        }
        impact
    }
}

/// Traces one positive PCR result against the index as it is now.
/// How many check-ins of `pid` whose stay meets `[from, to]` were
/// retracted (see `designation_submission`). Only persons with a retraction
/// are read from the store; a read that fails counts none, and is logged.
fn retracted_check_ins(state: &Node, pid: &PersonId, (from, to): (Timestamp, Timestamp)) -> usize {
    let key = crate::projection::person_key(pid).0;
    if !state.persons_with_retractions.read().contains(&key) {
        return 0;
    }
    let records = match state.person_records(pid) {
        Ok(records) => records,
        Err(error) => {
            tracing::warn!("tracing: the timeline of {pid} could not be read: {error}");
            return 0;
        }
    };
    let retracted: std::collections::HashSet<&EventId> = records
        .iter()
        .filter_map(|record| match &record.event.body {
            EventBody::Retraction(retraction) => Some(&retraction.target),
            _ => None,
        })
        .collect();
    records
        .iter()
        .filter(|record| match &record.event.body {
            EventBody::CheckIn(check_in) => {
                check_in.entered_at <= to
                    && check_in.left_at.unwrap_or(check_in.entered_at) >= from
                    && retracted.contains(&record.event.id)
            }
            _ => false,
        })
        .count()
}

pub fn plan_tracing(state: &Node, test_record: &EventRecord) -> TracingPlan {
    plan_tracing_as(state, test_record, false)
}

/// Traces one positive PCR result against the index as it is now, up to the
/// instant the node recorded it (the case isolates then): a function of the
/// result, the check-ins indexed and the rules in force, never of the
/// clock. `approved`: the tracing was held and a second administrator
/// approved it (its designations then have ids of their own).
pub fn plan_tracing_as(state: &Node, test_record: &EventRecord, approved: bool) -> TracingPlan {
    let traced_at = test_record.event.recorded_at;
    let mut plan = TracingPlan {
        submissions: Vec::new(),
        traced: Vec::new(),
        designated: Vec::new(),
        horizon: traced_at,
    };
    let EventBody::TestResult(test) = &test_record.event.body else {
        return plan;
    };
    let case = test_record.event.person.clone();
    let parameters =
        TracingParameters::of(&state.rules.read().compiled_for(Some(&test_record.region)));
    let window_start = test
        .sampled_at
        .plus_secs(-parameters.lookback_days * 86_400);
    let (direct, secondary) = {
        let tracing = &state.tracing;
        let index = tracing.index.read();
        let direct = find_contacts(
            tracing,
            &index,
            &parameters,
            &case,
            window_start,
            traced_at,
            false,
            &mut plan.horizon,
        );
        let mut secondary: Vec<(PersonId, FoundContact)> = Vec::new();
        if tracing.config.secondary_contacts_enabled && parameters.secondary_lookback_days > 0 {
            let secondary_start = traced_at.plus_secs(-parameters.secondary_lookback_days * 86_400);
            let mut close_contacts: Vec<&PersonId> = direct
                .iter()
                .filter(|found| found.kind == ContactKind::Close)
                .map(|found| &found.contact)
                .collect();
            close_contacts.dedup();
            for close in close_contacts {
                for found in find_contacts(
                    tracing,
                    &index,
                    &parameters,
                    close,
                    secondary_start,
                    traced_at,
                    true,
                    &mut plan.horizon,
                ) {
                    // Direct contacts are not left out: a secondary
                    // designation stands as long as its evidence does, so
                    // a person becoming (or ceasing to be) a direct
                    // contact never withdraws one that must come back.
                    if found.contact != case {
                        secondary.push((close.clone(), found));
                    }
                }
            }
        }
        (direct, secondary)
    };
    let designations = direct.iter().map(|found| (&case, found, found.kind)).chain(
        secondary
            .iter()
            .map(|(close_contact, found)| (close_contact, found, ContactKind::Secondary)),
    );
    // Retracted check-ins of the persons a designation rests on (the case,
    // the close contact it comes through, the contact), counted once each.
    let secondary_start = traced_at.plus_secs(-parameters.secondary_lookback_days.max(0) * 86_400);
    let epoch_window = (window_start.min(secondary_start), traced_at);
    let mut retracted_by_person: std::collections::HashMap<PersonId, usize> =
        std::collections::HashMap::new();
    let mut retracted = |pid: &PersonId| -> usize {
        *retracted_by_person
            .entry(pid.clone())
            .or_insert_with(|| retracted_check_ins(state, pid, epoch_window))
    };
    for (source, found, kind) in designations {
        let mut retraction_epoch = retracted(&case) + retracted(&found.contact);
        if *source != case {
            retraction_epoch += retracted(source);
        }
        let (submission, designation) = designation_submission(
            state,
            test_record,
            source,
            found,
            kind,
            approved,
            retraction_epoch,
        );
        plan.submissions.push(submission);
        plan.traced.push(designation);
        let color = if kind == ContactKind::Close {
            Color::Red
        } else {
            Color::Yellow
        };
        plan.designated.push((found.contact.clone(), color));
    }
    let limit = state.tracing.config.contacts_per_case_max;
    if plan.len() > limit {
        tracing::warn!(
            "positive {} traced {} contacts, more than the limit {limit}; only the first are designated",
            test_record.event.id,
            plan.len(),
        );
        // The first persons, direct contacts (by id) before secondary ones.
        let mut kept: std::collections::HashSet<PersonId> = std::collections::HashSet::new();
        let mut keep = Vec::with_capacity(plan.designated.len());
        for (pid, _) in &plan.designated {
            keep.push(kept.contains(pid) || kept.len() < limit && kept.insert(pid.clone()));
        }
        let mut flags = keep.iter();
        plan.submissions
            .retain(|_| *flags.next().expect("one flag each"));
        let mut flags = keep.iter();
        plan.traced
            .retain(|_| *flags.next().expect("one flag each"));
        let mut flags = keep.iter();
        plan.designated
            .retain(|_| *flags.next().expect("one flag each"));
    }
    // Each overlap is its own designation, so a crowded venue can give a
    // person many; the case's `traced-from` record lists them all and must
    // fit one store value. Keep every person's first designation, then
    // their further overlaps in plan order, up to the bound.
    if plan.traced.len() > DESIGNATIONS_PER_CASE_MAX {
        tracing::warn!(
            "positive {} traced {} designations, more than {DESIGNATIONS_PER_CASE_MAX}; each person keeps their first",
            test_record.event.id,
            plan.traced.len(),
        );
        let mut persons: std::collections::HashSet<&PersonId> = std::collections::HashSet::new();
        let mut keep: Vec<bool> = plan
            .designated
            .iter()
            .map(|(pid, _)| persons.insert(pid))
            .collect();
        let mut kept = keep.iter().filter(|kept| **kept).count();
        for flag in keep.iter_mut() {
            if kept >= DESIGNATIONS_PER_CASE_MAX {
                break;
            }
            if !*flag {
                *flag = true;
                kept += 1;
            }
        }
        let mut flags = keep.iter();
        plan.submissions
            .retain(|_| *flags.next().expect("one flag each"));
        let mut flags = keep.iter();
        plan.traced
            .retain(|_| *flags.next().expect("one flag each"));
        let mut flags = keep.iter();
        plan.designated
            .retain(|_| *flags.next().expect("one flag each"));
    }
    plan
}

/// Designations one positive result may cause. With the persons bound
/// (`TracingConfig::contacts_per_case_max`) it keeps the case's
/// `traced-from` record, which lists the designations recorded and those
/// intended (at most twice this many, about 200 bytes each), within the
/// node's store value bound (`META_VALUE_BYTES_MAX`).
pub const DESIGNATIONS_PER_CASE_MAX: usize = 50_000;
