//! Property tests of decisions: order and duplication independence, and the
//! exactness of `valid_until`.

use proptest::prelude::*;
use ymt_core::event::{
    ContactDesignation, ContactKind, Override, Quarantine, QuarantineKind, Retraction,
    RiskExposure, RiskLevel, TestKind, TestOutcome, TestResult,
};
use ymt_core::{Color, Event, EventBody, EventId, Facts, PersonId, RegionCode, Timestamp};
use ymt_rules::{CompiledRules, Decision, RuleSet};

const BASE_SECS: i64 = 1_656_662_400; // 2022-07-01T08:00:00Z
const HOUR_SECS: i64 = 3600;

fn at(offset_hours: i64) -> Timestamp {
    Timestamp::from_unix_secs(BASE_SECS + offset_hours * HOUR_SECS).unwrap()
}

/// One random event body, with instants within a few weeks of the base.
fn body_strategy() -> impl Strategy<Value = EventBody> {
    let hours = -72i64..400;
    prop_oneof![
        (hours.clone(), 0i64..48, any::<bool>(), any::<bool>()).prop_map(
            |(sampled, delay, positive, pcr)| {
                EventBody::TestResult(TestResult {
                    test: if pcr {
                        TestKind::Pcr
                    } else {
                        TestKind::Antigen
                    },
                    result: if positive {
                        TestOutcome::Positive
                    } else {
                        TestOutcome::Negative
                    },
                    sampled_at: at(sampled),
                    reported_at: at(sampled + delay),
                    lab: "lab-1".into(),
                })
            }
        ),
        (hours.clone(), 0u8..3).prop_map(|(designated, kind)| {
            EventBody::ContactDesignation(ContactDesignation {
                contact: [
                    ContactKind::Close,
                    ContactKind::Secondary,
                    ContactKind::Companion,
                ][kind as usize],
                source_case: None,
                designated_at: at(designated),
                last_exposure_at: at(designated - 20),
                venue: None,
                overlap_start: None,
                overlap_end: None,
                rule: None,
                reason: "traced".into(),
            })
        }),
        (hours.clone(), 1i64..100, any::<bool>()).prop_map(|(from, length, red)| {
            EventBody::Override(Override {
                color: if red { Color::Red } else { Color::Yellow },
                reason: "check".into(),
                from: at(from),
                until: at(from + length),
            })
        }),
        (hours.clone(), 1i64..200, any::<bool>()).prop_map(|(start, length, centralised)| {
            EventBody::Quarantine(Quarantine {
                quarantine: if centralised {
                    QuarantineKind::Centralised
                } else {
                    QuarantineKind::Home
                },
                start: at(start),
                end: at(start + length),
                reason: "arrival".into(),
            })
        }),
        (hours, 1i64..50, any::<bool>()).prop_map(|(start, length, high)| {
            EventBody::RiskExposure(RiskExposure {
                area: RegionCode::parse("440305001").unwrap(),
                level: if high {
                    RiskLevel::High
                } else {
                    RiskLevel::Medium
                },
                stay_start: at(start),
                stay_end: at(start + length),
                designated_from: at(start - 10),
                designated_until: at(start + 30),
                designation: None,
            })
        }),
    ]
}

