//! One room's live session, synchronously: the engine plus the connection rules around it.
//!
//! It owns who is connected in which role (join, resume, facilitate, watch), what each
//! client message becomes ([`ClientMsg`] → [`Command`]), the acks and refusals, the degraded
//! mode after a failed journal commit, and *what each recipient gets*: every change the
//! engine reports is rendered here into frames, each serialised once and shared. It queues
//! the accepted commands for the journal and the frames for the sockets, and hands both to
//! the actor's loop ([`super::RoomTask`]), which does the waiting: this module never awaits,
//! never touches a socket or a timer, and needs no runtime, so its rules are plain unit tests.
//!
//! The loop's contract: after a batch of calls, write [`Session::entries`] to the journal and
//! call [`Session::committed`] (or [`Session::journal_failed`]) *before* handing out
//! [`Session::take_frames`], so nothing is announced that is not durable.

use std::collections::HashMap;

use tracing::{debug, info, warn};
use tungstenite::Utf8Bytes;

use crate::export::Export;
use crate::ids::{self, RoomCode};
use crate::metrics::{self, METRICS};
use crate::protocol::{ClientMsg, ErrorCode, PhaseName, Role, ServerMsg, close};
use crate::room::{Command, DrawStroke, Event, Millis, Pid, Room, RoomError, WriteSlot};
use crate::store::Entry;

/// Identifies one WebSocket connection for the life of the process.
pub type ConnId = u64;

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
    /// The method.
    pub method: crate::room::Method,
    /// Participants in the room.
    pub participants: u32,
    /// New joins are refused.
    pub locked: bool,
    /// The room's language, if the facilitator set one (a phone shows the join screen in
    /// it unless its person chose another).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// When the session finished, if it has.
    #[serde(skip)]
    pub finished_at: Option<Millis>,
    /// The last time anything happened in the room.
    #[serde(skip)]
    pub last_active: Millis,
}

/// The role a connection took with its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attached {
    Participant(Pid),
    Facilitator,
    Board,
}

/// A refusal to send back to the client that caused it.
type Refusal = (ErrorCode, String);

/// The shortest time between two broadcasts of one kind of frame (`room`, `roster`,
/// `progress`) whose news is only counts: at most ten a second.
pub const COALESCE_MS: Millis = 100;

/// Rooms with more connections than this fold their count-only broadcasts. In a smaller
/// room a burst is at most a few dozen frames, cheaper to send at once than to wake the
/// actor again for (measured: folding in rooms of 8 — six writers, a facilitator and a
/// board — cut frames by a third and cost more CPU than it saved, for the extra timer
/// wake-ups). Above it, the first joiners of a big room get at most two frames per join
/// of the first eight, then the folded ones (≤ 30 over the joins of 2,000: benches/big_room).
pub const FOLD_ABOVE: usize = 8;

/// At most one broadcast of a kind per [`COALESCE_MS`]: the first change goes out at once;
/// later ones inside the interval are folded into one sent when it ends, with the counts as
/// they are then. A change of `key` (phase, round, deadline…) always goes out at once.
#[derive(Debug)]
struct Gate<K> {
    sent: Option<(Millis, K)>,
    pending: bool,
}

impl<K: PartialEq> Gate<K> {
    const fn new() -> Self {
        Gate {
            sent: None,
            pending: false,
        }
    }

    /// May a change with `key` be broadcast now? If not, it is owed at [`Gate::due`].
    /// Without `fold` it always may.
    fn pass(&mut self, now: Millis, key: K, fold: bool) -> bool {
        let open = match &self.sent {
            _ if !fold => true,
            None => true,
            Some((at, k)) => *k != key || now >= at + COALESCE_MS,
        };
        if open {
            self.sent = Some((now, key));
            self.pending = false;
        } else {
            self.pending = true;
        }
        open
    }

    /// The last broadcast was re-rendered with `key`: later changes compare with it.
    fn rekey(&mut self, key: K) {
        if let Some((_, k)) = &mut self.sent {
            *k = key;
        }
    }

    /// When the folded broadcast is owed, if one is.
    fn due(&self) -> Option<Millis> {
        match (&self.sent, self.pending) {
            (Some((at, _)), true) => Some(at + COALESCE_MS),
            _ => None,
        }
    }

