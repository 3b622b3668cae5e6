//! # brainwrite
//!
//! A live brainwriting server (6-3-5, C-Sketch, the brainwriting pool). Participants on phones write ideas silently on sheets;
//! the server owns the clock and passes the sheets on at the end of every round.
//!
//! # Layout
//! Dependencies point down this list, never up (checked by `tests/architecture.rs`);
//! `docs/architecture.md` has the picture and the path of a `write`.
//! - [`room`]: the pure engine (rules, rotation, clock as an argument), no I/O; `room::view`
//!   is what a room looks like from outside, plain data with `Serialize`.
//! - [`protocol`]: the wire: client and server messages (embedding the engine's views),
//!   error codes and the mapping from the engine's refusals, close codes.
//! - [`store`]: the journal every accepted change is written to before it is acknowledged,
//!   and from which rooms are rebuilt on start: a backend trait, SQLite the embedded default,
//!   PostgreSQL for several nodes (leases, room ownership, fencing).
//! - [`room_task`]: one actor per room: `session` holds the connection rules around the
//!   engine (roles, resume, acks, degraded mode, who gets which frame), synchronously; the
//!   loop around it waits for the queue, the timer and the journal, and flushes.
//! - [`outbox`]: a connection's send side, shared by its room actor (which queues its
//!   batches and writes them in its own turn) and its socket task (which writes what the
//!   kernel did not take): the stream, the bounded queue and `outbox::frame`, the frame
//!   writer.
//! - [`hub`]: the registry of rooms (`DashMap`), creation, restore, the reaper, and on
//!   PostgreSQL the cluster loop (takeover of dead nodes' rooms, forgetting lost ones).
//! - [`shards`]: the single-threaded runtimes a room and its sockets run on together;
//!   [`turns`]: each shard's one clock for its rooms' deadlines, waking due rooms in turns
//!   (and rooms a journal commit released at once).
//! - [`ws`]: the WebSocket upgrade and one task per socket (reading, keepalive, limits,
//!   the closing handshake).
//! - [`http`]: REST endpoints, exports and the embedded web client.
//! - [`listen`]: the accept loop serving HTTP/1.1 with upgrades.
//! - Leaves: [`respond`] (JSON errors, the client's address), [`config`] (flags and
//!   environment), [`ids`] (room codes, secret tokens), [`metrics`] (Prometheus), [`export`]
//!   (Markdown, CSV and JSON of a finished session).
//!
//! [`run`] takes its listener and shutdown signal from the caller, so tests bind an
//! ephemeral port and stop the server when they are done.
#![forbid(unsafe_code)]

pub mod config;
pub mod export;
pub mod http;
pub mod hub;
pub mod ids;
pub mod listen;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod respond;
pub mod room;
pub mod room_task;
pub mod shards;
pub mod store;
pub mod turns;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use hub::Hub;

/// How long shutdown waits for sockets to close before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Serve on `listener` until `shutdown` fires, then close every socket with 1012 (service
/// restart) so clients reconnect, and return once they are closed (or after a grace period).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let hub = Hub::start(config, shutdown.clone())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    serve(listener, hub).await
}

/// [`run`] with a hub the caller already holds (tests inspect it).
pub async fn serve(listener: TcpListener, hub: Arc<Hub>) -> std::io::Result<()> {
    let app = http::router(hub.clone());
    // Room tasks read the token as a flag; this wakes them when it fires.
    tokio::spawn({
        let hub = hub.clone();
        async move {
            hub.shutdown.cancelled().await;
            hub.stop_rooms();
        }
    });
    listen::serve_http(
        listener,
        app,
        hub.config.socket_send_buffer as usize,
        hub.shutdown.clone(),
        SHUTDOWN_GRACE,
    )
    .await;
    // Upgraded sockets are not HTTP connections any more: the tracker waits for them.
    hub.tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, hub.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sockets did not close within the grace period");
    }
    hub.close_journal().await;
    let shards = hub.shards.clone();
    let _ = tokio::task::spawn_blocking(move || shards.stop()).await;
    Ok(())
}
