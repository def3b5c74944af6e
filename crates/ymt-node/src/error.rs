//! What can go wrong in a command of the node, in domain terms.
//!
//! The node knows nothing of HTTP: `ymt-http` maps each [`ErrorKind`] to a
//! status and a problem+json body. The kind is what a caller can act on
//! (fix the input, ask someone else, retry later); the detail says exactly
//! what was wrong, naming the field, the person or the rule.

use serde::Serialize;

/// Why a command was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is not well-formed: malformed JSON, an unparsable id.
    Malformed,
    /// Well-formed, but it breaks a rule of the domain: an event that fails
    /// validation, a rule set that fails its publish-time checks.
    Invalid,
    /// The caller could not be identified (no key, a wrong one-time code).
    Unauthenticated,
    /// The caller is known but may not do this: role or jurisdiction.
    Forbidden,
    /// What the command names does not exist.
    NotFound,
    /// It contradicts what is stored: an id already used for other content,
    /// a version no longer newer, an action already decided.
    Conflict,
    /// Beyond a size limit: a batch, a body, a preview population.
    TooLarge,
    /// One caller is going too fast; retry later.
    RateLimited,
    /// The node sheds load (a queue or limit is full) or a service it needs
    /// is off; retry later. Nothing was changed.
    Unavailable,
    /// A fault of the node itself (the store stopped, a worker panicked).
    Internal,
}

/// One refused item of a batch, by its index in the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    pub index: usize,
    pub detail: String,
}

/// The error of every node command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct NodeError {
    pub kind: ErrorKind,
    pub detail: String,
    /// For [`ErrorKind::Unavailable`] and [`ErrorKind::RateLimited`]: when
    /// a retry may succeed.
    pub retry_after_secs: Option<u32>,
    /// Per-item errors of a batch.
    pub errors: Vec<ItemError>,
}

/// Refuses free text from a client holding a control character (NUL
/// included) or a bidirectional control, naming the field
/// ([`ymt_core::text::PlainText`]).
pub fn check_text(field: &str, text: &str) -> Result<(), NodeError> {
    ymt_core::text::check(text).map_err(|error| NodeError::invalid(format!("{field}: {error}")))
}

impl NodeError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> NodeError {
        let retry_after_secs =
            matches!(kind, ErrorKind::Unavailable | ErrorKind::RateLimited).then_some(1);
        NodeError {
            kind,
            detail: detail.into(),
            retry_after_secs,
            errors: Vec::new(),
        }
    }

    pub fn malformed(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Malformed, detail)
    }

    pub fn invalid(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Invalid, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Unauthenticated, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Forbidden, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::NotFound, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Conflict, detail)
    }

    pub fn too_large(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::TooLarge, detail)
    }

    pub fn rate_limited(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::RateLimited, detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Unavailable, detail)
    }

    pub fn internal(detail: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Internal, detail)
    }

    pub fn with_errors(mut self, errors: Vec<ItemError>) -> NodeError {
        self.errors = errors;
        self
    }
}

impl From<ymt_store::StoreError> for NodeError {
    fn from(error: ymt_store::StoreError) -> NodeError {
        use ymt_store::StoreError as E;
        match &error {
            _ if error.is_retryable() => {
                NodeError::unavailable(format!("storage is busy: {error}"))
            }
            // The input's fault, caught by the store's own checks: refused,
            // nothing stored.
            E::Conflict { .. } => NodeError::conflict(format!("refused, nothing stored: {error}")),
            E::BatchTooLarge { .. } | E::PayloadTooLarge { .. } | E::TooManyResults { .. } => {
                NodeError::too_large(format!("refused, nothing stored: {error}"))
            }
            E::EmptyBatch | E::InvalidArgument { .. } => {
                NodeError::invalid(format!("refused, nothing stored: {error}"))
            }
            _ => NodeError::internal(format!("storage error: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ymt_store::StoreError;

    fn check(error: StoreError, expect: ErrorKind) {
        assert_eq!(NodeError::from(error).kind, expect);
    }

    #[test]
    fn store_errors_say_whose_fault_they_are() {
        check(StoreError::Overloaded, ErrorKind::Unavailable);
        check(StoreError::EmptyBatch, ErrorKind::Invalid);
        check(
            StoreError::InvalidArgument {
                what: "batch",
                reason: "id e1 twice with different content".into(),
            },
            ErrorKind::Invalid,
        );
        check(
            StoreError::BatchTooLarge { len: 2, max: 1 },
            ErrorKind::TooLarge,
        );
        check(
            StoreError::Conflict {
                conflicts: Vec::new(),
            },
            ErrorKind::Conflict,
        );
        check(StoreError::WriterGone, ErrorKind::Internal);
    }
}
