//! How the binary starts a node: `serve` and every benchmark go through
//! here, so they run the node as production does.
//!
//! A node opens through [`Node::open_embedded`] and serves through
//! [`ymt_http::serve`]; besides requests it runs the background tasks that
//! [`Node::spawn_background_tasks`] starts (the scheduler of timed
//! transitions with the retention purge, and the read-audit writer). A clean
//! shutdown stops taking requests, stops those tasks and writes the shutdown
//! snapshot ([`Node::shutdown`]). The in-process tests start nodes the same
//! way (crates/ymt-http/tests/support/mod.rs).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ymt_node::{Clock, Node, ServerConfig};

/// Opens (or creates) the node's data directory. Blocking, and allowed on a
/// multi-threaded runtime's worker.
pub fn open_node(config: ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Node>> {
    let data_dir = config.data_dir.clone();
    tokio::task::block_in_place(|| Node::open_embedded(config, clock)).with_context(|| {
        format!(
            "opening the data directory {} (is a server already running on it?)",
            data_dir.display()
        )
    })
}

/// A node serving requests, with its background tasks running.
pub struct ServingNode {
    pub node: Arc<Node>,
    pub address: SocketAddr,
    stop_serving: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the node's background tasks and serves its API on `listener`.
pub fn serve_node(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<ServingNode> {
    let address = listener.local_addr()?;
    node.spawn_background_tasks();
    let (stop_serving, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ymt_http::serve(listener, node.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(ServingNode {
        node,
        address,
        stop_serving,
        server,
    })
}

/// Binds `listen` and serves the node there ([`serve_node`]).
pub async fn bind_and_serve_node(
    node: Arc<Node>,
    listen: SocketAddr,
) -> anyhow::Result<ServingNode> {
    let listener = bind_listener(listen, node.config.connections_max)
        .with_context(|| format!("binding {listen}"))?;
    serve_node(node, listener)
}

impl ServingNode {
    /// Serves until `shutdown` resolves (or the server fails), then shuts
    /// down cleanly.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let server_ended = tokio::select! {
            _ = shutdown => None,
            ended = &mut self.server => Some(ended),
        };
        if let Some(ended) = server_ended {
            // The server stopped by itself: stop the rest, then say why.
            if let Err(error) = self.node.shutdown().await {
                eprintln!("snapshot failed: {}", error.detail);
            }
            ended
                .context("the HTTP server panicked")?
                .context("serving")?;
            anyhow::bail!("the HTTP server stopped on its own");
        }
        println!("shutting down: writing a snapshot");
        self.shut_down().await
    }

    /// Stops taking requests (letting those in progress finish), stops the
    /// background tasks and writes the shutdown snapshot. A failed snapshot
    /// is reported and is no error: the log holds every acknowledged event,
    /// so the next start only replays more of it.
    pub async fn shut_down(self) -> anyhow::Result<()> {
        let ServingNode {
            node,
            stop_serving,
            server,
            ..
        } = self;
        let _ = stop_serving.send(());
        server.await.context("the HTTP server panicked")??;
        if let Err(error) = node.shutdown().await {
            eprintln!("snapshot failed: {}", error.detail);
        }
        Ok(())
    }
}

/// Binds `listen` with an accept queue as long as the node's connection cap
/// (the kernel clamps it to `net.core.somaxconn`). The default of 1,024
/// overflows in a surge of new connections, and a connection whose SYN the
/// full queue drops is retried by the client only after a second: a surge
/// would then show as one-second stalls rather than fast 503s.
fn bind_listener(
    listen: SocketAddr,
    connections_max: usize,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if listen.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(u32::try_from(connections_max.max(1024)).unwrap_or(u32::MAX))
}