fn timeline_strategy() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((body_strategy(), 0i64..400), 0..14).prop_map(|bodies| {
        let mut events: Vec<Event> = bodies
            .into_iter()
            .enumerate()
            .map(|(index, (body, recorded))| Event {
                id: EventId::parse(&format!("e{index}")).unwrap(),
                person: PersonId::parse("p-1").unwrap(),
                recorded_at: at(recorded - 72),
                author: "tester".into(),
                body,
            })
            .collect();
        // Retract the first event now and then, to cover corrections.
        if events.len() > 3 {
            events.push(Event {
                id: EventId::parse("retract-e0").unwrap(),
                person: PersonId::parse("p-1").unwrap(),
                recorded_at: at(50),
                author: "tester".into(),
                body: EventBody::Retraction(Retraction {
                    target: EventId::parse("e0").unwrap(),
                    reason: "entry error".into(),
                }),
            });
        }
        events
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn permutation_and_duplication_do_not_change_the_decision(
        events in timeline_strategy(),
        shuffle_seed in any::<u64>(),
        duplicate_mask in any::<u32>(),
        now_hours in 0i64..500,
    ) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        let now = at(now_hours);
        let reference = compiled.evaluate(&Facts::derive(&events, now), now).unwrap();

        let mut shuffled = events.clone();
        for (index, event) in events.iter().enumerate() {
            if duplicate_mask & (1 << (index % 32)) != 0 {
                shuffled.push(event.clone());
            }
        }
        // A deterministic Fisher-Yates shuffle from the seed.
        let mut state = shuffle_seed | 1;
        for index in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let other = (state % (index as u64 + 1)) as usize;
            shuffled.swap(index, other);
        }
        let permuted = compiled.evaluate(&Facts::derive(&shuffled, now), now).unwrap();
        prop_assert_eq!(reference, permuted);
    }

    #[test]
    fn valid_until_is_exact(events in timeline_strategy(), now_hours in 0i64..500) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        let now = at(now_hours);
        let facts = Facts::derive(&events, now);
        let decision = compiled.evaluate(&facts, now).unwrap();
        if let Some(valid_until) = decision.valid_until {
            prop_assert!(valid_until > now);
            let just_before = valid_until.plus_secs(-1);
            let before = compiled.evaluate(&facts, just_before).unwrap();
            prop_assert_eq!(before.color, decision.color, "one second before valid_until keeps the old color");
            let after = compiled.evaluate(&facts, valid_until).unwrap();
            prop_assert_ne!(after.color, decision.color, "at valid_until the color changes");
            prop_assert_eq!(Some(after.color), decision.next_color);
        } else {
            // Nothing scheduled: the color holds far into the future.
            let later = compiled.evaluate(&facts, now.plus_secs(400 * 24 * HOUR_SECS)).unwrap();
            prop_assert_eq!(later.color, decision.color);
        }
    }
}

fn exposure_strategy() -> impl Strategy<Value = ymt_core::facts::RiskExposureFact> {
    (-72i64..400, 0i64..48, any::<bool>()).prop_map(|(from, length, high)| {
        ymt_core::facts::RiskExposureFact {
            id: EventId::parse("ra-1").unwrap(),
            area: RegionCode::parse("440305001001").unwrap(),
            level: if high {
                RiskLevel::High
            } else {
                RiskLevel::Medium
            },
            from: at(from),
            until: at(from + length),
        }
    })
}

proptest! {
    // Many random timelines are not settled green; they are skipped.
    #![proptest_config(ProptestConfig { cases: 200, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    /// What lets a node apply a designation without re-reading timelines:
    /// for a person whose code is green with nothing scheduled, the decision
    /// with one more risk exposure is the decision of that exposure alone.
    #[test]
    fn an_exposure_on_a_settled_green_timeline_decides_alone(
        events in timeline_strategy(),
        exposure in exposure_strategy(),
        now_hours in 0i64..500,
    ) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        prop_assert!(compiled.items_decide_alone("riskExposures"));
        let now = at(now_hours);
        let mut facts = Facts::derive(&events, now);
        let before = compiled.evaluate(&facts, now).unwrap();
        prop_assume!(before.color == Color::Green && before.valid_until.is_none());
        facts.risk_exposures.push(exposure.clone());
        facts.risk_exposures.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
        let full = compiled.evaluate(&facts, now).unwrap();
        let alone_facts = Facts {
            version: ymt_core::facts::FACTS_VERSION,
            risk_exposures: vec![exposure],
            ..Facts::default()
        };
        let alone = compiled.evaluate(&alone_facts, now).unwrap();
        prop_assert_eq!(full, alone);
    }
}

