//! The synthetic city: determinism, validity of every event and document,
//! and the story as the national rules see it.

use std::collections::{HashMap, HashSet};

use ymt_core::identity::{IdDocument, IdType};
use ymt_core::{Color, Event, Facts, PersonId, RegionCode, Timestamp};
use ymt_rules::{CompiledRules, RuleSet};
use ymt_sim::{City, CityConfig, SimError, StoryRole, generate_city, generate_events_streaming};

fn small(seed: u64) -> CityConfig {
    CityConfig {
        seed,
        persons: 500,
        venues: 40,
        ..CityConfig::default()
    }
}

fn city(config: &CityConfig) -> City {
    generate_city(config).expect("a valid configuration")
}

fn json_lines(events: &[Event]) -> String {
    events
        .iter()
        .map(|event| serde_json::to_string(event).unwrap() + "\n")
        .collect()
}

#[test]
fn same_seed_same_city_other_seed_other_city() {
    let first = city(&small(1));
    let again = city(&small(1));
    let other = city(&small(2));
    assert_eq!(json_lines(&first.events), json_lines(&again.events));
    assert_eq!(first.persons, again.persons);
    assert_eq!(first.story, again.story);
    assert_ne!(json_lines(&first.events), json_lines(&other.events));
    assert_ne!(first.persons[0].document, other.persons[0].document);
}

#[test]
fn every_event_is_valid_unique_and_round_trips() {
    let config = small(3);
    let city = city(&config);
    assert!(city.events.len() > 10_000, "{} events", city.events.len());
    let mut ids = HashSet::new();
    let persons: HashSet<&PersonId> = city.persons.iter().map(|person| &person.pid).collect();
    for event in &city.events {
        event
            .validate()
            .unwrap_or_else(|error| panic!("{}: {error}", event.id));
        assert!(ids.insert(event.id.clone()), "duplicate id {}", event.id);
        assert!(
            persons.contains(&event.person),
            "unknown person {}",
            event.person
        );
        assert!(
            event.recorded_at <= city.end,
            "{} recorded after the end",
            event.id
        );
        let text = serde_json::to_string(event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, event);
    }
    let sorted = city
        .events
        .windows(2)
        .all(|pair| (pair[0].recorded_at, &pair[0].id) <= (pair[1].recorded_at, &pair[1].id));
    assert!(sorted, "events are sorted by recorded_at");
    let kinds: HashSet<&str> = city
        .events
        .iter()
        .map(|event| event.kind().as_str())
        .collect();
    assert_eq!(kinds.len(), 9, "every kind of event appears: {kinds:?}");
}

#[test]
fn documents_parse_and_are_unique() {
    let city = city(&small(4));
    let mut numbers = HashSet::new();
    let mut without_phone = 0;
    for person in &city.persons {
        let number = person.document.number_for_hashing();
        let reparsed = IdDocument::parse(person.document.id_type(), number).unwrap();
        assert_eq!(reparsed, person.document);
        assert!(numbers.insert(number.to_owned()), "duplicate document");
        if person.document.id_type() == IdType::ResidentId {
            assert_eq!(&number[6..10], person.birth_date.year().to_string());
        }
        without_phone += usize::from(!person.phone);
        for dependent in &person.dependents {
            assert_eq!(city.persons[*dependent].guardian, Some(person.index));
        }
    }
    let local = city
        .persons
        .iter()
        .filter(|person| person.document.number_for_hashing().starts_with("440305"))
        .count();
    assert!(local > city.persons.len() / 2, "{local} born locally");
    let share = without_phone * 100 / city.persons.len();
    assert!((5..=25).contains(&share), "{share}% without a phone");
}

#[test]
fn streaming_emits_the_same_events() {
    let config = small(5);
    let city = city(&config);
    let mut streamed = Vec::new();
    let outline = generate_events_streaming(&config, |event| streamed.push(event)).unwrap();
    assert_eq!(outline.events_total as usize, city.events.len());
    assert_eq!(
        outline.events_by_kind.values().sum::<u64>(),
        outline.events_total
    );
    streamed.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
    assert_eq!(streamed, city.events);
}

