//! The registry of live rooms: a `DashMap` from room code to the room actor's handle; room
//! creation (code, facilitator token, journal record), restoring rooms from the journal on
//! start, the expiry reaper and the journal heartbeat; the task tracker every socket and
//! room task is spawned on, so shutdown can wait for them; and the [`Shards`] the rooms (and
//! their sockets) run on.
//!
//! With the journal on PostgreSQL ([`Hub::start`]) it also runs the cluster loop: it forgets
//! the rooms another node has taken over and adopts the rooms of nodes whose lease expired,
//! restoring them through the same path as a restart. And it runs both sides of the
//! cooperative handoff: a request for a room whose owner is alive asks the owner for it and
//! waits (at most [`HANDOFF_WAIT`]) before claiming it by force ([`Hub::bring_here`]); asked
//! for one of its rooms, a node stops the room's actor (which commits what it accepted and
//! closes its sockets with 1012) and releases the room to the node that asked.
//!
//! A map guard is never held across an `.await`: lookups clone the handle out first.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use crate::config::Config;
use crate::ids::{self, RoomCode};
use crate::metrics::METRICS;
use crate::room::{Command, Millis, Room, Settings};
use crate::room_task::{Clock, RoomInfo, RoomMsg, RoomTask};
use crate::shards::{Seat, ShardId, Shards};
use crate::store::postgres::{self, Asked, Node};
use crate::store::{Entry, Journal, StoreError, StoredRoom};

/// Commands a room's queue holds before senders wait.
const ROOM_QUEUE: usize = 1024;
/// How often the journal records that the server is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often expired rooms are looked for.
const REAP_EVERY: Duration = Duration::from_secs(60);
/// Most rooms one turn of the cluster loop adopts.
const ADOPT_PER_TURN: i64 = 200;
/// How long a request for a room whose owner is alive waits for the owner to hand it over
/// (commit, release, close its sockets) before claiming it by force. A handoff of a busy
/// room takes a few milliseconds; an owner that has not answered in a second is stuck
/// (paused, partitioned, overloaded), and fencing makes the forced claim safe.
pub const HANDOFF_WAIT: Duration = Duration::from_secs(1);
/// How long an owner asked for a room waits for the room's actor to commit and stop before
/// releasing it anyway (a commit still running then is fenced, so nothing of it is
/// acknowledged). Well inside [`HANDOFF_WAIT`], so the release comes before the requester
/// gives up.
const HANDOFF_COMMIT: Duration = Duration::from_millis(500);

/// A handle to a room actor.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    /// The actor's inbox.
    pub tx: mpsc::Sender<RoomMsg>,
    /// The shard the actor runs on; its sockets run there too.
    pub shard: ShardId,
}

impl RoomHandle {
    /// Ask the actor for the facilitator's export; `None` if it has stopped.
    pub async fn export(
        &self,
        token: String,
    ) -> Option<Result<crate::export::Export, crate::room_task::ExportError>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(RoomMsg::Export { token, reply }).await.ok()?;
        rx.await.ok()
    }

    /// Ask the actor for its summary; `None` if it has stopped.
    pub async fn info(&self) -> Option<RoomInfo> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(RoomMsg::Info { reply }).await.ok()?;
        rx.await.ok()
    }
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The journal could not be opened or read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The shard threads could not be started.
    #[error("cannot start the shard threads: {0}")]
    Shards(#[from] std::io::Error),
}

/// Why a room could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The server holds as many rooms as it is allowed.
    #[error("the server holds its maximum of {0} rooms; try again later")]
    Full(u32),
    /// The journal could not record it.
    #[error("the room could not be stored: {0}")]
    Store(#[from] StoreError),
}

