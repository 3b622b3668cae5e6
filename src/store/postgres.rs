//! The PostgreSQL backend of the journal, for several brainwrite nodes on one database: its
//! schema (created and migrated here, versioned in `schema_version`), the writer task (group
//! commit: one transaction per batch, one result per request), each node's lease, and room
//! ownership with fencing ([`Node`]), and the cooperative handoff's side of the database
//! (the `handoffs` table, `NOTIFY` to a node's channel, the listener that hears it).
//!
//! Crate: `tokio-postgres`, the async client of the rust-postgres project (the most used
//! PostgreSQL client in Rust, maintained since 2013): it runs on tokio like the rest of the
//! server and pipelines the statements of one batch on one connection, so a batch of many
//! rooms costs one round trip plus `BEGIN`/`COMMIT`, not one per room, and its appends are
//! one statement with array parameters (a batch of appends only is that one statement, in
//! its own implicit transaction: one round trip). No pool: the backend
//! holds two connections (the writer's, and the control one the hub's cluster loop uses for
//! claims and loads), each reopened when it breaks.
//!
//! # Ownership and fencing
//! Every node renews a row in `nodes` ([`Backend::alive`], every second) with
//! `expires = clock_timestamp() + lease`: the database's clock judges every lease, never a
//! node's. Every room row names its `owner` and an `epoch` that grows at every takeover. A
//! batch's appends are one statement that updates each room's row `WHERE code = … AND owner
//! = me AND epoch = …` and inserts a room's entries only if its row matched (one statement
//! for 800 rooms' boundary, not 800): a takeover (which changes owner and epoch under the
//! same row lock) and an append are serialized by PostgreSQL, so once a takeover has committed the old owner's
//! appends store nothing and answer [`StoreError::Fenced`]. A takeover is a compare-and-swap
//! on `(owner, epoch)`: when two nodes race, exactly one update matches.
//!
//!
//! # Cooperative handoff
//! PostgreSQL is the only channel between nodes. A node that wants a room whose owner is
//! alive records the request in `handoffs` (one row per room: who is asked, at which epoch,
//! by whom) and `NOTIFY`s the owner's channel ([`Node::ask_and_wait`]); every node `LISTEN`s
//! on its own channel ([`Node::listen`], `bw_` and 16 hex digits of the MD5 of its name, so
//! any name makes a valid channel). The owner stops the room's actor (which commits what it
//! accepted), then releases it in one statement ([`Node::release`]): owner ← requester,
//! epoch + 1, the request deleted, and a `NOTIFY` to the requester, all committed together.
//! The requester watches the room's row (woken by that notification, polling as a fallback)
//! and claims it once it names it; if the owner does not answer within the requester's
//! bound, the requester claims the room by force and fencing keeps that safe. The listening
//! session carries the channel as its `application_name`, so a requester does not wait for
//! an owner that has no session any more (killed: the database closed its connections).
//!
//! This module must not hold a lock across an `.await` or queue without bound; it knows
//! nothing about sockets, messages or the room engine beyond what it stores.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures_util::future::{BoxFuture, join, join_all};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};
use tracing::{error, info, warn};

use super::{Backend, Entry, Journal, Opened, StoreError, StoredRoom};
use crate::ids::RoomCode;
use crate::room::{Millis, Settings};

/// Requests queued before senders wait.
const QUEUE: usize = 4096;
/// Most requests committed in one transaction.
const MAX_BATCH: usize = 1024;
/// Longest wait for a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The schema this code writes.
const SCHEMA_VERSION: i32 = 3;
/// How often a node waiting for a handoff reads the room's row between notifications.
const RELEASE_POLL: Duration = Duration::from_millis(50);
/// Handoff requests the listener queues for the hub before it drops new ones (the cluster
/// loop finds dropped ones in the table every quarter lease).
pub const ASK_QUEUE: usize = 256;
/// How long the listener waits before reconnecting after its connection broke.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

const MIGRATION_1: &str = "
    CREATE TABLE nodes(
        node TEXT PRIMARY KEY,
        expires TIMESTAMPTZ NOT NULL,
        alive_ms BIGINT NOT NULL DEFAULT 0);
    CREATE TABLE rooms(
        code TEXT PRIMARY KEY,
        created_ms BIGINT NOT NULL,
        seed BIGINT NOT NULL,
        settings TEXT NOT NULL,
        facilitator_hash BYTEA NOT NULL,
        finished_ms BIGINT,
        owner TEXT NOT NULL,
        epoch BIGINT NOT NULL);
    CREATE INDEX rooms_owner ON rooms(owner);
    CREATE TABLE entries(
        code TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        entry TEXT NOT NULL,
        PRIMARY KEY(code, seq));";

