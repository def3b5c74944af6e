//! A JetStream cluster of `nats-server` processes on loopback, each with
//! private ports and its own store directory: for the cluster tests and
//! `yimatong cluster up`. Readiness is observed (the client port accepts,
//! then the JetStream API answers), never assumed after a pause.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// The environment variable naming the `nats-server` binary; without it the
/// binary is looked up on `PATH`.
pub const NATS_SERVER_ENV: &str = "YMT_NATS_SERVER";

/// How long a started server may take to be ready before giving up: only a
/// server that never comes up reaches it.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The `nats-server` binary to run: `$YMT_NATS_SERVER`, else `nats-server`
/// on `PATH`; `None` when neither exists (tests then skip, saying so).
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(NATS_SERVER_ENV) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join("nats-server"))
            .find(|candidate| candidate.is_file())
    })
}

/// A free loopback port (bound, then released: the server binds it next).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The configuration of one server of the cluster. `sync_interval: always`:
/// every write is fsynced before it is acknowledged (Jepsen's analysis of
/// NATS 2.12.1 found the default, an fsync about every two minutes, loses
/// acknowledged writes under coordinated crashes).
pub fn server_config(
    name: &str,
    client_port: u16,
    cluster_port: u16,
    route_ports: &[u16],
    store_dir: &Path,
) -> String {
    let routes: Vec<String> = route_ports
        .iter()
        .map(|port| format!("nats-route://127.0.0.1:{port}"))
        .collect();
    format!(
        "server_name: {name}\n\
         listen: 127.0.0.1:{client_port}\n\
         jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: always\n}}\n\
         cluster {{\n  name: ymt\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{routes}]\n}}\n",
        store = store_dir.display(),
        routes = routes.join(", "),
    )
}

/// One server of a local cluster.
pub struct NatsServer {
    pub name: String,
    pub client_port: u16,
    pub config_path: PathBuf,
    pub store_dir: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// Starts the server's process (again, after a kill).
    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::File::create(self.store_dir.with_extension("log"))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has exited (a port taken between `free_port` and
    /// the server's bind ends it at once: "address already in use").
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// Waits until the client port accepts connections; fails at once when
    /// the process has exited instead.
    pub async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.client_port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            let log = self.store_dir.with_extension("log");
            anyhow::ensure!(
                !self.has_exited(),
                "{} exited before it listened on {} (log: {}): {}",
                self.name,
                self.client_port,
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default().trim()
            );
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not listen on {} (log: {})",
                self.name,
                self.client_port,
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A local JetStream cluster of `servers.len()` servers under one directory.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Writes the configurations under `directory` and starts every server;
    /// returns once each listens and the cluster's JetStream answers.
    ///
    /// Ports are found free, released, then bound by the servers, so another
    /// process (a test running beside, an outgoing connection) may take one
    /// in between; a server that then exits is not a broken cluster, so the
    /// whole start is tried again on fresh ports, a bounded number of times
    /// (the store directories are kept: servers are known by name, not
    /// port, so a store written before is still theirs).
    pub async fn start(
        binary: &Path,
        directory: &Path,
        size: usize,
    ) -> anyhow::Result<NatsCluster> {
        const START_ATTEMPTS: usize = 4;
        let mut attempt = 1;
        loop {
            let mut cluster = NatsCluster::launch(binary, directory, size)?;
            match cluster.wait_ready().await {
                Ok(()) => return Ok(cluster),
                Err(error) if attempt < START_ATTEMPTS && cluster.any_exited() => {
                    tracing::warn!(
                        attempt,
                        "a NATS server exited while starting, again on fresh ports: {error:#}"
                    );
                    drop(cluster);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn any_exited(&mut self) -> bool {
        self.servers.iter_mut().any(NatsServer::has_exited)
    }

    /// One attempt of [`NatsCluster::start`]: fresh ports, configurations,
    /// processes started (not yet waited for).
    fn launch(binary: &Path, directory: &Path, size: usize) -> anyhow::Result<NatsCluster> {
        std::fs::create_dir_all(directory)?;
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect::<Result<_, _>>()?;
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect::<Result<_, _>>()?;
        let mut servers = Vec::with_capacity(size);
        for index in 0..size {
            let name = format!("nats-{}", index + 1);
            let store_dir = directory.join(&name);
            std::fs::create_dir_all(&store_dir)?;
            let routes: Vec<u16> = cluster_ports
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .map(|(_, port)| *port)
                .collect();
            let config_path = directory.join(format!("{name}.conf"));
            std::fs::write(
                &config_path,
                server_config(
                    &name,
                    client_ports[index],
                    cluster_ports[index],
                    &routes,
                    &store_dir,
                ),
            )?;
            servers.push(NatsServer {
                name,
                client_port: client_ports[index],
                config_path,
                store_dir,
                binary: binary.to_owned(),
                child: None,
            });
        }
        let mut cluster = NatsCluster { servers };
        for server in &mut cluster.servers {
            server.start()?;
        }
        Ok(cluster)
    }

    /// The client URLs of every server, comma-separated.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running server listens and JetStream answers an
    /// account query through each (a meta leader is elected).
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for server in self
            .servers
            .iter_mut()
            .filter(|server| server.child.is_some())
        {
            server.wait_listening().await?;
            let client = async_nats::connect(server.url()).await?;
            let context = async_nats::jetstream::new(client);
            let deadline = tokio::time::Instant::now() + READY_WITHIN;
            while let Err(error) = context.query_account().await {
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "{}'s JetStream did not answer: {error}",
                    server.name
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}
