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
    };
    node.register_venue(&Author::from(principal), venue.clone())?;
    let payload = venue_qr_payload(&node.tracing.venue_key(), &venue.id);
    Ok((venue, payload))
}
