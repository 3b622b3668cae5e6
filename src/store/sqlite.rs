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
//! The log is append-ordered (see [`migrate`]): a commit writes the last pages of one B-tree
//! whatever rooms it holds, and the writer keeps each room's next seq and rowid span in
//! memory, to refuse an append out of order on its own and to delete a room without a scan.
//! A journal of an older schema is migrated on open.
//!
//! This module must not block the async runtime (the only blocking join runs on
//! `spawn_blocking`), hold a lock across an `.await`, or queue without bound; it knows nothing
//! about sockets, messages or the room engine beyond what it stores.

use std::collections::HashMap;
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
/// Commits start at most this often: requests that come sooner wait and share the next.
const COMMIT_EVERY: Duration = Duration::from_millis(2);
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

/// The schema this code writes: 2 is the append-ordered `log` (1, the `entries` table keyed
/// by room and seq, is migrated on open).
const SCHEMA: i64 = 2;

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (fsync) before it is acknowledged; group commit pays it once
    // per batch.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Create the schema, or bring an older one up to [`SCHEMA`] in one transaction.
///
/// The log is append-ordered: its key is SQLite's rowid, so a commit's entries, whatever
/// rooms they belong to, land together on the last pages of one B-tree, and a group commit
/// of 2,400 rooms writes a few pages to the WAL instead of one per room. There is no index
/// on the room: the log is read only on open (in one scan), and the writer keeps each room's
/// next seq and the span of its rows in memory ([`Logs`]), for checking appends and for
/// deleting a room by rowid range.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA {
        return Err(StoreError::Backend(format!(
            "the journal was written by a newer brainwrite (schema {version}; this one reads \
             up to {SCHEMA})"
        )));
    }
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS rooms(
             code TEXT PRIMARY KEY,
             created_ms INTEGER NOT NULL,
             seed INTEGER NOT NULL,
             settings TEXT NOT NULL,
             facilitator_hash BLOB NOT NULL,
             finished_ms INTEGER);
         CREATE TABLE IF NOT EXISTS log(
             id INTEGER PRIMARY KEY,
             code TEXT NOT NULL,
             seq INTEGER NOT NULL,
             at_ms INTEGER NOT NULL,
             entry TEXT NOT NULL);",
    )?;
    let old: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries')",
        [],
        |r| r.get(0),
    )?;
    if old {
        let moved = tx.execute(
            "INSERT INTO log(code, seq, at_ms, entry)
             SELECT code, seq, at_ms, entry FROM entries ORDER BY code, seq",
            [],
        )?;
        tx.execute_batch("DROP TABLE entries")?;
        tracing::info!(
            entries = moved,
            "journal migrated to the append-ordered log"
        );
    }
    tx.pragma_update(None, "user_version", SCHEMA)?;
    tx.commit()?;
    Ok(())
}

/// Where one room's entries are in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RoomLog {
    /// The seq its next append must start at (the number of entries stored).
    next_seq: u64,
    /// The rowids of its first and last entry, once it has one.
    span: Option<(i64, i64)>,
}

impl RoomLog {
    const EMPTY: RoomLog = RoomLog {
        next_seq: 0,
        span: None,
    };

    fn stored(self, id: i64) -> RoomLog {
        RoomLog {
            next_seq: self.next_seq + 1,
            span: Some(self.span.map_or((id, id), |(first, _)| (first, id))),
        }
    }
}

/// Every stored room's [`RoomLog`], kept by the writer thread (the only writer of the file).
type Logs = HashMap<RoomCode, RoomLog>;

