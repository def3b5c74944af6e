//! The authorization matrix: every endpoint × every role, inside and outside
//! the jurisdiction where it applies, plus no key and a bad key. No refused
//! write stores anything, and every refusal is audited as `denied`.

mod support;

use serde_json::{Value, json};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use support::{T0_UNIX_SECS, TestNode, check, event_of_kind};
use ymt_core::identity::resident_id_check_char;

use ymt_node::auth::Role;
use ymt_node::breaker::META_PENDING;
use ymt_node::codes::META_APPEALS;
use ymt_node::confirmations::META_CONFIRMATIONS;
use ymt_node::risk::META_RISK_AREAS;
use ymt_node::state::{META_PERSONS, META_PRINCIPALS, META_PROFILES, META_RULE_SETS};
use ymt_node::venues::META_VENUES;
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

/// What the node holds before the matrix runs, for rows that act on it.
struct Seeds {
    /// A signed code of `p-seed`, for token verification.
    token: String,
    /// The registered citizen of 440305, whom the appeals are about.
    citizen_pid: String,
    /// One open appeal about the citizen per caller, in `CALLERS` order, so
    /// every caller that may resolve one finds it still open.
    appeals: Vec<String>,
    /// One unconfirmed automatic designation in 440305 per caller, likewise.
    designations: Vec<String>,
    /// A person registered in 440305 by another authority, declared the
    /// guardian of the citizen (a guardianship to confirm).
    guardian_pid: String,
}

/// One call of a row: a unique number, the caller's index and the seeds.
struct Call<'a> {
    n: usize,
    caller: usize,
    seeds: &'a Seeds,
}

