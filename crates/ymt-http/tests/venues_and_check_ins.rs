//! Venues and check-ins: what a check-in must be, the venue code, the
//! check-in index rebuilt from the store on start, and retention.

mod support;

use serde_json::json;
use support::tracing_world::{COMMUNITY_A, NANSHAN, check_in, check_ins, world};
use support::{TestNode, at_minutes};
use ymt_core::{EventId, PersonId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_are_checked() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    let cases = [
        (
            check_in("b1", "p1", "v-nowhere", -60, Some(-30)),
            422,
            "v-nowhere",
        ),
        (
            check_in("b2", "p1", "v-mall", -60, Some(-90)),
            422,
            "left_at",
        ),
        (
            check_in("b3", "p1", "v-mall", -1500, Some(-1)),
            422,
            "maximum",
        ),
    ];
    for (event, expect_status, expect_text) in cases {
        let (status, body) = node.post_as(&world.scanner, "/v1/events", event).await;
        assert_eq!(status, expect_status, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(expect_text),
            "{body}"
        );
    }
    assert_eq!(node.state.tracing.index.read().len(), 0);

    // Venues: only inside the authority's jurisdiction, at street or community level.
    let (status, body) = node
        .post_as(
            &world.other_authority,
            "/v1/venues",
            json!({"id": "v-x", "name": "x", "region": COMMUNITY_A, "category": "retail", "indoor": true}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/venues",
            json!({"id": "v-x", "name": "x", "region": NANSHAN, "category": "retail", "indoor": true}),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The venue code is signed and rendered.
    let (status, body) = node.get_as(&world.scanner, "/v1/venues/v-mall").await;
    assert_eq!(status, 200, "{body}");
    let payload = body["qr_payload"].as_str().unwrap();
    assert!(payload.starts_with("YMTV1:v-mall."), "{payload}");
    assert_eq!(
        ymt_node::venues::verify_venue_qr_payload(&node.state.tracing.venue_key(), payload)
            .unwrap()
            .as_str(),
        "v-mall"
    );
    let svg = node
        .client
        .get(format!("{}/v1/venues/v-mall/qr", node.base))
        .bearer_auth(&world.scanner)
        .send()
        .await
        .unwrap();
    assert_eq!(svg.status().as_u16(), 200);
    assert!(svg.text().await.unwrap().contains("<svg"));
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_from_the_store_on_start() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pcompanion", "v-park", -150, Some(-90)),
            check_in("c3", "pcompanion", "v-mall", -170, None),
        ],
    )
    .await;
    let key = node.state.tracing.venue_key();
    let node = node.restart().await;
    {
        let index = node.state.tracing.index.read();
        assert_eq!(index.len(), 3);
        let stays = index.stays_of(&PersonId::parse("pcompanion").unwrap());
        assert_eq!(stays.len(), 2);
        // The default stay applies to a check-in without a departure.
        assert!(
            stays
                .iter()
                .any(|(venue, enter, leave)| venue.as_str() == "v-mall"
                    && *enter == at_minutes(-170)
                    && *leave == at_minutes(-50))
        );
    }
    // Venues and the venue-code key survive the restart.
    assert!(
        node.state
            .tracing
            .venue(&"v-gym".parse().unwrap())
            .is_some()
    );
    assert_eq!(node.state.tracing.venue_key(), key);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_old_check_ins_from_store_and_index() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("old", "pold", "v-mall", -25 * 1440, Some(-25 * 1440 + 60)),
            check_in("new", "pnew", "v-mall", -1440, Some(-1380)),
        ],
    )
    .await;
    assert_eq!(node.state.tracing.index.read().len(), 2);
    let state = node.state.clone();
    let report = tokio::task::spawn_blocking(move || {
        ymt_node::tracing_service::purge_expired(&state).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.store_purged, 1);
    assert_eq!(report.index_purged, 1);
    let store = &node.state.store;
    assert!(
        store
            .event_by_id(&EventId::parse("scanner-1:old").unwrap())
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .event_by_id(&EventId::parse("scanner-1:new").unwrap())
            .unwrap()
            .is_some()
    );
    {
        let index = node.state.tracing.index.read();
        assert_eq!(index.len(), 1);
        assert!(index.stays_of(&PersonId::parse("pold").unwrap()).is_empty());
        assert_eq!(index.stays_of(&PersonId::parse("pnew").unwrap()).len(), 1);
    }
    let (_, audit) = node.get_as(&world.national, "/v1/audit?limit=1000").await;
    let purge = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["action"] == "checkins.purge")
        .expect("the purge is audited")
        .clone();
    assert!(
        purge["detail"].as_str().unwrap().contains("store purged 1"),
        "{purge}"
    );
    node.close().await;
}
