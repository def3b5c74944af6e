//! Slow and greedy clients: a request takes a concurrency slot only once its
//! body has arrived, health probes never wait for a slot, heads, bodies and
//! idle connections time out, and one client address cannot hold every
//! connection.
//!
//! The timeouts are configured at a few hundred milliseconds; the tests wait
//! for the node to close the socket (an end of file), bounded by
//! [`CLOSE_WAIT_BOUND`] so that a node that never closes fails the test
//! instead of hanging it. Nothing here sleeps to make the logic happen.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::{TestNode, check};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use ymt_node::auth::Role;

/// How long a test waits for the node to close a connection before failing.
const CLOSE_WAIT_BOUND: Duration = Duration::from_secs(10);

/// The timeouts configured in these tests.
const SHORT_TIMEOUT_MS: u64 = 300;

fn address_of(node: &TestNode) -> SocketAddr {
    node.base
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// Connects to the node from a given loopback address (127.0.0.0/8 is all
/// loopback on Linux), to play distinct clients.
async fn connect_from(from: &str, node: &TestNode) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    let local: IpAddr = from.parse().expect("an address");
    socket.bind(SocketAddr::new(local, 0)).expect("binds");
    socket.connect(address_of(node)).await.expect("connects")
}

/// Reads until the node closes the connection; returns what it sent, or
/// None when it was still open after [`CLOSE_WAIT_BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(CLOSE_WAIT_BOUND, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

/// The head of a `POST /v1/events` announcing a 10-byte body, and its first
/// byte.
fn half_sent_request(node: &TestNode, key: &str) -> String {
    let host = address_of(node);
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{{"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sending_half_a_body_cannot_take_the_concurrency_slots() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 2).await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from("127.0.0.1", &node).await;
        stream
            .write_all(half_sent_request(&node, &lab).as_bytes())
            .await
            .expect("writes");
        slow.push(stream);
    }
    // Every one of them has reached the node once this connection, opened
    // after them, is served; none holds a slot.
    for label in ["a read behind 20 slow bodies", "and another"] {
        check(label, &node.get("/v1/rule-sets", Some(&lab)).await, 200);
    }
    check("a probe", &node.get("/healthz", None).await, 200);
    drop(slow);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_are_answered_while_every_slot_is_taken() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 1).await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "000000");
    let mut held = node.hold_a_slot(&admin).await;
    node.get_until_shed(&mut held, "/v1/rule-sets", &admin)
        .await;
    check("liveness", &node.get("/healthz", None).await, 200);
    check("readiness", &node.get("/readyz", None).await, 200);
    assert_eq!(held.release().await, 404, "the held request was served");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_head_is_disconnected() {
    let node = TestNode::start_with_config(|config| {
        config.header_read_timeout_ms = SHORT_TIMEOUT_MS;
    })
    .await;
    let mut stream = connect_from("127.0.0.1", &node).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    assert!(
        read_until_closed(&mut stream).await.is_some(),
        "the node closes a connection whose head never ends"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_answered_408_and_disconnected() {
    let node = TestNode::start_with_config(|config| {
        config.body_read_timeout_ms = SHORT_TIMEOUT_MS;
    })
    .await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let mut stream = connect_from("127.0.0.1", &node).await;
    stream
        .write_all(half_sent_request(&node, &lab).as_bytes())
        .await
        .expect("writes");
    let answer = read_until_closed(&mut stream)
        .await
        .expect("the node closes a connection whose body stopped");
    assert!(answer.starts_with("HTTP/1.1 408"), "answered: {answer}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_disconnected() {
    let node = TestNode::start_with_config(|config| {
        config.idle_timeout_ms = SHORT_TIMEOUT_MS;
    })
    .await;
    let mut stream = connect_from("127.0.0.1", &node).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let answer = read_until_closed(&mut stream)
        .await
        .expect("the node closes the connection once it has been idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "answered: {answer}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_cannot_hold_more_than_its_connections() {
    let node = TestNode::start_with_config(|config| config.connections_per_client_max = 4).await;
    let mut greedy = Vec::new();
    for _ in 0..4 {
        greedy.push(connect_from("127.0.0.2", &node).await);
    }
    let mut one_too_many = connect_from("127.0.0.2", &node).await;
    assert_eq!(
        read_until_closed(&mut one_too_many).await.as_deref(),
        Some(""),
        "the fifth connection of one address is closed at once"
    );
    // Another client is served meanwhile.
    check("another client", &node.get("/healthz", None).await, 200);
    // The four that are open still work.
    let first = &mut greedy[0];
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("writes");
    let answer = read_until_closed(first).await.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "answered: {answer}");
    drop(greedy);
    node.close().await;
}
