//! Rule sets and regional parameter profiles, and their publish-time checks.
//!
//! The national rule set owns all logic. A region may only publish a
//! [`ParameterProfile`]: values for named parameters, each inside the bounds
//! the national rule set declares. That is what makes 码上加码 (extra local
//! restrictions) impossible by construction rather than by policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ymt_core::{Color, RegionCode, Timestamp, facts::fact_list_fields};

use crate::certlogic;

/// Upper bounds on what a rule-set document may contain, so publishing a
/// hostile document cannot exhaust memory or time.
pub const RULES_MAX: usize = 200;
pub const PARAMETERS_MAX: usize = 200;
pub const RULE_SET_BYTES_MAX: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    #[serde(rename = "zh-CN")]
    pub zh_cn: String,
    pub en: String,
}

impl LocalizedText {
    /// Replaces `{parameterName}` placeholders with the parameter values in force.
    pub fn with_parameters(&self, parameters: &BTreeMap<String, i64>) -> LocalizedText {
        let fill = |text: &str| {
            let mut filled = text.to_owned();
            for (name, value) in parameters {
                filled = filled.replace(&format!("{{{name}}}"), &value.to_string());
            }
            filled
        };
        LocalizedText {
            zh_cn: fill(&self.zh_cn),
            en: fill(&self.en),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    pub default: i64,
    pub min: i64,
    pub max: i64,
    pub unit: String,
    pub description: LocalizedText,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    pub id: String,
    pub color: Color,
    /// The fact list the rule is evaluated over, once per item; the items for
    /// which the logic is truthy are the rule's evidence.
    pub over: String,
    pub description: LocalizedText,
    pub clears: LocalizedText,
    pub source: String,
    pub logic: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSetDocument {
    pub kind: String,
    pub id: String,
    pub version: semver::Version,
    pub valid_from: Timestamp,
    pub description: LocalizedText,
    pub parameters: BTreeMap<String, ParameterSpec>,
    pub rules: Vec<RuleDocument>,
}

/// A regional parameter profile: values for some of the national parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParameterProfile {
    pub kind: String,
    pub id: String,
    pub region: RegionCode,
    pub rule_set: String,
    pub version: semver::Version,
    pub valid_from: Timestamp,
    pub parameters: BTreeMap<String, i64>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("document too large: {bytes} bytes (at most {max} bytes)")]
    TooLarge { bytes: usize, max: usize },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "a regional profile may only set parameters; it may not add logic (found field `{field}`)"
    )]
    ProfileAddsLogic { field: String },
    #[error("parameter `{name}` = {value} is outside the national bounds [{min}, {max}] {unit}")]
    ParameterOutOfBounds {
        name: String,
        value: i64,
        min: i64,
        max: i64,
        unit: String,
    },
    #[error("parameter `{name}` does not exist in rule set `{rule_set}`")]
    UnknownParameter { name: String, rule_set: String },
    #[error("rule `{rule}`: logic at {path}: {message}")]
    Logic {
        rule: String,
        path: String,
        message: String,
    },
    #[error("rule `{rule}`: unknown fact path `{data_path}`")]
    UnknownFactPath { rule: String, data_path: String },
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> PublishError {
    PublishError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, PublishError> {
    if bytes.len() > RULE_SET_BYTES_MAX {
        return Err(PublishError::TooLarge {
            bytes: bytes.len(),
            max: RULE_SET_BYTES_MAX,
        });
    }
    serde_json::from_slice(bytes).map_err(|error| PublishError::MalformedJson {
        line: error.line(),
        column: error.column(),
        message: error.to_string(),
    })
}

fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, PublishError> {
    serde_json::from_value(value).map_err(|error| invalid("/", error.to_string()))
}

/// A rule set that passed every publish-time check.
#[derive(Clone, Debug)]
pub struct RuleSet {
    document: RuleSetDocument,
}

impl RuleSet {
    /// The default national rule set shipped with the binary.
    pub fn national() -> RuleSet {
        RuleSet::publish(NATIONAL_RULE_SET_JSON.as_bytes())
            .expect("the shipped national rule set passes its own publish checks")
    }

    /// Parses and checks a rule-set document. Nothing is accepted partially.
    pub fn publish(bytes: &[u8]) -> Result<RuleSet, PublishError> {
        let value = parse_json(bytes)?;
        if value.get("kind").and_then(|kind| kind.as_str()) != Some("rule-set") {
            return Err(invalid("/kind", "must be \"rule-set\""));
        }
        let document: RuleSetDocument = from_value(value)?;
        check_rule_set(&document)?;
        Ok(RuleSet { document })
    }

    pub fn document(&self) -> &RuleSetDocument {
        &self.document
    }

    pub fn id(&self) -> &str {
        &self.document.id
    }

    pub fn version(&self) -> &semver::Version {
        &self.document.version
    }

    /// The national default of every parameter.
    pub fn default_parameters(&self) -> BTreeMap<String, i64> {
        self.document
            .parameters
            .iter()
            .map(|(name, spec)| (name.clone(), spec.default))
            .collect()
    }

    /// Checks a regional profile against this rule set's bounds.
    pub fn check_profile(&self, bytes: &[u8]) -> Result<ParameterProfile, PublishError> {
        let value = parse_json(bytes)?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid("/", "a parameter profile is a JSON object"))?;
        const PROFILE_FIELDS: [&str; 8] = [
            "kind",
            "id",
            "region",
            "ruleSet",
            "version",
            "validFrom",
            "parameters",
            "reason",
        ];
        if let Some(field) = object
            .keys()
            .find(|field| !PROFILE_FIELDS.contains(&field.as_str()))
        {
            return Err(PublishError::ProfileAddsLogic {
                field: field.clone(),
            });
        }
        if object.get("kind").and_then(|kind| kind.as_str()) != Some("parameter-profile") {
            return Err(invalid("/kind", "must be \"parameter-profile\""));
        }
        let profile: ParameterProfile = from_value(value)?;
        if profile.rule_set != self.document.id {
            return Err(invalid(
                "/ruleSet",
                format!(
                    "the profile is for rule set `{}`, not `{}`",
                    profile.rule_set, self.document.id
                ),
            ));
        }
        self.check_parameter_values(&profile.parameters)?;
        Ok(profile)
    }

    /// Checks parameter values against the national bounds.
    pub fn check_parameter_values(
        &self,
        parameters: &BTreeMap<String, i64>,
    ) -> Result<(), PublishError> {
        for (name, value) in parameters {
            let spec = self.document.parameters.get(name).ok_or_else(|| {
                PublishError::UnknownParameter {
                    name: name.clone(),
                    rule_set: self.document.id.clone(),
                }
            })?;
            if *value < spec.min || *value > spec.max {
                return Err(PublishError::ParameterOutOfBounds {
                    name: name.clone(),
                    value: *value,
                    min: spec.min,
                    max: spec.max,
                    unit: spec.unit.clone(),
                });
            }
        }
        Ok(())
    }

    /// The parameters in force under an optional profile: national defaults
    /// overlaid with the profile's values.
    pub fn parameters_with(&self, profile: Option<&ParameterProfile>) -> BTreeMap<String, i64> {
        let mut parameters = self.default_parameters();
        if let Some(profile) = profile {
            for (name, value) in &profile.parameters {
                parameters.insert(name.clone(), *value);
            }
        }
        parameters
    }
}

