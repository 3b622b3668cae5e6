//! Shards: a few single-threaded tokio runtimes, each on its own OS thread, that own rooms
//! and every socket of those rooms. A room's actor and its sockets live on one thread, so a
//! client message, the room's answer and the write back to the phones wake tasks on that
//! thread only: no cross-thread wake-up, no runtime thread parked and unparked per message
//! (on a VM that costs ~20 µs each, docs/performance.md), no cache line bouncing between
//! cores for a room's queues.
//!
//! The HTTP side (accepting, handshakes, the REST API, the journal's heartbeat) stays on the
//! main runtime. A new room is placed on the shard holding the fewest rooms; a socket moves to
//! its room's shard right after its upgrade ([`crate::ws`]).
//!
//! A shard's thread runs until [`Shards::stop`] (called once every socket and room task has
//! ended, and when the hub is dropped); tasks still on it then are dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio_util::sync::CancellationToken;

use crate::turns::Turns;

/// One shard: its runtime's handle, how many rooms it holds, and its rooms' clock.
struct Shard {
    handle: Handle,
    rooms: AtomicUsize,
    turns: Arc<Turns>,
}

/// The shards of a server.
pub struct Shards {
    shards: Vec<Shard>,
    stop: CancellationToken,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Which shard a room lives on.
pub type ShardId = usize;

impl Shards {
    /// Start `n` shards (at least one), each a current-thread runtime with I/O and timers on
    /// a thread named `brainwrite-shard-K`.
    pub fn start(n: usize) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let mut shards = Vec::new();
        let mut threads = Vec::new();
        for k in 0..n.max(1) {
            let rt = Builder::new_current_thread().enable_all().build()?;
            let turns = Arc::new(Turns::default());
            rt.spawn(turns.clone().run(stop.clone()));
            shards.push(Shard {
                handle: rt.handle().clone(),
                rooms: AtomicUsize::new(0),
                turns,
            });
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("brainwrite-shard-{k}"))
                .spawn(move || rt.block_on(stop.cancelled_owned()))?;
            threads.push(thread);
        }
        Ok(Shards {
            shards,
            stop,
            threads: Mutex::new(threads),
        })
    }

    /// Place a new room on the shard holding the fewest rooms. The shard counts it until
    /// the returned seat is dropped (with the room's task, or at once if the room is not
    /// created after all).
    pub fn place(self: &Arc<Self>) -> Seat {
        let (id, shard) = self
            .shards
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.rooms.load(Ordering::Relaxed))
            .unwrap_or((0, &self.shards[0]));
        shard.rooms.fetch_add(1, Ordering::Relaxed);
        Seat {
            shards: self.clone(),
            id,
        }
    }

    /// The runtime of shard `id` (the first for an id out of range).
    pub fn handle(&self, id: ShardId) -> &Handle {
        &self.shards.get(id).unwrap_or(&self.shards[0]).handle
    }

    /// The clock of a shard's rooms.
    pub fn turns(&self, id: ShardId) -> &Arc<Turns> {
        &self.shards.get(id).unwrap_or(&self.shards[0]).turns
    }

    /// Rooms per shard, for `/metrics` and tests.
    pub fn rooms(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.rooms.load(Ordering::Relaxed))
            .collect()
    }

    /// Tell every shard's thread to stop, without waiting; tasks still on them are dropped.
    pub fn cancel(&self) {
        self.stop.cancel();
    }

    /// Stop every shard's thread and wait for them (blocking; not from a shard's own task).
    /// Tasks still on them are dropped.
    pub fn stop(&self) {
        self.stop.cancel();
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

/// A room's place on a shard; the shard stops counting the room when this is dropped.
#[derive(Debug)]
pub struct Seat {
    shards: Arc<Shards>,
    id: ShardId,
}

impl Seat {
    /// The shard.
    pub fn id(&self) -> ShardId {
        self.id
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some(s) = self.shards.shards.get(self.id) {
            let _ = s
                .rooms
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("rooms", &self.rooms())
            .finish()
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_go_to_the_emptiest_shard_and_leave_with_their_seat() {
        let shards = Arc::new(Shards::start(3).expect("shards start"));
        let mut seats: Vec<Seat> = (0..6).map(|_| shards.place()).collect();
        assert_eq!(shards.rooms(), vec![2, 2, 2]);
        let first = seats[0].id();
        let twin = seats
            .iter()
            .rposition(|s| s.id() == first)
            .expect("two rooms per shard");
        seats.remove(twin);
        seats.remove(0);
        let mut rooms = vec![2, 2, 2];
        rooms[first] = 0;
        assert_eq!(shards.rooms(), rooms);
        assert_eq!(shards.place().id(), first, "the emptiest shard");
        drop(seats);
        assert_eq!(shards.rooms(), vec![0, 0, 0]);
        shards.stop();
    }

    #[test]
    fn a_task_runs_on_its_shard_thread() {
        let shards = Shards::start(2).expect("shards start");
        let (tx, rx) = std::sync::mpsc::channel();
        shards.handle(1).spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send(name);
        });
        let name = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the task ran");
        assert_eq!(name.as_deref(), Some("brainwrite-shard-1"));
        shards.stop();
        // Stopped: a task given to it now never runs, and stopping again is harmless.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        shards.handle(1).spawn(async move {
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err()
        );
        shards.stop();
    }

    #[test]
    fn there_is_always_one_shard() {
        let shards = Arc::new(Shards::start(0).expect("shards start"));
        assert_eq!(shards.rooms().len(), 1);
        assert_eq!(shards.place().id(), 0);
        assert!(std::ptr::eq(shards.handle(7), shards.handle(0)));
        shards.stop();
    }
}
