//! `yimatong serve|import|admin|audit|bench ingest|bench status`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ymt_core::{Event, EventBody, PersonId, RegionCode};
use ymt_node::auth::{Principal, Role, check_principal_id, key_sha256, new_api_key};
use ymt_node::state::{EventRecord, PersonRecord};
use ymt_node::{Node, ServerConfig, SystemClock};
use ymt_store::EventStore;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The data directory (created if missing).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed a small synthetic city (first start only) and print how to try it.
    #[arg(long)]
    pub demo: bool,
    /// Persons in the demo city.
    #[arg(long, default_value_t = 3000)]
    pub demo_persons: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 10_000)]
    pub batch_events_max: usize,
    /// Requests served at once before shedding with 503 (default: 64 per
    /// core).
    #[arg(long, default_value_t = ymt_node::config::concurrent_requests_max_default())]
    pub concurrent_requests_max: usize,
    /// Write a projection snapshot after this many newly stored events.
    #[arg(long, default_value_t = 200_000)]
    pub snapshot_every_events: u64,
    /// The URL citizens reach this node at (e.g. `https://ymt.example.cn`):
    /// under https the session cookie is `Secure`, and citizens'
    /// state-changing requests must come from this origin.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Another node of the cluster, as its pages reach it
    /// (`https://node2.example.cn`); repeatable, at most 16. The verifier
    /// page fails over to these nodes when this one cannot answer, and they
    /// may call this node's API from their pages with a bearer key (CORS).
    #[arg(long = "peer-url")]
    pub peer_urls: Vec<String>,
    /// Connections open at once from one client address (IPv6: per /64).
    #[arg(long, default_value_t = 256)]
    pub connections_per_client_max: usize,
    /// Events of one person within one window; a batch that would put more
    /// there is refused (422) before anything is stored. `rules check`
    /// stress-tests rule sets at this cap.
    #[arg(long, default_value_t = ymt_node::config::PERSON_EVENTS_PER_WINDOW_MAX_DEFAULT)]
    pub person_events_per_window_max: usize,
    /// The window of `--person-events-per-window-max`, in seconds.
    #[arg(long, default_value_t = ymt_node::config::PERSON_EVENTS_WINDOW_SECS_DEFAULT)]
    pub person_events_window_secs: i64,
    /// The circuit breaker's limit: an action changing more colors (an
    /// automatic tracing designating more persons) than this waits for a
    /// second national admin.
    #[arg(long, default_value_t = 10_000)]
    pub breaker_persons_max: usize,
    /// Citizen sign-in through this OpenID provider (the national identity
    /// service), e.g. `https://id.example.gov.cn`: the authorization code
    /// flow with PKCE. Needs `--public-url` (the redirect URI registered at
    /// the provider is `<public-url>/v1/session/oidc/callback`), a client id
    /// and a client secret file.
    #[arg(long, requires_all = ["oidc_client_id", "oidc_client_secret_file", "public_url"])]
    pub oidc_issuer: Option<String>,
    /// The client id this node is registered with at the provider.
    #[arg(long, requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client secret (one line), so that it is not on the
    /// command line for every process listing to see.
    #[arg(long, requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The ID-token claim carrying the real-name-verified ID document number.
    #[arg(long, default_value = "id_number")]
    pub oidc_id_number_claim: String,
    /// The kind of document that number is.
    #[arg(long, default_value = "resident_id")]
    pub oidc_id_type: String,
    /// Join a cluster: the client URLs of its NATS servers, comma-separated
    /// (`yimatong cluster up` starts a local one). Without it the node is a
    /// single node: embedded storage, no NATS.
    #[arg(long)]
    pub nats: Option<String>,
    /// In a cluster: how long a write waits for the NATS quorum's ack before
    /// a 503 (the record stays in the outbox, published when it is back).
    #[arg(long, default_value_t = 5_000, requires = "nats")]
    pub publish_ack_timeout_ms: u64,
    /// In a cluster: copies of the stream (one per NATS server, 3).
    #[arg(long, default_value_t = 3, requires = "nats")]
    pub stream_replicas: usize,
    /// In a cluster: `/readyz` fails while the replication lag is above it.
    #[arg(long, default_value_t = 2_000, requires = "nats")]
    pub replication_lag_max_ms: u64,
    /// In a cluster: how long the stream keeps records (7 days); a node
    /// away longer catches up from its peers (anti-entropy). Set when the
    /// stream is first made; a short one is for tests.
    #[arg(long, default_value_t = 7 * 24 * 3600, requires = "nats")]
    pub stream_max_age_secs: u64,
    /// In a cluster: how often the node compares what it holds of every
    /// origin with each peer and fetches what it misses (anti-entropy).
    #[arg(long, default_value_t = 1_000, requires = "nats")]
    pub anti_entropy_interval_ms: u64,
    /// In a cluster: the base URL peers reach this node's API at, for
    /// anti-entropy (default `http://<the address it listens on>`).
    #[arg(long, requires = "nats")]
    pub advertise_url: Option<String>,
}

