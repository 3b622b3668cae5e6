//! Several brainwrite nodes on one real PostgreSQL (started by the test, see
//! `common::pg`): the backend's fenced append and its takeover compare-and-swap, then the
//! real binary as three nodes: the owner of two busy rooms SIGKILLed mid-round, an owner
//! SIGSTOPped past its lease and resumed, PostgreSQL itself restarted mid-round, a busy room
//! asked for by another node (cooperative handoff), an owner that does not answer (SIGSTOP:
//! the forced claim after the wait), and behind nginx a room that moves back home by
//! handoff. Every scenario checks that every acknowledged write is in the reveal exactly
//! once.
//!
//! Without PostgreSQL's binaries these tests fail, saying what to install; set
//! `BRAINWRITE_SKIP_POSTGRES=1` to skip them on purpose.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use brainwrite::ids::RoomCode;
use brainwrite::room::{Command, Settings};
use brainwrite::store::postgres::{self, Options};
use brainwrite::store::{Entry, StoreError};
use common::pg::Pg;
use common::{Binary, Client};
use serde_json::{Value, json};

/// The lease the nodes of these tests hold (short, so takeovers are quick).
const LEASE_MS: u64 = 2000;

fn opts(pg: &Pg, node: &str) -> Options {
    Options {
        url: pg.url(),
        node: node.to_owned(),
        lease: Duration::from_millis(LEASE_MS),
    }
}

/// The PostgreSQL backend opened as node `name`, with no rooms of its own to restore.
async fn backend(
    pg: &Pg,
    name: &str,
) -> (
    brainwrite::store::Opened,
    std::sync::Arc<postgres::Node>,
    tokio_postgres::Client,
) {
    postgres::open(opts(pg, name), |_, _| false, 1000)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_fenced_once_another_node_takes_the_room_and_one_racer_wins() {
    let Some(pg) = Pg::start("backend") else {
        return;
    };
    let (a, node_a, _ca) = backend(&pg, "a").await;
    let code = RoomCode::random();
    let other = RoomCode::random();
    let settings = Settings::classic("topic");
    for c in [code, other] {
        a.journal
            .create_room(c, &settings, 7, [3; 32], 1000)
            .await
            .unwrap();
    }
    a.journal
        .append(
            code,
            0,
            vec![(1001, Entry::Cmd(Command::Start)), (1002, Entry::Tick)],
            None,
        )
        .await
        .unwrap();
    assert!(node_a.holds(&code) && node_a.holds_lease());
    // A duplicate entry fails the whole batch and stores nothing.
    assert!(matches!(
        a.journal
            .append(code, 1, vec![(1003, Entry::Tick)], None)
            .await
            .unwrap_err(),
        StoreError::Backend(_)
    ));

    let (b, node_b, cb) = backend(&pg, "b").await;
    let (c, node_c, cc) = backend(&pg, "c").await;
    // a holds its lease: nobody adopts its rooms.
    assert!(node_b.adopt(&cb, 10).await.unwrap().is_empty());
    // Two nodes race to take the room from a at epoch 1: exactly one wins.
    let code_s = code.to_string();
    let (rb, rc) = tokio::join!(
        node_b.claim(&cb, &code_s, "a", 1),
        node_c.claim(&cc, &code_s, "a", 1)
    );
    let (rb, rc) = (rb.unwrap(), rc.unwrap());
    assert_eq!(
        [rb, rc].iter().filter(|r| **r == Some(2)).count(),
        1,
        "{rb:?} {rc:?}"
    );
    assert!(rb.is_none() || rc.is_none());
    // a lost it: its append stores nothing and says so, now and later.
    for seq in [2, 2] {
        assert!(matches!(
            a.journal
                .append(code, seq, vec![(1004, Entry::Tick)], None)
                .await
                .unwrap_err(),
            StoreError::Fenced
        ));
    }
    let n: i64 = cb
        .query_one("SELECT count(*) FROM entries WHERE code = $1", &[&code_s])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "the fenced appends stored nothing");
    // Its other room is still its own.
    a.journal
        .append(other, 0, vec![(1005, Entry::Tick)], None)
        .await
        .unwrap();
    // a stops renewing (no heartbeat here): once its lease has expired on the database's
    // clock, b adopts the rest, with its log and a's last alive time.
    a.journal.alive(1500).await.unwrap();
    assert!(node_b.adopt(&cb, 10).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 300)).await;
    assert!(!node_a.holds_lease(), "a's lease is over locally too");
    // b and c renew theirs (their heartbeat), a does not.
    b.journal.alive(3000).await.unwrap();
    c.journal.alive(3000).await.unwrap();
    node_b.adopt(&cb, 10).await.unwrap();
    let took = node_c.adopt(&cc, 10).await.unwrap();
    let all_b = node_b.rooms_held() + node_c.rooms_held();
    assert_eq!(all_b, 2, "both rooms are held by b or c, once each");
    for t in &took {
        assert_eq!(t.alive_ms, 1500);
    }
    assert!(matches!(
        a.journal
            .append(other, 1, vec![(1006, Entry::Tick)], None)
            .await
            .unwrap_err(),
        StoreError::Fenced
    ));
    a.journal.close().await.unwrap();
}

