//! WebSocket connections: the upgrade (RFC 6455 handshake, room lookup, origin check,
//! connection limits), the move of the upgraded TCP stream to its room's shard
//! ([`crate::shards`]), then **one task per socket** on that shard that reads the client's
//! frames through tungstenite's protocol state machine, forwards parsed messages to the room
//! actor, and writes what the actor left in the connection's [`Outbox`] when the kernel did
//! not take it at once (the actor writes its batches itself, in its own turn). It also sends
//! keepalive pings, enforces the first-message timeout and the per-connection rate limit,
//! and runs the closing handshake (which frames still go, which close code, how long to
//! wait).
//!
//! It holds no room state and makes no room decisions: everything but parsing is the actor's.
//!
//! The stream and the frame writer live in the [`Outbox`] (`src/outbox/`), shared with the
//! room actor; this module reads through it and queues its control frames (pings, pongs,
//! close) in it, and decides the closing handshake's policy.
//!
//! The shape is for memory and CPU per socket (docs/performance.md): no write buffer is kept
//! between batches (frames are never copied into one), the outbox allocates only while frames
//! wait, and reading, writing and timers are one state machine polled by one task, with no
//! channel hop, split lock or cancellation future per message.

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::num::NonZeroU32;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tracing::debug;
use tungstenite::error::ProtocolError;
use tungstenite::handshake::server::create_response_with_body;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Message, Utf8Bytes};

use crate::hub::{ConnSlot, Hub, RoomHandle};
use crate::ids::RoomCode;
use crate::metrics::METRICS;
use crate::outbox::Outbox;
use crate::protocol::{self, ClientMsg, ErrorCode, ServerMsg, close};
use crate::respond::api_error;
use crate::room_task::{ConnId, RoomMsg};

/// Most client frames read in one turn before the task yields to others.
const READ_TURN: usize = 32;

/// Most bytes of control frames (pongs, pings) waiting to be written: eight largest pongs.
const MAX_CONTROL: usize = 8 * 127;

/// How long queued frames may take to leave before the close frame (not for a slow peer).
const DRAIN: Duration = Duration::from_millis(500);
/// How long the close frame may take to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// `GET /ws/{code}`: 400 for a request that is not a WebSocket handshake (426 for a missing
/// or other protocol version), 404 for an unknown room, 403 for a foreign origin, 503 when the server
/// or the client's address holds too many sockets. All before the upgrade.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Path(code): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    // tungstenite checks the client's half of the handshake (GET, HTTP/1.1, Connection,
    // Upgrade, version 13, key) and makes the 101 answer with the accept key.
    let switching = match create_response_with_body(&req, Body::empty) {
        Ok(r) => r,
        Err(e) => {
            let version = matches!(
                e,
                tungstenite::Error::Protocol(ProtocolError::MissingSecWebSocketVersionHeader)
            );
            let status = if version {
                StatusCode::UPGRADE_REQUIRED
            } else {
                StatusCode::BAD_REQUEST
            };
            let why = format!("this address speaks WebSocket (version 13) only: {e}");
            let mut r = api_error(status, "bad_handshake", &why);
            if version {
                r.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            return r;
        }
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return api_error(
            StatusCode::UPGRADE_REQUIRED,
            "bad_handshake",
            "this connection cannot be upgraded to a WebSocket",
        );
    };
    let headers = req.headers();
    let Some((code, room)) = RoomCode::parse(&code).and_then(|c| hub.get(&c).map(|r| (c, r)))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "room_not_found",
            "no room with that code",
        );
    };
    if let Err(why) = check_origin(headers, &hub.config) {
        return api_error(StatusCode::FORBIDDEN, "forbidden_origin", &why);
    }
    let slot = match hub.connect_slot(crate::respond::client_ip(
        hub.config.real_ip_header.as_deref(),
        headers,
        peer,
    )) {
        Ok(s) => s,
        Err(e) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                &e.to_string(),
            );
        }
    };
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    // On the room's shard, where the room's actor runs, so their wake-ups stay on one thread
    // ([`crate::shards`]). Tracked, so shutdown waits for the close frame to go out.
    let shard = hub.shards.handle(room.shard).clone();
    let task = hub
        .tracker
        .track_future(serve(on_upgrade, hub.clone(), room, conn, code, slot));
    shard.spawn(task);
    switching
}