    /// Take the owed broadcast if it is due at `now`.
    fn take_due(&mut self, now: Millis) -> bool {
        let due = self.due().is_some_and(|d| now >= d);
        if due {
            self.pending = false;
            if let Some((at, _)) = &mut self.sent {
                *at = now;
            }
        }
        due
    }
}

/// The state broadcast's key: a change of it goes out at once.
type StateKey = crate::room::view::ViewKey;

/// One room's engine and connections; see the module documentation.
pub struct Session {
    code: RoomCode,
    room: Room,
    facilitator_hash: [u8; 32],
    /// Every open connection, with its role once it has one.
    conns: HashMap<ConnId, Option<Attached>>,
    /// The connections of each participant (the same as in `conns`), so that a frame for
    /// one participant costs a lookup, not a walk over the room: a boundary sends one to
    /// each of up to 2,000.
    by_pid: HashMap<Pid, Vec<ConnId>>,
    /// Accepted commands are recorded for a journal (false in memory).
    journaled: bool,
    /// Accepted changes not yet durable.
    entries: Vec<(Millis, Entry)>,
    /// Frames held back until the changes they announce are durable: participants' first,
    /// then the facilitator's and boards' (`late`), so a boundary reaches the writers first.
    /// A connection's frames stay in order: it moves from `out` to `late` once, when it
    /// becomes a facilitator or a board, and `out` always leaves first.
    out: Vec<(ConnId, Utf8Bytes)>,
    late: Vec<(ConnId, Utf8Bytes)>,
    /// Broadcasts folded to at most one per interval.
    state_gate: Gate<StateKey>,
    roster_gate: Gate<()>,
    progress_gate: Gate<u32>,
    /// Connections to close (with a code) once this batch's frames are queued.
    closing: Vec<(ConnId, u16)>,
    /// Connections that became a facilitator or a board in this batch: their outboxes are
    /// widened before their frames are queued.
    promoted: Vec<ConnId>,
    /// The deadline of a round boundary whose sheets are in `out`.
    boundary: Option<Millis>,
    /// Journaled only: when the round's clock was last set in this batch (a start, a
    /// boundary, a resume). Its sheets and state go out only after the commit, so at
    /// [`Session::committed`] the clock is moved on by the commit's delay: a round runs its
    /// full length from the moment its people can see it, as it does in memory.
    clock_set: Option<Millis>,
    /// Journaled only: the room-state frames queued in this batch, which carry the deadline
    /// and are re-rendered if [`Session::committed`] moves it.
    views: Vec<Utf8Bytes>,
    /// The finish time once it has been journaled.
    finished_logged: bool,
    /// The last journal commit failed: client commands are refused until one succeeds, so
    /// the changes waiting for the journal stay bounded.
    degraded: bool,
    phase_metric: &'static str,
    last_active: Millis,
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
    handed: Vec<Pid>,
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
                Event::Me(p) => c.me.push(*p),
                Event::Ballot(p) => c.ballot.push(*p),
                Event::Removed(p) => c.removed.push(*p),
                Event::Handed(p) => c.handed.push(*p),
                Event::Joined(_) | Event::Saved { .. } => {}
            }
        }
        // Each once (a boundary names all 2,000 of a big room).
        for pids in [&mut c.me, &mut c.ballot] {
            pids.sort_unstable();
            pids.dedup();
        }
        c
    }
}

impl Session {
    /// A session around `room`; `facilitator_hash` is the SHA-256 of the facilitator token.
    /// With `journaled`, every accepted command is queued in [`Session::entries`].
    pub fn new(
        code: RoomCode,
        room: Room,
        facilitator_hash: [u8; 32],
        journaled: bool,
        now: Millis,
    ) -> Self {
        let phase_metric = room.phase_name().into();
        metrics::room_phase(None, Some(phase_metric));
        METRICS.participants.inc_by(room.participant_count() as i64);
        Session {
            code,
            finished_logged: room.finished_at().is_some(),
            room,
            facilitator_hash,
            conns: HashMap::new(),
            by_pid: HashMap::new(),
            journaled,
            entries: Vec::new(),
            out: Vec::new(),
            late: Vec::new(),
            state_gate: Gate::new(),
            roster_gate: Gate::new(),
            progress_gate: Gate::new(),
            closing: Vec::new(),
            promoted: Vec::new(),
            boundary: None,
            clock_set: None,
            views: Vec::new(),
            degraded: false,
            phase_metric,
            last_active: now,
        }
    }

