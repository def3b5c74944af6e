//! Table: what tracing one positive PCR result would designate
//! (`ymt_node::tracing_service::plan_tracing`): a close contact, a companion
//! or nobody, by the overlap of the contact's stay with the case's, indoors
//! or outdoors, and by whether the case's stay lies in the look-back window.
//!
//! National thresholds: indoors a close contact from 30 minutes of overlap,
//! outdoors from 240; a companion from 15, either way. The window runs from
//! 4 days before sampling until the instant of tracing. Intervals are
//! closed, and the thresholds are met at exactly their value.
//!
//! Each row is one case and one contact, meeting at venues of their own, on
//! one node; the case's positive result is planned, never stored, so rows do
//! not affect each other.

mod support;

use serde_json::json;
use support::{
    DAY_SECS, HOUR_SECS, MINUTE_SECS, NANSHAN, TableNode, at_secs, check_in, test_result,
};
use ymt_core::Timestamp;
use ymt_node::state::EventRecord;
use ymt_node::tracing_service::{TracingPlan, plan_tracing};

/// One meeting at a venue of its own: indoor or not, and the case's and the
/// contact's stays, in seconds relative to T0.
struct Meeting {
    indoor: bool,
    case_secs: (i64, i64),
    contact_secs: (i64, i64),
}

/// One row: where case and contact met, when the case was sampled, and when
/// the positive is traced, in seconds relative to T0.
struct Case {
    meetings: Vec<Meeting>,
    sampled_secs: i64,
    traced_secs: i64,
}

const INDOOR: bool = true;
const OUTDOOR: bool = false;

/// Case and contact meet once: the case stays from 6 hours to 1 hour before
/// T0 (sampled then), the contact arrives with the case and stays
/// `overlap_secs`.
fn overlapping(indoor: bool, overlap_secs: i64) -> Case {
    let case_secs = (-6 * HOUR_SECS, -HOUR_SECS);
    met(vec![Meeting {
        indoor,
        case_secs,
        contact_secs: (case_secs.0, case_secs.0 + overlap_secs),
    }])
}

/// The meetings, the case sampled an hour before T0 and traced at T0.
fn met(meetings: Vec<Meeting>) -> Case {
    Case {
        meetings,
        sampled_secs: -HOUR_SECS,
        traced_secs: 0,
    }
}

/// `close`, `companion` or `none`: what the plan designates the contact.
fn designation(table: &TableNode, plan: &TracingPlan) -> String {
    if plan.is_empty() {
        return "none".into();
    }
    let impact = plan.impact(&table.node);
    assert_eq!(impact.persons_reached, 1, "only the contact: {impact:?}");
    match impact.transitions.keys().next().map(String::as_str) {
        Some("green->red") => "close".into(),
        Some("green->yellow") => "companion".into(),
        _ => format!("{impact:?}"),
    }
}

