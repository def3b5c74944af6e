use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ymt_core::EventId;
use ymt_node::confirmations::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

/// Optional: an empty body (or `null`) confirms without a note.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    note: String,
}

/// A confirmed designation.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Confirmed {
    confirmation: Confirmation,
}

#[utoipa::path(
    post,
    path = "/v1/designations/{id_action}",
    tag = "breaker",
    summary = "Confirm a designation made by automatic tracing: `POST /v1/designations/{id}:confirm`",
    security(("bearer" = [])),
    params(("id_action" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,64}:confirm$", description = "`<event id>:confirm`")),
    request_body = Option<ConfirmBody>,
    responses(
        (status = 200, description = "Confirmed", body = Confirmed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn confirm(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(id_action): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(id) = id_action.strip_suffix(":confirm") else {
        return Err(ApiError::not_found(
            "no such action; confirm with POST /v1/designations/{id}:confirm",
        ));
    };
    require(
        &state,
        &principal,
        Permission::ConfirmDesignations,
        None,
        id,
    )
    .await?;
    let id = EventId::parse(id).map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    let note = match body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => String::new(),
        body => {
            parse_json::<Option<ConfirmBody>>(body)?
                .unwrap_or_default()
                .note
        }
    };
    let confirmation = ymt_node::confirmations::confirm(&state, &principal, &id, note).await?;
    Ok(axum::Json(Confirmed { confirmation }).into_response())
}
