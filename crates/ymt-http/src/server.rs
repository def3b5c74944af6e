//! Connections: how the node accepts them, bounds them and ends them.
//!
//! `axum::serve` has no timeouts and no connection limits, so the node runs
//! its own accept loop over hyper's HTTP/1 connections:
//! - at most `connections_max` connections, and `connections_per_client_max`
//!   from one client address (an IPv6 client by its /64): past either, a new
//!   connection is closed as it is accepted, so one client cannot take every
//!   connection;
//! - a watchdog per connection closes it when a request head takes longer
//!   than `header_read_timeout_ms` from its first byte, or when it has been
//!   idle (no request in flight, nothing read) for `idle_timeout_ms`;
//! - the body is read, within `body_read_timeout_ms`, before the request
//!   takes a concurrency slot (routes.rs), so slow senders hold sockets, not
//!   slots.
//!
//! The peer address is added to each request as axum's `ConnectInfo`, for the
//! per-address limits of citizen sign-in.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits of connections, from the node's configuration.
#[derive(Clone, Copy, Debug)]
struct ConnectionLimits {
    connections_max: usize,
    connections_per_client_max: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl ConnectionLimits {
    fn of(config: &ymt_node::ServerConfig) -> ConnectionLimits {
        ConnectionLimits {
            connections_max: config.connections_max.max(1),
            connections_per_client_max: config.connections_per_client_max.max(1),
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms.max(1)),
        }
    }
}

/// The address a client is counted under: an IPv4 address, or the /64 of an
/// IPv6 one (one subscriber usually holds a whole /64).
pub(crate) fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

/// Open connections, in total and per client; the map holds at most
/// `connections_max` keys, since a key lives only while it has a connection.
#[derive(Default)]
struct OpenConnections {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// A connection's place in [`OpenConnections`], given back on drop.
struct Admitted {
    open: Arc<Mutex<OpenConnections>>,
    client: IpAddr,
}

fn admit(
    open: &Arc<Mutex<OpenConnections>>,
    peer: IpAddr,
    limits: ConnectionLimits,
) -> Option<Admitted> {
    let client = client_key(peer);
    let mut guard = open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let of_client = guard.per_client.get(&client).copied().unwrap_or(0);
    if guard.total >= limits.connections_max || of_client >= limits.connections_per_client_max {
        return None;
    }
    guard.total += 1;
    guard.per_client.insert(client, of_client + 1);
    Some(Admitted {
        open: open.clone(),
        client,
    })
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut guard = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.total = guard.total.saturating_sub(1);
        if let Some(count) = guard.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                guard.per_client.remove(&self.client);
            }
        }
    }
}

/// What a connection is doing, for its watchdog.
struct ActivityState {
    requests_in_flight: usize,
    /// When the first byte of the next request head arrived, while no
    /// request is in flight.
    head_started_at: Option<Instant>,
    /// When the connection last became idle (opened, or a response ready).
    idle_since: Instant,
}

#[derive(Clone)]
struct Activity(Arc<Mutex<ActivityState>>);

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(Mutex::new(ActivityState {
            requests_in_flight: 0,
            head_started_at: None,
            idle_since: Instant::now(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bytes_read(&self) {
        let mut state = self.state();
        if state.requests_in_flight == 0 && state.head_started_at.is_none() {
            state.head_started_at = Some(Instant::now());
        }
    }

    fn request_started(&self) {
        let mut state = self.state();
        state.requests_in_flight += 1;
        state.head_started_at = None;
    }

    fn request_answered(&self) {
        let mut state = self.state();
        state.requests_in_flight = state.requests_in_flight.saturating_sub(1);
        state.idle_since = Instant::now();
    }

    /// When the connection is to be closed unless something happens first;
    /// None while a request is in flight (its body has its own deadline,
    /// and a handler's work is bounded by the node's own limits).
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        let state = self.state();
        if state.requests_in_flight > 0 {
            None
        } else if let Some(started) = state.head_started_at {
            Some(started + limits.header_read_timeout)
        } else {
            Some(state.idle_since + limits.idle_timeout)
        }
    }
}

/// The socket, noting each read for the watchdog.
struct Watched {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the open
/// connections finish their requests and waits for them.
pub(crate) async fn serve_router(
    listener: TcpListener,
    app: Router,
    config: &ymt_node::ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = ConnectionLimits::of(config);
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    // Every connection task holds a receiver; `closed()` on the sender
    // resolves once they have all ended.
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or a connection reset before it was
                // accepted: keep serving the ones that are open, and do not
                // spin on an error that persists.
                tracing::warn!("accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = admit(&open, peer.ip(), limits) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits,
            admitted,
            closing_seen.clone(),
        ));
    }
    drop(listener);
    drop(closing_seen);
    let _ = closing.send(true);
    closing.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    admitted: Admitted,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            activity.request_started();
            let app = app.clone();
            let activity = activity.clone();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                activity.request_answered();
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below times heads out; hyper's own timer would also run
    // while the connection is idle.
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        // A head may start while the watchdog sleeps towards the idle
        // deadline: waking at least once per header timeout closes a slow
        // head within twice that, without a wake-up per read.
        let next_look = Instant::now() + limits.header_read_timeout;
        let deadline = activity
            .deadline(limits)
            .map_or(next_look, |deadline| deadline.min(next_look));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("connection from a client ended: {error}");
                }
                break;
            }
            changed = closing.changed(), if !shutting_down => {
                let _ = changed;
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline) => {
                if activity.deadline(limits).is_some_and(|deadline| deadline <= Instant::now()) {
                    // Dropping the connection closes the socket.
                    break;
                }
            }
        }
    }
    drop(admitted);
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn clients_are_counted_by_address_and_ipv6_by_its_64() {
        for (peer, expect) in [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
        ] {
            let peer: std::net::IpAddr = peer.parse().expect("an address");
            assert_eq!(client_key(peer).to_string(), expect, "{peer}");
        }
    }
}
