use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use ymt_node::auth::{Principal, Role};
use ymt_node::state::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[utoipa::path(
    get,
    path = "/v1/dashboard/colors.svg",
    tag = "admin",
    summary = "Colors chart (and node-wide activity for national roles)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chart", body = String, content_type = "image/svg+xml"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn colors_svg(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = principal
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("an API key is required"))?;
    require(&state, principal, Permission::ReadDashboard, None, "").await?;
    let now = state.now();
    let national_counts = state.projection.color_counts();
    state.codes.sample_colors(now, national_counts);
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
        (national_counts, state.codes.color_history())
    };
    let colors = crate::pages::colors_chart_svg(counts, &history);
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
        let inner = colors.replacen("<svg ", r#"<svg x="0" y="0" width="640" height="220" "#, 1);
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 620" role="img" aria-label="dashboard"><title>dashboard</title>{inner}{panels}</svg>"#,
            panels = crate::dashboard::activity_panels_svg(&hours, &cases, 220.0)
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
