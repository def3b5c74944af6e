//! Revoking a compromised code-signing key, as a four-eyes action.
//!
//! A national administrator proposes the revocation; it is always held by
//! the breaker until a second national administrator approves it (a stolen
//! key is an emergency, but so is an administrator revoking the node's keys
//! on their own: verifiers would refuse every code). At approval the key
//! store marks the key revoked (durable, fsynced), the node rotates to a new
//! signing key when the revoked one signed, drops its cached codes, and
//! serves a new trust list (higher serial) marking the key revoked.
//! Verifiers refresh the list on a bounded interval (`ymt-token`'s
//! `TrustListCache`, the verifier page) and refuse the key's codes then.
//!
//! In a cluster the proposal, approval and rejection are ordered commands
//! (`replication_commands.rs`): every node applying the approval from the
//! stream revokes the kid in its own key store (durably, before the
//! approval is recorded; idempotent), and a node whose signing key it was
//! generates a new key of its own and announces its public key in a
//! `signing_key_announced` record, which every node adds to the keys its
//! trust list names ([`add_announced_key_in_order`]). No private key ever
//! leaves its node.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::Timestamp;
use ymt_token::Kid;

use crate::auth::{Principal, Role};
use crate::breaker;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, Proposed};
use crate::record::{AnnouncedKey, Author, META_SIGNING_KEYS, Record, RecordEnvelope};
use crate::state::{BoxFuture, Node, NodeModule};

/// The kind of held action that revokes a key.
pub const KIND_KEY_REVOCATION: &str = "key_revocation";
/// Characters of a revocation's reason.
pub const REVOCATION_REASON_CHARS_MAX: usize = 500;

/// A proposal to revoke a key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyRevocationRequest {
    /// The kid (hex) of the key to revoke, as in the trust list.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(?:[0-9a-fA-F]{2}){1,32}$"))]
    pub kid: String,
    /// Why (e.g. how the compromise was found).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 500,
            pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
        )
    )]
    pub reason: String,
}

/// What is held: the request, named by its kid.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct HeldRevocation {
    id: String,
    kid: String,
    reason: String,
}

/// Proposes revoking a key; it always waits for a second national
/// administrator.
pub async fn propose(
    node: &Arc<Node>,
    principal: &Principal,
    request: KeyRevocationRequest,
) -> Result<Proposed, NodeError> {
    if principal.role != Role::NationalAdmin {
        let detail = format!(
            "a {} may not revoke signing keys; a national_admin must",
            principal.role.as_str()
        );
        node.audit_denied(Some(principal), "key.revoke", &request.kid, &detail)
            .await;
        return Err(NodeError::forbidden(detail));
    }
    let kid = Kid::parse_hex(request.kid.trim())
        .map_err(|error| NodeError::invalid(format!("kid: {error}")))?;
    let reason = ymt_core::text::PlainText::parse(request.reason.trim())
        .map_err(|error| NodeError::invalid(format!("reason: {error}")))?;
    if reason.as_str().is_empty() || reason.as_str().chars().count() > REVOCATION_REASON_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "reason: 1 to {REVOCATION_REASON_CHARS_MAX} characters"
        )));
    }
    match node.codes.key_state(&kid) {
        None => {
            return Err(NodeError::not_found(format!(
                "no signing key {} in this node's key store",
                kid.to_hex()
            )));
        }
        Some(true) => {
            return Err(NodeError::conflict(format!(
                "key {} is already revoked",
                kid.to_hex()
            )));
        }
        Some(false) => {}
    }
    let held = HeldRevocation {
        id: kid.to_hex(),
        kid: kid.to_hex(),
        reason: reason.into_string(),
    };
    breaker::propose(
        node,
        principal,
        HeldAction::new(KIND_KEY_REVOCATION, &held),
        Some("revoking a signing key needs a second national_admin".into()),
    )
    .await
}

/// Key revocation as a module of the node: the breaker holds it, and this
/// module puts it into force at approval.
pub struct KeyRevocationModule;

