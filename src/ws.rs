//! WebSocket connections: the upgrade (room lookup, origin check, buffer sizes), then one
//! reader loop that parses frames and forwards them to the room actor, and one writer loop
//! that drains the connection's bounded outbox into the socket, coalescing what is queued
//! into one flush. Also keepalive pings and the first-message timeout.
//!
//! It holds no room state and makes no room decisions: everything but parsing is the actor's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug};

use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

use crate::http::api_error;
use crate::hub::{Hub, RoomHandle};
use crate::ids::RoomCode;
use crate::metrics::METRICS;
use crate::protocol::{self, ErrorCode, ServerMsg};
use crate::room_task::{ConnId, Outbox, RoomMsg, close};

/// Most queued frames written before one flush.
const COALESCE: usize = 64;

/// Close code for an ordinary end of the conversation.
const NORMAL: u16 = 1000;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// `GET /ws/{code}`: 404 for an unknown room before the upgrade, 403 for a foreign origin.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Path(code): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some((code, room)) = RoomCode::parse(&code).and_then(|c| hub.get(&c).map(|r| (c, r)))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "room_not_found",
            "no room with that code",
        );
    };
    if let Err(why) = check_origin(&headers, &hub.config) {
        return api_error(StatusCode::FORBIDDEN, "forbidden_origin", &why);
    }
    let slot = match hub.connect_slot(crate::http::client_ip(&hub, &headers, peer)) {
        Ok(s) => s,
        Err(e) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                &e.to_string(),
            );
        }
    };
    let max = hub.config.max_message as usize;
    let max_write = hub.config.max_write_buffer as usize;
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("conn", id = conn, room = %code);
    let tracker = hub.tracker.clone();
    // Memory per socket (docs/performance.md): tungstenite zero-fills its whole read buffer,
    // and client messages are a few hundred bytes, so 512 B; a larger message still reserves
    // what it needs. Writes are buffered up to 16 KiB so a batch (room, me, sheet) leaves in
    // one send(): −20 % round-boundary p99 at full size.
    ws.read_buffer_size(512)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(max_write)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            // The upgrade's own task runs the connection (no second task); tracked so
            // shutdown waits for the close frame to go out.
            tracker.track_future(
                async move {
                    serve(socket, hub, room, conn).await;
                    drop(slot);
                }
                .instrument(span),
            )
        })
}

/// Same origin (Origin's host equals Host), the `--public-url` origin, a listed origin, or no
/// Origin at all (a non-browser client) may connect.
fn check_origin(headers: &HeaderMap, config: &crate::Config) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "unreadable Origin header".to_owned())?;
    let mut listed = config
        .allowed_origins
        .iter()
        .map(String::as_str)
        .chain(config.public_origin());
    if listed.any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(format!(
            "origin {origin} may not open a socket here; add it with --allowed-origin"
        ))
    }
}

