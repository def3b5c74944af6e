//! Measures streaming generation of a large city: events are counted, not kept.
//!
//! `cargo run --release -p ymt-sim --example stream_count -- [PERSONS] [VENUES]`
//! prints one JSON object with the counts and the elapsed time.

use std::time::Instant;

use ymt_sim::{CityConfig, generate_events_streaming};

fn main() {
    let mut args = std::env::args().skip(1);
    let persons: usize = args
        .next()
        .map(|text| text.parse().expect("PERSONS is a number"))
        .unwrap_or(1_000_000);
    let venues: usize = args
        .next()
        .map(|text| text.parse().expect("VENUES is a number"))
        .unwrap_or((persons / 15).max(5));
    let config = CityConfig {
        persons,
        venues,
        ..CityConfig::default()
    };
    let started = Instant::now();
    let mut check_ins = 0u64;
    let outline = generate_events_streaming(&config, |event| {
        check_ins += u64::from(event.kind() == ymt_core::EventKind::CheckIn);
    })
    .expect("a valid configuration");
    let elapsed_secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"persons\": {persons}, \"venues\": {venues}, \"days\": {}, \"events\": {}, \"close_contacts\": {}, \"companions\": {}, \"secondary_contacts\": {}, \"elapsed_secs\": {elapsed_secs:.2}, \"events_per_sec\": {:.0}, \"check_ins\": {check_ins}}}",
        config.days,
        outline.events_total,
        outline.close_contacts,
        outline.companions,
        outline.secondary_contacts,
        outline.events_total as f64 / elapsed_secs,
    );
}
