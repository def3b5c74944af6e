//! `yimatong rules check|explain|show`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ymt_core::{Event, Facts, Timestamp};
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Publish-time validation of a rule set or a regional parameter profile,
    /// then a stress test: every rule must decide, within the evaluation
    /// budget, timelines as full as the node's per-person cap allows.
    Check {
        /// A rule-set or parameter-profile JSON document.
        file: PathBuf,
        /// The rule set a profile is checked against (default: the shipped national set).
        #[arg(long)]
        rule_set: Option<PathBuf>,
        /// The node's cap of events of one person per window (its
        /// `--person-events-per-window-max`).
        #[arg(long, default_value_t = ymt_node::config::PERSON_EVENTS_PER_WINDOW_MAX_DEFAULT)]
        person_events_per_window_max: usize,
        /// The window of that cap, in seconds.
        #[arg(long, default_value_t = ymt_node::config::PERSON_EVENTS_WINDOW_SECS_DEFAULT)]
        person_events_window_secs: i64,
    },
    /// Print the decision for a person's facts or events at an instant.
    #[command(after_long_help = EXPLAIN_EXAMPLE)]
    Explain {
        /// A facts document, a JSON array of events, or JSON lines of events.
        #[arg(long)]
        facts: PathBuf,
        /// The instant to decide at (RFC 3339).
        #[arg(long)]
        at: Timestamp,
        /// A regional parameter profile to apply.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// The rule set (default: the shipped national set).
        #[arg(long)]
        rule_set: Option<PathBuf>,
    },
    /// Print the shipped national rule set.
    Show,
}

/// `rules explain --help` ends with a worked example; a test runs it, so it
/// stays true.
const EXPLAIN_EXAMPLE: &str = "\
Example: a positive PCR result, decided the next morning.

  cat > events.jsonl <<'EOF'
  {\"id\":\"pos1\",\"person\":\"p1\",\"author\":\"lab-1\",\"recorded_at\":\"2022-07-01T14:00:00Z\",\"kind\":\"test_result\",\"data\":{\"test\":\"pcr\",\"result\":\"positive\",\"sampled_at\":\"2022-07-01T08:00:00Z\",\"reported_at\":\"2022-07-01T14:00:00Z\",\"lab\":\"lab-1\"}}
  EOF
  yimatong rules explain --facts events.jsonl --at 2022-07-02T08:00:00Z

It prints the color (red), the rules that fired (CN-CASE-01) with their reasons in zh-CN and en and
how they clear, the evidence (pos1) and valid_until. --facts also takes a JSON array of events or a
facts document. The event kinds, their fields and the facts the rules see are in docs/facts.md; the
rules themselves in docs/rules.md (`yimatong rules show` prints the shipped set).";

/// The instant the stress timelines end at: now (only their spacing
/// matters).
fn now_instant() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_secs(secs).expect("the clock reads a valid instant")
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn load_rule_set(path: Option<&Path>) -> anyhow::Result<RuleSet> {
    match path {
        None => Ok(RuleSet::national()),
        Some(path) => RuleSet::publish(&read(path)?)
            .with_context(|| format!("rule set {} refused", path.display())),
    }
}

/// Reads facts from a facts document, or derives them from events.
fn load_facts(path: &Path, at: Timestamp) -> anyhow::Result<Facts> {
    let bytes = read(path)?;
    let text = std::str::from_utf8(&bytes).context("the facts file is not UTF-8")?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let events: Vec<Event> = serde_json::from_str(text).context("parsing the events array")?;
        return derive_checked(events, at);
    }
    if let Ok(facts) = serde_json::from_str::<Facts>(text) {
        return Ok(facts);
    }
    let mut events = Vec::new();
    for (line_index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: not a facts document nor an event",
                path.display(),
                line_index + 1
            )
        })?;
        events.push(event);
    }
    derive_checked(events, at)
}

fn derive_checked(events: Vec<Event>, at: Timestamp) -> anyhow::Result<Facts> {
    for event in &events {
        event
            .validate()
            .with_context(|| format!("event {} is invalid", event.id))?;
    }
    Ok(Facts::derive(&events, at))
}

pub fn run(command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check {
            file,
            rule_set,
            person_events_per_window_max,
            person_events_window_secs,
        } => {
            let bytes = read(&file)?;
            let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|value| {
                    value
                        .get("kind")
                        .and_then(|kind| kind.as_str())
                        .map(str::to_owned)
                });
            let stress = |compiled: &CompiledRules| {
                ymt_rules::stress::stress_check(
                    compiled,
                    person_events_per_window_max,
                    person_events_window_secs,
                    now_instant(),
                )
            };
            let outcome = match kind.as_deref() {
                Some("parameter-profile") => {
                    let national = load_rule_set(rule_set.as_deref())?;
                    national.check_profile(&bytes).and_then(|profile| {
                        let compiled = CompiledRules::compile(&national, Some(&profile))?;
                        Ok((
                            serde_json::json!({
                                "ok": true, "kind": "parameter-profile", "id": profile.id,
                                "region": profile.region.to_string(), "parameters": national.parameters_with(Some(&profile)),
                            }),
                            stress(&compiled),
                        ))
                    })
                }
                _ => RuleSet::publish(&bytes).and_then(|rules| {
                    let compiled = CompiledRules::compile(&rules, None)?;
                    Ok((
                        serde_json::json!({
                            "ok": true, "kind": "rule-set", "id": rules.id(), "version": rules.version().to_string(),
                            "rules": rules.document().rules.len(), "parameters": rules.default_parameters(),
                        }),
                        stress(&compiled),
                    ))
                }),
            };
            match outcome {
                Ok((_, failures)) if !failures.is_empty() => {
                    let listed: Vec<_> = failures
                        .iter()
                        .map(|failure| {
                            serde_json::json!({"rule": failure.rule, "timeline": failure.timeline, "error": failure.error})
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "ok": false,
                            "error": "rules exceed the evaluation budget on a stress timeline",
                            "over_budget": listed,
                        }))?
                    );
                    for failure in &failures {
                        eprintln!("refused: {failure}");
                    }
                    Ok(ExitCode::from(1))
                }
                Ok((report, _)) => {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"ok": false, "error": error.to_string()})
                        )?
                    );
                    eprintln!("refused: {error}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        RulesCommand::Explain {
            facts,
            at,
            profile,
            rule_set,
        } => {
            let rules = load_rule_set(rule_set.as_deref())?;
            let profile: Option<ParameterProfile> = match profile {
                Some(path) => Some(
                    rules
                        .check_profile(&read(&path)?)
                        .context("profile refused")?,
                ),
                None => None,
            };
            let compiled = CompiledRules::compile(&rules, profile.as_ref())?;
            let facts = load_facts(&facts, at)?;
            let decision = compiled.evaluate(&facts, at)?;
            println!("{}", serde_json::to_string_pretty(&decision)?);
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Show => {
            print!("{}", ymt_rules::ruleset::NATIONAL_RULE_SET_JSON);
            Ok(ExitCode::SUCCESS)
        }
    }
}