/// Version 2: requests to hand a room over (cooperative handoff).
const MIGRATION_2: &str = "
    CREATE TABLE handoffs(
        code TEXT PRIMARY KEY REFERENCES rooms(code) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        requester TEXT NOT NULL,
        asked TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
    CREATE INDEX handoffs_owner ON handoffs(owner);";

/// A node's notification channel, from its name (any name gives a valid identifier).
const CHANNEL: &str = "'bw_' || left(md5($1::text), 16)";

/// Record a request for a room and tell its owner: $1 code, $2 owner, $3 epoch, $4 me.
const ASK: &str = "
    WITH h AS (
        INSERT INTO handoffs(code, owner, epoch, requester) VALUES ($1, $2, $3, $4)
        ON CONFLICT (code) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch,
            requester = EXCLUDED.requester, asked = clock_timestamp()
        RETURNING code)
    SELECT pg_notify('bw_' || left(md5($2::text), 16), 'ask ' || $1::text || ' ' || $3::bigint)
    FROM h";

/// Give a room to the node that asked for it, in one statement (one transaction): $1 code,
/// $2 me, $3 my epoch. Nothing changes unless the room is still mine at that epoch and
/// someone asked for it at that epoch.
const RELEASE: &str = "
    WITH h AS (
        DELETE FROM handoffs WHERE code = $1 AND owner = $2 AND epoch = $3
        RETURNING requester),
    r AS (
        UPDATE rooms SET owner = h.requester, epoch = rooms.epoch + 1 FROM h
        WHERE rooms.code = $1 AND rooms.owner = $2 AND rooms.epoch = $3
        RETURNING rooms.epoch, h.requester)
    SELECT epoch, requester,
        pg_notify('bw_' || left(md5(requester), 16), 'released ' || $1::text)
    FROM r";

/// Version 3: `entries` no longer references `rooms`. The foreign key ran a lookup and a row
/// lock on the room for every entry inserted; the fenced append already matches the room
/// row, and a room's entries are deleted with it ([`DELETE_ROOM`]).
const MIGRATION_3: &str = "ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_code_fkey;";

/// Delete a room and its entries if it is still ours: $1 code, $2 me, $3 my epoch.
const DELETE_ROOM: &str = "
    WITH r AS (
        DELETE FROM rooms WHERE code = $1 AND owner = $2 AND epoch = $3 RETURNING code)
    DELETE FROM entries WHERE code IN (SELECT code FROM r)";

/// The fenced append of a whole batch, in one statement: each room's row is updated `WHERE
/// owner = me AND epoch = the epoch I hold it at`, and its entries are inserted only if that
/// row matched; the codes of the rooms that matched are returned (the others are fenced).
/// $1 me; per room $2 code, $3 epoch, $4 finish time or NULL; per entry $5 code, $6 seq,
/// $7 time, $8 the entry.
const APPEND: &str = "
    WITH req AS (
        SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS r(code, epoch, finished)),
    fence AS (
        UPDATE rooms SET finished_ms = COALESCE(req.finished, rooms.finished_ms)
        FROM req
        WHERE rooms.code = req.code AND rooms.owner = $1 AND rooms.epoch = req.epoch
        RETURNING rooms.code),
    stored AS (
        INSERT INTO entries(code, seq, at_ms, entry)
        SELECT e.code, e.seq, e.at, e.entry
        FROM unnest($5::text[], $6::bigint[], $7::bigint[], $8::text[]) AS e(code, seq, at, entry)
        WHERE e.code IN (SELECT code FROM fence))
    SELECT code FROM fence";

/// How to reach the database and who this node is.
#[derive(Debug, Clone)]
pub struct Options {
    /// `postgres://USER@HOST/DB` (libpq-style URL or key=value string).
    pub url: String,
    /// This node's name, unique in the cluster.
    pub node: String,
    /// How long a lease lasts after each renewal.
    pub lease: Duration,
}

/// This node's standing: its name, its lease and the rooms it holds, with their epochs.
/// Shared by the backend (which fences with it) and the hub's cluster loop.
#[derive(Debug)]
pub struct Node {
    opts: Options,
    held: DashMap<RoomCode, i64>,
    /// When the last renewal that succeeded was sent.
    renewed: Mutex<Option<Instant>>,
    /// Woken when a room this node asked for was released to it.
    released: tokio::sync::Notify,
}

/// What became of a request for a room ([`Node::ask_and_wait`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The owner released it to this node.
    Released,
    /// The owner is not connected to the database (killed or cut off): not waited for.
    Gone,
    /// The owner did not release it in time.
    TimedOut,
    /// Someone else has it now, or it is gone.
    Elsewhere,
}

