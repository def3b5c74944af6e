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
        index.for_each_stay_at_overlapping(venue_number, enter_rel, leave_rel, |other| {
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
    let designations: Vec<(&PersonId, &FoundContact, ContactKind)> = direct
        .iter()
        .map(|found| (&case, found, found.kind))
        .chain(
            secondary
                .iter()
                .map(|(close_contact, found)| (close_contact, found, ContactKind::Secondary)),
        )
        .collect();
    // Which designations the bounds keep depends only on whom they
    // designate, so only those kept are built: a crowded venue's secondary
    // contacts can be many times the bound (docs/simulation.md, Cost).
    let contacts: Vec<&PersonId> = designations
        .iter()
        .map(|(_, found, _)| &found.contact)
        .collect();
    let keep = kept_within_bounds(
        &contacts,
        state.tracing.config.contacts_per_case_max,
        DESIGNATIONS_PER_CASE_MAX,
        &test_record.event.id,
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
    for ((source, found, kind), kept) in designations.into_iter().zip(keep) {
        if !kept {
            continue;
        }
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
    plan
}

/// Which of a tracing's designations, in plan order (each naming the
/// person it designates), the bounds keep: past `contacts_per_case_max`
/// persons, the first persons (direct contacts, by id, before secondary
/// ones); then, past [`DESIGNATIONS_PER_CASE_MAX`] designations (each
/// overlap is its own, so a crowded venue can give a person many, and the
/// case's `traced-from` record lists them all and must fit one store
/// value), every person's first designation, then their further ones in
/// plan order up to the bound.
fn kept_within_bounds(
    contacts: &[&PersonId],
    contacts_per_case_max: usize,
    designations_max: usize,
    trigger: &EventId,
) -> Vec<bool> {
    let mut keep = vec![true; contacts.len()];
    let persons = contacts
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if persons > contacts_per_case_max {
        tracing::warn!(
            "positive {trigger} traced {persons} contacts, more than the limit {contacts_per_case_max}; only the first are designated",
        );
        let mut kept: std::collections::HashSet<&PersonId> = std::collections::HashSet::new();
        for (flag, pid) in keep.iter_mut().zip(contacts) {
            *flag = kept.contains(pid) || kept.len() < contacts_per_case_max && kept.insert(pid);
        }
    }
    let designations = keep.iter().filter(|kept| **kept).count();
    if designations > designations_max {
        tracing::warn!(
            "positive {trigger} traced {designations} designations, more than {designations_max}; each person keeps their first",
        );
        let mut persons: std::collections::HashSet<&PersonId> = std::collections::HashSet::new();
        // Among those the first bound kept: first designations, then more.
        let mut first: Vec<bool> = keep
            .iter()
            .zip(contacts)
            .map(|(kept, pid)| *kept && persons.insert(pid))
            .collect();
        let mut kept = first.iter().filter(|first| **first).count();
        for (flag, was_kept) in first.iter_mut().zip(&keep) {
            if kept >= designations_max {
                break;
            }
            if *was_kept && !*flag {
                *flag = true;
                kept += 1;
            }
        }
        keep = first;
    }
    keep
}

/// Designations one positive result may cause. With the persons bound
/// (`TracingConfig::contacts_per_case_max`) it keeps the case's
/// `traced-from` record, which lists the designations recorded and those
/// intended (at most twice this many, about 200 bytes each), within the
/// node's store value bound (`META_VALUE_BYTES_MAX`).
pub const DESIGNATIONS_PER_CASE_MAX: usize = 50_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// `contacts`: one letter per designation, naming its person, in plan
    /// order; `expect`: which are kept, `1` or `0` each.
    fn check(contacts: &str, contacts_per_case_max: usize, designations_max: usize, expect: &str) {
        let persons: Vec<PersonId> = contacts
            .chars()
            .map(|letter| PersonId::parse(&letter.to_string()).unwrap())
            .collect();
        let contacts: Vec<&PersonId> = persons.iter().collect();
        let trigger = EventId::parse("t").unwrap();
        let kept: String =
            kept_within_bounds(&contacts, contacts_per_case_max, designations_max, &trigger)
                .iter()
                .map(|kept| if *kept { '1' } else { '0' })
                .collect();
        assert_eq!(
            kept, expect,
            "{contacts:?} within {contacts_per_case_max} persons, {designations_max} designations"
        );
    }

    #[test]
    fn the_bounds_keep_the_first_persons_then_each_persons_first_designation() {
        // Within both bounds: everything.
        check("abcab", 3, 5, "11111");
        // Past the persons' bound: the first persons, all their designations.
        check("abcab", 2, 5, "11011");
        check("cab", 1, 9, "100");
        // Past the designations' bound: every person's first, then further
        // ones in plan order up to the bound.
        check("aabbc", 9, 4, "11101");
        check("aabbc", 9, 3, "10101");
        check("aaabc", 9, 4, "11011");
        // Both: the second applies to what the first kept.
        check("aabbcc", 2, 3, "111000");
        // More persons than designations allowed: each keeps its first.
        check("abc", 9, 2, "111");
    }
}