/// Open (or create) the journal at `path`, drop rooms that expired, load the rest, and start
/// the writer thread. `expired(finished_ms, last_ms)` says whether a room is gone.
pub fn open(
    path: &Path,
    expired: impl Fn(Option<Millis>, Millis) -> bool,
) -> Result<Opened, StoreError> {
    let mut conn = open_connection(path)?;
    let alive_ms: Millis = conn
        .query_row("SELECT value FROM meta WHERE key = 'alive_ms'", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .unwrap_or(0) as Millis;
    let (rooms, logs) = load(&mut conn, &expired)?;
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
        .spawn(move || writer(conn, logs, rx, ck_tx, checkpointer))
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

/// A room read from the `rooms` table, with its log's raw rows while the log is scanned.
struct Loading {
    room: StoredRoom,
    finished: Option<Millis>,
    log: RoomLog,
    /// (seq, at, entry as stored), in seq order.
    rows: Vec<(i64, Millis, String)>,
}

/// Read every room and, in one scan of the log in rowid order, every entry; delete the rooms
/// `expired` says are gone (and any entry whose room is gone); decode the rest.
fn load(
    conn: &mut Connection,
    expired: &impl Fn(Option<Millis>, Millis) -> bool,
) -> Result<(Vec<StoredRoom>, Logs), StoreError> {
    let mut loading: Vec<Loading> = Vec::new();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT code, created_ms, seed, settings, facilitator_hash, finished_ms
             FROM rooms ORDER BY created_ms",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        for row in rows {
            let (code_s, created, seed, settings, hash, finished) = row?;
            let corrupt = |why: String| StoreError::Corrupt {
                code: code_s.clone(),
                seq: -1,
                why,
            };
            let code = RoomCode::parse(&code_s).ok_or_else(|| corrupt("bad code".into()))?;
            let settings: Settings =
                serde_json::from_str(&settings).map_err(|e| corrupt(e.to_string()))?;
            let facilitator_hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| corrupt("facilitator hash is not 32 bytes".into()))?;
            by_code.insert(code_s, loading.len());
            loading.push(Loading {
                room: StoredRoom {
                    code,
                    settings,
                    seed: seed as u64,
                    facilitator_hash,
                    created_ms: created as Millis,
                    entries: Vec::new(),
                },
                finished: finished.map(|f| f as Millis),
                log: RoomLog::EMPTY,
                rows: Vec::new(),
            });
        }
    }
    let mut orphans = 0u64;
    {
        let mut stmt = conn.prepare("SELECT id, code, seq, at_ms, entry FROM log ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let code: String = r.get(1)?;
            let Some(&i) = by_code.get(&code) else {
                orphans += 1;
                continue;
            };
            let l = &mut loading[i];
            let seq: i64 = r.get(2)?;
            if seq != l.log.next_seq as i64 {
                return Err(StoreError::Corrupt {
                    code,
                    seq,
                    why: format!("expected entry {}", l.log.next_seq),
                });
            }
            l.rows.push((seq, r.get::<_, i64>(3)? as Millis, r.get(4)?));
            l.log = l.log.stored(id);
        }
    }
    let tx = conn.transaction()?;
    if orphans > 0 {
        tx.execute(
            "DELETE FROM log WHERE code NOT IN (SELECT code FROM rooms)",
            [],
        )?;
        tracing::warn!(entries = orphans, "journal entries without a room deleted");
    }
    let mut rooms = Vec::with_capacity(loading.len());
    let mut logs = Logs::with_capacity(loading.len());
    for l in loading {
        let code = l.room.code;
        let last = l.rows.last().map_or(l.room.created_ms, |r| r.1);
        if expired(l.finished, last) {
            delete_room(&tx, code, l.log)?;
            tracing::info!(room = %code, "expired room deleted");
            continue;
        }
        let mut room = l.room;
        room.entries.reserve_exact(l.rows.len());
        for (seq, at, entry) in l.rows {
            let entry: Entry = serde_json::from_str(&entry).map_err(|e| StoreError::Corrupt {
                code: code.to_string(),
                seq,
                why: e.to_string(),
            })?;
            room.entries.push((at, entry));
        }
        logs.insert(code, l.log);
        rooms.push(room);
    }
    tx.commit()?;
    Ok((rooms, logs))
}

