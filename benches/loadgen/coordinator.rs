//! The coordinator (the parent process): finds or spawns the server, creates the rooms over
//! HTTP, splits them over worker processes, names the common start instant, samples the
//! server's `/proc` while the sessions run, gathers the workers' counts and histograms and
//! hands them to the report.
//!
//! It sends no WebSocket traffic itself. Every wait has a limit; a spawned server and every
//! worker are stopped before it returns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::plan::{self, Report, RoomPlan, WorkerPlan};
use crate::procfs::{self, Sample};
use crate::report::{self, Outcome};
use crate::stats::{Counters, Hists};
use crate::{Args, now_ms};

/// The server under test.
struct Server {
    /// host:port.
    addr: String,
    pid: Option<u32>,
    child: Option<Child>,
}

impl Server {
    /// Stop a spawned server: SIGTERM, then SIGKILL after a grace period.
    fn stop(&mut self) {
        crate::child::stop(&mut self.child, Duration::from_secs(12));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Worker processes and their report lines.
struct Workers {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    lines: mpsc::Receiver<(usize, Result<Report, String>)>,
}

impl Workers {
    fn send(&mut self, cmd: &plan::Command) {
        let line = serde_json::to_string(cmd).expect("commands serialise");
        for s in &mut self.stdins {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    /// Wait until every worker has sent a report `pick` accepts, keeping ticks aside.
    fn gather<T>(
        &mut self,
        until: Instant,
        ticks: &mut BTreeMap<u64, BTreeMap<usize, Counters>>,
        mut pick: impl FnMut(Report) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        let n = self.children.len();
        let mut got: Vec<Option<T>> = (0..n).map(|_| None).collect();
        while got.iter().any(Option::is_none) {
            let left = until.saturating_duration_since(Instant::now());
            let (w, r) = self.lines.recv_timeout(left).map_err(|_| {
                let missing: Vec<usize> = (0..n).filter(|i| got[*i].is_none()).collect();
                format!("workers {missing:?} did not report in time")
            })?;
            match r {
                Err(e) => return Err(format!("worker {w}: {e}")),
                Ok(Report::Tick { t_ms, counters }) => {
                    ticks.entry(t_ms).or_default().insert(w, counters);
                }
                Ok(r) => {
                    if let Some(t) = pick(r) {
                        got[w] = Some(t);
                    }
                }
            }
        }
        Ok(got.into_iter().map(|t| t.expect("all present")).collect())
    }

    fn stop(&mut self) {
        self.stdins.clear();
        let end = Instant::now() + Duration::from_secs(10);
        for c in &mut self.children {
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Derived settings of a run.
pub struct Setup {
    /// Round length, ms.
    pub round_ms: u64,
    /// Write interval per participant, ms.
    pub interval_ms: u64,
    /// Participants in the run.
    pub participants_total: u64,
    /// Sockets in the run.
    pub sockets: u64,
    /// Worker processes.
    pub workers: u32,
    /// Descriptor limit in force.
    pub fd_limit: u64,
    /// Upper bound on rounds, for time limits.
    pub rounds_bound: u64,
}

fn setup(args: &Args, fd_limit: u64) -> Result<Setup, String> {
    if args.rooms == 0 || args.participants < 2 {
        return Err("need at least one room of two participants".into());
    }
    let round_ms = args.round_seconds as u64 * 1000;
    let per = args.ideas_per_round.max(1) as u64;
    let participants_total = args.rooms as u64 * args.participants as u64;
    let usable = round_ms.saturating_sub(args.guard_ms);
    let interval_ms = match (args.write_rate, args.write_interval_ms) {
        (Some(rate), _) if rate > 0.0 => ((participants_total as f64 * 1000.0) / rate) as u64,
        (_, Some(i)) => i,
        _ => (usable / per).min(2000),
    }
    .max(1);
    if interval_ms * per > usable {
        return Err(format!(
            "a write every {interval_ms} ms cannot fill {per} slots in a {round_ms} ms round \
             that stops writing {} ms before its deadline: lower the interval or the rate's \
             divisor, or lengthen --round-seconds",
            args.guard_ms
        ));
    }
    let sockets = args.rooms as u64 * (args.participants + 1 + args.boards) as u64;
    let cap = (args.sockets_per_worker as u64)
        .min(fd_limit.saturating_sub(256))
        .max(1);
    let workers = args
        .workers
        .unwrap_or(sockets.div_ceil(cap) as u32)
        .clamp(1, args.rooms);
    let biggest = (args.rooms.div_ceil(workers) as u64) * (sockets / args.rooms as u64);
    if biggest + 64 > fd_limit {
        return Err(format!(
            "a worker would hold {biggest} sockets but a process may open {fd_limit} files: \
             use more --workers"
        ));
    }
    let rounds_bound = if args.rounds > 0 {
        args.rounds.min(12)
    } else {
        args.group_size.min(12)
    } as u64;
    Ok(Setup {
        round_ms,
        interval_ms,
        participants_total,
        sockets,
        workers,
        fd_limit,
        rounds_bound,
    })
}

/// Spawn the server binary on a free loopback port and wait for its "listening" line.
fn spawn_server(args: &Args) -> Result<Server, String> {
    let bin = &args.spawn_server;
    if !bin.exists() {
        return Err(format!(
            "{} does not exist: run `cargo build --release` first, or pass --url",
            bin.display()
        ));
    }
    std::fs::create_dir_all("target/loadgen").map_err(|e| format!("target/loadgen: {e}"))?;
    let log = std::fs::File::create("target/loadgen/server.log")
        .map_err(|e| format!("server log: {e}"))?;
    let max_rooms = args.rooms.max(10_000).to_string();
    let storage: Vec<String> = if args.server_journal {
        // A fresh journal: nothing restored from an earlier run.
        let db = "target/loadgen/journal.db";
        for f in [
            db,
            "target/loadgen/journal.db-wal",
            "target/loadgen/journal.db-shm",
        ] {
            match std::fs::remove_file(f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("{f}: {e}"));
                }
                _ => {}
            }
        }
        vec!["--data".into(), db.into()]
    } else {
        vec!["--memory".into()]
    };
    let mut child = Command::new(bin)
        .args(&storage)
        .args(["--bind", "127.0.0.1:0", "--max-rooms", &max_rooms])
        .args(&args.server_args)
        // Every room comes from this one address: lift the per-address creation limit
        // (an environment variable, so servers without that option ignore it).
        .env("BRAINWRITE_ROOMS_PER_MINUTE_PER_IP", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
    let pid = child.id();
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(20);
    let mut server = Server {
        addr: String::new(),
        pid: Some(pid),
        child: Some(child),
    };
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).map_err(|_| {
            "the server did not say where it listens (see target/loadgen/server.log)".to_owned()
        })?;
        if let Some(url) = line.strip_prefix("brainwrite listening on ") {
            server.addr = host_port(url)?;
            return Ok(server);
        }
    }
}

/// host:port of an http:// base URL.
fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .trim()
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// base URLs are supported"))?;
    let hp = rest.split('/').next().unwrap_or(rest);
    let addr: std::net::SocketAddr = hp
        .parse()
        .map_err(|_| format!("{url}: give the server as http://IP:PORT (e.g. 127.0.0.1:8080)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{url}: the load generator only sends traffic to loopback addresses"
        ));
    }
    Ok(hp.to_owned())
}

/// Create every room over HTTP, a few at a time.
fn create_rooms(args: &Args, addrs: &[String]) -> Result<Vec<RoomPlan>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        for addr in addrs {
            let base = format!("http://{addr}");
            let health = http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .map_err(|e| format!("{base}/healthz: {e}"))?;
            if !health.status().is_success() {
                return Err(format!("{base}/healthz answered {}", health.status()));
            }
        }
        // With several nodes, each room belongs to one of them, round-robin.
        let cluster = addrs.len() > 1;
        let mut body = serde_json::json!({
            "topic": "How might we make the load test fun?",
            "round_seconds": args.round_seconds,
            "ideas_per_round": args.ideas_per_round,
            "group_size": args.group_size,
        });
        if args.rounds > 0 {
            body["rounds"] = args.rounds.into();
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut set = tokio::task::JoinSet::new();
        for index in 0..args.rooms as usize {
            let addr = addrs[index % addrs.len()].clone();
            let (http, body, url, sem) = (
                http.clone(),
                body.clone(),
                format!("http://{addr}/api/rooms"),
                sem.clone(),
            );
            set.spawn(async move {
                let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                // Bounded retries for a server that asks us to slow down.
                for attempt in 0..20u32 {
                    let resp = http
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| format!("POST {url}: {e}"))?;
                    let status = resp.status();
                    if status.as_u16() == 429 || status.as_u16() == 503 {
                        tokio::time::sleep(Duration::from_millis(50 * (attempt as u64 + 1))).await;
                        continue;
                    }
                    let v: serde_json::Value = resp
                        .json()
                        .await
                        .map_err(|e| format!("POST {url}: {status}: {e}"))?;
                    if !status.is_success() {
                        return Err(format!("POST {url}: {status}: {v}"));
                    }
                    let field = |k: &str| {
                        v[k].as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("room answer without {k}: {v}"))
                    };
                    return Ok(RoomPlan {
                        index,
                        code: field("code")?,
                        token: field("facilitator_token")?,
                        server: cluster.then_some(addr),
                    });
                }
                Err(format!("POST {url}: still refused after 20 tries"))
            });
        }
        let mut rooms = Vec::with_capacity(args.rooms as usize);
        while let Some(r) = set.join_next().await {
            rooms.push(r.map_err(|e| e.to_string())??);
        }
        rooms.sort_by_key(|r| r.index);
        Ok(rooms)
    })
}