/// The OpenID provider configuration from the command line, if any.
fn oidc_config(args: &ServeArgs) -> anyhow::Result<Option<ymt_node::config::OidcConfig>> {
    let Some(issuer_url) = args.oidc_issuer.clone() else {
        return Ok(None);
    };
    let secret_file = args
        .oidc_client_secret_file
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--oidc-issuer needs --oidc-client-secret-file"))?;
    let client_secret = std::fs::read_to_string(secret_file)
        .with_context(|| format!("reading the client secret {}", secret_file.display()))?
        .trim()
        .to_owned();
    anyhow::ensure!(!client_secret.is_empty(), "the client secret file is empty");
    let id_type = serde_json::from_value(serde_json::Value::String(args.oidc_id_type.clone()))
        .map_err(|_| {
            anyhow::anyhow!(
                "--oidc-id-type: unknown document type {}",
                args.oidc_id_type
            )
        })?;
    Ok(Some(ymt_node::config::OidcConfig {
        issuer_url,
        client_id: args
            .oidc_client_id
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--oidc-issuer needs --oidc-client-id"))?,
        client_secret,
        id_number_claim: args.oidc_id_number_claim.clone(),
        id_type,
    }))
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Manage principals (labs, venues, verifier devices, authorities, auditors).
    Principal {
        #[command(subcommand)]
        command: PrincipalCommand,
    },
}