/// A room this node just took over, ready to restore, and the last moment its previous owner
/// is known to have run (to give the lost time back).
#[derive(Debug)]
pub struct Claimed {
    /// The room and its log.
    pub room: StoredRoom,
    /// When the previous owner last recorded that it was alive.
    pub alive_ms: Millis,
}

impl Node {
    /// This node's name.
    pub fn name(&self) -> &str {
        &self.opts.node
    }

    /// Does this node hold its lease now (judged conservatively: from when the last
    /// successful renewal was sent, so never longer than the database grants)?
    pub fn holds_lease(&self) -> bool {
        self.renewed
            .lock()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|t| t.elapsed() < self.opts.lease)
    }

    /// Rooms this node holds.
    pub fn rooms_held(&self) -> usize {
        self.held.len()
    }

    /// Does this node hold `code`?
    pub fn holds(&self, code: &RoomCode) -> bool {
        self.held.contains_key(code)
    }

    /// The epoch at which this node holds `code`.
    pub fn epoch_of(&self, code: &RoomCode) -> Option<i64> {
        self.held.get(code).map(|e| *e)
    }

    /// Stop holding `code` at `epoch` (another node has it now): its appends are fenced.
    pub fn forget(&self, code: &RoomCode, epoch: i64) {
        self.held.remove_if(code, |_, e| *e == epoch);
    }

    /// A new control connection.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        connect(&self.opts.url).await
    }

    /// Rooms this node believed it held that another node has taken over since; they are
    /// forgotten here (their appends are fenced from now on).
    pub async fn lost(&self, c: &Client) -> Result<Vec<RoomCode>, StoreError> {
        // Only rooms held before the query are judged: one created meanwhile is not lost.
        let before: Vec<(RoomCode, i64)> =
            self.held.iter().map(|e| (*e.key(), *e.value())).collect();
        let codes: Vec<&str> = before.iter().map(|(c, _)| c.as_str()).collect();
        let rows = c
            .query(
                "SELECT code, owner, epoch FROM rooms WHERE code = ANY($1::text[])",
                &[&codes],
            )
            .await
            .map_err(pg)?;
        let now: HashMap<String, (String, i64)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        let mut lost = Vec::new();
        for (code, epoch) in before {
            let ours = now
                .get(code.as_str())
                .is_some_and(|(o, e)| *o == self.opts.node && *e == epoch);
            if !ours && self.held.remove_if(&code, |_, e| *e == epoch).is_some() {
                lost.push(code);
            }
        }
        Ok(lost)
    }

    /// Take over up to `limit` rooms whose owner's lease has expired (on the database's
    /// clock), each by a compare-and-swap of owner and epoch, and load them.
    pub async fn adopt(&self, c: &Client, limit: i64) -> Result<Vec<Claimed>, StoreError> {
        let rows = c
            .query(
                "SELECT r.code, r.owner, r.epoch, COALESCE(n.alive_ms, 0)
                 FROM rooms r LEFT JOIN nodes n ON n.node = r.owner
                 WHERE r.owner <> $1 AND (n.expires IS NULL OR n.expires < clock_timestamp())
                 ORDER BY r.created_ms LIMIT $2",
                &[&self.opts.node, &limit],
            )
            .await
            .map_err(pg)?;
        let mut claimed = Vec::new();
        for row in rows {
            let (code, owner, epoch, alive): (String, String, i64, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if let Some(epoch) = self.claim(c, &code, &owner, epoch).await? {
                info!(room = %code, from = %owner, epoch, "room taken over");
                let room = load_room(c, &code).await?;
                claimed.push(Claimed {
                    room,
                    alive_ms: alive.max(0) as Millis,
                });
            }
        }
        Ok(claimed)
    }

    /// Who owns `code` now: (owner, epoch, whether the owner's lease is live, the owner's
    /// last alive time); `None` for no such room.
    pub async fn owner(
        &self,
        c: &Client,
        code: &str,
    ) -> Result<Option<(String, i64, bool, Millis)>, StoreError> {
        let row = c
            .query_opt(
                "SELECT r.owner, r.epoch, COALESCE(n.expires >= clock_timestamp(), false),
                        COALESCE(n.alive_ms, 0)
                 FROM rooms r LEFT JOIN nodes n ON n.node = r.owner WHERE r.code = $1",
                &[&code],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get::<_, i64>(3).max(0) as Millis,
            )
        }))
    }

    /// Load a room this node has just claimed.
    pub async fn load(&self, c: &Client, code: &str) -> Result<StoredRoom, StoreError> {
        load_room(c, code).await
    }

    /// Take `code` from `owner` at `epoch`: the new epoch if this node won (it holds the
    /// room from now on), `None` if someone else changed the room first.
    pub async fn claim(
        &self,
        c: &Client,
        code: &str,
        owner: &str,
        epoch: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = c
            .query_opt(
                "UPDATE rooms SET owner = $1, epoch = epoch + 1
                 WHERE code = $2 AND owner = $3 AND epoch = $4 RETURNING epoch",
                &[&self.opts.node, &code, &owner, &epoch],
            )
            .await
            .map_err(pg)?;
        let won: Option<i64> = row.map(|r| r.get(0));
        if let (Some(epoch), Some(code)) = (won, RoomCode::parse(code)) {
            self.held.insert(code, epoch);
        }
        Ok(won)
    }

    /// Ask `owner`, alive, to hand `code` (held at `epoch`) over to this node, and wait up to
    /// `wait` for it to do so. An owner that is not connected to the database (no session
    /// listening on its channel: killed, or cut off) is not waited for. Claiming the room
    /// is the caller's.
    pub async fn ask_and_wait(
        &self,
        c: &Client,
        code: &str,
        owner: &str,
        epoch: i64,
        wait: Duration,
    ) -> Result<Asked, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut asked = false;
        loop {
            // Registered before the read, so a release between the two is not missed.
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let row = c
                .query_opt(
                    "SELECT owner, EXISTS (SELECT 1 FROM pg_stat_activity
                                           WHERE application_name = 'bw_' || left(md5(owner), 16))
                     FROM rooms WHERE code = $1",
                    &[&code],
                )
                .await
                .map_err(pg)?;
            match row.map(|r| (r.get::<_, String>(0), r.get::<_, bool>(1))) {
                Some((o, _)) if o == self.opts.node => return Ok(Asked::Released),
                Some((o, false)) if o == owner => return Ok(Asked::Gone),
                Some((o, true)) if o == owner => {}
                _ => return Ok(Asked::Elsewhere),
            }
            if !asked {
                c.execute(ASK, &[&code, &owner, &epoch, &self.opts.node])
                    .await
                    .map_err(pg)?;
                asked = true;
                continue;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Asked::TimedOut);
            }
            let nap = (deadline - now).min(RELEASE_POLL);
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// This node no longer waits for `code` (it claimed it by force): drop its request, so
    /// the old owner does not act on it later.
    pub async fn drop_ask(&self, c: &Client, code: &str) -> Result<(), StoreError> {
        c.execute(
            "DELETE FROM handoffs WHERE code = $1 AND requester = $2",
            &[&code, &self.opts.node],
        )
        .await
        .map_err(pg)
        .map(|_| ())
    }

    /// Give `code`, held here at `epoch`, to the node that asked for it at that epoch: the
    /// node it went to, or `None` if nothing changed (no such request, or the room is not
    /// this node's at that epoch any more). Forgets the room here when it went.
    pub async fn release(
        &self,
        c: &Client,
        code: &RoomCode,
        epoch: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = c
            .query_opt(RELEASE, &[&code.as_str(), &self.opts.node, &epoch])
            .await
            .map_err(pg)?;
        let to = row.map(|r| r.get::<_, String>(1));
        if to.is_some() {
            self.forget(code, epoch);
        }
        Ok(to)
    }

    /// Requests for rooms this node holds, at the epoch it holds them (the ones the listener
    /// missed or dropped): (room, epoch).
    pub async fn asks(&self, c: &Client) -> Result<Vec<(RoomCode, i64)>, StoreError> {
        let rows = c
            .query(
                "SELECT h.code, h.epoch FROM handoffs h JOIN rooms r ON r.code = h.code
                 WHERE h.owner = $1 AND r.owner = $1 AND r.epoch = h.epoch",
                &[&self.opts.node],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((RoomCode::parse(r.get(0))?, r.get(1))))
            .filter(|(code, epoch)| self.epoch_of(code) == Some(*epoch))
            .collect())
    }

    /// Listen on this node's channel until `stop` fires, reconnecting when the connection
    /// breaks: requests to hand a room over go to `asks` as (room, epoch) (dropped when it
    /// is full; [`Node::asks`] finds them later), and a release to this node wakes
    /// [`Node::ask_and_wait`].
    pub async fn listen(
        self: Arc<Self>,
        asks: mpsc::Sender<(RoomCode, i64)>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                r = self.listen_once(&asks) => {
                    if let Err(e) = r {
                        warn!(error = %e, "handoff listener stopped; reconnecting");
                    }
                }
                () = stop.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(LISTEN_RETRY) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// One connection's worth of [`Node::listen`]: returns when it breaks.
    async fn listen_once(&self, asks: &mpsc::Sender<(RoomCode, i64)>) -> Result<(), StoreError> {
        let (client, mut conn) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_postgres::connect(&self.opts.url, NoTls),
        )
        .await
        .map_err(|_| StoreError::Backend("cannot connect to PostgreSQL: timed out".into()))?
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        // The connection is driven here (not spawned) to see its notifications.
        let driver = std::future::poll_fn(|cx| {
            loop {
                match conn.poll_message(cx) {
                    std::task::Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                        self.notified(n.payload(), asks);
                    }
                    std::task::Poll::Ready(Some(Ok(_))) => {}
                    std::task::Poll::Ready(Some(Err(e))) => return std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Ready(None) => return std::task::Poll::Ready(Ok(())),
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
            }
        });
        tokio::pin!(driver);
        let setup = async {
            let chan: String = client
                .query_one(&format!("SELECT {CHANNEL}"), &[&self.opts.node])
                .await?
                .get(0);
            // The session is named after the channel: a node asking for a room sees in
            // `pg_stat_activity` whether its owner is still connected.
            client
                .batch_execute(&format!("SET application_name = '{chan}'; LISTEN {chan}"))
                .await
        };
        tokio::select! {
            r = &mut driver => return r.map_err(pg),
            r = setup => r.map_err(pg)?,
        }
        info!(node = %self.opts.node, "listening for handoff requests");
        driver.await.map_err(pg)
    }

    /// A notification on this node's channel.
    fn notified(&self, payload: &str, asks: &mpsc::Sender<(RoomCode, i64)>) {
        let mut words = payload.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ask"), Some(code), Some(epoch)) => {
                if let (Some(code), Ok(epoch)) = (RoomCode::parse(code), epoch.parse()) {
                    let _ = asks.try_send((code, epoch));
                }
            }
            (Some("released"), Some(_), None) => self.released.notify_waiters(),
            _ => warn!(payload, "unknown notification"),
        }
    }
}

