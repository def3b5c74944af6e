//! Table: how a risk-area designation decides the persons it reaches
//! (`ymt_node::risk::decide_reached`): settled green persons from the
//! exposure alone (incrementally), persons with a kept decision by composing
//! it with the exposure's, persons with a retraction in their timeline in
//! full; who is reached at the edges of the area's window; and the colors
//! that result.
//!
//! Each row is one person with their own venues, designated by their own
//! area, on one node. The row's area is previewed (`Pass::Preview`), then put
//! into force (`take_effect`); both must report the same, and the status the
//! node then keeps must equal a full evaluation.

mod support;

use support::{
    DAY_SECS, MINUTE_SECS, TableNode, at_minutes, at_secs, check_in, close_contact, pid,
    retraction, table_principal, test_result,
};
use ymt_core::event::RiskLevel;
use ymt_core::{EventId, Timestamp, VenueId};
use ymt_node::risk::{self, AreaOutcome, Pass, RiskAreaRequest};

/// What a person's timeline holds besides their stays at the area.
#[derive(Clone, Copy)]
enum Before {
    /// Nothing: green with nothing scheduled.
    SettledGreen,
    /// A close contact designated 30 minutes ago: red, with a kept decision.
    CloseContact,
    /// A positive antigen test: yellow, with a kept decision.
    AntigenPositive,
    /// Green, but one of their (other) check-ins was retracted.
    RetractionInTimeline,
}

/// One row: the person's history, their stays at the area's venues
/// (venue number, enter, leave) and the designation.
struct Case {
    before: Before,
    stays: Vec<(usize, Timestamp, Timestamp)>,
    level: RiskLevel,
    from: Timestamp,
    until: Timestamp,
}

/// A high-risk area from 10 hours before T0 to 10 hours after.
fn high_risk(before: Before, stays: Vec<(usize, Timestamp, Timestamp)>) -> Case {
    Case {
        before,
        stays,
        level: RiskLevel::High,
        from: at_minutes(-600),
        until: at_minutes(600),
    }
}

/// One stay at the area's first venue, from `enter_minutes` to
/// `leave_minutes`.
fn stay_minutes(enter_minutes: i64, leave_minutes: i64) -> Vec<(usize, Timestamp, Timestamp)> {
    vec![(0, at_minutes(enter_minutes), at_minutes(leave_minutes))]
}

/// `reached N, <paths>: <changes>; <color after>`, or `reached nobody;
/// <color>`.
fn render(outcome: &AreaOutcome) -> String {
    let reached = outcome.impact.persons_reached;
    if reached == 0 {
        return "reached nobody".into();
    }
    let count = |name: &str, n: usize| match n {
        0 => None,
        1 => Some(name.to_string()),
        n => Some(format!("{name} {n}")),
    };
    let paths: Vec<String> = [
        count("incremental", outcome.decided_incrementally),
        count("composed", outcome.decided_by_composition),
        count("in full", outcome.decided_in_full),
    ]
    .into_iter()
    .flatten()
    .collect();
    let changes: Vec<String> = outcome
        .impact
        .transitions
        .iter()
        .map(|(transition, n)| match n {
            1 => transition.clone(),
            n => format!("{transition} {n}"),
        })
        .collect();
    let changes = if changes.is_empty() {
        "no change".to_string()
    } else {
        changes.join(", ")
    };
    format!("reached {reached}, {}: {changes}", paths.join(", "))
}

