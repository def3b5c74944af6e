use crate::Conflict;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The writer queue is full; the caller should retry later (HTTP 503
    /// with Retry-After).
    #[error("the store is overloaded: the write queue is full, retry later")]
    Overloaded,
    /// The writer thread has stopped (the store was closed or a fatal engine
    /// error occurred).
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("batch rejected: {len} events, at most {max} are allowed")]
    BatchTooLarge { len: usize, max: usize },
    #[error("batch rejected: it is empty")]
    EmptyBatch,
    #[error("batch rejected: event {index} ({id}) has a payload of {len} bytes, at most {max}")]
    PayloadTooLarge {
        index: usize,
        id: String,
        len: usize,
        max: usize,
    },
    /// At least one id is already stored with different content; nothing of
    /// the batch (nor its audit records) was written.
    #[error("batch rejected: {} event id(s) already stored with different content, first {} at index {}",
        .conflicts.len(),
        .conflicts.first().map(|c| c.id.as_str()).unwrap_or(""),
        .conflicts.first().map(|c| c.index).unwrap_or(0))]
    Conflict { conflicts: Vec<Conflict> },
    #[error("invalid argument {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },
    #[error("{what}: more than {max} results, page the request")]
    TooManyResults { what: &'static str, max: usize },
    /// Stored bytes that do not decode: names the keyspace and key.
    #[error("corrupt record in {keyspace} at key {key}: {reason}")]
    Corrupt {
        keyspace: &'static str,
        key: String,
        reason: String,
    },
    /// The engine commit of a group failed; nothing of the group is
    /// acknowledged. The message is shared by every job of the group.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("storage engine error: {0}")]
    Engine(#[from] fjall::Error),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// True for errors after which a later retry of the same request may
    /// succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Overloaded)
    }
}