enum Req {
    CreateRoom(StoredRoom),
    Append {
        code: RoomCode,
        first_seq: u64,
        entries: Vec<(Millis, String)>,
        finished: Option<Millis>,
    },
    Delete(RoomCode),
    Alive(Millis),
    Close,
}

/// What one request came to.
#[derive(Debug, Clone)]
enum Outcome {
    Ok,
    Fenced,
    Failed(String),
}

struct Pending {
    req: Req,
    done: oneshot::Sender<Outcome>,
}

/// The PostgreSQL journal: the queue to the writer task.
#[derive(Debug)]
pub struct Postgres {
    tx: mpsc::Sender<Pending>,
    node: Arc<Node>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Open a connection and run it on the runtime.
async fn connect(url: &str) -> Result<Client, StoreError> {
    // Bounded: an unreachable host must not hold the writer (and every room's commit) for
    // the kernel's TCP timeout.
    let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_postgres::connect(url, NoTls))
        .await
        .map_err(|_| StoreError::Backend("cannot connect to PostgreSQL: timed out".into()))?
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Create or migrate the schema; concurrent nodes wait for each other (advisory lock).
async fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let tx = c.transaction().await.map_err(pg)?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(635635);
         CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);",
    )
    .await
    .map_err(pg)?;
    let have: i32 = tx
        .query_opt("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(pg)?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if have > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database's schema is version {have}, newer than this server's {SCHEMA_VERSION}"
        )));
    }
    if have < 1 {
        tx.batch_execute(MIGRATION_1).await.map_err(pg)?;
        info!("PostgreSQL schema created (version 1)");
    }
    if have < 2 {
        tx.batch_execute(MIGRATION_2).await.map_err(pg)?;
        info!("PostgreSQL schema migrated to version 2 (handoffs)");
    }
    if have < 3 {
        tx.batch_execute(MIGRATION_3).await.map_err(pg)?;
        info!("PostgreSQL schema migrated to version 3 (entries without a foreign key)");
    }
    tx.execute("DELETE FROM schema_version", &[])
        .await
        .map_err(pg)?;
    tx.execute(
        "INSERT INTO schema_version(version) VALUES ($1)",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)
}

