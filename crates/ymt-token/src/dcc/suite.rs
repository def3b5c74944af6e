//! Runs test data shaped like dgc-testdata: each `*.json` file under a
//! `2DCode/raw` directory holds the layers of one certificate and the
//! expected results. Every expected-result flag present is one assertion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;
use serde_json::Value as Json;
use ymt_core::Timestamp;

use super::{DccSchema, DscCert, json};
use crate::pipeline;

/// Largest test file read.
const TEST_FILE_LEN_MAX: u64 = 1024 * 1024;
/// Most test files walked.
const TEST_FILES_MAX: usize = 100_000;
/// Deepest directory nesting walked.
const WALK_DEPTH_MAX: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed { detail: String },
    Skipped { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assertion {
    pub file: PathBuf,
    pub flag: String,
    pub expected: Option<bool>,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SuiteResult {
    pub assertions: Vec<Assertion>,
}

impl SuiteResult {
    pub fn passed(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Passed))
    }
    pub fn failed(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Failed { .. }))
    }
    pub fn skipped(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Skipped { .. }))
    }
    fn count(&self, keep: impl Fn(&Outcome) -> bool) -> usize {
        self.assertions.iter().filter(|a| keep(&a.outcome)).count()
    }
    /// `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// A known wrong expectation, from `known_issues.csv`.
#[derive(Clone, Debug)]
struct KnownIssue {
    test_name: String,
    country: String,
    test_set: String,
    reason: String,
}

