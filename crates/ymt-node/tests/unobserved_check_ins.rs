//! `ServerConfig::skip_unobserved_check_ins` (the policy simulator's node):
//! a batch leaves out of screening and re-evaluation only persons whose new
//! events are check-ins the rules in force cannot observe. What it must never
//! do is keep a stale color: a check-in at a venue a risk area lists is still
//! decided, and a person whose check-ins were skipped shows what a full
//! evaluation gives. With `ServerConfig::timeline_cache_persons_max` (the
//! simulator's node keeps parsed timelines), a kept timeline must never hide
//! an event stored since, nor return one purged since.

mod support;

use std::sync::atomic::Ordering;

use support::{
    HOUR_SECS, MINUTE_SECS, TableNode, at_minutes, at_secs, check_in, close_contact, pid,
    table_principal,
};
use ymt_core::event::RiskLevel;
use ymt_core::{Color, EventId, VenueId};
use ymt_node::risk::{self, RiskAreaRequest};

fn evaluations(table: &TableNode) -> u64 {
    table.node.metrics.evaluations.load(Ordering::Relaxed)
}

fn skipping() -> TableNode {
    TableNode::open_with_config(|config| config.skip_unobserved_check_ins = true)
}

fn full_color(table: &TableNode, person: &str) -> Color {
    table
        .node
        .decide(&pid(person), table.now())
        .expect("a full evaluation")
        .0
        .color
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_unobserved_check_ins_never_hides_a_check_in_at_a_risk_area_venue() {
    let table = skipping();
    table.register_venue("v-area", true);
    let request = RiskAreaRequest {
        id: EventId::parse("ra-area").expect("an id"),
        venues: [VenueId::parse("v-area").expect("a venue id")].into(),
        region: None,
        level: RiskLevel::High,
        from: at_minutes(-600),
        until: at_minutes(600),
        reason: "a stay there".into(),
    };
    risk::take_effect(&table.node, &request, &table_principal())
        .await
        .expect("the area takes effect");
    table
        .ingest(vec![check_in(
            "ci-area",
            "visitor",
            "v-area",
            at_minutes(-120),
            at_minutes(-60),
        )])
        .await;
    assert_ne!(
        table.color("visitor"),
        Color::Green,
        "a stay in a high-risk area restricts"
    );
    assert_eq!(table.color("visitor"), full_color(&table, "visitor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_check_in_leaves_the_color_a_full_evaluation_gives() {
    let table = skipping();
    table.register_venue("v-shop", true);
    table
        .ingest(vec![close_contact("cc-1", "contact", at_minutes(-30))])
        .await;
    assert_eq!(table.color("contact"), Color::Red);
    let before = evaluations(&table);
    table
        .ingest(vec![
            check_in(
                "ci-1",
                "contact",
                "v-shop",
                at_secs(-2 * HOUR_SECS),
                at_secs(-HOUR_SECS),
            ),
            check_in(
                "ci-2",
                "passer-by",
                "v-shop",
                at_secs(-2 * HOUR_SECS),
                at_secs(-2 * HOUR_SECS + 10 * MINUTE_SECS),
            ),
        ])
        .await;
    assert_eq!(
        evaluations(&table),
        before,
        "check-ins the national rules do not read are not evaluated"
    );
    for person in ["contact", "passer-by"] {
        assert_eq!(
            table.color(person),
            full_color(&table, person),
            "{person}: the kept color is a full evaluation's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_node_still_evaluates_every_check_in() {
    let table = TableNode::open();
    table.register_venue("v-shop", true);
    let before = evaluations(&table);
    table
        .ingest(vec![check_in(
            "ci-1",
            "shopper",
            "v-shop",
            at_secs(-2 * HOUR_SECS),
            at_secs(-HOUR_SECS),
        )])
        .await;
    assert!(
        evaluations(&table) > before,
        "the default re-evaluates the person"
    );
}

fn kept_from_screening(table: &TableNode) -> u64 {
    table
        .node
        .metrics
        .decisions_kept_from_screening
        .load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_person_is_not_decided_a_second_time_after_storing() {
    let table = TableNode::open();
    table
        .ingest(vec![close_contact("cc-1", "contact", at_minutes(-30))])
        .await;
    let kept_before = kept_from_screening(&table);
    table
        .ingest(vec![support::test_result(
            "t-1",
            "contact",
            "pcr",
            "negative",
            at_minutes(-25),
        )])
        .await;
    assert_eq!(
        kept_from_screening(&table),
        kept_before + 1,
        "the screening's decision is kept"
    );
    assert_eq!(table.color("contact"), Color::Red);
    assert_eq!(table.color("contact"), full_color(&table, "contact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_read_without_check_ins_never_drops_the_exposure_of_a_risk_area() {
    let table = skipping();
    table.register_venue("v-area", true);
    table
        .ingest(vec![check_in(
            "ci-area",
            "visitor",
            "v-area",
            at_minutes(-120),
            at_minutes(-60),
        )])
        .await;
    let request = RiskAreaRequest {
        id: EventId::parse("ra-later").expect("an id"),
        venues: [VenueId::parse("v-area").expect("a venue id")].into(),
        region: None,
        level: RiskLevel::High,
        from: at_minutes(-600),
        until: at_minutes(600),
        reason: "a case stayed there".into(),
    };
    risk::take_effect(&table.node, &request, &table_principal())
        .await
        .expect("the area takes effect");
    assert_ne!(table.color("visitor"), Color::Green);
    // A later negative result re-decides the visitor: the check-in must be
    // read again, since an area can now expose it.
    table
        .ingest(vec![support::test_result(
            "t-1",
            "visitor",
            "pcr",
            "negative",
            at_minutes(-30),
        )])
        .await;
    assert_ne!(
        table.color("visitor"),
        Color::Green,
        "the exposure of the stay still counts"
    );
    assert_eq!(table.color("visitor"), full_color(&table, "visitor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_timeline_never_hides_an_event_stored_or_purged_since() {
    // Room for two persons: the third empties what is kept.
    let table = TableNode::open_with_config(|config| {
        config.skip_unobserved_check_ins = true;
        config.timeline_cache_persons_max = 2;
    });
    table.register_venue("v-shop", true);
    let steps = vec![
        vec![close_contact("cc-1", "contact", at_minutes(-300))],
        vec![
            check_in(
                "ci-1",
                "contact",
                "v-shop",
                at_minutes(-250),
                at_minutes(-240),
            ),
            support::test_result("t-0", "other", "pcr", "negative", at_minutes(-200)),
        ],
        vec![support::test_result(
            "t-1",
            "contact",
            "pcr",
            "negative",
            at_minutes(-120),
        )],
        vec![support::retraction("r-1", "contact", "cc-1")],
        vec![close_contact("cc-2", "contact", at_minutes(-20))],
        vec![support::test_result(
            "t-2",
            "third",
            "pcr",
            "positive",
            at_minutes(-10),
        )],
        vec![support::test_result(
            "t-3",
            "contact",
            "antigen",
            "negative",
            at_minutes(-5),
        )],
    ];
    let mut designation_id = None;
    for (step, batch) in steps.into_iter().enumerate() {
        let results = table.ingest(batch).await;
        if step == 4 {
            designation_id = Some(results[0].id.clone());
        }
        for person in ["contact", "other", "third"] {
            if table.node.projection.get(&pid(person)).is_some() {
                // Decided again through what is kept, as tracing's
                // re-evaluations and the due transitions are.
                table
                    .node
                    .reevaluate_many(&[pid(person)])
                    .expect("re-evaluated");
                let (slot, _) = table.node.projection.get(&pid(person)).expect("decided");
                let (full, _) = table
                    .node
                    .decide(&pid(person), table.now())
                    .expect("a full evaluation");
                assert_eq!(slot.color(), full.color, "step {step}, {person}");
                assert_eq!(
                    slot.valid_until_secs,
                    full.valid_until.map_or(0, |at| at.unix_secs()),
                    "step {step}, {person}"
                );
            }
        }
    }
    assert_eq!(table.color("contact"), Color::Red, "the second designation");
    // A kept event purged from the store is no longer read.
    table
        .node
        .store
        .purge(&[designation_id.expect("the second designation's id")])
        .expect("the purge");
    table
        .node
        .reevaluate_many(&[pid("contact")])
        .expect("re-evaluated");
    assert_eq!(table.color("contact"), full_color(&table, "contact"));
    assert_eq!(table.color("contact"), Color::Green);
}