/// Take the TCP stream out of hyper's upgrade and out of the accepting runtime's reactor,
/// into the reactor of the runtime this runs on (the room's shard), with the bytes the
/// client sent right behind its handshake. hyper's read-ahead buffer is copied out and
/// released, not kept for the socket's life. brainwrite's own listener ([`crate::listen`])
/// always hands over a plain TCP stream.
fn take_stream(io: Upgraded) -> io::Result<(TcpStream, Vec<u8>)> {
    let hyper::upgrade::Parts { io, read_buf, .. } = io
        .downcast::<TokioIo<TcpStream>>()
        .map_err(|_| io::Error::other("the upgraded stream is not a plain TCP stream"))?;
    let early = read_buf.to_vec();
    drop(read_buf);
    let tcp = TcpStream::from_std(io.into_inner().into_std()?)?;
    Ok((tcp, early))
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

/// A socket's whole life, on its room's shard: the upgrade, the move of its TCP stream to
/// this shard's reactor, the conversation, the close. Its connection slot is freed at the
/// end.
async fn serve(
    on_upgrade: OnUpgrade,
    hub: Arc<Hub>,
    room: RoomHandle,
    conn: ConnId,
    code: RoomCode,
    _slot: ConnSlot,
) {
    let (io, early) = match on_upgrade
        .await
        .map_err(io::Error::other)
        .and_then(take_stream)
    {
        Ok(s) => s,
        Err(e) => {
            debug!(conn, error = %e, "upgrade failed");
            return;
        }
    };
    let config = &hub.config;
    let outbox = Outbox::new(io, config.outbox as usize, config.max_write_buffer as usize);
    let opened = room
        .tx
        .send(RoomMsg::Open {
            conn,
            outbox: outbox.clone(),
        })
        .await
        .is_ok();
    debug!(conn, room = %code, "connected");
    let mut socket = Socket::new(early, config, outbox);
    let sleep = tokio::time::sleep_until(socket.next_timer());
    tokio::pin!(sleep);
    let end = if opened {
        loop {
            match poll_fn(|cx| socket.poll_step(cx, sleep.as_mut(), &hub)).await {
                Step::Message(msg) => {
                    let msg = RoomMsg::Client { conn, msg };
                    let sent = match room.tx.try_send(msg) {
                        Ok(()) => true,
                        Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) => {
                            room.tx.send(msg).await.is_ok()
                        }
                        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
                    };
                    if !sent {
                        break End::close(room_gone(&hub));
                    }
                }
                Step::End(end) => break end,
            }
        }
    } else {
        End::close(room_gone(&hub))
    };
    socket.close(end).await;
    socket.outbox.finish();
    if opened {
        let _ = room.tx.send(RoomMsg::Closed { conn }).await;
    }
    debug!(conn, room = %code, "disconnected");
}

/// Why a room stopped taking messages: shutdown (reconnect elsewhere) or the room is gone.
fn room_gone(hub: &Hub) -> u16 {
    if hub.shutdown.is_cancelled() {
        close::RESTART
    } else {
        close::ROOM_GONE
    }
}

/// What one turn of the socket produced.
enum Step {
    /// A parsed client message for the room.
    Message(ClientMsg),
    /// The conversation is over.
    End(End),
}

/// How the conversation ends.
struct End {
    /// The close code to send (unless the peer closed first or is gone).
    code: u16,
    peer: Peer,
}

enum Peer {
    /// Still there: send our close frame.
    Open,
    /// It sent a close frame; tungstenite's echo is queued.
    Closed,
    /// The stream ended or broke: nothing more can be sent.
    Gone,
}

impl End {
    fn close(code: u16) -> Self {
        End {
            code,
            peer: Peer::Open,
        }
    }

    /// The stream ended or broke.
    fn gone() -> Self {
        End {
            code: close::NORMAL,
            peer: Peer::Gone,
        }
    }
}

/// One socket after the upgrade: tungstenite's state for what the peer sends, the outbox
/// (the stream, and what waits to be written), and the per-connection limits and timers.
struct Socket {
    ws: WebSocketContext,
    outbox: Outbox,
    limiter: DefaultDirectRateLimiter,
    per_second: u32,
    burst: u32,
    /// Messages dropped by the rate limit in a row.
    dropped: u32,
    last_warned: Option<Instant>,
    /// No message has been accepted yet: the first-message deadline applies.
    first: bool,
    handshake_deadline: Instant,
    ping_every: Duration,
    next_ping: Instant,
    last_seen: Instant,
}