async fn check(table: &TableNode, row: usize, case: Case, expect: &str) {
    let (case_person, contact) = (format!("case-{row}"), format!("contact-{row}"));
    let mut check_ins = Vec::new();
    for (number, meeting) in case.meetings.iter().enumerate() {
        let venue = format!("v-{row}-{number}");
        table.register_venue(&venue, meeting.indoor);
        check_ins.push(check_in(
            &format!("ci-{row}-{number}-case"),
            &case_person,
            &venue,
            at_secs(meeting.case_secs.0),
            at_secs(meeting.case_secs.1),
        ));
        check_ins.push(check_in(
            &format!("ci-{row}-{number}-contact"),
            &contact,
            &venue,
            at_secs(meeting.contact_secs.0),
            at_secs(meeting.contact_secs.1),
        ));
    }
    // Stored while every stay lies in the past, then traced at the row's
    // instant.
    table.clock.set(at_secs(DAY_SECS));
    table.ingest(check_ins).await;
    table.clock.set(at_secs(case.traced_secs));
    let sampled: Timestamp = at_secs(case.sampled_secs);
    let data = test_result("unused", &case_person, "pcr", "positive", sampled)["data"].clone();
    let positive: EventRecord = serde_json::from_value(json!({
        "region": NANSHAN,
        "event": {"id": format!("lab:S{row}"), "person": case_person, "recorded_at": table.now(),
                  "author": "lab-440305-01", "kind": "test_result", "data": data},
    }))
    .expect("a test record");
    let plan = plan_tracing(&table.node, &positive);
    assert_eq!(designation(table, &plan), expect, "row {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_tracing_a_positive_designates_a_contact() {
    let table = TableNode::open();
    let minutes = |n: i64| n * MINUTE_SECS;
    let four_days_before_sampling = -HOUR_SECS - 4 * DAY_SECS;
    let rows: Vec<(Case, &str)> = vec![
        // Indoors: close from 30 minutes, companion from 15.
        (overlapping(INDOOR, minutes(30)), "close"),
        (overlapping(INDOOR, minutes(30) - 1), "companion"),
        (overlapping(INDOOR, minutes(15)), "companion"),
        (overlapping(INDOOR, minutes(15) - 1), "none"),
        // Outdoors: close only from 240 minutes.
        (overlapping(OUTDOOR, minutes(240)), "close"),
        (overlapping(OUTDOOR, minutes(240) - 1), "companion"),
        (overlapping(OUTDOOR, minutes(30)), "companion"),
        (overlapping(OUTDOOR, minutes(15) - 1), "none"),
        // Stays that touch overlap by 0 s; stays apart, not at all.
        (
            met(vec![Meeting {
                indoor: INDOOR,
                case_secs: (-3 * HOUR_SECS, -HOUR_SECS),
                contact_secs: (-HOUR_SECS, 0),
            }]),
            "none",
        ),
        (
            met(vec![Meeting {
                indoor: INDOOR,
                case_secs: (-5 * HOUR_SECS, -4 * HOUR_SECS),
                contact_secs: (-3 * HOUR_SECS, -2 * HOUR_SECS),
            }]),
            "none",
        ),
        // The overlap counts wherever it lies in the two stays.
        (
            met(vec![Meeting {
                indoor: INDOOR,
                case_secs: (-3 * HOUR_SECS, -HOUR_SECS),
                contact_secs: (-HOUR_SECS - minutes(30), -minutes(10)),
            }]),
            "close",
        ),
        // Two meetings: the stronger designation, close before companion.
        (
            met(vec![
                Meeting {
                    indoor: INDOOR,
                    case_secs: (-3 * HOUR_SECS, -2 * HOUR_SECS),
                    contact_secs: (-3 * HOUR_SECS, -3 * HOUR_SECS + minutes(20)),
                },
                Meeting {
                    indoor: OUTDOOR,
                    case_secs: (-9 * HOUR_SECS, -4 * HOUR_SECS),
                    contact_secs: (-9 * HOUR_SECS, -9 * HOUR_SECS + minutes(200)),
                },
            ]),
            "companion",
        ),
        (
            met(vec![
                Meeting {
                    indoor: INDOOR,
                    case_secs: (-3 * HOUR_SECS, -2 * HOUR_SECS),
                    contact_secs: (-3 * HOUR_SECS, -3 * HOUR_SECS + minutes(30)),
                },
                Meeting {
                    indoor: OUTDOOR,
                    case_secs: (-9 * HOUR_SECS, -4 * HOUR_SECS),
                    contact_secs: (-9 * HOUR_SECS, -9 * HOUR_SECS + minutes(200)),
                },
            ]),
            "close",
        ),
        // The look-back window: a case's stay that left exactly 4 days
        // before sampling is traced; a second earlier, it is not.
        (
            met(vec![Meeting {
                indoor: INDOOR,
                case_secs: (
                    four_days_before_sampling - HOUR_SECS,
                    four_days_before_sampling,
                ),
                contact_secs: (
                    four_days_before_sampling - HOUR_SECS,
                    four_days_before_sampling,
                ),
            }]),
            "close",
        ),
        (
            met(vec![Meeting {
                indoor: INDOOR,
                case_secs: (
                    four_days_before_sampling - HOUR_SECS - 1,
                    four_days_before_sampling - 1,
                ),
                contact_secs: (
                    four_days_before_sampling - HOUR_SECS - 1,
                    four_days_before_sampling - 1,
                ),
            }]),
            "none",
        ),
        // The window ends when the positive is traced, not at sampling: a
        // stay after sampling is traced, one that begins at the instant of
        // tracing is not.
        (
            Case {
                sampled_secs: -7 * HOUR_SECS,
                ..overlapping(INDOOR, minutes(60))
            },
            "close",
        ),
        (
            Case {
                traced_secs: -6 * HOUR_SECS,
                sampled_secs: -7 * HOUR_SECS,
                ..overlapping(INDOOR, minutes(60))
            },
            "none",
        ),
        (
            Case {
                traced_secs: -6 * HOUR_SECS + 1,
                sampled_secs: -7 * HOUR_SECS,
                ..overlapping(INDOOR, minutes(60))
            },
            "close",
        ),
    ];
    for (row, (case, expect)) in rows.into_iter().enumerate() {
        check(&table, row, case, expect).await;
    }
}
