//! The node-to-node API of anti-entropy (issue 11 item 6): what a node
//! holds of each origin's numbered records, and those records, for a peer
//! that misses some. Only the cluster's nodes may call it: they present the
//! node credential derived from the secret they share
//! (`Ymt-Node-Credential`). No principal has the permission
//! (`Permission::ReplicateRecords` names no role), so a staff key or a
//! console session is refused 403 and audited; anyone else 401.

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

/// The header a node presents its credential in.
pub const NODE_CREDENTIAL_HEADER: &str = "ymt-node-credential";

/// Passes a peer node; refuses anyone else (see the module's comment).
async fn require_node(state: &SharedState, mut parts: Parts, target: &str) -> Result<(), ApiError> {
    let presented = parts
        .headers
        .get(NODE_CREDENTIAL_HEADER)
        .and_then(|value| value.to_str().ok());
    if presented.is_some_and(|credential| state.is_node_credential(credential)) {
        return Ok(());
    }
    if presented.is_some() {
        state
            .audit_denied(None, "replication.read", target, "a wrong node credential")
            .await;
        return Err(ApiError::unauthorized(
            "the node credential is not this cluster's",
        ));
    }
    let Authed(principal) =
        <Authed as axum::extract::FromRequestParts<SharedState>>::from_request_parts(
            &mut parts, state,
        )
        .await?;
    require(
        state,
        &principal,
        Permission::ReplicateRecords,
        None,
        target,
    )
    .await
}

