//! Confirmation of automatic designations: a health authority looks at a
//! designation made by automatic tracing and confirms it, with a note. The
//! confirmation changes no color (the designation already did); it puts a
//! person's name to the machine's decision, is audited, and is shown to the
//! designated person on their timeline. To disagree, the authority retracts
//! the designation instead (an ordinary retraction).

use ymt_core::event::TEXT_LEN_MAX;
use ymt_core::{EventBody, EventId};

use crate::auth::{Principal, Role};
use crate::error::NodeError;
pub use crate::model::Confirmation;
pub use crate::model::META_CONFIRMATIONS;
use crate::record::{Author, Record};
use crate::state::{EventRecord, Node};
use crate::tracing_service::TRACE_AUTHOR;

/// The confirmations of a person's automatic designations, for their
/// timeline.
pub fn confirmations_of(
    state: &Node,
    records: &[EventRecord],
) -> Result<Vec<Confirmation>, NodeError> {
    let mut confirmations = Vec::new();
    for record in records {
        if record.event.author != TRACE_AUTHOR
            || !matches!(record.event.body, EventBody::ContactDesignation(_))
        {
            continue;
        }
        if let Some(bytes) = state
            .store
            .meta_get(META_CONFIRMATIONS, record.event.id.as_str())?
        {
            confirmations.push(
                serde_json::from_slice(&bytes).map_err(|error| {
                    NodeError::internal(format!("stored confirmation: {error}"))
                })?,
            );
        }
    }
    Ok(confirmations)
}

/// Confirms a designation made by automatic tracing, on behalf of a health
/// authority whose jurisdiction holds the designation's region (or a
/// national admin). Each designation is confirmed once; a retracted one
/// cannot be. The confirmation is a record, audited in the same commit.
pub async fn confirm(
    node: &Node,
    principal: &Principal,
    id: &EventId,
    note: String,
) -> Result<Confirmation, NodeError> {
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not confirm designations", principal.role.as_str());
        node.audit_denied(Some(principal), "designation.confirm", id.as_str(), &detail)
            .await;
        return Err(NodeError::forbidden(detail));
    }
    if note.chars().count() > TEXT_LEN_MAX {
        return Err(NodeError::invalid(format!(
            "note: at most {TEXT_LEN_MAX} characters"
        )));
    }
    crate::error::check_text("note", &note)?;
    let stored = node
        .store
        .event_by_id(id)?
        .ok_or_else(|| NodeError::not_found(format!("no event {id} is stored")))?;
    let record: EventRecord = serde_json::from_slice(&stored.payload)
        .map_err(|error| NodeError::internal(format!("stored event {id}: {error}")))?;
    if !matches!(record.event.body, EventBody::ContactDesignation(_))
        || record.event.author != TRACE_AUTHOR
    {
        return Err(NodeError::invalid(format!(
            "{id} is not a designation made by automatic tracing"
        )));
    }
    if !principal.may_act_in(&record.region) {
        let detail = format!(
            "the designation is in region {}, outside {}",
            record.region, principal.jurisdiction
        );
        node.audit_denied(Some(principal), "designation.confirm", id.as_str(), &detail)
            .await;
        return Err(NodeError::forbidden(detail));
    }
    if crate::model::is_retracted(&node.person_records(&record.event.person)?, id) {
        return Err(NodeError::conflict(format!(
            "{id} has been retracted; there is nothing to confirm"
        )));
    }
    // Serialised with pending decisions, so one designation is confirmed
    // once. In a cluster the stream's order does that (a confirmation made
    // at once on another node is refused where it stands), and the lock is
    // not held while this node applies the stream, whose tracing takes it.
    let _decisions = if node.replicates() {
        None
    } else {
        Some(node.tracing.decisions.lock().await)
    };
    if node
        .store
        .meta_get(META_CONFIRMATIONS, id.as_str())?
        .is_some()
    {
        return Err(NodeError::conflict(format!("{id} is already confirmed")));
    }
    let confirmation = Confirmation {
        designation: id.clone(),
        pid: record.event.person.clone(),
        confirmed_by: principal.id.clone(),
        confirmed_at: node.now(),
        note,
    };
    node.apply(
        &Author::from(principal),
        confirmation.confirmed_at,
        Record::DesignationConfirmed {
            confirmation: confirmation.clone(),
        },
        &confirmation.note,
    )?;
    Ok(confirmation)
}
