//! Registering venues (场所码): a health authority registers a venue inside
//! its jurisdiction, in a street or a community, once; the node records it
//! and signs its QR code.

use ymt_core::ids::RegionLevel;
use ymt_core::{RegionCode, VenueId};

use crate::auth::{Principal, Role};
use crate::error::NodeError;
use crate::record::Author;
use crate::state::Node;
use crate::venues::{
    VENUE_CATEGORY_CHARS_MAX, VENUE_NAME_CHARS_MAX, VENUE_OPERATORS_MAX, Venue, venue_qr_payload,
};

/// A venue as an authority asks to register it.
#[derive(Clone, Debug)]
pub struct VenueRegistration {
    pub id: VenueId,
    pub name: String,
    pub region: RegionCode,
    pub category: String,
    pub indoor: bool,
    /// Venue principals that will record check-ins here: each must be a
    /// venue principal whose jurisdiction holds the venue.
    pub operators: Vec<String>,
    /// Where it is (the dashboard's map), when the registrar says.
    pub location: Option<crate::venues::Location>,
}

/// Registers a venue on behalf of `principal` (whose role the caller has
/// checked): the region must be a street or a community inside the
/// principal's jurisdiction, the name and category non-empty and bounded,
/// the id unused. Returns the venue and the signed text of its QR code.
pub async fn register(
    node: &Node,
    principal: &Principal,
    registration: VenueRegistration,
) -> Result<(Venue, String), NodeError> {
    if !matches!(
        registration.region.level(),
        Some(RegionLevel::Street | RegionLevel::Community)
    ) {
        return Err(NodeError::invalid(format!(
            "region: a venue lies in a street (9 digits) or community (12 digits), got {}",
            registration.region
        )));
    }
    let name = registration.name.trim();
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > VENUE_NAME_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "name: 1 to {VENUE_NAME_CHARS_MAX} characters"
        )));
    }
    crate::error::check_text("name", name)?;
    let category = registration.category.trim();
    let category_chars = category.chars().count();
    if category_chars == 0 || category_chars > VENUE_CATEGORY_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "category: 1 to {VENUE_CATEGORY_CHARS_MAX} characters"
        )));
    }
    crate::error::check_text("category", category)?;
    if !principal.may_act_in(&registration.region) {
        let detail = format!(
            "region {} is outside your jurisdiction {}",
            registration.region, principal.jurisdiction
        );
        node.audit_denied(
            Some(principal),
            "venue.register",
            registration.id.as_str(),
            &detail,
        )
        .await;
        return Err(NodeError::forbidden(detail));
    }
    if registration.operators.len() > VENUE_OPERATORS_MAX {
        return Err(NodeError::invalid(format!(
            "operators: at most {VENUE_OPERATORS_MAX} venue principals"
        )));
    }
    for operator in &registration.operators {
        let fits = node
            .principals
            .read()
            .get(operator)
            .is_some_and(|operator| {
                operator.role == Role::Venue && operator.may_act_in(&registration.region)
            });
        if !fits {
            return Err(NodeError::invalid(format!(
                "operators: {operator} is not a venue principal whose jurisdiction holds {}",
                registration.region
            )));
        }
    }
    if node.tracing.venue(&registration.id).is_some() {
        return Err(NodeError::conflict(format!(
            "venue {} is already registered",
            registration.id
        )));
    }
    let venue = Venue {
        id: registration.id,
        name: name.to_owned(),
        region: registration.region,
        category: category.to_owned(),
        indoor: registration.indoor,
        registered_by: principal.id.clone(),
        registered_at: node.now(),
        operators: registration.operators,
        location: registration.location,
    };
    node.register_venue(&Author::from(principal), venue.clone())?;
    let payload = venue_qr_payload(&node.tracing.venue_key(), &venue.id);
    Ok((venue, payload))
}

/// The author of a check-in a person makes by scanning a venue's QR code
/// (场所码, issue 13): the node itself, in no principal table and with no
/// key, named after the person so the audit record says who. Such a
/// check-in gives no authority presence (presence.rs counts the check-ins
/// of venue scanners and verifier devices only): a person's own claim never
/// widens anybody's jurisdiction.
pub fn self_check_in_author(pid: &ymt_core::PersonId) -> Principal {
    crate::auth::system_principal(&format!("self-check-in-{pid}"))
}

/// The registered venue a scanned venue QR code names; its signature must
/// verify (a forged or altered code is refused, 422) and the venue be
/// registered (404).
pub fn venue_of_qr(node: &Node, payload: &str) -> Result<Venue, NodeError> {
    if payload.len() > VENUE_QR_CHARS_MAX {
        return Err(NodeError::invalid(format!(
            "qr: a venue code has at most {VENUE_QR_CHARS_MAX} characters"
        )));
    }
    let id = crate::venues::verify_venue_qr_payload(&node.tracing.venue_key(), payload.trim())
        .map_err(|error| NodeError::invalid(format!("qr: {error}")))?;
    node.tracing
        .venue(&id)
        .ok_or_else(|| NodeError::not_found(format!("venue {id} is not registered")))
}

/// The longest venue QR text read: the prefix, a venue id and 32 hex digits
/// fit well within it.
pub const VENUE_QR_CHARS_MAX: usize = 256;

/// A person checks in at a venue by scanning its QR code: a check-in event
/// of the person at the venue, now, authored by [`self_check_in_author`].
/// Whoever calls this has checked that the caller is the person or their
/// guardian. One check-in per person, venue and second (a second scan in
/// the same second is the same event, reported as a duplicate).
pub async fn self_check_in(
    node: &std::sync::Arc<Node>,
    pid: &ymt_core::PersonId,
    payload: &str,
) -> Result<(Venue, crate::model::IngestResult), NodeError> {
    let venue = venue_of_qr(node, payload)?;
    let now = node.now();
    // An event id holds 64 characters, fewer than a pid and a venue id
    // together: a digest of the person, the venue and the second instead
    // (96 bits; the node's own ids have no namespace).
    let digest = {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(format!("{pid}\n{}\n{}", venue.id, now.unix_secs()));
        hex::encode(&hasher.finalize()[..12])
    };
    let id = ymt_core::EventId::parse(&format!("self-check-in-{digest}"))
        .map_err(|error| NodeError::internal(format!("self check-in id: {error}")))?;
    let results = node
        .ingest(
            &self_check_in_author(pid),
            vec![crate::model::Submission {
                id,
                subject: crate::model::Subject::Pid { pid: pid.clone() },
                region: venue.region.clone(),
                kind: ymt_core::EventKind::CheckIn,
                data: serde_json::json!({"venue": venue.id, "entered_at": now}),
            }],
        )
        .await?;
    let result = results
        .into_iter()
        .next()
        .ok_or_else(|| NodeError::internal("a check-in was not stored"))?;
    Ok((venue, result))
}
