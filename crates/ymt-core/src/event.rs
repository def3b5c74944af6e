//! Events: the immutable facts that make up a person's timeline.
//!
//! An event is never edited. A correction is a new [`EventBody::Retraction`]
//! naming the event it withdraws. Every event carries a globally unique id,
//! so a node that receives the same event twice stores it once, and any two
//! nodes holding the same set of events derive the same facts and decisions,
//! whatever order the events arrived in.
//!
//! On the wire an event is JSON with `kind` and `data` (adjacently tagged),
//! for example:
//!
//! ```json
//! {"id": "lab-440305-01:S0001", "person": "p7f3a…", "recorded_at": "2022-05-01T08:00:00Z",
//!  "author": "lab-440305-01", "kind": "test_result",
//!  "data": {"test": "pcr", "result": "negative", "sampled_at": "2022-05-01T07:00:00Z",
//!           "reported_at": "2022-05-01T08:00:00Z", "lab": "lab-440305-01"}}
//! ```

use serde::{Deserialize, Serialize};

use crate::{Color, EventId, PersonId, RegionCode, Timestamp, VenueId};

/// Longest free-text field (reasons, product names) in characters.
pub const TEXT_LEN_MAX: usize = 500;

/// Longest stay a single check-in may record.
pub const CHECK_IN_STAY_SECS_MAX: i64 = 24 * 3600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: EventId,
    pub person: PersonId,
    /// When the platform accepted the event. Facts "as of" an instant only
    /// see events recorded at or before it.
    pub recorded_at: Timestamp,
    /// The principal that submitted the event (a lab, an authority, or
    /// `auto-trace` for designations made by automatic tracing).
    pub author: String,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventBody {
    TestResult(TestResult),
    Vaccination(Vaccination),
    Travel(Travel),
    CheckIn(CheckIn),
    ContactDesignation(ContactDesignation),
    RiskExposure(RiskExposure),
    Quarantine(Quarantine),
    Override(Override),
    Retraction(Retraction),
}

/// The top-level fields of an event on the wire; any other is refused.
const EVENT_FIELDS: &[&str] = &["id", "person", "recorded_at", "author", "kind", "data"];

#[derive(Clone, Copy)]
enum EventField {
    Id,
    Person,
    RecordedAt,
    Author,
    Kind,
    Data,
}

