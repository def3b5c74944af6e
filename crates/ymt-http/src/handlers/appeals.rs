use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ymt_core::PersonId;
use ymt_node::appeals::Filed;
use ymt_node::codes::*;

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppealBody {
    pid: PersonId,
    /// 1 to 2,000 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    text: String,
}

#[utoipa::path(
    post,
    path = "/v1/appeals",
    tag = "citizens",
    summary = "Appeal against a color (the person, a guardian or an authority)",
    security(("bearer" = []), ("citizenSession" = [])),
    request_body = AppealBody,
    responses(
        (status = 200, description = "Not filed again: the person already has an open appeal with the same grounds (the same text, whitespace aside, against the same color), which is returned", body = Appeal),
        (status = 201, description = "Filed", body = Appeal),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyAppeals),
    )
)]
pub(crate) async fn file_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Who asks is known before the body is read, so a request without
    // credentials is refused as such (401) whatever its body.
    require_credentials(&state, &headers)?;
    if is_citizen_session_request(&headers) {
        require_same_origin(&state, &headers, true)?;
    }
    let body: AppealBody = parse_json(body)?;
    let filed_by = authorize_person(&state, &headers, &body.pid, "appeal.file").await?;
    match ymt_node::appeals::file(&state, &filed_by, &body.pid, &body.text)? {
        Filed::New(appeal) => Ok((StatusCode::CREATED, axum::Json(appeal)).into_response()),
        Filed::Duplicate(appeal) => Ok(axum::Json(appeal).into_response()),
    }
}

/// An appeal as listed: with the person's masked name and current color,
/// so a queue can be worked without a lookup per person.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ListedAppeal {
    #[serde(flatten)]
    appeal: Appeal,
    masked_name: Option<String>,
    /// `green`, `yellow`, `red` or `cannot_compute`; null when the node
    /// holds no status for the person.
    current_color: Option<String>,
}

fn listed(state: &SharedState, appeals: Vec<Appeal>) -> Result<Vec<ListedAppeal>, ApiError> {
    appeals
        .into_iter()
        .map(|appeal| {
            let masked_name = state
                .person_record(&appeal.pid)?
                .map(|r| r.masked_name.to_string());
            let current_color = state.projection.get(&appeal.pid).map(|(slot, _)| {
                if slot.is_cannot_compute() {
                    ymt_node::projection::CANNOT_COMPUTE.to_owned()
                } else {
                    slot.color().as_str().to_owned()
                }
            });
            Ok(ListedAppeal {
                appeal,
                masked_name,
                current_color,
            })
        })
        .collect()
}

/// One page of the appeals visible to the caller.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Appeals {
    appeals: Vec<ListedAppeal>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AppealsQuery {
    /// Appeals on this page (100 by default, 1 to 500).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = "^[01]\\.[0-9]{1,12}\\.[A-Za-z0-9-]{1,64}$")]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/appeals",
    tag = "citizens",
    summary = "Appeals: an authority's jurisdiction, or a citizen's own and their dependents', open first, paged",
    security(("bearer" = []), ("citizenSession" = [])),
    params(AppealsQuery),
    responses(
        (status = 200, description = "Open appeals first, then newest first, each with its status and outcome (`resolved`); at most `limit` (100 by default, 500 at most), with `next_cursor` for the next page. With an API key: the appeals of the authority's jurisdiction (every one for a national admin); signed in as a citizen: those about the person and their dependents", body = Appeals),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_appeals(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AppealsQuery>,
) -> Result<Response, ApiError> {
    let limit = match query.limit {
        None => APPEALS_PAGE_DEFAULT,
        Some(limit) if (1..=APPEALS_PAGE_MAX).contains(&usize::from(limit)) => usize::from(limit),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "limit: 1 to {APPEALS_PAGE_MAX}"
            )));
        }
    };
    let cursor = query.cursor.as_deref();
    let principal = bearer_principal(&state, &headers)?;
    if principal.is_none()
        && let Some(me) = session_cookie(&headers)
            .and_then(|session_id| state.codes.session(&session_id, state.now()))
    {
        // A citizen sees the appeals about themselves and their dependents.
        let mut persons: Vec<PersonId> = state
            .person_record(&me)?
            .map(|record| record.guardian_of)
            .unwrap_or_default();
        persons.push(me);
        let (appeals, next_cursor) = ymt_node::appeals::list_page(
            &state,
            |entry| persons.contains(&entry.pid),
            cursor,
            limit,
        )?;
        return Ok(axum::Json(Appeals {
            appeals: listed(&state, appeals)?,
            next_cursor,
        })
        .into_response());
    }
    let principal = require_authority(&state, &principal, "appeal.list", "").await?;
    let (appeals, next_cursor) = ymt_node::appeals::list_page(
        &state,
        |entry| ymt_node::appeals::visible_in_region(principal, entry.region.as_ref()),
        cursor,
        limit,
    )?;
    state.audit_read(principal, "appeal.list", "")?;
    Ok(axum::Json(Appeals {
        appeals: listed(&state, appeals)?,
        next_cursor,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// 1 to 2,000 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    note: String,
    /// `upheld` (the color stands) or `overturned` (with `caused`).
    #[serde(default)]
    outcome: Option<AppealOutcome>,
    /// The override or retraction that corrected the color (posted first as
    /// an event), for an overturned appeal.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    caused: Option<ymt_core::EventId>,
}

#[utoipa::path(
    post,
    path = "/v1/appeals/{id}/resolve",
    tag = "citizens",
    summary = "Resolve an appeal",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The appeal id (`ap-<secs>-<16 hex>`)")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Resolved", body = Appeal),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn resolve_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = require_authority(&state, &principal, "appeal.resolve", &id)
        .await?
        .clone();
    let body: ResolveBody = parse_json(body)?;
    let appeal = ymt_node::appeals::resolve_with_outcome(
        &state,
        &principal,
        &id,
        &body.note,
        body.outcome,
        body.caused,
    )
    .await?;
    Ok(axum::Json(appeal).into_response())
}
