//! The SQLite backend of the journal: an embedded database (WAL) at `--data`, its schema,
//! loading (and expiring) the stored rooms on open, and the writer thread.
//!
//! All SQLite work happens on that one dedicated thread, off the async runtime. Requests that
//! arrive while it is committing are committed together in the next transaction (group
//! commit), so durability costs one fsync per batch, not per write; a failed transaction fails
//! every request in it and stores none of them. Callers await the commit before they
//! acknowledge anything. The backend owns the thread and joins it on [`Backend::close`].
//!
//! A second thread, the checkpointer, copies the WAL back into the database file (SQLite's
//! passive checkpoint, which never blocks the writer), at most every
//! [`CHECKPOINT_EVERY`] while commits come in. The writer's own automatic checkpoint is off,
//! so no commit, and no acknowledgement behind it, waits for that copy and its fsync.
//!
//! This module must not block the async runtime (the only blocking join runs on
//! `spawn_blocking`), hold a lock across an `.await`, or queue without bound; it knows nothing
//! about sockets, messages or the room engine beyond what it stores.

use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::{Backend, Entry, Journal, Opened, StoreError, StoredRoom};
use crate::ids::RoomCode;
use crate::room::{Millis, Settings};

/// Requests queued before senders wait.
const QUEUE: usize = 4096;
/// Most requests committed in one transaction.
const MAX_BATCH: usize = 2048;
/// How often, at most, the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

enum Req {
    CreateRoom {
        room: StoredRoom,
    },
    Append {
        code: RoomCode,
        first_seq: u64,
        entries: Vec<(Millis, String)>,
        finished: Option<Millis>,
    },
    Delete {
        code: RoomCode,
    },
    Alive {
        now: Millis,
    },
    /// Commit what came before, checkpoint, and stop.
    Close,
}

struct Pending {
    req: Req,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

/// The SQLite journal: the queue to the writer thread, and the thread.
#[derive(Debug)]
pub struct Sqlite {
    tx: mpsc::Sender<Pending>,
    /// Taken and joined by [`Backend::close`]. If every handle is dropped instead, the
    /// writer drains the queue, checkpoints and ends on its own (detached).
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (fsync) before it is acknowledged; group commit pays it once
    // per batch.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS rooms(
             code TEXT PRIMARY KEY,
             created_ms INTEGER NOT NULL,
             seed INTEGER NOT NULL,
             settings TEXT NOT NULL,
             facilitator_hash BLOB NOT NULL,
             finished_ms INTEGER);
         CREATE TABLE IF NOT EXISTS entries(
             code TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
             seq INTEGER NOT NULL,
             at_ms INTEGER NOT NULL,
             entry TEXT NOT NULL,
             PRIMARY KEY(code, seq)) WITHOUT ROWID;",
    )?;
    Ok(conn)
}

/// Open (or create) the journal at `path`, drop rooms that expired, load the rest, and start
/// the writer thread. `expired(finished_ms, last_ms)` says whether a room is gone.
pub fn open(
    path: &Path,
    expired: impl Fn(Option<Millis>, Millis) -> bool,
) -> Result<Opened, StoreError> {
    let conn = open_connection(path)?;
    let alive_ms: Millis = conn
        .query_row("SELECT value FROM meta WHERE key = 'alive_ms'", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .unwrap_or(0) as Millis;
    let rooms = load(&conn, &expired)?;
    // Checkpoints are the checkpointer's, off the commit path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let checkpoints = Connection::open(path)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let (ck_tx, ck_rx) = std::sync::mpsc::sync_channel(1);
    let checkpointer = std::thread::Builder::new()
        .name("journal-checkpoint".into())
        .spawn(move || checkpointer(checkpoints, ck_rx))
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    let thread = std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || writer(conn, rx, ck_tx, checkpointer))
        .map_err(|e| StoreError::Backend(format!("cannot start the journal thread: {e}")))?;
    Ok(Opened {
        journal: Journal::new(Sqlite {
            tx,
            thread: Mutex::new(Some(thread)),
        }),
        rooms,
        alive_ms,
    })
}

impl Sqlite {
    /// Queue `req` for the writer and wait for its transaction.
    async fn request(&self, req: Req) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                req,
                done: Some(done),
            })
            .await
            .map_err(|_| StoreError::Stopped)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(StoreError::Backend(why)),
            Err(_) => Err(StoreError::Stopped),
        }
    }

    /// Commit what is queued, checkpoint, stop the writer, then join it off the runtime.
    async fn close(&self) -> Result<(), StoreError> {
        let closed = self.request(Req::Close).await;
        // Taken in its own statement: the guard is gone before the await below.
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let joined = tokio::task::spawn_blocking(move || t.join()).await;
            if closed.is_ok() && !matches!(joined, Ok(Ok(()))) {
                return Err(StoreError::Backend("the journal thread panicked".into()));
            }
        }
        closed
    }
}

