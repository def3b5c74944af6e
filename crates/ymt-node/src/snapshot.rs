//! The node's snapshot: named sections in one file, so that a restart
//! restores the projection, the check-in index and every module's state
//! from one consistent point of the log instead of scanning the log.
//!
//! Layout (little-endian): magic `YMTNODE1` | section count (u32) | per
//! section: name length (u16), name (UTF-8), body length (u64), body. The
//! store wraps the whole in its own checksummed file (`ymt_store::snapshot`),
//! so a torn or corrupt file never reaches this parser; it still checks
//! every length against the bytes it has, and refuses trailing bytes.
//!
//! A snapshot written before sections existed holds the projection alone
//! (magic `YMTPROJ1`); it is read as a single `projection` section.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use ymt_core::PersonId;

use crate::error::NodeError;
use crate::projection::{PersonKey, Projection};
use crate::state::Node;

/// The magic of a sectioned snapshot.
const NODE_SNAPSHOT_MAGIC: &[u8; 8] = b"YMTNODE1";
/// The magic of a projection-only snapshot (the older format).
const PROJECTION_MAGIC: &[u8; 8] = b"YMTPROJ1";
/// The section of the live projection.
pub const SECTION_PROJECTION: &str = "projection";
/// The section of the persons whose timeline holds a retraction.
pub const SECTION_RETRACTIONS: &str = "retractions";
/// Sections in one snapshot, at most.
const SECTIONS_MAX: u32 = 64;

/// Why a snapshot's sections could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionsError {
    #[error("not a node snapshot (unknown magic)")]
    UnknownMagic,
    #[error("truncated snapshot: {0}")]
    Truncated(&'static str),
    #[error("{0} sections, at most {SECTIONS_MAX}")]
    TooManySections(u32),
    #[error("a section name is not UTF-8")]
    BadName,
    #[error("section {0} appears twice")]
    DuplicateSection(String),
    #[error("{0} bytes after the last section")]
    TrailingBytes(usize),
}

/// Writes sections into one snapshot body.
pub fn encode_sections(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let total: usize = sections
        .iter()
        .map(|(name, body)| 2 + name.len() + 8 + body.len())
        .sum();
    let mut bytes = Vec::with_capacity(8 + 4 + total);
    bytes.extend_from_slice(NODE_SNAPSHOT_MAGIC);
    bytes.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, body) in sections {
        let name_len = u16::try_from(name.len()).expect("section names are short");
        bytes.extend_from_slice(&name_len.to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(body);
    }
    bytes
}

/// Reads a snapshot body into its sections, borrowing from `bytes`.
pub fn decode_sections(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, SectionsError> {
    if bytes.starts_with(PROJECTION_MAGIC) {
        return Ok(vec![(SECTION_PROJECTION, bytes)]);
    }
    let mut rest = bytes
        .strip_prefix(NODE_SNAPSHOT_MAGIC.as_slice())
        .ok_or(SectionsError::UnknownMagic)?;
    fn take<'a>(
        rest: &mut &'a [u8],
        len: usize,
        what: &'static str,
    ) -> Result<&'a [u8], SectionsError> {
        if rest.len() < len {
            return Err(SectionsError::Truncated(what));
        }
        let (head, tail) = rest.split_at(len);
        *rest = tail;
        Ok(head)
    }
    let count = u32::from_le_bytes(take(&mut rest, 4, "count")?.try_into().expect("4 bytes"));
    if count > SECTIONS_MAX {
        return Err(SectionsError::TooManySections(count));
    }
    let mut sections: Vec<(&str, &[u8])> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name_len =
            u16::from_le_bytes(take(&mut rest, 2, "name length")?.try_into().expect("2")) as usize;
        let name = std::str::from_utf8(take(&mut rest, name_len, "name")?)
            .map_err(|_| SectionsError::BadName)?;
        let body_len =
            u64::from_le_bytes(take(&mut rest, 8, "body length")?.try_into().expect("8"));
        let body_len = usize::try_from(body_len).map_err(|_| SectionsError::Truncated("body"))?;
        let body = take(&mut rest, body_len, "body")?;
        if sections.iter().any(|(known, _)| *known == name) {
            return Err(SectionsError::DuplicateSection(name.to_owned()));
        }
        sections.push((name, body));
    }
    if !rest.is_empty() {
        return Err(SectionsError::TrailingBytes(rest.len()));
    }
    Ok(sections)
}

/// The name of a module's section.
pub fn module_section(module_name: &str) -> String {
    format!("module:{module_name}")
}

/// The latest snapshot as read on start: its log position and its body.
pub struct LoadedSnapshot {
    pub upto_seq: u64,
    pub bytes: Vec<u8>,
}

impl LoadedSnapshot {
    /// The snapshot's sections; an unreadable body yields none (the node
    /// then rebuilds everything from the log), with a warning.
    pub fn sections(&self) -> Vec<(&str, &[u8])> {
        match decode_sections(&self.bytes) {
            Ok(sections) => sections,
            Err(error) => {
                tracing::warn!("ignoring unreadable snapshot: {error}");
                Vec::new()
            }
        }
    }
}

/// Looks a section up by name.
pub fn section<'a>(sections: &[(&str, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    sections
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, body)| *body)
}

fn retractions_bytes(keys: &HashSet<PersonKey>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(keys.len() * 16);
    for key in keys {
        bytes.extend_from_slice(key);
    }
    bytes
}

fn retractions_from(bytes: &[u8]) -> Option<HashSet<PersonKey>> {
    if !bytes.len().is_multiple_of(16) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(16)
            .map(|chunk| chunk.try_into().expect("16 bytes"))
            .collect(),
    )
}