    /// The engine, read-only (for tests: the loop asks only for what it needs).
    #[cfg(test)]
    pub(crate) fn room(&self) -> &Room {
        &self.room
    }

    /// A socket opened: it has no role until its first message.
    pub fn open(&mut self, conn: ConnId) {
        self.conns.insert(conn, None);
    }

    /// A socket closed, or was given up: a participant's seat is marked disconnected.
    pub fn closed(&mut self, conn: ConnId, now: Millis) {
        if let Some(Some(Attached::Participant(pid))) = self.conns.remove(&conn) {
            if let Some(theirs) = self.by_pid.get_mut(&pid) {
                theirs.retain(|&c| c != conn);
                if theirs.is_empty() {
                    self.by_pid.remove(&pid);
                }
            }
            self.apply(Command::Disconnect(pid), now);
        }
    }

    /// When the session next needs [`Session::tick`]: the round's deadline, or a folded
    /// broadcast that is owed.
    pub fn next_wakeup(&self) -> Option<Millis> {
        [
            self.room.next_deadline(),
            self.state_gate.due(),
            self.roster_gate.due(),
            self.progress_gate.due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed: apply a round boundary if one is due, and send folded broadcasts that
    /// are owed.
    pub fn tick(&mut self, now: Millis) {
        let deadline = self.room.next_deadline();
        let events = self.room.tick(now);
        self.note_clock(deadline, now);
        if !events.is_empty() {
            debug!(round = self.room.round(), "round boundary");
            if self.journaled {
                self.entries.push((now, Entry::Tick));
            }
            // A boundary by the clock: time from the deadline until its frames are queued.
            self.boundary = deadline;
            self.publish(&events, now);
        }
        if self.state_gate.take_due(now) {
            self.broadcast_state(now);
        }
        if self.roster_gate.take_due(now) {
            self.broadcast_roster();
        }
        if self.progress_gate.take_due(now) {
            self.broadcast_progress();
        }
    }

    /// Apply a command the server itself issues (on restore); it is journaled like any other.
    pub fn system_command(&mut self, cmd: Command, now: Millis) {
        self.apply(cmd, now);
    }

    /// What `GET /api/rooms/{code}` shows.
    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            code: self.code.to_string(),
            topic: self.room.settings().topic.clone(),
            phase: self.room.phase_name(),
            method: self.room.method(),
            participants: self.room.participant_count() as u32,
            language: self.room.settings().language.clone(),
            locked: self.room.locked(),
            finished_at: self.room.finished_at(),
            last_active: self.last_active,
        }
    }

    /// The facilitator's export of the finished session.
    pub fn export(&self, token: &str) -> Result<Export, ExportError> {
        if !ids::token_matches(token, &self.facilitator_hash) {
            return Err(ExportError::Forbidden);
        }
        let sheets = self.room.reveal().ok_or(ExportError::NotFinished)?;
        let clusters = self.room.clusters().unwrap_or_default();
        let settings = self.room.settings();
        Ok(Export {
            code: self.code.to_string(),
            method: settings.method,
            topic: settings.topic.clone(),
            goal: settings.goal.clone(),
            outcomes: settings.outcomes.clone(),
            ideas_per_round: settings.ideas_per_round,
            sheets,
            clusters: clusters.clusters,
            merged: clusters.merged,
            results: self.room.results(),
            language: settings.language.clone(),
        })
    }

    // ---- the durability hand-off with the loop ----

    /// Accepted changes waiting to be made durable, and the finish time if it has not been
    /// journaled yet.
    pub fn entries(&self) -> (&[(Millis, Entry)], Option<Millis>) {
        let finished = self.room.finished_at().filter(|_| !self.finished_logged);
        (&self.entries, finished)
    }