impl<'de> Deserialize<'de> for EventField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl serde::de::Visitor<'_> for FieldVisitor {
            type Value = EventField;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a field of an event")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<EventField, E> {
                Ok(match name {
                    "id" => EventField::Id,
                    "person" => EventField::Person,
                    "recorded_at" => EventField::RecordedAt,
                    "author" => EventField::Author,
                    "kind" => EventField::Kind,
                    "data" => EventField::Data,
                    other => return Err(E::unknown_field(other, EVENT_FIELDS)),
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Parses an event's `data` as the body of its kind, straight from the
/// input: stored events are read on every evaluation, and going through a
/// `serde_json::Value` first doubled the cost of reading a timeline.
struct BodyOfKind(EventKind);

impl<'de> serde::de::DeserializeSeed<'de> for BodyOfKind {
    type Value = EventBody;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<EventBody, D::Error> {
        fn parse<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
            kind: EventKind,
            deserializer: D,
        ) -> Result<T, D::Error> {
            T::deserialize(deserializer).map_err(|error| {
                serde::de::Error::custom(format!("data of a {} event: {error}", kind.as_str()))
            })
        }
        let kind = self.0;
        Ok(match kind {
            EventKind::TestResult => EventBody::TestResult(parse(kind, deserializer)?),
            EventKind::Vaccination => EventBody::Vaccination(parse(kind, deserializer)?),
            EventKind::Travel => EventBody::Travel(parse(kind, deserializer)?),
            EventKind::CheckIn => EventBody::CheckIn(parse(kind, deserializer)?),
            EventKind::ContactDesignation => {
                EventBody::ContactDesignation(parse(kind, deserializer)?)
            }
            EventKind::RiskExposure => EventBody::RiskExposure(parse(kind, deserializer)?),
            EventKind::Quarantine => EventBody::Quarantine(parse(kind, deserializer)?),
            EventKind::Override => EventBody::Override(parse(kind, deserializer)?),
            EventKind::Retraction => EventBody::Retraction(parse(kind, deserializer)?),
        })
    }
}

/// An event's fields, read in any order; unknown top-level fields are
/// refused, and a body error names its kind. When `kind` comes before
/// `data` (as the node writes events) the body is parsed directly;
/// otherwise `data` is kept as a JSON value until the kind is known.
struct EventVisitor;

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an event")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        use serde::de::Error;
        // Each field at most once, as the derived form refused duplicates.
        macro_rules! set_once {
            ($slot:ident, $name:literal) => {{
                if $slot.is_some() {
                    return Err(A::Error::duplicate_field($name));
                }
                $slot = Some(map.next_value()?);
            }};
        }
        let mut id: Option<EventId> = None;
        let mut person: Option<PersonId> = None;
        let mut recorded_at: Option<Timestamp> = None;
        let mut author: Option<String> = None;
        let mut kind: Option<EventKind> = None;
        let mut body: Option<EventBody> = None;
        let mut data: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<EventField>()? {
            match field {
                EventField::Id => set_once!(id, "id"),
                EventField::Person => set_once!(person, "person"),
                EventField::RecordedAt => set_once!(recorded_at, "recorded_at"),
                EventField::Author => set_once!(author, "author"),
                EventField::Kind => set_once!(kind, "kind"),
                EventField::Data => {
                    if body.is_some() || data.is_some() {
                        return Err(A::Error::duplicate_field("data"));
                    }
                    match kind {
                        Some(kind) => body = Some(map.next_value_seed(BodyOfKind(kind))?),
                        None => data = Some(map.next_value()?),
                    }
                }
            }
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field("kind"))?;
        let body = match (body, data) {
            (Some(body), _) => body,
            (None, Some(data)) => {
                EventBody::from_kind_and_data(kind, data).map_err(A::Error::custom)?
            }
            (None, None) => return Err(A::Error::missing_field("data")),
        };
        Ok(Event {
            id: id.ok_or_else(|| A::Error::missing_field("id"))?,
            person: person.ok_or_else(|| A::Error::missing_field("person"))?,
            recorded_at: recorded_at.ok_or_else(|| A::Error::missing_field("recorded_at"))?,
            author: author.ok_or_else(|| A::Error::missing_field("author"))?,
            body,
        })
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Event", EVENT_FIELDS, EventVisitor)
    }
}