async fn renew(c: &Client, node: &Node, now: Millis) -> Result<(), tokio_postgres::Error> {
    let lease = node.opts.lease.as_millis() as i64;
    c.execute(
        "INSERT INTO nodes(node, expires, alive_ms)
         VALUES ($1, clock_timestamp() + $2::bigint * interval '1 millisecond', $3)
         ON CONFLICT (node) DO UPDATE SET expires = EXCLUDED.expires, alive_ms = EXCLUDED.alive_ms",
        &[&node.opts.node, &lease, &(now as i64)],
    )
    .await
    .map(|_| ())
}

async fn load_room(c: &Client, code: &str) -> Result<StoredRoom, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt {
        code: code.to_owned(),
        seq: -1,
        why,
    };
    let row = c
        .query_one(
            "SELECT created_ms, seed, settings, facilitator_hash FROM rooms WHERE code = $1",
            &[&code],
        )
        .await
        .map_err(pg)?;
    let room_code = RoomCode::parse(code).ok_or_else(|| corrupt("bad code".into()))?;
    let settings: Settings =
        serde_json::from_str(row.get::<_, &str>(2)).map_err(|e| corrupt(e.to_string()))?;
    let facilitator_hash: [u8; 32] = row
        .get::<_, &[u8]>(3)
        .try_into()
        .map_err(|_| corrupt("facilitator hash is not 32 bytes".into()))?;
    let mut room = StoredRoom {
        code: room_code,
        settings,
        seed: row.get::<_, i64>(1) as u64,
        facilitator_hash,
        created_ms: row.get::<_, i64>(0) as Millis,
        entries: Vec::new(),
    };
    let rows = c
        .query(
            "SELECT seq, at_ms, entry FROM entries WHERE code = $1 ORDER BY seq",
            &[&code],
        )
        .await
        .map_err(pg)?;
    for (i, r) in rows.iter().enumerate() {
        let seq: i64 = r.get(0);
        if seq != i as i64 {
            return Err(StoreError::Corrupt {
                code: code.to_owned(),
                seq,
                why: format!("expected entry {i}"),
            });
        }
        let entry: Entry =
            serde_json::from_str(r.get::<_, &str>(2)).map_err(|e| StoreError::Corrupt {
                code: code.to_owned(),
                seq,
                why: e.to_string(),
            })?;
        room.entries.push((r.get::<_, i64>(1) as Millis, entry));
    }
    Ok(room)
}