/// The shipped national rule set, generated by rulesets/make_national.py.
pub const NATIONAL_RULE_SET_JSON: &str = include_str!("../rulesets/cn-national.json");

fn check_rule_set(document: &RuleSetDocument) -> Result<(), PublishError> {
    if document.id.is_empty() || document.id.len() > 64 {
        return Err(invalid("/id", "must be 1 to 64 characters"));
    }
    if document.rules.is_empty() {
        return Err(invalid("/rules", "a rule set needs at least one rule"));
    }
    if document.rules.len() > RULES_MAX {
        return Err(invalid("/rules", format!("at most {RULES_MAX} rules")));
    }
    if document.parameters.len() > PARAMETERS_MAX {
        return Err(invalid(
            "/parameters",
            format!("at most {PARAMETERS_MAX} parameters"),
        ));
    }
    for (name, spec) in &document.parameters {
        let path = format!("/parameters/{name}");
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) || name.is_empty() {
            return Err(invalid(
                path,
                "parameter names are ASCII letters and digits",
            ));
        }
        if !(spec.min <= spec.default && spec.default <= spec.max) {
            return Err(invalid(
                path,
                format!(
                    "default {} must lie within [{}, {}]",
                    spec.default, spec.min, spec.max
                ),
            ));
        }
    }
    let mut seen_ids = std::collections::HashSet::new();
    for (index, rule) in document.rules.iter().enumerate() {
        let path = format!("/rules/{index}");
        if rule.id.is_empty() || rule.id.len() > 64 {
            return Err(invalid(format!("{path}/id"), "must be 1 to 64 characters"));
        }
        if !seen_ids.insert(rule.id.as_str()) {
            return Err(invalid(
                format!("{path}/id"),
                format!("duplicate rule id `{}`", rule.id),
            ));
        }
        if rule.color == Color::Green {
            return Err(invalid(
                format!("{path}/color"),
                "a rule results in red or yellow; green is the absence of any firing rule",
            ));
        }
        if fact_list_fields(&rule.over).is_none() {
            return Err(invalid(
                format!("{path}/over"),
                format!("unknown fact list `{}`", rule.over),
            ));
        }
        check_rule_logic(rule, &document.parameters)?;
    }
    Ok(())
}

