//! The one write path of the node's state: [`Node::apply`] commits a
//! record's durable writes with its audit record, then changes the node's
//! memory. See `record.rs` for the kinds and docs/log.md for the format.

use ymt_core::identity::{IdDocument, IdType, MaskedName};
use ymt_core::{PersonId, RegionCode, Timestamp};

use crate::auth::Principal;
use crate::error::NodeError;
use crate::model::PersonRecord;
use crate::record::{Author, RECORD_FORMAT_VERSION, Record, RecordEnvelope};
use crate::state::Node;
use crate::venues::Venue;

/// A person as an authority asks to register them: the identity document
/// (hashed at once, never kept), the display name (kept masked), and what
/// the node may show of them.
#[derive(Clone, Debug)]
pub struct PersonRegistration {
    pub id_type: IdType,
    pub id_number: String,
    pub display_name: String,
    pub region: RegionCode,
    pub has_phone: bool,
    pub guardian_of: Vec<PersonId>,
    /// What wards of `guardian_of` are to the person (each key a ward).
    pub relationships: std::collections::BTreeMap<PersonId, crate::model::Relationship>,
}

impl Node {
    /// Applies one record made by a command of this node: `at` is the
    /// instant it takes effect, chosen by the command (the same instant as
    /// the record's own, e.g. a decision's `decided_at`). See
    /// [`Node::apply_envelope`].
    pub fn apply(
        &self,
        author: &Author,
        at: Timestamp,
        record: Record,
        detail: &str,
    ) -> Result<(), NodeError> {
        self.apply_envelope(&RecordEnvelope::new(author, at, record), detail)
    }

    /// Applies one record as it is kept and replicated: its metadata writes
    /// and its audit record (at the envelope's instant, never this node's
    /// clock) are committed together (one store commit, fsynced) or not at
    /// all, and only then does the node's memory change. Blocks for about
    /// one fsync.
    ///
    /// Events are applied by [`Node::ingest`], which commits each event
    /// with its audit record in the same way.
    pub fn apply_envelope(&self, envelope: &RecordEnvelope, detail: &str) -> Result<(), NodeError> {
        let record = &envelope.record;
        if let Record::Events { .. } = record {
            return Err(NodeError::internal(
                "events are applied through Node::ingest",
            ));
        }
        self.check_module_record(record)?;
        if envelope.format > RECORD_FORMAT_VERSION {
            return Err(NodeError::internal(format!(
                "record format {} is newer than this node's {RECORD_FORMAT_VERSION}",
                envelope.format
            )));
        }
        // In a cluster an ordered command is applied by every node in
        // stream order, this one included (replication_commands.rs).
        if self.replicates() && crate::replication_commands::goes_through_stream(record) {
            return self.apply_through_stream(envelope, detail);
        }
        let audit = record.audit_entry(&envelope.author(), envelope.at, detail);
        let receiver = self.store.meta_commit(record.meta_writes(), vec![audit])?;
        ymt_store::wait_blocking(receiver)?;
        self.after_apply(record);
        Ok(())
    }

    /// What a durable record changes in memory, on the node that made it and
    /// on every node applying it from a cluster's stream. Records not named
    /// here are read from the store when needed (persons, pending actions,
    /// confirmations, traced designations), or are put into force by their
    /// module right after (rules, risk areas). Appeals are noted in the
    /// appeal index; a module's record goes to its module
    /// (`NodeModule::after_record`).
    pub(crate) fn after_apply(&self, record: &Record) {
        match record {
            Record::PrincipalAdded { principal } => {
                self.principals.write().insert(principal.clone());
                // Keys revoked or the principal disabled: its console
                // sessions end too, on every node applying the record.
                if principal.disabled || principal.key_sha256.is_empty() {
                    self.codes.end_staff_sessions_of(&principal.id);
                }
            }
            Record::VenueRegistered { venue } => self.tracing.insert_venue(venue.clone()),
            Record::SessionsEnded {
                pid,
                ended_at,
                session: None,
            } => {
                self.codes.end_sessions_opened_by(pid, *ended_at);
            }
            Record::SessionsEnded {
                pid,
                ended_at,
                session: Some(nonce),
            } => self.codes.end_one_session(*nonce, pid, *ended_at),
            Record::AppealRecorded { appeal } => crate::appeals::note_applied(self, appeal),
            Record::ModuleRecorded {
                module,
                record_kind,
                key,
                value,
                ..
            } => {
                if let Some(owner) = self.modules.iter().find(|owner| owner.name() == module)
                    && let Err(error) = owner.after_record(self, record_kind, key, value)
                {
                    // Durable but not in memory until the next start, which
                    // loads it from the store.
                    tracing::error!(module = %module, kind = %record_kind, %error,
                        "a module record could not be put into memory");
                }
            }
            _ => {}
        }
    }