fn spawn_workers(
    args: &Args,
    s: &Setup,
    addr: &str,
    rooms: Vec<RoomPlan>,
) -> Result<Workers, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let mut children = Vec::new();
    let mut stdins = Vec::new();
    let n = s.workers as usize;
    let per = rooms.len().div_ceil(n);
    let count = args
        .source_addrs
        .unwrap_or(s.sockets.div_ceil(900).clamp(4, 250) as u8);
    let sources: Vec<Ipv4Addr> = (0..count)
        .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i))
        .collect();
    for (w, chunk) in rooms.chunks(per).enumerate() {
        let plan = WorkerPlan {
            id: w as u32,
            server: addr.to_owned(),
            participant_offset: (w * per) as u64 * args.participants as u64,
            rooms: chunk.to_vec(),
            participants: args.participants,
            boards: args.boards,
            ideas_per_round: args.ideas_per_round,
            round_ms: s.round_ms,
            write_interval_ms: s.interval_ms,
            guard_ms: args.guard_ms,
            participants_total: s.participants_total,
            source_addrs: sources.clone(),
            connect_concurrency: args.connect_concurrency,
            connect_timeout_ms: args.connect_timeout * 1000,
            session_ms: s.rounds_bound * s.round_ms,
            rooms_total: args.rooms as u64,
            ping_interval_ms: args.ping_interval_ms,
            peer_compat: args.peer_compat,
        };
        let mut child = Command::new(&exe)
            .arg("--worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning worker: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        writeln!(
            stdin,
            "{}",
            serde_json::to_string(&plan).expect("plans serialise")
        )
        .map_err(|e| format!("worker plan: {e}"))?;
        let out = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let r = serde_json::from_str::<Report>(&line)
                    .map_err(|e| format!("unreadable report {line:?}: {e}"));
                if tx.send((w, r)).is_err() {
                    break;
                }
            }
        });
        children.push(child);
        stdins.push(stdin);
    }
    Ok(Workers {
        children,
        stdins,
        lines: rx,
    })
}

