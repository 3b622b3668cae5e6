//! One simulated client per socket: a participant that writes its ideas with typing-like
//! draft updates on a fixed schedule, a facilitator that starts the room at the common
//! instant, and a board that watches. Each checks what it receives as it goes.
//!
//! Sockets are plain tokio `TcpSocket`s bound to a spread of loopback source addresses (so
//! ephemeral ports do not run out), with `TCP_NODELAY` and small tungstenite buffers.
//! Latencies count from the instant a message *should* have been sent (its schedule), not
//! from when the event loop got round to it, so a stalled client cannot hide server delay
//! (coordinated omission).
//!
//! One socket per room (its first board, or the facilitator when there are no boards) also
//! pings on a fixed schedule while the session runs ([`Pinger`]). With `--peer-compat`
//! each client accepts the reference peer's differences from docs/protocol.md, each marked
//! where it is handled.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::now_us;
use crate::wire::{self, Out};
use crate::worker::{Shared, Stage, instant_at_us};

type Ws = WebSocketStream<TcpStream>;

/// Connection attempts per socket before it counts as failed.
const ATTEMPTS: u32 = 4;

/// Client socket settings: small buffers, like the server's.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
}

/// Connect, upgrade, send the role message and wait for `welcome` with `want` as its role.
async fn open(sh: &Shared, room: usize, role_msg: &str, want: &str) -> Result<Ws, String> {
    let _permit = sh
        .connecting
        .acquire()
        .await
        .map_err(|_| "closed".to_owned())?;
    let started = now_us();
    let plan = &sh.plan.rooms[room];
    let url = format!(
        "ws://{}/ws/{}",
        plan.server.as_deref().unwrap_or(&sh.plan.server),
        plan.code
    );
    let addr = match &plan.server {
        Some(s) => s.parse().map_err(|e| format!("server address {s}: {e}"))?,
        None => sh.server,
    };
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if Instant::now() >= sh.connect_deadline {
            break;
        }
        let left = sh.connect_deadline - Instant::now();
        match tokio::time::timeout(left, try_open(sh, addr, &url, role_msg, want)).await {
            Ok(Ok(ws)) => {
                sh.hists
                    .borrow_mut()
                    .record("connect", (now_us() - started) as i64);
                let mut c = sh.counters.borrow_mut();
                c.connected += 1;
                c.sent += 1;
                c.received += 1;
                return Ok(ws);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = "connect timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
    sh.counters.borrow_mut().connect_failed += 1;
    Err(format!("could not connect: {last}"))
}

async fn try_open(
    sh: &Shared,
    server: SocketAddr,
    url: &str,
    role_msg: &str,
    want: &str,
) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    // Ports of an earlier run may still be in TIME_WAIT.
    let _ = sock.set_reuseaddr(true);
    sock.bind(SocketAddr::new(sh.source().into(), 0))
        .map_err(|e| format!("bind: {e}"))?;
    let tcp = sock
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    ws.send(Message::text(role_msg))
        .await
        .map_err(|e| format!("send role: {e}"))?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) => {
            if wire::msg_type(&t) != Some("welcome") {
                return Err(format!("expected welcome, got {t}"));
            }
            let w: wire::Welcome = serde_json::from_str(&t).map_err(|e| format!("{e}: {t}"))?;
            if w.role != want {
                return Err(format!("welcomed as {} instead of {want}", w.role));
            }
            Ok(ws)
        }
        other => Err(format!("no welcome: {other:?}")),
    }
}

/// Count one received frame.
fn count_in(sh: &Shared, t: &str) {
    let mut c = sh.counters.borrow_mut();
    c.received += 1;
    c.received_bytes += t.len() as u64;
}

/// Send one text frame and count it.
async fn send(sh: &Shared, ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))?;
    sh.counters.borrow_mut().sent += 1;
    Ok(())
}

/// What to do with the next frame from the server.
enum Next {
    Text(tokio_tungstenite::tungstenite::Utf8Bytes),
    Stop(String),
}

