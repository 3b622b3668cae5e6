//! The durable journal, backend-neutral: what is stored ([`Entry`], [`StoredRoom`]), how it
//! fails ([`StoreError`]), the [`Backend`] trait a storage engine implements, and the
//! [`Journal`] handle the room actors and the hub hold. Every room's settings and seed and the
//! ordered log of every accepted command and round boundary are written through it, and rooms
//! are rebuilt exactly from it on start.
//!
//! This module owns the contract, not the storage: it must not know how or where a backend
//! keeps its data (no SQL, no files, no threads here), and it knows nothing about sockets or
//! messages. [`sqlite`] is the embedded default; [`postgres`] is the backend for several nodes
//! on one database (it adds ownership and fencing: an append for a room another node took
//! over fails with [`StoreError::Fenced`]). Both plug in with [`Journal::new`].
//!
//! # What a backend promises
//! - **`Ok` means durable.** When a call returns `Ok(())` its change survives a crash of the
//!   process (and, as far as the backend's storage allows, of the machine). Callers acknowledge
//!   nothing before that: a room is announced only after [`Backend::create_room`], a command
//!   only after the [`Backend::append`] that holds it.
//! - **`Err` means nothing of that call was stored.** A request is all or nothing. The room
//!   actor keeps the entries of a failed append and sends them again, with the same
//!   `first_seq`, followed by newer ones, so a half-stored append would collide on retry.
//! - **Appends for one room arrive in seq order and one at a time.** The actor awaits each
//!   append before it sends the next, the first one for a room starts at the number of entries
//!   the room already has (0 for a new room), and each continues where the last `Ok` ended.
//!   A backend refuses an entry whose `(code, seq)` is already stored. Appends for different
//!   rooms arrive concurrently, in any order.
//! - **Entries come encoded.** [`Journal::append`] turns each [`Entry`] into JSON once, so
//!   every backend stores the same text and none of them needs to know the entry format. A
//!   backend stores the text as given and hands it back as given (decoding on load is
//!   [`Entry`]'s `Deserialize`).
//! - **Group commit is the backend's business.** Calls may come from many tasks at once; a
//!   backend may commit them one by one or several in one transaction, as long as each caller
//!   learns the outcome of its own request. Its queues are bounded: a call waits for room in
//!   the queue rather than growing it.
//! - **[`Backend::close`] ends it.** It commits everything queued before it, leaves the storage
//!   tidy for a backup or the next start (e.g. checkpointed), stops whatever the backend runs
//!   (threads, connections) and waits for that to finish. Calls after it fail with
//!   [`StoreError::Stopped`].
//!
//! Opening a backend, loading the stored rooms and dropping expired ones is not part of the
//! trait: each backend has its own `open` returning an [`Opened`] (see [`sqlite::open`]).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::ids::RoomCode;
use crate::room::{Command, Millis, Settings};

/// One journaled step of a room, applied in order on replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// An accepted command.
    Cmd(Command),
    /// Time passed and the room changed by it (a round boundary).
    Tick,
    /// The running round's deadline, moved on after a commit to when its sheets went out
    /// (see `Session::committed`); replayed with `Room::set_deadline`.
    Deadline(Millis),
}

/// A room as stored.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    /// Its code.
    pub code: RoomCode,
    /// Its settings.
    pub settings: Settings,
    /// The engine's seed.
    pub seed: u64,
    /// SHA-256 of the facilitator token.
    pub facilitator_hash: [u8; 32],
    /// When it was created.
    pub created_ms: Millis,
    /// Its log, in order: (time, entry). Empty when the room is created.
    pub entries: Vec<(Millis, Entry)>,
}

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no (the [`sqlite`] backend).
    #[error("journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A backend failed in a way it can only describe: a commit that did not happen, a
    /// connection or thread that could not be started.
    #[error("journal: {0}")]
    Backend(String),
    /// A stored value could not be read back (or an entry could not be encoded).
    #[error("journal: corrupt entry in room {code} at {seq}: {why}")]
    Corrupt {
        /// The room.
        code: String,
        /// The entry.
        seq: i64,
        /// What was wrong.
        why: String,
    },
    /// The room belongs to another node now (it took the room over): nothing of this call
    /// was stored, and this node must never acknowledge another write for the room.
    #[error("journal: this node no longer owns the room")]
    Fenced,
    /// The journal has stopped (closed, or its writer is gone).
    #[error("journal: the writer has stopped")]
    Stopped,
}

