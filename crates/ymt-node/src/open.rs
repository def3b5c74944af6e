//! Opening a node with its built-in domain modules. This is the one place
//! that names every module; the core (`state.rs`) knows them only through
//! the [`NodeModule`] trait.

use std::sync::Arc;

use ymt_store::{EmbeddedStore, EventStore, StoreConfig};

use crate::breaker::BulkOverrideModule;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::publication::RulesModule;
use crate::risk::RiskAreasModule;
use crate::state::{Node, NodeModule};
use crate::tracing_service::TracingModule;

/// The built-in domain modules, in the order their hooks run: check-ins and
/// tracing first (a risk area's reach is read from the check-in index),
/// then risk areas, rule publications and bulk overrides (which have no
/// hooks but the circuit breaker's).
pub fn builtin_modules() -> Vec<Arc<dyn NodeModule>> {
    vec![
        Arc::new(TracingModule),
        Arc::new(RiskAreasModule::default()),
        Arc::new(RulesModule),
        Arc::new(BulkOverrideModule),
    ]
}

impl Node {
    /// Opens a node over `store` with every built-in module, keeping its
    /// other files (pseudonymisation secret, signing keys) in
    /// `config.data_dir`, and rebuilds the projection from the latest
    /// snapshot and the log after it.
    pub fn open(
        config: ServerConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn EventStore>,
    ) -> anyhow::Result<Arc<Node>> {
        Node::open_with_modules(config, clock, store, builtin_modules())
    }

    /// [`Node::open`] over the embedded store in `data_dir/store`: the
    /// default of one machine, nothing to install.
    pub fn open_embedded(config: ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store_config = StoreConfig {
            batch_events_max: config.batch_events_max.max(1),
            // Every ingested event carries one audit record in the same commit.
            audit_entries_max: config.batch_events_max.max(1),
            ..StoreConfig::default()
        };
        let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(
            config.data_dir.join("store"),
            store_config,
        )?);
        Node::open(config, clock, store)
    }
}
