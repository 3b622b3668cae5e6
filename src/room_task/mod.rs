//! The room actor: one task per room, the only writer of its state, and the thin async loop
//! around [`Session`], which holds the room's rules.
//!
//! Every input (client messages, connections opening and closing, and time) goes through one
//! ordered, bounded queue, so "did this idea land before the round ended?" has exactly one
//! answer. The loop does only what needs a runtime: it waits for the queue or for its turn
//! on its shard's clock ([`crate::turns`]), takes what else is queued into one batch, awaits
//! the journal's commit of that batch, and then queues the batch's frames in the
//! connections' bounded outboxes and writes each connection's at once, in its own turn
//! (what the kernel does not take is left to the socket's task). It never awaits a
//! client: a connection whose outbox is full is disconnected with [`close::SLOW`] (it can
//! resume). It must not hold anything across an
//! `.await` except its own state.

mod clock;
mod session;

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use clock::Clock;
pub use session::{ConnId, ExportError, RoomInfo, Session};

use crate::ids::RoomCode;
use crate::metrics::METRICS;
use crate::outbox::{Outbox, SendError};
use crate::protocol::{ClientMsg, close};
use crate::room::{Command, Millis, Room};
use crate::store::Journal;
use crate::turns::Turn;

/// Messages taken from the queue before one journal commit and one flush.
const BATCH: usize = 256;

/// How many times a participant's outbox limits a facilitator's or a board's are: their
/// roster and progress frames grow with the room (~100 KB each at 2,000 people), and
/// there are a few of them per room.
const STAFF_OUTBOX: usize = 16;

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
    /// Another node asked for the room (a shared journal, see [`crate::hub`]): take no
    /// more commands, make what was accepted durable, tell every connection to reconnect
    /// (1012) and stop. `done` says whether everything accepted was committed; the hub
    /// releases the room to the other node after it.
    HandOff {
        /// Where to answer once the room has stopped.
        done: oneshot::Sender<bool>,
    },
    /// The facilitator's export of the finished session.
    Export {
        /// The facilitator token presented.
        token: String,
        /// Where to answer.
        reply: oneshot::Sender<Result<crate::export::Export, ExportError>>,
    },
}