async fn check(table: &TableNode, row: usize, case: Case, expect: &str) {
    let person = format!("p-{row}");
    let venues: Vec<String> = (0..=case.stays.iter().map(|stay| stay.0).max().unwrap_or(0))
        .map(|number| format!("v-{row}-{number}"))
        .collect();
    for venue in &venues {
        table.register_venue(venue, true);
    }
    let mut events: Vec<_> = case
        .stays
        .iter()
        .enumerate()
        .map(|(number, (venue, enter, leave))| {
            check_in(
                &format!("ci-{row}-{number}"),
                &person,
                &venues[*venue],
                *enter,
                *leave,
            )
        })
        .collect();
    let mut retractions = Vec::new();
    match case.before {
        Before::SettledGreen => {}
        Before::CloseContact => {
            events.push(close_contact(
                &format!("cc-{row}"),
                &person,
                at_minutes(-30),
            ));
        }
        Before::AntigenPositive => events.push(test_result(
            &format!("ag-{row}"),
            &person,
            "antigen",
            "positive",
            at_minutes(-20),
        )),
        Before::RetractionInTimeline => {
            // A stay long before the window, scanned by mistake.
            let mistaken = format!("ci-{row}-mistaken");
            events.push(check_in(
                &mistaken,
                &person,
                &venues[0],
                at_minutes(-2000),
                at_minutes(-1990),
            ));
            retractions.push(retraction(&format!("r-{row}"), &person, &mistaken));
        }
    }
    table.ingest(events).await;
    if !retractions.is_empty() {
        table.ingest(retractions).await;
    }

    let node = &table.node;
    let request = RiskAreaRequest {
        id: EventId::parse(&format!("ra-{row}")).expect("an id"),
        venues: venues
            .iter()
            .map(|venue| VenueId::parse(venue).expect("a venue id"))
            .collect(),
        region: None,
        level: case.level,
        from: case.from,
        until: case.until,
        reason: "a table row".into(),
    };
    let area = risk::area_of(node, &request, table.now()).expect("the area");
    let reached = risk::reached_persons(node, &area).expect("the reached persons");
    let preview = risk::decide_reached(node, &area, &reached, Pass::Preview).expect("a preview");
    let applied = risk::take_effect(node, &request, &table_principal())
        .await
        .expect("the area takes effect");
    assert_eq!(
        render(&preview),
        render(&applied),
        "row {row}: the preview decides as the designation does"
    );
    let (full, _) = node
        .decide(&pid(&person), table.now())
        .expect("a full evaluation");
    assert_eq!(
        table.color(&person),
        full.color,
        "row {row}: the kept status is a full evaluation's"
    );
    let actual = format!("{}; {}", render(&applied), table.color(&person).as_str());
    assert_eq!(actual, expect, "row {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn how_a_designation_decides_each_person_it_reaches() {
    use Before::*;
    let table = TableNode::open();
    let rows: Vec<(Case, &str)> = vec![
        // The three ways to decide.
        (
            high_risk(SettledGreen, stay_minutes(-120, -60)),
            "reached 1, incremental: green->yellow; yellow",
        ),
        (
            high_risk(CloseContact, stay_minutes(-120, -60)),
            "reached 1, composed: no change; red",
        ),
        (
            high_risk(AntigenPositive, stay_minutes(-120, -60)),
            "reached 1, composed: no change; yellow",
        ),
        (
            high_risk(RetractionInTimeline, stay_minutes(-120, -60)),
            "reached 1, in full: green->yellow; yellow",
        ),
        // Levels: medium is yellow too, low reaches nobody's color.
        (
            Case {
                level: RiskLevel::Medium,
                ..high_risk(SettledGreen, stay_minutes(-120, -60))
            },
            "reached 1, incremental: green->yellow; yellow",
        ),
        (
            Case {
                level: RiskLevel::Low,
                ..high_risk(SettledGreen, stay_minutes(-120, -60))
            },
            "reached nobody; green",
        ),
        // The window is closed at both ends: a stay touching it is reached.
        (
            high_risk(SettledGreen, stay_minutes(-660, -600)),
            "reached 1, incremental: green->yellow; yellow",
        ),
        (
            high_risk(
                SettledGreen,
                vec![(0, at_minutes(-660), at_secs(-600 * MINUTE_SECS - 1))],
            ),
            "reached nobody; green",
        ),
        (
            Case {
                until: at_minutes(-60),
                ..high_risk(SettledGreen, stay_minutes(-60, -30))
            },
            "reached 1, incremental: green->yellow; yellow",
        ),
        (
            Case {
                until: at_minutes(-60),
                ..high_risk(
                    SettledGreen,
                    vec![(0, at_secs(-60 * MINUTE_SECS + 1), at_minutes(-30))],
                )
            },
            "reached nobody; green",
        ),
        // Stays at two venues of one area: one person, decided once.
        (
            high_risk(
                SettledGreen,
                vec![
                    (0, at_minutes(-300), at_minutes(-240)),
                    (1, at_minutes(-120), at_minutes(-60)),
                ],
            ),
            "reached 1, incremental: green->yellow; yellow",
        ),
        // Yellow lasts 7 days after the exposure ends: ended exactly 7 days
        // ago, it is over; a second later, it is not.
        (
            Case {
                from: at_minutes(-8 * 1440),
                ..high_risk(
                    SettledGreen,
                    vec![(0, at_minutes(-7 * 1440 - 60), at_secs(-7 * DAY_SECS))],
                )
            },
            "reached 1, incremental: no change; green",
        ),
        (
            Case {
                from: at_minutes(-8 * 1440),
                ..high_risk(
                    SettledGreen,
                    vec![(0, at_minutes(-7 * 1440 - 60), at_secs(-7 * DAY_SECS + 1))],
                )
            },
            "reached 1, incremental: green->yellow; yellow",
        ),
    ];
    for (row, (case, expect)) in rows.into_iter().enumerate() {
        check(&table, row, case, expect).await;
    }
}
