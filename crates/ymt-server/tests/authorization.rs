//! The authorization matrix: every endpoint × every role, inside and outside
//! the jurisdiction where it applies, plus no key and a bad key. No refused
//! write stores anything, and every refusal is audited as `denied`.

mod support;

use serde_json::{Value, json};
use support::{T0_UNIX_SECS, TestNode, check, event_of_kind};
use ymt_core::identity::resident_id_check_char;
use ymt_server::auth::Role;
use ymt_server::state::{META_PERSONS, META_PRINCIPALS, META_PROFILES, META_RULE_SETS};
use ymt_store::{AuditFilter, AuditOutcome};

/// The callers of the matrix: each role inside 440305 (national roles for
/// the whole country), the regional roles in 110105, no key and a bad key.
const CALLERS: [(&str, Option<(Role, &str)>); 12] = [
    ("lab", Some((Role::Lab, "440305"))),
    ("venue", Some((Role::Venue, "440305"))),
    ("verifier", Some((Role::VerifierDevice, "440305"))),
    ("authority", Some((Role::HealthAuthority, "440305"))),
    ("admin", Some((Role::NationalAdmin, "nation"))),
    ("auditor", Some((Role::Auditor, "nation"))),
    ("lab-out", Some((Role::Lab, "110105"))),
    ("venue-out", Some((Role::Venue, "110105"))),
    ("verifier-out", Some((Role::VerifierDevice, "110105"))),
    ("authority-out", Some((Role::HealthAuthority, "110105"))),
    ("no-key", None),
    ("bad-key", None),
];

