//! The door (issue 13): an ID number read at a door, and camera frames
//! decoded on the node for browsers without `BarcodeDetector`. The frame
//! route is open to anyone, so these tests attack its bounds: it stores
//! nothing, refuses oversized and undecodable frames, and sheds a flood.

mod support;

use base64::Engine;
use serde_json::{Value, json};
use support::TestNode;
use ymt_core::identity::resident_id_check_char;
use ymt_node::auth::Role;

const REGION: &str = "440305";
/// As `handlers/qr_decode.rs`.
const FRAMES_PER_ADDRESS_PER_SEC_MAX: u32 = 20;

fn resident_id(first_17: &str) -> String {
    let digits: [u8; 17] = first_17.as_bytes().try_into().expect("17 digits");
    format!("{first_17}{}", resident_id_check_char(&digits) as char)
}

fn frame_of(text: &str) -> Value {
    let png = ymt_token::render_qr_png(text).expect("a QR code");
    json!({"image_base64": base64::engine::general_purpose::STANDARD.encode(png)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_id_number_is_never_green_at_the_door() {
    let node = TestNode::start().await;
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, REGION);
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let (status, card) = node
        .post_as(
            &verifier,
            "/v1/verify/id-card",
            json!({"id_type": "resident_id", "id_number": resident_id("44030519800101001")}),
        )
        .await;
    assert_eq!(status, 200, "{card}");
    assert_ne!(card["color"], "green", "never green: {card}");
    assert_eq!(card["color"], "unregistered", "{card}");
    assert_eq!(card["known"], false, "{card}");
    assert_eq!(card["check_in_person"], true, "{card}");
    assert_eq!(card["label"]["zh-CN"], "未登记，请人工核验", "{card}");
    assert_eq!(
        card["label"]["en"], "Not registered: check manually",
        "{card}"
    );

    // A registered person without events stays green.
    let registered = resident_id("44030519800101002");
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/persons",
            json!({"id_type": "resident_id", "id_number": registered, "display_name": "张三", "region": REGION}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, card) = node
        .post_as(
            &verifier,
            "/v1/verify/id-card",
            json!({"id_type": "resident_id", "id_number": registered}),
        )
        .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["color"], "green", "{card}");
    assert_eq!(card["known"], true, "{card}");
    assert_eq!(card["masked_name"], "张*", "{card}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_frame_is_read_and_nothing_of_it_is_stored() {
    let node = TestNode::start().await;
    let stored_before = node.last_seq();
    let audited_before = audit_len(&node);
    let reply = node
        .post("/v1/qr:decode", None, &frame_of("YMTV1:v-mall.ABC"))
        .await;
    let (status, body) = reply.status_and_json();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"text": "YMTV1:v-mall.ABC"}));
    // A frame without a code: nothing to read, the camera goes on.
    let blank = {
        let image = image_blank_png();
        json!({"image_base64": base64::engine::general_purpose::STANDARD.encode(image)})
    };
    let (status, body) = node
        .post("/v1/qr:decode", None, &blank)
        .await
        .status_and_json();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"text": null}));
    // No record, no audit record, no file of the frame.
    assert_eq!(node.last_seq(), stored_before, "no record stored");
    assert_eq!(audit_len(&node), audited_before, "nothing audited");
    assert!(
        !data_dir_contains(node.data_dir(), b"IHDR"),
        "no PNG in the data directory"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_route_refuses_what_it_cannot_decode_and_changes_nothing() {
    let node = TestNode::start().await;
    let stored_before = node.last_seq();
    let too_long = "A".repeat(ymt_token::qr::FRAME_FILE_LEN_MAX / 3 * 4 + 8);
    for (label, body, expect) in [
        (
            "larger than a frame",
            json!({"image_base64": too_long}),
            413,
        ),
        ("not base64", json!({"image_base64": "not base64!"}), 422),
        ("not an image", json!({"image_base64": "aGVsbG8="}), 422),
        (
            "an unknown field",
            json!({"image_base64": "", "path": "/etc"}),
            422,
        ),
        ("no frame", json!({}), 422),
    ] {
        let reply = node.post("/v1/qr:decode", None, &body).await;
        assert_eq!(reply.status, expect, "{label}: {}", reply.text());
    }
    let reply = node
        .send("POST", "/v1/qr:decode", None, Some(b"{".to_vec()))
        .await;
    assert_eq!(reply.status, 400, "malformed JSON: {}", reply.text());
    assert_eq!(node.last_seq(), stored_before, "no record stored");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_frames_from_one_address_is_shed_with_429() {
    let node = TestNode::start().await;
    let frame = frame_of("YMTV1:v-mall.ABC");
    // The node's clock stands still, so every frame falls in one second.
    for n in 0..FRAMES_PER_ADDRESS_PER_SEC_MAX {
        let reply = node.post("/v1/qr:decode", None, &frame).await;
        assert_eq!(reply.status, 200, "frame {n}: {}", reply.text());
    }
    let reply = node.post("/v1/qr:decode", None, &frame).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    // The next second, frames are read again.
    node.advance_clock_secs(1).await;
    let reply = node.post("/v1/qr:decode", None, &frame).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    node.close().await;
}

fn audit_len(node: &TestNode) -> usize {
    node.state
        .store
        .audit_list(&ymt_store::AuditFilter::default(), 1_000_000)
        .expect("the audit log reads")
        .len()
}

/// A white PNG: a frame that shows no code.
fn image_blank_png() -> Vec<u8> {
    let image = image::GrayImage::from_pixel(320, 240, image::Luma([255]));
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("a PNG");
    out
}

fn data_dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            data_dir_contains(&path, needle)
        } else {
            std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
                .unwrap_or(false)
        }
    })
}

