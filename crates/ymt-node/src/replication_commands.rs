//! Ordered commands in a cluster (issue 11, items 2 and 5): a command a
//! client sends to one node is checked there, kept in that node's outbox,
//! published to the stream (`ymt.rec.o.<province>` or `ymt.rec.o.nation`,
//! docs/log.md "Subjects") and acknowledged by its quorum, and then applied
//! by every node — the one that received it included — when it reads it
//! back from the stream, in stream order. So no node applies a command
//! before its order is known, and every node applies the same commands in
//! the same order.
//!
//! Applying a command reads no clock: it takes effect at the instant the
//! receiving node chose (`RecordEnvelope::at`), with the audit detail it
//! wrote (`RecordEnvelope::detail`). The checks that depend on state (a
//! rule-set version newer than the one in force, a held action still
//! pending and decided by another party, a venue id not registered by
//! someone else, a person's registration replacing the one its command
//! read, an appeal not filed twice with the same grounds nor resolved
//! twice, a designation confirmed once, a module's own checks, a risk area
//! decided or lifted once: `risk_commands.rs`) are made
//! again at that point of the stream, from state
//! that is itself a function of the stream: two conflicting commands
//! accepted at once on two nodes end the same on every node. The later one
//! is refused identically everywhere, and the refusal is an audit record
//! (outcome `denied`, the same on every node). Each node notes every
//! command it applied or refused under `commands-applied/<command id>` in
//! the same commit, so a command delivered twice (a restart before the
//! stream position was stored) changes nothing the second time.
//!
//! The receiving node's client waits (bounded) until its own node applied
//! the command and gets its outcome: success, or 409 when it lost. Which
//! kinds take this road is [`goes_through_stream`]; the others are applied
//! on the node that made them only (ARCHITECTURE.md, "Replication"). A
//! single node (no replicator) never comes here.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use ymt_store::{AuditOutcome, MetaWrite};

use crate::command_chain::{COMMAND_CHAIN_NAMESPACE, ChainPoint, PeerVerdict};
use crate::error::{ErrorKind, NodeError};
use crate::model::{META_CONFIRMATIONS, META_PENDING, PendingAction, PendingStatus, PersonRecord};
use crate::record::{Record, RecordEnvelope};
use crate::state::Node;

/// Commands applied (or refused) by this node: key the command id, value
/// its outcome as JSON (`{"refused": "<why>"}` or `{}`).
pub const APPLIED_COMMANDS_NAMESPACE: &str = "commands-applied";

/// What a client whose command lost in stream order is told, after why.
pub const REFUSED_IN_STREAM_ORDER: &str =
    "refused where it stood in the cluster's order of commands";

/// How long a client waits at least for its command to be applied on the
/// node it sent it to, once the quorum acknowledged it, before a 503 (the
/// command is then in the stream and takes effect when this node gets to
/// it); longer when the node's publication bound is longer.
const APPLIED_WITHIN_MIN: Duration = Duration::from_secs(10);

/// Whether a decision on a held action is a command although its proposal
/// is not: a held automatic tracing is proposed by every node alike (it is
/// derived from the events), but decided by one administrator on one node.
/// Every node applies the decision in stream order and derives its
/// designations then (`tracing_service::apply_decision_in_order`).
fn is_tracing_decision(pending: &PendingAction) -> bool {
    pending.action.kind == crate::breaker::KIND_TRACING && pending.status != PendingStatus::Pending
}

/// Whether a record is an ordered command applied by every node of a
/// cluster in stream order (the rest of the ordered kinds are not
/// replicated yet). `sessions_ended` commutes, but this is its road to the
/// other nodes too.
pub fn goes_through_stream(record: &Record) -> bool {
    match record {
        Record::VenueRegistered { .. }
        | Record::RuleSetPublished { .. }
        | Record::ProfilePublished { .. }
        | Record::PrincipalAdded { .. }
        // Persons and what they do (docs/log.md, "Subjects"): so that any
        // node serves anyone.
        | Record::PersonRegistered { .. }
        | Record::AppealRecorded { .. }
        | Record::DesignationConfirmed { .. }
        | Record::SessionsEnded { .. }
        | Record::ModuleRecorded { .. }
        // Risk areas and their lifts (`risk_commands.rs`).
        | Record::RiskAreaRecorded { .. }
        // A node's new public signing key (`key_revocation.rs`).
        | Record::SigningKeyAnnounced { .. } => true,
        Record::ActionRecorded { pending } => {
            crate::breaker::HELD_KINDS_THROUGH_STREAM.contains(&pending.action.kind.as_str())
                || is_tracing_decision(pending)
        }
        _ => false,
    }
}

