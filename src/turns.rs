//! Turns: one clock per shard for the deadlines of every room on it, so that rooms due at the
//! same instant take their turns one after another, each followed by its own sockets.
//!
//! With a timer per room, a round boundary that every room reaches at once wakes every room
//! task of the shard in one go; the shard's run queue is first in, first out, so the sockets
//! a room wakes when it hands out its sheets run only after *every* room has computed its
//! boundary, and a ping waits behind the whole burst (issue #13). Here the rooms tell their
//! shard's [`Turns`] when they next need to wake; its one task wakes the due rooms a few at
//! a time (as many as take about [`QUANTUM`]) and yields after each group, and tokio runs a
//! yielded task only after what is already queued and after polling the sockets: rooms,
//! their sockets, the I/O driver, the next rooms.
//!
//! The same turns serve rooms made ready at one instant by something else: a journal's
//! group commit answers every room in it at once, and each then takes a turn
//! ([`Turn::take`]) before writing its sockets.
//!
//! It owns the deadlines and the waking, nothing else: it knows no room, message or socket.
//! The map is behind a `std` mutex only ever taken on the shard's own thread, never across
//! an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// About the most time a shard spends on due rooms (and what they wake) before it polls its
/// sockets again.
pub const QUANTUM: std::time::Duration = std::time::Duration::from_millis(1);
/// The most rooms woken in one turn.
pub const MAX_GROUP: usize = 64;

/// The deadlines of one shard's rooms.
#[derive(Debug, Default)]
pub struct Turns {
    state: Mutex<State>,
    /// Wakes the clock when a deadline earlier than the one it sleeps for arrives.
    changed: Notify,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    due: BTreeSet<(Instant, u64)>,
    rooms: HashMap<u64, (Option<Instant>, Arc<Notify>)>,
}

/// A room's place in its shard's [`Turns`]; it leaves them when dropped.
#[derive(Debug)]
pub struct Turn {
    turns: Arc<Turns>,
    id: u64,
    wake: Arc<Notify>,
}