fn check_rule_logic(
    rule: &RuleDocument,
    parameters: &BTreeMap<String, ParameterSpec>,
) -> Result<(), PublishError> {
    check_now_usage(&rule.logic, "", None).map_err(|(path, message)| PublishError::Logic {
        rule: rule.id.clone(),
        path,
        message,
    })?;
    // Parameters are substituted before validation: CertLogic wants literal
    // `plusTime` amounts, and substitution keeps every node at its path, so
    // the locations reported still point into the published document.
    let defaults: BTreeMap<String, i64> = parameters
        .iter()
        .map(|(name, spec)| (name.clone(), spec.default))
        .collect();
    let substituted = substitute_parameters(&rule.logic, &defaults);
    if let Some(issue) = certlogic::validate(&substituted).into_iter().next() {
        return Err(PublishError::Logic {
            rule: rule.id.clone(),
            path: issue.path,
            message: issue.message,
        });
    }
    let expression =
        certlogic::Expr::compile(&substituted).map_err(|error| PublishError::Logic {
            rule: rule.id.clone(),
            path: String::new(),
            message: error.to_string(),
        })?;
    for access in certlogic::Expr::compile(&rule.logic)
        .map(|unsubstituted| unsubstituted.data_accesses())
        .unwrap_or_else(|_| expression.data_accesses())
    {
        check_data_path(&rule.id, &rule.over, &access.path, parameters)?;
    }
    Ok(())
}