/// Every person's color at the end of the period under the national rules.
fn colors_at_end(city: &City) -> HashMap<PersonId, Color> {
    let rules = CompiledRules::compile(&RuleSet::national(), None).unwrap();
    let mut by_person: HashMap<&PersonId, Vec<&Event>> = HashMap::new();
    for event in &city.events {
        by_person.entry(&event.person).or_default().push(event);
    }
    city.persons
        .iter()
        .map(|person| {
            let events = by_person.remove(&person.pid).unwrap_or_default();
            let facts = Facts::derive(events, city.end);
            let decision = rules.evaluate(&facts, city.end).unwrap();
            (person.pid.clone(), decision.color)
        })
        .collect()
}

#[test]
fn the_story_holds_under_the_national_rules() {
    let odd_start = CityConfig {
        // Not a local midnight, another county, the shortest period, few venues.
        start: Timestamp::parse_rfc3339("2022-09-03T05:37:11Z").unwrap(),
        region: RegionCode::parse("110105").unwrap(),
        days: 10,
        venues: 12,
        ..small(7)
    };
    let long = CityConfig {
        days: 30,
        persons: 300,
        ..small(9)
    };
    for config in [small(6), odd_start, long] {
        let seed = config.seed;
        let city = city(&config);
        let colors = colors_at_end(&city);
        for entry in city.story() {
            assert_eq!(
                colors[&entry.pid], entry.expected_color,
                "seed {seed}: {:?} {} ({})",
                entry.role, entry.pid, entry.en
            );
        }
        let roles: HashSet<StoryRole> = city.story().iter().map(|entry| entry.role).collect();
        for role in [
            StoryRole::Case,
            StoryRole::CloseContact,
            StoryRole::HomeQuarantine,
            StoryRole::HighRiskExposure,
            StoryRole::AuthorityOverride,
            StoryRole::RetractedPositive,
            StoryRole::AntigenCleared,
            StoryRole::AntigenPending,
        ] {
            assert!(
                roles.contains(&role),
                "seed {seed}: no {role:?} in the story"
            );
        }
        let case = city
            .story()
            .iter()
            .find(|e| e.role == StoryRole::Case)
            .unwrap();
        assert_eq!(colors[&case.pid], Color::Red);
        let retracted = city
            .story()
            .iter()
            .find(|e| e.role == StoryRole::RetractedPositive)
            .unwrap();
        assert_eq!(colors[&retracted.pid], Color::Green);
        assert!(city.close_contacts >= 1);
        let green = colors
            .values()
            .filter(|color| **color == Color::Green)
            .count();
        assert!(
            green * 10 >= city.persons.len() * 8,
            "seed {seed}: only {green} of {} green",
            city.persons.len()
        );
    }
}

#[test]
fn the_retracted_positive_was_red_in_between() {
    let city = city(&small(8));
    let rules = CompiledRules::compile(&RuleSet::national(), None).unwrap();
    let retracted = city
        .story()
        .iter()
        .find(|e| e.role == StoryRole::RetractedPositive)
        .unwrap();
    let events: Vec<&Event> = city.events_of(&retracted.pid).collect();
    let positive = events
        .iter()
        .find(|event| event.id.as_str().contains(":wrong-"))
        .unwrap();
    let at = positive.recorded_at.plus_secs(60);
    let decision = rules
        .evaluate(&Facts::derive(events.iter().copied(), at), at)
        .unwrap();
    assert_eq!(decision.color, Color::Red);
}

fn check_config(config: CityConfig, expect: Result<(), &str>) {
    let outcome = config.validate().map_err(|error| error.to_string());
    match (&outcome, expect) {
        (Ok(()), Ok(())) => {}
        (Err(message), Err(part)) => assert!(message.contains(part), "{message}"),
        _ => panic!("{config:?}: {outcome:?}, expected {expect:?}"),
    }
}

#[test]
fn configurations_are_bounded() {
    check_config(CityConfig::default(), Ok(()));
    check_config(
        CityConfig {
            persons: 10,
            ..CityConfig::default()
        },
        Err("persons"),
    );
    check_config(
        CityConfig {
            venues: 0,
            ..CityConfig::default()
        },
        Err("venues"),
    );
    check_config(
        CityConfig {
            days: 3,
            ..CityConfig::default()
        },
        Err("days"),
    );
    check_config(
        CityConfig {
            region: RegionCode::parse("4403").unwrap(),
            ..CityConfig::default()
        },
        Err("county"),
    );
    check_config(
        CityConfig {
            start: Timestamp::EPOCH,
            ..CityConfig::default()
        },
        Err("start"),
    );
    assert!(matches!(
        generate_city(&CityConfig {
            days: 100,
            ..CityConfig::default()
        }),
        Err(SimError::OutOfRange { field: "days", .. })
    ));
}
