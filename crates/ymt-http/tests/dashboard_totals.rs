//! The dashboard's totals: a health authority and a national admin looking at
//! the same region see the same counts, the chart is labelled in the page's
//! language, and nobody reads a region outside their jurisdiction.

mod support;

use serde_json::json;
use support::{T0_UNIX_SECS, TestNode, pcr_data, submission};
use ymt_node::auth::Role;

/// The counts the chart carries on its root: green, yellow, red.
fn counts_of(svg: &str) -> [i64; 3] {
    let root = &svg[..svg.find('>').expect("an svg element")];
    ["data-green", "data-yellow", "data-red"].map(|name| {
        let start = root
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("{name} missing in {root}"))
            + name.len()
            + 2;
        root[start..start + root[start..].find('"').unwrap()]
            .parse()
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_authority_and_a_national_admin_see_the_same_totals_for_one_region() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let authority = node.add_principal("ha-nanshan", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
    let mut pids = Vec::new();
    for (n, region) in ["440305", "440305", "110105"].iter().enumerate() {
        let body = json!({"id_type": "passport", "id_number": format!("E7000000{n}"),
                          "display_name": "张三", "region": region});
        let (status, reply) = node.post_as(&admin, "/v1/persons", body).await;
        assert_eq!(status, 200, "{reply}");
        pids.push(reply["pid"].as_str().unwrap().to_owned());
    }
    // One registered person of 440305 is positive, and one person with a
    // result but no registration exists on the node.
    for (id, pid) in [("t-1", pids[0].as_str()), ("t-2", "p-unregistered")] {
        let event = submission(
            id,
            pid,
            "440305",
            "test_result",
            pcr_data(T0_UNIX_SECS - 7200, T0_UNIX_SECS - 60, "positive"),
        );
        let (status, reply) = node.post_as(&lab, "/v1/events", event).await;
        assert_eq!(status, 200, "{reply}");
    }
    let authority_view = node
        .get("/v1/dashboard/colors.svg?lang=en", Some(&authority))
        .await;
    assert_eq!(authority_view.status, 200);
    let authority_svg = authority_view.text();
    assert_eq!(counts_of(&authority_svg), [1, 0, 1], "{authority_svg}");
    assert!(
        authority_svg.contains("Persons by color"),
        "{authority_svg}"
    );
    let admin_view = node
        .get("/v1/dashboard/colors.svg?region=440305", Some(&admin))
        .await;
    assert_eq!(admin_view.status, 200);
    let admin_svg = admin_view.text();
    assert_eq!(
        counts_of(&admin_svg),
        counts_of(&authority_svg),
        "{admin_svg}"
    );
    assert!(admin_svg.contains("各码色人数"), "{admin_svg}");
    // The authority narrows to its own region, never outside it.
    let own = node
        .get("/v1/dashboard/colors.svg?region=440305", Some(&authority))
        .await;
    assert_eq!(counts_of(&own.text()), [1, 0, 1]);
    let outside = node
        .get("/v1/dashboard/colors.svg?region=110105", Some(&authority))
        .await;
    assert_eq!(outside.status, 403, "{}", outside.text());
    node.close().await;
}

/// Issue 13 item 20: the hourly history is kept by the node, a point at the
/// start of every hour from its own counts, with no page view at all; the
/// points survive a restart and are bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_history_has_a_point_for_every_hour_without_any_page_view() {
    use ymt_node::codes::COLOR_HISTORY_HOURS_MAX;
    const HOUR: i64 = 3600;
    let node = TestNode::start().await;
    let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
    node.wait_for_transitions_applied_until(node.now()).await;
    let start_hour = T0_UNIX_SECS.div_euclid(HOUR) * HOUR;
    // A person turns red half an hour in; nobody looks at the dashboard.
    node.advance_clock_minutes(30).await;
    let positive = submission(
        "t-1",
        "p-red",
        "440305",
        "test_result",
        pcr_data(T0_UNIX_SECS, T0_UNIX_SECS + 1200, "positive"),
    );
    let (status, body) = node.post_as(&lab, "/v1/events", positive).await;
    assert_eq!(status, 200, "{body}");
    node.advance_clock_minutes(30).await;
    // Five hours at once: each has its point.
    node.advance_clock_hours(5).await;
    let hours = node.state.color_hours().unwrap();
    let instants: Vec<i64> = hours.iter().map(|(hour, _)| *hour).collect();
    let expect: Vec<i64> = (0..=6).map(|n| start_hour + n * HOUR).collect();
    assert_eq!(instants, expect, "one point per hour, no gap");
    assert_eq!(hours[0].1, [0, 0, 0], "nobody was red at the first hour");
    assert_eq!(hours[1].1, [0, 0, 1], "the red person at the next hour");

    // Durable: the same points after a restart.
    let node = node.restart().await;
    node.wait_for_transitions_applied_until(node.now()).await;
    assert_eq!(node.state.color_hours().unwrap(), hours);

    // Bounded, in memory and in the store.
    node.advance_clock_hours(COLOR_HISTORY_HOURS_MAX as i64 + 40)
        .await;
    let hours = node.state.color_hours().unwrap();
    assert_eq!(hours.len(), COLOR_HISTORY_HOURS_MAX);
    assert!(
        hours.windows(2).all(|pair| pair[1].0 - pair[0].0 == HOUR),
        "no gap"
    );
    let stored = node
        .state
        .store
        .meta_list(ymt_node::color_hours::META_COLOR_HOURS)
        .unwrap();
    assert_eq!(stored.len(), COLOR_HISTORY_HOURS_MAX);
    node.close().await;
}

/// Issue 13 item 20: the map of the jurisdiction's venues, drawn by the
/// node; a venue named like markup stays text, and a venue in a risk area
/// in force is marked with its level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_named_like_markup_cannot_inject_into_the_dashboards_map() {
    let node = TestNode::start().await;
    let authority = node.add_principal("ha-nanshan", Role::HealthAuthority, "440305");
    let other = node.add_principal("ha-futian", Role::HealthAuthority, "440304");
    let name = r#"</title><script>alert(1)</script>"#;
    for (id, location) in [
        ("v-evil", json!({"lat": 22.53, "lon": 113.93})),
        ("v-plain", json!({"lat": 22.54, "lon": 113.94})),
    ] {
        let (status, body) = node
            .post_as(
                &authority,
                "/v1/venues",
                json!({"id": id, "name": name, "region": "440305001001", "category": "restaurant",
                       "indoor": true, "location": location}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/venues",
            json!({"id": "v-off-globe", "name": "x", "region": "440305001001", "category": "shop",
                   "indoor": true, "location": {"lat": 91.0, "lon": 0.0}}),
        )
        .await;
    assert_eq!(status, 422, "a place not on the globe: {body}");
    let reply = node.get("/v1/dashboard/map.svg", Some(&authority)).await;
    assert_eq!(reply.status, 200);
    let svg = reply.text();
    assert!(!svg.contains("<script"), "{svg}");
    assert!(
        svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{svg}"
    );
    assert_eq!(svg.matches("data-venue=").count(), 2, "{svg}");
    // Another jurisdiction's map does not show them.
    let svg = node.get("/v1/dashboard/map.svg", Some(&other)).await.text();
    assert_eq!(svg.matches("data-venue=").count(), 0, "{svg}");
    node.close().await;
}