impl NodeModule for KeyRevocationModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "key-revocation"
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[META_SIGNING_KEYS]
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_KEY_REVOCATION]
    }

    /// No color changes: the codes are re-issued, with the same colors.
    fn held_impact(
        &self,
        _node: &Node,
        _action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        Ok(Impact::default())
    }

    /// In a cluster, at the approval's place in the stream: the kid is
    /// revoked in this node's key store before the approval is recorded
    /// (and again, changing nothing, if the node stops in between).
    fn held_approval_in_order(
        &self,
        node: &Node,
        action: &HeldAction,
        at: Timestamp,
    ) -> Result<Option<(Record, String)>, NodeError> {
        let held: HeldRevocation = action.request_as()?;
        let kid = Kid::parse_hex(&held.kid)
            .map_err(|error| NodeError::conflict(format!("held kid: {error}")))?;
        node.codes.revoke_key_in_order(&kid, at)?;
        Ok(None)
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        _proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let held: HeldRevocation = action.request_as()?;
            let kid = Kid::parse_hex(&held.kid)
                .map_err(|error| NodeError::internal(format!("held kid: {error}")))?;
            let worker = node.clone();
            let now = node.now();
            // Key-store writes and fsyncs: off the async workers.
            tokio::task::spawn_blocking(move || worker.codes.revoke_key(&kid, now))
                .await
                .map_err(|_| NodeError::internal("revoking the key panicked"))??;
            Ok(Applied::default())
        })
    }
}

/// Applies a `signing_key_announced` record where it stands in the stream:
/// only a node announces a key (never a principal), the kid must be the
/// public key's, and the key is added to this node's key store (durably,
/// before the record is committed; idempotent). A kid this node already
/// knows, revoked or not, changes nothing, so no announcement un-revokes a
/// key.
pub(crate) fn add_announced_key_in_order(
    node: &Node,
    envelope: &RecordEnvelope,
    key: &AnnouncedKey,
) -> Result<(), NodeError> {
    let author = envelope.author();
    if author.id != "node" || author.role != "node" {
        return Err(NodeError::forbidden(format!(
            "{} ({}) may not announce a signing key; only a node announces its own",
            author.id, author.role
        )));
    }
    let verifying_key = verifying_key_of(key)?;
    // A kid held changes nothing; one remembered as revoked is added
    // revoked (`KeyStore::add_public`).
    node.codes
        .add_announced_key(&verifying_key, &key.issuer, key.created_at, envelope.at)?;
    Ok(())
}

fn verifying_key_of(key: &AnnouncedKey) -> Result<ymt_token::VerifyingKey, NodeError> {
    use base64::Engine as _;
    let algorithm = ymt_token::Algorithm::parse(&key.algorithm)
        .map_err(|error| NodeError::invalid(format!("algorithm: {error}")))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&key.public_key)
        .map_err(|error| NodeError::invalid(format!("public_key: {error}")))?;
    let verifying_key = ymt_token::VerifyingKey::from_public_bytes(algorithm, &bytes)
        .map_err(|error| NodeError::invalid(format!("public_key: {error}")))?;
    if verifying_key.kid().to_hex() != key.kid {
        return Err(NodeError::invalid(format!(
            "kid {} is not the kid of the public key announced",
            key.kid
        )));
    }
    Ok(verifying_key)
}

/// In a cluster, announces this node's signing key when the others may not
/// know it: it signs with a key it generated itself (its store holds a key
/// it replaced: revoked, or retired by `yimatong keys rotate` while the
/// node was stopped) and no announcement of it was applied yet. The keys
/// of a cluster's first start are shared by copying (README, "Run a
/// cluster") and not announced. Blocks until the announcement is applied
/// from the stream. Whether it announced.
pub fn announce_signing_key(node: &Node) -> Result<bool, NodeError> {
    if !node.replicates() {
        return Ok(false);
    }
    let (verifying_key, created_at, replaced_another) = node.codes.signing_key_public()?;
    let kid = verifying_key.kid().to_hex();
    if !replaced_another || node.store.meta_get(META_SIGNING_KEYS, &kid)?.is_some() {
        return Ok(false);
    }
    use base64::Engine as _;
    let key = AnnouncedKey {
        kid: kid.clone(),
        algorithm: verifying_key.algorithm().as_str().to_owned(),
        issuer: crate::codes::CODE_ISSUER_ID.to_owned(),
        public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(verifying_key.public_bytes()),
        created_at,
    };
    node.apply(
        &Author::node(),
        node.now(),
        Record::SigningKeyAnnounced { key },
        &format!("the signing key {kid} of a node"),
    )?;
    Ok(true)
}

/// In a cluster, announces the node's signing key at start (after a crash
/// between a revocation and its announcement) and whenever the node
/// rotates to a key of its own; a failure is retried.
pub async fn announce_signing_keys(node: Arc<Node>) {
    loop {
        match announce_signing_key(&node) {
            Ok(_) => node.codes.signing_key_changed.notified().await,
            Err(error) => {
                tracing::warn!("announcing the signing key failed, retrying: {error}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
