use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ymt_core::{RegionCode, VenueId};
use ymt_node::venues::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VenueBody {
    id: VenueId,
    /// 1 to 100 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    name: String,
    /// A street (9 digits) or a community (12 digits).
    #[schema(value_type = String, pattern = "^([0-9]{9}|[0-9]{12})$")]
    region: RegionCode,
    /// 1 to 40 characters once trimmed, e.g. `restaurant`.
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    category: String,
    indoor: bool,
    /// The venue principals (scanners) that record check-ins here; a venue
    /// principal checks people in only at venues that list it. Each must be
    /// a venue principal whose jurisdiction holds the venue's region.
    #[serde(default)]
    #[schema(max_items = 100)]
    operators: Vec<String>,
    /// Where the venue is (WGS 84 degrees), for the dashboard's map.
    #[serde(default)]
    location: Option<LocationBody>,
}

/// A venue's position in degrees; stored in micro-degrees.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocationBody {
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    lon: f64,
}

#[utoipa::path(
    post,
    path = "/v1/venues",
    tag = "venues",
    summary = "Register a venue",
    security(("bearer" = [])),
    request_body = VenueBody,
    responses(
        (status = 201, description = "The venue and the signed text of its QR code", body = VenueAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn register_venue(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::RegisterVenues, None, "").await?;
    let body: VenueBody = parse_json(body)?;
    let location = body
        .location
        .map(|location| Location::from_degrees(location.lat, location.lon))
        .transpose()
        .map_err(|error| ApiError::unprocessable(format!("location: {error}")))?;
    let (venue, payload) = ymt_node::venue_registry::register(
        &state,
        &principal,
        ymt_node::venue_registry::VenueRegistration {
            id: body.id,
            name: body.name,
            region: body.region,
            category: body.category,
            indoor: body.indoor,
            operators: body.operators,
            location,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(VenueAnswer {
            venue,
            qr_payload: payload,
        }),
    )
        .into_response())
}

/// A venue and the signed text its QR code carries.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VenueAnswer {
    venue: Venue,
    qr_payload: String,
}

pub(crate) fn lookup(state: &SharedState, id: &str) -> Result<Venue, ApiError> {
    let id = VenueId::parse(id).map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    state
        .tracing
        .venue(&id)
        .ok_or_else(|| ApiError::not_found(format!("no venue {id} is registered")))
}

#[utoipa::path(
    get,
    path = "/v1/venues/{id}",
    tag = "venues",
    summary = "A venue and its QR payload",
    security(("bearer" = [])),
    params(("id" = VenueId, Path, description = "The venue id")),
    responses(
        (status = 200, description = "The venue and the signed text of its QR code", body = VenueAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn get_venue(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    Ok(axum::Json(VenueAnswer {
        venue,
        qr_payload: payload,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/venues/{id}/qr",
    tag = "venues",
    summary = "A venue's signed QR code",
    security(("bearer" = [])),
    params(("id" = VenueId, Path, description = "The venue id")),
    responses(
        (status = 200, description = "The QR code", body = String, content_type = "image/svg+xml"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn venue_qr(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    let svg = ymt_token::qr::render_qr_svg(&payload)
        .map_err(|error| ApiError::internal(format!("QR rendering: {error}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