/// Samples the server once a second (on epoch seconds) until told to stop.
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32, ticks: u64, max_secs: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s2, v2) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            for _ in 0..max_secs {
                let next = (now_ms() / 1000 + 1) * 1000;
                std::thread::sleep(Duration::from_millis(next.saturating_sub(now_ms())));
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(mut s) = procfs::sample(pid, ticks) {
                    s.t_ms = next;
                    v2.lock().expect("sampler lock").push(s);
                }
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().expect("sampler lock"))
    }
}

fn sum(cs: &[Counters]) -> Counters {
    let mut t = Counters::default();
    for c in cs {
        t.add(c);
    }
    t
}

/// The server's own view of round boundaries, if it exports one: the Prometheus histogram
/// `brainwrite_round_delivery_seconds` (deadline until every member's next sheet is queued
/// in its outbox, so before any socket write). Returns (count, p50, p99, max) bucket upper
/// bounds in ms.
fn scrape_round_delivery(addr: &str) -> Option<(u64, f64, f64, f64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let text = rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        http.get(format!("http://{addr}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    })?;
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("brainwrite_round_delivery_seconds_bucket{le=\"") else {
            continue;
        };
        let (le, n) = rest.split_once("\"} ")?;
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        buckets.push((le, n.trim().parse().ok()?));
    }
    let count = buckets.last()?.1;
    if count == 0 {
        return None;
    }
    let q = |q: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n as f64 >= q * count as f64)
            .map_or(f64::INFINITY, |(le, _)| le * 1000.0)
    };
    Some((count, q(0.5), q(0.99), q(1.0)))
}