fn read_known_issues(root: &Path) -> Vec<KnownIssue> {
    let Ok(text) = std::fs::read_to_string(root.join("known_issues.csv")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(4, ',').map(str::trim).collect();
            match fields.as_slice() {
                [test_name, country, test_set, reason] => Some(KnownIssue {
                    test_name: (*test_name).into(),
                    country: (*country).into(),
                    test_set: (*test_set).into(),
                    reason: (*reason).into(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The reference test names each flag is checked by, as known_issues.csv
/// names them.
fn reference_tests(flag: &str) -> &'static [&'static str] {
    match flag {
        "EXPECTEDPICTUREDECODE" => &["test_picture_decode"],
        "EXPECTEDUNPREFIX" => &["test_un_prefix"],
        "EXPECTEDB45DECODE" => &["test_b45decode"],
        "EXPECTEDCOMPRESSION" => &["test_compression"],
        "EXPECTEDVERIFY" => &["test_verification_check"],
        "EXPECTEDDECODE" => &["test_cose_json", "test_cose_cbor"],
        "EXPECTEDVALIDJSON" => &["test_cbor_json"],
        "EXPECTEDSCHEMAVALIDATION" => &["test_cose_schema"],
        "EXPECTEDEXPIRATIONCHECK" => &["test_expiration_check"],
        "EXPECTEDKEYUSAGE" => &["test_expected_key_usage"],
        // The reference suite has no test of its own for this flag; it
        // asserts the same thing as test_cose_schema (the certificate JSON is
        // schema-valid) about the same JSON, so that test's issues apply.
        "EXPECTEDVALIDOBJECT" => &["test_cose_schema"],
        _ => &[],
    }
}

fn collect_files(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth > WALK_DEPTH_MAX || files.len() >= TEST_FILES_MAX {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, depth + 1, files);
        } else if path.extension().is_some_and(|ext| ext == "json")
            && path
                .parent()
                .is_some_and(|parent| parent.ends_with("2DCode/raw"))
            && files.len() < TEST_FILES_MAX
        {
            files.push(path);
        }
    }
}

/// Runs every test file under the given directories. A failure that
/// `known_issues.csv` lists is counted as skipped with the issue link,
/// unless `strict` is set.
pub fn run_suite(dirs: &[PathBuf], schema: Option<&DccSchema>, strict: bool) -> SuiteResult {
    let mut result = SuiteResult::default();
    for dir in dirs {
        // known_issues.csv sits at the root of the test data; a run over one
        // country's directory finds it one level up.
        let root = dir
            .ancestors()
            .take(3)
            .find(|candidate| candidate.join("known_issues.csv").is_file())
            .unwrap_or(dir);
        let known_issues = read_known_issues(root);
        let mut files = Vec::new();
        collect_files(dir, 0, &mut files);
        for file in files {
            // The country is the directory right under the root.
            let country = file
                .strip_prefix(root)
                .ok()
                .and_then(|rest| rest.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let test_set = file
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default();
            for mut assertion in check_file(&file, schema) {
                if let Outcome::Failed { detail } = &assertion.outcome
                    && !strict
                    && let Some(issue) = known_issues.iter().find(|issue| {
                        reference_tests(&assertion.flag).contains(&issue.test_name.as_str())
                            && issue.country == country
                            && (issue.test_set.is_empty() || issue.test_set == test_set)
                    })
                {
                    assertion.outcome = Outcome::Skipped {
                        reason: format!("known issue {} ({detail})", issue.reason),
                    };
                }
                result.assertions.push(assertion);
            }
        }
    }
    result
}

/// Checks one test file; a file that cannot be read is one failed
/// assertion.
pub fn check_file(path: &Path, schema: Option<&DccSchema>) -> Vec<Assertion> {
    let failed = |detail: String| {
        vec![Assertion {
            file: path.to_path_buf(),
            flag: "FILE".into(),
            expected: None,
            outcome: Outcome::Failed { detail },
        }]
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > TEST_FILE_LEN_MAX => {
            return failed(format!("{} bytes, at most {TEST_FILE_LEN_MAX}", meta.len()));
        }
        Err(error) => return failed(error.to_string()),
        Ok(_) => {}
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return failed(error.to_string()),
    };
    let test: Json = match serde_json::from_str(&text) {
        Ok(test) => test,
        Err(error) => return failed(format!("not JSON: {error}")),
    };
    let case = Case {
        test: &test,
        schema,
    };
    let Some(expected) = test.get("EXPECTEDRESULTS").and_then(Json::as_object) else {
        return failed("no EXPECTEDRESULTS object".into());
    };
    let mut assertions = Vec::new();
    for (flag, value) in expected {
        let Some(expected) = value.as_bool() else {
            assertions.push(Assertion {
                file: path.to_path_buf(),
                flag: flag.clone(),
                expected: None,
                outcome: Outcome::Skipped {
                    reason: "expected value is not a boolean".into(),
                },
            });
            continue;
        };
        let outcome = match case.check(flag) {
            Err(reason) => Outcome::Skipped { reason },
            Ok(actual) => match (expected, actual) {
                (true, Ok(())) => Outcome::Passed,
                (false, Err(_)) => Outcome::Passed,
                (true, Err(detail)) => Outcome::Failed {
                    detail: format!("expected success, got: {detail}"),
                },
                (false, Ok(())) => Outcome::Failed {
                    detail: "expected failure, but the step succeeded".into(),
                },
            },
        };
        assertions.push(Assertion {
            file: path.to_path_buf(),
            flag: flag.clone(),
            expected: Some(expected),
            outcome,
        });
    }
    assertions
}

/// Ok(step result) when the check could run, Err(reason) to skip.
type Check = Result<Result<(), String>, String>;

struct Case<'a> {
    test: &'a Json,
    schema: Option<&'a DccSchema>,
}

fn need<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("test data has no {name}"))
}

fn unhex(text: &str, name: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim()).map_err(|error| format!("{name} is not hex: {error}"))
}

