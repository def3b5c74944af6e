//! What a person sees of their own color beyond the code: their history
//! (with a retracted positive's red), the read a watching page polls to
//! learn of a change within seconds, and the evidence behind a reason in
//! words. Nobody reads another person's, and the poll is bounded.

mod support;

use serde_json::{Value, json};
use support::*;
use ymt_node::auth::Role;

const ONE_TIME_CODE: &str = "246810";

struct World {
    node: TestNode,
    authority: String,
    lab: String,
}

async fn start() -> World {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
    World {
        node,
        authority,
        lab,
    }
}

impl World {
    /// Registers a person and signs them in; their pid and session cookie.
    async fn citizen(&self, number: &str) -> (String, String) {
        let (status, body) = self
            .node
            .post_as(
                &self.authority,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": number, "display_name": "张三", "region": "440305"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let pid = body["pid"].as_str().expect("a pid").to_owned();
        let cookie = self
            .node
            .sign_in_citizen("passport", number, ONE_TIME_CODE)
            .await
            .session_cookie()
            .expect("signed in");
        (pid, cookie)
    }

    async fn get(&self, cookie: &str, path: &str) -> Reply {
        self.node.send_with_cookie("GET", path, cookie, None).await
    }

    async fn post_positive(&self, id: &str, pid: &str) {
        let now = self.node.now().unix_secs();
        let event = submission(
            id,
            pid,
            "440305",
            "test_result",
            pcr_data(now - HOUR_SECS, now, "positive"),
        );
        check(
            "positive",
            &self.node.post("/v1/events", Some(&self.lab), &event).await,
            200,
        );
    }
}

fn colors_and_instants(history: &Value) -> Vec<(String, i64)> {
    history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            let at = ymt_core::Timestamp::parse_rfc3339(change["at"].as_str().expect("at"))
                .expect("an instant");
            (
                change["color"].as_str().expect("a color").to_owned(),
                at.unix_secs(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_positive_does_not_vanish_from_the_persons_own_history() {
    let world = start().await;
    let (pid, cookie) = world.citizen("E10000001").await;
    let recorded = world.node.now().unix_secs();
    world.post_positive("pos-1", &pid).await;
    world.node.advance_clock_minutes(90).await;
    let retraction = submission(
        "retract-pos-1",
        &pid,
        "440305",
        "retraction",
        json!({"target": "lab-440305-01:pos-1", "reason": "sample mix-up at the lab"}),
    );
    check(
        "retraction",
        &world
            .node
            .post("/v1/events", Some(&world.authority), &retraction)
            .await,
        200,
    );
    let reply = world
        .get(&cookie, &format!("/v1/persons/{pid}/history"))
        .await;
    check("own history", &reply, 200);
    let history = reply.json();
    let changes = colors_and_instants(&history);
    let red_at = changes
        .iter()
        .find(|(color, _)| color == "red")
        .map(|(_, at)| *at)
        .unwrap_or_else(|| panic!("the positive's red is in the history: {history}"));
    assert_eq!(red_at, recorded, "red from the positive's recording");
    let (last_color, last_at) = changes.last().cloned().expect("a change");
    assert_eq!(last_color, "green", "{history}");
    assert_eq!(last_at - red_at, 90 * MINUTE_SECS, "90 minutes of red");
    // The change names the event that made it, and the rule that fired.
    let red = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["color"] == "red")
        .unwrap();
    assert_eq!(red["events"][0]["kind"], "test_result", "{red}");
    assert!(!red["reasons"].as_array().unwrap().is_empty(), "{red}");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_cannot_read_another_persons_history_or_watch_their_color() {
    let world = start().await;
    let (_, cookie) = world.citizen("E10000002").await;
    let (stranger, _) = world.citizen("E10000003").await;
    world.post_positive("pos-stranger", &stranger).await;
    let denied_before = world.node.denied_records().len();
    for path in [
        format!("/v1/persons/{stranger}/history"),
        format!("/v1/persons/{stranger}/color"),
    ] {
        let reply = world.get(&cookie, &path).await;
        check(&path, &reply, 403);
        assert!(
            !reply.text().contains("red"),
            "nothing leaks: {}",
            reply.text()
        );
    }
    assert_eq!(
        world.node.denied_records().len(),
        denied_before + 2,
        "each refusal is audited"
    );
    // Without a session: 401.
    let reply = world
        .node
        .get(&format!("/v1/persons/{stranger}/history"), None)
        .await;
    check("no session", &reply, 401);
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_color_change_reaches_the_watching_page_without_a_new_code() {
    let world = start().await;
    let (pid, cookie) = world.citizen("E10000004").await;
    let path = format!("/v1/persons/{pid}/color");
    let reply = world.get(&cookie, &path).await;
    check("green", &reply, 200);
    assert_eq!(reply.json()["color"], "green");
    world.post_positive("pos-2", &pid).await;
    let reply = world.get(&cookie, &path).await;
    check("red", &reply, 200);
    assert_eq!(
        reply.json()["color"],
        "red",
        "at once, not at the next code"
    );
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_polling_a_color_in_a_loop_is_slowed_down_not_served() {
    let world = start().await;
    let (pid, cookie) = world.citizen("E10000005").await;
    let path = format!("/v1/persons/{pid}/color");
    for poll in 0..ymt_node::color_polls::COLOR_POLLS_PER_WINDOW_MAX {
        check(
            &format!("poll {poll}"),
            &world.get(&cookie, &path).await,
            200,
        );
    }
    let refused = world.get(&cookie, &path).await;
    check("past the limit", &refused, 429);
    assert!(refused.retry_after.is_some(), "with Retry-After");
    // Another person is not slowed down by it.
    let (other, other_cookie) = world.citizen("E10000006").await;
    check(
        "another person",
        &world
            .get(&other_cookie, &format!("/v1/persons/{other}/color"))
            .await,
        200,
    );
    world
        .node
        .advance_clock_secs(ymt_node::color_polls::COLOR_POLL_WINDOW_SECS)
        .await;
    check("next window", &world.get(&cookie, &path).await, 200);
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_is_never_shown_to_its_person_as_a_bare_event_id() {
    let world = start().await;
    let (pid, cookie) = world.citizen("E10000007").await;
    let now = world.node.now().unix_secs();
    let event = json!({"id": "ov-1", "subject": {"pid": pid}, "region": "440305", "kind": "override",
        "data": {"color": "yellow", "reason": "返深人员居家健康监测",
                 "from": rfc3339_of_unix_secs(now),
                 "until": rfc3339_of_unix_secs(now + DAY_SECS)}});
    check(
        "override",
        &world
            .node
            .post("/v1/events", Some(&world.authority), &event)
            .await,
        200,
    );
    let reply = world.get(&cookie, &format!("/v1/persons/{pid}/code")).await;
    check("code", &reply, 200);
    let code = reply.json();
    let evidence_ids: Vec<String> = code["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .flat_map(|reason| reason["evidence"].as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let explained: Vec<&Value> = evidence_ids
        .iter()
        .filter_map(|id| code["evidence"].get(id))
        .collect();
    let override_evidence = explained
        .iter()
        .find(|item| item["kind"] == "override")
        .unwrap_or_else(|| panic!("the override's evidence is explained: {code}"));
    assert_eq!(override_evidence["reason"], "返深人员居家健康监测");
    assert_eq!(override_evidence["by"], "cdc-440305");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wards_with_one_masked_name_are_not_shown_as_identical_tabs() {
    let world = start().await;
    let confirmer = world
        .node
        .add_principal("cdc-440305-b", Role::HealthAuthority, "440305");
    let mut wards = Vec::new();
    for (number, name) in [("E10000011", "马丽"), ("E10000012", "马力")] {
        let (status, body) = world
            .node
            .post_as(
                &world.authority,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": number, "display_name": name, "region": "440305"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["masked_name"], "马*");
        wards.push(body["pid"].as_str().unwrap().to_owned());
    }
    let (status, body) = world
        .node
        .post_as(
            &world.authority,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": "E10000013", "display_name": "马建国",
                   "region": "440305", "guardian_of": wards,
                   "relationships": {wards[0].clone(): "child", wards[1].clone(): "grandchild"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let guardian = body["pid"].as_str().unwrap().to_owned();
    for ward in &wards {
        let (status, body) = world
            .node
            .post_as(
                &confirmer,
                "/v1/guardianships:confirm",
                json!({"guardian": guardian, "ward": ward}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let cookie = world
        .node
        .sign_in_citizen("passport", "E10000013", ONE_TIME_CODE)
        .await
        .session_cookie()
        .expect("signed in");
    let session = world.get(&cookie, "/v1/session").await.json();
    let tabs: Vec<(String, String)> = session["dependents"]
        .as_array()
        .expect("dependents")
        .iter()
        .map(|dependent| {
            (
                dependent["relationship"].as_str().unwrap_or("").to_owned(),
                dependent["masked_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(tabs.len(), 2, "{session}");
    assert_ne!(tabs[0], tabs[1], "two tabs that look the same: {session}");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relationship_cannot_name_a_person_who_is_not_a_ward() {
    let world = start().await;
    let (stranger, _) = world.citizen("E10000021").await;
    let (status, body) = world
        .node
        .post_as(
            &world.authority,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": "E10000022", "display_name": "马建国",
                   "region": "440305", "relationships": {stranger: "child"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("relationships"),
        "{body}"
    );
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risk_area_reason_never_hides_which_area_and_which_stay() {
    use support::tracing_world::{COMMUNITY_A, check_in, check_ins, risk_area, world};
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![check_in("c1", "pmall", "v-mall", -120, Some(-60))],
    )
    .await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, code) = node
        .get_as(&world.authority, "/v1/persons/pmall/code")
        .await;
    assert_eq!(status, 200, "{code}");
    assert_eq!(code["color"], "yellow", "{code}");
    let exposure = code["evidence"]
        .as_object()
        .expect("evidence")
        .values()
        .find(|item| item["kind"] == "risk_exposure")
        .unwrap_or_else(|| panic!("the exposure is explained: {code}"));
    let stay = &exposure["stays"][0];
    assert_eq!(stay["area"], COMMUNITY_A, "{exposure}");
    assert_eq!(stay["venue_names"][0], "venue v-mall", "{exposure}");
    assert_eq!(
        ymt_core::Timestamp::parse_rfc3339(stay["from"].as_str().unwrap())
            .unwrap()
            .unix_secs(),
        at_minutes(-120).unix_secs(),
        "the stay's start: {exposure}"
    );
    node.close().await;
}