    /// Creates or replaces a principal, on behalf of `author`.
    /// Ids the node writes as authors itself are refused
    /// ([`crate::auth::RESERVED_PRINCIPAL_IDS`]).
    /// The principal records who created it (`author`), for the lineage
    /// the two-person rule checks ([`crate::auth::Principals::same_party`]).
    /// Whether the author may do this alone is the caller's question (see
    /// `crate::principals::propose`).
    pub fn add_principal_by(
        &self,
        author: &Author,
        mut principal: Principal,
    ) -> Result<(), NodeError> {
        principal.created_by = author.id.clone();
        if crate::auth::is_reserved_principal_id(&principal.id) {
            return Err(NodeError::invalid(format!(
                "id: {} is reserved for the node's own records",
                principal.id
            )));
        }
        crate::error::check_text("display_name", &principal.display_name)?;
        let detail = format!(
            "role {}, jurisdiction {}, created by {}",
            principal.role.as_str(),
            principal.jurisdiction,
            principal.created_by
        );
        self.apply(
            author,
            self.now(),
            Record::PrincipalAdded { principal },
            &detail,
        )
    }

    /// Rotates a principal's API key at the node's clock: `new_key` works for
    /// `ttl_secs`, the current key keeps working for `grace_secs` beside it.
    /// The principal's lineage is kept (a rotation creates nobody).
    pub fn rotate_principal_key(
        &self,
        author: &Author,
        principal_id: &str,
        new_key: &str,
        ttl_secs: i64,
        grace_secs: i64,
    ) -> Result<(), NodeError> {
        let now = self.now();
        let current = self.principal_to_change(principal_id)?;
        let rotated =
            current.with_rotated_key(crate::auth::key_sha256(new_key), now, ttl_secs, grace_secs);
        let detail = format!(
            "key {} rotated to {}; the old key works until {}",
            crate::auth::key_id(&current.key_sha256),
            crate::auth::key_id(&rotated.key_sha256),
            now.plus_secs(grace_secs.max(0)),
        );
        self.apply(
            author,
            now,
            Record::PrincipalAdded { principal: rotated },
            &detail,
        )
    }

    /// Revokes every key of a principal at once (its current key and those
    /// in a grace period); it has none until the next rotation.
    pub fn revoke_principal_keys(
        &self,
        author: &Author,
        principal_id: &str,
    ) -> Result<Vec<String>, NodeError> {
        let now = self.now();
        let current = self.principal_to_change(principal_id)?;
        let revoked = current.with_keys_revoked(now);
        let ids: Vec<String> = revoked
            .keys
            .revoked
            .iter()
            .filter(|key| key.revoked_at == now)
            .map(|key| crate::auth::key_id(&key.key_sha256))
            .collect();
        let detail = format!("keys revoked: {}", ids.join(", "));
        self.apply(
            author,
            now,
            Record::PrincipalAdded { principal: revoked },
            &detail,
        )?;
        Ok(ids)
    }

    /// Ends every citizen session of `pid` opened until now, on every node
    /// that applies the record (a durable, replicated record, not only this
    /// node's memory); how many were open here. Blocks for about one fsync.
    pub fn end_person_sessions(&self, author: &Author, pid: &PersonId) -> Result<usize, NodeError> {
        let now = self.now();
        let open_here = self.codes.sessions_of(pid);
        self.apply(
            author,
            now,
            Record::SessionsEnded {
                pid: pid.clone(),
                ended_at: now,
                session: None,
            },
            &format!("{open_here} sessions open on this node"),
        )?;
        Ok(open_here)
    }

    /// Ends one citizen session (the citizen signing out of it), on every
    /// node that applies the record: its token verifies on any node of the
    /// cluster until then. A token that is not a live session ends nothing
    /// and writes nothing. Blocks for about one fsync.
    pub fn end_citizen_session(&self, session_token: &str) -> Result<bool, NodeError> {
        let now = self.now();
        let Ok(token) = self.codes.check_session(session_token, now) else {
            return Ok(false);
        };
        self.apply(
            &Author::citizen(token.pid().as_str()),
            now,
            Record::SessionsEnded {
                pid: token.pid().clone(),
                ended_at: now,
                session: Some(token.nonce()),
            },
            "signed out of one session",
        )?;
        self.codes.end_session(session_token);
        Ok(true)
    }

