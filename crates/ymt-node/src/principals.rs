//! Creating principals through the API, under the two-person rule: a
//! national administrator or an auditor (created, or a principal replaced
//! with one of these roles) is a held action that a second national
//! administrator of another party approves; other principals are created at
//! once. Every principal records who created it (`created_by`), the lineage
//! the breaker checks when an action is decided.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};
use crate::breaker::propose_with_impact;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, Proposed};
use crate::record::Author;
use crate::state::{BoxFuture, Node, NodeModule};

/// The kind of held action that creates a principal.
pub const KIND_PRINCIPAL: &str = "principal";

/// A principal waiting for approval: the principal as it will be stored
/// (the key only as its hash). Named by the principal's id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrincipalRequest {
    pub id: String,
    pub principal: Principal,
}

/// Whether creating `role` (or replacing a principal with it) needs a
/// second national administrator: the roles that decide held actions or
/// read everything.
pub fn needs_second_admin(role: Role) -> bool {
    matches!(role, Role::NationalAdmin | Role::Auditor)
}

/// Creates `principal` on behalf of `proposer`, or holds it for a second
/// national administrator when it would be (or replace) a national
/// administrator or an auditor.
pub async fn propose(
    node: &Arc<Node>,
    proposer: &Principal,
    principal: Principal,
) -> Result<Proposed, NodeError> {
    let replaced_role = node
        .principals
        .read()
        .get(&principal.id)
        .map(|existing| existing.role);
    let elevated =
        needs_second_admin(principal.role) || replaced_role.is_some_and(needs_second_admin);
    if !elevated {
        node.add_principal_by(&Author::from(proposer), principal)?;
        return Ok(Proposed::Applied {
            applied: Applied::default(),
            impact: Impact::default(),
        });
    }
    if crate::auth::is_reserved_principal_id(&principal.id) {
        return Err(NodeError::invalid(format!(
            "id: {} is reserved for the node's own records",
            principal.id
        )));
    }
    let reason = format!(
        "creating a {} needs a second national_admin",
        principal.role.as_str()
    );
    let request = PrincipalRequest {
        id: principal.id.clone(),
        principal,
    };
    propose_with_impact(
        node,
        proposer,
        HeldAction::new(KIND_PRINCIPAL, &request),
        Some(reason),
        Impact::default(),
    )
    .await
}

/// Principals created through the breaker, as a module of the node.
pub struct PrincipalsModule;

impl NodeModule for PrincipalsModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "principals"
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_PRINCIPAL]
    }

    fn held_impact(
        &self,
        _node: &Node,
        _action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        Ok(Impact::default())
    }

    /// Stores the principal as created by its proposer (who was shown its
    /// key), so the lineage keeps the two apart from then on.
    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let request: PrincipalRequest = action.request_as()?;
            node.add_principal_by(&Author::from(proposer), request.principal)?;
            Ok(Applied::default())
        })
    }
}
