//! Cross-origin calls from the other nodes' pages (issue 11 item 8, clients
//! fail over): a verifier page loaded from node A keeps working through node
//! B when A cannot answer, so B answers A's origin.
//!
//! Only origins configured with `serve --peer-url` are answered, and never
//! with credentials: a browser sends no cookie on these calls and reads no
//! answer that needed one, so a citizen's or staff member's session on this
//! node is out of a peer page's reach. What a peer page can do is what any
//! client holding a bearer key (a door device's) can already do.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::extract::SharedState;

/// Headers a failing-over page sends: a device's key and a JSON body.
const ALLOWED_REQUEST_HEADERS: &str = "authorization, content-type";
/// Headers a page may read across origins: the staleness of the answer and
/// when to retry.
const EXPOSED_RESPONSE_HEADERS: &str = "retry-after, ymt-log-position, ymt-replication-lag-ms";
/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The `Origin` of a request when it is one of the configured peers.
fn peer_origin(state: &SharedState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    state
        .config
        .peer_urls
        .iter()
        .any(|peer| peer.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

pub(crate) async fn answer_peer_origins(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(origin) = peer_origin(&state, request.headers()) else {
        let mut response = next.run(request).await;
        if !state.config.peer_urls.is_empty() {
            // Answers differ by origin: a shared cache must key on it.
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("origin"));
        }
        return response;
    };
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if is_preflight {
        let mut response = (StatusCode::NO_CONTENT, Body::empty()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_REQUEST_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_RESPONSE_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
