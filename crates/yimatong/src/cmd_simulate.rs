//! `yimatong simulate`: writes a synthetic city's events as JSON lines
//! (`simulate policy`, the policy simulator, is in cmd_simulate_policy.rs).
//!
//! Three files: FILE (events, the `Event` wire form that `yimatong import`
//! reads), FILE.persons.jsonl (persons with their synthetic ID numbers, so a
//! server can compute pseudonyms with its own key) and FILE.venues.jsonl. A
//! JSON summary with the counts and the story goes to standard output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ymt_core::{Event, RegionCode, Timestamp};
use ymt_sim::{CityConfig, SimPerson, generate_city, generate_events_streaming};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    command: Option<SimulateCommand>,
    /// The seed: the same seed and options always give the same files.
    #[arg(long, default_value_t = CityConfig::default().seed)]
    seed: u64,
    #[arg(long, default_value_t = CityConfig::default().persons)]
    persons: usize,
    #[arg(long, default_value_t = CityConfig::default().venues)]
    venues: usize,
    #[arg(long, default_value_t = CityConfig::default().days)]
    days: u32,
    /// The first instant of the period (RFC 3339); the story's colors hold at start + days.
    #[arg(long, default_value_t = CityConfig::default().start)]
    start: Timestamp,
    /// The county (6-digit code) the city lies in.
    #[arg(long, default_value_t = CityConfig::default().region)]
    region: RegionCode,
    /// Write events in the order they became known (holds them all in memory)
    /// instead of person by person.
    #[arg(long)]
    sorted: bool,
    /// The events file (JSON lines); persons and venues go beside it.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum SimulateCommand {
    /// Compare policies (rule sets, legacy practices) on an epidemic with
    /// the real node in the loop: precision, delay and over-restriction.
    Policy(crate::cmd_simulate_policy::PolicyArgs),
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

fn write_event(writer: &mut impl Write, event: &Event) -> std::io::Result<()> {
    serde_json::to_writer(&mut *writer, event)?;
    writer.write_all(b"\n")
}

fn person_json(person: &SimPerson) -> serde_json::Value {
    serde_json::json!({
        "pid": person.pid,
        "index": person.index,
        "id_type": person.document.id_type(),
        // Synthetic numbers: valid in form, belonging to nobody.
        "id_number": person.document.number_for_hashing(),
        "display_name": person.display_name,
        "phone": person.phone,
        "age_years": person.age_years,
        "household": person.household,
        "guardian": person.guardian,
        "dependents": person.dependents,
    })
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    if let Some(SimulateCommand::Policy(policy_args)) = args.command {
        return crate::cmd_simulate_policy::run(policy_args);
    }
    let config = CityConfig {
        seed: args.seed,
        persons: args.persons,
        venues: args.venues,
        start: args.start,
        days: args.days,
        region: args.region,
    };
    config.validate().context("simulate")?;
    let events_path = args.out.context("simulate: --out is required")?;
    let mut events_out = create(&events_path)?;
    let (persons, venues, story, end, total, by_kind, contacts) = if args.sorted {
        let city = generate_city(&config)?;
        for event in city.events_sorted() {
            write_event(&mut events_out, event)
                .with_context(|| format!("writing {}", events_path.display()))?;
        }
        let mut by_kind = std::collections::BTreeMap::new();
        for event in &city.events {
            *by_kind.entry(event.kind().as_str()).or_insert(0u64) += 1;
        }
        let contacts = (
            city.close_contacts,
            city.secondary_contacts,
            city.companions,
        );
        let total = city.events.len() as u64;
        (
            city.persons,
            city.venues,
            city.story,
            city.end,
            total,
            by_kind,
            contacts,
        )
    } else {
        // The sink cannot fail, so the first write error is kept and reported after.
        let mut write_error: Option<std::io::Error> = None;
        let written = crate::progress::counter("events written");
        let mut events_written = 0u64;
        let outline = generate_events_streaming(&config, |event| {
            if write_error.is_none()
                && let Err(error) = write_event(&mut events_out, &event)
            {
                write_error = Some(error);
            }
            events_written += 1;
            if events_written.is_multiple_of(16_384) {
                written.set_position(events_written);
            }
        })?;
        written.finish_and_clear();
        if let Some(error) = write_error {
            return Err(error).with_context(|| format!("writing {}", events_path.display()));
        }
        let contacts = (
            outline.close_contacts,
            outline.secondary_contacts,
            outline.companions,
        );
        (
            outline.persons,
            outline.venues,
            outline.story,
            outline.end,
            outline.events_total,
            outline.events_by_kind,
            contacts,
        )
    };
    events_out
        .flush()
        .with_context(|| format!("writing {}", events_path.display()))?;

    let persons_path = sibling(&events_path, ".persons.jsonl");
    let mut persons_out = create(&persons_path)?;
    for person in &persons {
        serde_json::to_writer(&mut persons_out, &person_json(person))
            .and_then(|()| persons_out.write_all(b"\n").map_err(serde_json::Error::io))
            .with_context(|| format!("writing {}", persons_path.display()))?;
    }
    persons_out
        .flush()
        .with_context(|| format!("writing {}", persons_path.display()))?;

    let venues_path = sibling(&events_path, ".venues.jsonl");
    let mut venues_out = create(&venues_path)?;
    for venue in &venues {
        serde_json::to_writer(&mut venues_out, venue)
            .and_then(|()| venues_out.write_all(b"\n").map_err(serde_json::Error::io))
            .with_context(|| format!("writing {}", venues_path.display()))?;
    }
    venues_out
        .flush()
        .with_context(|| format!("writing {}", venues_path.display()))?;

    let summary = serde_json::json!({
        "seed": config.seed,
        "start": config.start,
        "end": end,
        "region": config.region,
        "persons": persons.len(),
        "venues": venues.len(),
        "events": total,
        "events_by_kind": by_kind,
        "close_contacts": contacts.0,
        "secondary_contacts": contacts.1,
        "companions": contacts.2,
        "files": {
            "events": events_path,
            "persons": persons_path,
            "venues": venues_path,
        },
        "story": story,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}
