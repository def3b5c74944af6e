//! Printed codes (纸质码) for persons without a phone (issue 13 item 13):
//! a signed code of the printed kind, living days rather than minutes,
//! issued by a confirmed guardian or by a health authority of the person's
//! registered region, each print audited durably (who printed for whom).
//! docs/pages.md, "Printed codes", says why the lifetime and how a door
//! handles a color that may have changed since the print.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use ymt_core::{Color, PersonId, Timestamp};
use ymt_node::auth::Principal;
use ymt_node::status::color_label;
use ymt_store::{AuditEntry, AuditOutcome};
use ymt_token::CodeRequest;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

/// The audit action of a print and of a refused one.
const ACTION: &str = "person.printed_code";

/// A printed code and what the printable page shows beside it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PrintedCodeBody {
    pid: PersonId,
    /// Always `printed`: the kind signed into the code.
    kind: &'static str,
    token: String,
    /// The QR code as SVG markup, its modules in the code's color.
    svg: String,
    /// The QR code as a base64 PNG.
    #[schema(content_encoding = "base64")]
    png: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    lifetime_secs: i64,
    /// The color at the instant of printing; a printed code cannot refresh.
    color: Color,
    label: serde_json::Value,
    masked_name: String,
    /// Until when the color itself holds; the code ends then too.
    valid_until: Option<Timestamp>,
    /// `guardian` or `health_authority`: who printed it (audited).
    printed_by: &'static str,
}

/// Who prints: a health authority (by its key or staff session) or a
/// signed-in guardian.
enum Printer {
    Authority(Box<Principal>),
    Guardian(PersonId),
}

impl Printer {
    fn audit_principal(&self) -> (String, String) {
        match self {
            Printer::Authority(principal) => {
                (principal.id.clone(), principal.role.as_str().to_owned())
            }
            Printer::Guardian(pid) => (format!("citizen:{pid}"), "citizen".to_owned()),
        }
    }

    fn entry(
        &self,
        pid: &PersonId,
        outcome: AuditOutcome,
        detail: String,
        at: Timestamp,
    ) -> AuditEntry {
        let (principal, role) = self.audit_principal();
        AuditEntry {
            at,
            principal,
            role,
            action: ACTION.into(),
            target: pid.as_str().into(),
            outcome,
            detail: detail.chars().take(1000).collect(),
        }
    }
}

/// Refuses with `error` after recording the refusal durably.
async fn refuse(
    state: &SharedState,
    printer: &Printer,
    pid: &PersonId,
    detail: &str,
    error: ApiError,
) -> Result<Response, ApiError> {
    let entry = printer.entry(pid, AuditOutcome::Denied, detail.to_owned(), state.now());
    audit_durable(state, entry).await?;
    Err(error)
}