    fn principal_to_change(&self, principal_id: &str) -> Result<Principal, NodeError> {
        let principal = self
            .principals
            .read()
            .get(principal_id)
            .cloned()
            .ok_or_else(|| NodeError::not_found(format!("no principal {principal_id}")))?;
        if principal.is_node_itself() || crate::auth::is_reserved_principal_id(principal_id) {
            return Err(NodeError::invalid(format!(
                "principal {principal_id} is the node's own and has no key"
            )));
        }
        Ok(principal)
    }

    /// Creates or replaces a principal by the local operator (the command
    /// line, or the demo's set-up).
    pub fn add_principal(&self, principal: Principal) -> Result<(), NodeError> {
        self.add_principal_by(&Author::operator(), principal)
    }

    /// Registers (or updates) a person, on behalf of `author`.
    pub fn register_person_by(
        &self,
        author: &Author,
        person: &PersonRecord,
    ) -> Result<(), NodeError> {
        let detail = format!("region {}", person.region);
        if self.replicates() {
            // In a cluster every node counts the registration where it
            // applies it from the stream (replication_commands.rs), this one
            // included; the counts' lock is not held while waiting for that.
            let (replaces_sha256, _) = self.stored_person(&person.pid)?;
            return self.apply(
                author,
                self.now(),
                Record::PersonRegistered {
                    person: person.clone(),
                    replaces_sha256,
                },
                &detail,
            );
        }
        // Held from reading the previous registration to counting this one,
        // so concurrent registrations of one person count once.
        let mut counts = self.registered_persons.lock();
        let (replaces_sha256, previous) = self.stored_person(&person.pid)?;
        let previous = previous.map(|record| record.region);
        self.apply(
            author,
            self.now(),
            Record::PersonRegistered {
                person: person.clone(),
                replaces_sha256,
            },
            &detail,
        )?;
        crate::person_counts::RegisteredPersons::record(
            &mut counts,
            previous.as_ref(),
            &person.region,
        );
        Ok(())
    }