/// Shared server state.
pub struct Hub {
    rooms: DashMap<RoomCode, RoomHandle>,
    /// Configuration.
    pub config: Config,
    /// The server clock.
    pub clock: Clock,
    /// Fires when the server shuts down.
    pub shutdown: CancellationToken,
    /// Every room and socket task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// The threads rooms and their sockets run on.
    pub shards: Arc<Shards>,
    /// The journal, unless running in memory.
    pub journal: Option<Journal>,
    /// This node's standing in the cluster, with the journal on PostgreSQL.
    pub cluster: Option<Arc<Node>>,
    /// The control connection to PostgreSQL (claims and loads), reopened when it breaks.
    control: std::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
    /// One claim at a time on this node, so two requests for one room claim it once.
    claiming: tokio::sync::Mutex<()>,
    /// Rooms this node is handing over to another one right now.
    leaving: DashMap<RoomCode, ()>,
    journal_ok: AtomicBool,
    draining: AtomicBool,
    connections: AtomicUsize,
    connections_per_ip: DashMap<IpAddr, u32>,
    room_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

/// Why a connection was refused before its upgrade.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnRefused {
    /// The server holds its maximum of connections.
    #[error("the server holds its maximum of {0} connections; try again shortly")]
    Total(u32),
    /// This address holds its maximum.
    #[error("this address holds its maximum of {0} connections")]
    PerIp(u32),
}

/// A counted connection slot; frees itself when dropped.
pub struct ConnSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Possibly on a shard's own thread (its last socket held the hub): no joining here.
        self.shards.cancel();
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.hub.connections.fetch_sub(1, Ordering::Relaxed);
        METRICS.connections.dec();
        if let dashmap::Entry::Occupied(mut e) = self.hub.connections_per_ip.entry(self.ip) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

