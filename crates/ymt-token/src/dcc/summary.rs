//! A neutral summary of a verified DCC, for importing as events.

use serde::Serialize;
use serde_json::Value as Json;
use ymt_core::Timestamp;

use super::DccPayload;

/// SNOMED CT codes of test results.
const TEST_RESULT_NOT_DETECTED: &str = "260415000";
const TEST_RESULT_DETECTED: &str = "260373001";
/// Most entries of one kind taken from one certificate.
const ENTRIES_MAX: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DccSummary {
    /// Claim 1, the issuing country.
    pub issuing_country: Option<String>,
    pub issued_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub schema_version: Option<String>,
    pub date_of_birth: Option<String>,
    pub entries: Vec<DccEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DccEntry {
    Vaccination {
        certificate_id: String,
        country: String,
        disease: String,
        product: String,
        dose_number: u32,
        total_doses: u32,
        vaccinated_at: Timestamp,
    },
    Test {
        certificate_id: String,
        country: String,
        disease: String,
        test_type: String,
        /// True when the result is "detected".
        positive: bool,
        sampled_at: Timestamp,
    },
    Recovery {
        certificate_id: String,
        country: String,
        disease: String,
        first_positive_at: Timestamp,
        valid_from: Timestamp,
        valid_until: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot summarize the certificate: {0}")]
pub struct SummaryError(String);

fn text(entry: &Json, field: &str) -> Result<String, SummaryError> {
    entry
        .get(field)
        .and_then(Json::as_str)
        .map(|text| text.chars().take(128).collect())
        .ok_or_else(|| SummaryError(format!("{field} missing or not text")))
}

fn count(entry: &Json, field: &str) -> Result<u32, SummaryError> {
    entry
        .get(field)
        .and_then(Json::as_f64)
        .filter(|number| (0.0..=1000.0).contains(number))
        .map(|number| number as u32)
        .ok_or_else(|| SummaryError(format!("{field} missing or not a count")))
}

/// A date (`2021-05-29`, read as midnight UTC) or an RFC 3339 date-time.
fn instant(entry: &Json, field: &str) -> Result<Timestamp, SummaryError> {
    let raw = text(entry, field)?;
    let parsed = if raw.len() == 10 {
        Timestamp::parse_rfc3339(&format!("{raw}T00:00:00Z"))
    } else {
        Timestamp::parse_rfc3339(&raw)
    };
    parsed.map_err(|error| SummaryError(format!("{field}: {error}")))
}

fn list<'a>(hcert: &'a Json, kind: &str) -> impl Iterator<Item = &'a Json> {
    hcert
        .get(kind)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .take(ENTRIES_MAX)
}

/// Turns a decoded (and, by the caller, verified) DCC into a summary.
pub fn summarize(payload: &DccPayload) -> Result<DccSummary, SummaryError> {
    let hcert = &payload.hcert;
    let mut entries = Vec::new();
    for entry in list(hcert, "v") {
        entries.push(DccEntry::Vaccination {
            certificate_id: text(entry, "ci")?,
            country: text(entry, "co")?,
            disease: text(entry, "tg")?,
            product: text(entry, "mp")?,
            dose_number: count(entry, "dn")?,
            total_doses: count(entry, "sd")?,
            vaccinated_at: instant(entry, "dt")?,
        });
    }
    for entry in list(hcert, "t") {
        let result = text(entry, "tr")?;
        let positive = match result.as_str() {
            TEST_RESULT_DETECTED => true,
            TEST_RESULT_NOT_DETECTED => false,
            other => return Err(SummaryError(format!("unknown test result {other:?}"))),
        };
        entries.push(DccEntry::Test {
            certificate_id: text(entry, "ci")?,
            country: text(entry, "co")?,
            disease: text(entry, "tg")?,
            test_type: text(entry, "tt")?,
            positive,
            sampled_at: instant(entry, "sc")?,
        });
    }
    for entry in list(hcert, "r") {
        entries.push(DccEntry::Recovery {
            certificate_id: text(entry, "ci")?,
            country: text(entry, "co")?,
            disease: text(entry, "tg")?,
            first_positive_at: instant(entry, "fr")?,
            valid_from: instant(entry, "df")?,
            valid_until: instant(entry, "du")?,
        });
    }
    let seconds = |secs: Option<i64>| secs.and_then(|secs| Timestamp::from_unix_secs(secs).ok());
    Ok(DccSummary {
        issuing_country: payload.issuer.clone(),
        issued_at: seconds(payload.issued_at),
        expires_at: seconds(payload.expires_at),
        schema_version: hcert.get("ver").and_then(Json::as_str).map(str::to_owned),
        date_of_birth: hcert.get("dob").and_then(Json::as_str).map(str::to_owned),
        entries,
    })
}
