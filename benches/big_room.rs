//! # One room of 2,000 people over real sockets (issue #13, "Numbers to reach", last bullet)
//!
//! Spawns the release server binary (`--memory`, a free loopback port, `--max-participants N`,
//! the per-address connection limit raised for N sockets from one address), creates one room
//! over HTTP (group size 6, rounds of an hour so no deadline interferes), connects its
//! facilitator (`facilitate`) and a board (`watch`), then N participants (`join`), at most
//! `--concurrency` connecting at once, from a tokio runtime with `--client-threads` threads.
//! It measures, against the issue's goals:
//!
//! - **welcome**: per participant, from the start of its TCP connect to its `welcome` (the
//!   first frame answering `join`): p50 / p99 / max. Goal: every one within 5 s.
//! - **join phase frames**: every text frame each socket receives from the first connect
//!   until all N are welcomed plus `--settle-ms`, by type. Goal: ≤ 30 `room` frames per
//!   participant (the max over participants is judged; the mean is shown).
//! - **start**: the server's CPU time (utime + stime of `/proc/<pid>/stat`, which has the
//!   clock-tick resolution, usually 10 ms) from just before the facilitator's `start` until
//!   every participant holds its round-1 `sheet`, minus the idle CPU of the server measured
//!   over `--baseline-ms` just before and scaled to the same length. Also shown: the same from
//!   the per-thread `schedstat` run times (nanoseconds; threads that exit in the window are
//!   missed), and the wall time to the last sheet. Goal: under 50 ms of CPU (judged on the
//!   `stat` figure).
//! - **everyone done**: every participant sends `done` for round 1; every text frame every
//!   socket receives from the first `done` until every participant holds its round-2 `sheet`
//!   (the participant whose sheet completes the set closes the window itself, so the count is
//!   exact), the total and per participant, by type, and the wall time; also the frames in a
//!   `--settle-ms` tail after it. Goal: O(n) in total. A single run cannot show a growth
//!   rate, so the bench judges a constant bound: ≤ 30 frames per participant (a per-event
//!   broadcast to everyone would be about N each, 2,000 here). Run with other
//!   `--participants` to see the growth.
//!
//! ```text
//! export CARGO_TARGET_DIR=/work/target-bigroom     # or leave it unset: target/
//! cargo build --release
//! cargo bench --bench big_room -- [--participants 2000] [--repeat N] [--json PATH]
//!     [--brainwrite PATH] [--concurrency 64] [--client-threads 2] [--settle-ms 1000]
//!     [--baseline-ms 1000] [--server-arg=--shards=1 ...]
//! ```
//!
//! The server is `$CARGO_TARGET_DIR/release/brainwrite` (or `target/release/brainwrite`)
//! unless `--brainwrite` names one; each repeat spawns a fresh server and stops it after.
//! Every wait has a limit and every error (a refused socket, a close, an `error` frame, the
//! server exiting) is reported with the run, never a panic. Linux only (`/proc`).

#[path = "loadgen/child.rs"]
mod child;
// The load generator reads every field; this bench only the total.
#[allow(dead_code)]
#[path = "loadgen/cputime.rs"]
mod cputime;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc as tmpsc};
use tokio_tungstenite::tungstenite::Message;

/// One room of N participants + a facilitator + a board over real sockets.
#[derive(Debug, Clone, Parser)]
#[command(name = "big_room")]
struct Args {
    /// Participants in the room (the server gets `--max-participants` this).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(2..=10000))]
    participants: u32,

    /// Runs, each with a fresh server.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,

    /// Write every run's figures to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,

    /// The server binary. Default: $CARGO_TARGET_DIR/release/brainwrite, else
    /// target/release/brainwrite.
    #[arg(long)]
    brainwrite: Option<PathBuf>,

    /// Participants connecting at once (from TCP connect to welcome).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10000))]
    concurrency: u32,

    /// Worker threads of the client's tokio runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    client_threads: u32,

    /// Ring size of the room (`group_size`).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..=12))]
    group_size: u32,

    /// Quiet time after the last welcome (end of the join phase), after the last round-1
    /// sheet and after the last round-2 sheet (the tail), in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60000))]
    settle_ms: u64,

    /// Length of the idle CPU baseline measured just before the start, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60000))]
    baseline_ms: u64,

    /// Limit on each phase (joins, start, everyone done), in seconds.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(5..=3600))]
    phase_timeout_s: u64,

