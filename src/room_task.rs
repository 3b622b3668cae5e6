//! The room actor: one task per room owning its [`Room`] engine and its connections.
//!
//! Every input (client messages, connections opening and closing, and time) goes through one
//! ordered queue, so "did this idea land before the round ended?" has exactly one answer. The
//! actor never awaits a client: it `try_send`s into each connection's bounded outbox, and a
//! connection whose outbox is full is disconnected with [`close::SLOW`] (it can resume). Each
//! broadcast is serialised once and the same bytes are shared by every recipient.
//!
//! It must not hold anything across an `.await` except its own state, and must not block.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use tungstenite::Utf8Bytes;

use crate::ids::{self, RoomCode};
use crate::metrics::{self, METRICS};
use crate::outbox::{Outbox, SendError};
use crate::protocol::{ClientMsg, ErrorCode, PhaseName, Role, ServerMsg};
use crate::room::{Command, Event, Millis, Pid, Room, RoomError};
use crate::store::{Entry, Journal};

/// WebSocket close codes the server uses. Documented in docs/protocol.md.
pub mod close {
    /// The server is restarting or shutting down: reconnect and resume.
    pub const RESTART: u16 = 1012;
    /// The client did not read its messages fast enough: reconnect and resume.
    pub const SLOW: u16 = 4008;
    /// The client sent nothing within the handshake time.
    pub const IDLE: u16 = 4000;
    /// The room no longer exists.
    pub const ROOM_GONE: u16 = 4004;
    /// The facilitator removed this participant.
    pub const REMOVED: u16 = 4003;
    /// Too many messages too fast.
    pub const RATE: u16 = 4029;
    /// A message larger than allowed.
    pub const TOO_BIG: u16 = 1009;
    /// The peer stopped answering pings.
    pub const DEAD: u16 = 4001;
    /// The server could not make the room's changes durable: reconnect to resync.
    pub const INTERNAL: u16 = 1011;
}

/// Messages taken from the queue before one journal commit and one flush.
const BATCH: usize = 256;

/// Identifies one WebSocket connection for the life of the process.
pub type ConnId = u64;

/// A message to a room actor.
#[derive(Debug)]
pub enum RoomMsg {
    /// A socket opened for this room.
    Open {
        /// The connection.
        conn: ConnId,
        /// Where to send its messages.
        outbox: Outbox,
    },
    /// A parsed message from a connection.
    Client {
        /// The sender.
        conn: ConnId,
        /// The message.
        msg: ClientMsg,
    },
    /// The socket closed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// A summary for `GET /api/rooms/{code}`.
    Info {
        /// Where to answer.
        reply: oneshot::Sender<RoomInfo>,
    },
    /// The room has expired: close every connection and stop.
    Expire,
    /// The server is shutting down: make what was accepted durable, tell every connection
    /// to reconnect (1012) and stop.
    Shutdown,
    /// The facilitator's export of the finished session.
    Export {
        /// The facilitator token presented.
        token: String,
        /// Where to answer.
        reply: oneshot::Sender<Result<crate::export::Export, ExportError>>,
    },
}

/// Why an export was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportError {
    /// Wrong facilitator token.
    Forbidden,
    /// The rounds are not over: nobody sees ideas while writing.
    NotFinished,
}

/// What `GET /api/rooms/{code}` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomInfo {
    /// The room code.
    pub code: String,
    /// The topic.
    pub topic: String,
    /// The phase.
    pub phase: PhaseName,
    /// Participants in the room.
    pub participants: u32,
    /// New joins are refused.
    pub locked: bool,
    /// When the session finished, if it has.
    #[serde(skip)]
    pub finished_at: Option<Millis>,
    /// The last time anything happened in the room.
    #[serde(skip)]
    pub last_active: Millis,
}

/// The server's clock: epoch milliseconds that never run backwards, and the conversion of a
/// deadline to a timer instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_ms: Millis,
}

