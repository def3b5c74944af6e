//! Check-ins that arrive after their case was traced (venue scanners
//! upload late; replicas lag) designate as if they had come first, with the
//! same ids; and a retracted check-in withdraws what it caused. Also: the
//! tracings one batch sets off decide each person they reach once.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{HOUR_SECS, TableNode, at_secs, check_in, pid, retraction, test_result};
use ymt_core::EventBody;

/// The case meets the contact indoors for two hours, then tests positive.
fn case_check_in() -> Value {
    check_in(
        "ci-case",
        "case",
        "v-late",
        at_secs(-5 * HOUR_SECS),
        at_secs(-3 * HOUR_SECS),
    )
}

fn contact_check_in() -> Value {
    check_in(
        "ci-contact",
        "contact",
        "v-late",
        at_secs(-5 * HOUR_SECS),
        at_secs(-3 * HOUR_SECS),
    )
}

fn positive() -> Value {
    test_result(
        "pcr-case",
        "case",
        "pcr",
        "positive",
        at_secs(-2 * HOUR_SECS),
    )
}

/// The contact's designations in force (not retracted), by id.
fn designations_of(table: &TableNode, person: &str) -> BTreeSet<String> {
    let records = table.node.person_records(&pid(person)).expect("a timeline");
    records
        .iter()
        .filter(|record| matches!(record.event.body, EventBody::ContactDesignation(_)))
        .filter(|record| !ymt_node::model::is_retracted(&records, &record.event.id))
        .map(|record| record.event.id.as_str().to_owned())
        .collect()
}