/// The append locks its room's row (it updates it): an append that meets a takeover still
/// open waits for it, is stored if the takeover rolls back, and stores nothing (fenced) if it
/// commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_meeting_an_open_takeover_waits_for_it_and_is_fenced_only_if_it_commits() {
    let Some(pg) = Pg::start("lock") else {
        return;
    };
    let (a, _node_a, _ca) = backend(&pg, "a").await;
    let code = RoomCode::random();
    let code_s = code.to_string();
    a.journal
        .create_room(code, &Settings::classic("topic"), 7, [3; 32], 1000)
        .await
        .unwrap();
    a.journal
        .append(code, 0, vec![(1001, Entry::Tick)], None)
        .await
        .unwrap();
    let (_b, node_b, cb) = backend(&pg, "b").await;
    let mut raw = node_b.connect().await.unwrap();
    const TAKE: &str = "UPDATE rooms SET owner = 'b', epoch = epoch + 1 \
                        WHERE code = $1 AND owner = 'a' AND epoch = 1";
    for (seq, commit) in [(1, false), (2, true)] {
        let tx = raw.transaction().await.unwrap();
        assert_eq!(tx.execute(TAKE, &[&code_s]).await.unwrap(), 1);
        let append = a
            .journal
            .append(code, seq, vec![(1002 + seq, Entry::Tick)], Some(9000 + seq));
        tokio::pin!(append);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut append)
                .await
                .is_err(),
            "the append waits for the takeover's row lock"
        );
        if commit {
            tx.commit().await.unwrap();
            assert!(matches!(append.await.unwrap_err(), StoreError::Fenced));
        } else {
            tx.rollback().await.unwrap();
            append.await.unwrap();
        }
    }
    let row = cb
        .query_one(
            "SELECT (SELECT count(*) FROM entries WHERE code = $1), owner, finished_ms \
             FROM rooms WHERE code = $1",
            &[&code_s],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, i64>(0),
        2,
        "the entry after the rollback, not the fenced one"
    );
    assert_eq!(row.get::<_, String>(1), "b");
    assert_eq!(
        row.get::<_, Option<i64>>(2),
        Some(9001),
        "the finish time of the stored append only"
    );
}