#[derive(clap::Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal and print its API key (shown once).
    Add {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        id: String,
        /// lab | venue | verifier_device | health_authority | national_admin | auditor
        #[arg(long)]
        role: String,
        /// GB/T 2260 prefix, or `nation`.
        #[arg(long)]
        jurisdiction: RegionCode,
        #[arg(long, default_value = "")]
        name: String,
        /// Days the API key works.
        #[arg(long, default_value_t = ymt_node::auth::API_KEY_TTL_SECS_DEFAULT / 86_400)]
        key_ttl_days: i64,
        /// The subject (`sub`) the identity provider asserts for this staff
        /// member: they then sign in to the console through the provider.
        #[arg(long)]
        oidc_subject: Option<String>,
    },
    /// Issue a new API key for a principal and print it (shown once); the
    /// old key keeps working through the grace period, then stops.
    RotateKey {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        id: String,
        /// Seconds the old key keeps working beside the new one.
        #[arg(long, default_value_t = ymt_node::auth::KEY_ROTATION_GRACE_SECS_DEFAULT)]
        grace_secs: i64,
        /// Days the new key works.
        #[arg(long, default_value_t = ymt_node::auth::API_KEY_TTL_SECS_DEFAULT / 86_400)]
        key_ttl_days: i64,
    },
    /// Revoke every API key of a principal at once (a stolen key); it has
    /// none until the next rotate-key. On a running node:
    /// `POST /v1/admin/principals/{id}/keys:revoke`.
    RevokeKeys {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        id: String,
    },
    /// List principals (never their keys).
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit log and report the first broken link.
    Verify {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub(crate) fn open_state(data: &Path) -> anyhow::Result<Arc<Node>> {
    let config = ServerConfig::new(data.to_path_buf());
    Node::open_embedded(config, Arc::new(SystemClock)).with_context(|| {
        format!(
            "opening the data directory {} (is a server already running on it?)",
            data.display()
        )
    })
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    runtime.block_on(async move {
        let mut config = ServerConfig::new(args.data.clone());
        config.listen = args.listen;
        config.batch_events_max = args.batch_events_max;
        config.tracing.breaker_persons_max = args.breaker_persons_max;
        config.concurrent_requests_max = args.concurrent_requests_max;
        config.snapshot_every_events = args.snapshot_every_events.max(1);
        config.public_url = args
            .public_url
            .as_deref()
            .map(ymt_node::config::parse_public_url)
            .transpose()?;
        anyhow::ensure!(
            args.peer_urls.len() <= ymt_node::config::PEER_URLS_MAX,
            "--peer-url: at most {} peers",
            ymt_node::config::PEER_URLS_MAX
        );
        config.peer_urls = args
            .peer_urls
            .iter()
            .map(|url| ymt_node::config::parse_public_url(url))
            .collect::<Result<_, _>>()?;
        config.connections_per_client_max = args.connections_per_client_max.max(1);
        config.person_events_per_window_max = args.person_events_per_window_max.max(1);
        config.person_events_window_secs = args.person_events_window_secs.max(1);
        config.oidc = oidc_config(&args)?;
        config.replication_lag_max_ms = args.replication_lag_max_ms;
        let signs_in_through_provider = config.oidc.is_some();
        let state = crate::node_start::open_node(config, Arc::new(SystemClock))?;
        let demo_text = if args.demo {
            let text = tokio::task::block_in_place(|| {
                seed_demo(&state, &args.data, args.demo_persons)
            })?;
            // Demo sign-in for the citizen page: one fixed one-time code.
            state
                .codes
                .set_authenticator(Arc::new(ymt_node::codes::DemoFixedCode {
                    code: DEMO_ONE_TIME_CODE.into(),
                }));
            Some(text)
        } else {
            if !signs_in_through_provider {
                eprintln!(
                    "citizen sign-in is off: start with --oidc-issuer (or --demo for the demo's one-time code)"
                );
            }
            None
        };
        let cluster = match &args.nats {
            Some(urls) => {
                let mut cluster = ymt_cluster::ClusterConfig::new(urls.clone());
                cluster.publish_ack_timeout =
                    std::time::Duration::from_millis(args.publish_ack_timeout_ms.max(1));
                cluster.stream_replicas = args.stream_replicas.clamp(1, 5);
                cluster.stream_max_age =
                    std::time::Duration::from_secs(args.stream_max_age_secs.max(1));
                Some(ymt_cluster::join(state.clone(), cluster).await?)
            }
            None => None,
        };
        let serving = crate::node_start::bind_and_serve_node(state, args.listen).await?;
        let address = serving.address;
        if let Some(cluster) = cluster {
            // Anti-entropy, once the node answers its peers.
            let url = args
                .advertise_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}"));
            let peers = cluster.advertise(url);
            tokio::spawn(ymt_http::anti_entropy::run(
                serving.node.clone(),
                move || peers.urls(),
                std::time::Duration::from_millis(args.anti_entropy_interval_ms.max(10)),
            ));
        }
        let control_socket =
            crate::cmd_backup::serve_control_socket(serving.node.clone(), &args.data);
        println!(
            "yimatong listening on http://{address}  (data: {})",
            args.data.display()
        );
        if let Some(text) = demo_text {
            println!("{}", text.replace("{BASE}", &format!("http://{address}")));
            let keys: serde_json::Value =
                serde_json::from_slice(&std::fs::read(args.data.join("demo-keys.json"))?)?;
            println!("Citizen page: http://{address}/  (DEMO ONLY: every citizen signs in with the one-time code {DEMO_ONE_TIME_CODE}; a real node uses --oidc-issuer)");
            // One machine-readable line for scripts and browser tests.
            println!(
                "YMT_READY {}",
                serde_json::json!({"base": format!("http://{address}"), "demo_code": DEMO_ONE_TIME_CODE, "keys": keys})
            );
        } else {
            println!(
                "YMT_READY {}",
                serde_json::json!({"base": format!("http://{address}")})
            );
        }
        serving.run_until(shutdown_requested()).await?;
        drop(control_socket);
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C, or on SIGTERM (what service managers and container
/// runtimes send to stop a process), so both end in a clean shutdown with a
/// snapshot.
async fn shutdown_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The one-time code every demo citizen signs in with (demo only).
const DEMO_ONE_TIME_CODE: &str = "246810";

const DEMO_ROLES: [(&str, Role, &str); 8] = [
    ("demo-admin", Role::NationalAdmin, "nation"),
    // A second national admin, so the demo can show four-eyes actions
    // (held designations, key revocation) being approved.
    ("demo-admin-2", Role::NationalAdmin, "nation"),
    ("demo-cdc-440305", Role::HealthAuthority, "440305"),
    ("demo-lab-440305", Role::Lab, "440305"),
    ("demo-verifier-440305", Role::VerifierDevice, "440305"),
    ("demo-auditor", Role::Auditor, "nation"),
    // The staff of the demo hospital and care home (docs/services.md): venue
    // principals their venues name as operators.
    ("demo-hospital-440305", Role::Venue, "440305"),
    ("demo-care-home-440305", Role::Venue, "440305"),
];

/// The demo hospital and care home, and the principal of their staff.
const DEMO_SERVICE_VENUES: [(&str, &str, &str, &str); 2] = [
    (
        "hospital-440305-01",
        "南山医院",
        "hospital",
        "demo-hospital-440305",
    ),
    (
        "care-home-440305-01",
        "南山颐养院",
        "care_home",
        "demo-care-home-440305",
    ),
];

/// Seeds the demo city on first start; prints keys and the story each time.
fn seed_demo(state: &Arc<Node>, data: &Path, persons: usize) -> anyhow::Result<String> {
    let keys_path = data.join("demo-keys.json");
    let story_path = data.join("demo-story.txt");
    if state.store.last_seq() > 0 && keys_path.exists() {
        let keys: HashMap<String, String> = serde_json::from_slice(&std::fs::read(&keys_path)?)?;
        let story = std::fs::read_to_string(&story_path).unwrap_or_default();
        return Ok(demo_instructions(&keys, &story));
    }
    let now = state.now();
    let days = 14;
    let config = ymt_sim::CityConfig {
        persons,
        start: now.plus_secs(-(days as i64) * 86_400),
        days,
        ..ymt_sim::CityConfig::default()
    };
    let city = ymt_sim::generate_city(&config).map_err(|error| anyhow::anyhow!("{error}"))?;
    // The simulator uses placeholder ids; this node's pseudonyms come from
    // the documents and its own secret.
    let mut pid_of: HashMap<PersonId, PersonId> = HashMap::new();
    for person in &city.persons {
        let pid = state.person_id(&person.document);
        pid_of.insert(person.pid.clone(), pid.clone());
        let record = PersonRecord {
            pid,
            masked_name: ymt_core::identity::MaskedName::mask(&person.display_name)
                .map_err(|error| anyhow::anyhow!("{error}"))?,
            id_type: person.document.id_type(),
            region: config.region.clone(),
            has_phone: person.phone,
            guardian_of: person
                .dependents
                .iter()
                .map(|&index| state.person_id(&city.persons[index].document))
                .collect(),
            // The operator's seed is the consent: its guardianships hold.
            guardianship_confirmed: person
                .dependents
                .iter()
                .map(|&index| state.person_id(&city.persons[index].document))
                .collect(),
            registered_by: "operator".into(),
            relationships: Default::default(),
        };
        state
            .register_person(&record)
            .map_err(|error| anyhow::anyhow!(error.detail))?;
    }
    // The city's venues are registered first: check-ins at unknown venues
    // are refused, and risk areas find venues by their community code.
    for venue in &city.venues {
        state
            .register_venue(
                &ymt_node::record::Author::operator(),
                ymt_node::venues::Venue {
                    id: venue.id.clone(),
                    name: venue.name.clone(),
                    region: venue.region.clone(),
                    category: venue.category.as_str().into(),
                    indoor: venue.indoor,
                    registered_by: "demo-seed".into(),
                    registered_at: now,
                    operators: Vec::new(),
                    location: Some(ymt_node::venues::Location {
                        lat_e6: venue.location.0,
                        lon_e6: venue.location.1,
                    }),
                },
            )
            .map_err(|error| anyhow::anyhow!(error.detail))?;
    }
    let records: Vec<EventRecord> = city
        .events
        .iter()
        .filter(|event| event.recorded_at <= now)
        .map(|event| {
            let mut event: Event = event.clone();
            if let Some(pid) = pid_of.get(&event.person) {
                event.person = pid.clone();
            }
            if let EventBody::ContactDesignation(designation) = &mut event.body
                && let Some(source) = designation.source_case.as_mut()
                && let Some(pid) = pid_of.get(source)
            {
                *source = pid.clone();
            }
            EventRecord {
                region: config.region.clone(),
                event,
            }
        })
        .collect();
    let summary = state
        .import_records(&records, "demo-seed")
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let mut keys = HashMap::new();
    for (id, role, jurisdiction) in DEMO_ROLES {
        let key = new_api_key(id);
        state
            .add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse().expect("demo jurisdictions are valid"),
                display_name: format!("demo {}", role.as_str()),
                key_sha256: key_sha256(&key),
                disabled: false,
                created_by: String::new(),
                // Demo keys do not expire: the demo city is reused across
                // restarts. Keys made by `admin principal add` do.
                keys: Default::default(),
                key_in_use: None,
                oidc_subject: None,
            })
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        keys.insert(id.to_string(), key);
    }
    write_private(&keys_path, &serde_json::to_vec_pretty(&keys)?)?;
    let community = format!("{}001001", config.region.as_str());
    for (id, name, category, operator) in DEMO_SERVICE_VENUES {
        state
            .register_venue(
                &ymt_node::record::Author::operator(),
                ymt_node::venues::Venue {
                    id: ymt_core::VenueId::parse(id).expect("a demo venue id"),
                    name: name.into(),
                    region: community.parse().expect("a community code"),
                    category: category.into(),
                    indoor: true,
                    registered_by: "demo-seed".into(),
                    registered_at: now,
                    operators: vec![operator.into()],
                    location: None,
                },
            )
            .map_err(|error| anyhow::anyhow!(error.detail))?;
    }
    let mut story = format!(
        "Demo city: {} persons, {} events stored ({} persons with events).\nNotable persons (pid, masked name, expected color):\n",
        city.persons.len(),
        summary.stored,
        summary.persons
    );
    for entry in &city.story {
        let pid = pid_of.get(&entry.pid).unwrap_or(&entry.pid);
        story.push_str(&format!(
            "  {:<18} {}  {}  {:<6}  {}\n",
            format!("{:?}", entry.role),
            pid,
            entry.masked_name,
            entry.expected_color,
            entry.en
        ));
    }
    story.push_str(&services_story(state, &city, &pid_of));
    std::fs::write(&story_path, &story)?;
    // The synthetic ID numbers to sign in with are printed once, at seeding,
    // and never written to the data directory: the node stores only pids.
    let mut sign_in =
        String::from("Sign in on the citizen page as (synthetic identities, shown this once):\n");
    let mut shown = std::collections::HashSet::new();
    for entry in &city.story {
        if !shown.insert(format!("{:?}", entry.role)) {
            continue;
        }
        let person = &city.persons[entry.person];
        sign_in.push_str(&format!(
            "  {:<18} {} {}  ({})\n",
            format!("{:?}", entry.role),
            person.document.id_type().as_str(),
            person.document.number_for_hashing(),
            entry.masked_name
        ));
    }
    Ok(format!("{}\n{sign_in}", demo_instructions(&keys, &story)))
}

/// The story's persons at the demo hospital's entrance and the demo care
/// home's door: their lanes and visit decisions differ with their facts.
fn services_story(
    state: &Arc<Node>,
    city: &ymt_sim::City,
    pid_of: &HashMap<PersonId, PersonId>,
) -> String {
    let hospital = state.module::<ymt_node::hospital::HospitalModule>();
    let care = state.module::<ymt_node::care_homes::CareHomeModule>();
    let (Ok(hospital), Ok(care)) = (hospital, care) else {
        return String::new();
    };
    let hospital_venue = ymt_core::VenueId::parse(DEMO_SERVICE_VENUES[0].0).expect("an id");
    let care_venue = ymt_core::VenueId::parse(DEMO_SERVICE_VENUES[1].0).expect("an id");
    let mut story = format!(
        "Services (docs/services.md): hospital {} (staff key demo-hospital-440305), care home {} (staff key demo-care-home-440305).\nHospital lane and care-home visit of the notable persons:\n",
        hospital_venue, care_venue
    );
    let mut shown = std::collections::HashSet::new();
    for entry in &city.story {
        let pid = pid_of.get(&entry.pid).unwrap_or(&entry.pid);
        if !shown.insert(pid.clone()) {
            continue;
        }
        let lane = hospital
            .rules
            .decide(state, pid, &hospital_venue, |_| {}, Vec::new());
        let visit = care.rules.decide(
            state,
            pid,
            &care_venue,
            ymt_node::care_homes::arrival(&care_venue, state.now()),
            Vec::new(),
        );
        story.push_str(&format!(
            "  {:<18} {}  lane {:<15} visit {}\n",
            format!("{:?}", entry.role),
            pid,
            lane.outcome,
            visit.outcome
        ));
    }
    story
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn demo_instructions(keys: &HashMap<String, String>, story: &str) -> String {
    let key = |id: &str| keys.get(id).cloned().unwrap_or_default();
    format!(
        "\n{story}\nDemo API keys (also in data/demo-keys.json):\n  national admin  {}\n  second national admin (approves four-eyes actions)  {}\n  health authority (440305)  {}\n  lab (440305)  {}\n  verifier device (440305)  {}\n  auditor  {}\n  hospital staff (hospital-440305-01)  {}\n  care-home staff (care-home-440305-01)  {}\n\nTry:\n  curl -s {{BASE}}/v1/persons/<pid>/status -H 'Authorization: Bearer {}'\n  curl -s {{BASE}}/v1/persons/<pid>/timeline -H 'Authorization: Bearer {}'\n  curl -s {{BASE}}/metrics\n  curl -s {{BASE}}/openapi.json\n",
        key("demo-admin"),
        key("demo-admin-2"),
        key("demo-cdc-440305"),
        key("demo-lab-440305"),
        key("demo-verifier-440305"),
        key("demo-auditor"),
        key("demo-hospital-440305"),
        key("demo-care-home-440305"),
        key("demo-verifier-440305"),
        key("demo-cdc-440305"),
    )
}

pub fn run_admin(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Principal { command } => match command {
            PrincipalCommand::Add {
                data,
                id,
                role,
                jurisdiction,
                name,
                key_ttl_days,
                oidc_subject,
            } => {
                if let Some(subject) = &oidc_subject {
                    ymt_node::auth::check_oidc_subject(subject)
                        .map_err(|error| anyhow::anyhow!("--oidc-subject: {error}"))?;
                }
                check_principal_id(&id).map_err(|error| anyhow::anyhow!(error))?;
                let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}; one of lab, venue, verifier_device, health_authority, national_admin, auditor"))?;
                let state = open_state(&data)?;
                if state.principals.read().get(&id).is_some() {
                    anyhow::bail!("principal {id} exists");
                }
                let key = new_api_key(&id);
                state
                    .add_principal(Principal {
                        id: id.clone(),
                        role,
                        jurisdiction: jurisdiction.clone(),
                        display_name: if name.is_empty() { id.clone() } else { name },
                        key_sha256: key_sha256(&key),
                        disabled: false,
                        created_by: String::new(),
                        keys: ymt_node::auth::KeyLifecycle {
                            expires_at: Some(state.now().plus_secs(key_ttl_days.max(1) * 86_400)),
                            ..Default::default()
                        },
                        key_in_use: None,
                        oidc_subject: oidc_subject.clone(),
                    })
                    .map_err(|error| anyhow::anyhow!(error.detail))?;
                println!(
                    "{}",
                    serde_json::json!({"id": id, "role": role, "jurisdiction": jurisdiction, "api_key": key})
                );
                Ok(ExitCode::SUCCESS)
            }
            PrincipalCommand::RotateKey {
                data,
                id,
                grace_secs,
                key_ttl_days,
            } => {
                let state = open_state(&data)?;
                let key = new_api_key(&id);
                state
                    .rotate_principal_key(
                        &ymt_node::record::Author::operator(),
                        &id,
                        &key,
                        key_ttl_days.max(1) * 86_400,
                        grace_secs,
                    )
                    .map_err(|error| anyhow::anyhow!(error.detail))?;
                let principal = state.principals.read().get(&id).cloned();
                let expires_at = principal.and_then(|principal| principal.keys.expires_at);
                println!(
                    "{}",
                    serde_json::json!({"id": id, "api_key": key, "key_id": ymt_node::auth::key_id(&key_sha256(&key)), "expires_at": expires_at, "old_key_works_until": state.now().plus_secs(grace_secs.max(0))})
                );
                Ok(ExitCode::SUCCESS)
            }
            PrincipalCommand::RevokeKeys { data, id } => {
                let state = open_state(&data)?;
                let revoked = state
                    .revoke_principal_keys(&ymt_node::record::Author::operator(), &id)
                    .map_err(|error| anyhow::anyhow!(error.detail))?;
                println!(
                    "{}",
                    serde_json::json!({"id": id, "revoked_key_ids": revoked})
                );
                Ok(ExitCode::SUCCESS)
            }
            PrincipalCommand::List { data } => {
                let state = open_state(&data)?;
                let principals = state.principals.read();
                for principal in principals.list() {
                    println!(
                        "{}",
                        serde_json::json!({"id": principal.id, "role": principal.role, "jurisdiction": principal.jurisdiction, "name": principal.display_name, "disabled": principal.disabled, "has_key": !principal.key_sha256.is_empty(), "key_id": (!principal.key_sha256.is_empty()).then(|| ymt_node::auth::key_id(&principal.key_sha256)), "key_expires_at": principal.keys.expires_at, "oidc_subject": principal.oidc_subject})
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

pub fn run_audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { data } => {
            let store = ymt_store::EmbeddedStore::open(
                data.join("store"),
                ymt_store::StoreConfig::default(),
            )
            .with_context(|| format!("opening {}", data.display()))?;
            match store.audit_verify() {
                Ok(report) if report.is_intact() => {
                    println!(
                        "{}",
                        serde_json::json!({"intact": true, "records_checked": report.records_checked, "head_seq": report.head_seq, "head_hash": hex_of(&report.head_hash)})
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Ok(report) => {
                    println!(
                        "{}",
                        serde_json::json!({"intact": false, "records_checked": report.records_checked, "first_broken": report.first_broken.map(|broken| broken.to_string())})
                    );
                    Ok(ExitCode::from(1))
                }
                Err(error) => {
                    println!(
                        "{}",
                        serde_json::json!({"intact": false, "error": error.to_string()})
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
