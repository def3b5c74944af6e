//! `yimatong`: the one binary. Each area of the command line lives in its own
//! module; this file only parses the arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The node allocates heavily (events parsed, rule values built per
// decision): mimalloc took 19 % off the simulator's CPU time against
// glibc's allocator (docs/simulation.md, Cost).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd_backup;
mod cmd_bench;
mod cmd_bench_cluster;
mod cmd_certlogic;
mod cmd_cluster;
mod cmd_import;
mod cmd_restart;
mod cmd_rules;
mod cmd_server;
mod cmd_simulate;
mod cmd_simulate_policy;
mod cmd_storm;
mod cmd_surge;
mod cmd_token;
mod cmd_trace;
mod logging;
mod node_start;
mod progress;

#[derive(Parser)]
#[command(
    name = "yimatong",
    version,
    about = "一码通: one national health code platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate, validate and test CertLogic expressions.
    Certlogic {
        #[command(subcommand)]
        command: cmd_certlogic::CertlogicCommand,
    },
    /// Check rule sets and explain decisions.
    Rules {
        #[command(subcommand)]
        command: cmd_rules::RulesCommand,
    },
    /// Manage the signing keys of health codes.
    Keys {
        #[command(subcommand)]
        command: cmd_token::KeysCommand,
    },
    /// Verify a health code (YMT1:) or an EU DCC (HC1:).
    Verify(cmd_token::VerifyArgs),
    /// EU Digital COVID Certificates: verify one, or run the dgc-testdata suite.
    Dcc {
        #[command(subcommand)]
        command: cmd_token::DccCommand,
    },
    /// Trace close contacts from venue check-ins.
    Trace(cmd_trace::TraceArgs),
    /// Generate a synthetic city's events, persons and venues as JSON lines;
    /// `simulate policy` compares policies on an epidemic with the node in the loop.
    Simulate(cmd_simulate::SimulateArgs),
    /// Run a node: the API, live statuses and timed transitions.
    Serve(cmd_server::ServeArgs),
    /// Import events (JSON lines) or check-ins (CSV) into a data directory.
    Import(cmd_import::ImportArgs),
    /// Administration: principals and their API keys.
    Admin {
        #[command(subcommand)]
        command: cmd_server::AdminCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: cmd_server::AuditCommand,
    },
    /// Take an online, verified backup of a node's data directory.
    Backup(cmd_backup::BackupArgs),
    /// Restore a backup into a new data directory.
    Restore(cmd_backup::RestoreArgs),
    /// A local cluster: NATS servers and nodes on loopback.
    Cluster {
        #[command(subcommand)]
        command: cmd_cluster::ClusterCommand,
    },
    /// Benchmarks that print JSON figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Durable events/s through the batch API of an in-process node.
    Ingest(cmd_bench::BenchIngestArgs),
    /// Status lookups/s over HTTP on loopback.
    Status(cmd_bench::BenchStatusArgs),
    /// Signed codes served per second over HTTP, with caching.
    Codes(cmd_bench::BenchCodesArgs),
    /// Restart time with and without a projection snapshot.
    Restart(cmd_restart::BenchRestartArgs),
    /// Sign and verify health codes.
    Token(cmd_token::BenchTokenArgs),
    /// Load, index and trace a check-in workload.
    Trace(cmd_trace::BenchTraceArgs),
    /// Statuses updated after one risk-area designation exposing N persons.
    Storm(cmd_storm::BenchStormArgs),
    /// Capacity, then an open-loop surge at 10x it, then recovery.
    Surge(cmd_surge::BenchSurgeArgs),
    /// Three nodes on NATS JetStream: durable events/s, propagation, failover.
    Cluster(cmd_bench_cluster::BenchClusterArgs),
}

fn main() -> ExitCode {
    // Behave like other command-line tools when output is piped into `head`:
    // end quietly on a closed pipe instead of panicking on the next print.
    #[cfg(unix)]
    // Files the node creates (store, snapshots, keys) are its owner's only:
    // an owner-only umask covers those made by the storage engine too.
    // SAFETY: restoring the default disposition of SIGPIPE and setting the
    // umask at start-up, before any thread exists, have no memory-safety
    // preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    logging::init();
    let outcome = match cli.command {
        Command::Certlogic { command } => cmd_certlogic::run(command),
        Command::Rules { command } => cmd_rules::run(command),
        Command::Keys { command } => cmd_token::run_keys(command),
        Command::Verify(args) => cmd_token::run_verify(args),
        Command::Dcc { command } => cmd_token::run_dcc(command),
        Command::Trace(args) => cmd_trace::run_trace(args),
        Command::Simulate(args) => cmd_simulate::run(args),
        Command::Serve(args) => cmd_server::run_serve(args),
        Command::Import(args) => cmd_import::run_import(args),
        Command::Admin { command } => cmd_server::run_admin(command),
        Command::Audit { command } => cmd_server::run_audit(command),
        Command::Backup(args) => cmd_backup::run_backup(args),
        Command::Restore(args) => cmd_backup::run_restore(args),
        Command::Cluster { command } => cmd_cluster::run(command),
        Command::Bench { command } => match command {
            BenchCommand::Ingest(args) => cmd_bench::run_ingest(args),
            BenchCommand::Status(args) => cmd_bench::run_status(args),
            BenchCommand::Restart(args) => cmd_restart::run_restart(args),
            BenchCommand::Codes(args) => cmd_bench::run_codes(args),
            BenchCommand::Token(args) => cmd_token::run_bench(args),
            BenchCommand::Trace(args) => cmd_trace::run_bench(args),
            BenchCommand::Storm(args) => cmd_storm::run_storm(args),
            BenchCommand::Surge(args) => cmd_surge::run_surge(args),
            BenchCommand::Cluster(args) => cmd_bench_cluster::run(args),
        },
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
