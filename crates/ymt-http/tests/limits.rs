//! Overload: past the concurrent-request limit the node sheds with 503 and
//! Retry-After at once, and a full store queue is a 503 too.

mod support;

use axum::response::IntoResponse;
use support::{TestNode, check};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ymt_http::problem::ApiError;
use ymt_node::auth::Role;

/// Attempts before concluding a state was never reached; no attempt sleeps.
const ATTEMPTS_MAX: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_limit_are_shed_with_503() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 1).await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    check(
        "a lone request",
        &node.get("/v1/rule-sets", Some(&lab)).await,
        200,
    );

    // Hold the only slot: a request whose body has not fully arrived.
    let address = node.base.trim_start_matches("http://").to_owned();
    let mut held = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {lab}\r\n\
         Content-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{{"
    );
    held.write_all(head.as_bytes()).await.expect("writes");

    // Another request on another route is shed once the slot is taken.
    let mut shed = None;
    for _ in 0..ATTEMPTS_MAX {
        let reply = node.get("/v1/rule-sets", Some(&lab)).await;
        if reply.status == 503 {
            shed = Some(reply);
            break;
        }
        check("before the slot is taken", &reply, 200);
        tokio::task::yield_now().await;
    }
    let shed = shed.expect("a request past the limit is shed");
    check("shed request", &shed, 503);
    assert_eq!(
        shed.retry_after.as_deref(),
        Some("1"),
        "503 says when to retry"
    );

    // Finish the held request; its slot frees and requests are served again.
    held.write_all(b"         ").await.expect("writes");
    let mut answer = Vec::new();
    held.read_to_end(&mut answer).await.expect("reads");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
        "the held request is answered: {}",
        String::from_utf8_lossy(&answer)
    );
    let mut served = false;
    for _ in 0..ATTEMPTS_MAX {
        if node.get("/v1/rule-sets", Some(&lab)).await.status == 200 {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served, "once the slot is free, requests are served again");
    node.close().await;
}

#[test]
fn a_full_store_queue_is_503_with_retry_after() {
    let response = ApiError::from(ymt_store::StoreError::Overloaded).into_response();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Errors that a retry cannot cure are not disguised as overload.
    let response = ApiError::from(ymt_store::StoreError::WriterGone).into_response();
    assert_eq!(response.status().as_u16(), 500);
}