impl Backend for Sqlite {
    fn create_room(&self, room: StoredRoom) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::CreateRoom { room }))
    }

    fn append(
        &self,
        code: RoomCode,
        first_seq: u64,
        entries: Vec<(Millis, String)>,
        finished: Option<Millis>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::Append {
            code,
            first_seq,
            entries,
            finished,
        }))
    }

    fn delete(&self, code: RoomCode) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::Delete { code }))
    }

    fn alive(&self, now: Millis) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::Alive { now }))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Sqlite::close(self))
    }
}

fn load(
    conn: &Connection,
    expired: &impl Fn(Option<Millis>, Millis) -> bool,
) -> Result<Vec<StoredRoom>, StoreError> {
    let mut rooms = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT r.code, r.created_ms, r.seed, r.settings, r.facilitator_hash, r.finished_ms,
                COALESCE((SELECT MAX(at_ms) FROM entries e WHERE e.code = r.code), r.created_ms)
         FROM rooms r ORDER BY r.created_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Vec<u8>>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut gone = Vec::new();
    for row in rows {
        let (code_s, created, seed, settings, hash, finished, last) = row?;
        let corrupt = |why: String| StoreError::Corrupt {
            code: code_s.clone(),
            seq: -1,
            why,
        };
        let code = RoomCode::parse(&code_s).ok_or_else(|| corrupt("bad code".into()))?;
        if expired(finished.map(|f| f as Millis), last as Millis) {
            gone.push(code_s.clone());
            continue;
        }
        let settings: Settings =
            serde_json::from_str(&settings).map_err(|e| corrupt(e.to_string()))?;
        let facilitator_hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| corrupt("facilitator hash is not 32 bytes".into()))?;
        rooms.push(StoredRoom {
            code,
            settings,
            seed: seed as u64,
            facilitator_hash,
            created_ms: created as Millis,
            entries: Vec::new(),
        });
    }
    drop(stmt);
    for code in gone {
        conn.execute("DELETE FROM rooms WHERE code = ?1", params![code])?;
        tracing::info!(room = %code, "expired room deleted");
    }
    let mut stmt =
        conn.prepare("SELECT seq, at_ms, entry FROM entries WHERE code = ?1 ORDER BY seq")?;
    for room in &mut rooms {
        let code = room.code.to_string();
        let rows = stmt.query_map(params![code], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for (i, row) in rows.enumerate() {
            let (seq, at, entry) = row?;
            if seq != i as i64 {
                return Err(StoreError::Corrupt {
                    code,
                    seq,
                    why: format!("expected entry {i}"),
                });
            }
            let entry: Entry = serde_json::from_str(&entry).map_err(|e| StoreError::Corrupt {
                code: code.clone(),
                seq,
                why: e.to_string(),
            })?;
            room.entries.push((at as Millis, entry));
        }
    }
    Ok(rooms)
}