/// A storage engine behind the [`Journal`]. See the module documentation for what each
/// method promises.
///
/// Methods return a [`BoxFuture`] rather than taking a `oneshot::Sender` for the result: the
/// trait stays dyn-compatible without new dependencies, and the future can wait, which a
/// plain method cannot. A backend needs both waits: for room in its bounded queue (the
/// backpressure that keeps every queue bounded) and for its commit. With a `oneshot` the
/// method itself would have to either block the async thread or give up on a full queue.
/// The one allocation per call is small next to a commit.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Store a new room (its `entries` are empty); `Ok` once it is durable. Refuses a code
    /// that is already stored.
    fn create_room(&self, room: StoredRoom) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Store a room's entries `first_seq..` (time, JSON of an [`Entry`]) and, with
    /// `finished`, the time the session finished; `Ok` once all of it is durable, `Err` if
    /// none of it was stored.
    fn append(
        &self,
        code: RoomCode,
        first_seq: u64,
        entries: Vec<(Millis, String)>,
        finished: Option<Millis>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Delete a room and its log.
    fn delete(&self, code: RoomCode) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Record that the server is running at `now` (the next `open` reports it, so downtime is
    /// given back on restart). Also proves the storage is writable.
    fn alive(&self, now: Millis) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Commit what is queued, checkpoint, stop, and wait until stopped. Later calls fail
    /// with [`StoreError::Stopped`].
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Does this process still own `code`? Always, for a backend one process owns alone; a
    /// shared backend says no once another node has taken the room over (its next append
    /// would be [`StoreError::Fenced`]). A cheap local check, no I/O.
    fn holds(&self, _code: RoomCode) -> bool {
        true
    }
}

/// A handle to the journal, whichever backend holds it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    backend: Arc<dyn Backend>,
}

/// What opening a journal found.
#[derive(Debug)]
pub struct Opened {
    /// The handle.
    pub journal: Journal,
    /// Every stored room that has not expired, with its log.
    pub rooms: Vec<StoredRoom>,
    /// The last moment the previous server process is known to have run.
    pub alive_ms: Millis,
}

impl Journal {
    /// A handle to `backend`.
    pub fn new(backend: impl Backend) -> Self {
        Journal {
            backend: Arc::new(backend),
        }
    }

    /// Store a new room; returns once it is durable.
    pub async fn create_room(
        &self,
        code: RoomCode,
        settings: &Settings,
        seed: u64,
        facilitator_hash: [u8; 32],
        created_ms: Millis,
    ) -> Result<(), StoreError> {
        self.backend
            .create_room(StoredRoom {
                code,
                settings: settings.clone(),
                seed,
                facilitator_hash,
                created_ms,
                entries: Vec::new(),
            })
            .await
    }

    /// Append entries `first_seq..` to a room's log; returns once they are durable. Each
    /// entry is encoded to JSON here, once, so every backend stores the same text.
    pub async fn append(
        &self,
        code: RoomCode,
        first_seq: u64,
        entries: Vec<(Millis, Entry)>,
        finished: Option<Millis>,
    ) -> Result<(), StoreError> {
        let entries = encode(code, first_seq, entries)?;
        self.backend
            .append(code, first_seq, entries, finished)
            .await
    }

    /// Delete a room and its log.
    pub async fn delete(&self, code: RoomCode) -> Result<(), StoreError> {
        self.backend.delete(code).await
    }

    /// Commit everything queued before this call, checkpoint, and stop the backend (waiting
    /// for its writer to finish). Later requests fail with [`StoreError::Stopped`].
    pub async fn close(&self) -> Result<(), StoreError> {
        self.backend.close().await
    }

    /// Does this process still own `code` (see [`Backend::holds`])?
    pub fn holds(&self, code: RoomCode) -> bool {
        self.backend.holds(code)
    }

    /// Record that the server is running at `now` (used to give downtime back on restart).
    /// Also proves the journal is writable.
    pub async fn alive(&self, now: Millis) -> Result<(), StoreError> {
        self.backend.alive(now).await
    }
}