/// The kinds of event, as named on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TestResult,
    Vaccination,
    Travel,
    CheckIn,
    ContactDesignation,
    RiskExposure,
    Quarantine,
    Override,
    Retraction,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::TestResult,
        EventKind::Vaccination,
        EventKind::Travel,
        EventKind::CheckIn,
        EventKind::ContactDesignation,
        EventKind::RiskExposure,
        EventKind::Quarantine,
        EventKind::Override,
        EventKind::Retraction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::TestResult => "test_result",
            EventKind::Vaccination => "vaccination",
            EventKind::Travel => "travel",
            EventKind::CheckIn => "check_in",
            EventKind::ContactDesignation => "contact_designation",
            EventKind::RiskExposure => "risk_exposure",
            EventKind::Quarantine => "quarantine",
            EventKind::Override => "override",
            EventKind::Retraction => "retraction",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    Pcr,
    Antigen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TestOutcome {
    Positive,
    Negative,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestResult {
    pub test: TestKind,
    pub result: TestOutcome,
    pub sampled_at: Timestamp,
    pub reported_at: Timestamp,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub lab: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Vaccination {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub product: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub dose: u8,
    pub administered_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Travel {
    pub region: RegionCode,
    pub arrived_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departed_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub venue: VenueId,
    pub entered_at: Timestamp,
    /// Absent when the venue recorded no departure; facts then assume the
    /// default stay of [`CHECK_IN_DEFAULT_STAY_SECS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<Timestamp>,
}

/// The stay assumed for a check-in without a recorded departure.
pub const CHECK_IN_DEFAULT_STAY_SECS: i64 = 2 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// 密接: close contact.
    Close,
    /// 次密接: contact of a close contact.
    Secondary,
    /// 时空伴随者: a venue stay that overlapped a case's stay.
    Companion,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactDesignation {
    pub contact: ContactKind,
    /// The case (or, for a secondary contact, the close contact) this
    /// designation traces back to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_case: Option<PersonId>,
    /// When the designation was made; timed transitions count from here.
    pub designated_at: Timestamp,
    /// The end of the last exposure (for companions: the end of the overlap).
    pub last_exposure_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<VenueId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_end: Option<Timestamp>,
    /// The rule (or tracing rule) that made the designation, when automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub rule: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

/// A person's presence in a designated risk area while the designation was in
/// force. The platform derives these from check-ins or travel and an area
/// designation; the stay and the designation window are both recorded so the
/// facts can use their intersection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskExposure {
    pub area: RegionCode,
    pub level: RiskLevel,
    pub stay_start: Timestamp,
    pub stay_end: Timestamp,
    pub designated_from: Timestamp,
    pub designated_until: Timestamp,
    /// The area designation this exposure follows from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designation: Option<EventId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum QuarantineKind {
    /// 集中隔离
    Centralised,
    /// 居家隔离
    Home,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    pub quarantine: QuarantineKind,
    pub start: Timestamp,
    pub end: Timestamp,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
}

/// An authority's explicit color, with its reason and end. It is shown to the
/// person with its author, and it is appealable like any other event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RaisedColor))]
    pub color: Color,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Retraction {
    pub target: EventId,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
}

/// What is wrong with an event, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
}

fn field_error(field: &'static str, message: impl Into<String>) -> EventError {
    EventError::Field {
        field,
        message: message.into(),
    }
}

fn check_text(field: &'static str, text: &str, required: bool) -> Result<(), EventError> {
    if required && text.trim().is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if text.chars().count() > TEXT_LEN_MAX {
        return Err(field_error(
            field,
            format!("must be at most {TEXT_LEN_MAX} characters"),
        ));
    }
    crate::text::check(text).map_err(|error| field_error(field, error.to_string()))
}

fn check_order(
    earlier_field: &'static str,
    earlier: Timestamp,
    later_field: &'static str,
    later: Timestamp,
) -> Result<(), EventError> {
    if later < earlier {
        return Err(field_error(
            later_field,
            format!("must not be before {earlier_field} ({later} < {earlier})"),
        ));
    }
    Ok(())
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// The latest instant the event speaks about, used to refuse events from
    /// far in the future.
    pub fn latest_instant(&self) -> Timestamp {
        match &self.body {
            EventBody::TestResult(test) => test.sampled_at.max(test.reported_at),
            EventBody::Vaccination(vaccination) => vaccination.administered_at,
            EventBody::Travel(travel) => travel.departed_at.unwrap_or(travel.arrived_at),
            EventBody::CheckIn(check_in) => check_in.left_at.unwrap_or(check_in.entered_at),
            EventBody::ContactDesignation(designation) => {
                designation.designated_at.max(designation.last_exposure_at)
            }
            EventBody::RiskExposure(exposure) => exposure.stay_start,
            // Quarantines and overrides legitimately end in the future; what
            // matters is when they start.
            EventBody::Quarantine(quarantine) => quarantine.start,
            EventBody::Override(override_) => override_.from,
            EventBody::Retraction(_) => self.recorded_at,
        }
    }

    /// Checks the invariants serde cannot express: orderings of instants,
    /// text lengths, and bounded stays.
    pub fn validate(&self) -> Result<(), EventError> {
        check_text("author", &self.author, true)?;
        if self.author.len() > 64 {
            return Err(field_error("author", "must be at most 64 bytes"));
        }
        match &self.body {
            EventBody::TestResult(test) => {
                check_text("data.lab", &test.lab, true)?;
                check_order(
                    "data.sampled_at",
                    test.sampled_at,
                    "data.reported_at",
                    test.reported_at,
                )
            }
            EventBody::Vaccination(vaccination) => {
                check_text("data.product", &vaccination.product, true)?;
                if vaccination.dose == 0 || vaccination.dose > 10 {
                    return Err(field_error("data.dose", "must be between 1 and 10"));
                }
                Ok(())
            }
            EventBody::Travel(travel) => match travel.departed_at {
                Some(departed_at) => check_order(
                    "data.arrived_at",
                    travel.arrived_at,
                    "data.departed_at",
                    departed_at,
                ),
                None => Ok(()),
            },
            EventBody::CheckIn(check_in) => {
                if let Some(left_at) = check_in.left_at {
                    check_order(
                        "data.entered_at",
                        check_in.entered_at,
                        "data.left_at",
                        left_at,
                    )?;
                    let stay_secs = left_at.unix_secs() - check_in.entered_at.unix_secs();
                    if stay_secs > CHECK_IN_STAY_SECS_MAX {
                        return Err(field_error(
                            "data.left_at",
                            format!(
                                "a stay of {stay_secs} s exceeds the maximum of {CHECK_IN_STAY_SECS_MAX} s"
                            ),
                        ));
                    }
                }
                Ok(())
            }
            EventBody::ContactDesignation(designation) => {
                check_text("data.reason", &designation.reason, true)?;
                if let Some(rule) = &designation.rule {
                    check_text("data.rule", rule, true)?;
                }
                match (designation.overlap_start, designation.overlap_end) {
                    (Some(start), Some(end)) => {
                        check_order("data.overlap_start", start, "data.overlap_end", end)
                    }
                    (None, None) => Ok(()),
                    _ => Err(field_error(
                        "data.overlap_end",
                        "overlap_start and overlap_end come together",
                    )),
                }
            }
            EventBody::RiskExposure(exposure) => {
                check_order(
                    "data.stay_start",
                    exposure.stay_start,
                    "data.stay_end",
                    exposure.stay_end,
                )?;
                check_order(
                    "data.designated_from",
                    exposure.designated_from,
                    "data.designated_until",
                    exposure.designated_until,
                )
            }
            EventBody::Quarantine(quarantine) => {
                check_text("data.reason", &quarantine.reason, true)?;
                check_order("data.start", quarantine.start, "data.end", quarantine.end)
            }
            EventBody::Override(override_) => {
                check_text("data.reason", &override_.reason, true)?;
                if override_.color == Color::Green {
                    return Err(field_error(
                        "data.color",
                        "an override may only raise a code to yellow or red; to clear a code, retract the event that caused it",
                    ));
                }
                check_order("data.from", override_.from, "data.until", override_.until)
            }
            EventBody::Retraction(retraction) => {
                check_text("data.reason", &retraction.reason, true)?;
                if retraction.target == self.id {
                    return Err(field_error("data.target", "an event cannot retract itself"));
                }
                Ok(())
            }
        }
    }
}

impl EventBody {
    /// Parses the `data` of an event of the given kind, refusing unknown fields.
    pub fn from_kind_and_data(
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<EventBody, String> {
        fn parse<T: serde::de::DeserializeOwned>(
            kind: EventKind,
            data: serde_json::Value,
        ) -> Result<T, String> {
            serde_json::from_value(data)
                .map_err(|error| format!("data of a {} event: {error}", kind.as_str()))
        }
        Ok(match kind {
            EventKind::TestResult => EventBody::TestResult(parse(kind, data)?),
            EventKind::Vaccination => EventBody::Vaccination(parse(kind, data)?),
            EventKind::Travel => EventBody::Travel(parse(kind, data)?),
            EventKind::CheckIn => EventBody::CheckIn(parse(kind, data)?),
            EventKind::ContactDesignation => EventBody::ContactDesignation(parse(kind, data)?),
            EventKind::RiskExposure => EventBody::RiskExposure(parse(kind, data)?),
            EventKind::Quarantine => EventBody::Quarantine(parse(kind, data)?),
            EventKind::Override => EventBody::Override(parse(kind, data)?),
            EventKind::Retraction => EventBody::Retraction(parse(kind, data)?),
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            EventBody::TestResult(_) => EventKind::TestResult,
            EventBody::Vaccination(_) => EventKind::Vaccination,
            EventBody::Travel(_) => EventKind::Travel,
            EventBody::CheckIn(_) => EventKind::CheckIn,
            EventBody::ContactDesignation(_) => EventKind::ContactDesignation,
            EventBody::RiskExposure(_) => EventKind::RiskExposure,
            EventBody::Quarantine(_) => EventKind::Quarantine,
            EventBody::Override(_) => EventKind::Override,
            EventBody::Retraction(_) => EventKind::Retraction,
        }
    }
}
