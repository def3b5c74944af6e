//! The world of the service tests: a node with two hospitals and two care
//! homes of 440305, each with its own staff principal, and helpers.

use serde_json::{Value, json};
use ymt_node::auth::Role;
use ymt_store::{AuditFilter, AuditOutcome};

use crate::support::{HOUR_SECS, TestNode, pcr_data, rfc3339_of_unix_secs};

pub const ONE_TIME_CODE: &str = "246810";
pub const REGION: &str = "440305";
pub const COMMUNITY: &str = "440305001001";
pub const HOSPITAL: &str = "hospital-1";
pub const OTHER_HOSPITAL: &str = "hospital-2";
pub const CARE_HOME: &str = "care-home-1";
pub const OTHER_CARE_HOME: &str = "care-home-2";

pub struct World {
    pub node: TestNode,
    pub admin: String,
    pub second_admin: String,
    pub authority: String,
    pub lab: String,
    pub hospital_staff: String,
    pub other_hospital_staff: String,
    pub care_staff: String,
    pub other_care_staff: String,
}

pub async fn world() -> World {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second_admin = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let lab = node.add_principal("lab-440305-01", Role::Lab, REGION);
    let hospital_staff = node.add_principal("hospital-1-door", Role::Venue, REGION);
    let other_hospital_staff = node.add_principal("hospital-2-door", Role::Venue, REGION);
    let care_staff = node.add_principal("care-home-1-door", Role::Venue, REGION);
    let other_care_staff = node.add_principal("care-home-2-door", Role::Venue, REGION);
    for (id, category, operator) in [
        (HOSPITAL, "hospital", "hospital-1-door"),
        (OTHER_HOSPITAL, "hospital", "hospital-2-door"),
        (CARE_HOME, "care_home", "care-home-1-door"),
        (OTHER_CARE_HOME, "care_home", "care-home-2-door"),
    ] {
        let venue = json!({"id": id, "name": format!("{id} 院"), "region": COMMUNITY,
                           "category": category, "indoor": true, "operators": [operator]});
        let (status, body) = node.post_as(&authority, "/v1/venues", venue).await;
        assert_eq!(status, 201, "{body}");
    }
    World {
        node,
        admin,
        second_admin,
        authority,
        lab,
        hospital_staff,
        other_hospital_staff,
        care_staff,
        other_care_staff,
    }
}

impl World {
    /// Registers a person by passport; their pid.
    pub async fn person(&self, passport: &str, guardian_of: &[&str]) -> String {
        let (status, body) = self
            .node
            .post_as(
                &self.authority,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": passport, "display_name": "王小明",
                       "region": REGION, "guardian_of": guardian_of}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["pid"].as_str().expect("a pid").to_owned()
    }

    pub async fn cookie(&self, passport: &str) -> String {
        self.node
            .sign_in_citizen("passport", passport, ONE_TIME_CODE)
            .await
            .session_cookie()
            .expect("signed in")
    }

    pub async fn test(
        &self,
        id: &str,
        pid: &str,
        test: &str,
        result: &str,
        sampled_unix_secs: i64,
    ) {
        let mut data = pcr_data(sampled_unix_secs, sampled_unix_secs + HOUR_SECS / 2, result);
        data["test"] = json!(test);
        data["reported_at"] = json!(rfc3339_of_unix_secs(
            sampled_unix_secs.max(self.node.now().unix_secs() - 1)
        ));
        let submission = json!({"id": id, "subject": {"pid": pid}, "region": REGION,
                                "kind": "test_result", "data": data});
        let (status, body) = self.node.post_as(&self.lab, "/v1/events", submission).await;
        assert!(status == 200 || status == 201, "{body}");
    }

    pub async fn entrance(&self, key: &str, venue: &str, body: Value) -> (u16, Value) {
        self.node
            .post_as(key, &format!("/v1/hospitals/{venue}/entrance"), body)
            .await
    }

    pub async fn lane(&self, passport: &str) -> (String, Vec<String>) {
        let (status, body) = self
            .entrance(
                &self.hospital_staff,
                HOSPITAL,
                json!({"id_type": "passport", "id_number": passport}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["outcome"].as_str().unwrap().to_owned(),
            rules_of(&body),
        )
    }

    pub async fn visit(
        &self,
        key: &str,
        venue: &str,
        visitor_passport: &str,
        resident: &str,
    ) -> (u16, Value) {
        self.node
            .post_as(
                key,
                &format!("/v1/care-homes/{venue}/visits"),
                json!({"visitor": {"id_type": "passport", "id_number": visitor_passport},
                       "resident": resident}),
            )
            .await
    }

    pub async fn profile(&self, key: &str, venue: &str, version: &str, hours: i64) -> (u16, Value) {
        let profile = json!({
            "kind": "parameter-profile", "id": format!("{venue}-policy"), "region": COMMUNITY,
            "ruleSet": "care-visit", "version": version, "validFrom": "2022-06-28T00:00:00Z",
            "parameters": {"visitorPcrValidHours": hours}, "reason": "visitor policy",
        });
        self.node
            .post_as(
                key,
                &format!("/v1/services/care-visit/venues/{venue}/profile"),
                profile,
            )
            .await
    }
}

/// Audit records of one action and outcome (reads are audited in batches:
/// written by the time the node has restarted).
pub fn audited(node: &TestNode, action: &str, outcome: AuditOutcome) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        outcome: Some(outcome),
        ..AuditFilter::default()
    };
    node.state
        .store
        .audit_list(&filter, 1_000)
        .expect("the audit log reads")
        .len()
}

pub fn rules_of(body: &Value) -> Vec<String> {
    body["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|reason| reason["rule"].as_str().unwrap().to_owned())
        .collect()
}
