//! JSON Schemas of the wire types, for the HTTP adapter's OpenAPI document
//! (feature `openapi`). Each schema says exactly what the type's parser
//! accepts, so a client (or a fuzzer) reading the document can tell valid
//! from invalid input without calling the node.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::{EventId, PersonId, RegionCode, Timestamp, VenueId};

/// What [`crate::ids`]'s token ids accept: 1 to 64 ASCII letters, digits
/// and `- _ . :`.
pub const TOKEN_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// What [`RegionCode`] accepts: 2, 4, 6, 9 or 12 digits, or `nation`.
pub const REGION_PATTERN: &str = "^(nation|[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$";

/// RFC 3339 date-times with whole-second precision or a fraction, `Z` or an
/// offset. The node accepts instants from 1970-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z; the pattern admits the years 1971 to 9998, so an
/// offset can never carry a described instant out of that range.
pub const TIMESTAMP_PATTERN: &str = "^(197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$";

/// Free text that must not be blank: at least one character that is not
/// white space.
pub const NOT_BLANK_PATTERN: &str = "\\S";

fn token(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(TOKEN_PATTERN))
        .description(Some(description))
        .into()
}

macro_rules! token_schema {
    ($name:ident, $description:literal) => {
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                token($description)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

token_schema!(
    EventId,
    "A globally unique event id chosen by the submitter: 1 to 64 ASCII letters, digits and - _ . :"
);
token_schema!(
    PersonId,
    "A pseudonymous person id (pid). The node computes pids as 32 lowercase hex characters; it accepts any 1 to 64 ASCII letters, digits and - _ . :"
);
token_schema!(
    VenueId,
    "A venue id (场所码): 1 to 64 ASCII letters, digits and - _ . :"
);

impl PartialSchema for RegionCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(REGION_PATTERN))
            .description(Some(
                "A GB/T 2260 division code of 2 (province), 4 (prefecture) or 6 (county) digits, optionally refined by a 3-digit street and a 3-digit community code; `nation` for the whole country",
            ))
            .examples(["440305"])
            .into()
    }
}

impl ToSchema for RegionCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RegionCode")
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .pattern(Some(TIMESTAMP_PATTERN))
            .description(Some(
                "An RFC 3339 instant, whole seconds (a fraction is truncated), normalised to UTC",
            ))
            .examples(["2022-07-01T08:00:00Z"])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

/// The colors an override may set: it may only raise a code.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RaisedColor {
    Yellow,
    Red,
}