fn next_frame(
    sh: &Shared,
    m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Option<Next> {
    match m {
        Some(Ok(Message::Text(t))) => {
            count_in(sh, &t);
            Some(Next::Text(t))
        }
        Some(Ok(Message::Close(f))) => {
            sh.counters.borrow_mut().dropped += 1;
            Some(Next::Stop(format!("server closed the socket: {f:?}")))
        }
        Some(Ok(_)) => None,
        Some(Err(e)) => {
            sh.counters.borrow_mut().dropped += 1;
            Some(Next::Stop(format!("socket error: {e}")))
        }
        None => {
            sh.counters.borrow_mut().dropped += 1;
            Some(Next::Stop("socket ended".into()))
        }
    }
}

/// Handle a `room` message common to every role: remember the round's deadline.
fn on_room(sh: &Shared, room: usize, t: &str) -> Result<(), String> {
    let s: wire::RoomState = serde_json::from_str(t).map_err(|e| format!("bad room: {e}"))?;
    let rounds = match s.rounds {
        Some(n) => n,
        // Peer: `rounds` is null in the lobby while fewer than two have joined a room
        // without a `rounds` setting (brainwrite always sends a number).
        None if sh.plan.peer_compat && s.phase == "lobby" => 0,
        None => return Err("bad room: rounds is null".into()),
    };
    let mut r = sh.rooms[room].borrow_mut();
    if rounds > 0 && s.phase != "lobby" {
        r.rounds = rounds;
    }
    if s.phase == "writing"
        && let Some(d) = s.deadline
    {
        r.set_deadline(s.round, d);
    }
    Ok(())
}

/// An `error` frame that is not a late write fails the member.
fn on_error(sh: &Shared, t: &str) -> String {
    sh.counters.borrow_mut().errors += 1;
    match serde_json::from_str::<wire::Error>(t) {
        Ok(e) => format!("server error {}: {}", e.code, e.message),
        Err(_) => format!("unreadable error: {t}"),
    }
}

/// Count a reveal for the room and, when it is the room's last, time it.
fn reveal_arrived(sh: &Shared, room: usize, at_us: u64) {
    sh.counters.borrow_mut().reveals += 1;
    sh.last_reveal_us.set(sh.last_reveal_us.get().max(at_us));
    let mut r = sh.rooms[room].borrow_mut();
    r.reveals.0 += 1;
    r.reveals.1 = r.reveals.1.max(at_us);
    if r.reveals.0 == r.members
        && let Some(d) = r.deadline(r.rounds)
    {
        let lat = r.reveals.1 as i64 - (d * 1000) as i64;
        sh.hists.borrow_mut().record("reveal", lat);
    }
}

/// Check a reveal's shape: one sheet per participant, at most `rounds` rows of at most
/// `ideas_per_round` ideas (fewer only where writes were refused as late: the room's final
/// check compares the texts with what was acknowledged).
fn check_reveal_shape(
    sh: &Shared,
    room: usize,
    sheets: impl ExactSizeIterator<Item = (usize, Vec<usize>)>,
) -> Result<(), String> {
    let rounds = sh.rooms[room].borrow().rounds as usize;
    let per = sh.plan.ideas_per_round as usize;
    if sheets.len() != sh.plan.participants as usize {
        return Err(format!(
            "reveal has {} sheets for {} participants",
            sheets.len(),
            sh.plan.participants
        ));
    }
    for (rows, ideas) in sheets {
        if rows > rounds || ideas.iter().any(|&n| n == 0 || n > per) {
            return Err(format!(
                "a revealed sheet has rows {ideas:?}; expected up to {rounds} rows of {per}"
            ));
        }
    }
    Ok(())
}

/// How long after a round's deadline the boundary burst counts: a ping in flight at any
/// moment of it is also a `ping_boundary`.
const BURST_US: u64 = 1_000_000;

/// The pings of one socket: one every `--ping-interval-ms` from the common start (plus a
/// phase that spreads the rooms over the interval) until the socket has the reveal and the
/// last deadline's burst is over, sent on schedule whether or not the last was answered
/// (open loop), each timed from its intended instant to its pong.
///
/// One socket per room pings, a board (else the facilitator): those sockets send nothing
/// else during a session, so a pong waits only for the server, not behind the socket's own
/// writes, and one per room keeps the added load small (rooms pings per second, against the
/// participants' writes) while every room, and so every shard, is sampled.
pub struct Pinger {
    interval_us: u64,
    phase_us: u64,
    /// When the next ping is due, epoch µs: none before the start and after the reveal.
    next_us: Option<u64>,
    /// The instant the timer is set for.
    armed: Option<u64>,
    timer: Pin<Box<Sleep>>,
    /// Intended instants of the pings not answered yet, oldest first: a pong carries no id,
    /// and a server answers one socket's messages in order.
    in_flight: VecDeque<u64>,
    /// No ping is due at or after this instant, epoch µs (set at the reveal).
    until_us: Option<u64>,
}

impl Pinger {
    /// The pinger of a socket of `room`; `pings` says whether this socket pings at all.
    pub fn new(sh: &Shared, room: usize, pings: bool) -> Self {
        let interval_us = if pings {
            sh.plan.ping_interval_ms * 1000
        } else {
            0
        };
        let index = sh.plan.rooms[room].index as u64;
        Pinger {
            interval_us,
            phase_us: index * interval_us / sh.plan.rooms_total.max(1),
            next_us: None,
            armed: None,
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(86_400))),
            in_flight: VecDeque::new(),
            until_us: None,
        }
    }

    /// The sessions start at `go_ms`: schedule the first ping.
    pub fn start(&mut self, go_ms: u64) {
        if self.interval_us > 0 && self.until_us.is_none() && self.next_us.is_none() {
            self.next_us = Some(go_ms * 1000 + self.phase_us);
        }
    }

    /// The socket has the reveal: keep pinging through the burst after the room's last
    /// deadline (other rooms' reveals), then stop; those in flight are still timed.
    pub fn reveal(&mut self, sh: &Shared, room: usize) {
        let r = sh.rooms[room].borrow();
        let last = r.deadline(r.rounds).map_or(0, |d| d * 1000 + BURST_US);
        self.until_us = Some(last.min(now_us() + BURST_US));
        self.trim();
    }

    fn trim(&mut self) {
        if let (Some(next), Some(until)) = (self.next_us, self.until_us)
            && next >= until
        {
            self.next_us = None;
        }
    }

    /// Revealed, no more pings due, and every ping sent answered.
    pub fn done(&self) -> bool {
        self.until_us.is_some() && self.next_us.is_none() && self.in_flight.is_empty()
    }

    /// Wait until the next ping is due (forever when none is).
    pub async fn due(&mut self) {
        if self.next_us != self.armed {
            self.armed = self.next_us;
            if let Some(us) = self.armed {
                self.timer.as_mut().reset(instant_at_us(us));
            }
        }
        match self.armed {
            Some(_) => {
                self.timer.as_mut().await;
                self.armed = None;
            }
            None => std::future::pending().await,
        }
    }

    /// Send the ping that is due and schedule the next.
    pub async fn fire(&mut self, sh: &Shared, ws: &mut Ws) -> Result<(), String> {
        let Some(due) = self.next_us else {
            return Ok(());
        };
        self.in_flight.push_back(due);
        send(sh, ws, Out::Ping.json()).await?;
        sh.counters.borrow_mut().pings += 1;
        self.next_us = Some(due + self.interval_us);
        self.trim();
        Ok(())
    }

    /// A `pong` arrived: time the oldest ping in flight.
    pub fn pong(&mut self, sh: &Shared, room: usize) -> Result<(), String> {
        let at = now_us();
        let Some(sent) = self.in_flight.pop_front() else {
            return Err("pong for no ping".into());
        };
        sh.counters.borrow_mut().pongs += 1;
        let lat = at as i64 - sent as i64;
        let burst = sh.rooms[room]
            .borrow()
            .deadlines
            .iter()
            .flatten()
            .any(|&d| sent < d * 1000 + BURST_US && at > d * 1000);
        let mut h = sh.hists.borrow_mut();
        h.record("ping", lat);
        if burst {
            h.record("ping_boundary", lat);
        }
        Ok(())
    }
}