/// Appends queued together go in one statement and get one result each: the room another
/// node took is fenced and stores nothing, the rooms still held store theirs. A deleted
/// room's entries go with it. A schema-2 database (entries referencing rooms) is migrated
/// to version 3 when a node opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_appends_fences_only_the_room_taken_and_a_schema_2_database_is_migrated() {
    let Some(pg) = Pg::start("batch") else {
        return;
    };
    let (a, _node_a, ca) = backend(&pg, "a").await;
    let settings = Settings::classic("topic");
    let rooms: Vec<RoomCode> = (0..4).map(|_| RoomCode::random()).collect();
    for c in &rooms {
        a.journal
            .create_room(*c, &settings, 7, [3; 32], 1000)
            .await
            .unwrap();
    }
    let (_b, node_b, cb) = backend(&pg, "b").await;
    let taken = rooms[1].to_string();
    assert_eq!(node_b.claim(&cb, &taken, "a", 1).await.unwrap(), Some(2));
    let tick = |at| vec![(at, Entry::Tick), (at + 1, Entry::Cmd(Command::Start))];
    let results = futures_util::future::join_all(
        rooms
            .iter()
            .enumerate()
            .map(|(i, c)| a.journal.append(*c, 0, tick(2000 + i as u64), Some(5000))),
    )
    .await;
    for (i, r) in results.iter().enumerate() {
        if i == 1 {
            assert!(matches!(r, Err(StoreError::Fenced)), "room {i}: {r:?}");
        } else {
            assert!(r.is_ok(), "room {i}: {r:?}");
        }
    }
    let count = |code: String| {
        let cb = &cb;
        async move {
            let row = cb
                .query_one(
                    "SELECT count(*), (SELECT finished_ms FROM rooms WHERE code = $1)
                     FROM entries WHERE code = $1",
                    &[&code],
                )
                .await
                .unwrap();
            (row.get::<_, i64>(0), row.get::<_, Option<i64>>(1))
        }
    };
    assert_eq!(count(rooms[0].to_string()).await, (2, Some(5000)));
    assert_eq!(
        count(taken.clone()).await,
        (0, None),
        "the fenced room stored nothing"
    );
    assert_eq!(count(rooms[3].to_string()).await, (2, Some(5000)));
    // A deleted room takes its entries with it (no foreign key does it any more).
    a.journal.delete(rooms[0]).await.unwrap();
    assert_eq!(count(rooms[0].to_string()).await, (0, None));

    // Back to schema 2: the foreign key, version 2. A node opening it migrates it.
    ca.batch_execute(
        "ALTER TABLE entries ADD CONSTRAINT entries_code_fkey FOREIGN KEY (code)
             REFERENCES rooms(code) ON DELETE CASCADE;
         UPDATE schema_version SET version = 2;",
    )
    .await
    .unwrap();
    let (c, _node_c, cc) = backend(&pg, "c").await;
    let row = cc
        .query_one(
            "SELECT (SELECT max(version) FROM schema_version),
                    (SELECT count(*) FROM pg_constraint WHERE conname = 'entries_code_fkey')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i64>(1)), (3, 0));
    assert_eq!(
        count(rooms[2].to_string()).await,
        (2, Some(5000)),
        "nothing lost"
    );
    c.journal.close().await.unwrap();
    a.journal.close().await.unwrap();
}

/// A participant as a client program sees itself.
struct Writer {
    token: String,
    sent: BTreeMap<u32, String>,
    acked: BTreeMap<u32, String>,
    seq_of: HashMap<u64, u32>,
    next_slot: u32,
}

/// One room of a scenario: its code, the facilitator token, its writers.
struct TestRoom {
    code: String,
    fac: String,
    writers: Vec<Writer>,
    clients: Vec<Client>,
    seq: u64,
}

async fn node(pg: &Pg, name: &str) -> Binary {
    node_at(pg, name, "127.0.0.1:0").await
}

async fn node_at(pg: &Pg, name: &str, bind: &str) -> Binary {
    node_with(pg, name, bind, LEASE_MS).await
}

async fn node_with(pg: &Pg, name: &str, bind: &str, lease_ms: u64) -> Binary {
    let lease = lease_ms.to_string();
    Binary::spawn(
        &[
            "--bind",
            bind,
            "--journal",
            &pg.url(),
            "--node-id",
            name,
            "--lease-ms",
            &lease,
        ],
        &[],
        false,
    )
    .await
}

impl TestRoom {
    /// A room created on `on`, with `n` writers who joined and a started round.
    async fn start(on: &Binary, n: usize) -> (TestRoom, Duration) {
        let created = on
            .create(json!({"topic":"cluster","ideas_per_round":10,"round_seconds":120}))
            .await;
        let code = created["code"].as_str().unwrap().to_owned();
        let fac = created["facilitator_token"].as_str().unwrap().to_owned();
        let mut room = TestRoom {
            code,
            fac,
            writers: Vec::new(),
            clients: Vec::new(),
            seq: 0,
        };
        for i in 0..n {
            let mut c = Client::connect(&on.ws(&room.code)).await;
            c.send(json!({"type":"join","name":format!("W{i}")})).await;
            let w = c.recv_type("welcome").await;
            room.writers.push(Writer {
                token: w["token"].as_str().unwrap().to_owned(),
                sent: BTreeMap::new(),
                acked: BTreeMap::new(),
                seq_of: HashMap::new(),
                next_slot: 0,
            });
            room.clients.push(c);
        }
        let mut f = Client::connect(&on.ws(&room.code)).await;
        f.send(json!({"type":"facilitate","token":room.fac})).await;
        f.send(json!({"type":"start"})).await;
        let r = f
            .recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
            .await;
        let left = r["deadline"].as_u64().unwrap() - r["now"].as_u64().unwrap();
        (room, Duration::from_millis(left))
    }

