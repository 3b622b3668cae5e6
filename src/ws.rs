//! WebSocket connections: the upgrade (room lookup, origin check, buffer sizes), then one
//! reader loop that parses frames and forwards them to the room actor, and one writer loop
//! that drains the connection's bounded outbox into the socket, coalescing what is queued
//! into one flush. Also keepalive pings and the first-message timeout.
//!
//! It holds no room state and makes no room decisions: everything but parsing is the actor's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug};

use crate::http::api_error;
use crate::hub::{Hub, RoomHandle};
use crate::ids::RoomCode;
use crate::protocol::{self, ErrorCode, ServerMsg};
use crate::room_task::{ConnId, Outbox, RoomMsg, close};

/// Time a new socket has to send its first message.
const FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// Keepalive ping interval; a peer silent for two intervals is dropped.
const PING_EVERY: Duration = Duration::from_secs(25);
/// Most queued frames written before one flush.
const COALESCE: usize = 64;

/// Close code for an ordinary end of the conversation.
const NORMAL: u16 = 1000;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// `GET /ws/{code}`: 404 for an unknown room before the upgrade, 403 for a foreign origin.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Path(code): Path<String>,
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
    if let Err(why) = check_origin(&headers, &hub.config.allowed_origins) {
        return api_error(StatusCode::FORBIDDEN, "forbidden_origin", &why);
    }
    let max = hub.config.max_message as usize;
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("conn", id = conn, room = %code);
    let tracker = hub.tracker.clone();
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            let fut = serve(socket, hub, room, conn).instrument(span);
            async move {
                // Tracked so shutdown waits for the close frame to go out.
                let _ = tracker.spawn(fut).await;
            }
        })
}

/// Same origin (Origin's host equals Host), a listed origin, or no Origin at all (a
/// non-browser client) may connect.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "unreadable Origin header".to_owned())?;
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
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
    let last_seen = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let writer = write_loop(sink, rx, kill.clone(), close_code, last_seen.clone(), start);
    let reader = read_loop(stream, &room, conn, &outbox, kill.clone(), last_seen, start);
    // The reader ends on close, error or kill; the writer then sends the close frame.
    let ((), ()) = tokio::join!(
        async {
            reader.await;
            if !hub.shutdown.is_cancelled() {
                outbox.close(NORMAL);
            }
        },
        writer
    );
    let _ = room.tx.send(RoomMsg::Closed { conn }).await;
    debug!("disconnected");
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    room: &RoomHandle,
    conn: ConnId,
    outbox: &Outbox,
    kill: CancellationToken,
    last_seen: Arc<AtomicU64>,
    start: tokio::time::Instant,
) {
    let mut first = true;
    loop {
        // Only the first message has a time limit; keepalive covers the rest.
        let limit = if first { FIRST_MESSAGE } else { Duration::MAX };
        let next = tokio::select! {
            _ = kill.cancelled() => return,
            n = timeout_or_forever(limit, stream.next()) => match n {
                Some(n) => n,
                None => { outbox.close(close::IDLE); return; }
            },
        };
        last_seen.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        let msg = match next {
            None | Some(Err(_)) => return,
            Some(Ok(m)) => m,
        };
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

async fn timeout_or_forever<F: std::future::Future>(limit: Duration, f: F) -> Option<F::Output> {
    if limit == Duration::MAX {
        Some(f.await)
    } else {
        tokio::time::timeout(limit, f).await.ok()
    }
}

fn reject(outbox: &Outbox, why: &str) {
    let msg = ServerMsg::Error {
        code: ErrorCode::BadMessage,
        message: why.to_owned(),
        seq: None,
    };
    let _ = outbox.send(Utf8Bytes::from(msg.to_json()));
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    kill: CancellationToken,
    close_code: Arc<std::sync::atomic::AtomicU16>,
    last_seen: Arc<AtomicU64>,
    start: tokio::time::Instant,
) {
    let mut ping = tokio::time::interval_at(start + PING_EVERY, PING_EVERY);
    let mut batch = Vec::with_capacity(COALESCE);
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
                if !ok { return; }
            }
            _ = ping.tick() => {
                let silent = start.elapsed().as_millis() as u64
                    - last_seen.load(Ordering::Relaxed).min(start.elapsed().as_millis() as u64);
                if silent > 2 * PING_EVERY.as_millis() as u64 {
                    let _ = close_code.compare_exchange(0, close::DEAD, Ordering::Relaxed, Ordering::Relaxed);
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() { return; }
            }
        }
    }
    let code = match close_code.load(Ordering::Relaxed) {
        0 => close::RESTART,
        c => c,
    };
    let reason = match code {
        close::SLOW => "client fell behind; reconnect to resume",
        close::IDLE => "no message within 10 s",
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
