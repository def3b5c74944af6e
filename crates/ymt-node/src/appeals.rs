//! Appeals against a color: filed by the person, their guardian or an
//! authority, routed to the authority that can act on the person, and
//! resolved by an authority of that region. Each is a record.
//!
//! Against floods: a person has at most `open_appeals_per_person_max` open
//! appeals (429 past it), and an appeal with the same grounds as an open one
//! of the same person (the same text, whitespace aside, against the same
//! color) is not filed again: the open one is returned. Listings are paged
//! with a cursor over an in-memory index of every appeal (`AppealIndex`),
//! loaded from the store on first use, so neither filing nor listing reads
//! every appeal.

use std::hash::{Hash, Hasher};

use ymt_core::{Color, PersonId, RegionCode};

use crate::auth::{Principal, Role};
use crate::codes::{
    APPEAL_TEXT_CHARS_MAX, APPEALS_PAGE_MAX, Appeal, AppealEntry, AppealIndex, META_APPEALS,
    Resolution, fill_random,
};
use crate::error::NodeError;
use crate::model::governing_region;
use crate::record::{Author, Record};
use crate::state::Node;

/// Whether `principal` may see and resolve `appeal`: a national admin, or
/// an authority whose jurisdiction holds the appeal's region.
pub fn visible_to(principal: &Principal, appeal: &Appeal) -> bool {
    visible_in_region(principal, appeal.region.as_ref())
}

/// Whether `principal` may see appeals routed to `region`.
pub fn visible_in_region(principal: &Principal, region: Option<&RegionCode>) -> bool {
    principal.role == Role::NationalAdmin
        || region.is_some_and(|region| principal.may_act_in(region))
}

/// What is filed: a new appeal, or the open one with the same grounds.
pub enum Filed {
    New(Appeal),
    Duplicate(Appeal),
}

/// The text as compared for duplicates: trimmed, runs of whitespace as one
/// space.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn grounds_hash(text: &str, color: Color) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    normalized(text).hash(&mut hasher);
    color.hash(&mut hasher);
    hasher.finish()
}

fn entry_of(appeal: &Appeal) -> AppealEntry {
    AppealEntry {
        id: appeal.id.clone(),
        pid: appeal.pid.clone(),
        region: appeal.region.clone(),
        filed_at: appeal.filed_at,
        open: appeal.resolved.is_none(),
        grounds_hash: grounds_hash(&appeal.text, appeal.color_at_filing),
    }
}