impl Socket {
    /// `early`: what the client sent right behind its handshake, already read.
    fn new(early: Vec<u8>, config: &crate::Config, outbox: Outbox) -> Self {
        let max = config.max_message as usize;
        // tungstenite zero-fills its whole read buffer and client messages are a few hundred
        // bytes, so 512 B; a larger message reserves what it needs. It writes only control
        // answers (into our writer's control frames), so its own write buffer stays tiny.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(512)
            .write_buffer_size(0)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let ws = WebSocketContext::from_partially_read(early, Role::Server, Some(ws_config));
        let (per_second, burst) = (config.messages_per_second, config.message_burst);
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let now = Instant::now();
        Socket {
            ws,
            outbox,
            limiter: RateLimiter::direct(quota),
            per_second,
            burst,
            dropped: 0,
            last_warned: None,
            first: true,
            handshake_deadline: now + config.handshake_timeout,
            ping_every: config.ping_interval,
            // Sockets that connect together (a room joining, everyone reconnecting after a
            // restart) check at spread-out times, not in one burst an interval later.
            next_ping: now + config.ping_interval.mul_f64(rand::random_range(0.75..=1.0)),
            last_seen: now,
        }
    }

    fn next_timer(&self) -> Instant {
        if self.first {
            self.handshake_deadline.min(self.next_ping)
        } else {
            self.next_ping
        }
    }

    /// One turn: timers, what is queued for the peer, what the peer sent, and what that
    /// queued (errors, pongs).
    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        mut sleep: Pin<&mut Sleep>,
        hub: &Hub,
    ) -> Poll<Step> {
        // Shutdown reaches a socket through its room actor, which closes every outbox; the
        // flag is the fallback for a socket woken for another reason first.
        if hub.shutdown.is_cancelled() {
            return Poll::Ready(Step::End(End::close(close::RESTART)));
        }
        self.outbox.register(cx.waker());
        if let Some(code) = self.outbox.close_code() {
            return Poll::Ready(Step::End(End::close(code)));
        }
        while sleep.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if self.first && now >= self.handshake_deadline {
                return Poll::Ready(Step::End(End::close(close::IDLE)));
            }
            if now >= self.next_ping {
                // Keepalive probes only a quiet connection: a peer heard from within the
                // interval is alive, and one written to within it keeps its proxy's read
                // timeout fed, so a room's busy sockets get no pings at all.
                let silent = now - self.last_seen;
                if silent > 2 * self.ping_every {
                    return Poll::Ready(Step::End(End::close(close::DEAD)));
                }
                let quiet = silent.max(self.outbox.since_last_write());
                if quiet >= self.ping_every {
                    self.outbox.push_ping();
                    self.next_ping = now + self.ping_every;
                } else {
                    // When the older of the two turns one interval old.
                    self.next_ping = now + (self.ping_every - quiet);
                }
            }
            sleep.as_mut().reset(self.next_timer());
        }
        // What is queued goes out before more is read, so answers never wait behind a
        // client's burst.
        if let Poll::Ready(Err(_)) = self.outbox.poll_flush(cx) {
            return Poll::Ready(Step::End(End::gone()));
        }
        for turn in 0.. {
            if turn == READ_TURN {
                // Let other sockets run; come back at once.
                cx.waker().wake_by_ref();
                break;
            }
            let msg = match self.poll_read(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(m)) => m,
                Poll::Ready(Err(e)) => return Poll::Ready(Step::End(read_error(e))),
            };
            self.last_seen = Instant::now();
            match msg {
                Message::Text(text) => {
                    if let Some(end) = self.limit() {
                        return Poll::Ready(Step::End(end));
                    }
                    if self.dropped > 0 {
                        continue;
                    }
                    match protocol::parse_client(text.as_str()) {
                        Ok(msg) => {
                            self.first = false;
                            return Poll::Ready(Step::Message(msg));
                        }
                        Err(why) => reject(&self.outbox, &why),
                    }
                }
                Message::Binary(_) => {
                    if let Some(end) = self.limit() {
                        return Poll::Ready(Step::End(end));
                    }
                    if self.dropped == 0 {
                        reject(
                            &self.outbox,
                            "binary frames are not part of the protocol; send JSON text",
                        );
                    }
                }
                Message::Close(_) => {
                    // Queue tungstenite's echo of the peer's close; it is written last.
                    let _ = self.ws.flush(&mut Adapter {
                        outbox: &self.outbox,
                        cx,
                    });
                    return Poll::Ready(Step::End(End {
                        code: close::NORMAL,
                        peer: Peer::Closed,
                    }));
                }
                // tungstenite queued a pong with our writer. A peer that keeps pinging and
                // stops reading would grow it without end: it is a slow peer.
                Message::Ping(_) if self.outbox.control_len() > MAX_CONTROL => {
                    self.outbox.fell_behind();
                    return Poll::Ready(Step::End(End::close(close::SLOW)));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        match self.outbox.poll_flush(cx) {
            Poll::Ready(Err(_)) => Poll::Ready(Step::End(End::gone())),
            _ => Poll::Pending,
        }
    }

    /// The rate limit for a data message: sets `dropped` when this one is over it, and ends
    /// the conversation for a flood.
    fn limit(&mut self) -> Option<End> {
        METRICS.messages_in.inc();
        if self.limiter.check().is_ok() {
            self.dropped = 0;
            return None;
        }
        self.dropped += 1;
        crate::metrics::rejected(ErrorCode::RateLimited.as_str());
        if self.dropped > self.burst.saturating_mul(4).max(100) {
            return Some(End::close(close::RATE));
        }
        // One warning a second at most: the warnings must not flood the outbox.
        let now = Instant::now();
        if self
            .last_warned
            .is_none_or(|t| now - t >= Duration::from_secs(1))
        {
            self.last_warned = Some(now);
            send_error(
                &self.outbox,
                ErrorCode::RateLimited,
                &format!(
                    "more than {} messages a second; this one was dropped, send it again later",
                    self.per_second
                ),
            );
        }
        None
    }

    /// The next message from the peer (tungstenite queues the pongs with our writer).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<tungstenite::Result<Message>> {
        let mut io = Adapter {
            outbox: &self.outbox,
            cx,
        };
        match self.ws.read(&mut io) {
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }

    /// The closing handshake: what was queued before the close still goes out (unless the
    /// peer is the reason: a slow or dead peer would only hold us up), then the close frame.
    /// The outbox is sealed first, so the room queues nothing behind the close.
    async fn close(&mut self, end: End) {
        let outbox = &self.outbox;
        match end.peer {
            Peer::Gone => {
                outbox.seal();
                return;
            }
            Peer::Closed => {
                // Only the frame already on its way, then the echo (queued as a control frame).
                outbox.seal_dropping_data();
                let _ = tokio::time::timeout(DRAIN, poll_fn(|cx| outbox.poll_flush(cx))).await;
                return;
            }
            Peer::Open => {}
        }
        let code = end.code;
        if code == close::SLOW || code == close::DEAD {
            outbox.seal_dropping_all();
        } else {
            outbox.seal();
            let drain = poll_fn(|cx| outbox.poll_flush(cx));
            if tokio::time::timeout(DRAIN, drain).await.is_err() {
                outbox.seal_dropping_all();
            }
        }
        // A peer that is not reading may never take the close frame: do not wait on it long.
        let mut queued = false;
        let sent = poll_fn(|cx| {
            if !queued {
                ready!(outbox.poll_flush(cx))?;
                outbox.push_close(code);
                queued = true;
            }
            ready!(outbox.poll_flush(cx))?;
            Poll::Ready(outbox.shutdown())
        });
        let _ = tokio::time::timeout(CLOSE_WAIT, sent).await;
    }
}