/// Run the whole benchmark; `Ok(true)` when every check passed.
pub fn run(args: Args) -> Result<bool, String> {
    let fd_limit = crate::raise_fd_limit();
    let s = setup(&args, fd_limit)?;
    let loadavg_before = report::loadavg();
    let ticks_per_s = crate::cputime::clock_ticks();
    let nodes = args
        .cluster_urls
        .iter()
        .map(|u| host_port(u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut server = match (&args.url, nodes.first()) {
        (_, Some(first)) => Server {
            addr: first.clone(),
            pid: None,
            child: None,
        },
        (Some(url), None) => Server {
            addr: host_port(url)?,
            pid: args.server_pid,
            child: None,
        },
        (None, None) => spawn_server(&args)?,
    };
    let targets = if nodes.is_empty() {
        vec![server.addr.clone()]
    } else {
        nodes
    };
    let sample = |what: &str| -> Option<Sample> {
        let s = server.pid.and_then(|p| procfs::sample(p, ticks_per_s));
        if server.pid.is_some() && s.is_none() {
            eprintln!("loadgen: could not read the server's /proc at {what}");
        }
        s
    };
    eprintln!(
        "loadgen: server {} (pid {:?}); {} rooms × ({} participants + 1 facilitator + {} boards) = {} sockets over {} worker(s); a write every {} ms per participant ({:.0}/s in all)",
        server.addr,
        server.pid,
        args.rooms,
        args.participants,
        args.boards,
        s.sockets,
        s.workers,
        s.interval_ms,
        s.participants_total as f64 * 1000.0 / s.interval_ms as f64
    );
    let before_rooms = sample("start");
    let t0 = Instant::now();
    let rooms = create_rooms(&args, &targets)?;
    eprintln!(
        "loadgen: created {} rooms in {:.1} s",
        rooms.len(),
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(300));
    let base = sample("rooms created");

    let mut workers = spawn_workers(&args, &s, &server.addr, rooms)?;
    let mut ticks = BTreeMap::new();
    let t1 = Instant::now();
    let ready = workers.gather(
        Instant::now() + Duration::from_secs(args.connect_timeout + 60),
        &mut ticks,
        |r| match r {
            Report::Ready { counters } => Some(counters),
            _ => None,
        },
    )?;
    let ready = sum(&ready);
    let connect_s = t1.elapsed().as_secs_f64();
    eprintln!(
        "loadgen: {} sockets ready ({} failed) in {connect_s:.1} s; measuring idle memory",
        ready.connected, ready.connect_failed
    );
    std::thread::sleep(Duration::from_millis(args.idle_settle_ms));
    let idle = sample("idle");
    let idle_fds = server.pid.and_then(procfs::open_fds);

    // The common start, and a sample of the server right at it.
    let go = now_ms() + args.start_delay_ms;
    workers.send(&plan::Command::Go { at_ms: go });
    let session_ms = s.rounds_bound * s.round_ms;
    std::thread::sleep(Duration::from_millis(go.saturating_sub(now_ms())));
    let at_go = sample("start");
    let sampler = server
        .pid
        .map(|p| Sampler::start(p, ticks_per_s, session_ms / 1000 + 120));
    eprintln!(
        "loadgen: every room starts at {go}; sessions take about {:.0} s; {}{}",
        session_ms as f64 / 1000.0,
        if args.ping_interval_ms > 0 {
            format!(
                "one socket per room pings every {} ms",
                args.ping_interval_ms
            )
        } else {
            "no pings".to_owned()
        },
        if args.peer_compat {
            "; --peer-compat: no acks expected"
        } else {
            ""
        }
    );
    let revealed = workers.gather(
        Instant::now() + Duration::from_millis(session_ms + 90_000),
        &mut ticks,
        |r| match r {
            Report::Revealed {
                last_reveal_ms,
                counters,
            } => Some((last_reveal_ms, counters)),
            _ => None,
        },
    )?;
    let at_end = sample("reveal");
    let end_fds = server.pid.and_then(procfs::open_fds);
    let timeline = sampler.map(Sampler::finish).unwrap_or_default();
    let last_reveal_ms = revealed.iter().map(|r| r.0).max().unwrap_or(0);
    let at_reveal = sum(&revealed.iter().map(|r| r.1.clone()).collect::<Vec<_>>());
    eprintln!("loadgen: sessions over; closing sockets");

    workers.send(&plan::Command::Close);
    let done = workers.gather(
        Instant::now() + Duration::from_secs(60),
        &mut ticks,
        |r| match r {
            Report::Done {
                counters,
                hists,
                failures,
                rounds,
            } => Some((counters, hists, failures, rounds)),
            _ => None,
        },
    )?;
    workers.stop();
    let server_metrics = scrape_round_delivery(&server.addr);
    server.stop();

    let mut hists = Hists::new();
    let mut failures = Vec::new();
    let mut rounds = 0;
    let mut finals = Vec::new();
    for (c, h, f, r) in done {
        hists.merge_encoded(&h)?;
        failures.extend(f);
        rounds = rounds.max(r);
        finals.push(c);
    }
    let outcome = Outcome {
        args: &args,
        setup: &s,
        server_pid: server.pid,
        spawned: args.url.is_none() && args.cluster_urls.is_empty(),
        connect_s,
        ready,
        at_reveal,
        totals: sum(&finals),
        go_ms: go,
        last_reveal_ms,
        rounds,
        before_rooms,
        base,
        idle,
        idle_fds,
        at_go,
        at_end,
        end_fds,
        timeline,
        ticks,
        hists,
        failures,
        loadavg_before,
        server_metrics,
    };
    report::report(&outcome)
}