/// Wait for the close stage, then close the socket politely (bounded).
async fn close_when_told(sh: &Shared, mut ws: Ws) {
    let mut stage = sh.stage.clone();
    let _ = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            tokio::select! {
                r = stage.wait_for(|s| *s == Stage::Close) => { let _ = r; break; }
                m = ws.next() => {
                    match m {
                        Some(Ok(Message::Text(t))) => count_in(sh, &t),
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// A facilitator: takes its role, starts the room at the common instant, checks the reveal
/// and hands its texts to the room's final check.
pub async fn facilitator(sh: Rc<Shared>, room: usize) {
    let msg = Out::Facilitate {
        token: &sh.plan.rooms[room].token,
    }
    .json();
    let ws = match open(&sh, room, &msg, "facilitator").await {
        Ok(ws) => ws,
        Err(e) => return sh.member_finished(room, Err(e)),
    };
    match facilitate(&sh, room, ws).await {
        Ok(ws) => {
            sh.member_finished(room, Ok(()));
            close_when_told(&sh, ws).await;
        }
        Err(e) => {
            sh.member_finished(room, Err(format!("facilitator: {e}")));
        }
    }
}

async fn facilitate(sh: &Shared, room: usize, mut ws: Ws) -> Result<Ws, String> {
    let mut stage = sh.stage.clone();
    let mut start_at: Option<Instant> = None;
    let mut started = false;
    // The facilitator pings only where the room has no board.
    let mut pinger = Pinger::new(sh, room, sh.plan.boards == 0);
    let mut revealed = false;
    if let Stage::Go(at_ms) = *stage.borrow() {
        start_at = Some(instant_at_us(at_ms * 1000));
        pinger.start(at_ms);
    }
    loop {
        let timer = async {
            match start_at {
                Some(at) if !started => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            m = ws.next() => {
                let t = match next_frame(sh, m) {
                    None => continue,
                    Some(Next::Stop(why)) => return Err(why),
                    Some(Next::Text(t)) => t,
                };
                match wire::msg_type(&t) {
                    Some("room") => on_room(sh, room, &t)?,
                    Some("error") => return Err(on_error(sh, &t)),
                    Some("pong") => {
                        pinger.pong(sh, room)?;
                        if pinger.done() {
                            return Ok(ws);
                        }
                    }
                    Some("reveal") if !revealed => {
                        let at = now_us();
                        let rev: wire::RevealText = serde_json::from_str(&t).map_err(|e| format!("bad reveal: {e}"))?;
                        check_reveal_shape(sh, room, rev.sheets.iter().map(|s| (s.rows.len(), s.rows.iter().map(|r| r.ideas.len()).collect())))?;
                        let rounds = sh.rooms[room].borrow().rounds;
                        if rev.sheets.iter().any(|s| s.rows.windows(2).any(|w| w[0].round >= w[1].round) || s.rows.iter().any(|r| r.round == 0 || r.round > rounds)) {
                            return Err("revealed rows are not in round order".into());
                        }
                        let texts = rev.sheets.into_iter().flat_map(|s| s.rows).flat_map(|r| r.ideas).map(|i| i.text).collect();
                        sh.rooms[room].borrow_mut().revealed = Some(texts);
                        reveal_arrived(sh, room, at);
                        revealed = true;
                        // The pings of the burst, and those in flight, are timed before the
                        // member is done.
                        pinger.reveal(sh, room);
                        if pinger.done() {
                            return Ok(ws);
                        }
                    }
                    _ => {}
                }
            }
            _ = timer => {
                started = true;
                send(sh, &mut ws, Out::Start.json()).await?;
            }
            _ = pinger.due() => pinger.fire(sh, &mut ws).await?,
            r = stage.changed() => {
                if r.is_err() { return Err("worker gone".into()); }
                let now = *stage.borrow();
                match now {
                    Stage::Go(at_ms) => {
                        start_at = Some(instant_at_us(at_ms * 1000));
                        pinger.start(at_ms);
                    }
                    Stage::Close if revealed => return Err("a ping was never answered".into()),
                    Stage::Close => return Err("timed out before the reveal".into()),
                    Stage::Connecting => {}
                }
            }
        }
    }
}

/// A board: watches, and checks the reveal's shape; the room's first board pings.
pub async fn board(sh: Rc<Shared>, room: usize, n: u32) {
    // Peer: a `watch` is welcomed as role "watcher" (docs/protocol.md: "board").
    let role = if sh.plan.peer_compat {
        "watcher"
    } else {
        "board"
    };
    let ws = match open(&sh, room, &Out::Watch.json(), role).await {
        Ok(ws) => ws,
        Err(e) => return sh.member_finished(room, Err(e)),
    };
    match watch(&sh, room, ws, n == 0).await {
        Ok(ws) => {
            sh.member_finished(room, Ok(()));
            close_when_told(&sh, ws).await;
        }
        Err(e) => {
            sh.member_finished(room, Err(format!("board: {e}")));
        }
    }
}

async fn watch(sh: &Shared, room: usize, mut ws: Ws, pings: bool) -> Result<Ws, String> {
    let mut stage = sh.stage.clone();
    let mut pinger = Pinger::new(sh, room, pings);
    let mut revealed = false;
    if let Stage::Go(at_ms) = *stage.borrow() {
        pinger.start(at_ms);
    }
    loop {
        tokio::select! {
            m = ws.next() => {
                let t = match next_frame(sh, m) {
                    None => continue,
                    Some(Next::Stop(why)) => return Err(why),
                    Some(Next::Text(t)) => t,
                };
                match wire::msg_type(&t) {
                    Some("room") => on_room(sh, room, &t)?,
                    Some("error") => return Err(on_error(sh, &t)),
                    Some("pong") => {
                        pinger.pong(sh, room)?;
                        if pinger.done() {
                            return Ok(ws);
                        }
                    }
                    Some("reveal") if !revealed => {
                        let at = now_us();
                        let rev: wire::RevealShape = serde_json::from_str(&t).map_err(|e| format!("bad reveal: {e}"))?;
                        check_reveal_shape(sh, room, rev.sheets.iter().map(|s| (s.rows.len(), s.rows.iter().map(|r| r.ideas.len()).collect())))?;
                        reveal_arrived(sh, room, at);
                        revealed = true;
                        // The pings of the burst, and those in flight, are timed before the
                        // member is done.
                        pinger.reveal(sh, room);
                        if pinger.done() {
                            return Ok(ws);
                        }
                    }
                    _ => {}
                }
            }
            _ = pinger.due() => pinger.fire(sh, &mut ws).await?,
            r = stage.changed() => {
                let now = if r.is_err() { Stage::Close } else { *stage.borrow() };
                match now {
                    Stage::Go(at_ms) => pinger.start(at_ms),
                    Stage::Close if revealed => return Err("a ping was never answered".into()),
                    Stage::Close => return Err("timed out before the reveal".into()),
                    Stage::Connecting => {}
                }
            }
        }
    }
}

/// A participant: joins, then in every round writes each slot with growing text on a fixed
/// schedule, checking every sheet it is handed and, at the end, the reveal.
pub async fn participant(sh: Rc<Shared>, room: usize, p: u32) {
    let msg = Out::Join {
        name: &format!("p{p}"),
    }
    .json();
    let ws = match open(&sh, room, &msg, "participant").await {
        Ok(ws) => ws,
        Err(e) => return sh.member_finished(room, Err(e)),
    };
    let mut me = Writer::new(&sh, room, p);
    match me.run(ws).await {
        Ok(ws) => {
            sh.member_finished(room, Ok(()));
            close_when_told(&sh, ws).await;
        }
        Err(e) => {
            sh.member_finished(room, Err(format!("participant {p}: {e}")));
        }
    }
}

/// A write waiting for its ack.
struct Pending {
    seq: u64,
    /// When it was meant to be sent, epoch µs.
    intended_us: u64,
    slot: u32,
    text: String,
    /// Meant more than a second after its round began, away from the boundary burst.
    steady: bool,
}

/// A participant's writing state.
struct Writer<'a> {
    sh: &'a Shared,
    room: usize,
    p: u32,
    /// Offset of this participant's writes within each interval, µs.
    phase_us: u64,
    /// The round of the sheet held (0 before the first).
    round: u32,
    /// Sheet ids held so far.
    held: Vec<String>,
    /// The k-th write of this round is next.
    k: u32,
    /// When the next write is due, epoch µs, and when the round's writing stops.
    next_us: Option<u64>,
    stop_us: u64,
    /// When the current sheet arrived, epoch µs.
    sheet_us: u64,
    seq: u64,
    pending: VecDeque<Pending>,
    /// Last acknowledged text of each slot this round.
    acked: Vec<String>,
    /// The reveal has arrived.
    revealed: bool,
    /// Peer mode: every write sent, (slot, text) by round, since none is acked.
    sent: Vec<Vec<(u32, String)>>,
    /// Peer mode: writes refused as late, by round.
    refused: Vec<usize>,
    /// Peer mode: the ping sent after the reveal is not answered yet.
    barrier: bool,
}

impl<'a> Writer<'a> {
    fn new(sh: &'a Shared, room: usize, p: u32) -> Self {
        let global =
            sh.plan.participant_offset + (room as u64) * sh.plan.participants as u64 + p as u64;
        let interval_us = sh.plan.write_interval_ms * 1000;
        Writer {
            sh,
            room,
            p,
            phase_us: global * interval_us / sh.plan.participants_total.max(1),
            round: 0,
            held: Vec::new(),
            k: 0,
            next_us: None,
            stop_us: 0,
            sheet_us: 0,
            seq: 0,
            pending: VecDeque::new(),
            acked: Vec::new(),
            revealed: false,
            sent: Vec::new(),
            refused: Vec::new(),
            barrier: false,
        }
    }

    async fn run(&mut self, mut ws: Ws) -> Result<Ws, String> {
        let sh = self.sh;
        let mut stage = sh.stage.clone();
        // One timer, moved rather than re-created on every frame.
        let timer = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            if self.next_us != armed {
                armed = self.next_us;
                if let Some(us) = armed {
                    timer.as_mut().reset(instant_at_us(us));
                }
            }
            tokio::select! {
                m = ws.next() => {
                    let t = match next_frame(sh, m) {
                        None => continue,
                        Some(Next::Stop(why)) => return Err(why),
                        Some(Next::Text(t)) => t,
                    };
                    if self.on_text(&t)? {
                        self.revealed = true;
                        if sh.plan.peer_compat {
                            // Peer: no ack says a write was taken, and a late one is refused
                            // after the reveal; the server answers in order, so once this
                            // ping's pong is in, every refusal is. Bookkeeping, not load:
                            // neither it nor its pong is counted as a message.
                            ws.send(Message::text(Out::Ping.json()))
                                .await
                                .map_err(|e| format!("send: {e}"))?;
                            self.barrier = true;
                        }
                    }
                    // Every write is answered (ack or refusal) before the member is done.
                    if self.revealed && self.pending.is_empty() && !self.barrier {
                        if sh.plan.peer_compat {
                            self.expect_sent();
                        }
                        return Ok(ws);
                    }
                }
                _ = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.write(&mut ws).await?;
                }
                r = stage.changed() => {
                    if r.is_err() || *stage.borrow() == Stage::Close {
                        return Err(format!("timed out before the reveal (round {})", self.round));
                    }
                }
            }
        }
    }

    /// Handle one frame; `Ok(true)` once the reveal has arrived and checked out.
    fn on_text(&mut self, t: &str) -> Result<bool, String> {
        let sh = self.sh;
        match wire::msg_type(t) {
            Some("ack") => {
                let at = now_us();
                let a: wire::Ack = serde_json::from_str(t).map_err(|e| format!("bad ack: {e}"))?;
                let Some(w) = self.pending.pop_front() else {
                    return Err(format!("ack for nothing: {t}"));
                };
                if a.seq != Some(w.seq) || a.slot != w.slot || a.round != self.round {
                    return Err(format!(
                        "ack {t} does not match write {} (round {})",
                        w.seq, self.round
                    ));
                }
                sh.counters.borrow_mut().acks += 1;
                let mut h = sh.hists.borrow_mut();
                h.record("write_rtt", at as i64 - w.intended_us as i64);
                if w.steady {
                    h.record("write_rtt_steady", at as i64 - w.intended_us as i64);
                }
                drop(h);
                self.acked[w.slot as usize] = w.text;
            }
            Some("error") => {
                let e: wire::Error =
                    serde_json::from_str(t).map_err(|e| format!("bad error: {e}"))?;
                let front = self.pending.front().map(|w| w.seq);
                if e.code == "not_writing" && e.seq.is_some() && e.seq == front {
                    self.pending.pop_front();
                    sh.counters.borrow_mut().late_writes += 1;
                } else if sh.plan.peer_compat && e.code == "not_writing" && e.seq.is_none() {
                    // Peer: a late write is refused without its seq. The peer ends a round
                    // (sending the next sheet, or the reveal) before refusing its writes, so
                    // the refused write is of the round before the sheet held (after the
                    // reveal, of the last round), and the last one of that round not yet
                    // refused (they come in order). If the peer fell a whole round behind,
                    // this guess is wrong and the reveal check fails: never a false pass.
                    let round = if self.revealed {
                        self.round
                    } else {
                        self.round.saturating_sub(1)
                    } as usize;
                    let writes = self.sent.get(round).map_or(0, Vec::len);
                    if self.refused.len() <= round {
                        self.refused.resize(round + 1, 0);
                    }
                    if self.refused[round] >= writes {
                        return Err(on_error(sh, t));
                    }
                    self.refused[round] += 1;
                    sh.counters.borrow_mut().late_writes += 1;
                } else {
                    return Err(on_error(sh, t));
                }
            }
            Some("pong") if self.barrier => {
                self.barrier = false;
                let mut c = sh.counters.borrow_mut();
                c.received = c.received.saturating_sub(1);
                c.received_bytes = c.received_bytes.saturating_sub(t.len() as u64);
            }
            Some("room") => on_room(sh, self.room, t)?,
            Some("sheet") => self.on_sheet(t)?,
            Some("reveal") => {
                let at = now_us();
                self.finish_round();
                let rev: wire::RevealShape =
                    serde_json::from_str(t).map_err(|e| format!("bad reveal: {e}"))?;
                check_reveal_shape(
                    sh,
                    self.room,
                    rev.sheets
                        .iter()
                        .map(|s| (s.rows.len(), s.rows.iter().map(|r| r.ideas.len()).collect())),
                )?;
                self.next_us = None;
                reveal_arrived(sh, self.room, at);
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Peer mode, at the end: the texts the reveal must hold are, for every round, the last
    /// text sent to each slot among the writes not refused (refusals are the round's last
    /// writes: the peer takes one socket's messages in order, by its clock).
    fn expect_sent(&mut self) {
        let per = self.sh.plan.ideas_per_round as usize;
        let mut texts = Vec::new();
        for (round, writes) in std::mem::take(&mut self.sent).into_iter().enumerate() {
            let refused = self.refused.get(round).copied().unwrap_or(0);
            let kept = writes.len().saturating_sub(refused);
            let mut last = vec![String::new(); per];
            for (slot, text) in writes.into_iter().take(kept) {
                if let Some(l) = last.get_mut(slot as usize) {
                    *l = text;
                }
            }
            texts.extend(last.into_iter().filter(|t| !t.is_empty()));
        }
        self.sh.rooms[self.room].borrow_mut().expected.extend(texts);
    }

    /// The round's final texts go to the room's expected reveal. A slot whose every write
    /// was refused as late stays empty: it is not expected (the late count says why).
    /// (In peer mode nothing is acked: [`Writer::expect_sent`] does this at the end.)
    fn finish_round(&mut self) {
        let texts = std::mem::take(&mut self.acked);
        self.sh.rooms[self.room]
            .borrow_mut()
            .expected
            .extend(texts.into_iter().filter(|t| !t.is_empty()));
    }

    fn on_sheet(&mut self, t: &str) -> Result<(), String> {
        let at = now_us();
        let sh = self.sh;
        let s: wire::Sheet = serde_json::from_str(t).map_err(|e| format!("bad sheet: {e}"))?;
        sh.counters.borrow_mut().sheets += 1;
        if s.round != self.round + 1 {
            return Err(format!(
                "sheet of round {} while holding round {}",
                s.round, self.round
            ));
        }
        if self.held.contains(&s.sheet.id) {
            return Err(format!("sheet {} handed over twice", s.sheet.id));
        }
        let per = sh.plan.ideas_per_round as usize;
        // Rows can be short only where writes were refused as late (the reveal check then
        // still demands exactly what was acknowledged); more rows or ideas than the rules
        // allow, or an empty row, is always wrong.
        let full = s.sheet.rows.len() == (s.round - 1) as usize
            && s.sheet.rows.iter().all(|r| r.ideas.len() == per);
        if !full {
            sh.counters.borrow_mut().short_sheets += 1;
        }
        if s.sheet.rows.len() > (s.round - 1) as usize
            || s.sheet
                .rows
                .iter()
                .any(|r| r.ideas.is_empty() || r.ideas.len() > per)
        {
            return Err(format!(
                "sheet for round {} has rows {:?}; expected {} rows of {per}",
                s.round,
                s.sheet
                    .rows
                    .iter()
                    .map(|r| r.ideas.len())
                    .collect::<Vec<_>>(),
                s.round - 1
            ));
        }
        if s.draft.len() != per {
            return Err(format!("draft has {} slots, not {per}", s.draft.len()));
        }
        self.finish_round();
        self.held.push(s.sheet.id);
        self.round = s.round;
        self.acked = vec![String::new(); per];
        self.sheet_us = at;

        let mut r = sh.rooms[self.room].borrow_mut();
        let Some(deadline) = r.deadline(s.round) else {
            return Err(format!(
                "sheet of round {} before its deadline was announced",
                s.round
            ));
        };
        let prev = r.deadline(s.round - 1);
        let (holders, latest) = r.sheet_arrived(s.round, at);
        let everyone = holders == sh.plan.participants;
        drop(r);
        let mut h = sh.hists.borrow_mut();
        if let Some(prev) = prev {
            h.record("member_sheet", at as i64 - (prev * 1000) as i64);
            if everyone {
                let late = latest as i64 - (prev * 1000) as i64;
                h.record("round_boundary", late);
                if s.round == 2 {
                    h.record("first_boundary", late);
                }
                if let Some(name) = crate::stats::round_boundary_name(s.round) {
                    h.record(name, late);
                }
            }
        } else if s.round == 1
            && everyone
            && let Stage::Go(go) = *sh.stage.borrow()
        {
            h.record("start", latest as i64 - (go * 1000) as i64);
            let planned = (go + sh.plan.round_ms) * 1000;
            h.record("deadline_spread", (deadline * 1000) as i64 - planned as i64);
        }
        drop(h);

        // This round's writes: at round start + phase + k × interval, until the guard.
        let end_us = deadline * 1000;
        let start_us = end_us.saturating_sub(sh.plan.round_ms * 1000);
        self.stop_us = end_us.saturating_sub(sh.plan.guard_ms * 1000);
        self.k = 0;
        let first = start_us + self.phase_us;
        self.next_us = (first < self.stop_us).then_some(first);
        Ok(())
    }

    async fn write(&mut self, ws: &mut Ws) -> Result<(), String> {
        let Some(due) = self.next_us else {
            return Ok(());
        };
        let per = self.sh.plan.ideas_per_round;
        let slot = self.k % per;
        let version = self.k / per;
        let text = wire::idea_text(self.plan_room(), self.p, self.round, slot, version);
        self.seq += 1;
        let msg = Out::Write {
            slot,
            text: &text,
            round: self.round,
            seq: self.seq,
        }
        .json();
        if self.sh.plan.peer_compat {
            // Peer: no ack will come, so nothing waits; the reveal check uses what was sent.
            let r = self.round as usize;
            if self.sent.len() <= r {
                self.sent.resize_with(r + 1, Vec::new);
            }
            self.sent[r].push((slot, text));
        } else {
            // Never earlier than the sheet could be seen: a boundary delay is not a write delay.
            let intended_us = due.max(self.sheet_us);
            let round_start_us = (self.stop_us + self.sh.plan.guard_ms * 1000)
                .saturating_sub(self.sh.plan.round_ms * 1000);
            self.pending.push_back(Pending {
                seq: self.seq,
                intended_us,
                slot,
                text,
                steady: intended_us >= round_start_us + 1_000_000,
            });
        }
        send(self.sh, ws, msg).await?;
        self.sh.counters.borrow_mut().writes += 1;
        self.k += 1;
        let next = due + self.sh.plan.write_interval_ms * 1000;
        self.next_us = (next < self.stop_us).then_some(next);
        Ok(())
    }

    fn plan_room(&self) -> usize {
        self.sh.plan.rooms[self.room].index
    }
}
