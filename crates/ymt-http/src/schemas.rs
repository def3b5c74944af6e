//! The building blocks of the OpenAPI document that no single handler or
//! body type owns: the problem+json error body and the reusable error
//! responses, the identity-document number, the event submission (one
//! object per kind, each with its kind's data schema), rules documents, and
//! free-form objects. Handlers name these in their `#[utoipa::path]`
//! annotations; [`crate::openapi`] assembles the document.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToResponse, ToSchema};
use ymt_core::EventKind;
use ymt_core::event::{
    CheckIn, ContactDesignation, Override, Quarantine, Retraction, RiskExposure, TestResult,
    Travel, Vaccination,
};

/// An error, as every endpoint answers it (RFC 9457 problem details).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `https://yimatong.invalid/problems/<slug>`, e.g. `…/forbidden`.
    #[serde(rename = "type")]
    problem_type: String,
    title: String,
    status: u16,
    detail: String,
    /// Per-item errors of a batch, by index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ItemErrorSchema>,
}

/// One refused item of a batch.
#[derive(Serialize, ToSchema)]
#[schema(as = ItemError)]
#[allow(dead_code)]
pub struct ItemErrorSchema {
    index: usize,
    detail: String,
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

macro_rules! problem_response {
    ($name:ident, $description:literal) => {
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), problem($description).into())
            }
        }
    };
}

problem_response!(
    BadRequest,
    "Malformed request: unreadable or malformed JSON, an empty batch, a malformed path or query parameter"
);
problem_response!(
    Unauthorized,
    "No credentials, or unknown or disabled ones (see the security schemes)"
);
problem_response!(
    Forbidden,
    "The principal's role may not do this, or the target lies outside its jurisdiction (refusals are audited)"
);
problem_response!(NotFound, "No such resource (in the caller's jurisdiction)");
problem_response!(
    Conflict,
    "The request conflicts with what is stored: an id already used, an action already decided"
);
problem_response!(
    TooLarge,
    "The body is larger than the node's limit (8 MiB by default), or holds more items than allowed"
);
problem_response!(
    Unprocessable,
    "Well-formed JSON whose content is invalid: a field that does not parse, an unknown field, or a rule the schema cannot express (check digits, the order of instants, instants too far in the future, references to unknown venues or events)"
);

problem_response!(
    SignInRefused,
    "The identity provider's answer is refused and no session is opened: the state is not this browser's or was used, the code was refused (replayed, or without its PKCE verifier), or the ID token fails a check (issuer, audience, signature, expiry, nonce, the ID number claim); the detail says which"
);
problem_response!(
    SignInUnavailable,
    "The identity provider cannot be reached now (a node with no provider configured answers 404) (sessions already open continue; codes on phones still verify offline)"
);
problem_response!(
    NotJson,
    "A citizen's request (signed in by the session cookie, or signing in) must have Content-Type: application/json"
);
problem_response!(
    CrossOrigin,
    "A citizen's state-changing request came from another origin: its Origin is not the node's public URL (or, without one, its Host), or Sec-Fetch-Site is not same-origin"
);

/// 429 with Retry-After: a limit per person or per client was reached.
macro_rules! retry_after_response {
    ($name:ident, $description:literal) => {
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (
                    stringify!($name),
                    with_retry_after(problem($description)).into(),
                )
            }
        }
    };
}

retry_after_response!(
    SignInLockedOut,
    "Too many failed sign-ins for this ID number or from this client address: locked out (the right code too) for the seconds in Retry-After; the lockout doubles with each further failure. Also: the person opened and ended 64 sessions in the last 8 hours (each ended session is remembered that long)"
);
retry_after_response!(
    TooManyAppeals,
    "The person already has as many open appeals as allowed (5 by default); retry once one is resolved"
);
retry_after_response!(
    SimulationRunning,
    "A simulation is already running on this node (one at a time); retry once it is done"
);
retry_after_response!(
    TooManyColorReads,
    "The person's color was read more than 10 times in 10 s (every page and guardian together); retry after the given seconds"
);

fn with_retry_after(mut response: Response) -> Response {
    response.headers.insert(
        "Retry-After".into(),
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some("seconds"))
            .build(),
    );
    response
}

pub struct Overloaded;

impl<'s> ToResponse<'s> for Overloaded {
    fn response() -> (&'s str, RefOr<Response>) {
        let response = with_retry_after(problem(
            "The node sheds load (concurrent-request limit) or a queue is full; retry after the given seconds",
        ));
        ("Overloaded", response.into())
    }
}

/// An identity document's number. A resident ID is 17 digits and a check
/// character (its check and birth date are verified: 422 when wrong); other
/// documents are 5 to 20 letters and digits.
pub struct IdNumber;

impl PartialSchema for IdNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^([0-9]{17}[0-9Xx]|[A-Za-z0-9]{5,20})$"))
            .description(Some(
                "The document's number: for `resident_id` 17 digits and a check character (0-9 or X, GB 11643: a wrong check character or birth date is refused with 422); for other documents 5 to 20 ASCII letters and digits. Never stored: the node keeps only its keyed hash (the pid)",
            ))
            .examples(["11010519491231002X"])
            .into()
    }
}