/// What a failed read means for the conversation.
fn read_error(e: tungstenite::Error) -> End {
    use tungstenite::Error as E;
    match e {
        E::Capacity(_) => {
            METRICS.messages_in.inc();
            crate::metrics::rejected("too_big");
            End::close(close::TOO_BIG)
        }
        E::Utf8(_) => End::close(close::INVALID_DATA),
        E::ConnectionClosed | E::AlreadyClosed | E::Io(_) => End::gone(),
        _ => End::close(close::PROTOCOL_ERROR),
    }
}

/// How tungstenite sees the socket: a read that would wait is `WouldBlock` (with the waker
/// registered), and what it writes (pongs, the close echo) is queued as control frames in
/// the outbox's writer, so frames never interleave.
struct Adapter<'a, 'b> {
    outbox: &'a Outbox,
    cx: &'a mut Context<'b>,
}

impl Read for Adapter<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match self.outbox.poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Adapter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.push_control(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle socket's memory is mostly this struct (inside its task); the goal is 4 KiB for
    /// everything (docs/performance.md), so it must stay well under that.
    #[test]
    fn the_per_socket_state_stays_small() {
        let size = std::mem::size_of::<Socket>();
        eprintln!("Socket: {size} B, Outbox shared state counted separately");
        assert!(size <= 768, "Socket grew to {size} B");
    }

    /// The socket's task holds `serve`'s state for the socket's life: the upgrade and the
    /// move to the shard must not make it larger than `Socket` needs (a nested future per
    /// step cost ~350 B per socket, measured).
    #[tokio::test]
    async fn the_socket_task_stays_small() {
        let hub = Hub::new(crate::Config::for_tests(), Default::default()).expect("hub");
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let room = RoomHandle { tx, shard: 0 };
        let slot = hub
            .connect_slot(std::net::Ipv4Addr::LOCALHOST.into())
            .expect("a slot");
        let up = hyper::upgrade::on(axum::http::Request::new(()));
        let task = serve(up, hub.clone(), room, 1, RoomCode::random(), slot);
        let size = std::mem::size_of_val(&task);
        eprintln!("serve's future: {size} B");
        assert!(size <= 1408, "the socket task grew to {size} B");
    }
}