    /// The waiting changes are durable at `now`: the frames announcing them may go out.
    ///
    /// If this batch set the round's clock, the round starts now, when its people are told,
    /// not when it was decided before the commit: the deadline moves on by the commit's
    /// delay, the room-state frames are rendered again with it, and the new deadline is
    /// queued as [`Entry::Deadline`] for the next commit. That it is durable later is safe:
    /// anything accepted under the moved deadline is journaled after it, so a replay that
    /// lacks it lacks those too (and only gives the round that much less time back).
    pub fn committed(&mut self, now: Millis) {
        self.entries.clear();
        self.finished_logged |= self.room.finished_at().is_some();
        if self.degraded {
            info!("journal writable again");
            self.degraded = false;
        }
        let views = std::mem::take(&mut self.views);
        let Some(set) = self.clock_set.take() else {
            return;
        };
        let Some(deadline) = self.room.next_deadline() else {
            return;
        };
        if now <= set || !self.room.set_deadline(deadline + (now - set)) {
            return;
        }
        let moved = deadline + (now - set);
        self.entries.push((now, Entry::Deadline(moved)));
        let view = self.room.view(self.code.as_str(), now);
        self.state_gate.rekey(StateKey::of(&view));
        let fresh = frame(&ServerMsg::Room(view));
        for (_, f) in self.out.iter_mut().chain(self.late.iter_mut()) {
            if views
                .iter()
                .any(|v| v.as_str().as_ptr() == f.as_str().as_ptr())
            {
                *f = fresh.clone();
            }
        }
    }

    /// The journal refused the waiting changes. The first failure announces nothing: every
    /// held frame is dropped and every connection is returned, to be closed with
    /// [`close::INTERNAL`] so its client resyncs; the changes stay queued for the next
    /// commit, and client commands are refused until one succeeds. A failure while already
    /// degraded keeps the frames (refusals and pongs, which announce nothing) and closes
    /// nobody.
    pub fn journal_failed(&mut self, error: &dyn std::fmt::Display, now: Millis) -> Vec<ConnId> {
        if self.degraded {
            debug!(%error, "journal still failing");
            return Vec::new();
        }
        warn!(%error, "journal append failed; disconnecting clients to resync");
        self.degraded = true;
        self.out.clear();
        self.late.clear();
        self.boundary = None;
        self.clock_set = None;
        self.views.clear();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for &c in &conns {
            self.closed(c, now);
        }
        // Detaching announced the disconnects; nobody is left to hear them.
        self.out.clear();
        self.late.clear();
        conns
    }

