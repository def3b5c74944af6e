//! Presence: which facts place a person in a region, and so let the
//! region's authorities read the person and act on them alone.
//!
//! Writing never grants reading. An authority may record events about
//! anyone (a vaccination of a traveller, a designation), but its own
//! writes, or any authority's, place nobody anywhere: they would let an
//! authority widen its jurisdiction by writing one event. What places a
//! person in a region is what someone else observed there:
//!
//! - their **registration** in the region (by an authority of that region,
//!   which no other region can change: `apply.rs`);
//! - a **check-in** recorded by a venue scanner or a verifier device at a
//!   registered venue of the region (the venue's own region, from the
//!   registry, not the region the submitter wrote; such principals check in
//!   only at venues of their jurisdiction, venue principals only at venues
//!   they operate: `ingest.rs`);
//! - a **test result** recorded by a lab of the region (labs submit only in
//!   their jurisdiction, and the result names the lab that wrote it).
//!
//! Retracted events place nobody. National roles see every person; they
//! do not ask this question.

use ymt_core::{EventBody, PersonId, RegionCode};

use crate::auth::{Principal, Role};
use crate::error::NodeError;
use crate::model::{EventRecord, is_retracted};
use crate::state::Node;

impl Node {
    /// Whether facts other than an authority's own writes place `pid` in
    /// `region` (see the module documentation).
    pub fn is_present_in(&self, pid: &PersonId, region: &RegionCode) -> Result<bool, NodeError> {
        if self
            .person_record(pid)?
            .is_some_and(|record| region.contains(&record.region))
        {
            return Ok(true);
        }
        let records = self.person_records(pid)?;
        Ok(records.iter().any(|record| {
            self.places_in(record, region) && !is_retracted(&records, &record.event.id)
        }))
    }

    /// Whether `principal` may read and act on `pid` as one of its own:
    /// national roles always, others when the person is present in their
    /// jurisdiction.
    pub fn reaches(&self, principal: &Principal, pid: &PersonId) -> Result<bool, NodeError> {
        if matches!(principal.role, Role::NationalAdmin | Role::Auditor) {
            return Ok(true);
        }
        self.is_present_in(pid, &principal.jurisdiction)
    }

    /// Whether one stored event places its person in `region`.
    fn places_in(&self, record: &EventRecord, region: &RegionCode) -> bool {
        let author_role = self
            .principals
            .read()
            .get(&record.event.author)
            .map(|author| author.role);
        match (&record.event.body, author_role) {
            (EventBody::CheckIn(check_in), Some(Role::Venue | Role::VerifierDevice)) => self
                .tracing
                .venue(&check_in.venue)
                .is_some_and(|venue| region.contains(&venue.region)),
            (EventBody::TestResult(_), Some(Role::Lab)) => region.contains(&record.region),
            _ => false,
        }
    }
}