fn stored_appeal(node: &Node, id: &str) -> Result<Option<Appeal>, NodeError> {
    Ok(node
        .store
        .meta_get(META_APPEALS, id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Runs `f` on the appeal index, loading it from the store first if this is
/// its first use (the one time the lock is held over a read of the store).
fn with_index<R>(node: &Node, f: impl FnOnce(&mut AppealIndex) -> R) -> Result<R, NodeError> {
    let mut guard = node.codes.appeal_index.lock();
    if guard.is_none() {
        let mut index = AppealIndex::default();
        for (_, bytes) in node.store.meta_list(META_APPEALS)? {
            if let Ok(appeal) = serde_json::from_slice::<Appeal>(&bytes) {
                index.insert(entry_of(&appeal));
            }
        }
        *guard = Some(index);
    }
    Ok(f(guard.as_mut().expect("loaded above")))
}

/// Notes an appeal just made durable in the index, if the index is loaded
/// (else it is loaded from the store, which holds it, on first use): on the
/// node that filed or resolved it and on every node applying its record.
pub(crate) fn note_applied(node: &Node, appeal: &Appeal) {
    if let Some(index) = node.codes.appeal_index.lock().as_mut() {
        index.insert(entry_of(appeal));
    }
}

/// A stored open appeal of the appeal's person with the same grounds (the
/// same text, whitespace aside, against the same color), other than itself.
fn open_with_same_grounds(node: &Node, appeal: &Appeal) -> Result<Option<Appeal>, NodeError> {
    let hash = grounds_hash(&appeal.text, appeal.color_at_filing);
    let candidates: Vec<String> = with_index(node, |index| {
        index
            .of_person(&appeal.pid)
            .filter(|other| other.grounds_hash == hash && other.id != appeal.id)
            .map(|other| other.id.clone())
            .collect()
    })?;
    for id in candidates {
        // Only what is stored counts: the index also holds the places
        // this node reserved for filings not applied yet.
        if let Some(other) = stored_appeal(node, &id)?
            && other.resolved.is_none()
            && normalized(&other.text) == normalized(&appeal.text)
            && other.color_at_filing == appeal.color_at_filing
        {
            return Ok(Some(other));
        }
    }
    Ok(None)
}

/// In a cluster, at an appeal record's place in the stream (checked against
/// the appeals stored so far, a function of the stream; no clock): a filing
/// is refused when the person has an open appeal with the same grounds (two
/// filed at once on two nodes: the later one), or when its id holds another
/// appeal; a resolution when the appeal is unknown or already resolved
/// (resolved twice at once: the later one).
pub(crate) fn check_in_order(node: &Node, appeal: &Appeal) -> Result<(), NodeError> {
    let stored = stored_appeal(node, &appeal.id)?;
    if appeal.resolved.is_none() {
        if let Some(stored) = stored {
            return if stored.resolved.is_none() && stored.text == appeal.text {
                Ok(())
            } else {
                Err(NodeError::conflict(format!(
                    "appeal {} exists already",
                    appeal.id
                )))
            };
        }
        if let Some(other) = open_with_same_grounds(node, appeal)? {
            return Err(NodeError::conflict(format!(
                "{DUPLICATE_OF}{} (an open appeal of the person with the same grounds)",
                other.id
            )));
        }
        return Ok(());
    }
    match stored {
        None => Err(NodeError::conflict(format!("no appeal {}", appeal.id))),
        Some(stored) if stored.resolved.is_some() => {
            Err(NodeError::conflict("this appeal is already resolved"))
        }
        Some(_) => Ok(()),
    }
}

/// How a filing refused in stream order as a duplicate begins its reason.
const DUPLICATE_OF: &str = "duplicate of appeal ";

/// A position in a listing: after the appeal with this order key. Written
/// `<0 open|1 resolved>.<filed_at unix secs>.<id>`.
pub fn cursor_of(entry: &AppealEntry) -> String {
    format!(
        "{}.{}.{}",
        u8::from(!entry.open),
        entry.filed_at.unix_secs(),
        entry.id
    )
}

fn parse_cursor(cursor: &str) -> Result<(bool, std::cmp::Reverse<i64>, String), NodeError> {
    let malformed = || NodeError::malformed("cursor: not one this node handed out");
    let mut parts = cursor.splitn(3, '.');
    let resolved = match parts.next() {
        Some("0") => false,
        Some("1") => true,
        _ => return Err(malformed()),
    };
    let filed_at: i64 = parts
        .next()
        .and_then(|secs| secs.parse().ok())
        .ok_or_else(malformed)?;
    let id = parts
        .next()
        .filter(|id| id.len() <= 64)
        .ok_or_else(malformed)?;
    Ok((resolved, std::cmp::Reverse(filed_at), id.to_owned()))
}

/// One page of the appeals `visible` admits, open first then newest first,
/// starting after `cursor`; with the cursor of the next page when there is
/// one.
pub fn list_page(
    node: &Node,
    visible: impl Fn(&AppealEntry) -> bool,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Appeal>, Option<String>), NodeError> {
    let limit = limit.clamp(1, APPEALS_PAGE_MAX);
    let after = cursor.map(parse_cursor).transpose()?;
    let mut page: Vec<AppealEntry> = with_index(node, |index| {
        let mut entries: Vec<&AppealEntry> = index
            .by_id
            .values()
            .filter(|entry| visible(entry))
            .filter(|entry| {
                after.as_ref().is_none_or(|(resolved, filed_at, id)| {
                    entry.order_key() > (*resolved, *filed_at, id.as_str())
                })
            })
            .collect();
        entries.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        entries.into_iter().take(limit + 1).cloned().collect()
    })?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().map(cursor_of)).flatten();
    let mut appeals = Vec::with_capacity(page.len());
    for entry in &page {
        if let Some(appeal) = stored_appeal(node, &entry.id)? {
            appeals.push(appeal);
        }
    }
    Ok((appeals, next))
}

/// Files an appeal about `pid`, by `filed_by` (a principal id, or
/// `citizen:<pid>` for the person or their guardian), whom the caller has
/// authorized for this person. An open appeal of the person with the same
/// grounds is returned instead of filing another; past the person's limit of
/// open appeals the filing is refused (429).
pub fn file(node: &Node, filed_by: &str, pid: &PersonId, text: &str) -> Result<Filed, NodeError> {
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
        filed_at: now,
        filed_by: filed_by.to_owned(),
        text: text.to_owned(),
        color_at_filing: color,
        resolved: None,
    };
    let entry = entry_of(&appeal);
    // Check and reserve the place in one step, so that two filings at once
    // cannot both pass the limit; the reservation is taken back if the
    // record is not stored.
    let open_max = node.config.open_appeals_per_person_max.max(1);
    let same_grounds = with_index(node, |index| {
        let open: Vec<(String, u64)> = index
            .of_person(pid)
            .filter(|other| other.open)
            .map(|other| (other.id.clone(), other.grounds_hash))
            .collect();
        let same: Vec<String> = open
            .iter()
            .filter(|(_, hash)| *hash == entry.grounds_hash)
            .map(|(id, _)| id.clone())
            .collect();
        if same.is_empty() && open.len() < open_max {
            index.insert(entry.clone());
        }
        (same, open.len())
    })?;
    let (same_grounds, open_count) = same_grounds;
    for other in &same_grounds {
        if let Some(existing) = stored_appeal(node, other)?
            && existing.resolved.is_none()
            && normalized(&existing.text) == normalized(text)
            && existing.color_at_filing == color
        {
            return Ok(Filed::Duplicate(existing));
        }
    }
    if !same_grounds.is_empty() || open_count >= open_max {
        // A hash collision with other grounds (not reserved above) files
        // like any other appeal, within the limit.
        let reserved = with_index(node, |index| {
            let open = index.of_person(pid).filter(|other| other.open).count();
            let fits = open < open_max;
            if fits {
                index.insert(entry.clone());
            }
            fits
        })?;
        if !reserved {
            let mut error = NodeError::rate_limited(format!(
                "this person already has {open_max} open appeals; another can be filed once one is resolved"
            ));
            error.retry_after_secs = Some(3600);
            return Err(error);
        }
    }
    let author = match node.principals.read().get(filed_by) {
        Some(principal) => Author::from(principal),
        None => Author::citizen(filed_by),
    };
    let applied = node.apply(
        &author,
        appeal.filed_at,
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        &format!("person {pid}"),
    );
    if let Err(error) = applied {
        with_index(node, |index| index.remove(&entry.id))?;
        // In a cluster: the same grounds were filed on another node first
        // (refused where it stood in the stream); that appeal is the answer,
        // as when this node already held it.
        if error.kind == crate::error::ErrorKind::Conflict
            && error.detail.contains(DUPLICATE_OF)
            && let Some(existing) = open_with_same_grounds(node, &appeal)?
        {
            return Ok(Filed::Duplicate(existing));
        }
        return Err(error);
    }
    Ok(Filed::New(appeal))
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
    resolve_with_outcome(node, principal, id, note, None, None).await
}

/// [`resolve`] with its outcome: upheld, or overturned by `caused`, an
/// override or retraction already in the person's timeline (the correction
/// itself is posted as an event first, so it passes every check events do).
pub async fn resolve_with_outcome(
    node: &Node,
    principal: &Principal,
    id: &str,
    note: &str,
    outcome: Option<crate::codes::AppealOutcome>,
    caused: Option<ymt_core::EventId>,
) -> Result<Appeal, NodeError> {
    use crate::codes::AppealOutcome;
    match (outcome, &caused) {
        (Some(AppealOutcome::Upheld), Some(_)) => {
            return Err(NodeError::invalid(
                "caused: an upheld appeal changes nothing, so it names no event",
            ));
        }
        (Some(AppealOutcome::Overturned), None) => {
            return Err(NodeError::invalid(
                "caused: an overturned appeal names the override or retraction that corrected the color",
            ));
        }
        (None, Some(_)) => {
            return Err(NodeError::invalid(
                "outcome: name the outcome with `caused`",
            ));
        }
        _ => {}
    }
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
    // The correction, by its stored id (`<author>:<id>`) or the id its
    // author gave it.
    let caused = match caused {
        None => None,
        Some(event_id) => {
            let suffix = format!(":{event_id}");
            let found = node
                .person_records(&appeal.pid)?
                .into_iter()
                .find(|record| {
                    (record.event.id == event_id || record.event.id.as_str().ends_with(&suffix))
                        && matches!(
                            record.event.kind(),
                            ymt_core::event::EventKind::Override
                                | ymt_core::event::EventKind::Retraction
                        )
                });
            match found {
                Some(record) => Some(record.event.id),
                None => {
                    return Err(NodeError::invalid(format!(
                        "caused: {event_id} is not an override or retraction in this person's timeline"
                    )));
                }
            }
        }
    };
    let resolved_at = node.now();
    appeal.resolved = Some(Resolution {
        by: principal.id.clone(),
        at: resolved_at,
        note: note.to_owned(),
        outcome,
        caused,
    });
    node.apply(
        &Author::from(principal),
        resolved_at,
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        note,
    )?;
    with_index(node, |index| index.insert(entry_of(&appeal)))?;
    Ok(appeal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ymt_core::Timestamp;

    proptest! {
        /// A cursor comes back from the client: any string is refused or
        /// read, never a panic, and a cursor the node wrote reads back as
        /// the order key it was written from.
        #[test]
        fn cursors_from_clients_parse_or_are_refused_and_round_trip(
            junk in ".{0,120}",
            open in any::<bool>(),
            filed_at_secs in 0_i64..4_000_000_000,
            id in "ap-[0-9]{1,10}-[0-9a-f]{16}",
        ) {
            let _ = parse_cursor(&junk);
            let entry = AppealEntry {
                id: id.clone(),
                pid: PersonId::parse("0123456789abcdef0123456789abcdef").expect("a pid"),
                region: None,
                filed_at: Timestamp::from_unix_secs(filed_at_secs).expect("an instant"),
                open,
                grounds_hash: 0,
            };
            let (resolved, filed_at, parsed_id) = parse_cursor(&cursor_of(&entry)).expect("reads back");
            prop_assert_eq!((resolved, filed_at, parsed_id.as_str()), entry.order_key());
        }
    }

    #[test]
    fn grounds_ignore_whitespace_but_not_words_or_color() {
        let base = grounds_hash("I was not there", Color::Yellow);
        assert_eq!(base, grounds_hash("  I was\tnot   there ", Color::Yellow));
        assert_ne!(base, grounds_hash("I was there", Color::Yellow));
        assert_ne!(base, grounds_hash("I was not there", Color::Red));
    }
}