impl Clock {
    /// A clock anchored at the current wall time.
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_ms,
        }
    }

    /// Now, in server epoch milliseconds.
    pub fn now(&self) -> Millis {
        self.base_ms + self.base.elapsed().as_millis() as Millis
    }

    /// The timer instant of an epoch-millisecond deadline.
    pub fn instant_of(&self, at: Millis) -> Instant {
        self.base + Duration::from_millis(at.saturating_sub(self.base_ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// One connection as the actor sees it.
#[derive(Debug)]
struct Conn {
    outbox: Outbox,
    role: Option<Attached>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attached {
    Participant(Pid),
    Facilitator,
    Board,
}

/// The actor's state.
pub struct RoomTask {
    code: RoomCode,
    room: Room,
    facilitator_hash: [u8; 32],
    conns: HashMap<ConnId, Conn>,
    clock: Clock,
    journal: Option<Journal>,
    /// Sequence number of the next journal entry.
    next_seq: u64,
    /// Accepted changes not yet durable.
    entries: Vec<(Millis, Entry)>,
    /// Frames held back until the changes they announce are durable.
    out: Vec<(ConnId, Utf8Bytes)>,
    /// Connections that failed since the last flush.
    gone: Vec<ConnId>,
    /// The deadline of a round boundary whose sheets are in `out`.
    boundary: Option<Millis>,
    /// The finish time once it has been journaled.
    finished_logged: bool,
    phase_metric: &'static str,
    last_active: Millis,
    /// Connections to close (with a code) once this batch's frames are queued.
    closing: Vec<(ConnId, u16)>,
    /// The last journal commit failed: client commands are refused until one succeeds, so
    /// the changes waiting for the journal stay bounded.
    degraded: bool,
}

/// Which messages a batch of events calls for, deduplicated.
#[derive(Default)]
struct Changes {
    state: bool,
    roster: bool,
    progress: bool,
    dealt: bool,
    revealed: bool,
    clusters: bool,
    ballots: bool,
    results: bool,
    me: Vec<Pid>,
    ballot: Vec<Pid>,
    removed: Vec<Pid>,
}

impl Changes {
    fn from_events(events: &[Event]) -> Self {
        let mut c = Changes::default();
        for e in events {
            match e {
                Event::State => c.state = true,
                Event::Roster => c.roster = true,
                Event::Progress => c.progress = true,
                Event::Dealt => c.dealt = true,
                Event::Revealed => c.revealed = true,
                Event::Clusters => c.clusters = true,
                Event::Ballots => c.ballots = true,
                Event::Results => c.results = true,
                Event::Me(p) if !c.me.contains(p) => c.me.push(*p),
                Event::Ballot(p) if !c.ballot.contains(p) => c.ballot.push(*p),
                Event::Removed(p) => c.removed.push(*p),
                Event::Me(_) | Event::Ballot(_) | Event::Joined(_) | Event::Saved { .. } => {}
            }
        }
        c
    }
}

impl RoomTask {
    /// An actor for a room; `facilitator_hash` is the SHA-256 of the facilitator token.
    /// `next_seq` is the number of journal entries the room already has.
    pub fn new(
        code: RoomCode,
        room: Room,
        facilitator_hash: [u8; 32],
        clock: Clock,
        journal: Option<Journal>,
        next_seq: u64,
    ) -> Self {
        let phase_metric = phase_label(room.phase_name());
        metrics::room_phase(None, Some(phase_metric));
        METRICS.participants.inc_by(room.participant_count() as i64);
        RoomTask {
            code,
            finished_logged: room.finished_at().is_some(),
            room,
            facilitator_hash,
            conns: HashMap::new(),
            journal,
            next_seq,
            entries: Vec::new(),
            out: Vec::new(),
            gone: Vec::new(),
            boundary: None,
            phase_metric,
            closing: Vec::new(),
            degraded: false,
            last_active: clock.now(),
            clock,
        }
    }

    /// Apply a command the server itself issues (on restore) and journal it.
    pub fn system_command(&mut self, cmd: Command) {
        let now = self.clock.now();
        self.apply(cmd, now);
    }

    /// Run until every sender is gone, the room expires, or `shutdown` fires (the hub then
    /// sends [`RoomMsg::Shutdown`] to wake it).
    ///
    /// One timer lives as long as the task and is moved only when the next deadline moves,
    /// and the shutdown token is read as a flag: neither costs a registration per message.
    pub async fn run(mut self, mut rx: mpsc::Receiver<RoomMsg>, shutdown: CancellationToken) {
        let far = || Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        'run: loop {
            if shutdown.is_cancelled() {
                break;
            }
            let deadline = self.room.next_deadline().map(|d| self.clock.instant_of(d));
            if deadline != armed {
                sleep.as_mut().reset(deadline.unwrap_or_else(far));
                armed = deadline;
            }
            let first = tokio::select! {
                biased;
                m = rx.recv() => match m {
                    Some(m) => Some(m),
                    None => break,
                },
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
                    None
                }
            };
            // Take what else is already queued, so one commit and one flush serve them all.
            let mut next = first;
            let mut taken = 0;
            loop {
                let now = self.clock.now();
                self.tick(now);
                match next.take() {
                    Some(RoomMsg::Expire) => {
                        self.expire();
                        break 'run;
                    }
                    // Committed and flushed after the loop, like everything else.
                    Some(RoomMsg::Shutdown) => break 'run,
                    Some(m) => self.on_msg(m, now),
                    None => {}
                }
                taken += 1;
                if taken >= BATCH {
                    break;
                }
                match rx.try_recv() {
                    Ok(m) => next = Some(m),
                    Err(_) => break,
                }
            }
            self.commit_and_flush().await;
        }
        // Whatever was accepted is made durable before the task ends, and its frames go out
        // before the close: on shutdown every socket is told to reconnect (1012), including
        // those still waiting to be let in.
        self.commit_and_flush().await;
        if shutdown.is_cancelled() {
            for c in self.conns.values() {
                c.outbox.close(close::RESTART);
            }
            rx.close();
            while let Ok(m) = rx.try_recv() {
                if let RoomMsg::Open { outbox, .. } = m {
                    outbox.close(close::RESTART);
                }
            }
        }
        metrics::room_phase(Some(self.phase_metric), None);
        METRICS
            .participants
            .dec_by(self.room.participant_count() as i64);
        info!("room task stopped");
    }

    fn tick(&mut self, now: Millis) {
        let deadline = self.room.next_deadline();
        let events = self.room.tick(now);
        if !events.is_empty() {
            debug!(round = self.room.round(), "round boundary");
            self.entries.push((now, Entry::Tick));
            // A boundary by the clock: time from the deadline until its frames are queued.
            self.boundary = deadline;
            self.publish(&events, now);
        }
    }

    /// Make the accepted changes durable, then send what they announce. If the journal
    /// fails, nothing is acknowledged: every client is disconnected to resync, and the
    /// changes stay queued for the next commit.
    async fn commit_and_flush(&mut self) {
        loop {
            if let (Some(j), false) = (&self.journal, self.entries.is_empty()) {
                let entries = self.entries.clone();
                let n = entries.len() as u64;
                let finished = self.room.finished_at().filter(|_| !self.finished_logged);
                match j.append(self.code, self.next_seq, entries, finished).await {
                    Ok(()) => {
                        self.next_seq += n;
                        self.entries.clear();
                        self.finished_logged |= finished.is_some();
                        if self.degraded {
                            info!("journal writable again");
                            self.degraded = false;
                        }
                    }
                    Err(e) if self.degraded => {
                        // Still failing: the waiting changes stay queued; what goes out now
                        // is refusals and pongs, which announce nothing.
                        debug!(error = %e, "journal still failing");
                    }
                    Err(e) => {
                        warn!(error = %e, "journal append failed; disconnecting clients to resync");
                        self.degraded = true;
                        self.out.clear();
                        self.boundary = None;
                        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                        for c in conns {
                            if let Some(conn) = self.conns.get(&c) {
                                conn.outbox.close(close::INTERNAL);
                            }
                            let now = self.clock.now();
                            self.detach(c, now);
                        }
                        self.out.clear();
                        return;
                    }
                }
            } else {
                self.entries.clear();
            }
            self.flush();
            if self.gone.is_empty() {
                return;
            }
            let now = self.clock.now();
            for c in std::mem::take(&mut self.gone) {
                self.detach(c, now);
            }
        }
    }

    /// Hand the held frames to their connections.
    fn flush(&mut self) {
        let n = self.out.len() as u64;
        for (conn, frame) in self.out.drain(..) {
            if self.gone.contains(&conn) {
                continue;
            }
            if let Some(c) = self.conns.get(&conn)
                && let Err(e) = c.outbox.send(frame)
            {
                if e == SendError::Slow {
                    info!(conn, "client fell behind; disconnecting");
                }
                self.gone.push(conn);
            }
        }
        METRICS.messages_out.inc_by(n);
        if let Some(d) = self.boundary.take() {
            let late = self.clock.now().saturating_sub(d);
            METRICS.round_delivery.observe(late as f64 / 1000.0);
        }
        // Closed on purpose (removed): their last frames are queued; detach them like the rest.
        for (conn, code) in std::mem::take(&mut self.closing) {
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close(code);
                if !self.gone.contains(&conn) {
                    self.gone.push(conn);
                }
            }
        }
    }

    fn expire(&mut self) {
        info!("room expired; closing its connections");
        for c in self.conns.values() {
            c.outbox.close(close::ROOM_GONE);
        }
        self.conns.clear();
    }

    fn on_msg(&mut self, msg: RoomMsg, now: Millis) {
        match msg {
            RoomMsg::Open { conn, outbox } => {
                self.conns.insert(conn, Conn { outbox, role: None });
            }
            RoomMsg::Closed { conn } => self.detach(conn, now),
            RoomMsg::Info { reply } => {
                let _ = reply.send(RoomInfo {
                    code: self.code.to_string(),
                    topic: self.room.settings().topic.clone(),
                    phase: self.room.phase_name(),
                    participants: self.room.participant_count() as u32,
                    locked: self.room.locked(),
                    finished_at: self.room.finished_at(),
                    last_active: self.last_active,
                });
            }
            RoomMsg::Expire => self.expire(),
            // Handled by `run`, which stops the task.
            RoomMsg::Shutdown => {}
            RoomMsg::Export { token, reply } => {
                let _ = reply.send(self.export(&token));
            }
            RoomMsg::Client { conn, msg } => {
                self.last_active = now;
                self.on_client(conn, msg, now)
            }
        }
    }

    fn detach(&mut self, conn: ConnId, now: Millis) {
        if let Some(Conn {
            role: Some(Attached::Participant(pid)),
            ..
        }) = self.conns.remove(&conn)
        {
            self.apply(Command::Disconnect(pid), now);
        }
    }

    fn on_client(&mut self, conn: ConnId, msg: ClientMsg, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let role = c.role;
        if self.degraded && !matches!(msg, ClientMsg::Ping {}) {
            // Nothing new is accepted while the journal cannot keep it; each refusal also
            // lets the actor try the waiting changes again.
            metrics::rejected(ErrorCode::Unavailable.as_str());
            self.send_to(
                conn,
                &ServerMsg::Error {
                    code: ErrorCode::Unavailable,
                    message: "the server cannot store changes right now; try again shortly"
                        .to_owned(),
                    seq: match &msg {
                        ClientMsg::Write { seq, .. } => *seq,
                        _ => None,
                    },
                },
            );
            return;
        }
        let result = match (role, msg) {
            (_, ClientMsg::Ping {}) => {
                self.send_to(conn, &ServerMsg::Pong { now });
                Ok(())
            }
            (None, ClientMsg::Join { name, token }) => self.join(conn, name, token, now),
            (None, ClientMsg::Facilitate { token }) => {
                if ids::token_matches(&token, &self.facilitator_hash) {
                    self.attach(conn, Attached::Facilitator, now);
                    Ok(())
                } else {
                    Err((ErrorCode::Forbidden, "wrong facilitator token".to_owned()))
                }
            }
            (None, ClientMsg::Watch {}) => {
                self.attach(conn, Attached::Board, now);
                Ok(())
            }
            (
                Some(_),
                ClientMsg::Join { .. } | ClientMsg::Facilitate { .. } | ClientMsg::Watch {},
            ) => Err((
                ErrorCode::AlreadyStarted,
                "this connection already has a role; open a new one for another".to_owned(),
            )),
            (None, _) => Err((
                ErrorCode::NotJoined,
                "send join, facilitate or watch first".to_owned(),
            )),
            (
                Some(Attached::Participant(pid)),
                ClientMsg::Write {
                    slot,
                    text,
                    round,
                    seq,
                    builds_on,
                },
            ) => {
                let cmd = Command::Write {
                    pid,
                    slot,
                    text,
                    round,
                    builds_on,
                };
                match self.exec(cmd, now) {
                    Ok(events) => {
                        self.send_to(
                            conn,
                            &ServerMsg::Ack {
                                seq,
                                round: self.room.round(),
                                slot,
                            },
                        );
                        self.publish(&events, now);
                        Ok(())
                    }
                    Err(e) => {
                        self.send_error(conn, &e, seq);
                        return;
                    }
                }
            }
            (Some(Attached::Participant(pid)), ClientMsg::Done { round }) => {
                self.command(Command::Done { pid, round }, now)
            }
            (Some(Attached::Participant(pid)), ClientMsg::Leave {}) => {
                self.command(Command::Leave(pid), now)
            }
            (Some(Attached::Participant(pid)), ClientMsg::Vote { idea }) => {
                self.command(Command::Vote { pid, idea }, now)
            }
            (Some(Attached::Participant(pid)), ClientMsg::Unvote { idea }) => {
                self.command(Command::Unvote { pid, idea }, now)
            }
            (Some(Attached::Facilitator), m) => match facilitator_command(m) {
                Some(cmd) => self.command(cmd, now),
                None => Err((
                    ErrorCode::Forbidden,
                    "the facilitator does not write ideas".to_owned(),
                )),
            },
            (Some(Attached::Participant(_) | Attached::Board), m) => Err((
                ErrorCode::Forbidden,
                format!(
                    "{} may not send {}",
                    if matches!(role, Some(Attached::Board)) {
                        "a board"
                    } else {
                        "a participant"
                    },
                    m.name()
                ),
            )),
        };
        if let Err((code, message)) = result {
            metrics::rejected(code.as_str());
            self.send_to(
                conn,
                &ServerMsg::Error {
                    code,
                    message,
                    seq: None,
                },
            );
        }
    }

    /// Apply a command to the engine and, when accepted, queue it for the journal.
    fn exec(&mut self, cmd: Command, now: Millis) -> Result<Vec<Event>, RoomError> {
        let copy = self.journal.as_ref().map(|_| cmd.clone());
        let events = self.room.handle(cmd, now)?;
        if let Some(c) = copy {
            self.entries.push((now, Entry::Cmd(c)));
        }
        Ok(events)
    }

    /// Apply a command on behalf of a client; a refusal goes back to it.
    fn command(&mut self, cmd: Command, now: Millis) -> Result<(), (ErrorCode, String)> {
        match self.exec(cmd, now) {
            Ok(events) => {
                self.publish(&events, now);
                Ok(())
            }
            Err(e) => Err((error_code(&e), e.to_string())),
        }
    }

    /// Apply a command that cannot be refused in normal operation; log if it is.
    fn apply(&mut self, cmd: Command, now: Millis) {
        match self.exec(cmd, now) {
            Ok(events) => self.publish(&events, now),
            Err(e) => warn!(error = %e, "internal command refused"),
        }
    }

    fn join(
        &mut self,
        conn: ConnId,
        name: Option<String>,
        token: Option<String>,
        now: Millis,
    ) -> Result<(), (ErrorCode, String)> {
        let (pid, token) = match token {
            Some(token) => match self.room.find_by_token(&ids::hash_token(&token)) {
                Some(pid) if self.room.is_removed(pid) => {
                    // Say so, and close like the removal did, so the page stops trying.
                    self.send_to(
                        conn,
                        &ServerMsg::Error {
                            code: ErrorCode::Removed,
                            message: "the facilitator removed you from this session".to_owned(),
                            seq: None,
                        },
                    );
                    // The error goes out first: close after this batch's flush.
                    self.closing.push((conn, close::REMOVED));
                    return Ok(());
                }
                Some(pid) => (pid, token),
                None => {
                    return Err((
                        ErrorCode::Forbidden,
                        "unknown resume token for this room; join without a token".to_owned(),
                    ));
                }
            },
            None => {
                let token = ids::new_token();
                let cmd = Command::Join {
                    token_hash: ids::hash_token(&token),
                    name,
                };
                let events = self
                    .exec(cmd, now)
                    .map_err(|e| (error_code(&e), e.to_string()))?;
                METRICS.participants.inc();
                let Some(pid) = events.iter().find_map(|e| match e {
                    Event::Joined(p) => Some(*p),
                    _ => None,
                }) else {
                    return Err((ErrorCode::BadMessage, "join did not seat".to_owned()));
                };
                self.publish(&events, now);
                (pid, token)
            }
        };
        self.send_to(
            conn,
            &ServerMsg::Welcome {
                role: Role::Participant,
                participant_id: self.room.participant_id(pid).map(str::to_owned),
                token: Some(token),
                name: self.room.participant_name(pid).map(str::to_owned),
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Some(Attached::Participant(pid));
        }
        // Connect broadcasts the new state, this connection included: subscribe, then snapshot.
        self.apply(Command::Connect(pid), now);
        self.send_me(pid);
        self.send_sheet(pid);
        self.send_decide_snapshot(conn, Some(pid));
        Ok(())
    }

    fn attach(&mut self, conn: ConnId, who: Attached, now: Millis) {
        let role = match who {
            Attached::Facilitator => Role::Facilitator,
            _ => Role::Board,
        };
        self.send_to(
            conn,
            &ServerMsg::Welcome {
                role,
                participant_id: None,
                token: None,
                name: None,
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Some(who);
        }
        self.send_to(
            conn,
            &ServerMsg::Room(self.room.view(self.code.as_str(), now)),
        );
        if who == Attached::Facilitator {
            self.send_to(
                conn,
                &ServerMsg::Roster {
                    participants: self.room.roster(),
                },
            );
        }
        self.send_to(conn, &ServerMsg::Progress(self.room.progress()));
        self.send_decide_snapshot(conn, None);
    }

    /// Turn events into messages, each serialised once.
    fn publish(&mut self, events: &[Event], now: Millis) {
        let ch = Changes::from_events(events);
        let phase = phase_label(self.room.phase_name());
        if phase != self.phase_metric {
            metrics::room_phase(Some(self.phase_metric), Some(phase));
            self.phase_metric = phase;
        }
        if ch.state {
            let frame = frame(&ServerMsg::Room(self.room.view(self.code.as_str(), now)));
            self.broadcast(&frame, |_| true);
        }
        // `me` only where it changed; at a boundary everyone holding a sheet gets it.
        for pid in ch.me {
            self.send_me(pid);
        }
        if ch.dealt {
            let everyone: Vec<Pid> = self.room.pids().collect();
            for pid in everyone {
                self.send_sheet(pid);
            }
        }
        if ch.progress {
            let frame = frame(&ServerMsg::Progress(self.room.progress()));
            self.broadcast(&frame, |a| {
                matches!(a, Attached::Facilitator | Attached::Board)
            });
        }
        if ch.roster {
            let frame = frame(&ServerMsg::Roster {
                participants: self.room.roster(),
            });
            self.broadcast(&frame, |a| a == Attached::Facilitator);
        }
        if ch.revealed
            && let Some(sheets) = self.room.reveal()
        {
            let frame = frame(&ServerMsg::Reveal { sheets });
            self.broadcast(&frame, |_| true);
        }
        if ch.clusters
            && let Some(msg) = self.clusters_msg()
        {
            self.broadcast(&frame(&msg), |_| true);
        }
        if ch.ballots {
            let everyone: Vec<Pid> = self.room.pids().collect();
            for pid in everyone {
                self.send_ballot(pid);
            }
        } else {
            for pid in ch.ballot {
                self.send_ballot(pid);
            }
        }
        if ch.results
            && let Some(ideas) = self.room.results()
        {
            self.broadcast(&frame(&ServerMsg::Results { ideas }), |_| true);
        }
        for pid in ch.removed {
            // Gone for good: close its sockets (after this batch's frames) with 4003.
            let conns: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| c.role == Some(Attached::Participant(pid)))
                .map(|(id, _)| *id)
                .collect();
            self.closing
                .extend(conns.into_iter().map(|id| (id, close::REMOVED)));
        }
    }

    fn send_me(&mut self, pid: Pid) {
        if let Some((seated, done, left)) = self.room.me(pid) {
            let f = frame(&ServerMsg::Me { seated, done, left });
            self.broadcast(&f, |a| a == Attached::Participant(pid));
        }
    }

    fn send_ballot(&mut self, pid: Pid) {
        if let Some((votes_left, per_idea, mine)) = self.room.ballot(pid) {
            let f = frame(&ServerMsg::Ballot {
                votes_left,
                per_idea,
                mine,
            });
            self.broadcast(&f, |a| a == Attached::Participant(pid));
        }
    }

    fn export(&self, token: &str) -> Result<crate::export::Export, ExportError> {
        if !ids::token_matches(token, &self.facilitator_hash) {
            return Err(ExportError::Forbidden);
        }
        let sheets = self.room.reveal().ok_or(ExportError::NotFinished)?;
        let (clusters, merged) = self.room.clusters().unwrap_or_default();
        let settings = self.room.settings();
        Ok(crate::export::Export {
            code: self.code.to_string(),
            topic: settings.topic.clone(),
            goal: settings.goal.clone(),
            outcomes: settings.outcomes.clone(),
            ideas_per_round: settings.ideas_per_round,
            sheets,
            clusters,
            merged,
            results: self.room.results(),
        })
    }

    fn clusters_msg(&self) -> Option<ServerMsg> {
        self.room
            .clusters()
            .map(|(clusters, merged)| ServerMsg::Clusters { clusters, merged })
    }

    /// The after-the-rounds state a (re)joining connection needs.
    fn send_decide_snapshot(&mut self, conn: ConnId, pid: Option<Pid>) {
        if let Some(sheets) = self.room.reveal() {
            self.send_to(conn, &ServerMsg::Reveal { sheets });
        }
        if let Some(msg) = self.clusters_msg() {
            self.send_to(conn, &msg);
        }
        if let Some(pid) = pid
            && let Some((votes_left, per_idea, mine)) = self.room.ballot(pid)
        {
            self.send_to(
                conn,
                &ServerMsg::Ballot {
                    votes_left,
                    per_idea,
                    mine,
                },
            );
        }
        if let Some(ideas) = self.room.results() {
            self.send_to(conn, &ServerMsg::Results { ideas });
        }
    }

    fn send_sheet(&mut self, pid: Pid) {
        if let Some((sheet, draft, links)) = self.room.held_sheet(pid) {
            let f = frame(&ServerMsg::Sheet {
                round: self.room.round(),
                sheet,
                draft,
                links,
            });
            self.broadcast(&f, |a| a == Attached::Participant(pid));
        }
    }

    fn send_error(&mut self, conn: ConnId, e: &RoomError, seq: Option<u64>) {
        metrics::rejected(error_code(e).as_str());
        self.send_to(
            conn,
            &ServerMsg::Error {
                code: error_code(e),
                message: e.to_string(),
                seq,
            },
        );
    }

    /// Queue one message for one connection (sent at the next flush).
    fn send_to(&mut self, conn: ConnId, msg: &ServerMsg) {
        if self.conns.contains_key(&conn) {
            self.out.push((conn, frame(msg)));
        }
    }

    /// Queue the same bytes for every attached connection whose role passes `to`.
    fn broadcast(&mut self, frame: &Utf8Bytes, to: impl Fn(Attached) -> bool) {
        for (&id, c) in &self.conns {
            if let Some(a) = c.role
                && to(a)
            {
                self.out.push((id, frame.clone()));
            }
        }
    }
}

fn phase_label(p: PhaseName) -> &'static str {
    match p {
        PhaseName::Lobby => "lobby",
        PhaseName::Writing => "writing",
        PhaseName::Paused => "paused",
        PhaseName::Finished => "finished",
    }
}

fn frame(msg: &ServerMsg) -> Utf8Bytes {
    Utf8Bytes::from(msg.to_json())
}

fn facilitator_command(m: ClientMsg) -> Option<Command> {
    Some(match m {
        ClientMsg::Start {} => Command::Start,
        ClientMsg::Pause {} => Command::Pause,
        ClientMsg::Resume {} => Command::Resume,
        ClientMsg::Advance {} => Command::Advance,
        ClientMsg::Finish {} => Command::Finish,
        ClientMsg::Extend { seconds } => Command::Extend(seconds),
        ClientMsg::Remove { participant } => Command::Remove(participant),
        ClientMsg::Lock {} => Command::Lock,
        ClientMsg::Unlock {} => Command::Unlock,
        ClientMsg::Present { sheet } => Command::Present(sheet),
        ClientMsg::OpenVoting { votes, per_idea } => Command::OpenVoting {
            votes: votes.unwrap_or(3),
            per_idea: per_idea.unwrap_or(1),
        },
        ClientMsg::CloseVoting {} => Command::CloseVoting,
        ClientMsg::Cluster { id, name } => Command::Cluster { id, name },
        ClientMsg::DeleteCluster { cluster } => Command::DeleteCluster(cluster),
        ClientMsg::Assign { idea, cluster } => Command::Assign { idea, cluster },
        ClientMsg::Merge { idea, into } => Command::Merge { idea, into },
        _ => return None,
    })
}

/// The wire code of an engine refusal.
pub fn error_code(e: &RoomError) -> ErrorCode {
    match e {
        RoomError::NotWriting(_) => ErrorCode::NotWriting,
        RoomError::InvalidSlot { .. } => ErrorCode::InvalidSlot,
        RoomError::TooLong { what: "idea", .. } => ErrorCode::TooLong,
        RoomError::TooLong { .. } | RoomError::InvalidValue(_) => ErrorCode::InvalidValue,
        RoomError::AlreadyStarted => ErrorCode::AlreadyStarted,
        RoomError::NotEnoughParticipants(_) => ErrorCode::NotEnoughParticipants,
        RoomError::WrongPhase(_) => ErrorCode::WrongPhase,
        RoomError::Finished => ErrorCode::Finished,
        RoomError::RoomFull(_) => ErrorCode::RoomFull,
        RoomError::UnknownParticipant => ErrorCode::UnknownParticipant,
        RoomError::Locked => ErrorCode::Locked,
        RoomError::UnknownIdea(_) => ErrorCode::UnknownIdea,
        RoomError::UnknownCluster(_) => ErrorCode::UnknownCluster,
        RoomError::OwnIdea => ErrorCode::OwnIdea,
        RoomError::NoVotesLeft(_) => ErrorCode::NoVotesLeft,
        RoomError::IdeaCap(_) => ErrorCode::IdeaCap,
        RoomError::NotVoting => ErrorCode::NotVoting,
    }
}