/// A venue of 440305 registered by its authority; its QR code's text.
async fn register_venue(node: &TestNode, authority: &str, id: &str) -> String {
    let (status, body) = node
        .post_as(
            authority,
            "/v1/venues",
            json!({"id": id, "name": "南山图书馆", "region": "440305001001", "category": "library", "indoor": true}),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
    body["qr_payload"].as_str().expect("the QR text").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_venue_code_checks_nobody_in_and_a_citizen_checks_in_only_themselves() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    node.enable_citizen_sign_in_with_one_time_code("246810");
    let qr = register_venue(&node, &authority, "v-library").await;
    let mut pids = Vec::new();
    for number in ["E70000001", "E70000002"] {
        let (status, body) = node
            .post_as(
                &authority,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": number, "display_name": "李四", "region": REGION}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        pids.push(body["pid"].as_str().unwrap().to_owned());
    }
    let cookie = node
        .sign_in_citizen("passport", "E70000001", "246810")
        .await
        .session_cookie()
        .expect("a cookie");
    let me = &pids[0];
    let stored_before = node.last_seq();

    // A forged code (its signature altered), a code of a venue nobody
    // registered (signed with the node's own key), and another person:
    // refused, and nothing is stored.
    let mut forged = qr.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let unregistered = ymt_node::venues::venue_qr_payload(
        &node.state.tracing.venue_key(),
        &ymt_core::VenueId::parse("v-nowhere").unwrap(),
    );
    let other = &pids[1];
    for (label, path, body, expect) in [
        (
            "forged, scan",
            "/v1/venues:scan".to_owned(),
            json!({"qr": forged}),
            422,
        ),
        (
            "forged, check in",
            format!("/v1/persons/{me}/check-ins"),
            json!({"qr": forged}),
            422,
        ),
        (
            "unregistered venue",
            format!("/v1/persons/{me}/check-ins"),
            json!({"qr": unregistered}),
            404,
        ),
        (
            "not a venue code",
            format!("/v1/persons/{me}/check-ins"),
            json!({"qr": "YMT1:ABC"}),
            422,
        ),
        (
            "another person",
            format!("/v1/persons/{other}/check-ins"),
            json!({"qr": qr}),
            403,
        ),
    ] {
        let reply = node
            .send_with_cookie("POST", &path, &cookie, Some(&body))
            .await;
        assert_eq!(reply.status, expect, "{label}: {}", reply.text());
    }
    // Nothing stored (the refusal about another person is only audited).
    assert_eq!(node.last_seq(), stored_before, "no event stored");

    // The real code: the venue's name first, then the check-in.
    let (status, venue) = node
        .send_with_cookie("POST", "/v1/venues:scan", &cookie, Some(&json!({"qr": qr})))
        .await
        .status_and_json();
    assert_eq!(status, 200, "{venue}");
    assert_eq!(venue["name"], "南山图书馆");
    let (status, checked_in) = node
        .send_with_cookie(
            "POST",
            &format!("/v1/persons/{me}/check-ins"),
            &cookie,
            Some(&json!({"qr": qr})),
        )
        .await
        .status_and_json();
    assert_eq!(status, 201, "{checked_in}");
    assert_eq!(checked_in["venue"]["id"], "v-library");
    let (status, timeline) = node
        .get_as(&authority, &format!("/v1/persons/{me}/timeline"))
        .await;
    assert_eq!(status, 200, "{timeline}");
    assert!(
        timeline.to_string().contains("v-library"),
        "the check-in is on the timeline: {timeline}"
    );
    node.close().await;
}

/// Issue 11 item 8: a verifier page loaded from a peer node fails over to
/// this one. `origin` is the peer's (`serve --peer-url`).
const PEER_ORIGIN: &str = "http://node-b.example:8080";

async fn cross_origin(
    node: &TestNode,
    method: reqwest::Method,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = node
        .client
        .request(method, format!("{}{path}", node.base))
        .header("origin", origin);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the node answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_nodes_verifier_page_may_call_this_node_with_a_device_key_and_nothing_more() {
    let node = TestNode::start_with_config(|config| {
        config.peer_urls = vec![PEER_ORIGIN.to_owned()];
    })
    .await;
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, REGION);
    // The preflight of the device's ID-card check: allowed for the peer,
    // with the device key's header, never with credentials.
    let preflight = cross_origin(
        &node,
        reqwest::Method::OPTIONS,
        "/v1/verify/id-card",
        PEER_ORIGIN,
        &[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(preflight.status(), 204);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some(PEER_ORIGIN)
    );
    assert!(
        header(&preflight, "access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(header(&preflight, "access-control-allow-credentials"), None);
    // The check itself, as the page sends it.
    let check = node
        .client
        .post(format!("{}/v1/verify/id-card", node.base))
        .header("origin", PEER_ORIGIN)
        .bearer_auth(&verifier)
        .json(&json!({"id_type": "resident_id", "id_number": resident_id("44030519800101001")}))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
    assert_eq!(
        header(&check, "access-control-allow-origin").as_deref(),
        Some(PEER_ORIGIN)
    );
    assert_eq!(header(&check, "access-control-allow-credentials"), None);
    // The trust list, public, readable by the peer's page.
    let trust = cross_origin(
        &node,
        reqwest::Method::GET,
        "/v1/trust-list",
        PEER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(trust.status(), 200);
    assert_eq!(
        header(&trust, "access-control-allow-origin").as_deref(),
        Some(PEER_ORIGIN)
    );
    // Any other site gets no cross-origin grant at all: its preflight is not
    // answered as one, and its reads are opaque to it.
    for origin in ["http://evil.example", "http://node-b.example:8081", "null"] {
        let preflight = cross_origin(
            &node,
            reqwest::Method::OPTIONS,
            "/v1/verify/id-card",
            origin,
            &[("access-control-request-method", "POST")],
        )
        .await;
        assert_ne!(preflight.status(), 204, "{origin}");
        assert_eq!(
            header(&preflight, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        let trust = cross_origin(&node, reqwest::Method::GET, "/v1/trust-list", origin, &[]).await;
        assert_eq!(
            header(&trust, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert!(
            header(&trust, "vary")
                .unwrap_or_default()
                .contains("origin")
        );
    }
    // The verifier page names its peers, and may connect to them alone.
    let page = node
        .client
        .get(format!("{}/verify", node.base))
        .send()
        .await
        .unwrap();
    let policy = header(&page, "content-security-policy").unwrap();
    assert!(
        policy.contains(&format!("connect-src 'self' {PEER_ORIGIN};")),
        "{policy}"
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(&format!(r#"data-peers="{PEER_ORIGIN}""#))
    );
    // So does the citizen page, which offers them when this node cannot
    // serve (its session cookie never goes there: the person signs in
    // again).
    let citizen = node
        .client
        .get(format!("{}/", node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        citizen.contains(&format!(
            r#"<section id="other-nodes" class="card" role="alert" data-peers="{PEER_ORIGIN}" hidden>"#
        )),
        "the citizen page names the peers"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_peers_no_origin_is_granted_and_the_page_connects_to_its_own_node_only() {
    let node = TestNode::start().await;
    let preflight = cross_origin(
        &node,
        reqwest::Method::OPTIONS,
        "/v1/verify/id-card",
        PEER_ORIGIN,
        &[("access-control-request-method", "POST")],
    )
    .await;
    assert_eq!(preflight.headers().get("access-control-allow-origin"), None);
    let page = node
        .client
        .get(format!("{}/verify", node.base))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    node.close().await;
}