impl Turns {
    /// Run the clock until `stop`: wake the due rooms in deadline order, a group per turn,
    /// as many as took [`QUANTUM`] at the pace of the previous turn (one when rooms are slow,
    /// up to [`MAX_GROUP`] when they are quick), so the shard reads its sockets at least
    /// about every quantum however many rooms are due, and a quick room does not pay a
    /// driver poll of its own.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut group = 1;
        loop {
            let mut woken = 0;
            let mut next = None;
            while woken < group {
                match self.take_due(Instant::now()) {
                    Ok(wake) => {
                        wake.notify_one();
                        woken += 1;
                    }
                    Err(at) => {
                        next = at;
                        break;
                    }
                }
            }
            if woken > 0 {
                // The rooms run, then the sockets they woke, then the driver, then us.
                let started = std::time::Instant::now();
                tokio::task::yield_now().await;
                let per_room = started.elapsed().as_nanos() / woken as u128;
                group = (QUANTUM.as_nanos() / per_room.max(1)).clamp(1, MAX_GROUP as u128) as usize;
                continue;
            }
            // Registered before sleeping: a `set` from now on wakes us.
            let changed = self.changed.notified();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changed => {}
                _ = sleep_until(next) => {}
            }
        }
    }

    /// The earliest room due at `now`, taken off the clock; else when the next one is due.
    fn take_due(&self, now: Instant) -> Result<Arc<Notify>, Option<Instant>> {
        let mut s = self.lock();
        loop {
            match s.due.first().copied() {
                Some((at, id)) if at <= now => {
                    s.due.remove(&(at, id));
                    if let Some((when, wake)) = s.rooms.get_mut(&id) {
                        *when = None;
                        return Ok(wake.clone());
                    }
                }
                next => return Err(next.map(|(at, _)| at)),
            }
        }
    }

    /// A place for a new room.
    pub fn join(self: &Arc<Self>) -> Turn {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        self.lock().rooms.insert(id, (None, wake.clone()));
        Turn {
            turns: self.clone(),
            id,
            wake,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned map is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Turn {
    /// Wake this room at `at` (or never, with `None`), instead of any earlier request.
    pub fn set(&self, at: Option<Instant>) {
        let mut s = self.turns.lock();
        let Some(entry) = s.rooms.get_mut(&self.id) else {
            return;
        };
        let old = std::mem::replace(&mut entry.0, at);
        if old == at {
            return;
        }
        if let Some(old) = old {
            s.due.remove(&(old, self.id));
        }
        if let Some(at) = at {
            let earliest = s.due.first().is_none_or(|&(first, _)| at < first);
            s.due.insert((at, self.id));
            drop(s);
            if earliest {
                self.turns.changed.notify_one();
            }
        }
    }

    /// Resolves when the room's turn has come (at once if it came while nobody waited).
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    /// Take a turn now, after the rooms already due: for work that becomes ready for many
    /// rooms at one instant other than a deadline (a group commit answers every room in it at
    /// once), so that each room's follow-up (writing its sockets) runs in its own turn, with
    /// the sockets and the I/O driver between rooms, instead of every room before any read.
    /// It replaces the room's deadline: the caller sets it again afterwards.
    pub async fn take(&self) {
        self.set(Some(Instant::now()));
        self.wait().await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut s = self.turns.lock();
        if let Some((Some(at), _)) = s.rooms.remove(&self.id) {
            s.due.remove(&(at, self.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A shard's clock, running until the token is cancelled.
    fn running() -> (Arc<Turns>, CancellationToken) {
        let turns = Arc::new(Turns::default());
        let stop = CancellationToken::new();
        tokio::spawn(turns.clone().run(stop.clone()));
        (turns, stop)
    }

    /// Rooms due at one instant are woken in turns, each after the previous room's own
    /// follow-up work (what it wakes) has run: rooms slower than the quantum one by one.
    #[tokio::test(flavor = "current_thread")]
    async fn rooms_due_at_once_take_turns_each_followed_by_what_it_wakes() {
        let (turns, stop) = running();
        let log = Arc::new(Mutex::new(Vec::new()));
        let at = Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::new();
        for r in 0..3 {
            let turn = turns.join();
            turn.set(Some(at));
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                log.lock().unwrap().push(format!("room {r}"));
                // A room slower than the quantum has a turn of its own.
                std::thread::sleep(QUANTUM * 2);
                // What the room wakes (its sockets) runs before the next room's turn.
                let log = log.clone();
                tokio::spawn(async move { log.lock().unwrap().push(format!("sockets {r}")) });
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "room 0",
                "sockets 0",
                "room 1",
                "sockets 1",
                "room 2",
                "sockets 2"
            ]
        );
        stop.cancel();
    }

    /// Quick rooms are woken in groups (no driver poll each), but never more than
    /// [`MAX_GROUP`] run before the sockets the first of them woke.
    #[tokio::test(flavor = "current_thread")]
    async fn quick_rooms_are_woken_in_groups_and_their_sockets_never_wait_long() {
        let (turns, stop) = running();
        let log = Arc::new(Mutex::new(Vec::new()));
        let at = Instant::now() + Duration::from_millis(20);
        let rooms = 3 * MAX_GROUP;
        let mut tasks = Vec::new();
        for r in 0..rooms {
            let turn = turns.join();
            turn.set(Some(at));
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                log.lock().unwrap().push(("room", r));
                let log = log.clone();
                tokio::spawn(async move { log.lock().unwrap().push(("sockets", r)) });
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let log = log.lock().unwrap().clone();
        let at = |what, r| log.iter().position(|e| *e == (what, r)).unwrap();
        let rooms_in_a_row = log
            .windows(2)
            .filter(|w| w[0].0 == "room" && w[1].0 == "room");
        assert!(rooms_in_a_row.count() > rooms / 2, "grouped: {log:?}");
        for r in 0..rooms - MAX_GROUP {
            assert!(at("sockets", r) < at("room", r + MAX_GROUP), "{log:?}");
        }
        stop.cancel();
    }

    /// Rooms made ready at one instant by something else than their clock (a commit's
    /// answers) also take turns: a socket woken meanwhile (a ping) runs before the later
    /// rooms, not after all of them.
    #[tokio::test(flavor = "current_thread")]
    async fn rooms_ready_at_once_take_turns_and_a_socket_woken_between_runs_before_the_rest() {
        let (turns, stop) = running();
        let log = Arc::new(Mutex::new(Vec::new()));
        let commit = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for r in 0..4 {
            let turn = turns.join();
            let (log, commit) = (log.clone(), commit.clone());
            tasks.push(tokio::spawn(async move {
                commit.notified().await;
                turn.take().await;
                log.lock().unwrap().push(format!("room {r}"));
                if r == 0 {
                    // A socket that becomes ready while the first room writes.
                    let log = log.clone();
                    tokio::spawn(async move { log.lock().unwrap().push("ping".to_owned()) });
                }
            }));
        }
        tokio::task::yield_now().await;
        // The commit answers every room at once.
        commit.notify_waiters();
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log, ["room 0", "ping", "room 1", "room 2", "room 3"]);
        stop.cancel();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_moved_deadline_wakes_at_the_new_time_and_a_dropped_room_never() {
        let (turns, stop) = running();
        let start = Instant::now();
        let a = turns.join();
        a.set(Some(start + Duration::from_secs(10)));
        a.set(Some(start + Duration::from_millis(100)));
        let gone = turns.join();
        gone.set(Some(start + Duration::from_millis(50)));
        drop(gone);
        a.wait().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(turns.lock().due.is_empty(), "nothing else is waiting");
        stop.cancel();
    }
}
