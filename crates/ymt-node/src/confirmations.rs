//! Confirmation of automatic designations: a health authority looks at a
//! designation made by automatic tracing and confirms it, with a note. The
//! confirmation changes no color (the designation already did); it puts a
//! person's name to the machine's decision, is audited, and is shown to the
//! designated person on their timeline. To disagree, the authority retracts
//! the designation instead (an ordinary retraction).

use ymt_core::EventBody;

use crate::error::NodeError;
pub use crate::model::Confirmation;
pub use crate::model::META_CONFIRMATIONS;
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
