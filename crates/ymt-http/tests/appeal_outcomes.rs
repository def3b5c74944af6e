//! An appeal's resolution has an outcome: upheld, or overturned by the
//! override or retraction it caused, which must be a correction in the
//! person's own timeline; the queue lists each person's masked name and
//! current color.

mod support;

use serde_json::{Value, json};
use support::{T0_UNIX_SECS, TestNode, pcr_data, submission};
use ymt_node::auth::Role;

struct World {
    node: TestNode,
    authority: String,
    pid: String,
    other_pid: String,
}

async fn world() -> World {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let authority = node.add_principal("ha-nanshan", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
    let mut pids = Vec::new();
    for (n, name) in ["张三", "李四"].iter().enumerate() {
        let body = json!({"id_type": "passport", "id_number": format!("E8000000{n}"),
                          "display_name": name, "region": "440305"});
        let (status, reply) = node.post_as(&admin, "/v1/persons", body).await;
        assert_eq!(status, 200, "{reply}");
        pids.push(reply["pid"].as_str().unwrap().to_owned());
        let positive = submission(
            &format!("t-{n}"),
            &pids[n],
            "440305",
            "test_result",
            pcr_data(T0_UNIX_SECS - 7200, T0_UNIX_SECS - 60, "positive"),
        );
        let (status, reply) = node.post_as(&lab, "/v1/events", positive).await;
        assert_eq!(status, 200, "{reply}");
    }
    World {
        node,
        authority,
        pid: pids[0].clone(),
        other_pid: pids[1].clone(),
    }
}

impl World {
    async fn appeal(&self, pid: &str, text: &str) -> String {
        let (status, reply) = self
            .node
            .post_as(
                &self.authority,
                "/v1/appeals",
                json!({"pid": pid, "text": text}),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        reply["id"].as_str().unwrap().to_owned()
    }

    async fn retract(&self, id: &str, pid: &str, target: &str) {
        let retraction = submission(
            id,
            pid,
            "440305",
            "retraction",
            json!({"target": target, "reason": "sample mixed up at the lab"}),
        );
        let (status, reply) = self
            .node
            .post_as(&self.authority, "/v1/events", retraction)
            .await;
        assert_eq!(status, 200, "{reply}");
    }

    async fn resolve(&self, appeal: &str, body: Value) -> (u16, Value) {
        self.node
            .post_as(
                &self.authority,
                &format!("/v1/appeals/{appeal}/resolve"),
                body,
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overturned_appeal_names_the_correction_it_caused() {
    let world = world().await;
    let appeal = world.appeal(&world.pid, "the positive was not mine").await;
    let (_, listed) = world.node.get_as(&world.authority, "/v1/appeals").await;
    let entry = &listed["appeals"][0];
    assert_eq!(entry["masked_name"], "张*", "{listed}");
    assert_eq!(entry["current_color"], "red", "{listed}");
    world.retract("r-0", &world.pid, "lab-440305-01:t-0").await;
    let (status, resolved) = world
        .resolve(
            &appeal,
            json!({"note": "lab mix-up", "outcome": "overturned", "caused": "r-0"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["resolved"]["outcome"], "overturned");
    assert_eq!(resolved["resolved"]["caused"], "ha-nanshan:r-0");
    let (_, listed) = world.node.get_as(&world.authority, "/v1/appeals").await;
    assert_eq!(listed["appeals"][0]["current_color"], "green", "{listed}");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appeal_cannot_be_overturned_by_an_event_that_corrects_nothing_of_the_person() {
    let world = world().await;
    let appeal = world.appeal(&world.pid, "the positive was not mine").await;
    world
        .retract("r-1", &world.other_pid, "lab-440305-01:t-1")
        .await;
    for body in [
        // Another person's correction.
        json!({"note": "n", "outcome": "overturned", "caused": "r-1"}),
        // A test result is no correction.
        json!({"note": "n", "outcome": "overturned", "caused": "t-0"}),
        // Overturned without naming what corrected it.
        json!({"note": "n", "outcome": "overturned"}),
        // Upheld changes nothing, so it names nothing.
        json!({"note": "n", "outcome": "upheld", "caused": "r-1"}),
    ] {
        let (status, reply) = world.resolve(&appeal, body.clone()).await;
        assert_eq!(status, 422, "{body} → {reply}");
    }
    let (status, resolved) = world
        .resolve(
            &appeal,
            json!({"note": "the result stands", "outcome": "upheld"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["resolved"]["outcome"], "upheld");
    world.node.close().await;
}