#[utoipa::path(
    post,
    path = "/v1/persons/{pid}/printed-code",
    tag = "codes",
    summary = "Print a code (纸质码) for a person without a phone: a confirmed guardian, or a health authority of the person's registered region; audited",
    description = "Signs a code of the printed kind (claim -70006 = 1) living the trust list's `max_printed_code_lifetime_secs` (3 days), with the person's color at this instant. Only for a person registered without a phone (`has_phone: false`); a citizen never prints for themselves. Every print and every refusal is audited durably with who printed for whom. The printable page is `/print?pid=…&size=a6|a4`.",
    security(("bearer" = []), ("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The pid of the person without a phone")),
    responses(
        (status = 200, description = "The printed code", body = PrintedCodeBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(crate) async fn print_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    require_credentials(&state, &headers)?;
    let pid =
        PersonId::parse(&pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    let ward = state.person_record(&pid)?;
    let printer = match bearer_principal(&state, &headers)? {
        Some(principal) => {
            require(
                &state,
                &principal,
                Permission::PrintCodes,
                Some(ACTION),
                pid.as_str(),
            )
            .await?;
            // The authority managing the person: registered in its
            // jurisdiction. Presence through a test or a check-in is not
            // enough to hand out a code living for days.
            let registered_here = ward
                .as_ref()
                .is_some_and(|ward| principal.may_act_in(&ward.region));
            let printer = Printer::Authority(Box::new(principal));
            if !registered_here {
                return refuse(
                    &state,
                    &printer,
                    &pid,
                    "not registered in the jurisdiction",
                    ApiError::not_found("no person registered in your jurisdiction has this pid"),
                )
                .await;
            }
            printer
        }
        None => {
            require_same_origin(&state, &headers, false)?;
            let me = session_cookie(&headers)
                .and_then(|session_id| state.codes.session(&session_id, state.now()))
                .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
            let printer = Printer::Guardian(me.clone());
            if me == pid {
                return refuse(
                    &state,
                    &printer,
                    &pid,
                    "a citizen may not print a code for themselves",
                    ApiError::forbidden(
                        "a printed code is for a dependent without a phone, not for yourself: your own code is on your phone",
                    ),
                )
                .await;
            }
            let guardian = state
                .person_record(&me)?
                .is_some_and(|record| record.is_confirmed_guardian_of(&pid));
            if !guardian {
                return refuse(
                    &state,
                    &printer,
                    &pid,
                    "not this person's confirmed guardian",
                    ApiError::forbidden("you are not this person's guardian"),
                )
                .await;
            }
            printer
        }
    };
    let Some(ward) = ward else {
        return refuse(
            &state,
            &printer,
            &pid,
            "not registered",
            ApiError::not_found("no registered person has this pid"),
        )
        .await;
    };
    // A printed code lives for days: only for a person registered without
    // a phone, so nobody with one trades a live code for a long-lived one.
    if ward.has_phone {
        return refuse(
            &state,
            &printer,
            &pid,
            "registered with a phone",
            ApiError::conflict(
                "this person is registered with a phone: a printed code is only for a person without one (their registration must say has_phone: false)",
            ),
        )
        .await;
    }
    let now = state.now();
    let (color, valid_until) = match state.projection.get(&pid) {
        Some((slot, _)) if slot.is_cannot_compute() => {
            return refuse(
                &state,
                &printer,
                &pid,
                "status cannot be computed",
                ApiError::conflict(
                    "the status of this person cannot be computed: check in person; no code is printed until it can be",
                ),
            )
            .await;
        }
        Some((slot, _)) => (slot.color(), slot.valid_until()),
        None => (Color::Green, None),
    };
    let request = CodeRequest {
        person: pid.clone(),
        color,
        color_valid_until: valid_until,
        masked_name: ward.masked_name.to_string(),
        rule_set_version: state.rules.read().national.version().to_string(),
    };
    let lifetime_secs = state.codes.printed_code_lifetime_secs;
    let worker = state.clone();
    let code = tokio::task::spawn_blocking(move || {
        let code = worker
            .codes
            .issuer
            .issue_printed(request, now, lifetime_secs)?;
        let _ = code.svg();
        let _ = code.png();
        Ok::<_, ymt_token::TokenError>(code)
    })
    .await
    .map_err(|_| ApiError::internal("printing panicked"))?
    .map_err(|error| ApiError::internal(format!("printed code: {error}")))?;
    // Who printed for whom, durable before the code is handed out.
    let detail = format!(
        "printed a {} code valid {} to {}",
        color.as_str(),
        code.issued_at,
        code.expires_at
    );
    audit_durable(
        &state,
        printer.entry(&pid, AuditOutcome::Allowed, detail, now),
    )
    .await?;
    Ok(axum::Json(PrintedCodeBody {
        pid,
        kind: ymt_token::CodeKind::Printed.as_str(),
        token: code.token.clone(),
        svg: code.svg().to_owned(),
        png: base64::engine::general_purpose::STANDARD.encode(code.png()),
        issued_at: code.issued_at,
        expires_at: code.expires_at,
        lifetime_secs,
        color,
        label: color_label(color),
        masked_name: ward.masked_name.to_string(),
        valid_until,
        printed_by: match printer {
            Printer::Authority(_) => "health_authority",
            Printer::Guardian(_) => "guardian",
        },
    })
    .into_response())
}
