//! Back-pressure, liveness and limits over real sockets: a client that stops reading is cut
//! off without slowing anyone else; silent and dead sockets are closed; rate, connection and
//! room-creation limits answer with clear errors; 10,000 malformed or oversize frames are each
//! answered correctly and the server's memory returns to its baseline.

mod common;

use std::time::{Duration, Instant};

use common::{Binary, Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn config() -> brainwrite::Config {
    let mut c = brainwrite::Config::for_tests();
    c.messages_per_second = 1_000_000;
    c.message_burst = 1_000_000;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_and_nobody_else_waits() {
    let mut cfg = config();
    // Far below the 3,000 broadcasts the stalled client is sent, and enough slack that a
    // reader on a loaded machine (readers and server share this test's two threads) is not
    // mistaken for a stalled one: with 16 it was, now and then, before and after the socket
    // rewrite.
    cfg.outbox = 64;
    cfg.socket_send_buffer = 8192;
    let server = TestServer::with_config(cfg).await;
    let (code, token) = server
        .create(json!({"topic": "t", "round_seconds": 60}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let mut readers = Vec::new();
    for i in 0..3 {
        readers.push(server.participant(&code, &format!("R{i}")).await.0);
    }
    // The stalled client: a tiny receive buffer, and after its welcome it never reads again.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    let stream = sock.connect(server.addr).await.unwrap();
    let (mut stalled, _) =
        tokio_tungstenite::client_async(format!("ws://{}/ws/{code}", server.addr), stream)
            .await
            .unwrap();
    stalled
        .send(Message::text(json!({"type":"join","name":"S"}).to_string()))
        .await
        .unwrap();
    let _ = stalled.next().await;
    fac.recv_where(|v| v["type"] == "room" && v["connected"] == 4)
        .await;
    fac.send(json!({"type":"start"})).await;
    let d0 = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await["deadline"]
        .as_u64()
        .unwrap();

    // 3,000 broadcasts: far more than the stalled client's queue and socket buffers hold.
    // The readers read on their own tasks, as phones would, and note when the last arrives.
    let n = 3000u64;
    let last = d0 + n * 1000;
    let t0 = Instant::now();
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|mut r| {
            tokio::spawn(async move {
                r.recv_where(|v| v["type"] == "room" && v["deadline"].as_u64() == Some(last))
                    .await;
                (t0.elapsed(), r)
            })
        })
        .collect();
    for i in 1..=n {
        fac.send(json!({"type":"extend","seconds":1})).await;
        fac.recv_where(|v| v["type"] == "room" && v["deadline"].as_u64() == Some(d0 + i * 1000))
            .await;
        fac.clear();
    }
    let sent = t0.elapsed();
    let mut readers = Vec::new();
    for t in tasks {
        let (got, r) = t.await.unwrap();
        readers.push(r);
        // Each reader had the last broadcast within moments of its being sent.
        assert!(
            got < sent + Duration::from_millis(500),
            "reader held up: {got:?} vs {sent:?}"
        );
    }
    // The stalled one was disconnected (it can resume later with its token).
    let mut watch = server.connect(&code).await;
    watch.send(json!({"type":"watch"})).await;
    let room = watch.recv_type("room").await;
    assert_eq!(room["connected"], 3, "{room}");
    let slow = server
        .metric("brainwrite_slow_client_disconnects_total")
        .await;
    assert!(slow >= 1.0, "{slow}");
    drop(stalled);
}

/// A client may send a burst as large as the rate limit allows (`--message-burst`, 60) in
/// one go: every message is answered, nothing is refused, and it is not cut off as slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_within_the_allowance_is_answered_in_full() {
    let server = TestServer::start().await;
    let burst = server.hub.config.message_burst as usize;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (mut a, _) = server.participant(&code, "A").await;
    // The join counted as one message; the bucket refills at 20 a second.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // All of them leave in one flush, so they arrive together.
    for _ in 0..burst {
        a.ws.feed(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap();
    }
    a.ws.flush().await.unwrap();
    let mut pongs = 0;
    while pongs < burst {
        let v = a.recv().await;
        assert_ne!(v["type"], "error", "after {pongs} pongs: {v}");
        pongs += usize::from(v["type"] == "pong");
    }
    assert_eq!(a.close, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_and_dead_peers_are_closed() {
    let mut cfg = config();
    cfg.handshake_timeout = Duration::from_millis(500);
    cfg.ping_interval = Duration::from_millis(300);
    let server = TestServer::with_config(cfg).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    // Never sends a first message.
    let mut silent = server.connect(&code).await;
    let t0 = Instant::now();
    assert_eq!(silent.closed(Duration::from_secs(3)).await, Some(4000));
    assert!(t0.elapsed() >= Duration::from_millis(450));
    // A live client answers pings (tungstenite does it while we read) and stays.
    let (mut live, _) = server.participant(&code, "L").await;
    // Reading is what answers pings; a phone's browser does it by itself.
    let _ = tokio::time::timeout(Duration::from_millis(1200), live.recv_type("never")).await;
    live.send(json!({"type":"ping"})).await;
    live.recv_type("pong").await;
    // A peer that stops answering (we stop reading, so no pongs go out) is dropped.
    let (dead, _) = server.participant(&code, "D").await;
    let _ = tokio::time::timeout(Duration::from_millis(1500), live.recv_type("never")).await;
    let mut watch = server.connect(&code).await;
    watch.send(json!({"type":"watch"})).await;
    let room = watch.recv_type("room").await;
    assert_eq!(
        (room["participants"].as_u64(), room["connected"].as_u64()),
        (Some(2), Some(1)),
        "{room}"
    );
    drop(dead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_connection_and_room_limits_answer_clearly() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.messages_per_second = 5;
    cfg.message_burst = 10;
    cfg.max_connections_per_ip = 3;
    cfg.rooms_per_minute_per_ip = 2;
    let server = TestServer::with_config(cfg).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (_s, v) = server.create_raw(r#"{"topic":"t"}"#).await;
    assert_eq!(_s, 201, "{v}");
    let (status, v) = server.create_raw(r#"{"topic":"t"}"#).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["code"], "rate_limited");

    let (mut a, _) = server.participant(&code, "A").await;
    for _ in 0..30 {
        a.send(json!({"type":"ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), a.recv()).await {
            Ok(v) if v["type"] == "pong" => pongs += 1,
            Ok(v) if v["type"] == "error" => {
                assert_eq!(v["code"], "rate_limited");
                limited += 1;
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
    assert!(
        (9..=12).contains(&pongs),
        "burst of 10 allowed, got {pongs} pongs"
    );
    assert_eq!(limited, 1, "one warning, not one per dropped message");
    // After a pause the connection works again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    a.send(json!({"type":"ping"})).await;
    a.recv_type("pong").await;

    // Per-IP connections: A holds one; two more fit; the fourth is refused before the upgrade.
    let _b = server.connect(&code).await;
    let _c = server.connect(&code).await;
    let r = server.handshake(&format!("/ws/{code}")).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_many_connections");
    drop(_b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _d = server.connect(&code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sustained_messages_is_closed_with_4029() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.messages_per_second = 5;
    cfg.message_burst = 5;
    let server = TestServer::with_config(cfg).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (mut a, _) = server.participant(&code, "A").await;
    for _ in 0..200 {
        if a.ws
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(a.closed(Duration::from_secs(3)).await, Some(4029));
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// Send `n` hostile frames over a few connections; each must be answered as the protocol says.
async fn hostile_round(base: &str, code: &str, n: usize) {
    let url = format!("{}/ws/{code}", base.replace("http://", "ws://"));
    let big = "x".repeat(9000);
    let mut c = Client::connect(&url).await;
    let mut answered = 0;
    for i in 0..n {
        let (frame, expect): (Message, Option<&str>) = match i % 10 {
            0 => (Message::text("{"), Some("bad_message")),
            1 => (Message::text(r#"{"type":"teleport"}"#), Some("bad_message")),
            2 => (
                Message::text(r#"{"type":"write","slot":"x","text":1}"#),
                Some("bad_message"),
            ),
            3 => (Message::binary(vec![0u8; 64]), Some("bad_message")),
            4 => (
                Message::text(r#"{"type":"write","slot":0,"text":"x"}"#),
                Some("not_joined"),
            ),
            5 => (
                Message::text(r#"{"type":"facilitate","token":"nope"}"#),
                Some("forbidden"),
            ),
            6 => (Message::text("[1,2,3]"), Some("bad_message")),
            7 => (Message::text("\u{0}\u{1}\u{2}"), Some("bad_message")),
            8 => (
                Message::text(r#"{"type":"start","extra":true}"#),
                Some("bad_message"),
            ),
            _ => (
                Message::text(format!(r#"{{"type":"join","name":"{big}"}}"#)),
                None,
            ),
        };
        c.ws.send(frame).await.unwrap();
        match expect {
            Some(code) => {
                let e = c.recv_type("error").await;
                assert_eq!(e["code"], code, "frame {i}");
                answered += 1;
            }
            None => {
                // Oversize: the connection is closed with 1009 and we open another.
                assert_eq!(
                    c.closed(Duration::from_secs(5)).await,
                    Some(1009),
                    "frame {i}"
                );
                answered += 1;
                c = Client::connect(&url).await;
            }
        }
        c.log.clear();
    }
    assert_eq!(answered, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hostile_frames_each_answered_and_memory_returns_to_baseline() {
    let server = Binary::spawn(
        &[
            "--bind",
            "127.0.0.1:0",
            "--memory",
            "--messages-per-second",
            "1000000",
            "--message-burst",
            "1000000",
        ],
        &[],
        false,
    )
    .await;
    let (base, pid) = (server.base.clone(), server.pid());
    let created = server.create(json!({"topic":"hostile"})).await;
    let code = created["code"].as_str().unwrap().to_owned();
    // Warm up allocator pools and buffers, then take the baseline.
    hostile_round(&base, &code, 1000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let t0 = Instant::now();
    hostile_round(&base, &code, 10_000).await;
    let took = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(pid);
    eprintln!("10,000 hostile frames in {took:?}; RSS {before} KiB before, {after} KiB after");
    assert!(
        after <= before + 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    // The server still serves.
    let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    server.kill().await;
}

/// Keepalive pings only a quiet connection: a phone that writes and is answered within every
/// interval gets no WebSocket ping (a room of busy sockets pays for none), one that only
/// listens still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_only_quiet_connections() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(300);
    let server = TestServer::with_config(cfg).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (mut busy, _) = server.participant(&code, "B").await;
    let pings = |m: &Message| matches!(m, Message::Ping(_));
    let mut seen = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        busy.ws
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap();
        // Its pong, and anything else, within 100 ms.
        let stop = Instant::now() + Duration::from_millis(100);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(stop.into(), busy.ws.next()).await {
            seen += usize::from(pings(&m));
        }
    }
    assert_eq!(seen, 0, "a busy connection was pinged");
    // Quiet now: reading only, for more than two intervals.
    let stop = Instant::now() + Duration::from_millis(900);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(stop.into(), busy.ws.next()).await {
        seen += usize::from(pings(&m));
    }
    assert!(seen >= 1, "a quiet connection was never pinged");
    assert_eq!(busy.close, None);
}