impl Case<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.test.get(name).and_then(Json::as_str)
    }

    fn context(&self, name: &str) -> Option<&str> {
        self.test.get("TESTCTX")?.get(name)?.as_str()
    }

    fn check(&self, flag: &str) -> Check {
        match flag {
            "EXPECTEDPICTUREDECODE" => self.picture_decode(),
            "EXPECTEDUNPREFIX" => self.unprefix(),
            "EXPECTEDB45DECODE" => self.base45_decode(),
            "EXPECTEDCOMPRESSION" => self.compression(),
            "EXPECTEDVERIFY" => self.verify(),
            "EXPECTEDDECODE" => self.decode(),
            "EXPECTEDVALIDJSON" => self.valid_json(),
            "EXPECTEDSCHEMAVALIDATION" => self.schema_validation(),
            "EXPECTEDEXPIRATIONCHECK" => self.expiration(),
            "EXPECTEDKEYUSAGE" => self.key_usage(),
            "EXPECTEDVALIDOBJECT" => self.valid_object(),
            "EXPECTEDENCODE" => self.encode(),
            other => Err(format!("unknown flag {other}")),
        }
    }

    fn picture_decode(&self) -> Check {
        let picture = need(self.field("2DCODE"), "2DCODE")?;
        let prefix = need(self.field("PREFIX"), "PREFIX")?;
        Ok((|| {
            let png = base64::engine::general_purpose::STANDARD
                .decode(picture.trim())
                .map_err(|error| format!("2DCODE is not base64: {error}"))?;
            let content = crate::qr::decode_qr_image(&png).map_err(|error| error.to_string())?;
            if content == prefix {
                Ok(())
            } else {
                Err("the picture decodes to other text than PREFIX".into())
            }
        })())
    }

    fn unprefix(&self) -> Check {
        let prefix = need(self.field("PREFIX"), "PREFIX")?;
        let base45 = need(self.field("BASE45"), "BASE45")?;
        Ok(match super::unprefix(prefix) {
            Ok(body) if body == base45 => Ok(()),
            Ok(_) => Err("text after the prefix differs from BASE45".into()),
            Err(error) => Err(error.to_string()),
        })
    }

    fn base45_decode(&self) -> Check {
        let base45 = need(self.field("BASE45"), "BASE45")?;
        let compressed = unhex(need(self.field("COMPRESSED"), "COMPRESSED")?, "COMPRESSED")?;
        Ok(match super::decode_base45(base45) {
            Ok(bytes) if bytes == compressed => Ok(()),
            Ok(_) => Err("decoded bytes differ from COMPRESSED".into()),
            Err(error) => Err(error.to_string()),
        })
    }

    fn compression(&self) -> Check {
        let compressed = unhex(need(self.field("COMPRESSED"), "COMPRESSED")?, "COMPRESSED")?;
        let cose = unhex(need(self.field("COSE"), "COSE")?, "COSE")?;
        Ok(
            match pipeline::inflate_bounded(&compressed, pipeline::INFLATED_LEN_MAX) {
                Ok(bytes) if bytes == cose => Ok(()),
                Ok(_) => Err("inflated bytes differ from COSE".into()),
                Err(detail) => Err(detail),
            },
        )
    }

    fn cose(&self) -> Result<Result<coset::CoseSign1, String>, String> {
        let cose = unhex(need(self.field("COSE"), "COSE")?, "COSE")?;
        Ok(super::parse_cose(&cose).map_err(|error| error.to_string()))
    }

    fn cert(&self) -> Result<Result<DscCert, String>, String> {
        let cert = need(self.context("CERTIFICATE"), "TESTCTX.CERTIFICATE")?;
        Ok(DscCert::from_base64(cert).map_err(|error| error.to_string()))
    }

    fn verify(&self) -> Check {
        let sign1 = self.cose()?;
        let cert = self.cert()?;
        Ok((|| {
            let sign1 = sign1?;
            let cert = cert?;
            super::verify_signature(&sign1, &cert).map_err(|error| error.to_string())
        })())
    }

    fn hcert_from_cose(&self) -> Result<Result<Json, String>, String> {
        let sign1 = self.cose()?;
        Ok(sign1.and_then(|sign1| {
            super::decode_payload(&sign1)
                .map(|payload| payload.hcert)
                .map_err(|error| error.to_string())
        }))
    }

    /// The CBOR field: a whole CWT payload, or only the certificate.
    fn hcert_from_cbor(&self) -> Result<Result<Json, String>, String> {
        let cbor = unhex(need(self.field("CBOR"), "CBOR")?, "CBOR")?;
        Ok(
            pipeline::cbor_from_slice(&cbor).map(|value| match super::decode_claims(&value) {
                Ok(payload) => payload.hcert,
                Err(_) => json::cbor_to_json(&value),
            }),
        )
    }

    fn expected_json(&self) -> Result<&Json, String> {
        self.test
            .get("JSON")
            .ok_or_else(|| "test data has no JSON".to_string())
    }

    fn decode(&self) -> Check {
        let expected = self.expected_json()?;
        let from_cose = self.hcert_from_cose()?;
        let from_cbor = self.hcert_from_cbor().ok();
        Ok((|| {
            let from_cose = from_cose?;
            if !json::loosely_equal(&from_cose, expected) {
                return Err("the COSE payload differs from JSON".into());
            }
            if let Some(from_cbor) = from_cbor {
                let from_cbor = from_cbor?;
                if !json::loosely_equal(&from_cbor, &from_cose) {
                    return Err("the COSE payload differs from CBOR".into());
                }
            }
            Ok(())
        })())
    }

    fn valid_json(&self) -> Check {
        let expected = self.expected_json()?;
        let decoded = match self.field("PREFIX") {
            Some(prefix) => chain_to_hcert(prefix),
            None => self.hcert_from_cbor()?,
        };
        Ok(decoded.and_then(|decoded| {
            if json::loosely_equal(&decoded, expected) {
                Ok(())
            } else {
                Err("the decoded certificate differs from JSON".into())
            }
        }))
    }

    fn schema(&self) -> Result<&DccSchema, String> {
        self.schema
            .ok_or_else(|| "no DCC schema loaded (eu-dcc-schema not found)".into())
    }

    fn schema_validation(&self) -> Check {
        let schema = self.schema()?;
        let hcert = self.hcert_from_cose()?;
        Ok(hcert.and_then(|hcert| schema.validate(&hcert).map_err(|error| error.to_string())))
    }

    fn valid_object(&self) -> Check {
        let schema = self.schema()?;
        let expected = self.expected_json()?;
        Ok(schema.validate(expected).map_err(|error| error.to_string()))
    }

    fn encode(&self) -> Check {
        let expected = self.expected_json()?;
        let from_cbor = self.hcert_from_cbor()?;
        Ok(from_cbor.and_then(|from_cbor| {
            if json::loosely_equal(&from_cbor, expected) {
                Ok(())
            } else {
                Err("CBOR differs from JSON".into())
            }
        }))
    }

    fn expiration(&self) -> Check {
        let clock = need(self.context("VALIDATIONCLOCK"), "TESTCTX.VALIDATIONCLOCK")?;
        let now =
            parse_clock(clock).ok_or_else(|| format!("VALIDATIONCLOCK {clock:?} unreadable"))?;
        let sign1 = self.cose()?;
        let cert = self.cert()?;
        Ok((|| {
            let payload = super::decode_payload(&sign1?).map_err(|error| error.to_string())?;
            super::check_validity(&payload, &cert?, now).map_err(|error| error.to_string())
        })())
    }

    fn key_usage(&self) -> Check {
        let sign1 = self.cose()?;
        let cert = self.cert()?;
        Ok((|| {
            let payload = super::decode_payload(&sign1?).map_err(|error| error.to_string())?;
            super::check_key_usage(&cert?, &payload.hcert).map_err(|error| error.to_string())
        })())
    }
}

