//! # Failover: from a node's death to every participant writing again
//!
//! Starts its own PostgreSQL (`tests/common/pg.rs`), three `brainwrite` nodes on it (the
//! release binary cargo built for this bench), and `--rooms` rooms on the first node with
//! `--participants` participants each, over real WebSockets, writing all the time (one
//! write, wait for its ack, `--think-ms`, the next). Mid-round the owner is killed
//! (`--signal kill`, SIGKILL; or `stop`, SIGSTOP: a node that hangs without its
//! connections closing, as a machine that lost its network would). Each participant then
//! does what the web client and the proxy do together: a closed socket, or an ack not come
//! within `--ack-timeout-ms`, makes it reconnect (after `--backoff-ms`) to the room's next
//! node in hash order among the two survivors and resume with its token. Measured per
//! participant: from the signal to its first acknowledged write on the new owner. Repeated
//! `--runs` times (a fresh database each), reported as p50 and max per run and over all,
//! against the goal of issue #14: at most 2 × lease + 1 s.
//!
//! ```text
//! cargo bench --bench failover                                  # 3 runs, SIGKILL
//! cargo bench --bench failover -- --signal stop --save stop     # a hung node
//! cargo bench --bench failover -- --help
//! ```
//!
//! `--save LABEL` writes the figures to `benches/results/failover-<commit>-<LABEL>.json`.
//! Traffic goes only to loopback; every loop is bounded in count and time.

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Failover benchmark: kill a room's owner mid-round, time every participant's return.
#[derive(Debug, Clone, Parser)]
#[command(name = "failover")]
struct Args {
    /// Runs (each on a fresh database and fresh nodes).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Rooms on the node that is killed.
    #[arg(long, default_value_t = 4)]
    rooms: u32,
    /// Participants per room.
    #[arg(long, default_value_t = 5)]
    participants: u32,
    /// The nodes' --lease-ms.
    #[arg(long, default_value_t = 2000)]
    lease_ms: u64,
    /// kill (SIGKILL) or stop (SIGSTOP: hung, its connections stay open).
    #[arg(long, default_value = "kill", value_parser = ["kill", "stop"])]
    signal: String,
    /// A participant's pause between an ack and its next write.
    #[arg(long, default_value_t = 100)]
    think_ms: u64,
    /// An ack not come within this is taken as a dead socket (reconnect).
    #[arg(long, default_value_t = 1000)]
    ack_timeout_ms: u64,
    /// Wait before each reconnection attempt.
    #[arg(long, default_value_t = 100)]
    backoff_ms: u64,
    /// Writing before the signal.
    #[arg(long, default_value_t = 1500)]
    warm_ms: u64,
    /// Save the figures as benches/results/failover-<commit>-<LABEL>.json.
    #[arg(long)]
    save: Option<String>,
}

/// A node process.
struct Node {
    child: tokio::process::Child,
    base: String,
}

impl Node {
    async fn spawn(pg: &pg::Pg, name: &str, lease_ms: u64) -> Node {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_brainwrite"))
            .args(["--bind", "127.0.0.1:0", "--journal", &pg.url()])
            .args(["--node-id", name, "--lease-ms", &lease_ms.to_string()])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn brainwrite");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("brainwrite listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("brainwrite exited before listening")
        })
        .await
        .expect("brainwrite starts within 20 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { child, base }
    }

    fn ws(&self, code: &str) -> String {
        format!("{}/ws/{code}", self.base.replace("http://", "ws://"))
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status();
        }
    }
}

async fn connect(url: &str) -> Option<Ws> {
    let c = tokio_tungstenite::connect_async(url);
    match tokio::time::timeout(Duration::from_secs(3), c).await {
        Ok(Ok((ws, _))) => Some(ws),
        _ => None,
    }
}

async fn send(ws: &mut Ws, v: Value) -> bool {
    ws.send(Message::text(v.to_string())).await.is_ok()
}

