//! Logs: `tracing` events to stderr, one JSON object per line when stderr is
//! not a terminal (a service manager, a container runtime, a pipe into a
//! collector), human-readable lines when a person is watching. The level is
//! taken from `RUST_LOG`, e.g. `RUST_LOG=info,ymt_http::request=debug` to
//! see every request, not only client errors and failures; when it is unset
//! or unreadable, `info`, with the storage engine (which logs through `log`,
//! forwarded here) at `warn`, as its `info` lines are about its own
//! housekeeping.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const DEFAULT_DIRECTIVES: &str = "info,fjall=warn,lsm_tree=warn";

/// Installs the process's subscriber; does nothing if one is already set.
pub fn init() {
    let (filter, unreadable) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(error) => {
            let unreadable = std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| error);
            (EnvFilter::new(DEFAULT_DIRECTIVES), unreadable)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    };
    if installed.is_ok()
        && let Some(error) = unreadable
    {
        tracing::warn!("RUST_LOG is not understood ({error}); logging at {DEFAULT_DIRECTIVES}");
    }
}