async fn serve(socket: WebSocket, hub: Arc<Hub>, room: RoomHandle, conn: ConnId) {
    let kill = hub.shutdown.child_token();
    let (outbox, rx, close_code) = Outbox::new(hub.config.outbox as usize, kill.clone());
    if room
        .tx
        .send(RoomMsg::Open {
            conn,
            outbox: outbox.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    debug!("connected");
    let (sink, stream) = socket.split();
    let link = Link {
        conn,
        outbox,
        kill,
        close_code,
        last_seen: AtomicU64::new(0),
        start: tokio::time::Instant::now(),
    };
    // The reader ends on close, error or kill; the writer then sends the close frame.
    let ((), ()) = tokio::join!(
        async {
            read_loop(stream, &room, &link, &hub.config).await;
            if !hub.shutdown.is_cancelled() {
                link.outbox.close(NORMAL);
            }
        },
        write_loop(sink, rx, &link, hub.config.ping_interval)
    );
    let _ = room.tx.send(RoomMsg::Closed { conn }).await;
    debug!("disconnected");
}

/// What the reader and the writer of one connection share.
struct Link {
    conn: ConnId,
    outbox: Outbox,
    kill: CancellationToken,
    close_code: Arc<AtomicU16>,
    /// Milliseconds after `start` at which the peer last sent anything.
    last_seen: AtomicU64,
    start: tokio::time::Instant,
}

impl Link {
    fn millis(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    room: &RoomHandle,
    link: &Link,
    config: &crate::Config,
) {
    let Link {
        conn,
        outbox,
        kill,
        start,
        ..
    } = link;
    let (conn, start) = (*conn, *start);
    let rate = (config.messages_per_second, config.message_burst);
    let handshake = config.handshake_timeout;
    let mut first = true;
    let quota = Quota::per_second(NonZeroU32::new(rate.0).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(rate.1).unwrap_or(NonZeroU32::MIN));
    let limiter = RateLimiter::direct(quota);
    let mut dropped = 0u32;
    let mut last_warned: Option<tokio::time::Instant> = None;
    loop {
        // Only the first message has a time limit, counted from the upgrade (pongs do not
        // extend it); keepalive covers the rest.
        let next = tokio::select! {
            _ = kill.cancelled() => return,
            n = stream.next() => n,
            _ = tokio::time::sleep_until(start + handshake), if first => {
                outbox.close(close::IDLE);
                return;
            }
        };
        link.last_seen.store(link.millis(), Ordering::Relaxed);
        let msg = match next {
            None => return,
            Some(Err(e)) => {
                let too_big = e
                    .into_inner()
                    .downcast::<tungstenite::Error>()
                    .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)));
                if too_big {
                    METRICS.messages_in.inc();
                    crate::metrics::rejected("too_big");
                    outbox.close(close::TOO_BIG);
                }
                return;
            }
            Some(Ok(m)) => m,
        };
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            METRICS.messages_in.inc();
            if limiter.check().is_err() {
                dropped += 1;
                crate::metrics::rejected(ErrorCode::RateLimited.as_str());
                if dropped > rate.1.saturating_mul(4).max(100) {
                    outbox.close(close::RATE);
                    return;
                }
                // One warning a second at most: the warnings must not flood the outbox.
                let now = tokio::time::Instant::now();
                if last_warned.is_none_or(|t| now - t >= Duration::from_secs(1)) {
                    last_warned = Some(now);
                    send_error(
                        outbox,
                        ErrorCode::RateLimited,
                        &format!(
                            "more than {} messages a second; this one was dropped, send it again later",
                            rate.0
                        ),
                    );
                }
                continue;
            }
            dropped = 0;
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Binary(_) => {
                reject(
                    outbox,
                    "binary frames are not part of the protocol; send JSON text",
                );
                continue;
            }
        };
        match protocol::parse_client(text.as_str()) {
            Ok(msg) => {
                first = false;
                if room.tx.send(RoomMsg::Client { conn, msg }).await.is_err() {
                    outbox.close(close::ROOM_GONE);
                    return;
                }
            }
            Err(why) => reject(outbox, &why),
        }
    }
}

fn reject(outbox: &Outbox, why: &str) {
    crate::metrics::rejected(ErrorCode::BadMessage.as_str());
    send_error(outbox, ErrorCode::BadMessage, why);
}

fn send_error(outbox: &Outbox, code: ErrorCode, why: &str) {
    let msg = ServerMsg::Error {
        code,
        message: why.to_owned(),
        seq: None,
    };
    let _ = outbox.send(Utf8Bytes::from(msg.to_json()));
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    link: &Link,
    ping_every: Duration,
) {
    let Link {
        kill,
        close_code,
        start,
        ..
    } = link;
    let start = *start;
    let mut ping = tokio::time::interval_at(start + ping_every, ping_every);
    // Allocated on first use: most sockets sit idle most of the time.
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = kill.cancelled() => break,
            n = rx.recv_many(&mut batch, COALESCE) => {
                if n == 0 { break; }
                let sent = async {
                    for f in batch.drain(..) {
                        sink.feed(Message::Text(f)).await?;
                    }
                    sink.flush().await
                };
                let ok = tokio::select! {
                    _ = kill.cancelled() => break,
                    r = sent => r.is_ok(),
                };
                if !ok { break; }
            }
            _ = ping.tick() => {
                let now = link.millis();
                let silent = now - link.last_seen.load(Ordering::Relaxed).min(now);
                if silent > 2 * ping_every.as_millis() as u64 {
                    let _ = close_code.compare_exchange(0, close::DEAD, Ordering::Relaxed, Ordering::Relaxed);
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
    // Whatever ended the writer ends the connection: the reader must not wait on a peer
    // that will never speak again.
    kill.cancel();
    let code = match close_code.load(Ordering::Relaxed) {
        0 => close::RESTART,
        c => c,
    };
    // What was queued before the close (an error saying why, a last state) still goes out,
    // unless the peer is the reason: a slow or dead peer would only hold us up.
    if code != close::SLOW && code != close::DEAD {
        let drain = async {
            while let Ok(f) = rx.try_recv() {
                sink.feed(Message::Text(f)).await?;
            }
            sink.flush().await
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }
    let reason = match code {
        close::SLOW => "client fell behind; reconnect to resume",
        close::IDLE => "no first message in time",
        close::DEAD => "no answer to pings",
        close::ROOM_GONE => "room closed",
        close::RATE => "too many messages",
        NORMAL => "bye",
        _ => "server restarting; reconnect to resume",
    };
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    // A peer that is not reading may never take the close frame: do not wait on it long.
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(frame)).await;
}