    /// Extra argument for the server (repeatable), e.g. --server-arg=--shards=1.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

// ---------------------------------------------------------------------------------------
// Goals (issue #13).

/// Every participant welcomed within this many ms of connecting.
const GOAL_WELCOME_MS: f64 = 5000.0;
/// Room frames per participant over the whole join phase, at most.
const GOAL_JOIN_ROOM_FRAMES: f64 = 30.0;
/// Server CPU for the start, under this many ms.
const GOAL_START_CPU_MS: f64 = 50.0;
/// Frames per participant for "everyone done" (the bench's stand-in for O(n) in total).
const GOAL_DONE_FRAMES_PER_PARTICIPANT: f64 = 30.0;

// ---------------------------------------------------------------------------------------
// What the sockets count.

/// Kinds of frame received, counted separately.
const KINDS: [&str; 11] = [
    "welcome", "room", "me", "sheet", "roster", "progress", "error", "pong", "other", "ping",
    "close",
];
const K_WELCOME: usize = 0;
const K_ROOM: usize = 1;
const K_SHEET: usize = 3;
const K_ERROR: usize = 6;
const K_OTHER: usize = 8;
const K_PING: usize = 9;
const K_CLOSE: usize = 10;

/// The measurement windows a frame is counted in (by the time it is read).
const PHASES: [&str; 6] = ["join", "baseline", "start", "done", "tail", "end"];
const P_JOIN: usize = 0;
const P_BASELINE: usize = 1;
const P_START: usize = 2;
const P_DONE: usize = 3;
const P_TAIL: usize = 4;
const P_END: usize = 5;

/// Frames and bytes of one socket, per phase and kind.
#[derive(Debug, Clone, Default)]
struct Tally {
    frames: [[u64; KINDS.len()]; PHASES.len()],
    bytes: [[u64; KINDS.len()]; PHASES.len()],
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        for p in 0..PHASES.len() {
            for k in 0..KINDS.len() {
                self.frames[p][k] += other.frames[p][k];
                self.bytes[p][k] += other.bytes[p][k];
            }
        }
    }

    fn phase_frames(&self, p: usize) -> u64 {
        // Text frames only: server pings and closes are not room traffic.
        self.frames[p][..K_PING].iter().sum()
    }

    fn phase_bytes(&self, p: usize) -> u64 {
        self.bytes[p][..K_PING].iter().sum()
    }

    /// `{kind: frames}` of one phase, without zeros.
    fn by_kind(&self, p: usize) -> serde_json::Map<String, Value> {
        KINDS
            .iter()
            .enumerate()
            .filter(|&(k, _)| self.frames[p][k] > 0)
            .map(|(k, name)| {
                (
                    (*name).to_owned(),
                    json!({"frames": self.frames[p][k], "bytes": self.bytes[p][k]}),
                )
            })
            .collect()
    }
}

/// State shared by the socket tasks and the run.
struct Shared {
    /// The current phase (`P_*`).
    phase: AtomicUsize,
    /// Reference instant of the `*_us` fields.
    base: Instant,
    n: usize,
    welcomed: AtomicUsize,
    sheets1: AtomicUsize,
    sheets2: AtomicUsize,
    last_sheet1_us: AtomicU64,
    last_sheet2_us: AtomicU64,
    /// Woken when a count above reaches `n` or a failure is recorded.
    wake: Notify,
    /// Sockets that failed or were closed by the server before the end.
    failed: AtomicUsize,
    /// The first failures and error frames, for the report.
    problems: Mutex<Vec<String>>,
    /// Facilitator or board sockets lost before the end.
    staff_lost: AtomicUsize,
    /// Set once the measurements are done: closes after it are not failures.
    ending: AtomicBool,
    /// Commands (start, done) the sockets have written, for a failed run's report.
    sent: AtomicUsize,
}

impl Shared {
    fn us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn problem(&self, what: String) {
        let mut p = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < 20 {
            p.push(what);
        }
    }

    /// A failure of a participant's socket ends the run; the facilitator's or the board's is
    /// recorded (a problem, and `staff_lost`) and the run goes on without it.
    fn fail_as(&self, role: Role, what: String) {
        if matches!(role, Role::Participant(_)) {
            self.fail(what);
        } else if !self.ending.load(Ordering::Relaxed) {
            self.staff_lost.fetch_add(1, Ordering::Relaxed);
            self.problem(what);
        }
    }

    fn fail(&self, what: String) {
        if self.ending.load(Ordering::Relaxed) {
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.problem(what);
        self.wake.notify_one();
    }
}

/// The role of a socket.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Participant(usize),
    Facilitator,
    Board,
}

impl Role {
    fn label(self) -> String {
        match self {
            Role::Participant(i) => format!("participant {i}"),
            Role::Facilitator => "facilitator".into(),
            Role::Board => "board".into(),
        }
    }
}

/// What a socket task hands back.
#[derive(Debug, Default)]
struct ConnOut {
    /// From the start of the TCP connect to the welcome, µs.
    welcome_us: Option<u64>,
    tally: Tally,
}

/// The `type` of a server message: the server writes the tag first (a prefix match), else a
/// real parse.
fn msg_type(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix("{\"type\":\"")
        && let Some(end) = rest.find('"')
    {
        return Some(&rest[..end]);
    }
    #[derive(serde::Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        ty: &'a str,
    }
    serde_json::from_str::<Tag>(text).ok().map(|t| t.ty)
}

fn kind_of(ty: Option<&str>) -> usize {
    ty.and_then(|t| KINDS[..K_PING].iter().position(|k| *k == t))
        .unwrap_or(K_OTHER)
}