    /// The frames to hand to their connections, in order: participants' first.
    pub fn take_frames(&mut self) -> impl Iterator<Item = (ConnId, Utf8Bytes)> + '_ {
        self.views.clear();
        self.out.drain(..).chain(self.late.drain(..))
    }

    /// Connections that became a facilitator or a board since the last call.
    pub fn take_promoted(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.promoted)
    }

    /// Connections to close, with their codes, once this batch's frames are queued.
    pub fn take_closing(&mut self) -> Vec<(ConnId, u16)> {
        std::mem::take(&mut self.closing)
    }

    /// The deadline of the round boundary whose frames were just taken, if any.
    pub fn take_boundary(&mut self) -> Option<Millis> {
        self.boundary.take()
    }

    // ---- client messages ----

    /// A parsed message from a connection: applied, acknowledged or refused.
    pub fn client(&mut self, conn: ConnId, msg: ClientMsg, now: Millis) {
        let Some(&role) = self.conns.get(&conn) else {
            return;
        };
        self.last_active = now;
        if self.degraded && !matches!(msg, ClientMsg::Ping {}) {
            // Nothing new is accepted while the journal cannot keep it; each refusal also
            // lets the loop try the waiting changes again.
            let seq = match &msg {
                ClientMsg::Write { seq, .. } => *seq,
                _ => None,
            };
            let message = "the server cannot store changes right now; try again shortly";
            self.refuse(conn, (ErrorCode::Unavailable, message.to_owned()), seq);
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
                msg @ (ClientMsg::Write { .. }
                | ClientMsg::Draw { .. }
                | ClientMsg::Undo { .. }
                | ClientMsg::Swap { .. }),
            ) => {
                self.write(conn, pid, msg, now);
                Ok(())
            }
            (Some(Attached::Participant(pid)), m) => match participant_command(pid, m) {
                Ok(cmd) => self.command(cmd, now),
                Err(m) => Err(forbidden("a participant", &m)),
            },
            (Some(Attached::Facilitator), m) => match facilitator_command(m) {
                Some(cmd) => self.command(cmd, now),
                None => Err((
                    ErrorCode::Forbidden,
                    "the facilitator does not write ideas".to_owned(),
                )),
            },
            (Some(Attached::Board), m) => Err(forbidden("a board", &m)),
        };
        if let Err(refusal) = result {
            self.refuse(conn, refusal, None);
        }
    }

    /// A participant's `write`, `draw`, `undo` or `swap`: acknowledged with its `seq`, or
    /// refused with it.
    fn write(&mut self, conn: ConnId, pid: Pid, msg: ClientMsg, now: Millis) {
        let (cmd, seq, slot) = match msg {
            ClientMsg::Write {
                slot,
                text,
                round,
                seq,
                builds_on,
                sheet,
            } => {
                let w = WriteSlot {
                    pid,
                    slot,
                    text,
                    round,
                    builds_on,
                    sheet,
                };
                (Command::Write(w), seq, slot)
            }
            ClientMsg::Draw {
                points,
                round,
                sheet,
                seq,
            } => {
                let d = DrawStroke {
                    pid,
                    points,
                    round,
                    sheet,
                };
                (Command::Draw(d), seq, 0)
            }
            ClientMsg::Undo { round, sheet, seq } => (Command::Undo { pid, round, sheet }, seq, 0),
            ClientMsg::Swap { sheet, seq } => (Command::Swap { pid, sheet }, seq, 0),
            _ => return,
        };
        let sketching = matches!(cmd, Command::Draw(_) | Command::Undo { .. });
        match self.exec(cmd, now) {
            Ok(events) => {
                let round = self.room.round();
                let strokes = if sketching {
                    self.room.strokes(pid)
                } else {
                    None
                };
                let ack = ServerMsg::Ack {
                    seq,
                    round,
                    slot,
                    strokes,
                };
                self.send_to(conn, &ack);
                self.publish(&events, now);
            }
            Err(e) => self.refuse(conn, refusal(&e), seq),
        }
    }

    fn refuse(&mut self, conn: ConnId, (code, message): Refusal, seq: Option<u64>) {
        metrics::rejected(code.as_str());
        self.send_to(conn, &ServerMsg::Error { code, message, seq });
    }

    /// Apply a command to the engine and, when accepted, queue it for the journal.
    fn exec(&mut self, cmd: Command, now: Millis) -> Result<Vec<Event>, RoomError> {
        let copy = self.journaled.then(|| cmd.clone());
        let deadline = self.room.next_deadline();
        let events = self.room.handle(cmd, now)?;
        if let Some(c) = copy {
            self.entries.push((now, Entry::Cmd(c)));
        }
        self.note_clock(deadline, now);
        Ok(events)
    }

    /// Journaled: remember that the round's clock was set at `now` if the deadline moved
    /// from `before` to a new one.
    fn note_clock(&mut self, before: Option<Millis>, now: Millis) {
        if self.journaled {
            let after = self.room.next_deadline();
            if after.is_some() && after != before {
                self.clock_set = Some(now);
            }
        }
    }

    /// Apply a command on behalf of a client; a refusal goes back to it.
    fn command(&mut self, cmd: Command, now: Millis) -> Result<(), Refusal> {
        let events = self.exec(cmd, now).map_err(|e| refusal(&e))?;
        self.publish(&events, now);
        Ok(())
    }

    /// Apply a command that cannot be refused in normal operation; log if it is.
    fn apply(&mut self, cmd: Command, now: Millis) {
        match self.exec(cmd, now) {
            Ok(events) => self.publish(&events, now),
            Err(e) => warn!(error = %e, "internal command refused"),
        }
    }

    /// `join`: a new seat, or with a token the seat it resumes.
    fn join(
        &mut self,
        conn: ConnId,
        name: Option<String>,
        token: Option<String>,
        now: Millis,
    ) -> Result<(), Refusal> {
        let (pid, token) = match token {
            Some(token) => match self.room.find_by_token(&ids::hash_token(&token)) {
                Some(pid) if self.room.is_removed(pid) => {
                    // Say so, and close like the removal did, so the page stops trying.
                    let message = "the facilitator removed you from this session";
                    self.refuse(conn, (ErrorCode::Removed, message.to_owned()), None);
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
                let events = self.exec(cmd, now).map_err(|e| refusal(&e))?;
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
        self.conns.insert(conn, Some(Attached::Participant(pid)));
        self.by_pid.entry(pid).or_default().push(conn);
        // Connect broadcasts the new state, this connection included: subscribe, then
        // snapshot. A broadcast folded into the next interval is no snapshot: send it here.
        self.apply(Command::Connect(pid), now);
        if self.state_gate.due().is_some() {
            let view = self.room_frame(now);
            self.send_frame(conn, view);
        }
        self.send_me(pid);
        self.send_sheet(pid);
        self.send_decide_snapshot(conn, Some(pid));
        Ok(())
    }

    /// `facilitate` or `watch`: the role, then a snapshot of what that role sees.
    fn attach(&mut self, conn: ConnId, who: Attached, now: Millis) {
        let role = match who {
            Attached::Facilitator => Role::Facilitator,
            _ => Role::Board,
        };
        let welcome = ServerMsg::Welcome {
            role,
            participant_id: None,
            token: None,
            name: None,
        };
        self.send_to(conn, &welcome);
        self.conns.insert(conn, Some(who));
        self.promoted.push(conn);
        let view = self.room_frame(now);
        self.send_frame(conn, view);
        if who == Attached::Facilitator {
            let roster = ServerMsg::Roster {
                participants: self.room.roster(),
            };
            self.send_to(conn, &roster);
        }
        self.send_to(conn, &ServerMsg::Progress(self.room.progress()));
        self.send_decide_snapshot(conn, None);
    }

    // ---- what each recipient gets ----

    /// Turn events into messages, each serialised once.
    fn publish(&mut self, events: &[Event], now: Millis) {
        let ch = Changes::from_events(events);
        let fold = self.conns.len() > FOLD_ABOVE;
        let phase: &'static str = self.room.phase_name().into();
        if phase != self.phase_metric {
            metrics::room_phase(Some(self.phase_metric), Some(phase));
            self.phase_metric = phase;
        }
        // The key first: a folded change is not rendered (it costs a walk over the room).
        if ch.state && self.state_gate.pass(now, self.room.view_key(), fold) {
            let view = self.room_frame(now);
            self.broadcast(&view, |_| true);
        }
        // `me` only where it changed; at a boundary everyone holding a sheet gets it.
        for pid in ch.me {
            self.send_me(pid);
        }
        if ch.dealt {
            for pid in self.room.pids() {
                self.send_sheet(pid);
            }
        } else {
            for pid in ch.handed {
                self.send_sheet(pid);
            }
        }
        if ch.progress && self.progress_gate.pass(now, self.room.round(), fold) {
            self.broadcast_progress();
        }
        if ch.roster && self.roster_gate.pass(now, (), fold) {
            self.broadcast_roster();
        }
        if ch.revealed
            && let Some(sheets) = self.room.reveal()
        {
            self.broadcast(&frame(&ServerMsg::Reveal { sheets }), |_| true);
        }
        if ch.clusters
            && let Some(clusters) = self.room.clusters()
        {
            self.broadcast(&frame(&ServerMsg::Clusters(clusters)), |_| true);
        }
        if ch.ballots {
            for pid in self.room.pids() {
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
            let theirs = self.by_pid.get(&pid).into_iter().flatten();
            let closing: Vec<_> = theirs.map(|&id| (id, close::REMOVED)).collect();
            self.closing.extend(closing);
        }
    }

    fn broadcast_state(&mut self, now: Millis) {
        let view = self.room_frame(now);
        self.broadcast(&view, |_| true);
    }

    /// The room's state at `now` as a frame (kept, when journaled, for
    /// [`Session::committed`]).
    fn room_frame(&mut self, now: Millis) -> Utf8Bytes {
        let f = frame(&ServerMsg::Room(self.room.view(self.code.as_str(), now)));
        if self.journaled {
            self.views.push(f.clone());
        }
        f
    }

    fn broadcast_progress(&mut self) {
        let frame = frame(&ServerMsg::Progress(self.room.progress()));
        self.broadcast(&frame, |a| {
            matches!(a, Attached::Facilitator | Attached::Board)
        });
    }

    fn broadcast_roster(&mut self) {
        let frame = frame(&ServerMsg::Roster {
            participants: self.room.roster(),
        });
        self.broadcast(&frame, |a| a == Attached::Facilitator);
    }

    fn send_me(&mut self, pid: Pid) {
        if let Some(me) = self.room.me(pid) {
            self.send_participant(pid, frame(&ServerMsg::Me(me)));
        }
    }

    fn send_ballot(&mut self, pid: Pid) {
        if let Some(ballot) = self.room.ballot(pid) {
            self.send_participant(pid, frame(&ServerMsg::Ballot(ballot)));
        }
    }

    fn send_sheet(&mut self, pid: Pid) {
        if let Some(held) = self.room.held_sheet(pid) {
            self.send_participant(pid, frame(&ServerMsg::Sheet(held)));
        }
    }

    /// The after-the-rounds state a (re)joining connection needs.
    fn send_decide_snapshot(&mut self, conn: ConnId, pid: Option<Pid>) {
        if let Some(sheets) = self.room.reveal() {
            self.send_to(conn, &ServerMsg::Reveal { sheets });
        }
        if let Some(clusters) = self.room.clusters() {
            self.send_to(conn, &ServerMsg::Clusters(clusters));
        }
        if let Some(ballot) = pid.and_then(|pid| self.room.ballot(pid)) {
            self.send_to(conn, &ServerMsg::Ballot(ballot));
        }
        if let Some(ideas) = self.room.results() {
            self.send_to(conn, &ServerMsg::Results { ideas });
        }
    }

    /// Queue one message for one connection (sent at the next flush).
    fn send_to(&mut self, conn: ConnId, msg: &ServerMsg) {
        self.send_frame(conn, frame(msg));
    }

    fn send_frame(&mut self, conn: ConnId, frame: Utf8Bytes) {
        if let Some(role) = self.conns.get(&conn) {
            let queue = match role {
                Some(Attached::Facilitator | Attached::Board) => &mut self.late,
                _ => &mut self.out,
            };
            queue.push((conn, frame));
        }
    }

    /// Queue a frame for every connection of participant `pid`.
    fn send_participant(&mut self, pid: Pid, frame: Utf8Bytes) {
        if let Some(theirs) = self.by_pid.get(&pid) {
            self.out.extend(theirs.iter().map(|&c| (c, frame.clone())));
        }
    }

    /// Queue the same bytes for every attached connection whose role passes `to`.
    fn broadcast(&mut self, frame: &Utf8Bytes, to: impl Fn(Attached) -> bool) {
        for (&id, role) in &self.conns {
            if let Some(a) = *role
                && to(a)
            {
                let queue = match a {
                    Attached::Participant(_) => &mut self.out,
                    Attached::Facilitator | Attached::Board => &mut self.late,
                };
                queue.push((id, frame.clone()));
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        metrics::room_phase(Some(self.phase_metric), None);
        METRICS
            .participants
            .dec_by(self.room.participant_count() as i64);
    }
}

fn frame(msg: &ServerMsg) -> Utf8Bytes {
    Utf8Bytes::from(msg.to_json())
}

fn refusal(e: &RoomError) -> Refusal {
    (ErrorCode::from(e), e.to_string())
}

fn forbidden(who: &str, m: &ClientMsg) -> Refusal {
    (
        ErrorCode::Forbidden,
        format!("{who} may not send {}", m.name()),
    )
}

/// A participant's message as an engine command; `Err` gives back what a participant may
/// not send. (`write` is handled apart: it is acknowledged.)
fn participant_command(pid: Pid, m: ClientMsg) -> Result<Command, ClientMsg> {
    Ok(match m {
        ClientMsg::Done { round } => Command::Done { pid, round },
        ClientMsg::Leave {} => Command::Leave(pid),
        ClientMsg::Vote { idea } => Command::Vote { pid, idea },
        ClientMsg::Unvote { idea } => Command::Unvote { pid, idea },
        m => return Err(m),
    })
}

/// A facilitator's message as an engine command; `None` for what a facilitator may not send.
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

#[cfg(test)]
mod tests;
