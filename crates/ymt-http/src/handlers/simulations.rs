//! "Simulate before publishing" (issue 14, item 5): the console runs the
//! policy simulator (`ymt-sim`, the real node in the loop) on a proposed
//! rule set or profile beside the national rule set and no codes, on a
//! small synthetic city, and shows the same table and charts as
//! `yimatong simulate policy`.
//!
//! A simulation takes tens of seconds of one core, so it is a job: `POST`
//! starts it (202) and `GET /v1/simulations/{id}` tells its progress, then
//! its result. Limits: one running at a time per process (429 otherwise),
//! a city of at most 2,000 persons for at most 30 days and 3 seeds, the
//! last 8 jobs kept in memory (not durable: a restart forgets them). A job
//! is visible to the principal who started it alone. Larger cities run on
//! the command line, where they do not share the node's cores.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;
use ymt_sim::policy::{
    ChartLanguage, Policy, comparison_charts, comparison_table, goal_check, run_comparison_on,
};

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

/// Jobs kept (running or finished), oldest dropped first.
const JOBS_KEPT: usize = 8;
pub const SIMULATION_PERSONS_MAX: usize = 2_000;
pub const SIMULATION_DAYS_MAX: u32 = 30;
pub const SIMULATION_SEEDS_MAX: u32 = 3;

enum Outcome {
    Running,
    Done {
        table: String,
        goals: String,
        epidemic_svg: String,
        restricted_svg: String,
        seconds: f64,
    },
    Failed(String),
}

struct Job {
    id: String,
    owner: String,
    persons: usize,
    days: u32,
    seeds: u32,
    /// Simulated days done, of `days_total` (policies × seeds × days).
    days_done: Arc<AtomicU64>,
    days_total: u64,
    outcome: Outcome,
}

struct Jobs {
    running: bool,
    jobs: VecDeque<Job>,
}

static JOBS: Mutex<Jobs> = parking_lot::const_mutex(Jobs {
    running: false,
    jobs: VecDeque::new(),
});

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulateQuery {
    /// Persons in the synthetic city (50 to 2,000; 500 when absent).
    persons: Option<usize>,
    /// Days simulated (10 to 30; 14 when absent).
    days: Option<u32>,
    /// Seeds, each a run of every policy (1 to 3; 2 when absent).
    seeds: Option<u32>,
    /// The language of the charts' words (`zh-CN` or `en`; English when
    /// absent).
    lang: Option<ChartLang>,
}

/// The languages of the console.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub(crate) enum ChartLang {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