/// The partition of a command's subject: the province (the first two
/// digits of its region) for a region-bound command, `nation` otherwise.
pub fn command_scope(record: &Record) -> String {
    let region = match record {
        Record::VenueRegistered { venue } => Some(venue.region.as_str()),
        Record::ProfilePublished { region, .. } => Some(region.as_str()),
        Record::PersonRegistered { person, .. } => Some(person.region.as_str()),
        Record::AppealRecorded { appeal } => appeal.region.as_ref().map(|region| region.as_str()),
        // A designation naming a region; one naming venues has no region
        // before it is in force, so all its records go to the nation's.
        Record::RiskAreaRecorded { area } => area.request.region.as_ref().map(|r| r.as_str()),
        _ => None,
    };
    match region {
        Some(region) if region.len() >= 2 && region.is_char_boundary(2) => region[..2].to_owned(),
        _ => "nation".to_owned(),
    }
}

/// A command's id: `cmd-` and the first 40 hex digits of the SHA-256 of the
/// envelope (its instant, author, record and detail) and 16 random bytes,
/// chosen once by the node that received it. The random part keeps apart
/// two commands that happen to be equal to the second, made on two nodes
/// (two approvals of one held rule set each publish the same rule-set
/// record): each is a command of its own, and the later one is refused.
fn command_id_of(envelope: &RecordEnvelope) -> Result<String, NodeError> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)
        .map_err(|error| NodeError::internal(format!("randomness: {error}")))?;
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(envelope).expect("records serialise"));
    hasher.update(nonce);
    Ok(format!("cmd-{}", &hex::encode(hasher.finalize())[..40]))
}

fn refused(why: &str) -> NodeError {
    NodeError::conflict(format!("{why} ({REFUSED_IN_STREAM_ORDER})"))
}

/// What applying a command put into force beside its durable writes.
enum Effect {
    Nothing,
    Rules(Box<crate::publication::RulesInForce>),
    /// A registration: the region of the one it replaces, for the counts.
    Person(Option<ymt_core::RegionCode>),
    RiskArea(crate::risk_commands::RiskEffect),
    /// A held rule set or profile approved: its publication record, written
    /// with the approval (its author the proposer, as on a single node),
    /// and the rules to put into force.
    ApprovedRules {
        rules: Box<crate::publication::RulesInForce>,
        publication: Box<(Record, crate::record::Author, String)>,
    },
    /// A held action of a module approved (a service's rule set): the
    /// module's record, written with the approval (its author the
    /// proposer) and put into memory by its module right after.
    ApprovedRecord {
        publication: Box<(Record, crate::record::Author, String)>,
    },
}