    /// Each writer sends `k` writes, without waiting.
    async fn burst(&mut self, k: u32, tag: &str) {
        for (w, c) in self.writers.iter_mut().zip(self.clients.iter_mut()) {
            for _ in 0..k {
                let slot = w.next_slot;
                w.next_slot += 1;
                let text = format!("{tag}-{}-s{slot}", &w.token[..6]);
                self.seq += 1;
                w.seq_of.insert(self.seq, slot);
                w.sent.insert(slot, text.clone());
                c.send(json!({"type":"write","slot":slot,"text":text,"round":1,"seq":self.seq}))
                    .await;
            }
        }
    }

    /// Read acks for up to `wait` per client (all of them if they come).
    async fn collect_acks(&mut self, wait: Duration) {
        for (w, c) in self.writers.iter_mut().zip(self.clients.iter_mut()) {
            while w.sent.keys().any(|k| !w.acked.contains_key(k)) {
                let Ok(Some(Ok(m))) =
                    tokio::time::timeout(wait, futures_util::StreamExt::next(&mut c.ws)).await
                else {
                    break;
                };
                let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) else {
                    continue;
                };
                if v["type"] == "ack"
                    && let Some(slot) = w.seq_of.get(&v["seq"].as_u64().unwrap_or(0))
                {
                    w.acked.insert(*slot, w.sent[slot].clone());
                }
            }
        }
    }

    /// Every writer resumes on `on` with its token, finds its acknowledged writes in its
    /// draft (and nothing it never sent), and sends again what was not acknowledged.
    /// Returns the time left in the round as the first resumed writer saw it.
    async fn resume(&mut self, on: &Binary) -> Duration {
        let mut left = None;
        let mut clients = Vec::new();
        for w in self.writers.iter_mut() {
            let mut c = Client::connect(&on.ws(&self.code)).await;
            c.send(json!({"type":"join","token": w.token})).await;
            c.recv_type("welcome").await;
            let room = c.recv_type("room").await;
            left.get_or_insert(room["deadline"].as_u64().unwrap() - room["now"].as_u64().unwrap());
            let sheet = c.recv_where(|v| v["type"] == "sheet").await;
            let draft = sheet["draft"].as_array().unwrap();
            for slot in 0..10u32 {
                let have = draft[slot as usize].as_str().unwrap();
                match (w.acked.get(&slot), w.sent.get(&slot)) {
                    (Some(a), _) => assert_eq!(have, a, "an acknowledged write is lost"),
                    (None, Some(s)) => assert!(have.is_empty() || have == s, "{have:?}"),
                    (None, None) => assert!(have.is_empty(), "{have:?} was never sent"),
                }
            }
            let unacked: Vec<(u32, String)> = w
                .sent
                .iter()
                .filter(|(k, _)| !w.acked.contains_key(k))
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            for (slot, text) in unacked {
                self.seq += 1;
                c.send(json!({"type":"write","slot":slot,"text":text,"round":1,"seq":self.seq}))
                    .await;
                let ack = c.recv_type("ack").await;
                assert_eq!(ack["seq"], self.seq);
                w.acked.insert(slot, text);
            }
            clients.push(c);
        }
        self.clients = clients;
        Duration::from_millis(left.unwrap_or(0))
    }

    /// Finish on `on` and check the reveal holds every acknowledged write exactly once.
    async fn finish_and_check(&mut self, on: &Binary) -> usize {
        let mut f = Client::connect(&on.ws(&self.code)).await;
        f.send(json!({"type":"facilitate","token":self.fac})).await;
        f.send(json!({"type":"finish"})).await;
        let reveal = f.recv_type("reveal").await;
        let mut on_sheets = common::reveal_texts(&reveal);
        let mut acked: Vec<String> = self
            .writers
            .iter()
            .flat_map(|w| w.acked.values().cloned())
            .collect();
        on_sheets.sort();
        acked.sort();
        assert_eq!(
            on_sheets, acked,
            "the reveal holds every acknowledged write exactly once"
        );
        acked.len()
    }
}