    /// A module's lock from its checks to its record being in memory, so
    /// memory and the store see one order: held on a single node only. In a
    /// cluster the stream's order is that order (the record is applied,
    /// and put into memory, by the apply loop), and a lock held while the
    /// command waits for the apply loop would stall every request waiting
    /// for it on a runtime worker the loop needs.
    pub fn single_writer_order<'a>(
        &self,
        lock: &'a parking_lot::Mutex<()>,
    ) -> Option<parking_lot::MutexGuard<'a, ()>> {
        (!self.replicates()).then(|| lock.lock())
    }

    /// A person's registration as stored: the SHA-256 (hex) of its JSON
    /// (what a new registration replaces) and the record.
    pub(crate) fn stored_person(
        &self,
        pid: &PersonId,
    ) -> Result<(Option<String>, Option<PersonRecord>), NodeError> {
        let Some(bytes) = self
            .store
            .meta_get(crate::model::META_PERSONS, pid.as_str())?
        else {
            return Ok((None, None));
        };
        use sha2::Digest;
        Ok((
            Some(hex::encode(sha2::Sha256::digest(&bytes))),
            serde_json::from_slice(&bytes).ok(),
        ))
    }

    /// Registers a person from an identity document, on behalf of an
    /// authority (whose role the caller has checked) inside whose
    /// jurisdiction `region` lies. Only the keyed hash of the document and
    /// the masked name are kept.
    pub async fn register_person_as(
        &self,
        principal: &Principal,
        registration: PersonRegistration,
    ) -> Result<PersonRecord, NodeError> {
        if !principal.may_act_in(&registration.region) {
            self.audit_denied(
                Some(principal),
                "person.register",
                registration.region.as_str(),
                "outside jurisdiction",
            )
            .await;
            return Err(NodeError::forbidden(format!(
                "region {} is outside your jurisdiction {}",
                registration.region, principal.jurisdiction
            )));
        }
        let document = IdDocument::parse(registration.id_type, &registration.id_number)
            .map_err(|error| NodeError::invalid(format!("id_number: {error}")))?;
        let masked_name = MaskedName::mask(&registration.display_name)
            .map_err(|error| NodeError::invalid(format!("display_name: {error}")))?;
        let pid = self.person_id(&document);
        // A person belongs to the region that registered them: another
        // region cannot rename, move or re-declare them.
        let existing = self.person_record(&pid)?;
        if let Some(existing) = &existing
            && !principal.may_act_in(&existing.region)
        {
            let detail = format!(
                "the person is registered in region {}, outside your jurisdiction {}",
                existing.region, principal.jurisdiction
            );
            self.audit_denied(Some(principal), "person.register", pid.as_str(), &detail)
                .await;
            return Err(NodeError::forbidden(detail));
        }
        // A guardian may read a ward's code: only wards registered inside
        // the registrar's jurisdiction can be named.
        for ward in &registration.guardian_of {
            let Some(ward_record) = self.person_record(ward)? else {
                return Err(NodeError::invalid(format!(
                    "guardian_of: {ward} is not registered; register the ward first"
                )));
            };
            if !principal.may_act_in(&ward_record.region) {
                let detail = format!(
                    "guardian_of: {ward} is registered in region {}, outside your jurisdiction {}",
                    ward_record.region, principal.jurisdiction
                );
                self.audit_denied(Some(principal), "person.register", pid.as_str(), &detail)
                    .await;
                return Err(NodeError::forbidden(detail));
            }
        }
        if let Some(stranger) = registration
            .relationships
            .keys()
            .find(|ward| !registration.guardian_of.contains(ward))
        {
            return Err(NodeError::invalid(format!(
                "relationships: {stranger} is not among guardian_of"
            )));
        }
        // Confirmations survive a re-registration for the wards still named.
        let guardianship_confirmed = existing
            .map(|existing| existing.guardianship_confirmed)
            .unwrap_or_default()
            .into_iter()
            .filter(|ward| registration.guardian_of.contains(ward))
            .collect();
        let record = PersonRecord {
            pid,
            masked_name,
            id_type: registration.id_type,
            region: registration.region,
            has_phone: registration.has_phone,
            guardian_of: registration.guardian_of,
            guardianship_confirmed,
            registered_by: principal.id.clone(),
            relationships: registration.relationships,
        };
        self.register_person_by(&Author::from(principal), &record)?;
        Ok(record)
    }

    /// Confirms that `guardian` is the guardian of `ward`, by `principal`
    /// (an authority, as the caller has checked): the consent step of a
    /// guardianship. The confirming authority's jurisdiction must hold the
    /// ward's registration, and it must not be the registrar that declared
    /// the guardianship, nor of its party (two persons, as for held
    /// actions). Confirming twice changes nothing.
    pub async fn confirm_guardianship(
        &self,
        principal: &Principal,
        guardian: &PersonId,
        ward: &PersonId,
    ) -> Result<PersonRecord, NodeError> {
        let (replaces_sha256, record) = self.stored_person(guardian)?;
        let mut record = record
            .filter(|record| record.guardian_of.contains(ward))
            .ok_or_else(|| {
                NodeError::not_found(format!(
                    "no registered person {guardian} is declared the guardian of {ward}"
                ))
            })?;
        let ward_region = self
            .person_record(ward)?
            .map(|ward| ward.region)
            .ok_or_else(|| NodeError::not_found(format!("no registered person {ward}")))?;
        let refusal = if !principal.may_act_in(&ward_region) {
            Some(format!(
                "the ward is registered in region {ward_region}, outside your jurisdiction {}",
                principal.jurisdiction
            ))
        } else if self
            .principals
            .read()
            .same_party(&principal.id, &record.registered_by)
        {
            Some(format!(
                "{} declared this guardianship; another authority of the ward's region must confirm it",
                record.registered_by
            ))
        } else {
            None
        };
        if let Some(detail) = refusal {
            self.audit_denied(
                Some(principal),
                "guardianship.confirm",
                &format!("{guardian}/{ward}"),
                &detail,
            )
            .await;
            return Err(NodeError::forbidden(detail));
        }
        if record.guardianship_confirmed.contains(ward) {
            return Ok(record);
        }
        record.guardianship_confirmed.push(ward.clone());
        self.apply(
            &Author::from(principal),
            self.now(),
            Record::PersonRegistered {
                person: record.clone(),
                replaces_sha256,
            },
            &format!("guardianship of {ward} confirmed by {}", principal.id),
        )?;
        Ok(record)
    }

    /// Registers a person by the local operator (the demo's set-up).
    pub fn register_person(&self, person: &PersonRecord) -> Result<(), NodeError> {
        self.register_person_by(&Author::operator(), person)
    }

    /// Registers a venue, on behalf of `author`.
    pub fn register_venue(&self, author: &Author, venue: Venue) -> Result<(), NodeError> {
        let detail = format!("region {}", venue.region);
        // A venue takes effect at its registration instant.
        self.apply(
            author,
            venue.registered_at,
            Record::VenueRegistered { venue },
            &detail,
        )
    }
}
