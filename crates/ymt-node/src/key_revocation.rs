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

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_token::Kid;

use crate::auth::{Principal, Role};
use crate::breaker;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, Proposed};
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
