//! What a client that stops reading costs everyone else in its room.
//!
//! Runs the real server in-process on loopback and the same workload twice: R rooms, each with
//! a facilitator that sends `extend` at a steady rate (every one a `room` broadcast) and P
//! participants that read. In the second run every room also has a participant that joins and
//! then never reads again (a 2 KiB receive buffer), until the server cuts it off with 4008.
//! For the readers it reports the broadcast delay — from the facilitator's send to the
//! reader's receipt — p50/p99/p99.9/max in both runs, and how many stalled clients were cut
//! off. Coordinated-omission safe: each send is scheduled, and its delay counts from the
//! scheduled instant.
//!
//! `cargo bench --bench slow_client -- [rooms] [participants] [seconds]` (defaults 50 6 8).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brainwrite::{Config, Hub};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Broadcasts per second per room.
const RATE: u64 = 20;

struct Outcome {
    hist: Histogram<u64>,
    delivered: u64,
    cut_off: u64,
}

async fn create(base: &str) -> (String, String) {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/api/rooms"))
        .json(&json!({"topic":"slow client bench","round_seconds":3600}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    (
        v["code"].as_str().unwrap_or_default().to_owned(),
        v["facilitator_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Read until the server's `welcome`.
async fn welcomed<S>(c: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(m)) = c.next().await {
        if let Message::Text(t) = m
            && serde_json::from_str::<Value>(&t).is_ok_and(|v| v["type"] == "welcome")
        {
            return;
        }
    }
    panic!("the socket closed before its welcome");
}

async fn run(rooms: usize, participants: usize, secs: u64, stalled: bool) -> Outcome {
    let mut config = Config::for_tests();
    config.messages_per_second = 1_000_000;
    config.message_burst = 1_000_000;
    config.rooms_per_minute_per_ip = 1_000_000;
    config.outbox = 32;
    config.socket_send_buffer = 4096;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let hub = Hub::new(config, shutdown.clone()).expect("hub starts");
    tokio::spawn(brainwrite::serve(listener, hub));
    let base = format!("http://{addr}");
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut stalled_socks = Vec::new();
    let mut facs = Vec::new();
    // Scheduled send instant of broadcast k in each room: the deadline grows by 1 s each time.
    let schedules: Arc<Mutex<HashMap<(usize, u64), Instant>>> = Default::default();
    for r in 0..rooms {
        let (code, token) = create(&base).await;
        let ws = format!("ws://{addr}/ws/{code}");
        let (mut fac, _) = tokio_tungstenite::connect_async(&ws).await.expect("fac");
        fac.send(Message::text(
            json!({"type":"facilitate","token":token}).to_string(),
        ))
        .await
        .expect("send");
        for p in 0..participants {
            let (mut c, _) = tokio_tungstenite::connect_async(&ws).await.expect("join");
            c.send(Message::text(
                json!({"type":"join","name":format!("p{p}")}).to_string(),
            ))
            .await
            .expect("send");
            // Seated before the start: a join still in flight when `start` lands would make a
            // late joiner, who gets no sheet (and so no broadcast) until the next round.
            welcomed(&mut c).await;
            let (hist, delivered, schedules) = (hist.clone(), delivered.clone(), schedules.clone());
            tasks.push(tokio::spawn(async move {
                let mut d0: Option<u64> = None;
                let mut last_k = 0;
                while let Some(Ok(m)) = c.next().await {
                    let Message::Text(t) = m else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        continue;
                    };
                    if v["type"] != "room" || v["phase"] != "writing" {
                        continue;
                    }
                    let Some(d) = v["deadline"].as_u64() else {
                        continue;
                    };
                    let start = *d0.get_or_insert(d);
                    let k = (d - start) / 1000;
                    // Each broadcast once: other state changes repeat the same deadline.
                    if k <= last_k {
                        continue;
                    }
                    last_k = k;
                    let at = schedules.lock().ok().and_then(|s| s.get(&(r, k)).copied());
                    if let Some(at) = at {
                        let us = at.elapsed().as_micros() as u64;
                        if let Ok(mut h) = hist.lock() {
                            let _ = h.record(us.max(1));
                        }
                        delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        if stalled {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            let _ = sock.set_recv_buffer_size(2048);
            let stream = sock.connect(addr).await.expect("connect");
            let (mut s, _) = tokio_tungstenite::client_async(&ws, stream)
                .await
                .expect("stalled");
            s.send(Message::text(
                json!({"type":"join","name":"stalled"}).to_string(),
            ))
            .await
            .expect("send");
            welcomed(&mut s).await;
            stalled_socks.push(s); // never read again
        }
        fac.send(Message::text(json!({"type":"start"}).to_string()))
            .await
            .expect("start");
        facs.push(fac);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every room's facilitator extends on a fixed schedule; its own frames are drained.
    let t0 = Instant::now() + Duration::from_millis(100);
    let period = Duration::from_micros(1_000_000 / RATE);
    let n = secs * RATE;
    let mut senders = Vec::new();
    for (r, fac) in facs.into_iter().enumerate() {
        let schedules = schedules.clone();
        let (mut tx, mut rx) = fac.split();
        tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        let offset = period.mul_f64(r as f64 / rooms as f64);
        senders.push(tokio::spawn(async move {
            for k in 1..=n {
                let at = t0 + offset + period * (k as u32);
                if let Ok(mut s) = schedules.lock() {
                    s.insert((r, k), at);
                }
                tokio::time::sleep_until(at.into()).await;
                let msg = json!({"type":"extend","seconds":1}).to_string();
                if tx.send(Message::text(msg)).await.is_err() {
                    break;
                }
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let cut_off = metrics
        .lines()
        .find(|l| l.starts_with("brainwrite_slow_client_disconnects_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    shutdown.cancel();
    for t in tasks {
        t.abort();
    }
    drop(stalled_socks);
    let hist = hist.lock().map(|h| h.clone()).expect("histogram");
    Outcome {
        hist,
        delivered: delivered.load(std::sync::atomic::Ordering::Relaxed),
        cut_off,
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rooms = args.first().copied().unwrap_or(50);
    let participants = args.get(1).copied().unwrap_or(6);
    let secs = args.get(2).copied().unwrap_or(8) as u64;
    println!(
        "slow_client: {rooms} rooms × {participants} readers, {RATE} broadcasts/s per room for {secs} s"
    );
    let base = run(rooms, participants, secs, false).await;
    // The slow-client counter is process-wide: count this run's own.
    let with = run(rooms, participants, secs, true).await;
    let cut = with.cut_off.saturating_sub(base.cut_off);
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "readers' broadcast delay", "p50", "p99", "p99.9", "max", "delivered"
    );
    for (name, o) in [
        ("no stalled client", &base),
        ("one stalled client in every room", &with),
    ] {
        println!(
            "{:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
            name,
            ms(o.hist.value_at_quantile(0.5)),
            ms(o.hist.value_at_quantile(0.99)),
            ms(o.hist.value_at_quantile(0.999)),
            ms(o.hist.max()),
            o.delivered
        );
    }
    let d99 = with.hist.value_at_quantile(0.99) as i64 - base.hist.value_at_quantile(0.99) as i64;
    println!(
        "stalled clients cut off with 4008: {cut} of {rooms}; p99 added for the others: {:+.2} ms",
        d99 as f64 / 1000.0
    );
    let out = json!({
        "rooms": rooms, "participants": participants, "seconds": secs, "rate_per_room": RATE,
        "baseline_us": {"p50": base.hist.value_at_quantile(0.5), "p99": base.hist.value_at_quantile(0.99),
                        "p999": base.hist.value_at_quantile(0.999), "max": base.hist.max(), "delivered": base.delivered},
        "stalled_us": {"p50": with.hist.value_at_quantile(0.5), "p99": with.hist.value_at_quantile(0.99),
                       "p999": with.hist.value_at_quantile(0.999), "max": with.hist.max(), "delivered": with.delivered},
        "stalled_cut_off": cut,
        "p99_added_us": d99,
    });
    let _ = std::fs::create_dir_all("target/slow_client");
    let _ = std::fs::write("target/slow_client/last.json", out.to_string());
}
