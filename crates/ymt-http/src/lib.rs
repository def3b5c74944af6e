//! The HTTP adapter of the yimatong node: one route table, the extractors
//! (authentication and one JSON body parser), one handler module per
//! resource, the pages with their assets, and the mapping of the node's
//! domain errors to problem+json. Handlers parse, authorize and call the
//! node; the node does the work.

pub mod anti_entropy;
pub mod bootstrap;
pub mod dashboard;
pub mod extract;
mod handlers;
pub mod observability;
pub mod oidc;
pub mod openapi;
mod page_labels;
pub mod pages;
mod peer_origins;
pub mod policy;
pub mod print_page;
pub mod problem;
pub mod routes;
mod schemas;
mod server;
pub mod venue_map;

pub use extract::SharedState;
pub use openapi::openapi_json;
pub use routes::{route_table, router};

/// Serves the node's API and pages on `listener` until `shutdown` resolves,
/// with the connection limits and timeouts of the node's configuration
/// (server.rs).
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: SharedState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = node.config.clone();
    server::serve_router(listener, router(node), &config, shutdown).await
}
