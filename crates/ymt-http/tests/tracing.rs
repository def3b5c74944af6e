//! Venues, check-ins into the tracing index, automatic tracing, risk areas
//! and the circuit breaker, in process with a manual clock.

use std::sync::Arc;

use serde_json::{Value, json};
use ymt_core::{EventId, PersonId, Timestamp};
use ymt_http::router;
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::{ManualClock, Node, ServerConfig};

struct TestHarness {
    state: Arc<Node>,
    clock: Arc<ManualClock>,
    base: String,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

const T0: &str = "2022-05-10T12:00:00Z";
const NANSHAN: &str = "440305";
const COMMUNITY_A: &str = "440305001001";
const COMMUNITY_B: &str = "440305001002";

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339(T0).unwrap()
}

/// An instant `minutes` after T0 (negative: before).
fn at(minutes: i64) -> String {
    t0().plus_secs(minutes * 60).to_rfc3339()
}

async fn node(edit: impl FnOnce(&mut ServerConfig)) -> TestHarness {
    node_in(tempfile::tempdir().unwrap(), edit).await
}

async fn node_in(dir: tempfile::TempDir, edit: impl FnOnce(&mut ServerConfig)) -> TestHarness {
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.pseudonym_secret_hex = Some("11".repeat(32));
    edit(&mut config);
    let clock = Arc::new(ManualClock::new(t0()));
    let state = Node::open_embedded(config, clock.clone()).unwrap();
    // No read-audit writer: its task holds the state for the life of the
    // runtime, and the store must close before its directory is removed.
    // Read records wait in the (bounded, large) queue instead.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    TestHarness {
        state,
        clock,
        base,
        client: reqwest::Client::new(),
        stop,
        server,
        dir,
    }
}

impl TestHarness {
    /// Stops the server and closes the store before its directory is
    /// removed (a store whose directory vanished waits long on close).
    async fn close(self) -> tempfile::TempDir {
        let TestHarness {
            state,
            client,
            stop,
            server,
            dir,
            ..
        } = self;
        drop(client);
        let _ = stop.send(());
        server.await.unwrap();
        tokio::task::spawn_blocking(move || drop(state))
            .await
            .unwrap();
        dir
    }

    fn key(&self, id: &str, role: Role, jurisdiction: &str) -> String {
        let key = new_api_key(id);
        self.state
            .add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse().unwrap(),
                display_name: id.into(),
                key_sha256: key_sha256(&key),
                disabled: false,
            })
            .unwrap();
        key
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn color(&self, key: &str, pid: &str) -> String {
        let (status, body) = self.get(key, &format!("/v1/persons/{pid}/status")).await;
        assert_eq!(status, 200, "{body}");
        body["color"].as_str().unwrap().to_string()
    }
}

/// The principals and venues every test uses.
struct World {
    authority: String,
    other_authority: String,
    scanner: String,
    lab: String,
    national: String,
    national_2: String,
}