/// The node that owns `code` in the database (`n{i}` → i), once it is not `not`; waits up
/// to `wait`. Read from PostgreSQL: asking a node over HTTP would bring the room to it.
async fn owner_of(pg: &Pg, code: &str, not: Option<usize>, wait: Duration) -> usize {
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let t0 = Instant::now();
    loop {
        let row = client
            .query_opt("SELECT owner FROM rooms WHERE code = $1", &[&code])
            .await
            .unwrap();
        if let Some(row) = row {
            let owner: String = row.get(0);
            let i: usize = owner.trim_start_matches('n').parse().unwrap();
            if Some(i) != not {
                return i;
            }
        }
        assert!(t0.elapsed() < wait, "nobody took room {code} over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(b: &Binary, sig: &str) {
    assert!(
        std::process::Command::new("kill")
            .args([sig, &b.pid().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

async fn metric(b: &Binary, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", b.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_of_two_busy_rooms_is_killed_and_they_continue_on_another_node() {
    let Some(pg) = Pg::start("kill") else {
        return;
    };
    let n0 = node(&pg, "n0").await;
    let n1 = node(&pg, "n1").await;
    let n2 = node(&pg, "n2").await;
    let mut rooms = Vec::new();
    let mut left_before = Vec::new();
    for _ in 0..2 {
        let (mut r, left) = TestRoom::start(&n0, 3).await;
        left_before.push((left.as_millis() as u64, Instant::now()));
        r.burst(3, "before").await;
        r.collect_acks(Duration::from_secs(5)).await;
        rooms.push(r);
    }
    // A burst in both rooms, and SIGKILL in the middle of it.
    for r in rooms.iter_mut() {
        r.burst(2, "burst").await;
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    n0.kill().await;
    let killed = Instant::now();
    for r in rooms.iter_mut() {
        r.collect_acks(Duration::from_millis(50)).await;
    }
    let survivors = [&n1, &n2];
    let mut owners = Vec::new();
    for (r, (left, at)) in rooms.iter_mut().zip(left_before) {
        let i = owner_of(&pg, &r.code, Some(0), Duration::from_secs(10)).await - 1;
        let took = killed.elapsed();
        let left_after = r.resume(survivors[i]).await.as_millis() as u64;
        eprintln!(
            "room {} continues on n{} {took:?} after the kill",
            r.code,
            i + 1
        );
        // The round got the time its owner was dead back (from the owner's last heartbeat,
        // at most a second before it died).
        let at_kill = left - (killed - at).as_millis() as u64;
        assert!(
            left_after + 500 >= at_kill && left_after <= at_kill + 1500,
            "{at_kill} ms were left at the kill, {left_after} ms after the takeover"
        );
        r.burst(2, "after").await;
        r.collect_acks(Duration::from_secs(5)).await;
        assert!(r.writers.iter().all(|w| w.acked.len() == 7));
        owners.push(i);
    }
    // From the death to every participant of both rooms writing again elsewhere, here by
    // adoption (the clients wait for it rather than bringing the room over themselves).
    let failover = killed.elapsed();
    eprintln!("failover: every participant writing again {failover:?} after the kill");
    assert!(
        failover <= Duration::from_millis(2 * LEASE_MS + 1000),
        "{failover:?} > 2 × lease + 1 s"
    );
    for (r, i) in rooms.iter_mut().zip(owners) {
        let n = r.finish_and_check(survivors[i]).await;
        assert!(n >= 3 * 7, "{n} acknowledged writes");
    }
    let took = metric(&n1, "brainwrite_cluster_takeovers_total").await
        + metric(&n2, "brainwrite_cluster_takeovers_total").await;
    assert_eq!(took, 2.0, "two takeovers, one per room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_acknowledges_nothing_more_and_closes_its_sockets() {
    let Some(pg) = Pg::start("stop") else {
        return;
    };
    let n0 = node(&pg, "n0").await;
    let n1 = node(&pg, "n1").await;
    let (mut r, _) = TestRoom::start(&n0, 2).await;
    r.burst(2, "before").await;
    r.collect_acks(Duration::from_secs(5)).await;
    assert_eq!(r.writers[0].acked.len(), 2);
    signal(&n0, "-STOP");
    let stopped = Instant::now();
    let i = owner_of(&pg, &r.code, Some(0), Duration::from_secs(10)).await;
    assert_eq!(i, 1, "n1 took the room over");
    eprintln!("taken over {:?} after SIGSTOP", stopped.elapsed());
    signal(&n0, "-CONT");
    // The old owner's writer sends a write: it is not acknowledged, and every socket of
    // the room on n0 is closed with 1012 (reconnect).
    r.burst(1, "stale").await;
    for c in r.clients.iter_mut() {
        assert_eq!(c.closed(Duration::from_secs(5)).await, Some(1012));
        assert!(
            !c.log
                .iter()
                .any(|f| f.contains("\"ack\"") && f.contains("\"seq\":5"))
        );
    }
    // n0 let the room go (whether it learnt so from a fenced append or from its check of
    // what it owns, which runs every quarter lease).
    tokio::time::sleep(Duration::from_millis(LEASE_MS / 2)).await;
    assert_eq!(metric(&n0, "brainwrite_cluster_rooms_owned").await, 0.0);
    r.resume(&n1).await;
    r.burst(1, "after").await;
    r.collect_acks(Duration::from_secs(5)).await;
    r.finish_and_check(&n1).await;
    let ready = reqwest::get(format!("{}/readyz", n0.base)).await.unwrap();
    assert_eq!(ready.status(), 200, "n0 renewed its lease after SIGCONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_round_refuses_writes_while_down_and_loses_nothing() {
    let Some(pg) = Pg::start("restart") else {
        return;
    };
    let n0 = node(&pg, "n0").await;
    let (mut r, _) = TestRoom::start(&n0, 2).await;
    r.burst(2, "before").await;
    r.collect_acks(Duration::from_secs(5)).await;
    pg.stop();
    // A write while the database is down: not acknowledged, clients are closed to resync,
    // and resuming is refused as unavailable.
    r.burst(1, "down").await;
    for c in r.clients.iter_mut() {
        assert_eq!(c.closed(Duration::from_secs(5)).await, Some(1011));
    }
    r.collect_acks(Duration::from_millis(10)).await;
    assert!(r.writers.iter().all(|w| w.acked.len() == 2));
    let mut c = Client::connect(&n0.ws(&r.code)).await;
    c.send(json!({"type":"join","token": r.writers[0].token}))
        .await;
    c.expect_error("unavailable").await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 200)).await;
    let ready = reqwest::get(format!("{}/readyz", n0.base)).await.unwrap();
    assert_eq!(ready.status(), 503, "unready without its lease");
    pg.restart();
    // Back: the node reconnects, renews its lease and takes writes again.
    let t0 = Instant::now();
    loop {
        let ready = reqwest::get(format!("{}/readyz", n0.base)).await.unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Resuming retries the refused commit first; the first try may still be refused.
    let t0 = Instant::now();
    loop {
        let mut c = Client::connect(&n0.ws(&r.code)).await;
        c.send(json!({"type":"join","token": r.writers[0].token}))
            .await;
        let v = c.recv().await;
        if v["type"] == "welcome" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "still refused: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.resume(&n0).await;
    r.burst(1, "after").await;
    r.collect_acks(Duration::from_secs(5)).await;
    r.finish_and_check(&n0).await;
}

fn live(nodes: &[Option<Binary>]) -> Vec<usize> {
    (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect()
}

/// nginx with `deploy/nginx-cluster.conf`'s parts in front of `nodes`; killed on drop.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: common::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CLUSTER_CONF: &str = include_str!("../deploy/nginx-cluster.conf");

fn part(name: &str) -> &'static str {
    let begin = format!("# BEGIN brainwrite cluster {name}\n");
    let from = CLUSTER_CONF.find(&begin).expect("BEGIN mark") + begin.len();
    let to = CLUSTER_CONF[from..]
        .find(&format!("# END brainwrite cluster {name}"))
        .expect("END mark")
        + from;
    &CLUSTER_CONF[from..to]
}

impl Nginx {
    fn start(nodes: &[&str]) -> Nginx {
        let nginx = "/usr/sbin/nginx";
        assert!(
            std::path::Path::new(nginx).exists() || std::env::var("CI").is_err(),
            "{nginx} is missing (Debian package nginx); CI must install it"
        );
        let dir = common::TempDir::new("cluster-nginx");
        let mut http = part("http").replace("fail_timeout=5s", "fail_timeout=1s");
        for (i, n) in nodes.iter().enumerate() {
            http = http.replace(&format!("10.0.0.{}:8080", i + 1), n);
        }
        assert!(!http.contains("10.0.0."), "three servers replaced");
        let port = common::pg::free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n\
             http {{\n access_log {d}/access.log;\n client_body_temp_path {d}/cb;\n\
             proxy_temp_path {d}/px;\n fastcgi_temp_path {d}/fc;\n uwsgi_temp_path {d}/uw;\n\
             scgi_temp_path {d}/sc;\n{http}\n server {{\n listen 127.0.0.1:{port};\n\
             server_name _;\n{loc}\n }}\n}}\n",
            d = dir.0.display(),
            loc = part("location"),
        );
        std::fs::write(dir.path("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(nginx)
            .args(["-p", &dir.path(""), "-e", &dir.path("error.log")])
            .args(["-c", &dir.path("nginx.conf")])
            .spawn()
            .expect("start nginx");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_a_room_follows_its_hash_survives_its_node_and_moves_back_by_handoff() {
    let Some(pg) = Pg::start("nginx") else {
        return;
    };
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(Some(node(&pg, &format!("n{i}")).await));
    }
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.as_ref()
                .unwrap()
                .base
                .trim_start_matches("http://")
                .to_owned()
        })
        .collect();
    let proxy = Nginx::start(&addrs.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    // The proxy as a node: the tests' helpers only need its base URL.
    let front = Binary {
        child: tokio::process::Command::new("sleep")
            .arg("600")
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{}", proxy.port),
    };
    let (mut r, _) = TestRoom::start(&front, 3).await;
    r.burst(3, "first").await;
    r.collect_acks(Duration::from_secs(5)).await;
    assert!(r.writers.iter().all(|w| w.acked.len() == 3));
    let home = owner_of(&pg, &r.code, None, Duration::from_secs(5)).await;
    eprintln!("room {} runs on its hash's node n{home}", r.code);
    // Its node dies mid-burst; the clients come back through nginx, which sends them on.
    r.burst(2, "burst").await;
    nodes[home].take().unwrap().kill().await;
    r.collect_acks(Duration::from_millis(50)).await;
    let killed = Instant::now();
    r.resume(&front).await;
    eprintln!(
        "resumed through nginx {:?} after the kill",
        killed.elapsed()
    );
    let second = owner_of(&pg, &r.code, Some(home), Duration::from_secs(5)).await;
    assert!(live(&nodes).contains(&second));
    r.burst(2, "second").await;
    r.collect_acks(Duration::from_secs(5)).await;
    // The node comes back on its address: once nginx tries it again, the room's next
    // request goes there and the room is handed over; the sockets on the other node close
    // with 1012 and resume through nginx on the node that is home again.
    nodes[home] = Some(node_at(&pg, &format!("n{home}"), &addrs[home]).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    loop {
        let _ = http
            .get(format!("{}/api/rooms/{}", front.base, r.code))
            .send()
            .await;
        let at = owner_of(&pg, &r.code, None, Duration::from_secs(5)).await;
        if at == home {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "never moved back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for c in r.clients.iter_mut() {
        assert_eq!(c.closed(Duration::from_secs(5)).await, Some(1012));
    }
    r.resume(&front).await;
    r.burst(2, "home").await;
    r.collect_acks(Duration::from_secs(5)).await;
    let n = r.finish_and_check(&front).await;
    assert_eq!(n, 3 * 9);
    // It came home cooperatively: n{second} was asked, committed and released it.
    let home_node = nodes[home].as_ref().unwrap();
    assert_eq!(metric(home_node, COOPERATIVE).await, 1.0, "from n{second}");
    for n in nodes.iter().flatten() {
        assert_eq!(metric(n, FORCED).await, 0.0, "no forced handoff");
    }
}

const COOPERATIVE: &str = "brainwrite_cluster_handoffs_total{kind=\"cooperative\"}";
const FORCED: &str = "brainwrite_cluster_handoffs_total{kind=\"forced\"}";

/// GET /api/rooms/{code} on `on` (which brings the room there): how long it took.
async fn ask_for(base: &str, code: &str) -> Duration {
    let t0 = Instant::now();
    let res = reqwest::get(format!("{base}/api/rooms/{code}"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    t0.elapsed()
}

impl TestRoom {
    /// Read every client's socket until it closes: its close code, and the acks it got
    /// before (recorded as acknowledged).
    async fn until_closed(&mut self) -> Vec<Option<u16>> {
        let mut codes = Vec::new();
        for (w, c) in self.writers.iter_mut().zip(self.clients.iter_mut()) {
            codes.push(c.closed(Duration::from_secs(5)).await);
            for f in &c.log {
                let v: Value = serde_json::from_str(f).unwrap();
                if v["type"] == "ack"
                    && let Some(slot) = w.seq_of.get(&v["seq"].as_u64().unwrap_or(0))
                {
                    w.acked.insert(*slot, w.sent[slot].clone());
                }
            }
        }
        codes
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_asked_for_by_another_node_is_handed_over_cooperatively_losing_nothing() {
    let Some(pg) = Pg::start("handoff") else {
        return;
    };
    let n0 = node(&pg, "n0").await;
    let n1 = node(&pg, "n1").await;
    let (mut r, _) = TestRoom::start(&n0, 3).await;
    r.burst(2, "before").await;
    r.collect_acks(Duration::from_secs(5)).await;
    assert!(r.writers.iter().all(|w| w.acked.len() == 2));
    // The writers are busy (writes sent, their acks not read) when n1 asks for the room.
    r.burst(3, "inflight").await;
    let asked = tokio::spawn({
        let (base, code) = (n1.base.clone(), r.code.clone());
        async move { ask_for(&base, &code).await }
    });
    // n0 commits what it accepted, acknowledges it, and closes every socket with 1012.
    assert_eq!(r.until_closed().await, vec![Some(1012); 3]);
    let took = asked.await.unwrap();
    eprintln!("handed over in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "{took:?}: no answer in time?"
    );
    assert_eq!(
        owner_of(&pg, &r.code, None, Duration::from_secs(1)).await,
        1
    );
    assert_eq!(metric(&n1, COOPERATIVE).await, 1.0);
    assert_eq!(metric(&n1, FORCED).await, 0.0);
    assert_eq!(metric(&n1, "brainwrite_cluster_takeovers_total").await, 0.0);
    let inflight: usize = r.writers.iter().map(|w| w.acked.len() - 2).sum();
    eprintln!("{inflight} of 9 writes in flight acknowledged by n0 before it let go");
    // n0 let the room go at once, and says so.
    assert_eq!(metric(&n0, "brainwrite_cluster_rooms_owned").await, 0.0);
    // Everyone resumes on n1: every acknowledged write is there, the rest is sent again.
    r.resume(&n1).await;
    r.burst(1, "after").await;
    r.collect_acks(Duration::from_secs(5)).await;
    assert!(r.writers.iter().all(|w| w.acked.len() == 6));
    assert_eq!(r.finish_and_check(&n1).await, 3 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_does_not_answer_is_claimed_by_force_after_the_wait() {
    let Some(pg) = Pg::start("forced") else {
        return;
    };
    // A lease long enough that n0 still holds it when n1 gives up waiting: the room moves
    // by the forced claim, not by adoption.
    let lease = 6000;
    let n0 = node_with(&pg, "n0", "127.0.0.1:0", lease).await;
    let n1 = node_with(&pg, "n1", "127.0.0.1:0", lease).await;
    let (mut r, _) = TestRoom::start(&n0, 2).await;
    r.burst(2, "before").await;
    r.collect_acks(Duration::from_secs(5)).await;
    assert!(r.writers.iter().all(|w| w.acked.len() == 2));
    signal(&n0, "-STOP");
    let took = ask_for(&n1.base, &r.code).await;
    eprintln!("claimed by force {took:?} after asking");
    assert!(
        took >= brainwrite::hub::HANDOFF_WAIT && took < Duration::from_millis(lease / 2),
        "{took:?}"
    );
    assert_eq!(
        owner_of(&pg, &r.code, None, Duration::from_secs(1)).await,
        1
    );
    assert_eq!(metric(&n1, FORCED).await, 1.0);
    assert_eq!(metric(&n1, COOPERATIVE).await, 0.0);
    assert_eq!(metric(&n1, "brainwrite_cluster_takeovers_total").await, 0.0);
    signal(&n0, "-CONT");
    // The old owner acknowledges nothing more and sends its sockets on (1012).
    r.burst(1, "stale").await;
    assert_eq!(r.until_closed().await, vec![Some(1012); 2]);
    assert!(r.writers.iter().all(|w| w.acked.len() == 2));
    r.resume(&n1).await;
    r.finish_and_check(&n1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_gracefully_gives_its_lease_up_and_its_rooms_move_at_once() {
    let Some(pg) = Pg::start("term") else {
        return;
    };
    let n0 = node(&pg, "n0").await;
    let _n1 = node(&pg, "n1").await;
    let (mut r, _) = TestRoom::start(&n0, 2).await;
    r.burst(1, "kept").await;
    r.collect_acks(Duration::from_secs(5)).await;
    signal(&n0, "-TERM");
    assert_eq!(
        r.clients[0].closed(Duration::from_secs(5)).await,
        Some(1012)
    );
    let t0 = Instant::now();
    assert_eq!(
        owner_of(&pg, &r.code, Some(0), Duration::from_secs(5)).await,
        1
    );
    // Adopted on n1's next pass (every quarter lease), not once the lease ran out (its
    // last renewal was at most a second before the sockets closed): n0 gave it up.
    assert!(
        t0.elapsed() < Duration::from_millis(LEASE_MS / 2),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn a_journal_that_is_not_postgres_is_refused_with_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brainwrite"))
        .args(["--journal", "sqlite:rooms.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--journal must be a PostgreSQL URL"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brainwrite"))
        .args(["--journal", "postgres://u@h/db", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set --node-id"));
}