/// What a node holds of each origin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OriginsHeld {
    /// This node's own origin id (its process's), if it is in a cluster.
    origin: Option<String>,
    /// Per origin: `origin`, `prefix` (every number up to it held),
    /// `held_max` (the highest held), `missing` (known and not held).
    #[schema(value_type = Vec<Object>)]
    origins: Vec<ymt_node::origins::OriginSummary>,
    /// The hash chain of the ordered commands this node applied: `count`
    /// and `hash` (`command_chain.rs`).
    #[schema(value_type = Object)]
    commands: ymt_node::command_chain::ChainPoint,
    /// The chain after `commands_at` commands, when asked and this node
    /// applied that many.
    #[schema(value_type = Option<Object>)]
    commands_at: Option<ymt_node::command_chain::ChainPoint>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginsQuery {
    /// The asking node's count of ordered commands: this node answers its
    /// own chain at that count too.
    commands_at: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/replication/origins",
    tag = "cluster",
    summary = "Node to node: what this node holds of each origin's numbered records, and its chain of ordered commands",
    security(("node" = [])),
    params(OriginsQuery),
    responses(
        (status = 200, description = "Per origin, the contiguous prefix held and the highest number held; the hash chain of the ordered commands applied (at `commands_at` too, when asked)", body = OriginsHeld),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn origins(
    State(state): State<SharedState>,
    ApiQuery(query): ApiQuery<OriginsQuery>,
    parts: Parts,
) -> Result<Response, ApiError> {
    require_node(&state, parts, "origins").await?;
    let commands = state.replication.commands.head();
    let commands_at = match query.commands_at {
        Some(count) => state.command_chain_at(count)?,
        None => None,
    };
    Ok(axum::Json(OriginsHeld {
        origin: state.replication.origins.origin().map(str::to_owned),
        origins: state.origin_summaries(),
        commands,
        commands_at,
    })
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsQuery {
    /// Records numbered after this one.
    #[serde(default)]
    after: u64,
    /// At most this many (1 to 256; 256 when absent).
    limit: Option<usize>,
}

/// Numbered records of one origin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OriginRecords {
    /// `RecordEnvelope`s as the stream carries them (docs/log.md), each with
    /// its `origin` stamp, in order of number.
    #[schema(value_type = Vec<Object>)]
    records: Vec<ymt_node::record::RecordEnvelope>,
}

#[utoipa::path(
    get,
    path = "/v1/replication/origins/{origin}/records",
    tag = "cluster",
    summary = "Node to node: an origin's numbered records this node holds, after a number",
    security(("node" = [])),
    params(
        ("origin" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The origin id"),
        RecordsQuery,
    ),
    responses(
        (status = 200, description = "Up to `limit` records (and 8 MiB) numbered after `after`, those this node holds, in order", body = OriginRecords),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn origin_records(
    State(state): State<SharedState>,
    ApiPath(origin): ApiPath<String>,
    ApiQuery(query): ApiQuery<RecordsQuery>,
    parts: Parts,
) -> Result<Response, ApiError> {
    require_node(&state, parts, &origin).await?;
    if origin.is_empty()
        || origin.len() > 64
        || !origin
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(ApiError::bad_request(
            "origin: 1 to 64 letters, digits, - or _",
        ));
    }
    let records = state.origin_records_after(
        &origin,
        query.after,
        query
            .limit
            .unwrap_or(ymt_node::origins::ORIGIN_RECORDS_PER_FETCH_MAX),
    )?;
    Ok(axum::Json(OriginRecords { records }).into_response())
}

/// How much of a file a snapshot stream reads at once.
const SNAPSHOT_CHUNK_BYTES: usize = 64 * 1024;

#[utoipa::path(
    get,
    path = "/v1/replication/snapshot",
    tag = "cluster",
    summary = "Node to node: a consistent backup of this node, for a new node to start from",
    description = "A backup taken online (as `yimatong backup`), sent as one stream of parts \
                   (docs/log.md, \"Bootstrapping a node from a peer\"): the manifest, the store, \
                   the data directory's files (the pseudonymisation secret and signing keys \
                   included, which every node of the cluster holds already), then an end line. \
                   One at a time; audited.",
    security(("node" = [])),
    responses(
        (status = 200, description = "The snapshot stream", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Overloaded),
    )
)]
pub(crate) async fn snapshot(
    State(state): State<SharedState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    require_node(&state, parts, "snapshot").await?;
    let node = state.clone();
    let backup = tokio::task::spawn_blocking(move || node.backup_for_peer())
        .await
        .map_err(|_| ApiError::internal("taking the snapshot panicked"))?
        .map_err(|error| match error {
            ymt_node::backup::BackupError::Busy(why) => ApiError::overloaded(why),
            other => ApiError::internal(format!("taking the snapshot: {other}")),
        })?;
    state.audit_read(
        &ymt_node::auth::system_principal("system"),
        "replication.snapshot",
        "a peer node",
    )?;
    let parts: std::collections::VecDeque<(String, std::path::PathBuf, u64)> =
        backup.parts.iter().cloned().collect();
    // The stream owns the backup: its directory is removed when the stream
    // ends or the peer goes away.
    let stream = futures_util::stream::unfold(
        (parts, None, Some(backup)),
        |(mut parts, mut file, backup)| async move {
            use tokio::io::AsyncReadExt;
            backup.as_ref()?;
            loop {
                if let Some((reader, remaining)) = &mut file {
                    let reader: &mut tokio::fs::File = reader;
                    let remaining: &mut u64 = remaining;
                    if *remaining == 0 {
                        file = None;
                        continue;
                    }
                    let want = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(SNAPSHOT_CHUNK_BYTES);
                    let mut buffer = vec![0u8; want];
                    return match reader.read(&mut buffer).await {
                        Ok(0) => Some((
                            Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "a snapshot file is shorter than its manifest says",
                            )),
                            (parts, None, None),
                        )),
                        Ok(read) => {
                            buffer.truncate(read);
                            *remaining -= read as u64;
                            Some((Ok(buffer), (parts, file, backup)))
                        }
                        Err(error) => Some((Err(error), (parts, None, None))),
                    };
                }
                return match parts.pop_front() {
                    Some((name, path, bytes)) => match tokio::fs::File::open(&path).await {
                        Ok(opened) => Some((
                            Ok(ymt_node::peer_snapshot::header_line(&name, bytes)),
                            (parts, Some((opened, bytes)), backup),
                        )),
                        Err(error) => Some((Err(error), (parts, None, None))),
                    },
                    None => Some((
                        Ok(ymt_node::peer_snapshot::END_LINE.to_vec()),
                        (parts, None, None),
                    )),
                };
            }
        },
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