impl Node {
    /// Writes a snapshot covering the log up to the last acknowledged event:
    /// the projection, the persons with retractions, and each module's
    /// section, so a restart reads no log before it.
    pub async fn write_snapshot(self: &Arc<Self>) -> Result<u64, NodeError> {
        // Under the gate every stored event has been applied to the modules'
        // memory (`NodeModule::after_store`), and no designation is half
        // applied; what is captured here is exactly the log up to `upto_seq`.
        let (upto_seq, module_sections, retractions) = {
            let _exclusive = self.ingest_exclusive().await;
            let module_sections: Vec<(String, Option<Vec<u8>>)> = self
                .modules()
                .iter()
                .map(|module| (module_section(module.name()), module.snapshot_capture(self)))
                .collect();
            let retractions = retractions_bytes(&self.persons_with_retractions.read());
            (self.store.last_seq(), module_sections, retractions)
        };
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            // Read after the gate: it may reflect events after `upto_seq`,
            // which the restart evaluates again (evaluation is idempotent).
            let projection = state.projection.to_snapshot();
            let mut sections: Vec<(&str, &[u8])> = vec![
                (SECTION_PROJECTION, &projection),
                (SECTION_RETRACTIONS, &retractions),
            ];
            for (name, bytes) in &module_sections {
                if let Some(bytes) = bytes {
                    sections.push((name, bytes));
                }
            }
            let body = encode_sections(&sections);
            state.store.snapshot_write(upto_seq, &body)?;
            Ok::<_, NodeError>(upto_seq)
        })
        .await
        .map_err(|_| NodeError::internal("snapshot panicked"))?
    }

    /// The newest intact snapshot, if any.
    pub(crate) fn read_latest_snapshot(&self) -> anyhow::Result<Option<LoadedSnapshot>> {
        let load = self.store.snapshot_latest()?;
        for warning in &load.warnings {
            tracing::warn!("{warning}");
        }
        Ok(load.latest.map(|snapshot| LoadedSnapshot {
            upto_seq: snapshot.upto_seq,
            bytes: snapshot.bytes,
        }))
    }

    /// Restores the persons with retractions from a snapshot section.
    pub(crate) fn restore_retractions(&self, bytes: &[u8]) -> bool {
        match retractions_from(bytes) {
            Some(keys) => {
                self.persons_with_retractions.write().extend(keys);
                true
            }
            None => false,
        }
    }

    /// Restores the projection from its snapshot section and re-evaluates
    /// every person with events after it; without one, evaluates everyone
    /// from the log. Then lets modules re-apply what the snapshot did not
    /// reflect.
    pub(crate) fn rebuild_projection(
        self: &Arc<Self>,
        projection: Option<(u64, &[u8])>,
    ) -> anyhow::Result<()> {
        let mut from_seq = 1;
        let mut snapshot_upto_seq = None;
        if let Some((upto_seq, bytes)) = projection {
            match Projection::from_snapshot(bytes) {
                Ok(loaded) => {
                    self.projection.replace_with(loaded);
                    from_seq = upto_seq + 1;
                    snapshot_upto_seq = Some(upto_seq);
                }
                Err(error) => tracing::warn!("ignoring unreadable projection snapshot: {error}"),
            }
        }
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        loop {
            let events = self.store.scan_from(from_seq, 100_000)?;
            let Some(last) = events.last() else { break };
            from_seq = last.seq + 1;
            persons.extend(events.into_iter().map(|event| event.person));
        }
        let persons: Vec<PersonId> = persons.into_iter().collect();
        self.reevaluate_many_in_parallel(&persons)
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        // State outside the log (risk-area designations) may need applying
        // again to what the snapshot did not reflect.
        for module in self.modules() {
            module
                .after_rebuild(self, snapshot_upto_seq)
                .map_err(|error| anyhow::anyhow!("module {}: {}", module.name(), error.detail))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expect: Result<Vec<(&str, &[u8])>, SectionsError>) {
        assert_eq!(decode_sections(bytes), expect);
    }

    #[test]
    fn sections_round_trip_in_order() {
        let encoded = encode_sections(&[("projection", b"abc"), ("module:tracing", b"")]);
        check(
            &encoded,
            Ok(vec![
                ("projection", b"abc".as_slice()),
                ("module:tracing", b""),
            ]),
        );
    }

    #[test]
    fn an_older_projection_snapshot_is_one_section() {
        check(
            b"YMTPROJ1rest",
            Ok(vec![(SECTION_PROJECTION, b"YMTPROJ1rest".as_slice())]),
        );
    }

    #[test]
    fn damaged_bodies_are_refused() {
        let good = encode_sections(&[("projection", b"abc")]);
        check(b"NOTASNAP", Err(SectionsError::UnknownMagic));
        check(
            &good[..good.len() - 1],
            Err(SectionsError::Truncated("body")),
        );
        check(&good[..10], Err(SectionsError::Truncated("count")));
        let mut trailing = good.clone();
        trailing.push(0);
        check(&trailing, Err(SectionsError::TrailingBytes(1)));
        let twice = encode_sections(&[("a", b"1"), ("a", b"2")]);
        check(&twice, Err(SectionsError::DuplicateSection("a".into())));
        let mut many = NODE_SNAPSHOT_MAGIC.to_vec();
        many.extend_from_slice(&1000u32.to_le_bytes());
        check(&many, Err(SectionsError::TooManySections(1000)));
        let mut huge = NODE_SNAPSHOT_MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&1u16.to_le_bytes());
        huge.push(b'x');
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        check(&huge, Err(SectionsError::Truncated("body")));
    }
}