#[utoipa::path(
    post,
    path = "/v1/rule-sets:simulate",
    tag = "rules",
    summary = "Simulate a proposed rule set or profile before publishing it",
    description = "Starts the policy simulator (docs/simulation.md) on a small synthetic city: the \
                   proposal, the national rule set in force and no codes, each with the real node in \
                   the loop. Answers 202 with the job's id; `GET /v1/simulations/{id}` gives its \
                   progress and then the comparison table and charts. One at a time per node.",
    security(("bearer" = [])),
    params(SimulateQuery),
    request_body = RulesDocumentSchema,
    responses(
        (status = 202, description = "`{\"id\", \"state\": \"running\", \"poll\"}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = SimulationRunning),
    )
)]
pub(crate) async fn simulate(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiQuery(query): ApiQuery<SimulateQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::PreviewRules, None, "").await?;
    let persons = query.persons.unwrap_or(500);
    let days = query.days.unwrap_or(14);
    let seeds = query.seeds.unwrap_or(2);
    let language = match query.lang {
        Some(ChartLang::ZhCn) => ChartLanguage::Chinese,
        Some(ChartLang::En) | None => ChartLanguage::English,
    };
    if !(ymt_sim::PERSONS_MIN..=SIMULATION_PERSONS_MAX).contains(&persons) {
        return Err(ApiError::bad_request(format!(
            "persons: {} to {SIMULATION_PERSONS_MAX}",
            ymt_sim::PERSONS_MIN
        )));
    }
    if !(ymt_sim::DAYS_MIN..=SIMULATION_DAYS_MAX).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days: {} to {SIMULATION_DAYS_MAX}",
            ymt_sim::DAYS_MIN
        )));
    }
    if !(1..=SIMULATION_SEEDS_MAX).contains(&seeds) {
        return Err(ApiError::bad_request(format!(
            "seeds: 1 to {SIMULATION_SEEDS_MAX}"
        )));
    }
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    // The node's own publication checks: what cannot be published cannot
    // be simulated either (422, as for the preview).
    ymt_node::publication::parse_proposal(&state, &bytes)?;
    let mut id_bytes = [0u8; 12];
    getrandom::fill(&mut id_bytes).map_err(|_| ApiError::internal("randomness"))?;
    let id = format!("sim-{}", hex::encode(id_bytes));
    let policies = vec![
        Policy::National,
        Policy::Candidate {
            name: "proposal".into(),
            document: bytes.to_vec(),
        },
    ];
    // The proposal, the national set, and no codes (always run).
    let days_total = 3 * u64::from(seeds) * u64::from(days);
    let days_done = Arc::new(AtomicU64::new(0));
    state.audit_read(&principal, "rules.simulate", &id)?;
    {
        let mut jobs = JOBS.lock();
        if jobs.running {
            return Err(ApiError::too_many_requests(
                "a simulation is running on this node; one at a time",
            ));
        }
        jobs.running = true;
        while jobs.jobs.len() >= JOBS_KEPT {
            jobs.jobs.pop_front();
        }
        jobs.jobs.push_back(Job {
            id: id.clone(),
            owner: principal.id.clone(),
            persons,
            days,
            seeds,
            days_done: days_done.clone(),
            days_total,
            outcome: Outcome::Running,
        });
    }
    let job_id = id.clone();
    let spawned = std::thread::Builder::new()
        .name("ymt-simulate".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let config = ymt_sim::CityConfig {
                persons,
                days,
                venues: ymt_sim::VENUES_MIN,
                ..ymt_sim::CityConfig::default()
            };
            let params = ymt_sim::epidemic::EpidemicParams::default();
            let on_day = |_day: u32| {
                days_done.fetch_add(1, Ordering::Relaxed);
            };
            let outcome = match run_comparison_on(&config, &params, &policies, seeds, 1, &on_day) {
                Ok(all) => {
                    let [(_, epidemic_svg), (_, restricted_svg)] =
                        comparison_charts(&all, language);
                    Outcome::Done {
                        table: comparison_table(&all),
                        goals: goal_check(&all),
                        epidemic_svg,
                        restricted_svg,
                        seconds: started.elapsed().as_secs_f64(),
                    }
                }
                Err(error) => Outcome::Failed(error.to_string()),
            };
            let mut jobs = JOBS.lock();
            jobs.running = false;
            if let Some(job) = jobs.jobs.iter_mut().find(|job| job.id == job_id) {
                job.outcome = outcome;
            }
        });
    if spawned.is_err() {
        let mut jobs = JOBS.lock();
        jobs.running = false;
        jobs.jobs.retain(|job| job.id != id);
        return Err(ApiError::overloaded("no thread for the simulation"));
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(json!({
            "id": id,
            "state": "running",
            "poll": format!("/v1/simulations/{id}"),
        })),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/simulations/{id}",
    tag = "rules",
    summary = "A simulation's progress, then its comparison table and charts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job's id, as `POST /v1/rule-sets:simulate` gave it")),
    responses(
        (status = 200, description = "`{\"id\", \"state\": \"running\"|\"done\"|\"failed\", \"days_done\", \"days_total\", \"persons\", \"days\", \"seeds\"}`; when done also `table`, `goals` (text), `epidemic_svg`, `restricted_svg`, `seconds`; when failed `error`", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn simulation(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::PreviewRules, None, "").await?;
    let body = JOBS
        .lock()
        .jobs
        .iter()
        .find(|job| job.id == id && job.owner == principal.id)
        .map(job_body);
    match body {
        Some(body) => Ok(axum::Json(body).into_response()),
        // Another principal's job is not found (its proposal is theirs),
        // and asking for it is evidence, as a read outside a jurisdiction.
        None => {
            state
                .audit_denied(
                    Some(&principal),
                    "rules.simulate",
                    &id,
                    "no such simulation of this principal's",
                )
                .await;
            Err(ApiError::not_found(format!("no simulation {id} of yours")))
        }
    }
}

fn job_body(job: &Job) -> serde_json::Value {
    let mut body = json!({
        "id": job.id,
        "persons": job.persons,
        "days": job.days,
        "seeds": job.seeds,
        "days_done": job.days_done.load(Ordering::Relaxed).min(job.days_total),
        "days_total": job.days_total,
    });
    match &job.outcome {
        Outcome::Running => body["state"] = json!("running"),
        Outcome::Done {
            table,
            goals,
            epidemic_svg,
            restricted_svg,
            seconds,
        } => {
            body["state"] = json!("done");
            body["table"] = json!(table);
            body["goals"] = json!(goals);
            body["epidemic_svg"] = json!(epidemic_svg);
            body["restricted_svg"] = json!(restricted_svg);
            body["seconds"] = json!((seconds * 10.0).round() / 10.0);
        }
        Outcome::Failed(error) => {
            body["state"] = json!("failed");
            body["error"] = json!(error);
        }
    }
    body
}