/// The `round` of a `sheet` message.
fn sheet_round(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Sheet {
        round: u64,
    }
    serde_json::from_str::<Sheet>(text).ok().map(|s| s.round)
}

/// One socket: connect, send the role message, wait for `welcome`, then count every frame
/// and send what it is told until told to stop (its sender dropped).
async fn conn(
    role: Role,
    url: String,
    addr: String,
    hello: String,
    sh: Arc<Shared>,
    gate: Option<Arc<Semaphore>>,
    mut cmds: tmpsc::UnboundedReceiver<String>,
) -> ConnOut {
    let mut out = ConnOut::default();
    let permit = match &gate {
        Some(g) => match g.clone().acquire_owned().await {
            Ok(p) => Some(p),
            Err(_) => return out,
        },
        None => None,
    };
    let t0 = Instant::now();
    let step = Duration::from_secs(30);
    let tcp = match tokio::time::timeout(step, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            sh.fail_as(role, format!("{}: TCP connect: {e}", role.label()));
            return out;
        }
        Err(_) => {
            sh.fail_as(
                role,
                format!("{}: TCP connect timed out (30 s)", role.label()),
            );
            return out;
        }
    };
    let _ = tcp.set_nodelay(true);
    let ws = match tokio::time::timeout(step, tokio_tungstenite::client_async(url, tcp)).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            sh.fail_as(role, format!("{}: WebSocket handshake: {e}", role.label()));
            return out;
        }
        Err(_) => {
            sh.fail_as(
                role,
                format!("{}: WebSocket handshake timed out (30 s)", role.label()),
            );
            return out;
        }
    };
    let (mut tx, mut rx) = ws.split();
    if let Err(e) = tx.send(Message::text(hello)).await {
        sh.fail_as(
            role,
            format!("{}: sending its role message: {e}", role.label()),
        );
        return out;
    }
    let mut permit = permit;
    let mut got_sheet1 = false;
    let mut got_sheet2 = false;
    loop {
        let msg = tokio::select! {
            cmd = cmds.recv() => {
                match cmd {
                    Some(text) => {
                        if let Err(e) = tx.send(Message::text(text)).await {
                            sh.fail_as(role, format!("{}: send: {e}", role.label()));
                            return out;
                        }
                        sh.sent.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    None => {
                        // Told to stop.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            tx.send(Message::Close(None)),
                        )
                        .await;
                        return out;
                    }
                }
            }
            m = tokio::time::timeout(Duration::from_secs(600), rx.next()) => m,
        };
        let phase = sh.phase.load(Ordering::Relaxed);
        let msg = match msg {
            Err(_) => {
                sh.fail_as(
                    role,
                    format!("{}: nothing received for 600 s", role.label()),
                );
                return out;
            }
            Ok(None) => {
                sh.fail_as(
                    role,
                    format!("{}: the server ended the stream", role.label()),
                );
                return out;
            }
            Ok(Some(Err(e))) => {
                sh.fail_as(role, format!("{}: read: {e}", role.label()));
                return out;
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(t) => {
                let text = t.as_str();
                let k = kind_of(msg_type(text));
                if KINDS[k] == "error" {
                    sh.problem(format!("an error frame: {}", &text[..text.len().min(200)]));
                }
                out.tally.frames[phase][k] += 1;
                out.tally.bytes[phase][k] += text.len() as u64;
                match k {
                    K_WELCOME if out.welcome_us.is_none() => {
                        out.welcome_us = Some(t0.elapsed().as_micros() as u64);
                        drop(permit.take());
                        if matches!(role, Role::Participant(_))
                            && sh.welcomed.fetch_add(1, Ordering::AcqRel) + 1 == sh.n
                        {
                            sh.wake.notify_one();
                        }
                    }
                    K_ERROR => sh.problem(format!("{}: error frame {text}", role.label())),
                    K_SHEET if matches!(role, Role::Participant(_)) => match sheet_round(text) {
                        Some(1) if !got_sheet1 => {
                            got_sheet1 = true;
                            sh.last_sheet1_us.fetch_max(sh.us(), Ordering::AcqRel);
                            if sh.sheets1.fetch_add(1, Ordering::AcqRel) + 1 == sh.n {
                                sh.wake.notify_one();
                            }
                        }
                        Some(2) if !got_sheet2 => {
                            got_sheet2 = true;
                            sh.last_sheet2_us.fetch_max(sh.us(), Ordering::AcqRel);
                            if sh.sheets2.fetch_add(1, Ordering::AcqRel) + 1 == sh.n {
                                // The window ends with the last round-2 sheet, exactly.
                                let _ = sh.phase.compare_exchange(
                                    P_DONE,
                                    P_TAIL,
                                    Ordering::AcqRel,
                                    Ordering::Relaxed,
                                );
                                sh.wake.notify_one();
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            Message::Ping(_) | Message::Pong(_) => out.tally.frames[phase][K_PING] += 1,
            Message::Close(c) => {
                out.tally.frames[phase][K_CLOSE] += 1;
                sh.fail_as(
                    role,
                    format!(
                        "{}: closed by the server: {}",
                        role.label(),
                        c.map_or("no code".into(), |c| format!("{} {}", c.code, c.reason))
                    ),
                );
                return out;
            }
            Message::Binary(_) => out.tally.frames[phase][K_OTHER] += 1,
            Message::Frame(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server.

struct Server {
    addr: String,
    pid: u32,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn spawn(bin: &PathBuf, n: u32, extra: &[String], run: u32) -> Result<Server, String> {
        if !bin.exists() {
            return Err(format!(
                "{} does not exist: run `cargo build --release` first, or pass --brainwrite",
                bin.display()
            ));
        }
        let log = std::env::temp_dir().join(format!(
            "big_room-server-{}-run{run}.log",
            std::process::id()
        ));
        let logf = std::fs::File::create(&log)
            .map_err(|e| format!("server log {}: {e}", log.display()))?;
        let max_p = n.to_string();
        // Every socket comes from 127.0.0.1: room for all of them plus the staff.
        let per_ip = (n + 100).to_string();
        let mut child = Command::new(bin)
            .args(["--memory", "--bind", "127.0.0.1:0"])
            .args(["--max-participants", &max_p])
            .args(["--max-connections-per-ip", &per_ip])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            let mut c = Some(child);
            child::stop(&mut c, Duration::from_secs(5));
            return Err("the server's stdout was not piped".into());
        };
        let mut server = Server {
            addr: String::new(),
            pid,
            child: Some(child),
            log,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading to the end so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).map_err(|_| {
                format!(
                    "the server did not say where it listens within 20 s (see {})",
                    server.log.display()
                )
            })?;
            if let Some(url) = line.trim().strip_prefix("brainwrite listening on http://") {
                server.addr = url.trim_end_matches('/').to_owned();
                return Ok(server);
            }
        }
    }

    /// `Some(reason)` if the server process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut()?.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the server exited ({status}); see {}",
                self.log.display()
            )),
            _ => None,
        }
    }

    fn stop(&mut self) {
        child::stop(&mut self.child, Duration::from_secs(12));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server's CPU: (`stat` utime + stime in µs, sum of the threads' `schedstat` run time in
/// ns, when read).
fn cpu(pid: u32, ticks: u64) -> Result<(u64, u64, Instant), String> {
    let stat = cputime::read(&format!("/proc/{pid}/stat"), ticks)
        .ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?;
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat"))
                && let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            {
                ns += v;
            }
        }
    }
    Ok((stat.total_us, ns, Instant::now()))
}

// ---------------------------------------------------------------------------------------
// One run.

/// Percentile (nearest rank) of sorted values.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Wait until `done()` holds, a socket fails, the server exits or `limit` passes.
async fn wait_for(
    sh: &Shared,
    server: &mut Server,
    limit: Duration,
    what: &str,
    done: impl Fn() -> bool,
) -> Result<(), String> {
    let end = Instant::now() + limit;
    loop {
        if done() {
            return Ok(());
        }
        if sh.failed.load(Ordering::Relaxed) > 0 {
            return Err(format!("{what}: a socket failed"));
        }
        if let Some(e) = server.exited() {
            return Err(format!("{what}: {e}"));
        }
        if Instant::now() >= end {
            return Err(format!("{what}: not within {} s", limit.as_secs()));
        }
        tokio::select! {
            _ = sh.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// Create the room; `(code, facilitator_token)`.
async fn create_room(addr: &str, group_size: u32) -> Result<(String, String), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let resp = http
        .post(format!("http://{addr}/api/rooms"))
        .json(&json!({
            "topic": "big room bench",
            "round_seconds": 3600,
            "group_size": group_size,
        }))
        .send()
        .await
        .map_err(|e| format!("POST /api/rooms: {e}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| format!("POST /api/rooms: reading the answer: {e}"))?;
    if status.as_u16() != 201 {
        return Err(format!("POST /api/rooms answered {status}: {body}"));
    }
    let v: Value =
        serde_json::from_str(&body).map_err(|e| format!("POST /api/rooms: {e}: {body}"))?;
    match (v["code"].as_str(), v["facilitator_token"].as_str()) {
        (Some(c), Some(t)) => Ok((c.to_owned(), t.to_owned())),
        _ => Err(format!(
            "POST /api/rooms: no code or facilitator_token in {body}"
        )),
    }
}

/// The sockets of a run: their tasks, the senders that feed them, their roles.
struct Sockets {
    tasks: tokio::task::JoinSet<ConnOut>,
    /// Facilitator, board, then participants in order; dropping one stops its socket.
    senders: Vec<tmpsc::UnboundedSender<String>>,
    roles: Vec<(tokio::task::Id, Role)>,
    url: String,
    addr: String,
    sh: Arc<Shared>,
}

impl Sockets {
    fn spawn(&mut self, role: Role, hello: String, gate: Option<Arc<Semaphore>>) {
        let (tx, rx) = tmpsc::unbounded_channel();
        self.senders.push(tx);
        let h = self.tasks.spawn(conn(
            role,
            self.url.clone(),
            self.addr.clone(),
            hello,
            self.sh.clone(),
            gate,
            rx,
        ));
        self.roles.push((h.id(), role));
    }
}

/// Everything a run measured, as JSON (the table reads it back).
async fn run(args: &Args, bin: &PathBuf, index: u32, ticks: u64) -> Result<Value, String> {
    let n = args.participants as usize;
    let mut server = Server::spawn(bin, args.participants, &args.server_args, index)?;
    let (code, token) = create_room(&server.addr, args.group_size).await?;
    let url = format!("ws://{}/ws/{code}", server.addr);
    let sh = Arc::new(Shared {
        phase: AtomicUsize::new(P_JOIN),
        base: Instant::now(),
        n,
        welcomed: AtomicUsize::new(0),
        sheets1: AtomicUsize::new(0),
        sheets2: AtomicUsize::new(0),
        last_sheet1_us: AtomicU64::new(0),
        last_sheet2_us: AtomicU64::new(0),
        wake: Notify::new(),
        failed: AtomicUsize::new(0),
        problems: Mutex::new(Vec::new()),
        ending: AtomicBool::new(false),
        staff_lost: AtomicUsize::new(0),
        sent: AtomicUsize::new(0),
    });
    let mut socks = Sockets {
        tasks: tokio::task::JoinSet::new(),
        senders: Vec::with_capacity(n + 2),
        roles: Vec::with_capacity(n + 2),
        url,
        addr: server.addr.clone(),
        sh: sh.clone(),
    };
    let result = async {
        // The staff first: the facilitator and the board see every join.
        socks.spawn(
            Role::Facilitator,
            json!({"type": "facilitate", "token": token}).to_string(),
            None,
        );
        socks.spawn(Role::Board, json!({"type": "watch"}).to_string(), None);
        let join_start = Instant::now();
        let gate = Arc::new(Semaphore::new(args.concurrency as usize));
        for i in 0..n {
            socks.spawn(
                Role::Participant(i),
                json!({"type": "join", "name": format!("p{i}")}).to_string(),
                Some(gate.clone()),
            );
        }
        let limit = Duration::from_secs(args.phase_timeout_s);
        wait_for(&sh, &mut server, limit, "joins", || {
            sh.welcomed.load(Ordering::Acquire) >= n
        })
        .await?;
        let joins_wall = join_start.elapsed();
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;

        // Idle baseline, then the start.
        sh.phase.store(P_BASELINE, Ordering::Release);
        let b0 = cpu(server.pid, ticks)?;
        tokio::time::sleep(Duration::from_millis(args.baseline_ms)).await;
        let b1 = cpu(server.pid, ticks)?;
        let base_s = b1.2.duration_since(b0.2).as_secs_f64();
        let idle_stat_us_per_s = (b1.0 - b0.0) as f64 / base_s;
        let idle_ns_per_s = (b1.1.saturating_sub(b0.1)) as f64 / base_s;

        sh.phase.store(P_START, Ordering::Release);
        let s0 = cpu(server.pid, ticks)?;
        let start_us = sh.us();
        socks.senders[0]
            .send(json!({"type": "start"}).to_string())
            .map_err(|_| "the facilitator's socket is gone".to_owned())?;
        wait_for(&sh, &mut server, limit, "start", || {
            sh.sheets1.load(Ordering::Acquire) >= n
        })
        .await?;
        let s1 = cpu(server.pid, ticks)?;
        let start_s = s1.2.duration_since(s0.2).as_secs_f64();
        let start_stat_ms = (s1.0 - s0.0) as f64 / 1000.0;
        let start_cpu_ms = start_stat_ms - idle_stat_us_per_s * start_s / 1000.0;
        let start_sched_ms = (s1.1.saturating_sub(s0.1)) as f64 / 1e6;
        let start_sched_net_ms = start_sched_ms - idle_ns_per_s * start_s / 1e6;
        let start_wall_ms = (sh.last_sheet1_us.load(Ordering::Acquire) - start_us) as f64 / 1000.0;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;

        // Everyone done.
        let d0 = cpu(server.pid, ticks)?;
        sh.phase.store(P_DONE, Ordering::Release);
        let done_us = sh.us();
        let done_msg = json!({"type": "done", "round": 1}).to_string();
        for tx in &socks.senders[2..] {
            tx.send(done_msg.clone())
                .map_err(|_| "a participant's socket is gone".to_owned())?;
        }
        wait_for(&sh, &mut server, limit, "everyone done", || {
            sh.sheets2.load(Ordering::Acquire) >= n
        })
        .await?;
        let d1 = cpu(server.pid, ticks)?;
        let done_wall_ms = (sh.last_sheet2_us.load(Ordering::Acquire) - done_us) as f64 / 1000.0;
        let done_stat_ms = (d1.0 - d0.0) as f64 / 1000.0;
        let done_sched_ms = (d1.1.saturating_sub(d0.1)) as f64 / 1e6;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        sh.phase.store(P_END, Ordering::Release);
        if sh.failed.load(Ordering::Relaxed) > 0 {
            return Err("a socket failed in the tail".to_owned());
        }
        Ok(json!({
            "joins_wall_ms": joins_wall.as_secs_f64() * 1000.0,
            "baseline": {"ms": base_s * 1000.0, "stat_cpu_ms": (b1.0 - b0.0) as f64 / 1000.0,
                         "schedstat_cpu_ms": (b1.1.saturating_sub(b0.1)) as f64 / 1e6},
            "start": {"cpu_ms": start_cpu_ms, "stat_cpu_raw_ms": start_stat_ms,
                      "schedstat_cpu_ms": start_sched_net_ms,
                      "schedstat_cpu_raw_ms": start_sched_ms,
                      "window_ms": start_s * 1000.0, "wall_ms": start_wall_ms},
            "done": {"wall_ms": done_wall_ms, "stat_cpu_ms": done_stat_ms,
                     "schedstat_cpu_ms": done_sched_ms},
        }))
    }
    .await;

    // Stop every socket (closes are expected now), collect their counts, stop the server.
    sh.ending.store(true, Ordering::Relaxed);
    socks.senders.clear();
    let mut tasks = std::mem::take(&mut socks.tasks);
    let roles = std::mem::take(&mut socks.roles);
    let mut outs: Vec<(Role, ConnOut)> = Vec::with_capacity(n + 2);
    let collect_end = Instant::now() + Duration::from_secs(20);
    while !tasks.is_empty() {
        let left = collect_end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tasks.join_next_with_id()).await {
            Ok(Some(Ok((id, out)))) => {
                let role = roles
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map_or(Role::Board, |r| r.1);
                outs.push((role, out));
            }
            Ok(Some(Err(e))) => sh.problem(format!("a socket task ended badly: {e}")),
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                sh.problem("some sockets did not stop within 20 s (aborted)".into());
                break;
            }
        }
    }
    server.stop();
    let problems = sh
        .problems
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut figures = match result {
        Ok(v) => v,
        Err(e) => {
            return Err(format!(
                "{e}; {} of {n} welcomed, {} commands written, {} round-1 sheets, {} round-2 sheets, {} sockets failed; first problems: {}; server log {}",
                sh.welcomed.load(Ordering::Relaxed),
                sh.sent.load(Ordering::Relaxed),
                sh.sheets1.load(Ordering::Relaxed),
                sh.sheets2.load(Ordering::Relaxed),
                sh.failed.load(Ordering::Relaxed),
                if problems.is_empty() {
                    "none".into()
                } else {
                    problems.join(" | ")
                },
                server.log.display(),
            ));
        }
    };

    // Per-socket figures.
    let mut welcome: Vec<u64> = Vec::with_capacity(n);
    let mut join_room: Vec<u64> = Vec::with_capacity(n);
    let mut all = Tally::default();
    let mut parts = Tally::default();
    let mut staff = serde_json::Map::new();
    for (role, out) in &outs {
        all.add(&out.tally);
        match role {
            Role::Participant(_) => {
                parts.add(&out.tally);
                if let Some(w) = out.welcome_us {
                    welcome.push(w);
                }
                join_room.push(out.tally.frames[P_JOIN][K_ROOM]);
            }
            r => {
                let name = if *r == Role::Facilitator {
                    "facilitator"
                } else {
                    "board"
                };
                let phases: serde_json::Map<String, Value> = [P_JOIN, P_START, P_DONE, P_TAIL]
                    .iter()
                    .map(|&p| (PHASES[p].to_owned(), Value::Object(out.tally.by_kind(p))))
                    .collect();
                staff.insert(name.to_owned(), Value::Object(phases));
            }
        }
    }
    welcome.sort_unstable();
    join_room.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let nf = n as f64;
    let done_frames = all.phase_frames(P_DONE);
    let by_phase: serde_json::Map<String, Value> = [P_JOIN, P_BASELINE, P_START, P_DONE, P_TAIL]
        .iter()
        .map(|&p| {
            (
                PHASES[p].to_owned(),
                json!({
                    "frames": all.phase_frames(p),
                    "bytes": all.phase_bytes(p),
                    "by_kind": Value::Object(all.by_kind(p)),
                    "participants_by_kind": Value::Object(parts.by_kind(p)),
                }),
            )
        })
        .collect();
    let f = figures
        .as_object_mut()
        .ok_or_else(|| "figures are not an object".to_owned())?;
    f.insert("participants".into(), json!(n));
    f.insert(
        "welcome_ms".into(),
        json!({"p50": ms(pct(&welcome, 50.0)), "p99": ms(pct(&welcome, 99.0)),
               "max": ms(welcome.last().copied().unwrap_or(0)), "count": welcome.len()}),
    );
    f.insert(
        "join_room_frames_per_participant".into(),
        json!({"max": join_room.last().copied().unwrap_or(0),
               "mean": join_room.iter().sum::<u64>() as f64 / nf,
               "p50": pct(&join_room, 50.0), "min": join_room.first().copied().unwrap_or(0)}),
    );
    if let Some(d) = f.get_mut("done").and_then(Value::as_object_mut) {
        d.insert("frames".into(), json!(done_frames));
        d.insert(
            "frames_per_participant".into(),
            json!(done_frames as f64 / nf),
        );
        d.insert(
            "frames_with_tail".into(),
            json!(done_frames + all.phase_frames(P_TAIL)),
        );
    }
    f.insert("frames".into(), Value::Object(by_phase));
    f.insert("staff".into(), Value::Object(staff));
    f.insert(
        "error_frames".into(),
        json!(
            (0..PHASES.len())
                .map(|p| all.frames[p][K_ERROR])
                .sum::<u64>()
        ),
    );
    f.insert("problems".into(), json!(problems));
    f.insert(
        "staff_lost".into(),
        json!(sh.staff_lost.load(Ordering::Relaxed)),
    );
    Ok(figures)
}

// ---------------------------------------------------------------------------------------
// The report.

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or(f64::NAN)
}

/// A table row: label, goal, a value per run, and the verdict (if it has a goal).
fn print_table(runs: &[Result<Value, String>]) {
    struct Row {
        label: &'static str,
        goal: &'static str,
        path: &'static [&'static str],
        prec: usize,
        /// `Some(limit)`: met if every run is ≤ limit (strictly below when `strict`).
        limit: Option<(f64, bool)>,
    }
    let rows = [
        Row {
            label: "participants",
            goal: "",
            path: &["participants"],
            prec: 0,
            limit: None,
        },
        Row {
            label: "facilitator/board sockets lost",
            goal: "",
            path: &["staff_lost"],
            prec: 0,
            limit: None,
        },
        Row {
            label: "joins, wall (ms)",
            goal: "",
            path: &["joins_wall_ms"],
            prec: 0,
            limit: None,
        },
        Row {
            label: "welcome p50 (ms)",
            goal: "",
            path: &["welcome_ms", "p50"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "welcome p99 (ms)",
            goal: "",
            path: &["welcome_ms", "p99"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "welcome max (ms)",
            goal: "<= 5000",
            path: &["welcome_ms", "max"],
            prec: 1,
            limit: Some((GOAL_WELCOME_MS, false)),
        },
        Row {
            label: "room frames/participant, joins, max",
            goal: "<= 30",
            path: &["join_room_frames_per_participant", "max"],
            prec: 0,
            limit: Some((GOAL_JOIN_ROOM_FRAMES, false)),
        },
        Row {
            label: "room frames/participant, joins, mean",
            goal: "",
            path: &["join_room_frames_per_participant", "mean"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "frames, joins, all sockets",
            goal: "",
            path: &["frames", "join", "frames"],
            prec: 0,
            limit: None,
        },
        Row {
            label: "start CPU, stat - idle (ms)",
            goal: "< 50",
            path: &["start", "cpu_ms"],
            prec: 1,
            limit: Some((GOAL_START_CPU_MS, true)),
        },
        Row {
            label: "start CPU, schedstat - idle (ms)",
            goal: "",
            path: &["start", "schedstat_cpu_ms"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "start wall to last sheet (ms)",
            goal: "",
            path: &["start", "wall_ms"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "everyone done: frames total",
            goal: "O(n)",
            path: &["done", "frames"],
            prec: 0,
            limit: None,
        },
        Row {
            label: "everyone done: frames/participant",
            goal: "<= 30",
            path: &["done", "frames_per_participant"],
            prec: 2,
            limit: Some((GOAL_DONE_FRAMES_PER_PARTICIPANT, false)),
        },
        Row {
            label: "everyone done: wall (ms)",
            goal: "",
            path: &["done", "wall_ms"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "everyone done: server CPU, stat (ms)",
            goal: "",
            path: &["done", "stat_cpu_ms"],
            prec: 1,
            limit: None,
        },
        Row {
            label: "everyone done: frames incl. tail",
            goal: "",
            path: &["done", "frames_with_tail"],
            prec: 0,
            limit: None,
        },
    ];
    let ok: Vec<&Value> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let head: Vec<String> = (1..=runs.len()).map(|i| format!("run {i}")).collect();
    println!();
    println!(
        "{:<40} {:>8} {}  verdict",
        "figure",
        "goal",
        head.iter().map(|h| format!("{h:>10}")).collect::<String>()
    );
    for r in &rows {
        let cells: String = runs
            .iter()
            .map(|run| match run {
                Ok(v) => format!("{:>10.*}", r.prec, num(v, r.path)),
                Err(_) => format!("{:>10}", "failed"),
            })
            .collect();
        let verdict = match r.limit {
            None => String::new(),
            Some(_) if ok.is_empty() => "NOT met (no complete run)".into(),
            Some((limit, strict)) => {
                let met = ok.iter().all(|v| {
                    let x = num(v, r.path);
                    if strict { x < limit } else { x <= limit }
                }) && ok.len() == runs.len();
                if met { "met".into() } else { "NOT met".into() }
            }
        };
        println!("{:<40} {:>8} {cells}  {verdict}", r.label, r.goal);
    }
    for (i, run) in runs.iter().enumerate() {
        match run {
            Err(e) => println!("\nrun {}: FAILED: {e}", i + 1),
            Ok(v) => {
                println!(
                    "\nrun {}: frames by kind (all sockets; participants only in brackets):",
                    i + 1
                );
                for p in ["join", "start", "done", "tail"] {
                    let kinds = v["frames"][p]["by_kind"].as_object();
                    let pk = &v["frames"][p]["participants_by_kind"];
                    let line: Vec<String> = kinds
                        .into_iter()
                        .flatten()
                        .map(|(k, c)| {
                            format!(
                                "{k} {} ({}) {:.1} MB",
                                c["frames"],
                                pk[k]["frames"].as_u64().unwrap_or(0),
                                c["bytes"].as_f64().unwrap_or(0.0) / 1e6
                            )
                        })
                        .collect();
                    println!("  {p:<6} {}", line.join(", "));
                }
                for who in ["facilitator", "board"] {
                    let line: Vec<String> = ["join", "start", "done", "tail"]
                        .iter()
                        .map(|p| {
                            let kinds = v["staff"][who][p].as_object();
                            let s: Vec<String> = kinds
                                .into_iter()
                                .flatten()
                                .map(|(k, c)| format!("{k} {}", c["frames"]))
                                .collect();
                            format!(
                                "{p}: {}",
                                if s.is_empty() {
                                    "-".into()
                                } else {
                                    s.join(" ")
                                }
                            )
                        })
                        .collect();
                    println!("  {who}: {}", line.join("; "));
                }
                println!(
                    "  start: stat {:.0} ms raw over a {:.1} ms window (idle baseline {:.0} ms of CPU in {:.0} ms); schedstat {:.1} ms raw",
                    num(v, &["start", "stat_cpu_raw_ms"]),
                    num(v, &["start", "window_ms"]),
                    num(v, &["baseline", "stat_cpu_ms"]),
                    num(v, &["baseline", "ms"]),
                    num(v, &["start", "schedstat_cpu_raw_ms"]),
                );
                let errs = v["error_frames"].as_u64().unwrap_or(0);
                let problems = v["problems"].as_array().map_or(0, Vec::len);
                if errs > 0 || problems > 0 {
                    println!("  error frames: {errs}; problems: {}", v["problems"]);
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bin = args.brainwrite.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("release/brainwrite")
    });
    // N + 2 sockets here and in the server (which inherits the limit).
    let fds = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let need = u64::from(args.participants) + 200;
    if fds < need {
        eprintln!("big_room: the open-file limit is {fds}, below the {need} the sockets need");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads as usize)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("big_room: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ticks = cputime::clock_ticks();
    println!(
        "big_room: {} participants + a facilitator + a board in one room, group size {}, \
         {} connecting at once, {} client threads, {} run(s); server {}{}; CLK_TCK {ticks}",
        args.participants,
        args.group_size,
        args.concurrency,
        args.client_threads,
        args.repeat,
        bin.display(),
        if args.server_args.is_empty() {
            String::new()
        } else {
            format!(" {}", args.server_args.join(" "))
        },
    );
    let mut runs: Vec<Result<Value, String>> = Vec::new();
    for i in 1..=args.repeat {
        let r = rt.block_on(run(&args, &bin, i, ticks));
        match &r {
            Ok(v) => println!(
                "run {i}: welcome max {:.0} ms, room frames/participant max {}, start CPU {:.1} ms, done frames {}",
                num(v, &["welcome_ms", "max"]),
                v["join_room_frames_per_participant"]["max"],
                num(v, &["start", "cpu_ms"]),
                v["done"]["frames"],
            ),
            Err(e) => println!("run {i}: FAILED: {e}"),
        }
        runs.push(r);
    }
    print_table(&runs);
    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "big_room",
            "participants": args.participants,
            "group_size": args.group_size,
            "concurrency": args.concurrency,
            "client_threads": args.client_threads,
            "server": bin.display().to_string(),
            "server_args": args.server_args,
            "goals": {"welcome_max_ms": GOAL_WELCOME_MS,
                      "join_room_frames_per_participant": GOAL_JOIN_ROOM_FRAMES,
                      "start_cpu_ms_below": GOAL_START_CPU_MS,
                      "done_frames_per_participant": GOAL_DONE_FRAMES_PER_PARTICIPANT},
            "runs": runs.iter().map(|r| match r {
                Ok(v) => v.clone(),
                Err(e) => json!({"error": e}),
            }).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("big_room: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("\nfigures written to {}", path.display());
    }
    if runs.iter().any(Result::is_err) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