/// Checks one `var` path against the facts document, the parameters and the
/// rule's item. Leading `data.` segments climb out of reduce lambdas; what
/// they climb to is checked by the same grammar, so the check is a superset of
/// the paths that can occur.
fn check_data_path(
    rule_id: &str,
    over: &str,
    path: &str,
    parameters: &BTreeMap<String, ParameterSpec>,
) -> Result<(), PublishError> {
    let unknown = || PublishError::UnknownFactPath {
        rule: rule_id.to_owned(),
        data_path: path.to_owned(),
    };
    let mut segments: Vec<&str> = path.split('.').collect();
    while segments.first() == Some(&"data") {
        segments.remove(0);
    }
    let item_fields = fact_list_fields(over).ok_or_else(unknown)?;
    let field_known = |fields: &[&str], field: Option<&&str>| match field {
        None => true,
        Some(field) => fields.contains(field),
    };
    let known = match segments.as_slice() {
        [] | [""] => false,
        ["now"] => true,
        ["accumulator"] => true,
        ["params", name] => parameters.contains_key(*name),
        ["facts"] => true,
        ["facts", list, rest @ ..] => match fact_list_fields(list) {
            None => false,
            // `facts.tests.0` is allowed as CertLogic's non-empty check;
            // `facts.tests.0.result` then names a field.
            Some(fields) => match rest {
                [] => true,
                [index] => index.parse::<usize>().is_ok(),
                [index, field] => index.parse::<usize>().is_ok() && fields.contains(field),
                _ => false,
            },
        },
        ["item", rest @ ..] => rest.len() <= 1 && field_known(item_fields, rest.first()),
        ["current", rest @ ..] => {
            // `current` is an item of whichever list the reduce walks; any
            // list's field is accepted.
            rest.len() <= 1
                && rest.first().is_none_or(|field| {
                    ymt_core::facts::FACT_LISTS
                        .iter()
                        .any(|(_, fields)| fields.contains(field))
                })
        }
        _ => false,
    };
    if known { Ok(()) } else { Err(unknown()) }
}

const DATE_COMPARISONS: [&str; 4] = ["after", "before", "not-after", "not-before"];

fn is_now_var(value: &serde_json::Value) -> bool {
    match value.get("var").and_then(|path| path.as_str()) {
        Some(path) => {
            path.trim_start_matches("data.") == "now"
                && value.as_object().is_some_and(|object| object.len() == 1)
        }
        None => false,
    }
}

/// `valid_until` is computed from the instants that rules compare `now`
/// against. That is exact only if `now` is compared directly: a rule that
/// shifted `now` (`plusTime(now, -7, "day")`) would report the shifted
/// instant instead of the threshold. So `now` may appear only as a direct
/// operand of a date-time comparison.
fn check_now_usage(
    value: &serde_json::Value,
    path: &str,
    parent_operator: Option<&str>,
) -> Result<(), (String, String)> {
    if is_now_var(value) {
        return match parent_operator {
            Some(operator) if DATE_COMPARISONS.contains(&operator) => Ok(()),
            _ => Err((
                path.to_owned(),
                "`now` may only be a direct operand of after, before, not-after or not-before, so that the next change of a decision can be computed exactly".to_owned(),
            )),
        };
    }
    match value {
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_now_usage(item, &format!("{path}/{index}"), parent_operator)?;
            }
            Ok(())
        }
        serde_json::Value::Object(object) => {
            for (key, operand) in object {
                check_now_usage(operand, &format!("{path}/{key}"), Some(key))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Replaces every `{"var": "params.NAME"}` (at any `data.` depth) with the
/// parameter's value. Parameters are fixed for a compiled rule set, so this is
/// partial evaluation: it keeps `plusTime` amounts literal integers, as
/// CertLogic requires, and saves a lookup per evaluation.
pub fn substitute_parameters(
    value: &serde_json::Value,
    parameters: &BTreeMap<String, i64>,
) -> serde_json::Value {
    if let Some(path) = value.get("var").and_then(|path| path.as_str())
        && let Some(name) = path.trim_start_matches("data.").strip_prefix("params.")
        && let Some(parameter) = parameters.get(name)
    {
        return serde_json::Value::from(*parameter);
    }
    match value {
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| substitute_parameters(item, parameters))
                .collect(),
        ),
        serde_json::Value::Object(object) => serde_json::Value::Object(
            object
                .iter()
                .map(|(key, operand)| (key.clone(), substitute_parameters(operand, parameters)))
                .collect(),
        ),
        other => other.clone(),
    }
}