/// The stored text of entries `first_seq..` of room `code`.
fn encode(
    code: RoomCode,
    first_seq: u64,
    entries: Vec<(Millis, Entry)>,
) -> Result<Vec<(Millis, String)>, StoreError> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (at, e))| {
            serde_json::to_string(&e)
                .map(|s| (at, s))
                .map_err(|e| StoreError::Corrupt {
                    code: code.to_string(),
                    seq: (first_seq + i as u64) as i64,
                    why: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::FutureExt;

    use super::*;

    /// What the test backend was asked.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Call {
        Create(RoomCode, u64, Millis),
        Append(RoomCode, u64, Vec<(Millis, String)>, Option<Millis>),
        Delete(RoomCode),
        Alive(Millis),
        Close,
    }

    /// A second backend: keeps every call in a `Vec` the test also holds, and fails appends
    /// while `fail` is set. Proves the trait is all a backend needs.
    #[derive(Debug, Default)]
    struct Recorder {
        calls: Arc<Mutex<Vec<Call>>>,
        fail: Arc<AtomicBool>,
        closed: AtomicBool,
    }

    impl Recorder {
        fn record(&self, call: Call) -> BoxFuture<'_, Result<(), StoreError>> {
            let result = if self.closed.load(Ordering::SeqCst) {
                Err(StoreError::Stopped)
            } else if matches!(call, Call::Append(..)) && self.fail.load(Ordering::SeqCst) {
                Err(StoreError::Backend("disk full".into()))
            } else {
                if call == Call::Close {
                    self.closed.store(true, Ordering::SeqCst);
                }
                match self.calls.lock() {
                    Ok(mut calls) => {
                        calls.push(call);
                        Ok(())
                    }
                    Err(_) => Err(StoreError::Backend("poisoned".into())),
                }
            };
            // The lock is released before the future is returned, let alone awaited.
            futures_util::future::ready(result).boxed()
        }
    }

    impl Backend for Recorder {
        fn create_room(&self, room: StoredRoom) -> BoxFuture<'_, Result<(), StoreError>> {
            assert!(room.entries.is_empty());
            self.record(Call::Create(room.code, room.seed, room.created_ms))
        }

        fn append(
            &self,
            code: RoomCode,
            first_seq: u64,
            entries: Vec<(Millis, String)>,
            finished: Option<Millis>,
        ) -> BoxFuture<'_, Result<(), StoreError>> {
            self.record(Call::Append(code, first_seq, entries, finished))
        }

        fn delete(&self, code: RoomCode) -> BoxFuture<'_, Result<(), StoreError>> {
            self.record(Call::Delete(code))
        }

        fn alive(&self, now: Millis) -> BoxFuture<'_, Result<(), StoreError>> {
            self.record(Call::Alive(now))
        }

        fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            self.record(Call::Close)
        }
    }

    #[tokio::test]
    async fn the_journal_handle_works_over_another_backend() {
        let recorder = Recorder::default();
        let calls = recorder.calls.clone();
        let fail = recorder.fail.clone();
        let journal = Journal::new(recorder);
        let clone = journal.clone();
        let code = RoomCode::random();
        let settings = Settings::classic("topic");

        journal
            .create_room(code, &settings, 99, [7; 32], 1000)
            .await
            .unwrap();
        clone
            .append(
                code,
                0,
                vec![(1001, Entry::Cmd(Command::Start)), (1002, Entry::Tick)],
                None,
            )
            .await
            .unwrap();

        // An error from the backend comes back from `Journal::append` as it was.
        // The same batch, refused and then retried, as the actor retries it.
        let finish = || {
            let batch = vec![(1003, Entry::Cmd(Command::Finish))];
            journal.append(code, 2, batch, Some(1003))
        };
        fail.store(true, Ordering::SeqCst);
        let err = finish().await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(why) if why == "disk full"),
            "{err:?}"
        );
        fail.store(false, Ordering::SeqCst);
        finish().await.unwrap();
        journal.alive(1500).await.unwrap();
        journal.delete(code).await.unwrap();
        journal.close().await.unwrap();
        assert!(matches!(
            clone.alive(1600).await.unwrap_err(),
            StoreError::Stopped
        ));

        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            vec![
                Call::Create(code, 99, 1000),
                // The same text the SQLite backend stores (its test checks the column).
                Call::Append(
                    code,
                    0,
                    vec![
                        (1001, r#"{"cmd":"start"}"#.to_owned()),
                        (1002, r#""tick""#.to_owned())
                    ],
                    None
                ),
                Call::Append(
                    code,
                    2,
                    vec![(1003, r#"{"cmd":"finish"}"#.to_owned())],
                    Some(1003)
                ),
                Call::Alive(1500),
                Call::Delete(code),
                Call::Close,
            ]
        );
    }
}