/// Delete a room and its entries (found by their rowid span: no scan of the whole log).
fn delete_room(
    tx: &rusqlite::Transaction<'_>,
    code: RoomCode,
    log: RoomLog,
) -> rusqlite::Result<()> {
    if let Some((first, last)) = log.span {
        tx.prepare_cached("DELETE FROM log WHERE id BETWEEN ?1 AND ?2 AND code = ?3")?
            .execute(params![first, last, code.as_str()])?;
    }
    tx.prepare_cached("DELETE FROM rooms WHERE code = ?1")?
        .execute(params![code.as_str()])?;
    Ok(())
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
    mut logs: Logs,
    mut rx: mpsc::Receiver<Pending>,
    commits: std::sync::mpsc::SyncSender<()>,
    checkpointer: JoinHandle<()>,
) {
    let mut checkpointer = Some((commits, checkpointer));
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    let mut last_commit: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        // A request that comes soon after a commit waits for the rest of the window, and
        // whatever else comes in it, so a steady stream shares commits (and fsyncs) instead of
        // paying one each; one that comes after a quiet spell is committed at once.
        if let Some(wait) = last_commit.and_then(|t| COMMIT_EVERY.checked_sub(t.elapsed())) {
            std::thread::sleep(wait);
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        last_commit = Some(started);
        let closing = batch.iter().any(|p| matches!(p.req, Req::Close));
        let results = commit(&mut conn, &mut logs, &batch);
        crate::metrics::journal_commit(started.elapsed(), batch.len());
        if closing {
            stop(&mut checkpointer);
            let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        } else if let Some((commits, _)) = &checkpointer {
            // Never waits: one signal pending is enough.
            let _ = commits.try_send(());
        }
        for (p, result) in batch.drain(..).zip(results) {
            if let Some(done) = p.done {
                let _ = done.send(result);
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

/// Commit `batch` in one transaction and say, per request, what became of it.
///
/// A request that does not fit what is stored (an append out of seq order or for a room that
/// does not exist, a room created twice) is refused on its own, before the transaction, and
/// the others go ahead; if the transaction fails, every request in it fails and `logs` is
/// left as it was.
fn commit(conn: &mut Connection, logs: &mut Logs, batch: &[Pending]) -> Vec<Result<(), String>> {
    // What this transaction changes in `logs` (`None`: the room is deleted), applied only
    // once it commits.
    let mut changed: HashMap<RoomCode, Option<RoomLog>> = HashMap::new();
    let mut results: Vec<Result<(), String>> = Vec::with_capacity(batch.len());
    let outcome = (|| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        for p in batch {
            let current = |code: &RoomCode| match changed.get(code) {
                Some(change) => *change,
                None => logs.get(code).copied(),
            };
            let refused = match &p.req {
                Req::CreateRoom { room } => match current(&room.code) {
                    Some(_) => Some(format!("room {} is already stored", room.code)),
                    None => {
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
                        changed.insert(room.code, Some(RoomLog::EMPTY));
                        None
                    }
                },
                Req::Append {
                    code,
                    first_seq,
                    entries,
                    finished,
                } => match current(code) {
                    None => Some(format!("room {code} is not stored")),
                    Some(log) if log.next_seq != *first_seq => Some(format!(
                        "room {code}: an append at entry {first_seq}, but {} are stored",
                        log.next_seq
                    )),
                    Some(mut log) => {
                        let mut stmt = tx.prepare_cached(
                            "INSERT INTO log(code, seq, at_ms, entry) VALUES (?1, ?2, ?3, ?4)",
                        )?;
                        for (at, e) in entries {
                            stmt.execute(params![
                                code.as_str(),
                                log.next_seq as i64,
                                *at as i64,
                                e
                            ])?;
                            log = log.stored(tx.last_insert_rowid());
                        }
                        if let Some(f) = finished {
                            tx.prepare_cached("UPDATE rooms SET finished_ms = ?2 WHERE code = ?1")?
                                .execute(params![code.as_str(), *f as i64])?;
                        }
                        changed.insert(*code, Some(log));
                        None
                    }
                },
                Req::Delete { code } => {
                    if let Some(log) = current(code) {
                        delete_room(&tx, *code, log)?;
                        changed.insert(*code, None);
                    }
                    None
                }
                Req::Close => None,
                Req::Alive { now } => {
                    tx.prepare_cached(
                        "INSERT INTO meta(key, value) VALUES ('alive_ms', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![*now as i64])?;
                    None
                }
            };
            results.push(refused.map_or(Ok(()), Err));
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => {
            for (code, change) in changed {
                match change {
                    Some(log) => logs.insert(code, log),
                    None => logs.remove(&code),
                };
            }
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                tracing::error!(error = %r, "journal request refused");
            }
            results
        }
        Err(e) => {
            let e = e.to_string();
            tracing::error!(error = %e, requests = batch.len(), "journal commit failed");
            vec![Err(e); batch.len()]
        }
    }
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
            // An append that repeats an entry, or leaves a gap, is refused and stores nothing.
            for first_seq in [2, 4] {
                let e = o
                    .journal
                    .append(code, first_seq, vec![(1004, Entry::Tick)], None)
                    .await
                    .unwrap_err();
                assert!(
                    e.to_string()
                        .contains(&format!("an append at entry {first_seq}, but 3 are stored")),
                    "{e}"
                );
            }
            // So is one for a room that was never created.
            let e = o
                .journal
                .append(RoomCode::random(), 0, vec![(1004, Entry::Tick)], None)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("is not stored"), "{e}");
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
            .prepare("SELECT entry FROM log ORDER BY id")
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
            .query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    fn write(pid: u32, text: &str) -> Entry {
        Entry::Cmd(Command::Write(crate::room::WriteSlot {
            pid: crate::room::Pid(pid),
            slot: 0,
            text: text.into(),
            round: None,
            builds_on: None,
            sheet: None,
        }))
    }

    /// Rooms whose entries interleave in the log come back whole and in order, and deleting
    /// one (by its rowid span) leaves every entry of the others, also those inside its span.
    #[tokio::test]
    async fn interleaved_rooms_reload_in_order_and_delete_alone() {
        let (_dir, path) = tmp();
        let codes: Vec<RoomCode> = (0..3).map(|_| RoomCode::random()).collect();
        let settings = Settings::classic("topic");
        {
            let o = open(&path, |_, _| false).unwrap();
            for (i, code) in codes.iter().enumerate() {
                o.journal
                    .create_room(*code, &settings, i as u64, [i as u8; 32], 1000)
                    .await
                    .unwrap();
            }
            // Round-robin: room 0's entries span everyone's.
            for seq in 0..20u64 {
                let appends = codes.iter().enumerate().map(|(i, code)| {
                    o.journal.append(
                        *code,
                        seq,
                        vec![(2000 + seq, write(i as u32, &format!("{i}:{seq}")))],
                        None,
                    )
                });
                for r in futures_util::future::join_all(appends).await {
                    r.unwrap();
                }
            }
            o.journal.delete(codes[0]).await.unwrap();
            // Deleted: its next append is refused, and it can be created again, empty.
            assert!(
                o.journal
                    .append(codes[0], 20, vec![(3000, Entry::Tick)], None)
                    .await
                    .is_err()
            );
            o.journal.close().await.unwrap();
        }
        let o = open(&path, |_, _| false).unwrap();
        let mut loaded: Vec<_> = o
            .rooms
            .iter()
            .map(|r| (r.seed, r.entries.clone()))
            .collect();
        loaded.sort_by_key(|r| r.0);
        let want = |i: u32| -> Vec<(Millis, Entry)> {
            (0..20u64)
                .map(|seq| (2000 + seq, write(i, &format!("{i}:{seq}"))))
                .collect()
        };
        assert_eq!(loaded, vec![(1, want(1)), (2, want(2))]);
        // The next append of a reloaded room continues where its log ends, and only there.
        assert!(
            o.journal
                .append(codes[1], 19, vec![(3000, Entry::Tick)], None)
                .await
                .is_err()
        );
        o.journal
            .append(codes[1], 20, vec![(3000, Entry::Tick)], None)
            .await
            .unwrap();
        o.journal.close().await.unwrap();
        let n: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 41);
    }

    /// A journal written with schema 1 (entries keyed by room and seq) opens with every room
    /// and entry, as schema 2, and keeps working; a newer schema is refused, untouched.
    #[tokio::test]
    async fn a_schema_1_journal_is_migrated_and_a_newer_one_refused() {
        let (_dir, path) = tmp();
        let code = RoomCode::random();
        let other = RoomCode::random();
        let settings = Settings::classic("topic");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 CREATE TABLE rooms(
                     code TEXT PRIMARY KEY,
                     created_ms INTEGER NOT NULL,
                     seed INTEGER NOT NULL,
                     settings TEXT NOT NULL,
                     facilitator_hash BLOB NOT NULL,
                     finished_ms INTEGER);
                 CREATE TABLE entries(
                     code TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
                     seq INTEGER NOT NULL,
                     at_ms INTEGER NOT NULL,
                     entry TEXT NOT NULL,
                     PRIMARY KEY(code, seq)) WITHOUT ROWID;
                 INSERT INTO meta VALUES ('alive_ms', 4242);",
            )
            .unwrap();
            for (c, seed) in [(code, 5i64), (other, 6)] {
                conn.execute(
                    "INSERT INTO rooms VALUES (?1, 1000, ?2, ?3, ?4, NULL)",
                    params![
                        c.as_str(),
                        seed,
                        serde_json::to_string(&settings).unwrap(),
                        &[seed as u8; 32][..]
                    ],
                )
                .unwrap();
            }
            // Stored out of order on purpose: the old table was read by (code, seq).
            for (c, seq, at, e) in [
                (other, 0, 1001, r#"{"cmd":"start"}"#),
                (code, 1, 1003, r#""tick""#),
                (code, 0, 1002, r#"{"cmd":"start"}"#),
            ] {
                conn.execute(
                    "INSERT INTO entries VALUES (?1, ?2, ?3, ?4)",
                    params![c.as_str(), seq, at, e],
                )
                .unwrap();
            }
        }
        let o = open(&path, |_, _| false).unwrap();
        assert_eq!(o.alive_ms, 4242);
        let room = |c: RoomCode| {
            o.rooms
                .iter()
                .find(|r| r.code == c)
                .unwrap()
                .entries
                .clone()
        };
        assert_eq!(
            room(code),
            vec![(1002, Entry::Cmd(Command::Start)), (1003, Entry::Tick)]
        );
        assert_eq!(room(other), vec![(1001, Entry::Cmd(Command::Start))]);
        o.journal
            .append(code, 2, vec![(1004, Entry::Tick)], None)
            .await
            .unwrap();
        o.journal.close().await.unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            let (version, old): (i64, bool) = conn
                .query_row(
                    "SELECT (SELECT user_version FROM pragma_user_version),
                            EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'entries')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((version, old), (SCHEMA, false));
            conn.pragma_update(None, "user_version", SCHEMA + 1)
                .unwrap();
        }
        let e = open(&path, |_, _| false).unwrap_err();
        assert!(e.to_string().contains("newer brainwrite"), "{e}");
    }
}