impl Node {
    /// A command of this node in a cluster: kept in the outbox, published,
    /// and answered once this node applied it from the stream (or refused
    /// it there: the conflict is returned). Blocks the calling thread (as
    /// `Node::apply` does for its fsync), without holding a runtime worker.
    pub(crate) fn apply_through_stream(
        &self,
        envelope: &RecordEnvelope,
        detail: &str,
    ) -> Result<(), NodeError> {
        let mut envelope = envelope.clone();
        envelope.detail = detail.to_owned();
        envelope.command_id = command_id_of(&envelope)?;
        let id = envelope.command_id.clone();
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| NodeError::internal("a command in a cluster needs the node's runtime"))?;
        let (sender, applied) = tokio::sync::oneshot::channel();
        self.command_waiters
            .waiting
            .lock()
            .insert(id.clone(), sender);
        let outcome = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let receiver = self.store.meta_commit(
                    vec![crate::replication::outbox_write(&id, &envelope)],
                    Vec::new(),
                )?;
                receiver
                    .await
                    .map_err(|_| NodeError::internal("the store stopped"))??;
                self.replicate(&id, &envelope).await?;
                let applied_within = self
                    .replicator
                    .get()
                    .map_or(APPLIED_WITHIN_MIN, |replicator| {
                        replicator.ack_timeout().max(APPLIED_WITHIN_MIN)
                    });
                match tokio::time::timeout(applied_within, applied).await {
                    Ok(Ok(outcome)) => outcome,
                    _ => match self.applied_command_outcome(&id)? {
                        Some(outcome) => outcome,
                        None => Err(NodeError::unavailable(format!(
                            "the command is replicated but this node has not applied it \
                             within {} s; it takes effect when the node catches up, \
                             retry to learn its outcome",
                            applied_within.as_secs()
                        ))),
                    },
                }
            })
        });
        self.command_waiters.waiting.lock().remove(&id);
        outcome
    }

    /// Reads the chain of ordered commands back from the store (at join).
    pub fn load_command_chain(&self) -> Result<ChainPoint, NodeError> {
        let head = match self
            .store
            .meta_get(COMMAND_CHAIN_NAMESPACE, crate::command_chain::head_key())?
        {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                NodeError::internal(format!("the command chain's head: {error}"))
            })?,
            None => ChainPoint::default(),
        };
        *self.replication.commands.head.lock() = head.clone();
        Ok(head)
    }

    /// This node's chain after `count` ordered commands, if it applied that
    /// many.
    pub fn command_chain_at(&self, count: u64) -> Result<Option<ChainPoint>, NodeError> {
        if count == 0 {
            return Ok(Some(ChainPoint::default()));
        }
        if count > self.replication.commands.head().count {
            return Ok(None);
        }
        match self.store.meta_get(
            COMMAND_CHAIN_NAMESPACE,
            &crate::command_chain::entry_key(count),
        )? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|error| {
                NodeError::internal(format!("a command chain point: {error}"))
            })?)),
            None => Ok(None),
        }
    }

    /// What a peer's chain (its head, and its point at this node's count)
    /// says of this node's.
    pub fn compare_command_chain(
        &self,
        peer_head: &ChainPoint,
        peer_at_my_count: Option<&ChainPoint>,
        my_head: &ChainPoint,
    ) -> PeerVerdict {
        crate::command_chain::compare(
            my_head,
            |count| self.command_chain_at(count).ok().flatten(),
            peer_head,
            peer_at_my_count,
        )
    }

    /// The outcome of a command this node already applied or refused.
    fn applied_command_outcome(
        &self,
        id: &str,
    ) -> Result<Option<Result<(), NodeError>>, NodeError> {
        let Some(bytes) = self.store.meta_get(APPLIED_COMMANDS_NAMESPACE, id)? else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(Some(
            match value.get("refused").and_then(|why| why.as_str()) {
                Some(why) => Err(refused(why)),
                None => Ok(()),
            },
        ))
    }

    /// Applies an ordered command read from the stream, in stream order:
    /// checks it again against the state the stream has built so far,
    /// commits its writes and audit record (or its refusal) with the note
    /// that it was applied, changes memory, and answers the client waiting
    /// on this node, if any.
    pub(crate) async fn apply_replicated_command(
        self: &Arc<Self>,
        envelope: RecordEnvelope,
    ) -> Result<(), NodeError> {
        if envelope.command_id.is_empty() || !goes_through_stream(&envelope.record) {
            tracing::warn!(
                kind = envelope.record.kind(),
                "a replicated record of a kind this node does not apply from the stream"
            );
            return Ok(());
        }
        let id = envelope.command_id.clone();
        // A decision on a held tracing is serialised with tracing itself
        // (which reads the decision), and derives its designations here.
        let tracing_decision = match &envelope.record {
            Record::ActionRecorded { pending } if is_tracing_decision(pending) => {
                Some(pending.clone())
            }
            _ => None,
        };
        let serial = match tracing_decision {
            Some(_) => Some(self.tracing.decisions.lock().await),
            None => None,
        };
        let outcome = match self.applied_command_outcome(&id)? {
            Some(outcome) => outcome,
            None => {
                let node = self.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || node.apply_command_in_order(&envelope))
                        .await
                        .map_err(|_| NodeError::internal("applying a command panicked"))??;
                if let (Ok(()), Some(pending)) = (&outcome, &tracing_decision)
                    && let Err(error) =
                        crate::tracing_service::apply_decision_in_order(self, pending).await
                {
                    // The decision is durable: the tracing is derived
                    // again with it at the next batch that concerns it.
                    tracing::error!(pending = %pending.id, "tracing after a replicated decision failed: {error}");
                }
                outcome
            }
        };
        drop(serial);
        if let Some(waiter) = self.command_waiters.waiting.lock().remove(&id) {
            let _ = waiter.send(outcome);
        }
        Ok(())
    }

    /// Applies one command (the outer error: the store failed, nothing
    /// changed; the inner: the command was refused, and that is recorded).
    fn apply_command_in_order(
        &self,
        envelope: &RecordEnvelope,
    ) -> Result<Result<(), NodeError>, NodeError> {
        // A designation is checked, stored and put into force with ingest
        // held off (and snapshots with it), as `risk::take_effect` does on
        // a single node; it is stored at this node's own log position.
        let (_gate, local_record) = match &envelope.record {
            Record::RiskAreaRecorded { .. } => {
                let gate = self.ingest_gate.blocking_write();
                let local = match &envelope.record {
                    Record::RiskAreaRecorded { area } => Record::RiskAreaRecorded {
                        area: crate::risk_commands::with_local_position(self, area),
                    },
                    other => other.clone(),
                };
                (Some(gate), Some(local))
            }
            _ => (None, None),
        };
        let record = local_record.as_ref().unwrap_or(&envelope.record);
        let marker = |value: serde_json::Value| {
            MetaWrite::put(
                APPLIED_COMMANDS_NAMESPACE,
                &envelope.command_id,
                serde_json::to_vec(&value).expect("JSON serialises"),
            )
        };
        match self.check_in_order(envelope) {
            Err(refusal) if refusal.kind != ErrorKind::Internal => {
                let mut audit = record.audit_entry(
                    &envelope.author(),
                    envelope.at,
                    &format!("refused in stream order: {}", refusal.detail),
                );
                audit.outcome = AuditOutcome::Denied;
                let _append = self.replication.commands.append.lock();
                let point = self
                    .replication
                    .commands
                    .head()
                    .next(&envelope.command_id, true);
                let mut writes = vec![marker(serde_json::json!({"refused": refusal.detail}))];
                writes.extend(point.writes());
                let receiver = self.store.meta_commit(writes, vec![audit])?;
                ymt_store::wait_blocking(receiver)?;
                *self.replication.commands.head.lock() = point;
                Ok(Err(refused(&refusal.detail)))
            }
            Err(error) => Err(error),
            Ok(effect) => {
                let audit = record.audit_entry(&envelope.author(), envelope.at, &envelope.detail);
                let mut writes = record.meta_writes();
                writes.push(marker(serde_json::json!({})));
                let mut audits = vec![audit];
                // An approved rule set or profile: its publication and the
                // approval in one commit, so neither stands without the other.
                if let Effect::ApprovedRules { publication, .. }
                | Effect::ApprovedRecord { publication } = &effect
                {
                    let (published, author, detail) = publication.as_ref();
                    audits.insert(0, published.audit_entry(author, envelope.at, detail));
                    writes.splice(0..0, published.meta_writes());
                }
                let append = self.replication.commands.append.lock();
                let point = self
                    .replication
                    .commands
                    .head()
                    .next(&envelope.command_id, false);
                writes.extend(point.writes());
                let receiver = self.store.meta_commit(writes, audits)?;
                ymt_store::wait_blocking(receiver)?;
                *self.replication.commands.head.lock() = point;
                drop(append);
                self.after_apply(record);
                self.metrics
                    .records_applied
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match (effect, record) {
                    (Effect::ApprovedRecord { publication }, _) => {
                        self.after_apply(&publication.0);
                    }
                    (Effect::Rules(rules), _) | (Effect::ApprovedRules { rules, .. }, _) => {
                        crate::publication::put_checked_rules_into_force(self, *rules)?;
                        self.schedule_changed.notify_one();
                    }
                    (Effect::Person(previous), Record::PersonRegistered { person, .. }) => {
                        crate::person_counts::RegisteredPersons::record(
                            &mut self.registered_persons.lock(),
                            previous.as_ref(),
                            &person.region,
                        );
                    }
                    (Effect::RiskArea(effect), Record::RiskAreaRecorded { area }) => {
                        let waiting = self
                            .command_waiters
                            .waiting
                            .lock()
                            .contains_key(&envelope.command_id);
                        crate::risk_commands::take_effect_in_order(self, area, effect, waiting);
                    }
                    _ => {}
                }
                Ok(Ok(()))
            }
        }
    }

    /// The checks of a command that depend on state, made again at its
    /// place in the stream (never reading a clock).
    fn check_in_order(&self, envelope: &RecordEnvelope) -> Result<Effect, NodeError> {
        match &envelope.record {
            Record::VenueRegistered { venue } => {
                // The same registration again (an update by its author at
                // the same instant) is applied; another one under the same
                // id lost the race.
                if let Some(existing) = self.tracing.venue(&venue.id)
                    && (existing.registered_by != venue.registered_by
                        || existing.registered_at != venue.registered_at)
                {
                    return Err(NodeError::conflict(format!(
                        "venue {} is already registered (by {})",
                        venue.id, existing.registered_by
                    )));
                }
                Ok(Effect::Nothing)
            }
            Record::RuleSetPublished { document, .. }
            | Record::ProfilePublished { document, .. } => Ok(Effect::Rules(Box::new(
                crate::publication::check_rules_in_order(self, document.as_bytes())?,
            ))),
            Record::ActionRecorded { pending } => {
                self.check_action_in_order(pending)?;
                crate::risk_commands::check_lift_decision_in_order(self, pending)?;
                self.approved_rules_in_order(pending)
            }
            Record::PersonRegistered {
                person,
                replaces_sha256,
            } => self.check_person_in_order(person, replaces_sha256.as_deref()),
            Record::AppealRecorded { appeal } => {
                crate::appeals::check_in_order(self, appeal)?;
                Ok(Effect::Nothing)
            }
            Record::DesignationConfirmed { confirmation } => {
                // Each designation is confirmed once: two confirmations at
                // once on two nodes, the later is refused.
                if let Some(bytes) = self
                    .store
                    .meta_get(META_CONFIRMATIONS, confirmation.designation.as_str())?
                    && bytes != serde_json::to_vec(confirmation).expect("records serialise")
                {
                    return Err(NodeError::conflict(format!(
                        "{} is already confirmed",
                        confirmation.designation
                    )));
                }
                Ok(Effect::Nothing)
            }
            Record::ModuleRecorded {
                module,
                record_kind,
                key,
                value,
                ..
            } => {
                // A module this node lacks (or that declares the kind no
                // more) refuses the record here rather than stopping the
                // apply loop, which an internal error would.
                self.check_module_record(&envelope.record)
                    .map_err(|error| NodeError::conflict(error.detail))?;
                if let Some(owner) = self.modules.iter().find(|owner| owner.name() == module) {
                    owner.check_record_in_order(self, record_kind, key, value)?;
                }
                Ok(Effect::Nothing)
            }
            Record::RiskAreaRecorded { area } => Ok(Effect::RiskArea(
                crate::risk_commands::check_in_order(self, area)?,
            )),
            Record::SigningKeyAnnounced { key } => {
                crate::key_revocation::add_announced_key_in_order(self, envelope, key)?;
                Ok(Effect::Nothing)
            }
            // A principal is replaced by the last record in stream order;
            // sessions ended commute with everything.
            _ => Ok(Effect::Nothing),
        }
    }

    /// A registration replaces the one its command read (none for a new
    /// person); the same registration again is applied (a retry). Another
    /// registration of the person in between (made at once on another
    /// node) makes it the later one, refused.
    fn check_person_in_order(
        &self,
        person: &PersonRecord,
        replaces_sha256: Option<&str>,
    ) -> Result<Effect, NodeError> {
        let (stored_sha256, stored) = self.stored_person(&person.pid)?;
        let same_again = stored.as_ref().is_some_and(|stored| {
            serde_json::to_vec(stored).ok() == serde_json::to_vec(person).ok()
        });
        if stored_sha256.as_deref() != replaces_sha256 && !same_again {
            return Err(NodeError::conflict(format!(
                "person {} was registered again meanwhile (by {})",
                person.pid,
                stored.map_or_else(|| "nobody".to_owned(), |stored| stored.registered_by)
            )));
        }
        Ok(Effect::Person(stored.map(|stored| stored.region)))
    }

    /// A held rule set or profile approved in a cluster is published by
    /// its approval, on every node where the approval stands in the stream:
    /// an approval and a rejection sent at once to two nodes are then one
    /// decision or the other everywhere, never a rule set in force beside a
    /// rejected action. Its rules are checked again here.
    fn approved_rules_in_order(&self, pending: &PendingAction) -> Result<Effect, NodeError> {
        let kind = pending.action.kind.as_str();
        let publishes = pending.status == PendingStatus::Approved
            && crate::breaker::HELD_KINDS_APPROVED_IN_STREAM.contains(&kind);
        if !publishes {
            return Ok(Effect::Nothing);
        }
        let author = self.proposer_as_author(&pending.proposer);
        if kind != crate::breaker::KIND_RULE_SET && kind != crate::breaker::KIND_PROFILE {
            // A module's held action (a service's rule set, a key
            // revocation): the module checks it again here, does what must
            // be durable first, and names the record it writes.
            let module = self
                .module_for_held(kind)
                .map_err(|error| NodeError::conflict(error.detail))?;
            let at = pending.decided_at.unwrap_or(pending.proposed_at);
            return Ok(
                match module.held_approval_in_order(self, &pending.action, at)? {
                    Some((record, detail)) => Effect::ApprovedRecord {
                        publication: Box::new((record, author, detail)),
                    },
                    None => Effect::Nothing,
                },
            );
        }
        let document: crate::publication::RulesDocument = pending.action.request_as()?;
        let bytes = document.document.as_bytes();
        let rules = crate::publication::check_rules_in_order(self, bytes)?;
        let (published, detail) = crate::publication::publication_record(self, bytes)?;
        Ok(Effect::ApprovedRules {
            rules: Box::new(rules),
            publication: Box::new((published, author, detail)),
        })
    }

    /// The proposer of a held action as the author of what its approval
    /// writes (as on a single node, where it is put into force with the
    /// proposer's rights).
    fn proposer_as_author(&self, proposer: &str) -> crate::record::Author {
        self.principals
            .read()
            .get(proposer)
            .map(crate::record::Author::from)
            .unwrap_or_else(|| crate::record::Author {
                id: proposer.to_owned(),
                role: "national_admin".into(),
                key_id: None,
            })
    }

    fn check_action_in_order(&self, pending: &PendingAction) -> Result<(), NodeError> {
        let stored = self
            .store
            .meta_get(META_PENDING, &pending.id)?
            .map(|bytes| serde_json::from_slice::<PendingAction>(&bytes))
            .transpose()
            .map_err(|error| NodeError::internal(format!("stored pending action: {error}")))?;
        match (pending.status, stored) {
            (PendingStatus::Pending, Some(_)) => Err(NodeError::conflict(format!(
                "pending action {} exists",
                pending.id
            ))),
            (PendingStatus::Pending, None) => Ok(()),
            // Each node derives a held tracing itself, from events that
            // may not all have reached it yet: its decision is kept and
            // the tracing follows it once derived.
            (_, None) if is_tracing_decision(pending) => Ok(()),
            (_, None) => Err(NodeError::conflict(format!(
                "no pending action {}",
                pending.id
            ))),
            (_, Some(stored)) if stored.status != PendingStatus::Pending => {
                Err(NodeError::conflict(format!(
                    "pending action {} was already decided ({:?})",
                    pending.id, stored.status
                )))
            }
            (_, Some(stored)) => {
                let decider = pending.decided_by.as_deref().unwrap_or_default();
                if self.principals.read().same_party(&stored.proposer, decider) {
                    return Err(NodeError::conflict(format!(
                        "{decider} and the proposer {} are one party; a second national_admin must decide",
                        stored.proposer
                    )));
                }
                Ok(())
            }
        }
    }
}
