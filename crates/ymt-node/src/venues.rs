//! Venues (场所码): registered by a health authority inside its
//! jurisdiction, each with a signed venue QR code `YMTV1:<venue>.<sig>`.
//!
//! Check-ins name a venue; a check-in at a venue this node does not know is
//! refused, so every stay in the tracing index has a region and an
//! indoor/outdoor class.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use ymt_core::{RegionCode, Timestamp, VenueId};

pub const META_VENUES: &str = "venues";
pub const META_NODE_KEYS: &str = "node-keys";
pub const VENUE_QR_KEY_NAME: &str = "venue-qr";
pub const VENUE_QR_PREFIX: &str = "YMTV1:";
/// Bytes of the HMAC kept in a venue QR payload (128 bits).
pub const VENUE_QR_SIG_BYTES: usize = 16;
pub const VENUE_NAME_CHARS_MAX: usize = 100;
pub const VENUE_CATEGORY_CHARS_MAX: usize = 40;
/// Venue principals one venue names as its operators.
pub const VENUE_OPERATORS_MAX: usize = 100;

/// Where a venue is, in micro-degrees (WGS 84 latitude and longitude times
/// a million, about 0.1 m): integers, so a venue stays comparable and its
/// record hashes the same everywhere. For the dashboard's map only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    pub lat_e6: i32,
    pub lon_e6: i32,
}

impl Location {
    /// From degrees; refuses what is not on the globe.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<Location, String> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(format!("lat must be -90 to 90 degrees, got {lat}"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(format!("lon must be -180 to 180 degrees, got {lon}"));
        }
        Ok(Location {
            lat_e6: (lat * 1e6).round() as i32,
            lon_e6: (lon * 1e6).round() as i32,
        })
    }
}

/// A registered venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    /// A street (9 digits) or community (12 digits) code.
    pub region: RegionCode,
    pub category: String,
    pub indoor: bool,
    pub registered_by: String,
    pub registered_at: Timestamp,
    /// The venue principals (scanners) that record check-ins here; a venue
    /// principal checks people in only at the venues that list it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
    /// Where it is, when the registrar said (the dashboard's map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
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