async fn node_after(batches: Vec<Vec<Value>>) -> TableNode {
    let table = TableNode::open();
    table.register_venue("v-late", true);
    for batch in batches {
        table.ingest(batch).await;
    }
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_check_in_overlapping_a_traced_case_designates_with_the_id_it_would_have_had_first()
{
    let first = node_after(vec![
        vec![case_check_in(), contact_check_in()],
        vec![positive()],
    ])
    .await;
    let expected = designations_of(&first, "contact");
    assert_eq!(expected.len(), 1, "traced at once: {expected:?}");
    let late = node_after(vec![
        vec![case_check_in()],
        vec![positive()],
        vec![contact_check_in()],
    ])
    .await;
    assert_eq!(designations_of(&late, "contact"), expected);
    assert_eq!(late.color("contact"), first.color("contact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_check_in_of_the_case_itself_extends_its_tracing() {
    let first = node_after(vec![
        vec![case_check_in(), contact_check_in()],
        vec![positive()],
    ])
    .await;
    let late = node_after(vec![
        vec![contact_check_in()],
        vec![positive()],
        vec![case_check_in()],
    ])
    .await;
    let designated = designations_of(&late, "contact");
    assert_eq!(designated.len(), 1, "the contact is designated");
    assert_eq!(designated, designations_of(&first, "contact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_check_in_withdraws_the_designation_it_caused() {
    let table = node_after(vec![
        vec![case_check_in(), contact_check_in()],
        vec![positive()],
    ])
    .await;
    assert_eq!(designations_of(&table, "contact").len(), 1);
    table
        .ingest(vec![retraction("r-contact", "contact", "ci-contact")])
        .await;
    assert!(designations_of(&table, "contact").is_empty());
    let never = node_after(vec![vec![case_check_in()], vec![positive()]]).await;
    assert_eq!(table.color("contact"), never.color("contact"));
}

/// A crowded venue: the case and the contact overlap eight times in one day.
/// Tracing designates the contact once per overlap, so their timeline holds
/// more events than the per-person cap allows. Those designations are the
/// node's own: the contact's next lab result must still be accepted (it was
/// refused, with the whole batch around it, when they counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designations_at_many_overlaps_do_not_count_toward_the_cap_so_a_lab_result_is_still_accepted()
 {
    const OVERLAPS: i64 = 8;
    let table = TableNode::open_with_config(|config| {
        config.person_events_per_window_max = 10;
    });
    table.register_venue("v-late", true);
    let mut stays = Vec::new();
    for overlap in 0..OVERLAPS {
        let enter = at_secs(-20 * HOUR_SECS + overlap * 2 * HOUR_SECS);
        let leave = enter.plus_secs(HOUR_SECS);
        for person in ["case", "contact"] {
            stays.push(check_in(
                &format!("ci-{person}-{overlap}"),
                person,
                "v-late",
                enter,
                leave,
            ));
        }
    }
    table.ingest(stays).await;
    table.ingest(vec![positive()]).await;
    let designated = designations_of(&table, "contact").len();
    assert_eq!(designated, OVERLAPS as usize, "one designation per overlap");

    let negative = test_result(
        "pcr-contact",
        "contact",
        "pcr",
        "negative",
        at_secs(-HOUR_SECS),
    );
    let submission = ymt_node::model::Submission {
        id: serde_json::from_value(negative["id"].clone()).unwrap(),
        subject: ymt_node::model::Subject::Pid {
            pid: pid("contact"),
        },
        region: "440305".parse().unwrap(),
        kind: serde_json::from_value(negative["kind"].clone()).unwrap(),
        data: negative["data"].clone(),
    };
    let outcome = table
        .node
        .ingest(&support::table_principal(), vec![submission])
        .await;
    assert!(
        outcome.is_ok(),
        "the contact's lab result was refused: {:?}",
        outcome.err()
    );
}

fn evaluations(table: &TableNode) -> u64 {
    table
        .node
        .metrics
        .evaluations
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Two cases, each meeting the contact indoors for two hours at a venue of
/// its own, then both testing positive.
fn two_cases_meeting_one_contact() -> (Vec<Value>, Vec<Value>) {
    let check_ins = vec![
        check_in(
            "ci-a",
            "case-a",
            "v-a",
            at_secs(-9 * HOUR_SECS),
            at_secs(-7 * HOUR_SECS),
        ),
        check_in(
            "ci-contact-a",
            "contact",
            "v-a",
            at_secs(-9 * HOUR_SECS),
            at_secs(-7 * HOUR_SECS),
        ),
        check_in(
            "ci-b",
            "case-b",
            "v-b",
            at_secs(-5 * HOUR_SECS),
            at_secs(-3 * HOUR_SECS),
        ),
        check_in(
            "ci-contact-b",
            "contact",
            "v-b",
            at_secs(-5 * HOUR_SECS),
            at_secs(-3 * HOUR_SECS),
        ),
    ];
    let positives = vec![
        test_result(
            "pcr-a",
            "case-a",
            "pcr",
            "positive",
            at_secs(-2 * HOUR_SECS),
        ),
        test_result(
            "pcr-b",
            "case-b",
            "pcr",
            "positive",
            at_secs(-2 * HOUR_SECS),
        ),
    ];
    (check_ins, positives)
}

fn two_venues() -> TableNode {
    let table = TableNode::open();
    table.register_venue("v-a", true);
    table.register_venue("v-b", true);
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_designated_by_two_cases_of_one_batch_is_decided_once_with_the_color_of_one_case_at_a_time()
 {
    let (check_ins, positives) = two_cases_meeting_one_contact();
    let together = two_venues();
    together.ingest(check_ins.clone()).await;
    let before = evaluations(&together);
    together.ingest(positives.clone()).await;
    let evaluated = evaluations(&together) - before;

    let apart = two_venues();
    apart.ingest(check_ins).await;
    for positive in positives {
        apart.ingest(vec![positive]).await;
    }

    let persons = ["case-a", "case-b", "contact"];
    let designated: Vec<&str> = persons
        .into_iter()
        .filter(|person| !designations_of(&together, person).is_empty())
        .collect();
    assert!(
        designations_of(&together, "contact").len() >= 2,
        "both cases designate the contact"
    );
    // The two cases, decided when the batch was screened (and kept), and
    // each person the two tracings designated, once.
    assert_eq!(
        evaluated,
        2 + designated.len() as u64,
        "designated: {designated:?}"
    );
    for person in persons {
        assert_eq!(
            designations_of(&together, person),
            designations_of(&apart, person),
            "{person}"
        );
        let served = together.node.projection.get(&pid(person)).expect("decided");
        let served_apart = apart.node.projection.get(&pid(person)).expect("decided");
        assert_eq!(served.0.color(), served_apart.0.color(), "{person}");
        assert_eq!(
            served.0.valid_until_secs, served_apart.0.valid_until_secs,
            "{person}"
        );
        let (full, _) = together
            .node
            .decide(&pid(person), together.now())
            .expect("a full evaluation");
        assert_eq!(served.0.color(), full.color, "{person}");
    }
    assert_eq!(together.color("contact"), ymt_core::Color::Red);
}

fn tracings_planned(table: &TableNode) -> u64 {
    table
        .node
        .metrics
        .tracings_planned
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// A tracing depends on stays up to its horizon (the instant of tracing, or
/// the end of a stay it traced): check-ins of its persons entered later
/// cannot change it and do not plan it again; a late check-in entered
/// before it still does, and designates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_check_ins_entered_by_a_tracings_horizon_plan_it_again() {
    let table = node_after(vec![vec![case_check_in()], vec![positive()]]).await;
    let planned = tracings_planned(&table);
    assert!(planned >= 1, "the positive is traced");
    // The next day: the case and a passer-by at the venue together, both
    // entered after the tracing.
    table.clock.set(at_secs(24 * HOUR_SECS));
    table
        .ingest(vec![
            check_in(
                "ci-case-next",
                "case",
                "v-late",
                at_secs(20 * HOUR_SECS),
                at_secs(22 * HOUR_SECS),
            ),
            check_in(
                "ci-passer-by-next",
                "passer-by",
                "v-late",
                at_secs(20 * HOUR_SECS),
                at_secs(22 * HOUR_SECS),
            ),
        ])
        .await;
    assert_eq!(
        tracings_planned(&table),
        planned,
        "stays entered after the horizon do not plan the tracing again"
    );
    assert!(designations_of(&table, "passer-by").is_empty());
    // The contact's stay with the case, uploaded late: entered before the
    // tracing, so it plans it again and designates.
    table.ingest(vec![contact_check_in()]).await;
    assert_eq!(tracings_planned(&table), planned + 1);
    let expected = designations_of(
        &node_after(vec![
            vec![case_check_in(), contact_check_in()],
            vec![positive()],
        ])
        .await,
        "contact",
    );
    assert_eq!(designations_of(&table, "contact"), expected);
    assert_eq!(expected.len(), 1);
}

/// A lab retrying a batch sends events already stored beside new ones:
/// those stored are duplicates, not new events, so they count once toward
/// the per-person cap, whether the batch holds few of one person's events
/// (each looked for among the stored ones) or many (through a set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_counts_its_stored_events_once_toward_the_cap() {
    // (events of the person in the first batch, cap): the retry adds one.
    for (first, cap) in [(3usize, 5usize), (12, 14)] {
        let table = TableNode::open_with_config(|config| {
            config.person_events_per_window_max = cap;
        });
        let result = |index: usize| {
            test_result(
                &format!("pcr-{index}"),
                "retried",
                "pcr",
                "negative",
                at_secs(-10 * HOUR_SECS + index as i64 * 60),
            )
        };
        table.ingest((0..first).map(result).collect()).await;
        let retry: Vec<_> = (0..=first).map(result).collect();
        let statuses: Vec<&str> = table
            .ingest(retry)
            .await
            .iter()
            .map(|outcome| outcome.status)
            .collect();
        let mut expected = vec!["duplicate"; first];
        expected.push("stored");
        assert_eq!(statuses, expected, "{first} events, cap {cap}");
    }
}