/// The actor: the session, the outboxes of its connections and the journal.
pub struct RoomTask {
    code: RoomCode,
    session: Session,
    outboxes: HashMap<ConnId, Outbox>,
    clock: Clock,
    journal: Option<Journal>,
    /// Sequence number of the next journal entry.
    next_seq: u64,
    /// Connections that failed since the last flush.
    gone: Vec<ConnId>,
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
        let session = Session::new(code, room, facilitator_hash, journal.is_some(), clock.now());
        RoomTask {
            code,
            session,
            outboxes: HashMap::new(),
            clock,
            journal,
            next_seq,
            gone: Vec::new(),
        }
    }

    /// Apply a command the server itself issues (on restore) and journal it.
    pub fn system_command(&mut self, cmd: Command) {
        self.session.system_command(cmd, self.clock.now());
    }

    /// Run until every sender is gone, the room expires, or `shutdown` fires (the hub then
    /// sends [`RoomMsg::Shutdown`] to wake it).
    ///
    /// Time reaches the room through its shard's clock ([`crate::turns`]), told only when
    /// the next wake-up moves, so that rooms due at one instant take turns with their
    /// sockets; the shutdown token is read as a flag. Neither costs a registration per
    /// message.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoomMsg>,
        shutdown: CancellationToken,
        turn: Turn,
    ) {
        let mut armed: Option<Millis> = None;
        let mut handoff: Option<oneshot::Sender<bool>> = None;
        'run: loop {
            if shutdown.is_cancelled() {
                break;
            }
            let wake = self.session.next_wakeup();
            if wake != armed {
                turn.set(wake.map(|d| self.clock.instant_of(d)));
                armed = wake;
            }
            let first = tokio::select! {
                biased;
                m = rx.recv() => match m {
                    Some(m) => Some(m),
                    None => break,
                },
                () = turn.wait() => {
                    armed = None;
                    None
                }
            };
            // Take what else is already queued, so one commit and one flush serve them all:
            // at most BATCH messages, and none taken from the queue that is not handled.
            let mut next = first;
            for taken in 1..=BATCH {
                let now = self.clock.now();
                self.session.tick(now);
                match next.take() {
                    Some(RoomMsg::Expire) => {
                        self.expire();
                        break 'run;
                    }
                    // Committed and flushed after the loop, like everything else.
                    Some(RoomMsg::Shutdown) => break 'run,
                    Some(RoomMsg::HandOff { done }) => {
                        handoff = Some(done);
                        break 'run;
                    }
                    Some(m) => self.on_msg(m, now),
                    None => {}
                }
                if taken == BATCH {
                    break;
                }
                match rx.try_recv() {
                    Ok(m) => next = Some(m),
                    Err(_) => break,
                }
            }
            if self.commit_and_flush(Some(&turn)).await {
                // The turn after the commit replaced the deadline on the shard's clock.
                armed = None;
            }
        }
        // Whatever was accepted is made durable before the task ends, and its frames go out
        // before the close: on shutdown every socket is told to reconnect (1012), including
        // those still waiting to be let in. A room handed over to another node does the
        // same: its people resume there.
        self.commit_and_flush(None).await;
        if shutdown.is_cancelled() || handoff.is_some() {
            for o in self.outboxes.values() {
                o.close(close::RESTART);
            }
            rx.close();
            while let Ok(m) = rx.try_recv() {
                if let RoomMsg::Open { outbox, .. } = m {
                    outbox.close(close::RESTART);
                }
            }
        }
        if let Some(done) = handoff {
            let _ = done.send(self.session.entries().0.is_empty());
        }
        info!(room = %self.code, "room task stopped");
    }

    fn on_msg(&mut self, msg: RoomMsg, now: Millis) {
        match msg {
            RoomMsg::Open { conn, outbox } => {
                self.outboxes.insert(conn, outbox);
                self.session.open(conn);
            }
            RoomMsg::Closed { conn } => self.detach(conn, now),
            RoomMsg::Client { conn, msg } => self.session.client(conn, msg, now),
            RoomMsg::Info { reply } => {
                let _ = reply.send(self.session.info());
            }
            RoomMsg::Export { token, reply } => {
                let _ = reply.send(self.session.export(&token));
            }
            RoomMsg::Expire => self.expire(),
            // Handled by `run`, which stops the task.
            RoomMsg::Shutdown | RoomMsg::HandOff { .. } => {}
        }
    }

    fn detach(&mut self, conn: ConnId, now: Millis) {
        self.outboxes.remove(&conn);
        self.session.closed(conn, now);
    }

    fn expire(&mut self) {
        info!("room expired; closing its connections");
        for o in self.outboxes.values() {
            o.close(close::ROOM_GONE);
        }
        self.outboxes.clear();
    }

    /// Make the accepted changes durable, then send what they announce. If the journal
    /// fails, nothing is acknowledged: every client is disconnected to resync, and the
    /// changes stay queued for the next commit.
    ///
    /// A group commit answers every room in it at the same instant; with `turn`, the room
    /// then waits for its turn on the shard's clock before writing its sockets, so the
    /// shard's sockets (a ping) are read between rooms and not only after all of them.
    /// Returns whether it took that turn (which replaced the room's deadline).
    async fn commit_and_flush(&mut self, turn: Option<&Turn>) -> bool {
        let mut took_turn = false;
        if let Some(j) = &self.journal
            && !j.holds(self.code)
        {
            self.fenced(&crate::store::StoreError::Fenced);
            return took_turn;
        }
        loop {
            let (entries, finished) = self.session.entries();
            if let (Some(j), false) = (&self.journal, entries.is_empty()) {
                let n = entries.len() as u64;
                let batch = entries.to_vec();
                match j.append(self.code, self.next_seq, batch, finished).await {
                    Ok(()) => {
                        self.next_seq += n;
                        if let Some(turn) = turn {
                            turn.take().await;
                            took_turn = true;
                        }
                        self.session.committed(self.clock.now());
                    }
                    Err(e @ crate::store::StoreError::Fenced) => {
                        self.fenced(&e);
                        return took_turn;
                    }
                    Err(e) => {
                        let now = self.clock.now();
                        let resync = self.session.journal_failed(&e, now);
                        if !resync.is_empty() {
                            for c in resync {
                                if let Some(o) = self.outboxes.remove(&c) {
                                    o.close(close::INTERNAL);
                                }
                            }
                            return took_turn;
                        }
                    }
                }
            }
            self.flush();
            if self.gone.is_empty() {
                return took_turn;
            }
            let now = self.clock.now();
            for c in std::mem::take(&mut self.gone) {
                self.detach(c, now);
            }
        }
    }

    /// Another node owns the room now (a shared journal): acknowledge nothing more, and send
    /// everyone to it (1012: reconnect and resume there).
    fn fenced(&mut self, e: &crate::store::StoreError) {
        let now = self.clock.now();
        let _ = self.session.journal_failed(e, now);
        for (_, o) in self.outboxes.drain() {
            o.close(close::RESTART);
        }
    }

    /// Queue the batch's frames with their connections, write each connection's (in the
    /// order the session gave: participants first), then close those asked to close.
    fn flush(&mut self) {
        let mut n = 0;
        // Connections in the order of their frames (a repeated flush of one connection in
        // a batch costs a lock).
        let mut touched: Vec<ConnId> = Vec::new();
        for conn in self.session.take_promoted() {
            if let Some(o) = self.outboxes.get(&conn) {
                o.widen(STAFF_OUTBOX);
            }
        }
        for (conn, frame) in self.session.take_frames() {
            n += 1;
            if self.gone.contains(&conn) {
                continue;
            }
            if let Some(o) = self.outboxes.get(&conn) {
                match o.send(frame) {
                    Ok(()) => {
                        if touched.last() != Some(&conn) {
                            touched.push(conn);
                        }
                    }
                    Err(e) => {
                        if e == SendError::Slow {
                            info!(conn, "client fell behind; disconnecting");
                        }
                        self.gone.push(conn);
                    }
                }
            }
        }
        // One write per connection and batch, in the order of the frames.
        for conn in touched {
            if let Some(o) = self.outboxes.get(&conn) {
                o.flush();
            }
        }
        METRICS.messages_out.inc_by(n);
        if let Some(d) = self.session.take_boundary() {
            let late = self.clock.now().saturating_sub(d);
            METRICS.round_delivery.observe(late as f64 / 1000.0);
        }
        // Closed on purpose (removed): their last frames are queued; detach them like the rest.
        for (conn, code) in self.session.take_closing() {
            if let Some(o) = self.outboxes.get(&conn) {
                o.close(code);
                if !self.gone.contains(&conn) {
                    self.gone.push(conn);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::room::Settings;
    use crate::turns::Turns;

    /// A burst longer than a batch is handled whole: every message queued is answered, in
    /// order (a message taken from the queue at the end of a full batch was once dropped, so
    /// "everyone done" in a room of 500 lost one `done` and never ended the round).
    #[tokio::test]
    async fn a_burst_of_many_batches_loses_no_message() {
        let code = RoomCode::random();
        let room = Room::new(Settings::classic("topic"), 7);
        let task = RoomTask::new(code, room, [0; 32], Clock::new(), None, 0);
        let n = BATCH * 3 + 7;
        let (tx, rx) = mpsc::channel(n + 1);
        let mut replies = Vec::with_capacity(n);
        for _ in 0..n {
            let (reply, answer) = oneshot::channel();
            tx.try_send(RoomMsg::Info { reply })
                .expect("room in the queue");
            replies.push(answer);
        }
        let turns = Arc::new(Turns::default());
        let actor = tokio::spawn(task.run(rx, CancellationToken::new(), turns.join()));
        let mut answered = 0;
        for answer in replies {
            if answer.await.is_ok() {
                answered += 1;
            }
        }
        assert_eq!(answered, n, "every queued message is handled");
        drop(tx);
        actor
            .await
            .expect("the actor ends when its senders are gone");
    }
}