async fn world(node: &TestHarness) -> World {
    let world = World {
        authority: node.key("ha-nanshan", Role::HealthAuthority, NANSHAN),
        other_authority: node.key("ha-futian", Role::HealthAuthority, "440304"),
        scanner: node.key("scanner-1", Role::Venue, NANSHAN),
        lab: node.key("lab-1", Role::Lab, "4403"),
        national: node.key("nat-1", Role::NationalAdmin, "nation"),
        national_2: node.key("nat-2", Role::NationalAdmin, "nation"),
    };
    for (id, region, indoor) in [
        ("v-mall", COMMUNITY_A, true),
        ("v-park", COMMUNITY_A, false),
        ("v-gym", COMMUNITY_B, true),
    ] {
        let (status, body) = node
            .post(
                &world.authority,
                "/v1/venues",
                json!({"id": id, "name": format!("venue {id}"), "region": region, "category": "retail", "indoor": indoor}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    world
}

fn check_in(id: &str, pid: &str, venue: &str, enter: i64, leave: Option<i64>) -> Value {
    let mut data = json!({"venue": venue, "entered_at": at(enter)});
    if let Some(leave) = leave {
        data["left_at"] = json!(at(leave));
    }
    json!({"id": id, "subject": {"pid": pid}, "region": COMMUNITY_A, "kind": "check_in", "data": data})
}

async fn check_ins(node: &TestHarness, world: &World, events: Vec<Value>) {
    let (status, body) = node
        .post(
            &world.scanner,
            "/v1/events:batch",
            json!({"events": events}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn positive(id: &str, pid: &str, sampled: i64) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": NANSHAN, "kind": "test_result",
           "data": {"test": "pcr", "result": "positive", "sampled_at": at(sampled), "reported_at": at(0), "lab": "lab-1"}})
}

fn reasons(status: &Value) -> Vec<String> {
    status["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|reason| reason["rule_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_designates_at_once_and_a_retraction_restores_everyone() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            // The case: the mall (indoor) and the park (outdoor).
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pcase", "v-park", -360, Some(-300)),
            // 60 min indoors with the case: a close contact.
            check_in("c3", "pclose", "v-mall", -150, Some(-90)),
            // 30 min outdoors: a companion.
            check_in("c4", "pcompanion", "v-park", -330, Some(-240)),
            // 10 min: below the least overlap.
            check_in("c5", "pbrief", "v-mall", -70, Some(-30)),
            // The close contact's gym visit the day before, with a friend.
            check_in("c6", "pclose", "v-gym", -1200, Some(-1140)),
            check_in("c7", "psecondary", "v-gym", -1210, Some(-1130)),
            // Before the look-back window (6 days ago): not traced.
            check_in("c8", "pcase", "v-gym", -8640, Some(-8580)),
            check_in("c9", "pold", "v-gym", -8640, Some(-8580)),
        ],
    )
    .await;
    for pid in [
        "pcase",
        "pclose",
        "pcompanion",
        "pbrief",
        "psecondary",
        "pold",
    ] {
        assert_eq!(node.color(&world.authority, pid).await, "green", "{pid}");
    }
    assert_eq!(node.state.tracing.index.read().len(), 9);

    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");

    // The moment the positive result is acknowledged, codes have changed.
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    let (_, companion) = node
        .get(&world.authority, "/v1/persons/pcompanion/status")
        .await;
    assert_eq!(companion["color"], "yellow", "{companion}");
    assert!(
        reasons(&companion).contains(&"CN-COMPANION-01".to_string()),
        "{companion}"
    );
    assert_eq!(node.color(&world.authority, "psecondary").await, "yellow");
    assert_eq!(node.color(&world.authority, "pbrief").await, "green");
    assert_eq!(node.color(&world.authority, "pold").await, "green");

    // The evidence: venue, overlap, source case, tracing rule, author.
    let (status, timeline) = node
        .get(&world.authority, "/v1/persons/pcompanion/timeline")
        .await;
    assert_eq!(status, 200, "{timeline}");
    let designation = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["event"]["kind"] == "contact_designation")
        .expect("a designation")
        .clone();
    let event = &designation["event"];
    assert_eq!(event["author"], "auto-trace");
    assert_eq!(event["data"]["contact"], "companion");
    assert_eq!(event["data"]["venue"], "v-park");
    assert_eq!(event["data"]["source_case"], "pcase");
    assert_eq!(event["data"]["overlap_start"], at(-330));
    assert_eq!(event["data"]["overlap_end"], at(-300));
    assert_eq!(event["data"]["rule"], "TRACE-COMPANION-01");
    assert_eq!(designation["region"], COMMUNITY_A);

    // An authority may retract one designation through the ordinary path.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R0", "subject": {"pid": "pcompanion"}, "region": COMMUNITY_A, "kind": "retraction",
                   "data": {"target": event["id"], "reason": "the companion was elsewhere"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcompanion").await, "green");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");

    // Retracting the positive retracts everything traced from it.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R1", "subject": {"pid": "pcase"}, "region": NANSHAN, "kind": "retraction",
                   "data": {"target": "lab-1:S1", "reason": "sample mix-up"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for pid in ["pcase", "pclose", "pcompanion", "psecondary"] {
        assert_eq!(node.color(&world.authority, pid).await, "green", "{pid}");
    }
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_tracing_can_be_disabled() {
    let node = node(|config| config.tracing.secondary_contacts_enabled = false).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c3", "pclose", "v-mall", -150, Some(-90)),
            check_in("c6", "pclose", "v-gym", -1200, Some(-1140)),
            check_in("c7", "psecondary", "v-gym", -1210, Some(-1130)),
        ],
    )
    .await;
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    assert_eq!(node.color(&world.authority, "psecondary").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_are_checked() {
    let node = node(|_| {}).await;
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
        let (status, body) = node.post(&world.scanner, "/v1/events", event).await;
        assert_eq!(status, expect_status, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(expect_text),
            "{body}"
        );
    }
    assert_eq!(node.state.tracing.index.read().len(), 0);

    // Venues: only inside the authority's jurisdiction, at street or community level.
    let (status, body) = node
        .post(
            &world.other_authority,
            "/v1/venues",
            json!({"id": "v-x", "name": "x", "region": COMMUNITY_A, "category": "retail", "indoor": true}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/venues",
            json!({"id": "v-x", "name": "x", "region": NANSHAN, "category": "retail", "indoor": true}),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The venue code is signed and rendered.
    let (status, body) = node.get(&world.scanner, "/v1/venues/v-mall").await;
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
    drop(node.close().await);
}

fn risk_area(id: &str, area: Value) -> Value {
    let mut body =
        json!({"id": id, "level": "high", "from": at(-600), "until": at(600), "reason": "cluster"});
    for (key, value) in area.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_areas_respect_jurisdiction_and_granularity() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pmall", "v-mall", -120, Some(-60)),
            check_in("c2", "pgym", "v-gym", -120, Some(-60)),
            check_in("c3", "pearly", "v-gym", -2000, Some(-1900)),
        ],
    )
    .await;

    // Outside the jurisdiction: refused.
    for area in [
        json!({"venues": ["v-mall"]}),
        json!({"region": COMMUNITY_A}),
    ] {
        let (status, body) = node
            .post(
                &world.other_authority,
                "/v1/risk-areas",
                risk_area("ra-x", area),
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }

    // A community: applied at once.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied");
    let (_, mall) = node.get(&world.authority, "/v1/persons/pmall/status").await;
    assert_eq!(mall["color"], "yellow", "{mall}");
    assert!(reasons(&mall).contains(&"CN-HIGH-RISK-01".to_string()));
    assert_eq!(node.color(&world.authority, "pgym").await, "green");

    // The whole county: held for national approval.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-2", json!({"region": NANSHAN})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let pending_id = body["pending"]["id"].as_str().unwrap().to_string();
    assert!(
        body["pending"]["held_because"][0]
            .as_str()
            .unwrap()
            .contains("granularity"),
        "{body}"
    );
    assert_eq!(node.color(&world.authority, "pgym").await, "green");
    // The authority cannot approve; a national admin can.
    let (status, _) = node
        .post(
            &world.authority,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = node
        .post(
            &world.national,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"]["status"], "approved");
    assert_eq!(node.color(&world.authority, "pgym").await, "yellow");
    // A stay before the window is not exposed.
    assert_eq!(node.color(&world.authority, "pearly").await, "green");

    // A venue set spanning two communities is held too.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-3", json!({"venues": ["v-mall", "v-gym"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_holds_large_actions_until_a_second_admin_approves() {
    let node = node(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "p1", "v-mall", -120, Some(-60)),
            check_in("c2", "p2", "v-mall", -100, Some(-50)),
        ],
    )
    .await;
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"venues": ["v-mall"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["pending"]["impact"]["persons_changing"], 2);
    assert_eq!(body["pending"]["impact"]["transitions"]["green->yellow"], 2);
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    assert_eq!(node.color(&world.authority, "p1").await, "green");
    let (status, listed) = node
        .get(&world.national, "/v1/pending?status=pending")
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["pending"].as_array().unwrap().len(), 1);

    let (status, body) = node
        .post(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    assert_eq!(node.color(&world.authority, "p2").await, "yellow");
    // Decided once only.
    let (status, _) = node
        .post(
            &world.national_2,
            &format!("/v1/pending/{id}:reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);

    // A bulk override by a national admin needs a second one.
    let (status, body) = node
        .post(
            &world.national,
            "/v1/overrides:bulk",
            json!({"id": "bulk-1", "pids": ["p1", "p2", "p3"], "region": NANSHAN, "color": "red",
                   "reason": "outbreak control", "from": at(0), "until": at(7 * 1440)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, _) = node
        .post(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    let (status, body) = node
        .post(
            &world.national_2,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"]["events_stored"], 3);
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    assert_eq!(node.color(&world.authority, "p3").await, "red");

    // A rejected action changes nothing.
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/overrides:bulk",
            json!({"id": "bulk-2", "pids": ["p4", "p5"], "region": NANSHAN, "color": "yellow",
                   "reason": "x", "from": at(0), "until": at(1440)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, _) = node
        .post(
            &world.national,
            &format!("/v1/pending/{id}:reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = node.get(&world.authority, "/v1/persons/p4/status").await;
    assert_eq!(status, 404);

    // Approvals and rejections are audited.
    let (_, audit) = node.get(&world.national, "/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|record| record["action"].as_str())
        .collect();
    for action in ["pending.propose", "pending.approve", "pending.reject"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_old_check_ins_from_store_and_index() {
    let node = node(|_| {}).await;
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
            .event_by_id(&EventId::parse("old").unwrap())
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .event_by_id(&EventId::parse("new").unwrap())
            .unwrap()
            .is_some()
    );
    {
        let index = node.state.tracing.index.read();
        assert_eq!(index.len(), 1);
        assert!(index.stays_of(&PersonId::parse("pold").unwrap()).is_empty());
        assert_eq!(index.stays_of(&PersonId::parse("pnew").unwrap()).len(), 1);
    }
    let (_, audit) = node.get(&world.national, "/v1/audit?limit=1000").await;
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
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_from_the_store_on_start() {
    let node = node(|_| {}).await;
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
    let dir = node.close().await;
    let node = node_in(dir, |_| {}).await;
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
                    && *enter == t0().plus_secs(-170 * 60)
                    && *leave == t0().plus_secs(-50 * 60))
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
    drop(node.close().await);
}

/// The status a node keeps for a person equals a full evaluation of their
/// timeline with the designations in force: color, change instant, next
/// color and the whole explanation.
async fn check_projection_matches_full_evaluation(node: &TestHarness, pids: &[&str]) {
    let state = node.state.clone();
    let pids: Vec<String> = pids.iter().map(|pid| pid.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        for pid in pids {
            let pid = PersonId::parse(&pid).unwrap();
            let (decision, _) = state.decide(&pid, state.now()).unwrap();
            let (slot, explanation) = state.projection.get(&pid).expect("in the projection");
            assert_eq!(slot.color(), decision.color, "{pid}");
            assert_eq!(slot.valid_until(), decision.valid_until, "{pid}");
            assert_eq!(slot.next_color(), decision.next_color, "{pid}");
            // A kept decision says when it was made; the rest must match.
            let without_instant = |mut decision: Value| {
                decision.as_object_mut().unwrap().remove("evaluated_at");
                decision
            };
            let kept = explanation.map(|explanation| without_instant(explanation.served()));
            let expected = (decision.color != ymt_core::Color::Green)
                .then(|| without_instant(serde_json::to_value(&decision).unwrap()));
            assert_eq!(kept, expected, "{pid}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designation_decides_everyone_it_reaches_as_a_full_evaluation_would() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            // Green before, one stay in the window.
            check_in("c1", "pone", "v-mall", -120, Some(-60)),
            // Two stays: the one that ended last counts.
            check_in("c2", "ptwo", "v-mall", -500, Some(-400)),
            check_in("c3", "ptwo", "v-mall", -100, Some(-90)),
            // No departure recorded: the default stay.
            check_in("c4", "pdefault", "v-mall", -200, None),
            // Another venue: not reached.
            check_in("c5", "pelsewhere", "v-gym", -120, Some(-60)),
            // A stay that will be retracted.
            check_in("c6", "pretracted", "v-mall", -300, Some(-250)),
            // Already red with timed transitions ahead.
            check_in("c7", "pred", "v-mall", -300, Some(-200)),
            // Already yellow (antigen positive).
            check_in("c8", "pyellow", "v-mall", -300, Some(-200)),
        ],
    )
    .await;
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/events:batch",
            json!({"events": [
                {"id": "r6", "subject": {"pid": "pretracted"}, "region": COMMUNITY_A,
                 "kind": "retraction", "data": {"target": "c6", "reason": "scanned by mistake"}},
                {"id": "cc7", "subject": {"pid": "pred"}, "region": NANSHAN,
                 "kind": "contact_designation",
                 "data": {"contact": "close", "designated_at": at(-30), "last_exposure_at": at(-200),
                          "reason": "traced by the CDC"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post(
            &world.lab,
            "/v1/events",
            json!({"id": "lab-1:A8", "subject": {"pid": "pyellow"}, "region": NANSHAN,
                   "kind": "test_result",
                   "data": {"test": "antigen", "result": "positive", "sampled_at": at(-20),
                            "reported_at": at(-10), "lab": "lab-1"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let everyone = [
        "pone",
        "ptwo",
        "pdefault",
        "pelsewhere",
        "pretracted",
        "pred",
        "pyellow",
    ];
    assert_eq!(node.color(&world.authority, "pred").await, "red");
    assert_eq!(node.color(&world.authority, "pyellow").await, "yellow");
    // A snapshot from before the designation: a restart must apply it again.
    node.state.write_snapshot().await.unwrap();

    let evaluations = || {
        node.state
            .metrics
            .evaluations
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let evaluations_before = evaluations();
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-mall", json!({"venues": ["v-mall"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The retracted stay has left the index: five persons are reached.
    assert_eq!(body["persons_reached"], 5, "{body}");
    // None of them was re-read: three were settled green, and the kept
    // decisions of the red and the yellow one were composed with the
    // exposure (checked against full evaluations below).
    assert_eq!(evaluations(), evaluations_before);
    for (pid, color) in [
        ("pone", "yellow"),
        ("ptwo", "yellow"),
        ("pdefault", "yellow"),
        ("pelsewhere", "green"),
        ("pretracted", "green"),
        ("pred", "red"),
        ("pyellow", "yellow"),
    ] {
        assert_eq!(node.color(&world.authority, pid).await, color, "{pid}");
    }
    check_projection_matches_full_evaluation(&node, &everyone).await;
    let (_, status) = node.get(&world.authority, "/v1/persons/pone/status").await;
    assert!(reasons(&status).contains(&"CN-HIGH-RISK-01".to_string()));
    assert!(status.to_string().contains("ra-mall"), "{status}");

    // The person sees who designated the area, and why.
    let (status, timeline) = node
        .get(&world.authority, "/v1/persons/ptwo/timeline")
        .await;
    assert_eq!(status, 200, "{timeline}");
    let area = &timeline["risk_areas"][0];
    assert_eq!(area["id"], "ra-mall", "{timeline}");
    assert_eq!(area["designated_by"], "ha-nanshan");
    assert_eq!(area["reason"], "cluster");
    assert_eq!(area["exposure"]["from"], at(-100));
    assert_eq!(area["exposure"]["until"], at(-90));

    // After a restart from the earlier snapshot, the designation is joined
    // again and every status is the same.
    let dir = node.close().await;
    let node = node_in(dir, |config| {
        config.pseudonym_secret_hex = Some("11".repeat(32));
    })
    .await;
    assert_eq!(node.state.risk_areas.read().len(), 1);
    check_projection_matches_full_evaluation(&node, &everyone).await;
    assert_eq!(
        node.state
            .projection
            .get(&PersonId::parse("pone").unwrap())
            .unwrap()
            .0
            .color(),
        ymt_core::Color::Yellow
    );

    // A snapshot taken with the designation in force already reflects it:
    // a restart from it evaluates nobody again.
    node.state.write_snapshot().await.unwrap();
    let dir = node.close().await;
    let node = node_in(dir, |_| {}).await;
    assert_eq!(
        node.state
            .metrics
            .evaluations
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    check_projection_matches_full_evaluation(&node, &everyone).await;

    // The way out: a week after the stays, the scheduler's pass leaves every
    // status equal to a full evaluation again, and the exposed are green.
    for days in [6, 7, 8] {
        node.clock.set(t0().plus_secs(days * 86_400));
        let state = node.state.clone();
        tokio::task::spawn_blocking(move || state.apply_due_transitions().unwrap())
            .await
            .unwrap();
        check_projection_matches_full_evaluation(&node, &everyone).await;
    }
    assert_eq!(node.color(&world.authority, "pone").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_thresholds_come_from_the_rules_governing_the_case() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    // Nanshan traces less widely than the nation: longer overlaps needed.
    let (status, body) = node
        .post(
            &world.national,
            "/v1/profiles",
            json!({
                "kind": "parameter-profile",
                "id": "profile-nanshan",
                "region": NANSHAN,
                "ruleSet": "cn-national",
                "version": "1.0.0",
                "validFrom": "2022-06-28T00:00:00Z",
                "parameters": {
                    "tracingCompanionMinOverlapMinutes": 60,
                    "tracingCloseContactIndoorMinOverlapMinutes": 90,
                },
                "reason": "regional choice within national bounds",
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pcase", "v-park", -360, Some(-300)),
            // 60 min indoors: a close contact nationally, a companion here.
            check_in("c3", "pindoor", "v-mall", -150, Some(-90)),
            // 30 min outdoors: a companion nationally, nothing here.
            check_in("c4", "poutdoor", "v-park", -330, Some(-240)),
        ],
    )
    .await;
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, indoor) = node
        .get(&world.authority, "/v1/persons/pindoor/status")
        .await;
    assert_eq!(indoor["color"], "yellow", "{indoor}");
    assert!(
        reasons(&indoor).contains(&"CN-COMPANION-01".to_string()),
        "{indoor}"
    );
    assert_eq!(node.color(&world.authority, "poutdoor").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_holds_a_rules_change_that_would_change_many_colors() {
    let node = node(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    // Two close contacts designated 6 days ago: red nationally (7 days),
    // yellow under a 5-day profile.
    let designated = |id: &str, pid: &str| {
        json!({"id": id, "subject": {"pid": pid}, "region": NANSHAN, "kind": "contact_designation",
               "data": {"contact": "close", "designated_at": at(-6 * 1440), "last_exposure_at": at(-7 * 1440),
                        "reason": "traced by the CDC"}})
    };
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/events:batch",
            json!({"events": [designated("d1", "p1"), designated("d2", "p2")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-nanshan",
        "region": NANSHAN,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "the 20 measures",
    });
    let (status, body) = node.post(&world.authority, "/v1/profiles", profile).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(
        body["pending"]["impact"]["transitions"]["red->yellow"], 2,
        "{body}"
    );
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    // The proposer's region authority cannot approve; a national admin can.
    let (status, _) = node
        .post(
            &world.authority,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = node
        .post(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    assert_eq!(node.color(&world.authority, "p2").await, "yellow");
    let (_, audit) = node.get(&world.national, "/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|record| record["action"].as_str())
        .collect();
    assert!(actions.contains(&"pending.propose"), "{actions:?}");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_that_would_designate_more_than_the_breaker_allows_waits_for_approval() {
    let node = node(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pclose", "v-mall", -150, Some(-90)),
            check_in("c3", "pclose2", "v-mall", -140, Some(-80)),
            check_in("c4", "pcase2", "v-gym", -180, Some(-60)),
            check_in("c5", "pother", "v-gym", -150, Some(-90)),
            check_in("c6", "pother2", "v-gym", -140, Some(-80)),
        ],
    )
    .await;
    // The lab's result is stored and the case is red at once; the two
    // designations wait.
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "green");
    let (status, listed) = node
        .get(&world.national, "/v1/pending?status=pending")
        .await;
    assert_eq!(status, 200);
    let pending = listed["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pending| pending["id"] == "tracing.lab-1:S1")
        .expect("the tracing is held")
        .clone();
    assert_eq!(
        pending["impact"]["transitions"]["green->red"], 2,
        "{pending}"
    );
    assert_eq!(pending["proposer"], "auto-trace");

    // On approval the contacts are designated.
    let (status, body) = node
        .post(
            &world.national,
            "/v1/pending/tracing.lab-1:S1:approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"]["events_stored"], 2, "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    assert_eq!(node.color(&world.authority, "pclose2").await, "red");

    // A positive retracted while its tracing waits is not traced on approval.
    let (status, body) = node
        .post(
            &world.lab,
            "/v1/events",
            positive("lab-1:S2", "pcase2", -60),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R2", "subject": {"pid": "pcase2"}, "region": NANSHAN, "kind": "retraction",
                   "data": {"target": "lab-1:S2", "reason": "sample mix-up"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post(
            &world.national,
            "/v1/pending/tracing.lab-1:S2:approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(node.color(&world.authority, "pother").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_check_in_is_not_traced_before_or_after_a_restart() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pmistaken", "v-mall", -150, Some(-90)),
            check_in("c3", "pcase2", "v-gym", -180, Some(-60)),
            check_in("c4", "pmistaken2", "v-gym", -150, Some(-90)),
        ],
    )
    .await;
    for (id, pid, target) in [("r2", "pmistaken", "c2"), ("r4", "pmistaken2", "c4")] {
        let (status, body) = node
            .post(
                &world.authority,
                "/v1/events",
                json!({"id": id, "subject": {"pid": pid}, "region": COMMUNITY_A, "kind": "retraction",
                       "data": {"target": target, "reason": "scanned at the wrong venue"}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken").await, "green");

    // The index rebuilt on start leaves the retracted stay out too (the
    // principals and their keys are stored, so they still work).
    let dir = node.close().await;
    let node = node_in(dir, |_| {}).await;
    let (status, body) = node
        .post(
            &world.lab,
            "/v1/events",
            positive("lab-1:S3", "pcase2", -60),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase2").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken2").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_positive_whose_tracing_was_cut_short_is_traced() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pclose", "v-mall", -150, Some(-90)),
        ],
    )
    .await;
    // As if the node had crashed after storing the positive and before
    // tracing it: the result is stored, its tracing never ran.
    let state = node.state.clone();
    tokio::task::spawn_blocking(move || {
        let record: ymt_node::state::EventRecord = serde_json::from_value(json!({
            "region": NANSHAN,
            "event": {"id": "lab-1:S1", "person": "pcase", "recorded_at": at(0), "author": "lab-1",
                      "kind": "test_result",
                      "data": {"test": "pcr", "result": "positive", "sampled_at": at(-60),
                               "reported_at": at(0), "lab": "lab-1"}},
        }))
        .unwrap();
        state.import_records(&[record], "test").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "green");
    // The lab never saw an answer and retries: a duplicate, now traced.
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "duplicate", "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    // A further retry changes nothing.
    let (status, _) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200);
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_retraction_withdraws_its_check_in_from_the_index() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    let record =
        |value: Value| -> ymt_node::state::EventRecord { serde_json::from_value(value).unwrap() };
    let check_in_record = |id: &str, pid: &str, enter: i64, leave: i64| {
        record(json!({
            "region": COMMUNITY_A,
            "event": {"id": id, "person": pid, "recorded_at": at(-30), "author": "import",
                      "kind": "check_in",
                      "data": {"venue": "v-mall", "entered_at": at(enter), "left_at": at(leave)}},
        }))
    };
    // The retraction comes first in the file, before its check-in.
    let records = vec![
        record(json!({
            "region": COMMUNITY_A,
            "event": {"id": "r2", "person": "pmistaken", "recorded_at": at(-20), "author": "import",
                      "kind": "retraction",
                      "data": {"target": "c2", "reason": "scanned at the wrong venue"}},
        })),
        check_in_record("c1", "pcase", -180, -60),
        check_in_record("c2", "pmistaken", -150, -90),
    ];
    let state = node.state.clone();
    tokio::task::spawn_blocking(move || state.import_records(&records, "test").unwrap())
        .await
        .unwrap();
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken").await, "green");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_confirms_an_automatic_designation_and_the_person_sees_it() {
    let node = node(|_| {}).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pclose", "v-mall", -150, Some(-90)),
        ],
    )
    .await;
    let (status, body) = node
        .post(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, timeline) = node
        .get(&world.authority, "/v1/persons/pclose/timeline")
        .await;
    let designation = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["event"]["kind"] == "contact_designation")
        .expect("a designation")["event"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/designations/{designation}:confirm");
    // Another region's authority may not; a lab may not.
    let (status, _) = node
        .post(&world.other_authority, &path, json!({"note": "x"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = node.post(&world.lab, &path, json!({})).await;
    assert_eq!(status, 403);
    // Only automatic designations, and only once.
    let (status, _) = node
        .post(&world.authority, "/v1/designations/c2:confirm", json!({}))
        .await;
    assert_eq!(status, 422);
    let (status, body) = node
        .post(
            &world.authority,
            &path,
            json!({"note": "the venue's records agree"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = node.post(&world.authority, &path, json!({})).await;
    assert_eq!(status, 409);
    // The color is unchanged; the person sees who confirmed it and why.
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    let (_, timeline) = node
        .get(&world.authority, "/v1/persons/pclose/timeline")
        .await;
    let confirmation = &timeline["confirmations"][0];
    assert_eq!(confirmation["designation"], designation.as_str());
    assert_eq!(confirmation["confirmed_by"], "ha-nanshan");
    assert_eq!(confirmation["note"], "the venue's records agree");
    drop(node.close().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_change_too_large_to_preview_waits_for_approval() {
    let node = node(|config| config.impact_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "p1", "v-mall", -120, Some(-60)),
            check_in("c2", "p2", "v-mall", -120, Some(-60)),
        ],
    )
    .await;
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-nanshan",
        "region": NANSHAN,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "the 20 measures",
    });
    let (status, body) = node.post(&world.authority, "/v1/profiles", profile).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["pending"]["held_because"][0]
            .as_str()
            .unwrap()
            .contains("impact preview not computed"),
        "{body}"
    );
    assert!(node.state.rules.read().profiles.is_empty());
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, body) = node
        .post(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.state.rules.read().profiles.len(), 1);
    drop(node.close().await);
}