/// One row: a request and the status each caller gets, in `CALLERS` order.
struct Row {
    label: &'static str,
    request: fn(usize) -> (&'static str, String, Option<Value>),
    expect: [u16; 12],
}

const PROFILE_REGION: &str = "440305";

fn profile(region: &str) -> Value {
    json!({
        "kind": "parameter-profile",
        "id": format!("profile-{region}"),
        "region": region,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "regional choice within national bounds",
    })
}

/// A valid resident ID number, different for every `n`.
fn resident_id(n: usize) -> String {
    let first: String = format!("11010519491231{:03}", n % 1000);
    let digits: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", resident_id_check_char(&digits) as char)
}

fn event_row(kind: &'static str) -> fn(usize) -> (&'static str, String, Option<Value>) {
    match kind {
        "test_result" => |n| {
            let event = event_of_kind(
                "test_result",
                &format!("e-{n}"),
                "p-seed",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        "check_in" => |n| {
            let event = event_of_kind(
                "check_in",
                &format!("e-{n}"),
                "p-seed",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        "contact_designation" => |n| {
            let event = event_of_kind(
                "contact_designation",
                &format!("e-{n}"),
                "p-designated",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        _ => |n| {
            let event = event_of_kind(
                "test_result",
                &format!("e-{n}"),
                "p-seed",
                "440305",
                T0_UNIX_SECS,
            );
            (
                "POST",
                "/v1/events:batch".into(),
                Some(json!({ "events": [event] })),
            )
        },
    }
}

fn rows() -> Vec<Row> {
    const OPEN: [u16; 12] = [200; 12];
    const READ: [u16; 12] = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401];
    vec![
        Row {
            label: "GET /healthz",
            request: |_| ("GET", "/healthz".into(), None),
            expect: OPEN,
        },
        Row {
            label: "GET /readyz",
            request: |_| ("GET", "/readyz".into(), None),
            expect: OPEN,
        },
        Row {
            label: "GET /metrics",
            request: |_| ("GET", "/metrics".into(), None),
            expect: OPEN,
        },
        Row {
            label: "GET /openapi.json",
            request: |_| ("GET", "/openapi.json".into(), None),
            expect: OPEN,
        },
        Row {
            label: "POST /v1/events test_result",
            request: event_row("test_result"),
            expect: [200, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/events check_in",
            request: event_row("check_in"),
            expect: [403, 200, 200, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/events contact_designation",
            request: event_row("contact_designation"),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/events:batch test_result",
            request: event_row("batch"),
            expect: [200, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/persons",
            request: |n| {
                let body = json!({"id_type": "resident_id", "id_number": resident_id(n), "display_name": "张三", "region": "440305"});
                ("POST", "/v1/persons".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/persons:resolve",
            request: |n| {
                let body = json!({"id_type": "resident_id", "id_number": resident_id(n)});
                ("POST", "/v1/persons:resolve".into(), Some(body))
            },
            expect: [200, 403, 403, 200, 200, 403, 200, 403, 403, 200, 401, 401],
        },
        Row {
            label: "GET /v1/persons/{pid}/status",
            request: |_| ("GET", "/v1/persons/p-seed/status".into(), None),
            expect: [403, 200, 200, 200, 200, 403, 403, 200, 200, 200, 401, 401],
        },
        Row {
            label: "GET /v1/persons/{pid}/timeline",
            request: |_| ("GET", "/v1/persons/p-seed/timeline".into(), None),
            // A health authority elsewhere is told the person is unknown.
            expect: [403, 403, 403, 200, 200, 200, 403, 403, 403, 404, 401, 401],
        },
        Row {
            label: "POST /v1/verify/id-card",
            request: |n| {
                let body = json!({"id_type": "resident_id", "id_number": resident_id(n)});
                ("POST", "/v1/verify/id-card".into(), Some(body))
            },
            expect: [403, 403, 200, 403, 403, 403, 403, 403, 200, 403, 401, 401],
        },
        Row {
            label: "GET /v1/rule-sets",
            request: |_| ("GET", "/v1/rule-sets".into(), None),
            expect: READ,
        },
        Row {
            label: "GET /v1/rule-sets/{version}",
            request: |_| ("GET", "/v1/rule-sets/current".into(), None),
            expect: READ,
        },
        Row {
            label: "GET /v1/rule-sets:diff",
            request: |_| {
                (
                    "GET",
                    "/v1/rule-sets:diff?from=CURRENT&to=CURRENT".into(),
                    None,
                )
            },
            expect: READ,
        },
        Row {
            label: "POST /v1/rule-sets:preview",
            request: |_| {
                let body = profile(PROFILE_REGION);
                ("POST", "/v1/rule-sets:preview".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 200, 401, 401],
        },
        Row {
            label: "POST /v1/rule-sets",
            // A profile is not a rule set: the administrator passes the
            // authorization and is refused for content, so nothing changes.
            request: |_| {
                let body = profile(PROFILE_REGION);
                ("POST", "/v1/rule-sets".into(), Some(body))
            },
            expect: [403, 403, 403, 403, 422, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/profiles",
            request: |_| {
                let body = profile(PROFILE_REGION);
                ("POST", "/v1/profiles".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "GET /v1/audit",
            request: |_| ("GET", "/v1/audit?limit=10".into(), None),
            expect: [403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 401, 401],
        },
        Row {
            label: "POST /v1/admin/principals",
            request: |n| {
                let body = json!({"id": format!("created-{n}"), "role": "lab", "jurisdiction": "440305", "display_name": "a lab"});
                ("POST", "/v1/admin/principals".into(), Some(body))
            },
            expect: [403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 401, 401],
        },
    ]
}

/// What the node has stored: events and every kind of metadata.
fn fingerprint(node: &TestNode) -> Vec<usize> {
    let store = &node.state.store;
    let mut counts = vec![store.last_seq() as usize];
    for namespace in [META_PERSONS, META_PRINCIPALS, META_PROFILES, META_RULE_SETS] {
        counts.push(store.meta_list(namespace).expect("meta reads").len());
    }
    counts
}

fn denied_count(node: &TestNode, principal: &str) -> usize {
    let filter = AuditFilter {
        principal: Some(principal.into()),
        outcome: Some(AuditOutcome::Denied),
        ..AuditFilter::default()
    };
    node.state
        .store
        .audit_list(&filter, 100_000)
        .expect("audit reads")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_role() {
    let node = TestNode::start().await;
    let mut keys: Vec<Option<String>> = Vec::new();
    for (id, role) in CALLERS {
        keys.push(match (id, role) {
            (_, Some((role, jurisdiction))) => Some(node.principal(id, role, jurisdiction)),
            ("bad-key", None) => Some("ymt_admin.00".into()),
            _ => None,
        });
    }
    let admin = keys[4].clone().expect("the admin key");
    let seed = event_of_kind("test_result", "seed", "p-seed", "440305", T0_UNIX_SECS);
    check(
        "seed event",
        &node.post("/v1/events", Some(&admin), &seed).await,
        200,
    );
    let current = node.get("/v1/rule-sets", Some(&admin)).await.json()["current"]
        .as_str()
        .expect("a current version")
        .to_owned();

    let mut n = 0;
    for row in rows() {
        for (index, (caller, _)) in CALLERS.iter().enumerate() {
            n += 1;
            let (method, path, body) = (row.request)(n);
            let path = path.replace("CURRENT", &current);
            let label = format!("{} as {caller}", row.label);
            let before = fingerprint(&node);
            let denied_before = denied_count(&node, caller);
            let body = body.map(|body| serde_json::to_vec(&body).expect("json"));
            let reply = node.send(method, &path, keys[index].as_deref(), body).await;
            let expect = row.expect[index];
            check(&label, &reply, expect);
            if expect >= 400 {
                assert_eq!(fingerprint(&node), before, "{label}: nothing stored");
            }
            // Every refusal of a known principal is evidence in the log, and
            // so is a read outside the jurisdiction (answered 404).
            if expect == 403 || expect == 404 {
                assert!(
                    denied_count(&node, caller) > denied_before,
                    "{label}: the refusal is audited as denied"
                );
            }
        }
    }

    // The audit log is readable through the API too, with the refusals.
    let auditor = keys[5].clone().expect("the auditor key");
    let reply = node
        .get("/v1/audit?principal=venue&limit=1000", Some(&auditor))
        .await;
    check("audit list", &reply, 200);
    let records = reply.json()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        records.iter().any(|record| record["outcome"] == "denied"),
        "the venue's refusals are listed: {records:?}"
    );
}

#[test]
fn the_matrix_covers_every_documented_operation() {
    let document: Value =
        serde_json::from_str(ymt_server::openapi::OPENAPI_JSON).expect("the OpenAPI document");
    let labels: Vec<&str> = rows().iter().map(|row| row.label).collect();
    let mut missing = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            let operation = format!("{} {path}", method.to_uppercase());
            let covered = labels
                .iter()
                .any(|label| *label == operation || label.starts_with(&format!("{operation} ")));
            if !covered {
                missing.push(operation);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a row in the matrix: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_retract_an_event_of_another_jurisdiction() {
    let node = TestNode::start().await;
    let shenzhen = node.principal("cdc-440305", Role::HealthAuthority, "440305");
    let beijing = node.principal("cdc-110105", Role::HealthAuthority, "110105");
    let designation = event_of_kind(
        "contact_designation",
        "cc-sz",
        "p-1",
        "440305",
        T0_UNIX_SECS,
    );
    check(
        "designation in 440305",
        &node.post("/v1/events", Some(&shenzhen), &designation).await,
        200,
    );
    let before = fingerprint(&node);
    let denied_before = denied_count(&node, "cdc-110105");
    // The retraction itself is filed in Beijing's own region, but the event
    // it would cancel is Shenzhen's.
    let retraction = json!({
        "id": "retract-cc-sz",
        "subject": {"pid": "p-1"},
        "region": "110105",
        "kind": "retraction",
        "data": {"target": "cc-sz", "reason": "not ours to cancel"},
    });
    let reply = node.post("/v1/events", Some(&beijing), &retraction).await;
    check("retraction across jurisdictions", &reply, 403);
    assert_eq!(fingerprint(&node), before, "nothing stored");
    assert!(denied_count(&node, "cdc-110105") > denied_before, "audited");
    let verifier = node.principal("verifier", Role::VerifierDevice, "440305");
    assert_eq!(node.color(&verifier, "p-1").await, "red", "still red");
}
