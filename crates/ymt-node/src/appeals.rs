//! Appeals against a color: filed by the person, their guardian or an
//! authority, routed to the authority that can act on the person, and
//! resolved by an authority of that region. Each is a record.

use ymt_core::{Color, PersonId};

use crate::auth::{Principal, Role};
use crate::codes::{APPEAL_TEXT_CHARS_MAX, Appeal, META_APPEALS, Resolution, fill_random};
use crate::error::NodeError;
use crate::model::governing_region;
use crate::record::{Author, Record};
use crate::state::Node;

/// Whether `principal` may see and resolve `appeal`: a national admin, or
/// an authority whose jurisdiction holds the appeal's region.
pub fn visible_to(principal: &Principal, appeal: &Appeal) -> bool {
    principal.role == Role::NationalAdmin
        || appeal
            .region
            .as_ref()
            .is_some_and(|region| principal.may_act_in(region))
}

/// Files an appeal about `pid`, by `filed_by` (a principal id, or
/// `citizen:<pid>` for the person or their guardian), whom the caller has
/// authorized for this person.
pub fn file(node: &Node, filed_by: &str, pid: &PersonId, text: &str) -> Result<Appeal, NodeError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "text: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    crate::error::check_text("text", text)?;
    let now = node.now();
    let mut id_bytes = [0u8; 8];
    fill_random(&mut id_bytes)?;
    let id = format!("ap-{}-{}", now.unix_secs(), hex::encode(id_bytes));
    let color = node
        .projection
        .get(pid)
        .map(|(slot, _)| slot.color())
        .unwrap_or(Color::Green);
    // The appeal goes to the authority of the person's registration, else of
    // the authority managing them, else of where their latest event happened,
    // so an authority that can act on the person can also resolve the appeal.
    let region = match node.person_record(pid)? {
        Some(record) => Some(record.region),
        None => {
            let records = node.person_records(pid)?;
            governing_region(&records).or_else(|| {
                records
                    .iter()
                    .max_by(|a, b| {
                        (a.event.recorded_at, &a.event.id).cmp(&(b.event.recorded_at, &b.event.id))
                    })
                    .map(|record| record.region.clone())
            })
        }
    };
    let appeal = Appeal {
        id,
        pid: pid.clone(),
        region,
        filed_by: filed_by.to_owned(),
        filed_at: now,
        text: text.to_owned(),
        color_at_filing: color,
        resolved: None,
    };
    let author = match node.principals.read().get(filed_by) {
        Some(principal) => Author::from(principal),
        None => Author::citizen(filed_by),
    };
    node.apply(
        &author,
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        &format!("person {pid}"),
    )?;
    Ok(appeal)
}

/// Resolves appeal `id` by `principal` (an authority, as the caller has
/// checked), with a note. An appeal outside the principal's jurisdiction is
/// answered as unknown, but audited as the refusal it is.
pub async fn resolve(
    node: &Node,
    principal: &Principal,
    id: &str,
    note: &str,
) -> Result<Appeal, NodeError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "note: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    crate::error::check_text("note", note)?;
    if id.len() > 64 {
        return Err(NodeError::malformed("appeal id too long"));
    }
    let not_found = || NodeError::not_found("no appeal with this id in your jurisdiction");
    let mut appeal: Appeal = node
        .store
        .meta_get(META_APPEALS, id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(not_found)?;
    if !visible_to(principal, &appeal) {
        node.audit_denied(
            Some(principal),
            "appeal.resolve",
            id,
            "outside jurisdiction",
        )
        .await;
        return Err(not_found());
    }
    if appeal.resolved.is_some() {
        return Err(NodeError::conflict("this appeal is already resolved"));
    }
    appeal.resolved = Some(Resolution {
        by: principal.id.clone(),
        at: node.now(),
        note: note.to_owned(),
    });
    node.apply(
        &Author::from(principal),
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        note,
    )?;
    Ok(appeal)
}