/// The next JSON frame whose `type` is `ty`, within `wait`; `None` if the socket closed or
/// the time ran out.
async fn recv_type(ws: &mut Ws, ty: &str, wait: Duration) -> Option<Value> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let m = tokio::time::timeout_at(until, ws.next()).await.ok()??;
        match m {
            Ok(Message::Text(t)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t)
                    && (v["type"] == ty || v["type"] == "error")
                {
                    return (v["type"] == ty).then_some(v);
                }
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// One participant: writes until told to stop; returns (when its first ack after `since`
/// came, as an offset from `since`), if it came.
#[allow(clippy::too_many_arguments)]
async fn participant(
    urls: Vec<String>,
    token: String,
    mut ws: Ws,
    args: Args,
    signalled: tokio::sync::watch::Receiver<Option<Instant>>,
    stop: tokio_util::sync::CancellationToken,
) -> Option<Duration> {
    let ack_wait = Duration::from_millis(args.ack_timeout_ms);
    let mut seq = 0u64;
    let mut slot = 0u32;
    // 0: the owner; after the signal, the survivors in the room's hash order.
    let mut at = 0usize;
    let mut connected = true;
    let mut refused = 0u32;
    loop {
        if stop.is_cancelled() {
            eprintln!(
                "participant {}: never back ({refused} joins refused, at node {at})",
                &token[..6]
            );
            return None;
        }
        if !connected {
            tokio::time::sleep(Duration::from_millis(args.backoff_ms)).await;
            // The proxy skips a dead node: after the signal, only the survivors.
            if signalled.borrow().is_some() && at == 0 {
                at = 1;
            }
            let url = &urls[at];
            // Like a consistent-hash proxy: the same node while it answers, the next one
            // in the room's order only when it does not take connections.
            match connect(url).await {
                Some(mut c) => {
                    let joined = send(&mut c, json!({"type":"join","token":token})).await
                        && recv_type(&mut c, "welcome", ack_wait * 3).await.is_some();
                    if joined {
                        ws = c;
                        connected = true;
                    } else {
                        refused += 1;
                    }
                }
                None => at = 1 + at % 2,
            }
            continue;
        }
        seq += 1;
        slot = (slot + 1) % 10;
        let text = format!("idea {seq} of {}", &token[..6]);
        let sent = send(
            &mut ws,
            json!({"type":"write","slot":slot,"text":text,"round":1,"seq":seq}),
        )
        .await;
        let acked = sent && {
            let until = tokio::time::Instant::now() + ack_wait;
            let mut got = false;
            while let Some(v) = recv_type(&mut ws, "ack", until - tokio::time::Instant::now()).await
            {
                if v["seq"].as_u64() == Some(seq) {
                    got = true;
                    break;
                }
            }
            got
        };
        if !acked {
            connected = false;
            continue;
        }
        let since = *signalled.borrow();
        if let Some(t) = since
            && at > 0
        {
            return Some(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(args.think_ms)).await;
    }
}

/// Figures of one run.
struct Run {
    /// Per participant: from the signal to its first ack on the new owner.
    back: Vec<Duration>,
    /// Participants that never wrote again within the bound.
    lost: usize,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(args: &Args, i: u32) -> Run {
    let pg = pg::Pg::start(&format!("failover-{i}"))
        .expect("PostgreSQL (unset BRAINWRITE_SKIP_POSTGRES)");
    let mut nodes = Vec::new();
    for n in 0..3 {
        nodes.push(Node::spawn(&pg, &format!("n{n}"), args.lease_ms).await);
    }
    let http = reqwest::Client::new();
    let (tx, rx) = tokio::sync::watch::channel(None);
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = Vec::new();
    for r in 0..args.rooms {
        let created: Value = http
            .post(format!("{}/api/rooms", nodes[0].base))
            .json(&json!({"topic":"failover","ideas_per_round":10,"round_seconds":300}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("create answer");
        let code = created["code"].as_str().expect("code").to_owned();
        let fac = created["facilitator_token"]
            .as_str()
            .expect("token")
            .to_owned();
        // The survivors in this room's order (as a consistent hash would pick them).
        let first = 1 + (r as usize % 2);
        let urls = vec![
            nodes[0].ws(&code),
            nodes[first].ws(&code),
            nodes[3 - first].ws(&code),
        ];
        let mut joined = Vec::new();
        for p in 0..args.participants {
            let mut ws = connect(&urls[0]).await.expect("connect");
            send(&mut ws, json!({"type":"join","name":format!("P{p}")})).await;
            let w = recv_type(&mut ws, "welcome", Duration::from_secs(5))
                .await
                .expect("welcome");
            joined.push((w["token"].as_str().expect("token").to_owned(), ws));
        }
        let mut f = connect(&urls[0]).await.expect("connect");
        send(&mut f, json!({"type":"facilitate","token":fac})).await;
        send(&mut f, json!({"type":"start"})).await;
        let _ = recv_type(&mut f, "sheet", Duration::from_millis(200)).await;
        for (token, ws) in joined {
            tasks.push(tokio::spawn(participant(
                urls.clone(),
                token,
                ws,
                args.clone(),
                rx.clone(),
                stop.clone(),
            )));
        }
    }
    tokio::time::sleep(Duration::from_millis(args.warm_ms)).await;
    let sig = if args.signal == "kill" {
        "-KILL"
    } else {
        "-STOP"
    };
    nodes[0].signal(sig);
    let _ = tx.send(Some(Instant::now()));
    // Bounded: well past the goal, everyone still missing is counted as lost.
    let bound = Duration::from_millis(2 * args.lease_ms + 1000) * 3;
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(bound).await;
        stopper.cancel();
    });
    let mut back = Vec::new();
    let mut lost = 0;
    for t in tasks {
        match t.await.ok().flatten() {
            Some(d) => back.push(d),
            None => lost += 1,
        }
    }
    stop.cancel();
    nodes[0].signal("-KILL");
    drop(nodes);
    back.sort();
    Run { back, lost }
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; nothing else of its own.
    let argv: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let args = Args::parse_from(argv);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let goal = Duration::from_millis(2 * args.lease_ms + 1000);
    println!(
        "failover: {} runs, {} rooms × {} participants on n0 of 3 nodes, lease {} ms, SIG{}",
        args.runs,
        args.rooms,
        args.participants,
        args.lease_ms,
        args.signal.to_uppercase()
    );
    println!(
        "{:>4} {:>12} {:>10} {:>10} {:>6}",
        "run", "participants", "p50 ms", "max ms", "lost"
    );
    let mut all = Vec::new();
    let mut runs = Vec::new();
    let mut lost = 0;
    for i in 0..args.runs {
        let r = rt.block_on(run(&args, i));
        println!(
            "{:>4} {:>12} {:>10} {:>10} {:>6}",
            i + 1,
            r.back.len(),
            ms(quantile(&r.back, 0.5)),
            ms(r.back.last().copied().unwrap_or_default()),
            r.lost
        );
        runs.push(json!({
            "p50_ms": ms(quantile(&r.back, 0.5)),
            "max_ms": ms(r.back.last().copied().unwrap_or_default()),
            "participants": r.back.len(),
            "lost": r.lost,
        }));
        lost += r.lost;
        all.extend(r.back);
    }
    all.sort();
    let (p50, max) = (quantile(&all, 0.5), all.last().copied().unwrap_or_default());
    let met = lost == 0 && max <= goal;
    println!(
        "{:>4} {:>12} {:>10} {:>10} {:>6}",
        "all",
        all.len(),
        ms(p50),
        ms(max),
        lost
    );
    println!(
        "goal: every participant writing again within 2 × lease + 1 s = {} ms: {}",
        goal.as_millis(),
        if met { "met" } else { "MISSED" }
    );
    if let Some(label) = &args.save {
        let out = json!({
            "bench": "failover",
            "commit": commit(),
            "signal": args.signal,
            "lease_ms": args.lease_ms,
            "rooms": args.rooms,
            "participants": args.participants,
            "think_ms": args.think_ms,
            "ack_timeout_ms": args.ack_timeout_ms,
            "backoff_ms": args.backoff_ms,
            "runs": runs,
            "p50_ms": ms(p50),
            "max_ms": ms(max),
            "goal_ms": goal.as_millis() as u64,
            "goal_met": met,
        });
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results");
        let path = dir.join(format!("failover-{}-{label}.json", commit()));
        match serde_json::to_string_pretty(&out).map(|s| std::fs::write(&path, s + "\n")) {
            Ok(Ok(())) => println!("saved {}", path.display()),
            _ => eprintln!("could not save {}", path.display()),
        }
    }
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
