//! Check-ins that arrive after their case was traced (venue scanners
//! upload late; replicas lag) designate as if they had come first, with the
//! same ids; and a retracted check-in withdraws what it caused.

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
