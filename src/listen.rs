//! The accept loop: takes TCP connections off the listener (with `TCP_NODELAY` and the
//! configured send buffer), serves HTTP/1.1 on each with upgrades allowed, hands every
//! request the peer's address as axum's `ConnectInfo`, and on shutdown stops accepting and
//! lets open requests finish.
//!
//! It is hyper's HTTP/1 connection directly rather than `axum::serve` so that an upgraded
//! socket is a plain `TokioIo<TcpStream>` that [`crate::ws`] can move to its room's shard
//! (axum's server wraps every stream in a private type that cannot be taken apart).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve `app` on `listener` until `shutdown` fires; then stop accepting, ask every open
/// HTTP connection to finish its request and close, and return when they have (or after
/// `grace`). Upgraded sockets are not HTTP connections any more and are not waited for here.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    send_buffer: usize,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or memory: the condition passes as sockets close.
                    warn!(error = %e, "accept failed; pausing accepts for 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        configure(&tcp, send_buffer);
        connections.spawn(serve_connection(tcp, peer, app.clone(), shutdown.clone()));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        warn!("some HTTP requests did not finish within the grace period");
    }
}

/// Small frames must leave at once (Nagle's algorithm would hold them back); the send buffer
/// bounds the kernel memory of a client that stops reading.
fn configure(tcp: &TcpStream, send_buffer: usize) {
    let _ = tcp.set_nodelay(true);
    if send_buffer > 0 {
        let _ = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer);
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) {
    let service = app.map_request(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}
