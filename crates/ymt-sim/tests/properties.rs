//! Any valid configuration yields valid, unique events and a story that the
//! national rules agree with.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use ymt_core::{Event, Facts, PersonId, Timestamp};
use ymt_rules::{CompiledRules, RuleSet};
use ymt_sim::{CityConfig, generate_city};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn any_city_is_valid_and_its_story_holds(
        seed in any::<u64>(),
        persons in 200usize..600,
        venues in 5usize..80,
        days in 10u32..21,
        start_offset_secs in 0i64..(365 * 86_400),
    ) {
        let config = CityConfig {
            seed,
            persons,
            venues,
            days,
            start: Timestamp::parse_rfc3339("2022-06-28T00:00:00Z").unwrap().plus_secs(start_offset_secs),
            ..CityConfig::default()
        };
        let city = generate_city(&config).unwrap();
        let mut ids = HashSet::new();
        let mut by_person: HashMap<&PersonId, Vec<&Event>> = HashMap::new();
        for event in &city.events {
            prop_assert!(event.validate().is_ok(), "{}: {:?}", event.id, event.validate());
            prop_assert!(ids.insert(&event.id), "duplicate {}", event.id);
            prop_assert!(event.recorded_at <= city.end);
            by_person.entry(&event.person).or_default().push(event);
        }
        let rules = CompiledRules::compile(&RuleSet::national(), None).unwrap();
        let mut green = 0usize;
        let mut colors = HashMap::new();
        for person in &city.persons {
            let events = by_person.remove(&person.pid).unwrap_or_default();
            let decision = rules.evaluate(&Facts::derive(events, city.end), city.end).unwrap();
            green += usize::from(decision.color == ymt_core::Color::Green);
            colors.insert(person.pid.clone(), decision.color);
        }
        for entry in city.story() {
            prop_assert_eq!(colors[&entry.pid], entry.expected_color, "{:?} {}", entry.role, entry.en);
        }
        prop_assert!(green * 10 >= city.persons.len() * 8, "{} of {} green", green, city.persons.len());
    }
}