impl Hub {
    /// A hub with no rooms and no journal (memory only). Starts the shard threads.
    pub fn new(config: Config, shutdown: CancellationToken) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self::bare(config, shutdown, None)?))
    }

    fn bare(
        config: Config,
        shutdown: CancellationToken,
        journal: Option<Journal>,
    ) -> std::io::Result<Self> {
        let per_minute = NonZeroU32::new(config.rooms_per_minute_per_ip).unwrap_or(NonZeroU32::MIN);
        let shards = Arc::new(Shards::start(config.shard_count())?);
        Ok(Hub {
            shards,
            connections: AtomicUsize::new(0),
            connections_per_ip: DashMap::new(),
            room_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            rooms: DashMap::new(),
            config,
            clock: Clock::new(),
            shutdown,
            tracker: TaskTracker::new(),
            journal,
            cluster: None,
            control: std::sync::Mutex::new(None),
            claiming: tokio::sync::Mutex::new(()),
            leaving: DashMap::new(),
            journal_ok: AtomicBool::new(true),
            draining: AtomicBool::new(false),
        })
    }

    /// The hub the configuration asks for: memory only with `--memory`, otherwise the journal
    /// at `--data` with every stored room restored. Starts the heartbeat and the reaper.
    pub fn open(config: Config, shutdown: CancellationToken) -> Result<Arc<Self>, OpenError> {
        if config.memory {
            let hub = Self::new(config, shutdown)?;
            hub.spawn_background();
            return Ok(hub);
        }
        if config.postgres_url().is_some() {
            return Err(
                StoreError::Backend("a PostgreSQL journal is opened by Hub::start".into()).into(),
            );
        }
        let ttl = config.expire_after.as_millis() as Millis;
        let now = Clock::new().now();
        let opened = crate::store::sqlite::open(&config.data, |finished, last| {
            finished.unwrap_or(last).saturating_add(ttl) < now
        })?;
        let hub = Arc::new(Self::bare(config, shutdown, Some(opened.journal))?);
        let n = opened.rooms.len();
        for stored in opened.rooms {
            hub.restore(stored, opened.alive_ms);
        }
        if n > 0 {
            info!(rooms = n, "rooms restored from the journal");
        }
        hub.spawn_background();
        Ok(hub)
    }

    /// The hub the configuration asks for, like [`Hub::open`], and with `--journal` on
    /// PostgreSQL: connects, takes this node's lease and its rooms, and starts the cluster
    /// loop.
    pub async fn start(
        config: Config,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, OpenError> {
        let Some(url) = config.postgres_url() else {
            return Self::open(config, shutdown);
        };
        let ttl = config.expire_after.as_millis() as Millis;
        let clock = Clock::new();
        let now = clock.now();
        let opts = postgres::Options {
            url: url.to_owned(),
            node: config.node_name(),
            lease: Duration::from_millis(u64::from(config.lease_ms)),
        };
        let (opened, node, control) = postgres::open(
            opts,
            |finished, last| finished.unwrap_or(last).saturating_add(ttl) < now,
            now,
        )
        .await?;
        let mut hub = Self::bare(config, shutdown, Some(opened.journal))?;
        hub.cluster = Some(node.clone());
        hub.control = std::sync::Mutex::new(Some(Arc::new(control)));
        let hub = Arc::new(hub);
        let n = opened.rooms.len();
        for stored in opened.rooms {
            hub.restore(stored, opened.alive_ms);
        }
        info!(
            node = node.name(),
            rooms = n,
            "joined the cluster on PostgreSQL"
        );
        hub.spawn_background();
        let (asks_tx, asks) = mpsc::channel(postgres::ASK_QUEUE);
        tokio::spawn(node.clone().listen(asks_tx, hub.shutdown.clone()));
        let asked = hub.clone();
        tokio::spawn(asked.serve_asks(node.clone(), asks));
        let looping = hub.clone();
        tokio::spawn(async move { looping.cluster_loop(node).await });
        Ok(hub)
    }

    /// Every quarter lease: forget the rooms another node took over (their sockets are
    /// closed with 1012 by their actor at its next, fenced, append), and adopt those of nodes
    /// whose lease expired, so their timers keep running and their people can resume here.
    async fn cluster_loop(self: Arc<Self>, node: Arc<Node>) {
        let every = Duration::from_millis(u64::from(self.config.lease_ms) / 4).min(HEARTBEAT);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if self.draining.load(Ordering::Relaxed) {
                continue;
            }
            let Some(c) = self.control(&node).await else {
                continue;
            };
            match node.lost(&c).await {
                Ok(lost) => {
                    for code in lost {
                        warn!(room = %code, "another node took this room over");
                        self.let_go(code);
                    }
                }
                Err(e) => warn!(error = %e, "cannot check room ownership"),
            }
            // Requests the listener missed (while reconnecting) or dropped.
            match node.asks(&c).await {
                Ok(asks) => {
                    for (code, epoch) in asks {
                        self.clone().spawn_hand_over(node.clone(), code, epoch);
                    }
                }
                Err(e) => warn!(error = %e, "cannot read handoff requests"),
            }
            // Only a node that holds its lease adopts (one paused past it must not).
            if node.holds_lease() && self.rooms.len() < self.config.max_rooms as usize {
                let _one = self.claiming.lock().await;
                match node.adopt(&c, ADOPT_PER_TURN).await {
                    Ok(claimed) => {
                        for cl in claimed {
                            METRICS.takeovers.inc();
                            self.restore(cl.room, cl.alive_ms);
                        }
                    }
                    Err(e) => warn!(error = %e, "cannot adopt rooms"),
                }
            }
            METRICS.rooms_owned.set(node.rooms_held() as i64);
        }
    }

    /// The control connection, reopened if it broke.
    async fn control(&self, node: &Node) -> Option<Arc<tokio_postgres::Client>> {
        let have = self.control.lock().ok().and_then(|c| c.clone());
        if let Some(c) = have.filter(|c| !c.is_closed()) {
            return Some(c);
        }
        match node.connect().await {
            Ok(c) => {
                let c = Arc::new(c);
                if let Ok(mut slot) = self.control.lock() {
                    *slot = Some(c.clone());
                }
                Some(c)
            }
            Err(e) => {
                warn!(error = %e, "no control connection to PostgreSQL");
                None
            }
        }
    }

    /// A room another node owns now: forget it, and wake its actor, which sees that it no
    /// longer holds the room and closes its sockets with 1012 so they resume on the owner.
    fn let_go(&self, code: RoomCode) {
        if let Some((_, handle)) = self.rooms.remove(&code) {
            let (reply, _) = oneshot::channel();
            let _ = handle.tx.try_send(RoomMsg::Info { reply });
        }
    }

    /// With the journal on PostgreSQL, make sure a room requested here runs here: a room
    /// this node does not hold is taken over if its owner's lease expired (and given its
    /// lost time back); one whose owner is alive is asked for (the owner commits, releases
    /// it to this node and closes its sockets with 1012, so they reconnect and the proxy
    /// sends them here), and claimed by force if the owner has not released it within
    /// [`HANDOFF_WAIT`] (its appends are fenced from then on). A no-op for rooms held here,
    /// unknown codes, and without a cluster.
    pub async fn bring_here(&self, code: RoomCode) {
        let Some(node) = self.cluster.clone() else {
            return;
        };
        if !node.holds_lease() || self.shutdown.is_cancelled() {
            return;
        }
        let Some(c) = self.control(&node).await else {
            return;
        };
        // A room this node is handing over right now: let that finish, then look again
        // (the room is elsewhere by then, or back here if the handoff did not happen).
        let t0 = tokio::time::Instant::now();
        while self.leaving.contains_key(&code) && t0.elapsed() < HANDOFF_WAIT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let code_s = code.to_string();
        // Asked every time, not only for rooms missing here: a room handed over a moment
        // ago may still run here until the cluster loop notices, and must not answer.
        let Some((owner, epoch, live, alive_ms)) = self.owner_of(&node, &c, &code).await else {
            return;
        };
        let ours = owner == node.name() && node.epoch_of(&code) == Some(epoch);
        if ours && self.rooms.contains_key(&code) {
            return;
        }
        if !ours && let Some(held) = node.epoch_of(&code) {
            node.forget(&code, held);
            self.let_go(code);
        }
        // A live owner is asked first; the wait holds no lock, so other rooms' requests
        // and the cluster loop go on meanwhile.
        let asked = live && owner != node.name();
        let mut answer = None;
        let (owner, epoch, live) = if asked {
            match node
                .ask_and_wait(&c, &code_s, &owner, epoch, HANDOFF_WAIT)
                .await
            {
                Ok(a) => {
                    if a == Asked::TimedOut {
                        info!(room = %code, owner = %owner, "no handoff in time; claiming");
                    }
                    answer = Some(a);
                }
                Err(e) => warn!(room = %code, error = %e, "cannot ask for the room"),
            }
            match self.owner_of(&node, &c, &code).await {
                Some((o, e, l, _)) => (o, e, l),
                None => return,
            }
        } else {
            (owner, epoch, live)
        };
        let _one = self.claiming.lock().await;
        if self.rooms.contains_key(&code) && node.holds(&code) {
            return;
        }
        match node.claim(&c, &code_s, &owner, epoch).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                warn!(room = %code, error = %e, "cannot claim the room");
                return;
            }
        }
        if asked {
            // Served or not, the epoch the request named is gone (a second request for the
            // room from this node may have come in after the release).
            if let Err(e) = node.drop_ask(&c, &code_s).await {
                warn!(room = %code, error = %e, "cannot drop a handoff request");
            }
        }
        let mine = owner == node.name();
        // An owner with a live lease but no session (killed a moment ago) is taken over.
        let how = if asked && mine && answer == Some(Asked::Released) {
            Some("cooperative")
        } else if live && !mine && answer != Some(Asked::Gone) {
            Some("forced")
        } else {
            None
        };
        match node.load(&c, &code_s).await {
            Ok(stored) => {
                // From the previous owner's last heartbeat: a dead owner's lost time is
                // given back (its lease may not have run out yet); from a live one at most
                // a heartbeat.
                let kind = match how {
                    Some(kind) => {
                        METRICS.handoffs.get_or_create(&[("kind", kind)]).inc();
                        kind
                    }
                    None if !mine => {
                        METRICS.takeovers.inc();
                        "takeover"
                    }
                    None => "reclaimed",
                };
                let since = alive_ms.min(self.clock.now());
                info!(room = %code, from = %owner, how = kind, "room brought here");
                self.restore(stored, since);
            }
            Err(e) => warn!(room = %code, error = %e, "cannot load a claimed room"),
        }
    }

    /// The owner of `code` in the database (see [`Node::owner`]), `None` for no such room
    /// or when it cannot be read.
    async fn owner_of(
        &self,
        node: &Node,
        c: &tokio_postgres::Client,
        code: &RoomCode,
    ) -> Option<(String, i64, bool, Millis)> {
        match node.owner(c, code.as_str()).await {
            Ok(o) => o,
            Err(e) => {
                warn!(room = %code, error = %e, "cannot look the room's owner up");
                None
            }
        }
    }

    /// Serve the handoff requests the listener hears, each room on its own task.
    async fn serve_asks(
        self: Arc<Self>,
        node: Arc<Node>,
        mut asks: mpsc::Receiver<(RoomCode, i64)>,
    ) {
        loop {
            let ask = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                a = asks.recv() => a,
            };
            let Some((code, epoch)) = ask else {
                return;
            };
            self.clone().spawn_hand_over(node.clone(), code, epoch);
        }
    }

    /// Hand `code` over if this node holds it at `epoch` and is not handing it over yet.
    fn spawn_hand_over(self: Arc<Self>, node: Arc<Node>, code: RoomCode, epoch: i64) {
        if node.epoch_of(&code) != Some(epoch)
            || self.draining.load(Ordering::Relaxed)
            || self.shutdown.is_cancelled()
        {
            return;
        }
        if self.leaving.insert(code, ()).is_some() {
            return;
        }
        tokio::spawn(async move {
            self.hand_over(&node, code, epoch).await;
            self.leaving.remove(&code);
            METRICS.rooms_owned.set(node.rooms_held() as i64);
        });
    }

    /// Another node asked for `code`: stop its actor here (it commits what it accepted and
    /// closes its sockets with 1012), then release it to that node in one transaction. If
    /// the release does not happen (the request or the room's epoch changed) and the room
    /// is still this node's, it runs here again.
    async fn hand_over(&self, node: &Node, code: RoomCode, epoch: i64) {
        let t0 = std::time::Instant::now();
        let committed = match self.rooms.remove(&code) {
            Some((_, handle)) => {
                let (done, rx) = oneshot::channel();
                let stopped = async {
                    handle.tx.send(RoomMsg::HandOff { done }).await.ok()?;
                    rx.await.ok()
                };
                match tokio::time::timeout(HANDOFF_COMMIT, stopped).await {
                    Ok(Some(all)) => all,
                    Ok(None) => true,
                    Err(_) => {
                        warn!(room = %code, "the room did not stop in time; releasing it anyway");
                        false
                    }
                }
            }
            None => true,
        };
        let Some(c) = self.control(node).await else {
            return;
        };
        match node.release(&c, &code, epoch).await {
            Ok(Some(to)) => {
                info!(room = %code, to = %to, committed, took = ?t0.elapsed(), "room handed over");
            }
            Ok(None) => {
                // Not released: if the room is still ours at this epoch, run it again.
                match node.owner(&c, code.as_str()).await {
                    Ok(Some((owner, e, _, _))) if owner == node.name() && e == epoch => {
                        match node.load(&c, code.as_str()).await {
                            Ok(stored) => {
                                info!(room = %code, "handoff did not happen; the room runs here again");
                                self.restore(stored, self.clock.now());
                            }
                            Err(e) => warn!(room = %code, error = %e, "cannot reload the room"),
                        }
                    }
                    Ok(_) => node.forget(&code, epoch),
                    Err(e) => warn!(room = %code, error = %e, "cannot look the room's owner up"),
                }
            }
            Err(e) => warn!(room = %code, error = %e, "cannot release the room"),
        }
    }

    /// Rebuild a stored room by replaying its log, give the downtime back, start its actor.
    fn restore(&self, stored: StoredRoom, alive_ms: Millis) {
        let StoredRoom {
            code,
            settings,
            seed,
            facilitator_hash,
            created_ms,
            entries,
        } = stored;
        let mut room = Room::new(settings, seed);
        let last = entries.last().map(|e| e.0).unwrap_or(created_ms);
        let n = entries.len() as u64;
        for (at, entry) in entries {
            match entry {
                Entry::Tick => {
                    room.replay_tick(at);
                }
                Entry::Deadline(deadline) => {
                    room.set_deadline(deadline);
                }
                Entry::Cmd(cmd) => {
                    if let Err(e) = room.handle(cmd, at) {
                        warn!(room = %code, error = %e, "journal entry refused on replay");
                    }
                }
            }
        }
        let mut task = RoomTask::new(
            code,
            room,
            facilitator_hash,
            self.clock,
            self.journal.clone(),
            n,
        );
        task.system_command(Command::Resync {
            down_since: alive_ms.max(last),
        });
        self.spawn_room(code, task);
    }

    fn spawn_room(&self, code: RoomCode, task: RoomTask) {
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let seat = self.shards.place();
        self.rooms.insert(
            code,
            RoomHandle {
                tx,
                shard: seat.id(),
            },
        );
        self.start_room(code, seat, task, rx);
    }

    /// Run a room's actor on its shard; the shard counts it until the actor ends (its seat
    /// goes with the task). `map`, not an `async` block around the actor's future: a block
    /// would hold that future twice (the captured one and the awaited one), doubling every
    /// room task (measured: 3.6 → 6.9 KB).
    fn start_room(&self, code: RoomCode, seat: Seat, task: RoomTask, rx: mpsc::Receiver<RoomMsg>) {
        let handle = self.shards.handle(seat.id()).clone();
        self.tracker
            .spawn_on(self.room_future(code, seat, task, rx), &handle);
    }

    /// What a room's task runs: its actor, in its span, holding its seat.
    fn room_future(
        &self,
        code: RoomCode,
        seat: Seat,
        task: RoomTask,
        rx: mpsc::Receiver<RoomMsg>,
    ) -> impl std::future::Future<Output = ()> + use<> {
        let span = tracing::info_span!("room", code = %code);
        let turn = self.shards.turns(seat.id()).join();
        task.run(rx, self.shutdown.clone(), turn)
            .instrument(span)
            .map(move |()| drop(seat))
    }

    fn spawn_background(self: &Arc<Self>) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut beat = tokio::time::interval(HEARTBEAT);
            let mut reap = tokio::time::interval(REAP_EVERY);
            loop {
                tokio::select! {
                    _ = hub.shutdown.cancelled() => break,
                    _ = beat.tick() => {
                        if let Some(j) = &hub.journal {
                            let ok = j.alive(hub.clock.now()).await.is_ok();
                            hub.journal_ok.store(ok, Ordering::Relaxed);
                        }
                    }
                    _ = reap.tick() => {
                        hub.room_limiter.retain_recent();
                        hub.reap().await
                    }
                }
            }
        });
    }

    /// Remove rooms whose session finished (or that saw no activity) longer ago than
    /// `--expire-after`, with their journal.
    pub async fn reap(&self) {
        let ttl = self.config.expire_after.as_millis() as Millis;
        let now = self.clock.now();
        let handles: Vec<(RoomCode, RoomHandle)> = self
            .rooms
            .iter()
            .map(|r| (*r.key(), r.value().clone()))
            .collect();
        for (code, handle) in handles {
            let Some(info) = handle.info().await else {
                continue;
            };
            if info
                .finished_at
                .unwrap_or(info.last_active)
                .saturating_add(ttl)
                >= now
            {
                continue;
            }
            self.rooms.remove(&code);
            let _ = handle.tx.send(RoomMsg::Expire).await;
            if let Some(j) = &self.journal
                && let Err(e) = j.delete(code).await
            {
                warn!(room = %code, error = %e, "could not delete an expired room");
            }
            info!(room = %code, "room expired");
        }
    }

    /// The server is ready: not shutting down and the journal (if any) writable.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.shutdown.is_cancelled() || self.draining.load(Ordering::Relaxed) {
            Err("shutting down")
        } else if !self.journal_ok.load(Ordering::Relaxed) {
            Err("the journal is not writable")
        } else if self.cluster.as_ref().is_some_and(|n| !n.holds_lease()) {
            Err("this node does not hold its lease")
        } else {
            Ok(())
        }
    }

    /// Begin a graceful shutdown: report unready at once (so a load balancer stops sending
    /// new people here), keep serving for `--shutdown-drain`, then close every socket with
    /// 1012 and stop.
    pub async fn shut_down(&self) {
        self.draining.store(true, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(self.config.shutdown_drain) => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.shutdown.cancel();
    }

    /// Wake every room task to stop (they also see the cancelled token at their next turn).
    pub fn stop_rooms(&self) {
        for r in self.rooms.iter() {
            let _ = r.value().tx.try_send(RoomMsg::Shutdown);
        }
    }

    /// Take a connection slot for `ip`, or say which limit is reached.
    pub fn connect_slot(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, ConnRefused> {
        let max = self.config.max_connections;
        if self.connections.fetch_add(1, Ordering::Relaxed) >= max as usize {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            return Err(ConnRefused::Total(max));
        }
        let per_ip = self.config.max_connections_per_ip;
        {
            let mut n = self.connections_per_ip.entry(ip).or_insert(0);
            if *n >= per_ip {
                drop(n);
                self.connections.fetch_sub(1, Ordering::Relaxed);
                return Err(ConnRefused::PerIp(per_ip));
            }
            *n += 1;
        }
        METRICS.connections.inc();
        Ok(ConnSlot {
            hub: self.clone(),
            ip,
        })
    }

    /// May `ip` create another room now?
    pub fn may_create_room(&self, ip: IpAddr) -> bool {
        self.room_limiter.check_key(&ip).is_ok()
    }

    /// The room with this code.
    pub fn get(&self, code: &RoomCode) -> Option<RoomHandle> {
        self.rooms.get(code).map(|r| r.value().clone())
    }

    /// Rooms held.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Create a room, store it durably, and start its actor. Returns its code and the
    /// facilitator token.
    pub async fn create(&self, mut settings: Settings) -> Result<(RoomCode, String), CreateError> {
        if self.rooms.len() >= self.config.max_rooms as usize {
            return Err(CreateError::Full(self.config.max_rooms));
        }
        settings.max_participants = self.config.max_participants;
        let token = ids::new_token();
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let seat = self.shards.place();
        let shard = seat.id();
        // 40 bits: collisions are rare but possible; draw again until the code is free.
        let code = loop {
            let code = RoomCode::random();
            if let MapEntry::Vacant(v) = self.rooms.entry(code) {
                v.insert(RoomHandle { tx, shard });
                break code;
            }
        };
        let seed: u64 = rand::random();
        let hash = ids::hash_token(&token);
        if let Some(j) = &self.journal
            && let Err(e) = j
                .create_room(code, &settings, seed, hash, self.clock.now())
                .await
        {
            // The seat is given back as it drops.
            self.rooms.remove(&code);
            return Err(e.into());
        }
        let task = RoomTask::new(
            code,
            Room::new(settings, seed),
            hash,
            self.clock,
            self.journal.clone(),
            0,
        );
        self.start_room(code, seat, task, rx);
        METRICS.rooms_created.inc();
        Ok((code, token))
    }

    /// After every room task has stopped: commit, checkpoint and close the journal (the
    /// backend waits for its writer to stop).
    pub async fn close_journal(&self) {
        if let Some(j) = &self.journal
            && let Err(e) = j.close().await
        {
            warn!(error = %e, "journal close failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(hub: &Hub) -> (RoomCode, RoomTask) {
        let code = RoomCode::random();
        let room = Room::new(Settings::classic("topic"), 7);
        (code, RoomTask::new(code, room, [0; 32], hub.clock, None, 0))
    }

    /// A room task is the actor's future plus its span and seat, not the actor's future
    /// twice (an `async` wrapper around it doubled every room task: 3.6 → 6.9 KB).
    #[test]
    fn a_room_task_holds_the_actor_once() {
        let hub = Hub::new(Config::for_tests(), CancellationToken::new()).expect("hub");
        let (code, t) = task(&hub);
        let (_tx, rx) = mpsc::channel(1);
        let turn = hub.shards.turns(0).join();
        let actor = std::mem::size_of_val(&t.run(rx, hub.shutdown.clone(), turn));
        let (code2, t) = task(&hub);
        let (_tx, rx) = mpsc::channel(1);
        let whole = std::mem::size_of_val(&hub.room_future(code2, hub.shards.place(), t, rx));
        eprintln!("room {code}: actor {actor} B, task {whole} B");
        assert!(
            whole <= actor + 128,
            "room task {whole} B for an actor of {actor} B"
        );
    }

    /// The shard counts a room for as long as its task lives.
    #[tokio::test]
    async fn a_room_leaves_its_shard_when_its_task_ends() {
        let mut config = Config::for_tests();
        config.shards = 2;
        let hub = Hub::new(config, CancellationToken::new()).expect("hub");
        let (code, t) = task(&hub);
        hub.spawn_room(code, t);
        assert_eq!(hub.shards.rooms().iter().sum::<usize>(), 1);
        let tx = hub.get(&code).expect("the room").tx;
        tx.send(RoomMsg::Expire).await.expect("the actor takes it");
        tx.closed().await;
        for _ in 0..100 {
            if hub.shards.rooms().iter().sum::<usize>() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the room is still counted: {:?}", hub.shards.rooms());
    }
}
