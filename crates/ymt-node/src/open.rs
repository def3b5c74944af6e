//! Opening a node with its built-in domain modules. This is the one place
//! that names every module; the core (`state.rs`) knows them only through
//! the [`NodeModule`] trait.

use std::sync::Arc;

use ymt_store::{EmbeddedStore, EventStore, StoreConfig};

use crate::breaker::BulkOverrideModule;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::principals::PrincipalsModule;
use crate::publication::RulesModule;
use crate::risk::RiskAreasModule;
use crate::snapshot::{SECTION_PROJECTION, SECTION_RETRACTIONS, module_section, section};
use crate::state::{ModuleSnapshot, Node, NodeModule};
use crate::tracing_service::TracingModule;

/// The built-in domain modules, in the order their hooks run: check-ins and
/// tracing first (a risk area's reach is read from the check-in index),
/// then risk areas, rule publications, bulk overrides and principals (which
/// have no hooks but the circuit breaker's).
pub fn builtin_modules() -> Vec<Arc<dyn NodeModule>> {
    vec![
        Arc::new(TracingModule),
        Arc::new(RiskAreasModule::default()),
        Arc::new(crate::risk_lift::RiskAreaLiftModule),
        Arc::new(RulesModule),
        Arc::new(BulkOverrideModule),
        Arc::new(crate::key_revocation::KeyRevocationModule),
        Arc::new(PrincipalsModule),
        Arc::new(crate::hospital::HospitalModule::default()),
        Arc::new(crate::care_homes::CareHomeModule::default()),
    ]
}

/// The node's bound on one stored metadata value (see
/// `tracing_plan::DESIGNATIONS_PER_CASE_MAX`).
pub const META_VALUE_BYTES_MAX: usize = 32 * 1024 * 1024;

impl Node {
    /// Opens a node over `store` with the given domain modules, in the
    /// order their hooks run (see [`builtin_modules`]): loads its metadata,
    /// reads the latest snapshot once, lets each module load its section
    /// and the log after it, and rebuilds the projection.
    pub fn open_with_modules(
        config: ServerConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn EventStore>,
        modules: Vec<Arc<dyn NodeModule>>,
    ) -> anyhow::Result<Arc<Node>> {
        let node = Node::assemble(config, clock, store, modules)?;
        let snapshot = node.read_latest_snapshot()?;
        let sections = snapshot
            .as_ref()
            .map(|snapshot| snapshot.sections())
            .unwrap_or_default();
        let upto_seq = snapshot.as_ref().map_or(0, |snapshot| snapshot.upto_seq);
        // Without the retractions section (an older snapshot) the modules
        // cannot be restored consistently: they load from the whole log.
        let modules_from_snapshot = match section(&sections, SECTION_RETRACTIONS) {
            Some(bytes) => node.restore_retractions(bytes),
            None => false,
        };
        for module in node.modules() {
            let module_snapshot = modules_from_snapshot
                .then(|| section(&sections, &module_section(module.name())))
                .flatten()
                .map(|bytes| ModuleSnapshot { upto_seq, bytes });
            module
                .load(&node, module_snapshot)
                .map_err(|error| error.context(format!("loading module {}", module.name())))?;
        }
        let projection = section(&sections, SECTION_PROJECTION).map(|bytes| (upto_seq, bytes));
        let node = Arc::new(node);
        node.rebuild_projection(projection)?;
        Ok(node)
    }

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
        crate::config::create_private_dir(&config.data_dir)?;
        let store_config = StoreConfig {
            batch_events_max: config.batch_events_max.max(1),
            // Every ingested event carries one audit record in the same commit.
            audit_entries_max: config.batch_events_max.max(1),
            // A traced-from record lists up to twice
            // `DESIGNATIONS_PER_CASE_MAX` designations of about 200 bytes.
            meta_value_bytes_max: META_VALUE_BYTES_MAX,
            sync_commits: config.store_sync_commits,
            ..StoreConfig::default()
        };
        let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(
            config.data_dir.join("store"),
            store_config,
        )?);
        Node::open(config, clock, store)
    }
}