/// Connect, migrate the schema, take this node's lease, take over the rooms a previous run
/// of this node held (dropping those that expired), load them, and start the writer.
/// Returns the journal, this node's standing, and a control connection for the cluster loop.
pub async fn open(
    opts: Options,
    expired: impl Fn(Option<Millis>, Millis) -> bool,
    now: Millis,
) -> Result<(Opened, Arc<Node>, Client), StoreError> {
    let mut control = connect(&opts.url).await?;
    migrate(&mut control).await?;
    let node = Arc::new(Node {
        opts,
        held: DashMap::new(),
        renewed: Mutex::new(None),
        released: tokio::sync::Notify::new(),
    });
    let alive_ms = control
        .query_opt(
            "SELECT alive_ms FROM nodes WHERE node = $1",
            &[&node.opts.node],
        )
        .await
        .map_err(pg)?
        .map_or(0, |r| r.get::<_, i64>(0).max(0) as Millis);
    let sent = Instant::now();
    renew(&control, &node, now).await.map_err(pg)?;
    if let Ok(mut r) = node.renewed.lock() {
        *r = Some(sent);
    }
    let rows = control
        .query(
            "UPDATE rooms r SET epoch = epoch + 1 WHERE owner = $1
             RETURNING code, epoch, finished_ms,
                 COALESCE((SELECT max(at_ms) FROM entries e WHERE e.code = r.code), created_ms)",
            &[&node.opts.node],
        )
        .await
        .map_err(pg)?;
    let mut rooms = Vec::new();
    for row in rows {
        let (code, epoch, finished, last): (String, i64, Option<i64>, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if expired(finished.map(|f| f as Millis), last as Millis) {
            control
                .execute(DELETE_ROOM, &[&code, &node.opts.node, &epoch])
                .await
                .map_err(pg)?;
            info!(room = %code, "expired room deleted");
            continue;
        }
        let room = load_room(&control, &code).await?;
        node.held.insert(room.code, epoch);
        rooms.push(room);
    }
    let writer_conn = Conn::open(&node.opts.url).await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let writer = tokio::spawn(writer(node.clone(), Some(writer_conn), rx));
    Ok((
        Opened {
            journal: Journal::new(Postgres {
                tx,
                node: node.clone(),
                writer: Mutex::new(Some(writer)),
            }),
            rooms,
            alive_ms,
        },
        node,
        control,
    ))
}

/// The writer's connection and its prepared append.
struct Conn {
    client: Client,
    append: Statement,
}

impl Conn {
    async fn open(url: &str) -> Result<Conn, StoreError> {
        let client = connect(url).await?;
        let append = client.prepare(APPEND).await.map_err(pg)?;
        Ok(Conn { client, append })
    }
}

/// The writer task: take what is queued, commit it in one transaction, answer everyone.
async fn writer(node: Arc<Node>, mut conn: Option<Conn>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let closing = batch.iter().any(|p| matches!(p.req, Req::Close));
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            conn = match Conn::open(&node.opts.url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    error!(error = %e, "journal unreachable");
                    None
                }
            };
        }
        let started = Instant::now();
        let outcomes = match &conn {
            Some(c) => commit(c, &node, &batch, started).await,
            None => Err("PostgreSQL is unreachable".to_owned()),
        };
        crate::metrics::journal_commit(started.elapsed(), batch.len());
        match outcomes {
            Ok(outcomes) => {
                for (p, o) in batch.drain(..).zip(outcomes) {
                    let _ = p.done.send(o);
                }
            }
            Err(e) => {
                error!(error = %e, requests = batch.len(), "journal commit failed");
                for p in batch.drain(..) {
                    let _ = p.done.send(Outcome::Failed(e.clone()));
                }
            }
        }
        if closing {
            if let Some(c) = &conn {
                // Give the lease up: the other nodes adopt this node's rooms at once.
                let _ = c
                    .client
                    .execute(
                        "UPDATE nodes SET expires = clock_timestamp() WHERE node = $1",
                        &[&node.opts.node],
                    )
                    .await;
            }
            return;
        }
    }
}

