//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use ymt_node::{ErrorKind, NodeError};

/// One error of an endpoint, with its HTTP status. Every endpoint maps its
/// failures into this, so every error body has the same shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short, stable slug: `bad-request`, `forbidden`, `overloaded`…
    pub kind: &'static str,
    pub detail: String,
    pub retry_after_secs: Option<u32>,
    /// Per-item errors of a batch, by index.
    pub errors: Vec<ItemError>,
}

pub use ymt_node::ItemError;

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    problem_type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[ItemError]>::is_empty")]
    errors: &'a [ItemError],
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            retry_after_secs: None,
            errors: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-content", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    pub fn overloaded(detail: impl Into<String>) -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail)
        }
    }

    pub fn too_many_requests(detail: impl Into<String>) -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail)
        }
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    pub fn with_errors(mut self, errors: Vec<ItemError>) -> ApiError {
        self.errors = errors;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("error");
        let body = ProblemBody {
            problem_type: format!("https://yimatong.invalid/problems/{}", self.kind),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ymt_store::StoreError> for ApiError {
    fn from(error: ymt_store::StoreError) -> ApiError {
        ApiError::from(NodeError::from(error))
    }
}

/// The one place where a domain error becomes an HTTP status.
impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> ApiError {
        let (status, kind) = match error.kind {
            ErrorKind::Malformed => (StatusCode::BAD_REQUEST, "bad-request"),
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-content"),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            kind,
            detail: error.detail,
            retry_after_secs: error.retry_after_secs,
            errors: error.errors,
        }
    }
}
