use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use ymt_node::auth::{Principal, Role};
use ymt_node::state::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DashboardQuery {
    /// Only the persons registered in this region (inside the caller's
    /// jurisdiction): the same count for every role.
    #[serde(default)]
    #[param(value_type = Option<ymt_core::RegionCode>)]
    region: Option<String>,
    /// `en` for English labels; anything else, or nothing, for Chinese.
    #[serde(default)]
    lang: Option<String>,
}

impl DashboardQuery {
    /// The region asked for, if any: a region code (`nation` too, as
    /// everywhere a region code is taken: the whole country, for the roles
    /// whose jurisdiction it is) inside the caller's jurisdiction; outside
    /// it, refused 403 and audited.
    async fn region_within(
        &self,
        state: &SharedState,
        principal: &Principal,
    ) -> Result<Option<ymt_core::RegionCode>, ApiError> {
        let Some(region) = &self.region else {
            return Ok(None);
        };
        let region = region
            .parse::<ymt_core::RegionCode>()
            .map_err(|error| ApiError::bad_request(format!("region: {error}")))?;
        if !principal.may_act_in(&region) {
            let detail = format!(
                "region {region} is outside your jurisdiction {}",
                principal.jurisdiction
            );
            state
                .audit_denied(Some(principal), "dashboard.read", region.as_str(), &detail)
                .await;
            return Err(ApiError::forbidden(detail));
        }
        Ok(Some(region))
    }

    fn lang(&self) -> crate::pages::Lang {
        match self.lang.as_deref() {
            Some("en") => crate::pages::Lang::En,
            _ => crate::pages::Lang::ZhCn,
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/dashboard/colors.svg",
    tag = "admin",
    summary = "Colors chart (and node-wide activity for national roles)",
    security(("bearer" = [])),
    params(DashboardQuery),
    responses(
        (status = 200, description = "The chart", body = String, content_type = "image/svg+xml"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn colors_svg(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = principal
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("an API key is required"))?;
    require(&state, principal, Permission::ReadDashboard, None, "").await?;
    let lang = query.lang();
    let now = state.now();
    let national_counts = state.projection.color_counts();
    // One region: the persons registered there, counted the same way for
    // every role (a health authority only inside its jurisdiction), so an
    // authority's totals and a national admin's for its region agree.
    if let Some(region) = query.region_within(&state, principal).await? {
        let worker = state.clone();
        let scope = region.clone();
        let counts = tokio::task::spawn_blocking(move || {
            ymt_node::status::region_color_counts(&worker, |registered| scope.contains(registered))
        })
        .await
        .map_err(|_| ApiError::internal("counting panicked"))??;
        let svg = crate::dashboard::colors_chart(lang, region.as_str(), counts, &[]);
        return Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response());
    }
    // A health authority sees the persons registered in its jurisdiction
    // only; the hourly history is node-wide, so it is shown to national
    // roles alone.
    let (counts, history) = if principal.role == Role::HealthAuthority {
        let worker = state.clone();
        let principal = principal.clone();
        let counts = tokio::task::spawn_blocking(move || jurisdiction_counts(&worker, &principal))
            .await
            .map_err(|_| ApiError::internal("counting panicked"))??;
        (counts, Vec::new())
    } else {
        (national_counts, state.color_hours()?)
    };
    let colors =
        crate::dashboard::colors_chart(lang, &principal.jurisdiction.to_string(), counts, &history);
    // National roles also see node-wide activity: check-ins per hour and
    // contacts traced per case, nested under the color chart.
    let svg = if principal.role == Role::HealthAuthority {
        colors
    } else {
        let worker = state.clone();
        let (hours, cases) = tokio::task::spawn_blocking(move || {
            let hours = crate::dashboard::checkins_per_hour(&worker, now);
            let cases = crate::dashboard::contacts_per_case(&worker, 10)?;
            Ok::<_, ApiError>((hours, cases))
        })
        .await
        .map_err(|_| ApiError::internal("dashboard panicked"))??;
        let inner = colors.replacen("<svg ", r#"<svg x="0" y="0" width="640" height="240" "#, 1);
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 640" role="img" aria-label="{title}"><title>{title}</title>{inner}{panels}</svg>"#,
            title = if lang == crate::pages::Lang::En {
                "Dashboard"
            } else {
                "仪表盘"
            },
            panels = crate::dashboard::activity_panels_svg(lang, &hours, &cases, 240.0)
        )
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Persons registered in the principal's jurisdiction, by current color:
/// a maintained count, never a listing of every registration.
pub(crate) fn jurisdiction_counts(
    state: &Node,
    principal: &Principal,
) -> Result<[i64; 3], ApiError> {
    Ok(ymt_node::status::jurisdiction_color_counts(
        state, principal,
    )?)
}

#[utoipa::path(
    get,
    path = "/v1/dashboard/map.svg",
    tag = "dashboard",
    summary = "A map of the caller's jurisdiction: its venues with coordinates, marked by the risk areas in force covering them (SVG drawn by the node; nothing fetched)",
    security(("bearer" = [])),
    params(DashboardQuery),
    responses(
        (status = 200, description = "The map", body = String, content_type = "image/svg+xml"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn venue_map(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = principal
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("an API key is required"))?;
    require(&state, principal, Permission::ReadDashboard, None, "").await?;
    // One region inside the caller's jurisdiction, or the whole of it.
    let area = query
        .region_within(&state, principal)
        .await?
        .unwrap_or_else(|| principal.jurisdiction.clone());
    let now = state.now();
    // The highest level in force at each venue.
    let mut risk: std::collections::HashMap<ymt_core::VenueId, ymt_core::event::RiskLevel> =
        std::collections::HashMap::new();
    for area in state.risk_areas.read().iter() {
        if area.in_force_at <= now && now < area.until {
            for venue in area.venues.keys() {
                let level = risk.entry(venue.clone()).or_insert(area.level);
                *level = (*level).max(area.level);
            }
        }
    }
    let mut venues: Vec<crate::venue_map::MapVenue> = state
        .tracing
        .venues_in(&area)
        .into_iter()
        .filter_map(|venue| {
            let location = venue.location?;
            Some(crate::venue_map::MapVenue {
                risk: risk.get(&venue.id).copied(),
                id: venue.id.to_string(),
                name: venue.name,
                lat_e6: location.lat_e6,
                lon_e6: location.lon_e6,
            })
        })
        .collect();
    venues.sort_by(|a, b| a.id.cmp(&b.id));
    let en = query.lang() == crate::pages::Lang::En;
    let svg = crate::venue_map::venue_map_svg(en, &area.to_string(), &venues);
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