/// One transaction for the whole batch, its statements pipelined; an error in any of them
/// fails all of them (nothing of the batch is stored). Fenced appends store nothing and do
/// not fail the others.
///
/// A batch of appends only (the steady state of a busy node) is the one [`APPEND`]
/// statement in its own implicit transaction: one round trip instead of three. It is as
/// durable: the statement's answer ends at `ReadyForQuery`, which PostgreSQL sends after the
/// implicit transaction committed (and, with `synchronous_commit`, after its WAL flush).
async fn commit(
    c: &Conn,
    node: &Node,
    batch: &[Pending],
    started: Instant,
) -> Result<Vec<Outcome>, String> {
    let explicit = batch.iter().any(|p| !matches!(p.req, Req::Append { .. }));
    if explicit {
        c.client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| e.to_string())?;
    }
    // Every append of the batch in one statement, the other requests beside it, pipelined.
    let others = batch
        .iter()
        .filter(|p| !matches!(p.req, Req::Append { .. }))
        .map(|p| one(c, node, &p.req));
    let (results, stored) = join(join_all(others), append_all(c, node, batch)).await;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut failed = None;
    let mut fail = |e: tokio_postgres::Error| {
        failed.get_or_insert_with(|| {
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned())
        });
    };
    let stored = stored.unwrap_or_else(|e| {
        fail(e);
        HashSet::new()
    });
    let mut results = results.into_iter();
    for p in batch {
        match &p.req {
            Req::Append { code, .. } if stored.contains(code.as_str()) => {
                outcomes.push(Outcome::Ok);
            }
            Req::Append { .. } => outcomes.push(Outcome::Fenced),
            _ => match results.next() {
                Some(Ok(o)) => outcomes.push(o),
                Some(Err(e)) => fail(e),
                None => outcomes.push(Outcome::Failed("no result".to_owned())),
            },
        }
    }
    if let Some(e) = failed {
        if explicit {
            let _ = c.client.batch_execute("ROLLBACK").await;
        }
        return Err(e);
    }
    if explicit {
        c.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| e.to_string())?;
    }
    // Committed: record what it changed about this node.
    for (p, o) in batch.iter().zip(&mut outcomes) {
        match (&p.req, &o) {
            (Req::CreateRoom(room), Outcome::Ok) => {
                node.held.insert(room.code, 1);
            }
            (Req::Delete(code), _) => {
                node.held.remove(code);
            }
            (Req::Append { code, .. }, Outcome::Fenced) => {
                node.held.remove(code);
                crate::metrics::METRICS.fenced_appends.inc();
            }
            (Req::Alive(_), Outcome::Ok) => {
                if let Ok(mut r) = node.renewed.lock() {
                    *r = Some(started);
                }
            }
            _ => {}
        }
    }
    Ok(outcomes)
}

