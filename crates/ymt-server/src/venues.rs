//! Venues (场所码): registered by a health authority inside its
//! jurisdiction, each with a signed venue QR code `YMTV1:<venue>.<sig>`.
//!
//! Check-ins name a venue; a check-in at a venue this node does not know is
//! refused, so every stay in the tracing index has a region and an
//! indoor/outdoor class.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use ymt_core::ids::RegionLevel;
use ymt_core::{RegionCode, Timestamp, VenueId};

use crate::api::{Authed, SharedState};
use crate::auth::Role;
use crate::problem::ApiError;

pub const META_VENUES: &str = "venues";
pub const META_NODE_KEYS: &str = "node-keys";
pub const VENUE_QR_KEY_NAME: &str = "venue-qr";
pub const VENUE_QR_PREFIX: &str = "YMTV1:";
/// Bytes of the HMAC kept in a venue QR payload (128 bits).
pub const VENUE_QR_SIG_BYTES: usize = 16;
pub const VENUE_NAME_CHARS_MAX: usize = 100;
pub const VENUE_CATEGORY_CHARS_MAX: usize = 40;

/// A registered venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    /// A street (9 digits) or community (12 digits) code.
    pub region: RegionCode,
    pub category: String,
    pub indoor: bool,
    pub registered_by: String,
    pub registered_at: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueBody {
    id: VenueId,
    name: String,
    region: RegionCode,
    category: String,
    indoor: bool,
}

/// The signed text a venue's QR code carries.
pub fn venue_qr_payload(key: &[u8; 32], venue: &VenueId) -> String {
    format!(
        "{VENUE_QR_PREFIX}{venue}.{}",
        hex::encode(venue_signature(key, venue))
    )
}

fn venue_signature(key: &[u8; 32], venue: &VenueId) -> [u8; VENUE_QR_SIG_BYTES] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(VENUE_QR_PREFIX.as_bytes());
    mac.update(venue.as_str().as_bytes());
    let full = mac.finalize().into_bytes();
    let mut signature = [0u8; VENUE_QR_SIG_BYTES];
    signature.copy_from_slice(&full[..VENUE_QR_SIG_BYTES]);
    signature
}

/// Checks a scanned venue QR payload and returns its venue.
pub fn verify_venue_qr_payload(key: &[u8; 32], payload: &str) -> Result<VenueId, String> {
    let rest = payload
        .strip_prefix(VENUE_QR_PREFIX)
        .ok_or_else(|| format!("a venue code starts with {VENUE_QR_PREFIX}"))?;
    let (venue, signature_hex) = rest
        .rsplit_once('.')
        .ok_or("a venue code is <venue>.<signature>")?;
    let venue = VenueId::parse(venue).map_err(|error| format!("venue: {error}"))?;
    let mut signature = [0u8; VENUE_QR_SIG_BYTES];
    hex::decode_to_slice(signature_hex, &mut signature)
        .map_err(|_| "the signature must be 32 hex characters".to_string())?;
    let expected = venue_signature(key, &venue);
    let difference = expected
        .iter()
        .zip(signature)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return Err("the venue code's signature does not verify".into());
    }
    Ok(venue)
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/venues", post(register_venue))
        .route("/v1/venues/{id}", get(get_venue))
        .route("/v1/venues/{id}/qr", get(venue_qr))
}

pub(crate) fn parse_json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is larger than the configured maximum")
        } else {
            ApiError::bad_request(format!("unreadable body: {rejection}"))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        if error.is_data() {
            ApiError::unprocessable(format!("invalid content: {error}"))
        } else {
            ApiError::bad_request(format!("malformed JSON: {error}"))
        }
    })
}

async fn register_venue(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not register venues", principal.role.as_str());
        state
            .audit_denied(Some(&principal), "venue.register", "", &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let body: VenueBody = parse_json_body(body)?;
    if !matches!(
        body.region.level(),
        Some(RegionLevel::Street | RegionLevel::Community)
    ) {
        return Err(ApiError::unprocessable(format!(
            "region: a venue lies in a street (9 digits) or community (12 digits), got {}",
            body.region
        )));
    }
    let name_chars = body.name.trim().chars().count();
    if name_chars == 0 || name_chars > VENUE_NAME_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "name: 1 to {VENUE_NAME_CHARS_MAX} characters"
        )));
    }
    let category_chars = body.category.trim().chars().count();
    if category_chars == 0 || category_chars > VENUE_CATEGORY_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "category: 1 to {VENUE_CATEGORY_CHARS_MAX} characters"
        )));
    }
    if !principal.may_act_in(&body.region) {
        let detail = format!(
            "region {} is outside your jurisdiction {}",
            body.region, principal.jurisdiction
        );
        state
            .audit_denied(
                Some(&principal),
                "venue.register",
                body.id.as_str(),
                &detail,
            )
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let venue = Venue {
        id: body.id,
        name: body.name.trim().to_string(),
        region: body.region,
        category: body.category.trim().to_string(),
        indoor: body.indoor,
        registered_by: principal.id.clone(),
        registered_at: state.now(),
    };
    if state.tracing.venue(&venue.id).is_some() {
        return Err(ApiError::conflict(format!(
            "venue {} is already registered",
            venue.id
        )));
    }
    state.tracing.register_venue(&state, venue.clone())?;
    state.audit_read(&principal, "venue.register", venue.id.as_str())?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"venue": venue, "qr_payload": payload})),
    )
        .into_response())
}

fn lookup(state: &SharedState, id: &str) -> Result<Venue, ApiError> {
    let id = VenueId::parse(id).map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    state
        .tracing
        .venue(&id)
        .ok_or_else(|| ApiError::not_found(format!("no venue {id} is registered")))
}

async fn get_venue(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    Ok(axum::Json(json!({"venue": venue, "qr_payload": payload})).into_response())
}

async fn venue_qr(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    let svg = ymt_token::qr::render_qr_svg(&payload)
        .map_err(|error| ApiError::internal(format!("QR rendering: {error}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_codes_verify_and_forgeries_do_not() {
        let key = [7u8; 32];
        let venue = VenueId::parse("v-440305-0001").unwrap();
        let payload = venue_qr_payload(&key, &venue);
        assert_eq!(verify_venue_qr_payload(&key, &payload), Ok(venue.clone()));
        assert!(verify_venue_qr_payload(&[8u8; 32], &payload).is_err());
        let forged = payload.replace("0001", "0002");
        assert!(verify_venue_qr_payload(&key, &forged).is_err());
        assert!(verify_venue_qr_payload(&key, "garbage").is_err());
        assert!(verify_venue_qr_payload(&key, "YMTV1:x.zz").is_err());
    }
}