/// Decodes PREFIX through every layer to the certificate JSON.
fn chain_to_hcert(prefix: &str) -> Result<Json, String> {
    let body = super::unprefix(prefix).map_err(|error| error.to_string())?;
    let compressed = super::decode_base45(body).map_err(|error| error.to_string())?;
    let cose = super::decompress(&compressed).map_err(|error| error.to_string())?;
    let sign1 = super::parse_cose(&cose).map_err(|error| error.to_string())?;
    super::decode_payload(&sign1)
        .map(|payload| payload.hcert)
        .map_err(|error| error.to_string())
}

/// The test data writes its clock in several ISO 8601 forms; one without a
/// zone is UTC.
pub fn parse_clock(text: &str) -> Option<Timestamp> {
    let parse = |candidate: &str| Timestamp::parse_rfc3339(candidate).ok();
    parse(text)
        .or_else(|| parse(&format!("{text}Z")))
        .or_else(|| {
            // `+0200` without the colon.
            let (head, tail) = text.split_at(text.len().checked_sub(5)?);
            if (tail.starts_with('+') || tail.starts_with('-'))
                && tail[1..].bytes().all(|b| b.is_ascii_digit())
            {
                parse(&format!("{head}{}:{}", &tail[..3], &tail[3..]))
            } else {
                None
            }
        })
}

/// Passed, failed and skipped counts per flag.
pub fn by_flag(result: &SuiteResult) -> BTreeMap<String, (usize, usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for assertion in &result.assertions {
        let entry = counts.entry(assertion.flag.clone()).or_default();
        match assertion.outcome {
            Outcome::Passed => entry.0 += 1,
            Outcome::Failed { .. } => entry.1 += 1,
            Outcome::Skipped { .. } => entry.2 += 1,
        }
    }
    counts
}