/// A rule that reads the exposures through `facts` makes each exposure's
/// effect depend on the rest of the timeline, so nodes must not decide
/// them alone.
#[test]
fn reading_a_list_through_facts_means_its_items_do_not_decide_alone() {
    let mut document: serde_json::Value =
        serde_json::from_str(include_str!("../rulesets/cn-national.json")).unwrap();
    let rules = document["rules"].as_array_mut().unwrap();
    let mut counting = rules[0].clone();
    counting["id"] = "TEST-MANY-EXPOSURES".into();
    counting["over"] = "tests".into();
    counting["logic"] = serde_json::json!({">": [{"reduce": [
        {"var": "facts.riskExposures"}, {"+": [{"var": "accumulator"}, 1]}, 0]}, 1]});
    rules.push(counting);
    let rule_set = RuleSet::publish(document.to_string().as_bytes()).unwrap();
    let compiled = CompiledRules::compile(&rule_set, None).unwrap();
    assert!(!compiled.items_decide_alone("riskExposures"));
    assert!(compiled.items_decide_alone("overrides"));
    let national = CompiledRules::compile(&RuleSet::national(), None).unwrap();
    // The close-contact rules read the person's tests, so contacts do not.
    for (list, alone) in [
        ("riskExposures", true),
        ("contacts", false),
        ("nonsense", false),
    ] {
        assert_eq!(national.items_decide_alone(list), alone, "{list}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    /// Composing a timeline's decision (made at or before now, nothing due
    /// since) with that of one more exposure alone gives exactly the
    /// decision of the timeline with the exposure: color, change instant,
    /// next color, reasons, when the reasons change, and the trajectory.
    #[test]
    fn composing_with_an_exposure_equals_evaluating_with_it(
        events in timeline_strategy(),
        exposure in exposure_strategy(),
        now_hours in 0i64..500,
        earlier_hours in 0i64..48,
    ) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        let now = at(now_hours);
        let earlier = at(now_hours - earlier_hours);
        // Only events already recorded at the earlier instant: nothing new since.
        let events: Vec<Event> = events.into_iter().filter(|event| event.recorded_at <= earlier).collect();
        let base = compiled
            .evaluate_with_trajectory(&Facts::derive(&events, earlier), earlier)
            .unwrap();
        let alone = compiled
            .evaluate_with_trajectory(
                &Facts {
                    version: ymt_core::facts::FACTS_VERSION,
                    risk_exposures: vec![exposure.clone()],
                    ..Facts::default()
                },
                now,
            )
            .unwrap();
        let composed = compiled.compose(&base, &alone, now);
        prop_assume!(composed.is_some());
        let mut facts = Facts::derive(&events, now);
        facts.risk_exposures.push(exposure);
        facts.risk_exposures.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
        let full = compiled.evaluate_with_trajectory(&facts, now).unwrap();
        prop_assert_eq!(composed.unwrap(), full);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The trajectory walk keeps each item's results until the first
    /// candidate instant of its own comparisons instead of evaluating every
    /// rule over every item at every candidate: the whole decision (color,
    /// evidence, valid_until, next color, reasons_until, trajectory) must be
    /// what evaluating everything everywhere gives. National rules: the
    /// close-contact rules read the person's tests through `facts`, so items
    /// that do not decide alone are covered too.
    #[test]
    fn the_trajectory_walk_matches_evaluating_every_item_at_every_instant(
        events in timeline_strategy(),
        now_hours in -100i64..500,
    ) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        let now = at(now_hours);
        let facts = Facts::derive(&events, now);
        let walked = compiled.evaluate_with_trajectory(&facts, now);
        let reference = compiled.evaluate_with_trajectory_every_item_every_instant(&facts, now);
        prop_assert_eq!(format!("{walked:?}"), format!("{reference:?}"));
        prop_assert_eq!(
            format!("{:?}", compiled.evaluate(&facts, now)),
            format!("{:?}", reference.map(|decision| Decision { trajectory: None, ..decision }))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Items equal in every field their rules read are evaluated once per
    /// decision: a person designated twice from the same tracing (two
    /// overlaps, two close contacts) must get the decision that evaluating
    /// each designation on its own gives, evidence naming both.
    #[test]
    fn items_equal_in_the_fields_read_are_decided_like_each_on_its_own(
        events in timeline_strategy(),
        twin_mask in any::<u16>(),
        now_hours in -100i64..500,
    ) {
        let national = RuleSet::national();
        let compiled = CompiledRules::compile(&national, None).unwrap();
        let now = at(now_hours);
        let mut events = events;
        let twins: Vec<Event> = events
            .iter()
            .enumerate()
            .filter(|(index, event)| {
                twin_mask & (1 << (index % 16)) != 0
                    && matches!(event.body, EventBody::ContactDesignation(_) | EventBody::TestResult(_))
            })
            .map(|(_, event)| Event {
                id: EventId::parse(&format!("{}-twin", event.id)).unwrap(),
                ..event.clone()
            })
            .collect();
        prop_assume!(!twins.is_empty());
        events.extend(twins);
        let facts = Facts::derive(&events, now);
        let walked = compiled.evaluate_with_trajectory(&facts, now);
        let reference = compiled.evaluate_with_trajectory_every_item_every_instant(&facts, now);
        prop_assert_eq!(format!("{walked:?}"), format!("{reference:?}"));
    }
}
