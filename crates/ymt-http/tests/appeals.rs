//! Appeals under a flood: one person's open appeals are capped, duplicates
//! are grouped into one, the authority's list is paged so no appeal is
//! hidden behind another person's flood, and citizens see the status and
//! outcome of their own appeals.

mod support;

use serde_json::{Value, json};
use support::TestNode;
use ymt_node::auth::Role;

const ONE_TIME_CODE: &str = "246810";

struct World {
    node: TestNode,
    authority: String,
}

async fn start(edit: impl FnOnce(&mut ymt_node::ServerConfig)) -> World {
    let node = TestNode::start_with_config(edit).await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    World { node, authority }
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

    async fn appeal(&self, cookie: &str, pid: &str, text: &str) -> (u16, Value) {
        self.node
            .send_with_cookie(
                "POST",
                "/v1/appeals",
                cookie,
                Some(&json!({"pid": pid, "text": text})),
            )
            .await
            .status_and_json()
    }

    /// Every appeal the authority sees, following the cursor.
    async fn all_listed(&self, limit: usize) -> Vec<Value> {
        let mut listed = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let path = match &cursor {
                Some(cursor) => format!("/v1/appeals?limit={limit}&cursor={cursor}"),
                None => format!("/v1/appeals?limit={limit}"),
            };
            let (status, body) = self.node.get_as(&self.authority, &path).await;
            assert_eq!(status, 200, "{body}");
            let page = body["appeals"].as_array().expect("a list").clone();
            assert!(page.len() <= limit, "a page holds at most {limit}");
            listed.extend(page);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return listed,
            }
        }
        panic!("the cursor never ended");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_cannot_flood_appeals_past_the_open_limit() {
    let world = start(|config| config.open_appeals_per_person_max = 3).await;
    let (pid, cookie) = world.citizen("E40000001").await;
    for n in 0..3 {
        let (status, body) = world.appeal(&cookie, &pid, &format!("ground {n}")).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = world.appeal(&cookie, &pid, "ground 3").await;
    assert_eq!(status, 429, "{body}");
    // Once one is resolved, another may be filed.
    let first = world.all_listed(10).await[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (status, _) = world
        .node
        .post_as(
            &world.authority,
            &format!("/v1/appeals/{first}/resolve"),
            json!({"note": "checked"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = world.appeal(&cookie, &pid, "ground 3").await;
    assert_eq!(status, 201, "{body}");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_appeal_filed_twice_is_grouped_into_one() {
    let world = start(|_| {}).await;
    let (pid, cookie) = world.citizen("E40000002").await;
    let (status, first) = world.appeal(&cookie, &pid, "I was not there").await;
    assert_eq!(status, 201, "{first}");
    for text in ["I was not there", "  I was   not there "] {
        let (status, again) = world.appeal(&cookie, &pid, text).await;
        assert_eq!(
            status, 200,
            "a duplicate is answered with the open appeal: {again}"
        );
        assert_eq!(again["id"], first["id"]);
    }
    assert_eq!(world.all_listed(10).await.len(), 1, "one appeal is listed");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_appeal_is_not_hidden_behind_a_flood() {
    let world = start(|config| config.open_appeals_per_person_max = 1_000).await;
    let (flooder, flooder_cookie) = world.citizen("E40000003").await;
    let (quiet, quiet_cookie) = world.citizen("E40000004").await;
    let (status, quiet_appeal) = world.appeal(&quiet_cookie, &quiet, "please look").await;
    assert_eq!(status, 201);
    for n in 0..30 {
        let (status, body) = world
            .appeal(&flooder_cookie, &flooder, &format!("flood {n}"))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let listed = world.all_listed(7).await;
    assert_eq!(
        listed.len(),
        31,
        "every appeal is reachable through the pages"
    );
    let ids: std::collections::HashSet<_> =
        listed.iter().map(|appeal| appeal["id"].clone()).collect();
    assert_eq!(ids.len(), 31, "no appeal is listed twice");
    assert!(ids.contains(&quiet_appeal["id"]));
    // A page larger than the maximum is refused, as documented.
    let (status, _) = world
        .node
        .get_as(&world.authority, "/v1/appeals?limit=501")
        .await;
    assert_eq!(status, 400);
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_sees_the_status_and_outcome_of_their_own_appeals_only() {
    let world = start(|_| {}).await;
    let (pid, cookie) = world.citizen("E40000005").await;
    let (other, other_cookie) = world.citizen("E40000006").await;
    let (_, appeal) = world.appeal(&cookie, &pid, "please check").await;
    world.appeal(&other_cookie, &other, "mine too").await;
    let id = appeal["id"].as_str().expect("an id").to_owned();
    let (status, _) = world
        .node
        .post_as(
            &world.authority,
            &format!("/v1/appeals/{id}/resolve"),
            json!({"note": "the test was another person's; corrected"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = world
        .node
        .send_with_cookie("GET", "/v1/appeals", &cookie, None)
        .await
        .status_and_json();
    assert_eq!(status, 200, "{body}");
    let appeals = body["appeals"].as_array().expect("a list");
    assert_eq!(appeals.len(), 1, "only their own: {body}");
    assert_eq!(appeals[0]["id"], id.as_str());
    assert_eq!(
        appeals[0]["resolved"]["note"],
        "the test was another person's; corrected"
    );
    world.node.close().await;
}