/// The checkpointer thread: after commits, a passive checkpoint (it copies what no reader
/// needs and never waits for the writer), at most every [`CHECKPOINT_EVERY`]; it ends when
/// the writer drops its sender.
fn checkpointer(conn: Connection, commits: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    // Wait for a first commit; after that, `more` says whether one came during the pause.
    let mut more = commits.recv().is_ok();
    while more {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
        {
            tracing::warn!(error = %e, "journal checkpoint failed; the next one retries");
        }
        // Commits during the pause are taken by the next checkpoint, right after it.
        more = false;
        let until = Instant::now() + CHECKPOINT_EVERY;
        loop {
            match commits.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => more = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if !more {
            more = commits.recv().is_ok();
        }
    }
}

/// The writer thread: take what is queued, commit it in one transaction, answer everyone,
/// and tell the checkpointer. It stops the checkpointer before its own last checkpoint.
fn writer(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Pending>,
    commits: std::sync::mpsc::SyncSender<()>,
    checkpointer: JoinHandle<()>,
) {
    let mut checkpointer = Some((commits, checkpointer));
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let closing = batch.iter().any(|p| matches!(p.req, Req::Close));
        let result = commit(&mut conn, &batch).map_err(|e| e.to_string());
        crate::metrics::journal_commit(started.elapsed(), batch.len());
        if let Err(e) = &result {
            tracing::error!(error = %e, requests = batch.len(), "journal commit failed");
        }
        if closing {
            stop(&mut checkpointer);
            let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        } else if let Some((commits, _)) = &checkpointer {
            // Never waits: one signal pending is enough.
            let _ = commits.try_send(());
        }
        for p in batch.drain(..) {
            if let Some(done) = p.done {
                let _ = done.send(result.clone());
            }
        }
        if closing {
            return;
        }
    }
    // Every handle is gone: checkpoint the WAL into the main file so a backup of the single
    // file is complete.
    stop(&mut checkpointer);
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

/// Stop the checkpointer (it ends when its sender is dropped) and wait for it.
fn stop(checkpointer: &mut Option<(std::sync::mpsc::SyncSender<()>, JoinHandle<()>)>) {
    if let Some((commits, thread)) = checkpointer.take() {
        drop(commits);
        let _ = thread.join();
    }
}

fn commit(conn: &mut Connection, batch: &[Pending]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    for p in batch {
        match &p.req {
            Req::CreateRoom { room } => {
                let settings = serde_json::to_string(&room.settings)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                tx.prepare_cached(
                    "INSERT INTO rooms(code, created_ms, seed, settings, facilitator_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    room.code.as_str(),
                    room.created_ms as i64,
                    room.seed as i64,
                    settings,
                    &room.facilitator_hash[..]
                ])?;
            }
            Req::Append {
                code,
                first_seq,
                entries,
                finished,
            } => {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO entries(code, seq, at_ms, entry) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (i, (at, e)) in entries.iter().enumerate() {
                    stmt.execute(params![
                        code.as_str(),
                        (*first_seq + i as u64) as i64,
                        *at as i64,
                        e
                    ])?;
                }
                if let Some(f) = finished {
                    tx.prepare_cached("UPDATE rooms SET finished_ms = ?2 WHERE code = ?1")?
                        .execute(params![code.as_str(), *f as i64])?;
                }
            }
            Req::Delete { code } => {
                tx.prepare_cached("DELETE FROM rooms WHERE code = ?1")?
                    .execute(params![code.as_str()])?;
            }
            Req::Close => {}
            Req::Alive { now } => {
                tx.prepare_cached(
                    "INSERT INTO meta(key, value) VALUES ('alive_ms', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![*now as i64])?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Command;

    /// A fresh directory, removed when dropped.
    struct TmpDir(std::path::PathBuf);

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp() -> (TmpDir, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("bw-store-{}", crate::ids::new_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.db");
        (TmpDir(dir), path)
    }

    /// The writer never checkpoints; the checkpointer copies the WAL into the database file
    /// while the journal runs (not only at close), so the WAL does not grow without end.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_commit_path_while_running() {
        let (_dir, path) = tmp();
        let o = open(&path, |_, _| false).unwrap();
        let code = RoomCode::random();
        let settings = Settings::classic("topic");
        o.journal
            .create_room(code, &settings, 1, [0; 32], 1000)
            .await
            .unwrap();
        let main_file = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = main_file();
        let text = "x".repeat(400);
        for i in 0..300u64 {
            let cmd = Command::Write(crate::room::WriteSlot {
                pid: crate::room::Pid(0),
                slot: 0,
                text: format!("{i} {text}"),
                round: None,
                builds_on: None,
                sheet: None,
            });
            o.journal
                .append(code, i, vec![(2000 + i, Entry::Cmd(cmd))], None)
                .await
                .unwrap();
        }
        // Well over a checkpoint interval later, the entries are in the main file.
        let until = Instant::now() + Duration::from_secs(5);
        while main_file() < before + 100_000 {
            assert!(
                Instant::now() < until,
                "nothing was checkpointed: {} -> {} bytes",
                before,
                main_file()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        o.journal.close().await.unwrap();
        let wal = path.with_extension("db-wal");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn rooms_and_entries_survive_reopen_and_expire() {
        let (_dir, path) = tmp();
        let code = RoomCode::random();
        let settings = Settings::classic("topic");
        {
            let o = open(&path, |_, _| false).unwrap();
            assert!(o.rooms.is_empty());
            o.journal
                .create_room(code, &settings, 99, [7; 32], 1000)
                .await
                .unwrap();
            o.journal
                .append(
                    code,
                    0,
                    vec![(1001, Entry::Cmd(Command::Start)), (1002, Entry::Tick)],
                    None,
                )
                .await
                .unwrap();
            o.journal
                .append(
                    code,
                    2,
                    vec![(1003, Entry::Cmd(Command::Finish))],
                    Some(1003),
                )
                .await
                .unwrap();
            o.journal.alive(1500).await.unwrap();
            // A gap in the sequence is refused by the primary key only if it repeats.
            assert!(matches!(
                o.journal
                    .append(code, 2, vec![(1004, Entry::Tick)], None)
                    .await
                    .unwrap_err(),
                StoreError::Backend(_)
            ));
            o.journal.close().await.unwrap();
            // Closed: the writer has stopped and its thread is joined.
            assert!(matches!(
                o.journal.alive(1600).await.unwrap_err(),
                StoreError::Stopped
            ));
        }
        let o = open(&path, |_, _| false).unwrap();
        assert_eq!(o.alive_ms, 1500);
        assert_eq!(o.rooms.len(), 1);
        let r = &o.rooms[0];
        assert_eq!(
            (r.code, r.seed, r.facilitator_hash, r.created_ms),
            (code, 99, [7; 32], 1000)
        );
        assert_eq!(r.settings, settings);
        assert_eq!(
            r.entries,
            vec![
                (1001, Entry::Cmd(Command::Start)),
                (1002, Entry::Tick),
                (1003, Entry::Cmd(Command::Finish))
            ]
        );
        o.journal.close().await.unwrap();
        // The entries are stored as `Journal::append` encoded them (the test over another
        // backend in `store` expects the same text).
        let stored: Vec<String> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT entry FROM entries ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            stored,
            [r#"{"cmd":"start"}"#, r#""tick""#, r#"{"cmd":"finish"}"#]
        );
        // Expired rooms are deleted with their entries on open.
        let o = open(&path, |finished, _| finished == Some(1003)).unwrap();
        assert!(o.rooms.is_empty());
        o.journal.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
