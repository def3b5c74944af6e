//! Decision benchmark: one person with 20 events and one with 200, under the
//! national rule set. `cargo bench -p ymt-rules --bench evaluate`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use ymt_core::event::{
    CheckIn, ContactDesignation, ContactKind, TestKind, TestOutcome, TestResult, Vaccination,
};
use ymt_core::{Event, EventBody, EventId, Facts, PersonId, Timestamp, VenueId};
use ymt_rules::{CompiledRules, RuleSet};

const BASE_SECS: i64 = 1_656_662_400;
const HOUR_SECS: i64 = 3600;

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_secs(BASE_SECS + hours * HOUR_SECS).unwrap()
}

/// A close contact in quarantine with daily tests, check-ins and vaccinations:
/// the shape of a busy timeline. `events` is split across kinds in fixed
/// proportions.
fn timeline(events: usize) -> Vec<Event> {
    let person = PersonId::parse("p-bench").unwrap();
    let mut bodies: Vec<(EventBody, Timestamp)> = vec![(
        EventBody::ContactDesignation(ContactDesignation {
            contact: ContactKind::Close,
            source_case: None,
            designated_at: at(0),
            last_exposure_at: at(-20),
            venue: None,
            overlap_start: None,
            overlap_end: None,
            rule: None,
            reason: "traced".into(),
        }),
        at(0),
    )];
    for dose in 1..=3u8 {
        bodies.push((
            EventBody::Vaccination(Vaccination {
                product: "CoronaVac".into(),
                dose,
                administered_at: at(-24 * 200 + i64::from(dose) * 24 * 30),
            }),
            at(-24 * 200 + i64::from(dose) * 24 * 30),
        ));
    }
    let remaining = events - bodies.len();
    let tests = remaining * 3 / 10;
    for index in 0..tests as i64 {
        let sampled = at(-24 * 14 + index * 20);
        bodies.push((
            EventBody::TestResult(TestResult {
                test: TestKind::Pcr,
                result: TestOutcome::Negative,
                sampled_at: sampled,
                reported_at: sampled.plus_secs(6 * HOUR_SECS),
                lab: "lab-440305-01".into(),
            }),
            sampled.plus_secs(6 * HOUR_SECS),
        ));
    }
    for index in 0..(remaining - tests) as i64 {
        let entered = at(-24 * 14 + index * 3);
        bodies.push((
            EventBody::CheckIn(CheckIn {
                venue: VenueId::parse(&format!("v-{}", index % 37)).unwrap(),
                entered_at: entered,
                left_at: Some(entered.plus_secs(HOUR_SECS)),
            }),
            entered,
        ));
    }
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, (body, recorded_at))| Event {
            id: EventId::parse(&format!("e{index}")).unwrap(),
            person: person.clone(),
            recorded_at,
            author: "bench".into(),
            body,
        })
        .collect()
}

fn bench_evaluate(criterion: &mut Criterion) {
    let national = RuleSet::national();
    let compiled = CompiledRules::compile(&national, None).unwrap();
    let now = at(24 * 8);
    for events in [20, 200] {
        let timeline = timeline(events);
        assert_eq!(timeline.len(), events);
        let facts = Facts::derive(&timeline, now);
        criterion.bench_function(&format!("evaluate/{events}_events"), |bencher| {
            bencher.iter(|| {
                compiled
                    .evaluate(black_box(&facts), black_box(now))
                    .unwrap()
            })
        });
        criterion.bench_function(&format!("derive_and_evaluate/{events}_events"), |bencher| {
            bencher.iter(|| {
                let facts = Facts::derive(black_box(&timeline), now);
                compiled.evaluate(&facts, now).unwrap()
            })
        });
    }
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