impl ToSchema for IdNumber {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IdNumber")
    }
}

/// Who an event is about: a pid, or an identity document from which the
/// node computes it. Other properties are ignored.
pub struct Subject;

impl PartialSchema for Subject {
    fn schema() -> RefOr<Schema> {
        let by_pid = ObjectBuilder::new()
            .property("pid", ymt_core::PersonId::schema())
            .required("pid");
        let by_document = ObjectBuilder::new()
            .property("id_type", Ref::from_schema_name("IdType"))
            .property("id_number", Ref::from_schema_name("IdNumber"))
            .required("id_type")
            .required("id_number");
        AnyOfBuilder::new()
            .item(by_pid)
            .item(by_document)
            .description(Some(
                "Either `{\"pid\": …}` or an identity document `{\"id_type\": …, \"id_number\": …}`",
            ))
            .into()
    }
}

impl ToSchema for Subject {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Subject")
    }
}

/// The schema of an event's `data` for each kind, as the core parses it.
fn data_schema(kind: EventKind) -> (&'static str, RefOr<Schema>) {
    let name = match kind {
        EventKind::TestResult => TestResult::name(),
        EventKind::Vaccination => Vaccination::name(),
        EventKind::Travel => Travel::name(),
        EventKind::CheckIn => CheckIn::name(),
        EventKind::ContactDesignation => ContactDesignation::name(),
        EventKind::RiskExposure => RiskExposure::name(),
        EventKind::Quarantine => Quarantine::name(),
        EventKind::Override => Override::name(),
        EventKind::Retraction => Retraction::name(),
    };
    (kind.as_str(), Ref::from_schema_name(name).into())
}

/// One event as submitted (`ymt_node::state::Submission`): the `data` of
/// each `kind` has its own schema, so the document is one object per kind.
pub struct EventSubmission;

impl PartialSchema for EventSubmission {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new().description(Some(
            "One event: a globally unique id, who it is about, the region where it happened (or of the acting authority), its kind and the kind's data. Instants may not lie more than 300 s in the future (quarantines and overrides may end later); a retraction names a stored event of the same person",
        ));
        for kind in EventKind::ALL {
            let (kind_name, data) = data_schema(kind);
            one_of = one_of.item(
                ObjectBuilder::new()
                    .title(Some(kind_name))
                    .property("id", ymt_core::EventId::schema())
                    .property("subject", Ref::from_schema_name("Subject"))
                    .property("region", Ref::from_schema_name("RegionCode"))
                    .property(
                        "kind",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some([kind_name])),
                    )
                    .property("data", data)
                    .required("id")
                    .required("subject")
                    .required("region")
                    .required("kind")
                    .required("data")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            );
        }
        one_of.into()
    }
}

impl ToSchema for EventSubmission {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Submission")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (TestResult::name(), TestResult::schema()),
            (Vaccination::name(), Vaccination::schema()),
            (Travel::name(), Travel::schema()),
            (CheckIn::name(), CheckIn::schema()),
            (ContactDesignation::name(), ContactDesignation::schema()),
            (RiskExposure::name(), RiskExposure::schema()),
            (Quarantine::name(), Quarantine::schema()),
            (Override::name(), Override::schema()),
            (Retraction::name(), Retraction::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        <TestResult as ToSchema>::schemas(schemas);
        <Vaccination as ToSchema>::schemas(schemas);
        <Travel as ToSchema>::schemas(schemas);
        <CheckIn as ToSchema>::schemas(schemas);
        <ContactDesignation as ToSchema>::schemas(schemas);
        <RiskExposure as ToSchema>::schemas(schemas);
        <Quarantine as ToSchema>::schemas(schemas);
        <Override as ToSchema>::schemas(schemas);
        <Retraction as ToSchema>::schemas(schemas);
        schemas.push((Subject::name().into_owned(), Subject::schema()));
        schemas.push((IdNumber::name().into_owned(), IdNumber::schema()));
    }
}

/// A national rule set (`kind: rule-set`) or a regional parameter profile
/// (`kind: parameter-profile`), checked at publication (docs/rules.md).
pub struct RulesDocumentSchema;

impl PartialSchema for RulesDocumentSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["rule-set", "parameter-profile"])),
            )
            .required("kind")
            .description(Some(
                "A rule-set document (`kind: rule-set`, see crates/ymt-rules/rulesets/cn-national.json and docs/rules.md) or a parameter profile (`kind: parameter-profile`). Publication checks (CertLogic validity, known fact paths, parameters inside national bounds, a greater version) refuse a document with 422",
            ))
            .into()
    }
}

impl ToSchema for RulesDocumentSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RulesDocument")
    }
}

/// A JSON object whose shape the handler builds (documented by its
/// description).
pub(crate) struct AnyObject;

impl PartialSchema for AnyObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).into()
    }
}

impl ToSchema for AnyObject {}

retry_after_response!(
    TooManyFrames,
    "This client address sent more camera frames this second than allowed (20); retry after the given seconds"
);