type Request = (&'static str, String, Option<Value>);

/// A further check of a successful reply's JSON body, given the caller.
type BodyCheck = fn(&str, &Value) -> Result<(), String>;

/// One row: a request and the status each caller gets, in `CALLERS` order.
struct Row {
    label: &'static str,
    request: fn(&Call) -> Request,
    expect: [u16; 12],
    body: Option<BodyCheck>,
}

const PROFILE_REGION: &str = "440305";
/// A community of 440305, where the seeded venue lies.
const COMMUNITY: &str = "440305001001";
/// The venue of the sample check-ins, registered before the matrix runs.
const SEED_VENUE: &str = "venue-1";
/// A designation of the seeded venue in force before the matrix runs, for
/// the lift row.
const LIFT_AREA: &str = "ra-lift";
/// A venue of 110105, where no 440305 principal may check anyone in.
const OUT_VENUE: &str = "venue-110105";
/// A person only an authority of 440305 wrote about (no registration, no
/// lab result, no check-in): present in no region.
const WRITTEN_PID: &str = "p-written";
/// A national administrator outside the matrix who proposes the pending
/// actions the matrix decides.
const SECOND_ADMIN: &str = "admin-2";
/// The registered citizen of the sign-in rows and the demo one-time code.
const CITIZEN_PASSPORT: &str = "E90000001";
const CITIZEN_CODE: &str = "246810";
/// A hospital and a care home of 440305 whose staff is `venue`.
const HOSPITAL: &str = "hospital-440305";
const CARE_HOME: &str = "care-home-440305";

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

fn event_row(kind: &'static str) -> fn(&Call) -> Request {
    match kind {
        "test_result" => |call| {
            let event = event_of_kind(
                "test_result",
                &format!("e-{}", call.n),
                "p-seed",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        "check_in" => |call| {
            let event = event_of_kind(
                "check_in",
                &format!("e-{}", call.n),
                "p-seed",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        "contact_designation" => |call| {
            let event = event_of_kind(
                "contact_designation",
                &format!("e-{}", call.n),
                "p-designated",
                "440305",
                T0_UNIX_SECS,
            );
            ("POST", "/v1/events".into(), Some(event))
        },
        _ => |call| {
            let event = event_of_kind(
                "test_result",
                &format!("e-{}", call.n),
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
    let mut rows = national_rows();
    rows.extend(service_rows());
    rows
}

fn national_rows() -> Vec<Row> {
    const OPEN: [u16; 12] = [200; 12];
    const READ: [u16; 12] = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401];
    const NODES_ONLY: [u16; 12] = [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401];
    vec![
        Row {
            label: "GET /healthz",
            request: |_| ("GET", "/healthz".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /readyz",
            request: |_| ("GET", "/readyz".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /metrics",
            request: |_| ("GET", "/metrics".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /openapi.json",
            request: |_| ("GET", "/openapi.json".into(), None),
            expect: OPEN,
            body: None,
        },
        // Node to node (anti-entropy): no principal, whatever its role; only
        // a peer with the cluster's node credential (tested below).
        Row {
            label: "GET /v1/replication/origins",
            request: |_| ("GET", "/v1/replication/origins".into(), None),
            expect: NODES_ONLY,
            body: None,
        },
        Row {
            label: "GET /v1/replication/origins/{origin}/records",
            request: |_| {
                (
                    "GET",
                    "/v1/replication/origins/o1/records?after=0".into(),
                    None,
                )
            },
            expect: NODES_ONLY,
            body: None,
        },
        Row {
            label: "GET /v1/replication/snapshot",
            request: |_| ("GET", "/v1/replication/snapshot".into(), None),
            expect: NODES_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/events test_result",
            request: event_row("test_result"),
            expect: [200, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/events check_in",
            request: event_row("check_in"),
            expect: [403, 200, 200, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/events contact_designation",
            request: event_row("contact_designation"),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // The venue-jurisdiction check: nobody of 440305 checks anyone in
        // at a venue of 110105 (and 110105's own principals cannot file it
        // in 440305).
        Row {
            label: "POST /v1/events check_in at a venue outside the jurisdiction",
            request: |call| {
                let mut event = event_of_kind(
                    "check_in",
                    &format!("e-{}", call.n),
                    "p-seed",
                    "440305",
                    T0_UNIX_SECS,
                );
                event["data"]["venue"] = json!(OUT_VENUE);
                ("POST", "/v1/events".into(), Some(event))
            },
            expect: [403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Author namespaces: an id in another principal's namespace is
        // nobody else's to take.
        Row {
            label: "POST /v1/events test_result in another author's id namespace",
            request: |call| {
                let event = event_of_kind(
                    "test_result",
                    &format!("seed-lab:e-{}", call.n),
                    "p-seed",
                    "440305",
                    T0_UNIX_SECS,
                );
                ("POST", "/v1/events".into(), Some(event))
            },
            expect: [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/events:batch test_result",
            request: event_row("batch"),
            expect: [200, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/persons",
            request: |call| {
                let n = call.n;
                let body = json!({"id_type": "resident_id", "id_number": resident_id(n), "display_name": "张三", "region": "440305"});
                ("POST", "/v1/persons".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/persons:resolve",
            // The registered citizen of 440305: labs resolve nothing, an
            // authority only persons present in its jurisdiction.
            request: |_| {
                let body = json!({"id_type": "passport", "id_number": CITIZEN_PASSPORT});
                ("POST", "/v1/persons:resolve".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 404, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/persons/{pid}/status",
            request: |_| ("GET", "/v1/persons/p-seed/status".into(), None),
            expect: [403, 200, 200, 200, 200, 403, 403, 200, 200, 200, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/persons/{pid}/timeline",
            request: |_| ("GET", "/v1/persons/p-seed/timeline".into(), None),
            // A health authority elsewhere is told the person is unknown.
            expect: [403, 403, 403, 200, 200, 200, 403, 403, 403, 404, 401, 401],
            body: None,
        },
        // Writing does not grant reading: an authority's event about a
        // person makes the person nobody's, not even its own region's.
        Row {
            label: "GET /v1/persons/{pid}/timeline of a person only an authority wrote about",
            request: |_| ("GET", format!("/v1/persons/{WRITTEN_PID}/timeline"), None),
            expect: [403, 403, 403, 404, 200, 200, 403, 403, 403, 404, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/persons/{pid}/code of a person only an authority wrote about",
            request: |_| ("GET", format!("/v1/persons/{WRITTEN_PID}/code"), None),
            expect: [403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Guardianship's consent step: another authority of the ward's
        // region confirms (the seeded registrar is not a caller).
        Row {
            label: "POST /v1/guardianships:confirm",
            request: |call| {
                let body =
                    json!({"guardian": call.seeds.guardian_pid, "ward": call.seeds.citizen_pid});
                ("POST", "/v1/guardianships:confirm".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/verify/id-card",
            request: |call| {
                let n = call.n;
                let body = json!({"id_type": "resident_id", "id_number": resident_id(n)});
                ("POST", "/v1/verify/id-card".into(), Some(body))
            },
            expect: [403, 403, 200, 403, 403, 403, 403, 403, 200, 403, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/rule-sets",
            request: |_| ("GET", "/v1/rule-sets".into(), None),
            expect: READ,
            body: None,
        },
        Row {
            label: "GET /v1/rule-sets/{version}",
            request: |_| ("GET", "/v1/rule-sets/current".into(), None),
            expect: READ,
            body: None,
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
            body: None,
        },
        Row {
            label: "POST /v1/rule-sets:preview",
            request: |_| {
                let body = profile(PROFILE_REGION);
                ("POST", "/v1/rule-sets:preview".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 200, 401, 401],
            body: None,
        },
        // Simulating: who may preview may simulate. A city beyond the
        // node's bound is refused after authorization (400), so the matrix
        // starts no simulation; the job itself is tested in public_rules.rs.
        Row {
            label: "POST /v1/rule-sets:simulate",
            request: |_| {
                let body = profile(PROFILE_REGION);
                (
                    "POST",
                    "/v1/rule-sets:simulate?persons=100000".into(),
                    Some(body),
                )
            },
            expect: [403, 403, 403, 400, 400, 403, 403, 403, 403, 400, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/simulations/{id}",
            request: |_| ("GET", "/v1/simulations/sim-none".into(), None),
            expect: [403, 403, 403, 404, 404, 403, 403, 403, 403, 404, 401, 401],
            body: None,
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
            body: None,
        },
        Row {
            label: "POST /v1/profiles",
            request: |_| {
                let body = profile(PROFILE_REGION);
                ("POST", "/v1/profiles".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/audit",
            request: |_| ("GET", "/v1/audit?limit=10".into(), None),
            expect: [403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/admin/principals",
            request: |call| {
                let n = call.n;
                let body = json!({"id": format!("created-{n}"), "role": "lab", "jurisdiction": "440305", "display_name": "a lab"});
                ("POST", "/v1/admin/principals".into(), Some(body))
            },
            expect: [403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Revoking a principal's keys at once (a stolen key).
        Row {
            label: "POST /v1/admin/principals/{id}/keys:revoke",
            request: |_| {
                (
                    "POST",
                    "/v1/admin/principals/revocable/keys:revoke".into(),
                    None,
                )
            },
            expect: [403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Ending a person's sessions: an authority reaching the person, or a
        // national admin.
        Row {
            label: "POST /v1/persons/{pid}/sessions:revoke",
            request: |call| {
                (
                    "POST",
                    format!("/v1/persons/{}/sessions:revoke", call.seeds.citizen_pid),
                    None,
                )
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Sign-in through an identity provider: not configured here, so not
        // served to anybody (tests/oidc_sign_in.rs has the flow).
        Row {
            label: "GET /v1/session/oidc/start",
            request: |_| ("GET", "/v1/session/oidc/start".into(), None),
            expect: [404; 12],
            body: None,
        },
        Row {
            label: "GET /v1/session/oidc/callback",
            request: |_| {
                (
                    "GET",
                    "/v1/session/oidc/callback?state=s&code=c".into(),
                    None,
                )
            },
            expect: [404; 12],
            body: None,
        },
        Row {
            label: "GET /v1/console/oidc/start",
            request: |_| ("GET", "/v1/console/oidc/start".into(), None),
            expect: [404; 12],
            body: None,
        },
        // The console's session: an API key is not one.
        Row {
            label: "GET /v1/console/session",
            request: |_| ("GET", "/v1/console/session".into(), None),
            expect: [200; 12],
            body: None,
        },
        Row {
            label: "DELETE /v1/console/session",
            request: |_| ("DELETE", "/v1/console/session".into(), None),
            expect: [200; 12],
            body: None,
        },
        // The two-person rule: a national admin or an auditor waits for a
        // second national admin.
        Row {
            label: "POST /v1/admin/principals national_admin",
            request: |call| {
                let n = call.n;
                let body = json!({"id": format!("created-admin-{n}"), "role": "national_admin", "jurisdiction": "nation", "display_name": "an admin"});
                ("POST", "/v1/admin/principals".into(), Some(body))
            },
            expect: [403, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // Pages, assets and the node's public keys need no key at all; a
        // bad key is ignored there, not refused.
        Row {
            label: "GET /",
            request: |_| ("GET", "/".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /citizen",
            request: |_| ("GET", "/citizen?lang=en".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /verify",
            request: |_| ("GET", "/verify".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /console",
            request: |_| ("GET", "/console".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /assets/{name}",
            request: |_| ("GET", "/assets/app.css".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /sw.js",
            request: |_| ("GET", "/sw.js".into(), None),
            expect: OPEN,
            body: None,
        },
        Row {
            label: "GET /v1/trust-list",
            request: |_| ("GET", "/v1/trust-list".into(), None),
            expect: OPEN,
            body: Some(|_, body| {
                (body.get("payload").is_some() && body.get("signature").is_some())
                    .then_some(())
                    .ok_or_else(|| format!("a signed trust list: {body}"))
            }),
        },
        Row {
            label: "POST /v1/verify/token",
            request: |call| {
                let body = json!({"token": call.seeds.token});
                ("POST", "/v1/verify/token".into(), Some(body))
            },
            expect: OPEN,
            body: Some(|_, body| {
                (body["valid"] == json!(true))
                    .then_some(())
                    .ok_or_else(|| format!("the node's own code verifies: {body}"))
            }),
        },
        // Camera frames, for browsers without BarcodeDetector: anyone (a
        // door works without a key), bounded per address and at once.
        Row {
            label: "POST /v1/qr:decode",
            request: |_| {
                use base64::Engine;
                let png = ymt_token::render_qr_png("YMTV1:v-matrix.ABC").expect("a QR code");
                let image = base64::engine::general_purpose::STANDARD.encode(png);
                (
                    "POST",
                    "/v1/qr:decode".into(),
                    Some(json!({"image_base64": image})),
                )
            },
            expect: OPEN,
            body: Some(|_, body| {
                (body["text"] == json!("YMTV1:v-matrix.ABC"))
                    .then_some(())
                    .ok_or_else(|| format!("the frame's code: {body}"))
            }),
        },
        // Signed codes: the person (session), a guardian, or an authority of
        // the person's jurisdiction; nobody else, and no key is no session.
        Row {
            label: "GET /v1/persons/{pid}/code",
            request: |_| ("GET", "/v1/persons/p-seed/code".into(), None),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: Some(|_, body| {
                body["token"]
                    .as_str()
                    .is_some_and(|token| token.starts_with("YMT1:"))
                    .then_some(())
                    .ok_or_else(|| format!("a signed code: {body}"))
            }),
        },
        // A person's color read (for a page watching it) and history: as
        // for the code, the person, a guardian or an authority of the
        // person's jurisdiction.
        Row {
            label: "GET /v1/persons/{pid}/color",
            request: |_| ("GET", "/v1/persons/p-seed/color".into(), None),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: Some(|_, body| {
                body["color"]
                    .is_string()
                    .then_some(())
                    .ok_or_else(|| format!("a color: {body}"))
            }),
        },
        Row {
            label: "GET /v1/persons/{pid}/history",
            request: |_| ("GET", "/v1/persons/p-seed/history".into(), None),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: Some(|_, body| {
                body["changes"]
                    .is_array()
                    .then_some(())
                    .ok_or_else(|| format!("the changes: {body}"))
            }),
        },
        // Citizen sessions: an API key is not a session, so every caller of
        // the matrix is signed out; the sign-in itself is public.
        Row {
            label: "GET /v1/session",
            request: |_| ("GET", "/v1/session".into(), None),
            expect: OPEN,
            body: Some(|_, body| {
                (body == &json!({"signed_in": false}))
                    .then_some(())
                    .ok_or_else(|| format!("no session without the cookie: {body}"))
            }),
        },
        Row {
            label: "POST /v1/session",
            request: |_| {
                let body = json!({"id_type": "passport", "id_number": CITIZEN_PASSPORT, "code": CITIZEN_CODE});
                ("POST", "/v1/session".into(), Some(body))
            },
            expect: OPEN,
            body: Some(|_, body| {
                (body["signed_in"] == json!(true))
                    .then_some(())
                    .ok_or_else(|| format!("signed in: {body}"))
            }),
        },
        Row {
            label: "POST /v1/session wrong one-time code",
            request: |_| {
                let body =
                    json!({"id_type": "passport", "id_number": CITIZEN_PASSPORT, "code": "000000"});
                ("POST", "/v1/session".into(), Some(body))
            },
            expect: [401; 12],
            body: None,
        },
        Row {
            label: "DELETE /v1/session",
            request: |_| ("DELETE", "/v1/session".into(), None),
            expect: [204; 12],
            body: None,
        },
        // Appeals: authorities handle those of their jurisdiction.
        Row {
            label: "GET /v1/appeals",
            request: |_| ("GET", "/v1/appeals".into(), None),
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 200, 401, 401],
            body: Some(|caller, body| {
                let listed = body["appeals"].as_array().map_or(0, Vec::len);
                // The seeded appeals are all about a citizen of 440305.
                let expect_some = caller != "authority-out";
                (expect_some == (listed > 0))
                    .then_some(())
                    .ok_or_else(|| format!("{listed} appeals listed to {caller}"))
            }),
        },
        Row {
            label: "POST /v1/appeals",
            request: |call| {
                // Each caller's own grounds: the same ones again would be
                // grouped into the open appeal (200).
                let body = json!({"pid": call.seeds.citizen_pid, "text": format!("the test was negative ({})", call.caller)});
                ("POST", "/v1/appeals".into(), Some(body))
            },
            expect: [403, 403, 403, 201, 201, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/appeals/{id}/resolve",
            request: |call| {
                let id = &call.seeds.appeals[call.caller];
                let body = json!({"note": "reviewed"});
                ("POST", format!("/v1/appeals/{id}/resolve"), Some(body))
            },
            // An authority elsewhere is told the appeal is unknown.
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 404, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/dashboard/colors.svg",
            request: |_| ("GET", "/v1/dashboard/colors.svg".into(), None),
            expect: [403, 403, 403, 200, 200, 200, 403, 403, 403, 200, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/dashboard/map.svg",
            request: |_| ("GET", "/v1/dashboard/map.svg".into(), None),
            expect: [403, 403, 403, 200, 200, 200, 403, 403, 403, 200, 401, 401],
            body: None,
        },
        // Venues: registered by authorities inside their jurisdiction; any
        // principal may read a venue and its code.
        Row {
            label: "POST /v1/venues",
            request: |call| {
                let body = json!({"id": format!("v-{}", call.n), "name": "a shop", "region": COMMUNITY, "category": "retail", "indoor": true});
                ("POST", "/v1/venues".into(), Some(body))
            },
            expect: [403, 403, 403, 201, 201, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/venues/{id}",
            request: |_| ("GET", format!("/v1/venues/{SEED_VENUE}"), None),
            expect: READ,
            body: None,
        },
        Row {
            label: "GET /v1/venues/{id}/qr",
            request: |_| ("GET", format!("/v1/venues/{SEED_VENUE}/qr"), None),
            expect: READ,
            body: None,
        },
        // Risk areas: one community is applied at once; a larger area waits
        // for national approval (202), whoever proposes it.
        Row {
            label: "POST /v1/risk-areas venues of one community",
            request: |call| {
                let body = risk_area(call.n, json!({"venues": [SEED_VENUE]}));
                ("POST", "/v1/risk-areas".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/risk-areas county",
            request: |call| {
                let body = risk_area(call.n, json!({"region": "440305"}));
                ("POST", "/v1/risk-areas".into(), Some(body))
            },
            expect: [403, 403, 403, 202, 202, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "GET /v1/risk-areas",
            request: |_| ("GET", "/v1/risk-areas".into(), None),
            expect: READ,
            body: None,
        },
        // A preview is checked as a designation is, and stores nothing.
        Row {
            label: "POST /v1/risk-areas:preview",
            request: |call| {
                let body = risk_area(call.n, json!({"venues": [SEED_VENUE]}));
                ("POST", "/v1/risk-areas:preview".into(), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // The seeded area of one community: the authority lifts it, after
        // which it is no longer in force (409); outside 440305, refused.
        Row {
            label: "POST /v1/risk-areas/{id_action}",
            request: |_| {
                let body = json!({"reason": "lifted by the matrix"});
                (
                    "POST",
                    format!("/v1/risk-areas/{LIFT_AREA}:lift"),
                    Some(body),
                )
            },
            expect: [403, 403, 403, 200, 409, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // The rules in force are public: no key needed, none refused.
        Row {
            label: "GET /v1/public/rules",
            request: |_| ("GET", "/v1/public/rules".into(), None),
            expect: OPEN,
            body: Some(|_, body| {
                body["national"]["rules"]
                    .as_array()
                    .is_some_and(|rules| !rules.is_empty())
                    .then_some(())
                    .ok_or_else(|| format!("the national rules: {body}"))
            }),
        },
        Row {
            label: "GET /rules",
            request: |_| ("GET", "/rules".into(), None),
            expect: OPEN,
            body: None,
        },
        // Printed codes (纸质码): staff only a health authority of the
        // person's registered region, and only for a person registered
        // without a phone (the seeded citizen has one: 409); guardians print
        // with their session (tests/codes.rs).
        Row {
            label: "POST /v1/persons/{pid}/printed-code",
            request: |call| {
                let path = format!("/v1/persons/{}/printed-code", call.seeds.citizen_pid);
                ("POST", path, None)
            },
            expect: [403, 403, 403, 409, 403, 403, 403, 403, 403, 404, 401, 401],
            body: None,
        },
        Row {
            label: "GET /print",
            request: |_| ("GET", "/print?pid=p-seed&size=a4".into(), None),
            expect: OPEN,
            body: None,
        },
        // Pending actions: national roles see all, an authority its own
        // proposals; only a second national admin decides.
        Row {
            label: "GET /v1/pending",
            request: |_| ("GET", "/v1/pending".into(), None),
            expect: [403, 403, 403, 200, 200, 200, 403, 403, 403, 200, 401, 401],
            body: Some(|caller, body| {
                let proposers: Vec<&str> = body["pending"]
                    .as_array()
                    .map(|pending| {
                        pending
                            .iter()
                            .filter_map(|action| action["proposer"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let national = caller == "admin" || caller == "auditor";
                let fine = if national {
                    proposers.contains(&SECOND_ADMIN)
                } else {
                    proposers.iter().all(|proposer| *proposer == caller)
                };
                fine.then_some(())
                    .ok_or_else(|| format!("{caller} sees pending actions of {proposers:?}"))
            }),
        },
        Row {
            label: "POST /v1/pending/{id_action} approve",
            request: |_| {
                (
                    "POST",
                    "/v1/pending/risk_area.seed-approve:approve".into(),
                    None,
                )
            },
            expect: [403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        // The two-person lineage: the admin created the puppet that proposed
        // this action, so the admin is not a second person for it.
        Row {
            label: "POST /v1/pending/{id_action} approve an action of a principal the approver created",
            request: |_| {
                (
                    "POST",
                    "/v1/pending/risk_area.seed-lineage:approve".into(),
                    None,
                )
            },
            expect: [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/pending/{id_action} reject",
            request: |_| {
                (
                    "POST",
                    "/v1/pending/risk_area.seed-reject:reject".into(),
                    None,
                )
            },
            expect: [403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/designations/{id_action} confirm",
            request: |call| {
                let id = &call.seeds.designations[call.caller];
                let body = json!({"note": "checked the venue's records"});
                ("POST", format!("/v1/designations/{id}:confirm"), Some(body))
            },
            expect: [403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/overrides:bulk",
            request: |call| {
                let body = json!({
                    "id": format!("bulk-{}", call.n),
                    "pids": [format!("p-bulk-{}", call.n)],
                    "region": "440305",
                    "color": "yellow",
                    "reason": "outbreak control",
                    "from": support::rfc3339_of_unix_secs(T0_UNIX_SECS),
                    "until": support::rfc3339_of_unix_secs(T0_UNIX_SECS + support::DAY_SECS),
                });
                ("POST", "/v1/overrides:bulk".into(), Some(body))
            },
            // The person is present nowhere: held for a second authority.
            expect: [403, 403, 403, 202, 202, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/keys:revoke",
            request: |call| {
                // The node's own signing key, read from the seeded code: a
                // national admin's proposal is held (202), never applied.
                let (kid, ..) = ymt_token::inspect(&call.seeds.token).expect("the seeded code");
                let body =
                    json!({"kid": kid.to_hex(), "reason": "key material found on a lost laptop"});
                ("POST", "/v1/keys:revoke".into(), Some(body))
            },
            expect: [403, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
    ]
}

/// The services' routes (docs/services.md): a service's staff are venue
/// principals its venue names as operator (`venue`, not `venue-out`);
/// consents and visits are the signed-in person's alone, never an API key's.
fn service_rows() -> Vec<Row> {
    const CITIZEN_ONLY: [u16; 12] = [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401];
    const STAFF_ONLY: [u16; 12] = [403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401];
    const STAFF_OR_AUTHORITY: [u16; 12] =
        [403, 200, 403, 200, 200, 403, 403, 403, 403, 403, 401, 401];
    vec![
        // 场所码 self check-in: signed-in citizens only (an API key is not
        // a session); the citizen's side is in tests/verifier_door.rs.
        Row {
            label: "POST /v1/venues:scan",
            request: |_| {
                let body = json!({"qr": "YMTV1:venue-1.00000000000000000000000000000000"});
                ("POST", "/v1/venues:scan".into(), Some(body))
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/persons/{pid}/check-ins",
            request: |call| {
                let body = json!({"qr": "YMTV1:venue-1.00000000000000000000000000000000"});
                let pid = &call.seeds.citizen_pid;
                ("POST", format!("/v1/persons/{pid}/check-ins"), Some(body))
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "GET /v1/services/{service}/rule-set",
            request: |_| ("GET", "/v1/services/hospital/rule-set".into(), None),
            expect: [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/services/{service}/rule-sets",
            request: |call| {
                let mut document: Value = serde_json::from_str(include_str!(
                    "../../ymt-node/services/hospital-entrance.json"
                ))
                .expect("the shipped hospital rule set");
                document["version"] = json!(format!("1.{}.0", call.n));
                (
                    "POST",
                    "/v1/services/hospital/rule-sets".into(),
                    Some(document),
                )
            },
            // Always held for a second national admin.
            expect: [403, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/services/{service}/venues/{venue}/profile",
            request: |call| {
                let profile = json!({
                    "kind": "parameter-profile", "id": "visitor-policy", "region": COMMUNITY,
                    "ruleSet": "care-visit", "version": format!("1.{}.0", call.n),
                    "validFrom": "2022-06-28T00:00:00Z",
                    "parameters": {"visitorPcrValidHours": 24}, "reason": "visitor policy",
                });
                (
                    "POST",
                    format!("/v1/services/care-visit/venues/{CARE_HOME}/profile"),
                    Some(profile),
                )
            },
            expect: [403, 201, 403, 201, 201, 403, 403, 403, 403, 403, 401, 401],
            body: None,
        },
        Row {
            label: "POST /v1/hospitals/{venue}/entrance",
            request: |_| {
                let body = json!({"id_type": "passport", "id_number": CITIZEN_PASSPORT});
                (
                    "POST",
                    format!("/v1/hospitals/{HOSPITAL}/entrance"),
                    Some(body),
                )
            },
            expect: STAFF_ONLY,
            body: Some(|_, body| {
                (body["outcome"] == "outpatient")
                    .then_some(())
                    .ok_or(format!("a lane: {body}"))
            }),
        },
        Row {
            label: "GET /v1/hospitals/{venue}/persons/{pid}/test-results",
            request: |call| {
                let path = format!(
                    "/v1/hospitals/{HOSPITAL}/persons/{}/test-results",
                    call.seeds.citizen_pid
                );
                ("GET", path, None)
            },
            // The citizen consented to this hospital alone.
            expect: STAFF_ONLY,
            body: None,
        },
        Row {
            label: "GET /v1/persons/{pid}/consents",
            request: |call| {
                let path = format!("/v1/persons/{}/consents", call.seeds.citizen_pid);
                ("GET", path, None)
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/persons/{pid}/consents",
            request: |call| {
                let path = format!("/v1/persons/{}/consents", call.seeds.citizen_pid);
                ("POST", path, Some(json!({"venue": HOSPITAL})))
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/persons/{pid}/consents/{venue}/revoke",
            request: |call| {
                let path = format!(
                    "/v1/persons/{}/consents/{HOSPITAL}/revoke",
                    call.seeds.citizen_pid
                );
                ("POST", path, None)
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/care-homes/{venue}/visits",
            request: |call| {
                let body = json!({"visitor": {"id_type": "passport", "id_number": CITIZEN_PASSPORT},
                                  "resident": call.seeds.guardian_pid});
                (
                    "POST",
                    format!("/v1/care-homes/{CARE_HOME}/visits"),
                    Some(body),
                )
            },
            expect: STAFF_ONLY,
            body: Some(|_, body| {
                (body["decision"]["outcome"] == "refused")
                    .then_some(())
                    .ok_or(format!("no recent PCR, refused: {body}"))
            }),
        },
        Row {
            label: "GET /v1/persons/{pid}/visits",
            request: |call| {
                let path = format!("/v1/persons/{}/visits", call.seeds.guardian_pid);
                ("GET", path, None)
            },
            expect: CITIZEN_ONLY,
            body: None,
        },
        Row {
            label: "POST /v1/care-homes/{venue}/roster",
            request: |call| {
                let body = json!({"staff": [call.seeds.citizen_pid]});
                (
                    "POST",
                    format!("/v1/care-homes/{CARE_HOME}/roster"),
                    Some(body),
                )
            },
            expect: STAFF_OR_AUTHORITY,
            body: None,
        },
        Row {
            label: "GET /v1/care-homes/{venue}/roster-check",
            request: |_| {
                (
                    "GET",
                    format!("/v1/care-homes/{CARE_HOME}/roster-check"),
                    None,
                )
            },
            expect: STAFF_OR_AUTHORITY,
            body: None,
        },
    ]
}

/// A low-risk area: it reaches nobody's color, so the rows stay independent.
fn risk_area(n: usize, area: Value) -> Value {
    let mut body = json!({
        "id": format!("ra-{n}"),
        "level": "low",
        "from": support::rfc3339_of_unix_secs(T0_UNIX_SECS - 3600),
        "until": support::rfc3339_of_unix_secs(T0_UNIX_SECS),
        "reason": "a cluster",
    });
    for (key, value) in area.as_object().expect("an area is an object") {
        body[key] = value.clone();
    }
    body
}

/// What the node has stored: events and the content of every kind of
/// metadata, so a refused write that only edits a record (resolving an
/// appeal, deciding a pending action) is caught too.
fn fingerprint(node: &TestNode) -> Vec<(usize, u64)> {
    let store = &node.state.store;
    let mut prints = vec![(store.last_seq() as usize, 0)];
    for namespace in [
        META_PERSONS,
        META_PRINCIPALS,
        META_PROFILES,
        META_RULE_SETS,
        META_APPEALS,
        META_VENUES,
        META_RISK_AREAS,
        META_PENDING,
        META_CONFIRMATIONS,
        ymt_node::hospital::META_HOSPITAL_CONSENTS,
        ymt_node::hospital::META_HOSPITAL_SYMPTOMS,
        ymt_node::hospital::META_HOSPITAL_RULE_SETS,
        ymt_node::care_homes::META_CARE_PROFILES,
        ymt_node::care_homes::META_CARE_VISITS,
        ymt_node::care_homes::META_CARE_ROSTERS,
    ] {
        let entries = store.meta_list(namespace).expect("meta reads");
        let mut hasher = DefaultHasher::new();
        entries.hash(&mut hasher);
        prints.push((entries.len(), hasher.finish()));
    }
    prints
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

/// Prepares what the rows act on: an event of `p-seed`, the venue of the
/// sample check-ins, a registered citizen of 440305 who can sign in, a
/// signed code, one open appeal about the citizen per caller, and two
/// actions pending national approval proposed by a second administrator.
async fn seed(node: &TestNode, admin: &str) -> Seeds {
    // A lab of 440305 tested p-seed: the person is present there.
    let seed_lab = node.add_principal("seed-lab", Role::Lab, "440305");
    let event = event_of_kind("test_result", "seed", "p-seed", "440305", T0_UNIX_SECS);
    check(
        "seed event",
        &node.post("/v1/events", Some(&seed_lab), &event).await,
        200,
    );
    // Only an authority wrote about p-written: it is present nowhere.
    let seed_authority = node.add_principal("seed-authority", Role::HealthAuthority, "440305");
    let written = event_of_kind(
        "vaccination",
        "written",
        WRITTEN_PID,
        "440305",
        T0_UNIX_SECS,
    );
    check(
        "seed written event",
        &node
            .post("/v1/events", Some(&seed_authority), &written)
            .await,
        200,
    );
    let venue = json!({"id": SEED_VENUE, "name": "a market", "region": COMMUNITY, "category": "market",
                       "indoor": true, "operators": ["venue"]});
    check(
        "seed venue",
        &node.post("/v1/venues", Some(admin), &venue).await,
        201,
    );
    let lift_area = json!({"id": LIFT_AREA, "venues": [SEED_VENUE], "level": "high",
                           "from": support::rfc3339_of_unix_secs(T0_UNIX_SECS - 3600),
                           "until": support::rfc3339_of_unix_secs(T0_UNIX_SECS + 86_400),
                           "reason": "to be lifted"});
    check(
        "seed risk area to lift",
        &node
            .post("/v1/risk-areas", Some(&seed_authority), &lift_area)
            .await,
        200,
    );
    let venue_out = json!({"id": OUT_VENUE, "name": "a market", "region": "110105001001", "category": "market",
                           "indoor": true, "operators": ["venue-out"]});
    check(
        "seed venue of 110105",
        &node.post("/v1/venues", Some(admin), &venue_out).await,
        201,
    );
    let citizen = json!({"id_type": "passport", "id_number": CITIZEN_PASSPORT, "display_name": "李四", "region": "440305"});
    let reply = node.post("/v1/persons", Some(admin), &citizen).await;
    check("seed citizen", &reply, 200);
    let citizen_pid = reply.json()["pid"].as_str().expect("a pid").to_owned();
    let guardian = json!({"id_type": "passport", "id_number": "E90000002", "display_name": "李五",
                          "region": "440305", "guardian_of": [citizen_pid]});
    let reply = node
        .post("/v1/persons", Some(&seed_authority), &guardian)
        .await;
    check("seed guardian", &reply, 200);
    let guardian_pid = reply.json()["pid"].as_str().expect("a pid").to_owned();
    node.enable_citizen_sign_in_with_one_time_code(CITIZEN_CODE);
    for (id, category) in [(HOSPITAL, "hospital"), (CARE_HOME, "care_home")] {
        let venue = json!({"id": id, "name": id, "region": COMMUNITY, "category": category,
                           "indoor": true, "operators": ["venue"]});
        check(
            "seed service venue",
            &node.post("/v1/venues", Some(admin), &venue).await,
            201,
        );
    }
    // The citizen lets the hospital read their results.
    let cookie = node
        .sign_in_citizen("passport", CITIZEN_PASSPORT, CITIZEN_CODE)
        .await
        .session_cookie()
        .expect("the citizen signs in");
    let consent = node
        .send_with_cookie(
            "POST",
            &format!("/v1/persons/{citizen_pid}/consents"),
            &cookie,
            Some(&json!({"venue": HOSPITAL})),
        )
        .await;
    check("seed consent", &consent, 201);
    let code = node.get("/v1/persons/p-seed/code", Some(admin)).await;
    check("seed code", &code, 200);
    let token = code.json()["token"].as_str().expect("a token").to_owned();
    let mut appeals = Vec::new();
    for caller in CALLERS {
        let body = json!({"pid": citizen_pid, "text": format!("appeal for {}", caller.0)});
        let reply = node.post("/v1/appeals", Some(admin), &body).await;
        check("seed appeal", &reply, 201);
        appeals.push(reply.json()["id"].as_str().expect("an id").to_owned());
    }
    let second_admin = node.add_principal(SECOND_ADMIN, Role::NationalAdmin, "nation");
    // The matrix's admin creates a puppet admin (a second admin approves,
    // as for every national admin): the puppet's proposal is one the admin
    // may not approve.
    let puppet = json!({"id": "puppet-admin", "role": "national_admin", "jurisdiction": "nation", "display_name": "puppet"});
    let reply = node
        .post("/v1/admin/principals", Some(admin), &puppet)
        .await;
    check("seed puppet admin", &reply, 202);
    let puppet_key = reply.json()["api_key"].as_str().expect("a key").to_owned();
    check(
        "seed puppet approval",
        &node
            .send(
                "POST",
                "/v1/pending/principal.puppet-admin:approve",
                Some(&second_admin),
                None,
            )
            .await,
        200,
    );
    let mut body = risk_area(0, json!({"region": "440305"}));
    body["id"] = json!("seed-lineage");
    check(
        "seed pending action of the puppet",
        &node.post("/v1/risk-areas", Some(&puppet_key), &body).await,
        202,
    );
    for id in ["seed-approve", "seed-reject"] {
        let mut body = risk_area(0, json!({"region": "440305"}));
        body["id"] = json!(id);
        check(
            "seed pending action",
            &node
                .post("/v1/risk-areas", Some(&second_admin), &body)
                .await,
            202,
        );
    }
    let mut designations = Vec::new();
    let mut records = Vec::new();
    for (index, _) in CALLERS.iter().enumerate() {
        let id = format!("seed-designation-{index}");
        records.push(
            serde_json::from_value::<ymt_node::state::EventRecord>(json!({
                "region": COMMUNITY,
                "event": {"id": id, "person": format!("p-designated-{index}"),
                          "recorded_at": support::rfc3339_of_unix_secs(T0_UNIX_SECS), "author": "auto-trace",
                          "kind": "contact_designation",
                          "data": {"contact": "companion", "designated_at": support::rfc3339_of_unix_secs(T0_UNIX_SECS),
                                   "last_exposure_at": support::rfc3339_of_unix_secs(T0_UNIX_SECS - 3600),
                                   "reason": "traced"}},
            }))
            .expect("a designation record"),
        );
        designations.push(id);
    }
    let state = node.state.clone();
    tokio::task::spawn_blocking(move || state.import_records(&records, "seed").map(|_| ()))
        .await
        .expect("the import ran")
        .expect("seed designations");
    Seeds {
        token,
        citizen_pid,
        appeals,
        designations,
        guardian_pid,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_role() {
    // Every caller tries a wrong one-time code for the same citizen and
    // appeals about them; the sign-in lockout and the limit of open appeals
    // (tests/citizen_sign_in.rs, tests/appeals.rs) are not what this tests.
    let node = TestNode::start_with_config(|config| {
        config.open_appeals_per_person_max = 1_000;
        config.sign_in.failures_per_person_free = 100;
        config.sign_in.failures_per_client_free = 100;
    })
    .await;
    let mut keys: Vec<Option<String>> = Vec::new();
    for (id, role) in CALLERS {
        keys.push(match (id, role) {
            (_, Some((role, jurisdiction))) => Some(node.add_principal(id, role, jurisdiction)),
            ("bad-key", None) => Some("ymt_admin.00".into()),
            _ => None,
        });
    }
    let admin = keys[4].clone().expect("the admin key");
    // The principal whose keys the admin revokes.
    node.add_principal("revocable", Role::Lab, "440305");
    let seeds = seed(&node, &admin).await;
    let current = node.get("/v1/rule-sets", Some(&admin)).await.json()["current"]
        .as_str()
        .expect("a current version")
        .to_owned();

    let mut n = 0;
    for row in rows() {
        for (index, (caller, _)) in CALLERS.iter().enumerate() {
            n += 1;
            let call = Call {
                n,
                caller: index,
                seeds: &seeds,
            };
            let (method, path, body) = (row.request)(&call);
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
            } else if let Some(body_check) = row.body
                && let Err(problem) = body_check(caller, &reply.json())
            {
                panic!("{label}: {problem}");
            }
            // Every refusal of a known principal is evidence in the log, and
            // so is a read outside the jurisdiction (answered 404). The
            // provider sign-in routes of a node without a provider are not
            // served (404) to anyone: no refusal of a principal.
            let not_served = label.contains("/oidc/");
            if expect == 403 || (expect == 404 && !not_served) {
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
    node.close().await;
}

#[test]
fn the_matrix_covers_every_documented_operation() {
    let document: Value = ymt_http::openapi::openapi_json();
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
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let beijing = node.add_principal("cdc-110105", Role::HealthAuthority, "110105");
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
        "data": {"target": "cdc-440305:cc-sz", "reason": "not ours to cancel"},
    });
    let reply = node.post("/v1/events", Some(&beijing), &retraction).await;
    check("retraction across jurisdictions", &reply, 403);
    assert_eq!(fingerprint(&node), before, "nothing stored");
    assert!(denied_count(&node, "cdc-110105") > denied_before, "audited");
    let verifier = node.add_principal("verifier", Role::VerifierDevice, "440305");
    assert_eq!(node.color(&verifier, "p-1").await, "red", "still red");
    node.close().await;
}

/// A citizen's request: label, method, path, body, session cookie, the
/// expected status, and whether it is refused for who asks (and audited).
type CitizenCase<'a> = (
    &'static str,
    &'static str,
    String,
    Option<Value>,
    &'a str,
    u16,
    bool,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_session_reaches_only_its_own_code_and_appeals() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    node.enable_citizen_sign_in_with_one_time_code(CITIZEN_CODE);
    let mut pids = Vec::new();
    for (passport, name) in [(CITIZEN_PASSPORT, "李四"), ("E90000002", "王五")] {
        let body = json!({"id_type": "passport", "id_number": passport, "display_name": name, "region": "440305"});
        let reply = node.post("/v1/persons", Some(&admin), &body).await;
        check("register", &reply, 200);
        pids.push(reply.json()["pid"].as_str().expect("a pid").to_owned());
    }
    let (me, stranger) = (pids[0].clone(), pids[1].clone());
    let appeal = node
        .post(
            "/v1/appeals",
            Some(&admin),
            &json!({"pid": me, "text": "filed by the authority"}),
        )
        .await;
    check("an appeal to resolve", &appeal, 201);
    let appeal_id = appeal.json()["id"].as_str().expect("an id").to_owned();

    let sign_in = node
        .sign_in_citizen("passport", CITIZEN_PASSPORT, CITIZEN_CODE)
        .await;
    assert_eq!(sign_in.status, 200, "the citizen signs in");
    let cookie = sign_in.session_cookie().expect("a session cookie");
    let cookie = cookie.as_str();
    let forged = format!("ymt_session={}", "ab".repeat(32));
    let forged = forged.as_str();
    let citizen = format!("citizen:{me}");

    let cases: Vec<CitizenCase> = vec![
        (
            "own session",
            "GET",
            "/v1/session".into(),
            None,
            cookie,
            200,
            false,
        ),
        (
            "own code",
            "GET",
            format!("/v1/persons/{me}/code"),
            None,
            cookie,
            200,
            false,
        ),
        (
            "another person's code",
            "GET",
            format!("/v1/persons/{stranger}/code"),
            None,
            cookie,
            403,
            true,
        ),
        (
            "appeal about another person",
            "POST",
            "/v1/appeals".into(),
            Some(json!({"pid": stranger, "text": "not mine"})),
            cookie,
            403,
            true,
        ),
        (
            "own appeal",
            "POST",
            "/v1/appeals".into(),
            Some(json!({"pid": me, "text": "my test was negative"})),
            cookie,
            201,
            false,
        ),
        // The appeals list shows a citizen their own appeals (and their
        // dependents'), not the authority's queue (tests/appeals.rs).
        (
            "own appeals",
            "GET",
            "/v1/appeals".into(),
            None,
            cookie,
            200,
            false,
        ),
        (
            "resolve own appeal",
            "POST",
            format!("/v1/appeals/{appeal_id}/resolve"),
            Some(json!({"note": "self-service"})),
            cookie,
            401,
            false,
        ),
        (
            "dashboard",
            "GET",
            "/v1/dashboard/colors.svg".into(),
            None,
            cookie,
            401,
            false,
        ),
        (
            "status by API",
            "GET",
            format!("/v1/persons/{me}/status"),
            None,
            cookie,
            401,
            false,
        ),
        // The node-to-node API of anti-entropy is no citizen's.
        (
            "replicated records",
            "GET",
            "/v1/replication/origins".into(),
            None,
            cookie,
            401,
            false,
        ),
        (
            "a node's snapshot",
            "GET",
            "/v1/replication/snapshot".into(),
            None,
            cookie,
            401,
            false,
        ),
        (
            "forged session's code",
            "GET",
            format!("/v1/persons/{me}/code"),
            None,
            forged,
            401,
            false,
        ),
        (
            "forged session's appeal",
            "POST",
            "/v1/appeals".into(),
            Some(json!({"pid": me, "text": "forged"})),
            forged,
            401,
            false,
        ),
        (
            "sign out",
            "DELETE",
            "/v1/session".into(),
            None,
            cookie,
            204,
            false,
        ),
        (
            "code after sign-out",
            "GET",
            format!("/v1/persons/{me}/code"),
            None,
            cookie,
            401,
            false,
        ),
    ];
    for (label, method, path, body, cookie, expect, audited) in cases {
        let before = fingerprint(&node);
        let denied_before = denied_count(&node, &citizen);
        let reply = node
            .send_with_cookie(method, &path, cookie, body.as_ref())
            .await;
        check(label, &reply, expect);
        if expect >= 400 {
            assert_eq!(fingerprint(&node), before, "{label}: nothing stored");
        }
        assert_eq!(
            denied_count(&node, &citizen) > denied_before,
            audited,
            "{label}: audited as denied exactly when refused for who asks"
        );
    }
    let signed_out = node
        .send_with_cookie("GET", "/v1/session", cookie, None)
        .await;
    check("session after sign-out", &signed_out, 200);
    assert_eq!(signed_out.json(), json!({"signed_in": false}));
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_node_with_the_clusters_node_credential_reads_replicated_records() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let credential = node.state.node_credential();
    let client = reqwest::Client::new();
    let get = |credential: Option<String>, key: Option<&str>| {
        let mut request = client.get(format!("{}/v1/replication/origins", node.base));
        if let Some(credential) = credential {
            request = request.header("Ymt-Node-Credential", credential);
        }
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            request
                .send()
                .await
                .expect("the node answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        get(Some(credential.clone()), None).await,
        200,
        "a peer node"
    );
    assert_eq!(
        get(Some("0".repeat(64)), None).await,
        401,
        "a wrong node credential"
    );
    // The national admin's key beside a wrong credential, or alone: no.
    assert_eq!(get(Some("0".repeat(64)), Some(&admin)).await, 401);
    assert_eq!(get(None, Some(&admin)).await, 403, "no principal may");
    // The credential is no API key either.
    assert_eq!(get(None, Some(&credential)).await, 401);
    let records = client
        .get(format!(
            "{}/v1/replication/origins/o1/records?after=0&limit=10",
            node.base
        ))
        .header("Ymt-Node-Credential", &credential)
        .send()
        .await
        .expect("the node answers");
    assert_eq!(records.status().as_u16(), 200);
    let body: Value = records.json().await.expect("JSON");
    assert_eq!(body["records"], json!([]), "a single node holds none");
    // The whole node's snapshot (a new node bootstraps from it): the same
    // gate, and nothing is taken for whoever fails it.
    let snapshot = |credential: Option<String>, key: Option<&str>| {
        let mut request = client.get(format!("{}/v1/replication/snapshot", node.base));
        if let Some(credential) = credential {
            request = request.header("Ymt-Node-Credential", credential);
        }
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.expect("the node answers") }
    };
    assert_eq!(snapshot(None, None).await.status().as_u16(), 401);
    assert_eq!(snapshot(None, Some(&admin)).await.status().as_u16(), 403);
    assert_eq!(
        snapshot(Some("0".repeat(64)), None).await.status().as_u16(),
        401
    );
    let whole = snapshot(Some(credential.clone()), None).await;
    assert_eq!(whole.status().as_u16(), 200);
    let bytes = whole.bytes().await.expect("the stream");
    let mut reader = ymt_node::peer_snapshot::SnapshotReader::new();
    let pieces = reader.feed(&bytes).expect("a well-formed snapshot stream");
    reader.finish().expect("complete, with its end line");
    assert!(matches!(
        pieces.first(),
        Some(ymt_node::peer_snapshot::Piece::Begin { path, .. }) if path == "backup.json"
    ));
    node.close().await;
}
