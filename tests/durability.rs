//! Nothing lost: the real binary is killed with SIGKILL at random points while participants
//! write, restarted on the same journal, and every acknowledged write is found again, exactly
//! once; participants resume their seat, sheet and draft with their token; a graceful
//! restart gives the downtime back to the round.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Binary, Client, TempDir};
use rand::Rng;
use serde_json::{Value, json};

/// The binary on a journal file.
async fn start(data: &Path) -> Binary {
    Binary::spawn(
        &["--bind", "127.0.0.1:0", "--data", data.to_str().unwrap()],
        &[],
        false,
    )
    .await
}

/// A journal path in a fresh directory, removed with the returned guard.
fn temp_db() -> (TempDir, PathBuf) {
    let dir = TempDir::new("durability");
    let path = dir.0.join("brainwrite.db");
    (dir, path)
}

/// Resume, check the draft, and send again every write not yet acknowledged, as the web
/// client does after a reconnect.
async fn resume_and_resend(
    server: &Binary,
    code: &str,
    w: &mut Writer,
    round: u32,
    seq: &mut u64,
    all_acked: &mut Vec<String>,
) -> Client {
    let mut c = resume(server, code, w, round).await;
    let unacked: Vec<((u32, u32), String)> = w
        .sent
        .iter()
        .filter(|(k, _)| !w.acked.contains_key(k))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for ((r, slot), text) in unacked {
        *seq += 1;
        w.seq_of.insert(*seq, (r, slot));
        c.send(json!({"type":"write","slot":slot,"text":text,"round":r,"seq":*seq}))
            .await;
        let ack = c.recv_type("ack").await;
        assert_eq!(ack["seq"], *seq);
        w.acked.insert((r, slot), text.clone());
        all_acked.push(text);
    }
    c
}

/// A participant as a client program sees itself: its token and the writes it sent.
struct Writer {
    token: String,
    /// (round, slot) -> text, for every write sent in the current session.
    sent: BTreeMap<(u32, u32), String>,
    /// Those of them acknowledged.
    acked: BTreeMap<(u32, u32), String>,
    seq_of: HashMap<u64, (u32, u32)>,
    next_slot: u32,
}

