//! Free text refuses NUL and the bidirectional controls (issue 12, item 7):
//! every free-text field a client sends — reasons, notes, names, venue names,
//! appeal texts — answers 422 naming the field and the character, and
//! nothing is stored.

mod support;

use serde_json::{Value, json};
use support::{DAY_SECS, T0_UNIX_SECS, TestNode, event_of_kind, rfc3339_of_unix_secs};
use ymt_node::auth::Role;

/// A right-to-left override: "evitagen" displays as "negative".
const SPOOF: &str = "result \u{202E}evitagen";
const NUL: &str = "ordered\u{0}by nobody";

/// One free-text field: a label, the path and a body carrying `text`.
type Case = (&'static str, fn(&str, &str) -> (String, Value));

fn cases() -> Vec<Case> {
    vec![
        ("quarantine reason", |text, n| {
            let mut event = event_of_kind(
                "quarantine",
                &format!("q-{n}"),
                "p-text",
                "440305",
                T0_UNIX_SECS,
            );
            event["data"]["reason"] = json!(text);
            ("/v1/events".into(), event)
        }),
        ("venue name", |text, n| {
            (
                "/v1/venues".into(),
                json!({"id": format!("v-{n}"), "name": text, "region": "440305001001", "category": "retail", "indoor": true}),
            )
        }),
        ("venue category", |text, n| {
            (
                "/v1/venues".into(),
                json!({"id": format!("v-{n}"), "name": "a shop", "region": "440305001001", "category": text, "indoor": true}),
            )
        }),
        ("person display name", |text, n| {
            (
                "/v1/persons".into(),
                json!({"id_type": "passport", "id_number": format!("E4000000{n}"), "display_name": text, "region": "440305"}),
            )
        }),
        ("principal display name", |text, n| {
            (
                "/v1/admin/principals".into(),
                json!({"id": format!("lab-{n}"), "role": "lab", "jurisdiction": "440305", "display_name": text}),
            )
        }),
        ("risk area reason", |text, n| {
            (
                "/v1/risk-areas".into(),
                json!({"id": format!("ra-{n}"), "venues": ["venue-1"], "level": "low",
                "from": rfc3339_of_unix_secs(T0_UNIX_SECS - 3600), "until": rfc3339_of_unix_secs(T0_UNIX_SECS), "reason": text}),
            )
        }),
        ("bulk override reason", |text, n| {
            (
                "/v1/overrides:bulk".into(),
                json!({"id": format!("bulk-{n}"), "pids": ["p-text"], "region": "440305", "color": "yellow",
                "reason": text, "from": rfc3339_of_unix_secs(T0_UNIX_SECS), "until": rfc3339_of_unix_secs(T0_UNIX_SECS + DAY_SECS)}),
            )
        }),
        ("appeal text", |text, _| {
            ("/v1/appeals".into(), json!({"pid": "p-text", "text": text}))
        }),
        ("key revocation reason", |text, _| {
            (
                "/v1/keys:revoke".into(),
                json!({"kid": "00", "reason": text}),
            )
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_cannot_carry_a_bidi_override_or_a_nul() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let venue = json!({"id": "venue-1", "name": "a shop", "region": "440305001001", "category": "retail", "indoor": true});
    assert_eq!(node.post_as(&admin, "/v1/venues", venue).await.0, 201);
    let mut n = 0;
    for (label, case) in cases() {
        for text in [SPOOF, NUL] {
            n += 1;
            let (path, body) = case(text, &n.to_string());
            let seq_before = node.last_seq();
            let (status, problem) = node.post_as(&admin, &path, body).await;
            assert_eq!(status, 422, "{label} with {text:?}: {problem}");
            let detail = problem.to_string();
            assert!(
                detail.contains("U+202E") || detail.contains("U+0000"),
                "{label}: the problem names the character: {problem}"
            );
            assert_eq!(node.last_seq(), seq_before, "{label}: no event stored");
        }
    }
    // The same texts without the control characters pass (a quarantine).
    let event = event_of_kind("quarantine", "q-ok", "p-text", "440305", T0_UNIX_SECS);
    let (status, body) = node.post_as(&admin, "/v1/events", event).await;
    assert_eq!(status, 200, "{body}");
    // Resolving an appeal with a spoofing note is refused too.
    let (status, appeal) = node
        .post_as(
            &admin,
            "/v1/appeals",
            json!({"pid": "p-text", "text": "please check"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let id = appeal["id"].as_str().unwrap();
    let (status, problem) = node
        .post_as(
            &admin,
            &format!("/v1/appeals/{id}/resolve"),
            json!({"note": SPOOF}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    node.close().await;
}