/// The batch's appends in one fenced statement ([`APPEND`]): the codes of the rooms whose
/// entries were stored. A room this node does not hold (or no longer) is left out, so it is
/// fenced like one another node has taken.
async fn append_all(
    c: &Conn,
    node: &Node,
    batch: &[Pending],
) -> Result<HashSet<String>, tokio_postgres::Error> {
    let mut rooms: HashMap<&str, (i64, Option<i64>)> = HashMap::new();
    let (mut codes, mut seqs, mut ats, mut texts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in batch {
        let Req::Append {
            code,
            first_seq,
            entries,
            finished,
        } = &p.req
        else {
            continue;
        };
        let Some(epoch) = node.held.get(code).map(|e| *e) else {
            continue;
        };
        let room = rooms.entry(code.as_str()).or_insert((epoch, None));
        room.1 = finished.map(|f| f as i64).or(room.1);
        for (i, (at, entry)) in entries.iter().enumerate() {
            codes.push(code.as_str());
            seqs.push((*first_seq + i as u64) as i64);
            ats.push(*at as i64);
            texts.push(entry.as_str());
        }
    }
    if rooms.is_empty() {
        return Ok(HashSet::new());
    }
    let (mut room_codes, mut epochs, mut finished) = (Vec::new(), Vec::new(), Vec::new());
    for (code, (epoch, fin)) in rooms {
        room_codes.push(code);
        epochs.push(epoch);
        finished.push(fin);
    }
    let rows = c
        .client
        .query(
            &c.append,
            &[
                &node.opts.node,
                &room_codes,
                &epochs,
                &finished,
                &codes,
                &seqs,
                &ats,
                &texts,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

async fn one(c: &Conn, node: &Node, req: &Req) -> Result<Outcome, tokio_postgres::Error> {
    let me = &node.opts.node;
    match req {
        Req::CreateRoom(room) => {
            let settings = match serde_json::to_string(&room.settings) {
                Ok(s) => s,
                Err(e) => return Ok(Outcome::Failed(e.to_string())),
            };
            c.client
                .execute(
                    "INSERT INTO rooms(code, created_ms, seed, settings, facilitator_hash,
                                       owner, epoch)
                     VALUES ($1, $2, $3, $4, $5, $6, 1)",
                    &[
                        &room.code.as_str(),
                        &(room.created_ms as i64),
                        &(room.seed as i64),
                        &settings,
                        &&room.facilitator_hash[..],
                        me,
                    ],
                )
                .await?;
            Ok(Outcome::Ok)
        }
        // All of a batch's appends go in one statement (`append_all`).
        Req::Append { .. } => Ok(Outcome::Failed("an append outside its batch".to_owned())),
        Req::Delete(code) => {
            let epoch = node.held.get(code).map_or(-1, |e| *e);
            c.client
                .execute(DELETE_ROOM, &[&code.as_str(), me, &epoch])
                .await?;
            Ok(Outcome::Ok)
        }
        Req::Alive(now) => {
            renew(&c.client, node, *now).await?;
            Ok(Outcome::Ok)
        }
        Req::Close => Ok(Outcome::Ok),
    }
}

impl Postgres {
    async fn request(&self, req: Req) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Pending { req, done })
            .await
            .map_err(|_| StoreError::Stopped)?;
        match rx.await {
            Ok(Outcome::Ok) => Ok(()),
            Ok(Outcome::Fenced) => Err(StoreError::Fenced),
            Ok(Outcome::Failed(why)) => Err(StoreError::Backend(why)),
            Err(_) => Err(StoreError::Stopped),
        }
    }

    async fn close(&self) -> Result<(), StoreError> {
        let closed = self.request(Req::Close).await;
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            let _ = w.await;
        }
        closed
    }
}

impl Backend for Postgres {
    fn create_room(&self, room: StoredRoom) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::CreateRoom(room)))
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
        Box::pin(self.request(Req::Delete(code)))
    }

    fn alive(&self, now: Millis) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.request(Req::Alive(now)))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Postgres::close(self))
    }

    fn holds(&self, code: RoomCode) -> bool {
        self.node.holds(&code)
    }
}