async fn resume(server: &Binary, code: &str, w: &mut Writer, round: u32) -> Client {
    let mut c = Client::connect(&server.ws(code)).await;
    c.send(json!({"type":"join","token": w.token})).await;
    c.recv_type("welcome").await;
    let sheet = c
        .recv_where(|v| v["type"] == "sheet" && v["round"] == round)
        .await;
    let draft = sheet["draft"].as_array().unwrap();
    for slot in 0..10u32 {
        let have = draft[slot as usize].as_str().unwrap();
        if let Some(acked) = w.acked.get(&(round, slot)) {
            assert_eq!(
                have, acked,
                "an acknowledged write came back changed (slot {slot})"
            );
        } else if let Some(sent) = w.sent.get(&(round, slot)) {
            assert!(
                have.is_empty() || have == sent,
                "slot {slot}: {have:?} was never sent"
            );
        } else {
            assert!(
                have.is_empty(),
                "slot {slot} holds {have:?} that nobody sent"
            );
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_twenty_sigkills_exactly_once() {
    let (_dir, data) = temp_db();
    let mut rng = rand::rng();
    let mut server = start(&data).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/rooms", server.base))
        .json(&json!({"topic":"durability","ideas_per_round":10,"round_seconds":3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["code"].as_str().unwrap().to_owned();
    let fac_token = created["facilitator_token"].as_str().unwrap().to_owned();
    let mut writers = Vec::new();
    for i in 0..4 {
        let mut c = Client::connect(&server.ws(&code)).await;
        c.send(json!({"type":"join","name":format!("W{i}")})).await;
        let w = c.recv_type("welcome").await;
        writers.push(Writer {
            token: w["token"].as_str().unwrap().to_owned(),
            sent: BTreeMap::new(),
            acked: BTreeMap::new(),
            seq_of: HashMap::new(),
            next_slot: 0,
        });
    }
    let mut fac = Client::connect(&server.ws(&code)).await;
    fac.send(json!({"type":"facilitate","token":fac_token}))
        .await;
    fac.send(json!({"type":"start"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    drop(fac);

    let mut round = 1u32;
    let mut seq = 0u64;
    let mut all_acked: Vec<String> = Vec::new();
    let kills = 20;
    let mut killed_mid_burst = 0;
    for kill in 0..kills {
        // Everyone resumes and finds its acknowledged writes; it resends the rest.
        let mut clients = Vec::new();
        for w in writers.iter_mut() {
            let c = resume_and_resend(&server, &code, w, round, &mut seq, &mut all_acked).await;
            clients.push(c);
        }
        // Move on to the next round when the row is nearly full.
        if writers.iter().any(|w| w.next_slot >= 8) && round < 4 {
            let mut fac = Client::connect(&server.ws(&code)).await;
            fac.send(json!({"type":"facilitate","token":fac_token}))
                .await;
            fac.send(json!({"type":"advance"})).await;
            round += 1;
            fac.recv_where(|v| v["type"] == "room" && v["round"] == round)
                .await;
            for (w, c) in writers.iter_mut().zip(clients.iter_mut()) {
                c.recv_where(|v| v["type"] == "sheet" && v["round"] == round)
                    .await;
                w.sent.clear();
                w.acked.clear();
                w.next_slot = 0;
            }
        }
        // A burst of writes, and SIGKILL somewhere in the middle of it.
        for (w, c) in writers.iter_mut().zip(clients.iter_mut()) {
            for _ in 0..2 {
                if w.next_slot >= 10 {
                    break;
                }
                let slot = w.next_slot;
                w.next_slot += 1;
                let text = format!("kill{kill}-{}-r{round}-s{slot}", &w.token[..6]);
                seq += 1;
                w.seq_of.insert(seq, (round, slot));
                w.sent.insert((round, slot), text.clone());
                c.send(json!({"type":"write","slot":slot,"text":text,"round":round,"seq":seq}))
                    .await;
            }
        }
        let delay = rng.random_range(0..4u64);
        let collect = async {
            for (w, c) in writers.iter_mut().zip(clients.iter_mut()) {
                loop {
                    let v = c.recv().await;
                    if v["type"] == "ack" {
                        let s = v["seq"].as_u64().unwrap();
                        if let Some(k) = w.seq_of.get(&s) {
                            let text = w.sent[k].clone();
                            if w.acked.insert(*k, text.clone()).is_none() {
                                all_acked.push(text);
                            }
                        }
                    }
                    if w.sent.keys().all(|k| w.acked.contains_key(k)) {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(delay), collect).await;
        server.kill().await;
        // Acks that were already on the wire may still be read after the kill.
        for (w, c) in writers.iter_mut().zip(clients.iter_mut()) {
            while let Ok(Some(Ok(m))) = tokio::time::timeout(
                Duration::from_millis(50),
                futures_util::StreamExt::next(&mut c.ws),
            )
            .await
            {
                if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) {
                    if v["type"] == "ack" {
                        if let Some(k) = w.seq_of.get(&v["seq"].as_u64().unwrap_or(0)) {
                            let text = w.sent[k].clone();
                            if w.acked.insert(*k, text.clone()).is_none() {
                                all_acked.push(text);
                            }
                        }
                    }
                }
            }
        }
        drop(clients);
        let pending: usize = writers
            .iter()
            .map(|w| w.sent.keys().filter(|k| !w.acked.contains_key(k)).count())
            .sum();
        if pending > 0 {
            killed_mid_burst += 1;
        }
        server = start(&data).await;
    }
    // Finish and read the reveal: every acknowledged write exactly once.
    for w in writers.iter_mut() {
        resume_and_resend(&server, &code, w, round, &mut seq, &mut all_acked).await;
    }
    let mut fac = Client::connect(&server.ws(&code)).await;
    fac.send(json!({"type":"facilitate","token":fac_token}))
        .await;
    fac.send(json!({"type":"finish"})).await;
    let reveal = fac.recv_type("reveal").await;
    let mut on_sheets = common::reveal_texts(&reveal);
    on_sheets.sort();
    all_acked.sort();
    assert!(
        all_acked.len() >= 60,
        "only {} writes were acknowledged",
        all_acked.len()
    );
    assert!(
        killed_mid_burst >= 1,
        "no kill landed while writes were in flight"
    );
    eprintln!(
        "{kills} SIGKILLs, {killed_mid_burst} with writes in flight; {} acknowledged writes, {} rounds",
        all_acked.len(),
        round
    );
    assert_eq!(
        on_sheets, all_acked,
        "the reveal holds every acknowledged write exactly once"
    );
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_gives_the_downtime_back_and_rooms_come_back() {
    let (_dir, data) = temp_db();
    let server = start(&data).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/rooms", server.base))
        .json(&json!({"topic":"restart","round_seconds":60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["code"].as_str().unwrap().to_owned();
    let tok = created["facilitator_token"].as_str().unwrap().to_owned();
    let mut a = Client::connect(&server.ws(&code)).await;
    a.send(json!({"type":"join","name":"A"})).await;
    let wa = a.recv_type("welcome").await;
    let mut b = Client::connect(&server.ws(&code)).await;
    b.send(json!({"type":"join"})).await;
    b.recv_type("welcome").await;
    let mut fac = Client::connect(&server.ws(&code)).await;
    fac.send(json!({"type":"facilitate","token":tok})).await;
    fac.send(json!({"type":"start"})).await;
    let room = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    let left_before = room["deadline"].as_u64().unwrap() - room["now"].as_u64().unwrap();
    a.send(json!({"type":"write","slot":2,"text":"before the restart","seq":1}))
        .await;
    a.recv_type("ack").await;
    // SIGTERM: sockets close with 1012 and the process exits by itself within 10 s.
    let pid = server.child.id().unwrap();
    let mut child = server.child;
    let t0 = std::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(a.closed(Duration::from_secs(10)).await, Some(1012));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let server = start(&data).await;
    let info: Value = http
        .get(format!("{}/api/rooms/{code}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["phase"], "writing");
    assert_eq!(info["participants"], 2);
    let mut a = Client::connect(&server.ws(&code)).await;
    a.send(json!({"type":"join","token": wa["token"]})).await;
    let room = a.recv_type("room").await;
    let left_after = room["deadline"].as_u64().unwrap() - room["now"].as_u64().unwrap();
    // The 2.5 s the server was down were given back (within the heartbeat's second).
    assert!(
        left_after + 1_500 >= left_before,
        "before {left_before} ms, after {left_after} ms"
    );
    let sheet = a.recv_type("sheet").await;
    assert_eq!(sheet["draft"][2], "before the restart");
    let mut fac = Client::connect(&server.ws(&code)).await;
    fac.send(json!({"type":"facilitate","token":tok})).await;
    assert_eq!(
        fac.recv_type("welcome").await["role"],
        "facilitator",
        "the facilitator resumes too"
    );
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_journal_fails_nothing_is_acknowledged_and_nothing_new_accepted() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.memory = false;
    let (_dir, data) = temp_db();
    cfg.data = data;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let hub = brainwrite::Hub::open(cfg, shutdown.clone()).unwrap();
    tokio::spawn(brainwrite::serve(listener, hub.clone()));
    let server = common::TestServer {
        addr,
        hub: hub.clone(),
        shutdown,
        task: None,
    };
    let (code, token) = server.create(json!({"topic":"t"})).await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, wa) = server.participant(&code, "A").await;
    let (_b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    a.recv_type("sheet").await;
    a.send(json!({"type":"write","slot":0,"text":"kept","seq":1}))
        .await;
    assert_eq!(a.recv_type("ack").await["seq"], 1);
    // The journal stops taking writes (as a full or failed disk would).
    hub.journal.as_ref().unwrap().close().await.unwrap();
    a.send(json!({"type":"write","slot":1,"text":"not stored","seq":2}))
        .await;
    let closed = a.closed(Duration::from_secs(5)).await;
    assert_eq!(closed, Some(1011), "clients are closed to resync");
    assert!(
        !a.log
            .iter()
            .any(|f| f.contains(r#""seq":2"#) && f.contains("ack")),
        "no ack"
    );
    // Resuming is refused while the journal cannot keep changes: nothing new piles up.
    let mut again = server.connect(&code).await;
    again
        .send(json!({"type":"join","token": wa["token"]}))
        .await;
    again.expect_error("unavailable").await;
    again.send(json!({"type":"ping"})).await;
    again.recv_type("pong").await;
    // Within a heartbeat (1 s) the server reports itself unready.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 503, "the heartbeat marks the server unready");
}
