//! The OpenAPI 3.1 description served at `/openapi.json`, derived with
//! `utoipa` from the handlers' `#[utoipa::path]` annotations and the request
//! and response types' schemas (`ToSchema`; the node's and the core's types
//! have theirs behind their `openapi` feature). Nothing here is written by
//! hand but what no type says: the document's info and tags and the
//! security schemes here, and in [`crate::schemas`] the problem+json error
//! responses and the shapes of the event submission and identity documents.
//!
//! `tests/openapi.rs` checks that every route of [`crate::route_table`] is
//! described, and `scripts/api-fuzz.sh` fuzzes a running node against the
//! document with schemathesis.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::Ref;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::my_color;
use crate::handlers::{
    admin, appeals, codes, dashboard, designations, events, pending, persons, probes, public_rules,
    risk_areas, rules, services, session, venues,
};
use crate::pages;
use crate::schemas::*;

/// The document, as the node serves it.
pub fn openapi_json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "probes",
    summary = "This OpenAPI 3.1 document",
    responses((status = 200, description = "The document", body = inline(AnyObject)))
)]
pub(crate) async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(openapi_json()),
    )
        .into_response()
}

const DESCRIPTION: &str =
    "One national health code: events in, colors out, every decision explained.

**Authentication.** Principals (labs, venues, verifier devices, health authorities, national \
administrators, auditors) send `Authorization: Bearer ymt_<principal>.<secret>`, an API key \
issued by `yimatong admin principal add` or `POST /v1/admin/principals`. Citizens sign in with \
`POST /v1/session` and then send the session cookie `ymt_session` (HttpOnly, SameSite=Strict); \
the cookie reaches their own code, their dependents' codes and their appeals.

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail` \
and, for batches, per-item `errors`. Any route answers 503 with `Retry-After` when the node \
is at its concurrent-request limit or its store or audit queue is full. A method a path does \
not serve is answered with 405 and an `Allow` header.";

#[derive(OpenApi)]
#[openapi(
    info(title = "yimatong 一码通 API", description = DESCRIPTION),
    paths(
        probes::healthz,
        probes::readyz,
        probes::metrics,
        document,
        events::post_event,
        events::post_events_batch,
        persons::register_person,
        persons::confirm_guardianship,
        persons::resolve_person,
        persons::person_status,
        persons::person_timeline,
        codes::person_code,
        my_color::person_color,
        my_color::person_history,
        persons::verify_id_card,
        codes::trust_list,
        codes::verify_token,
        codes::revoke_key,
        crate::handlers::printed_codes::print_code,
        session::get_session,
        session::sign_in,
        session::sign_out,
        session::revoke_person_sessions,
        crate::handlers::oidc_sign_in::start,
        crate::handlers::oidc_sign_in::callback,
        crate::handlers::oidc_sign_in::console_start,
        crate::handlers::oidc_sign_in::console_session,
        crate::handlers::oidc_sign_in::console_sign_out,
        appeals::list_appeals,
        appeals::file_appeal,
        appeals::resolve_appeal,
        rules::list_rule_sets,
        rules::publish_rule_set,
        rules::preview_rules,
        rules::diff_rule_sets,
        rules::get_rule_set,
        rules::publish_profile,
        services::get_service_rule_set,
        services::propose_service_rule_set,
        services::publish_service_profile,
        services::hospital_entrance,
        services::hospital_test_results,
        services::list_consents,
        services::give_consent,
        services::revoke_consent,
        services::decide_visit,
        services::resident_visits,
        services::set_roster,
        services::roster_check,
        venues::register_venue,
        venues::get_venue,
        venues::venue_qr,
        risk_areas::designate,
        risk_areas::list,
        risk_areas::preview,
        risk_areas::lift,
        designations::confirm,
        pending::list_pending,
        pending::decide_pending,
        pending::bulk_override,
        admin::list_audit,
        admin::create_principal,
        admin::revoke_principal_keys,
        dashboard::colors_svg,
        pages::root,
        pages::citizen,
        pages::verify,
        pages::console,
        crate::print_page::print,
        crate::handlers::dashboard::venue_map,
        pages::asset,
        pages::service_worker,
        crate::handlers::qr_decode::decode_frame,
        crate::handlers::self_check_in::scan_venue,
        crate::handlers::self_check_in::check_in,
        public_rules::public_rules,
        public_rules::rules_page,
        crate::handlers::replication::origins,
        crate::handlers::replication::origin_records,
        crate::handlers::replication::snapshot,
        crate::handlers::simulations::simulate,
        crate::handlers::simulations::simulation,
    ),
    components(
        schemas(
            Problem,
            ItemErrorSchema,
            EventSubmission,
            Subject,
            IdNumber,
            RulesDocumentSchema,
            ymt_node::breaker::PendingStatus,
            crate::handlers::simulations::ChartLang,
        ),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooLarge,
            Unprocessable,
            Overloaded,
            NotJson,
            CrossOrigin,
            SignInLockedOut,
            TooManyAppeals,
            SimulationRunning,
            TooManyColorReads,
            SignInRefused,
            SignInUnavailable,
            TooManyFrames,
        )
    ),
    modifiers(&Security, &EveryRoute),
    tags(
        (name = "probes", description = "Liveness, readiness, Prometheus metrics and this document; for anyone"),
        (name = "events", description = "Appending events to persons' timelines: all or nothing, durable before the answer, duplicates reported"),
        (name = "persons", description = "Registration, pseudonyms of identity documents, statuses and timelines"),
        (name = "codes", description = "Signed `YMT1:` health codes, the trust list, and step-by-step verification"),
        (name = "citizens", description = "Citizen sign-in (session cookie `ymt_session`) and appeals against a color"),
        (name = "rules", description = "National rule sets and regional parameter profiles: versions, diff, impact preview, publication"),
        (name = "venues", description = "Venues (场所码) and their signed QR codes"),
        (name = "services", description = "Services on the same platform (docs/services.md): hospital access (就医) entrance lanes and consented results, care-home visits (养老) and rosters, each service's rule set (four-eyes) and venue profiles (bounded)"),
        (name = "breaker", description = "Risk areas, confirmations of automatic designations, bulk overrides, and the circuit breaker's pending actions awaiting a second authority"),
        (name = "admin", description = "The audit log, principals and the dashboard"),
        (name = "cluster", description = "Node to node, in a cluster: anti-entropy's records by origin, for the cluster's nodes only (header `Ymt-Node-Credential`)"),
        (name = "pages", description = "The citizen, verifier and console pages (zh-CN, `?lang=en`) and their assets"),
    )
)]
pub struct ApiDoc;

/// The security schemes: API keys for principals, the session cookie for
/// citizens.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "API key `ymt_<principal>.<secret>`, sent as `Authorization: Bearer <key>`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "citizenSession",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                ymt_node::codes::SESSION_COOKIE,
                "The citizen's session, set by `POST /v1/session`: `s1~<opened at>~<nonce>~<pid>~<HMAC>`, honoured by every node of the cluster",
            ))),
        );
        components.add_security_scheme(
            "node",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Ymt-Node-Credential",
                "A cluster node's credential, derived from the secret the cluster's nodes share (64 hex characters)",
            ))),
        );
    }
}

/// What every route can answer whatever its handler: 503 from load
/// shedding (the router's concurrency limit).
struct EveryRoute;

impl Modify for EveryRoute {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| Ref::from_response_name("Overloaded").into());
            }
        }
    }
}
