//! Helpers of the ordered-command process tests (cluster_commands.rs,
//! cluster_keys.rs): requests to one node with a bearer key, and waiting
//! for a state every node reaches.

use serde_json::{Value, json};

use super::cluster::{CONVERGES_WITHIN, TestCluster};

/// Generous: only a cluster that never acknowledges reaches it (see
/// cluster.rs, `COMMAND_ACK_TIMEOUT_MS`).
pub const PERSON_ACK_TIMEOUT_MS: u64 = 30_000;

pub async fn person_send(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the node answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn person_post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    person_send(client, reqwest::Method::POST, base, key, path, Some(body)).await
}

pub async fn person_get(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
) -> (u16, Value) {
    person_send(client, reqwest::Method::GET, base, key, path, None).await
}

/// Polls `probe` until it gives a value; fails the test past
/// [`CONVERGES_WITHIN`] naming `what`.
pub async fn person_wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never converged: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Registers a person (passport `number`) through `base` by the 440305
/// authority; their pid.
pub async fn person_register(
    client: &reqwest::Client,
    cluster: &TestCluster,
    base: &str,
    number: &str,
    extra: Value,
) -> (u16, Value) {
    let mut body = json!({"id_type": "passport", "id_number": number,
                          "display_name": "张三", "region": "440305"});
    for (name, value) in extra.as_object().expect("an object") {
        body[name] = value.clone();
    }
    person_post(client, base, &cluster.authority_key, "/v1/persons", &body).await
}
