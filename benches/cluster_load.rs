//! # The load benchmark on three nodes on PostgreSQL, against one SQLite node
//!
//! One command, two measurements under the same load (the load generator,
//! `benches/loadgen`, with the same flags): first one `brainwrite` node with its default
//! SQLite journal, then three nodes on one PostgreSQL (started here, `tests/common/pg.rs`)
//! with the rooms spread over them, each room created on and driven at one node as the
//! consistent hash would do (`loadgen --cluster-url` ×3, round-robin). Reports sessions
//! complete, the write round trip (p50/p99, steady and whole session) and each process's CPU
//! per delivered message, over the loadgen's session window, against the single node: the
//! goals of issue #14 (every session complete, write p99 ≤ 20 ms, each node within 1.3 × the
//! single node's CPU per message). PostgreSQL's own CPU is reported beside them.
//!
//! ```text
//! cargo bench --bench cluster_load -- --rooms 600 --rounds 2 --round-seconds 10 \
//!     --write-rate 2500 --save r600
//! cargo bench --bench cluster_load -- --help
//! ```
//!
//! CPU is read from `/proc/<pid>/stat` (utime + stime; PostgreSQL: the postmaster and all
//! its children) every 200 ms; a node's messages are the delivered messages of the session
//! window times its share of the rooms (the rooms are identical). Both journals are on the
//! same disk; PostgreSQL runs with its defaults (`fsync` and `synchronous_commit` on).
//! Traffic goes only to loopback; every run ends by itself.

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{Value, json};

/// Three nodes on PostgreSQL against one SQLite node, under the load generator.
#[derive(Debug, Clone, Parser)]
#[command(name = "cluster_load")]
struct Args {
    /// Rooms (spread over the three nodes).
    #[arg(long, default_value_t = 300)]
    rooms: u32,
    /// Participants per room.
    #[arg(long, default_value_t = 6)]
    participants: u32,
    /// Rounds per session.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Round length, seconds.
    #[arg(long, default_value_t = 10)]
    round_seconds: u32,
    /// Aggregate writes per second (the load generator's --write-rate).
    #[arg(long)]
    write_rate: Option<f64>,
    /// The nodes' --lease-ms.
    #[arg(long, default_value_t = 5000)]
    lease_ms: u64,
    /// Only the cluster (no single-node run).
    #[arg(long)]
    cluster_only: bool,
    /// Extra argument for every server (repeatable), e.g. --server-arg=--shards=1.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// The load generator executable (default: built by `cargo bench --bench loadgen
    /// --no-run`).
    #[arg(long)]
    loadgen: Option<PathBuf>,
    /// Save the summary as benches/results/cluster-load-<commit>-<LABEL>.json.
    #[arg(long)]
    save: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// utime + stime of `pid`, µs.
fn cpu_us(pid: u32, ticks: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (u, s): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((u + s) * 1_000_000 / ticks)
}

/// `pid` and every process whose parent it is.
fn with_children(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            all.push(p);
        }
    }
    all
}

/// What is measured: a name and the processes whose CPU counts for it.
struct Subject {
    name: String,
    pids: Vec<u32>,
    /// Share of the rooms (and so of the messages) it serves; 0 for PostgreSQL.
    share: f64,
}

/// One look at every subject: (epoch ms, CPU µs of each).
type Samples = Vec<(u64, Vec<u64>)>;

/// CPU of every subject every 200 ms.
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Samples>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(subjects: Vec<Vec<u32>>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let t = ticks();
            while !s.load(Ordering::Relaxed) {
                let at = now_ms();
                let row: Vec<u64> = subjects
                    .iter()
                    .map(|pids| pids.iter().filter_map(|p| cpu_us(*p, t)).sum())
                    .collect();
                if let Ok(mut v) = out.lock() {
                    v.push((at, row));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<(u64, Vec<u64>)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// CPU of subject `i` between `from` and `to` (epoch ms), from the nearest samples.
fn cpu_between(samples: &[(u64, Vec<u64>)], i: usize, from: u64, to: u64) -> Option<u64> {
    let at = |t: u64| {
        samples
            .iter()
            .min_by_key(|(s, _)| s.abs_diff(t))
            .map(|(_, v)| v[i])
    };
    Some(at(to)?.saturating_sub(at(from)?))
}

/// A `brainwrite` process of this bench, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(args: &[String]) -> Result<Server, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brainwrite"))
        .args(["--bind", "127.0.0.1:0", "--max-rooms", "100000"])
        .args(args)
        // Every room comes from this one address (as the load generator's own spawn does).
        .env("BRAINWRITE_ROOMS_PER_MINUTE_PER_IP", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn brainwrite: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("brainwrite listening on ") {
                    break url.trim().to_owned();
                }
            }
            _ => return Err("brainwrite exited before listening".into()),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, base })
}

fn find_loadgen(manifest: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "bench",
            "--bench",
            "loadgen",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{cargo} bench --bench loadgen --no-run: {e}"))?;
    if !out.status.success() {
        return Err("cargo bench --bench loadgen --no-run failed".into());
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "loadgen")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .ok_or_else(|| "no loadgen executable; pass --loadgen PATH".into())
}

/// One measurement: the load generator against `targets`, the CPU of `subjects`.
fn measure(
    args: &Args,
    loadgen: &Path,
    label: &str,
    single: Option<&Server>,
    cluster: &[Server],
    subjects: &[Subject],
    dir: &Path,
) -> Result<Value, String> {
    let json_path = dir.join(format!("{label}.json"));
    let mut cmd = Command::new(loadgen);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--rooms", &args.rooms.to_string()])
        .args(["--participants", &args.participants.to_string()])
        .args(["--rounds", &args.rounds.to_string()])
        .args(["--round-seconds", &args.round_seconds.to_string()])
        .arg("--json")
        .arg(&json_path)
        .args(["--label", label]);
    if let Some(r) = args.write_rate {
        cmd.args(["--write-rate", &r.to_string()]);
    }
    if let Some(s) = single {
        cmd.args(["--url", &s.base, "--server-pid", &s.child.id().to_string()]);
    }
    for n in cluster {
        cmd.args(["--cluster-url", &n.base]);
    }
    let sampler = Sampler::start(subjects.iter().map(|s| s.pids.clone()).collect());
    eprintln!("cluster_load: {label}: running the load generator");
    let status = cmd
        .status()
        .map_err(|e| format!("{}: {e}", loadgen.display()))?;
    let samples = sampler.finish();
    let text = std::fs::read_to_string(&json_path)
        .map_err(|e| format!("{} ({status}): {e}", json_path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let session = &doc["session"];
    let (from, to) = (
        session["from_ms"].as_u64().unwrap_or(0),
        session["to_ms"].as_u64().unwrap_or(0),
    );
    let secs = session["seconds"].as_f64().unwrap_or(0.0);
    let delivered = session["messages_out_per_s"].as_f64().unwrap_or(0.0) * secs;
    let per = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let cpu = cpu_between(&samples, i, from, to);
            let msgs = delivered * if s.share > 0.0 { s.share } else { 1.0 };
            json!({
                "name": s.name,
                "cpu_s": cpu.map(|c| c as f64 / 1e6),
                "cpu_percent": cpu.filter(|_| secs > 0.0).map(|c| c as f64 / 1e4 / secs),
                "messages": msgs.round(),
                "cpu_us_per_message": cpu.filter(|_| msgs > 0.0).map(|c| c as f64 / msgs),
                "share": s.share,
            })
        })
        .collect::<Vec<_>>();
    let lat = |k: &str, f: &str| doc["latency_ms"][k][f].as_f64();
    Ok(json!({
        "label": label,
        "loadgen_exit": status.code(),
        "complete": doc["complete"],
        "correct": doc["correct"],
        "rooms_ok": doc["counters"]["rooms_ok"],
        "rooms": doc["run"]["rooms"],
        "sockets": doc["run"]["sockets"],
        "connect_failed": doc["counters"]["connect_failed"],
        "errors": doc["counters"]["errors"],
        "writes": doc["counters"]["writes"],
        "acks": doc["counters"]["acks"],
        "session_seconds": secs,
        "writes_per_s": session["writes_per_s"],
        "delivered": delivered.round(),
        "write_rtt_ms": {
            "p50": lat("write_rtt", "p50_ms"), "p99": lat("write_rtt", "p99_ms"),
            "max": lat("write_rtt", "max_ms"),
            "steady_p50": lat("write_rtt_steady", "p50_ms"),
            "steady_p99": lat("write_rtt_steady", "p99_ms"),
        },
        "boundary_p99_ms": lat("round_boundary", "p99_ms"),
        "loadgen_cpu_us_per_delivered": session["server_cpu_us_per_delivered"],
        "processes": per,
        "report": json_path,
    }))
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn f(v: &Value) -> String {
    v.as_f64().map_or("n/a".into(), |x| format!("{x:.2}"))
}

fn run(args: &Args) -> Result<bool, String> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let loadavg_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loadgen = match &args.loadgen {
        Some(p) => p.clone(),
        None => find_loadgen(manifest)?,
    };
    let dir = std::env::temp_dir().join(format!("brainwrite-cluster-load-{}", now_ms()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut results = Vec::new();

    if !args.cluster_only {
        let mut a = vec![
            "--data".to_owned(),
            dir.join("single.db").display().to_string(),
        ];
        a.extend(args.server_args.iter().cloned());
        let single = spawn_server(&a)?;
        let subjects = [Subject {
            name: "single (SQLite)".into(),
            pids: vec![single.child.id()],
            share: 1.0,
        }];
        results.push(measure(
            args,
            &loadgen,
            "single",
            Some(&single),
            &[],
            &subjects,
            &dir,
        )?);
        drop(single);
        std::thread::sleep(Duration::from_secs(3));
    }

    let pg =
        pg::Pg::start("cluster-load").ok_or("PostgreSQL skipped (BRAINWRITE_SKIP_POSTGRES)")?;
    let postmaster: u32 = std::fs::read_to_string(pg.dir().join("data/postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next()?.trim().parse().ok())
        .ok_or("no postmaster.pid")?;
    let mut nodes = Vec::new();
    for i in 0..3 {
        let mut a = vec![
            "--journal".to_owned(),
            pg.url(),
            "--node-id".into(),
            format!("n{i}"),
            "--lease-ms".into(),
            args.lease_ms.to_string(),
        ];
        a.extend(args.server_args.iter().cloned());
        nodes.push(spawn_server(&a)?);
    }
    // Every connection is open now (each node holds its writer, control and listener).
    std::thread::sleep(Duration::from_millis(1500));
    let mut subjects: Vec<Subject> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Subject {
            name: format!("n{i} (PostgreSQL)"),
            pids: vec![n.child.id()],
            share: 0.0,
        })
        .collect();
    for (i, s) in subjects.iter_mut().enumerate() {
        // Rooms i, i + 3, i + 6, …: exactly this many are node i's.
        let mine = (args.rooms as usize + 2 - i) / 3;
        s.share = mine as f64 / args.rooms as f64;
    }
    subjects.push(Subject {
        name: "PostgreSQL".into(),
        pids: with_children(postmaster),
        share: 0.0,
    });
    results.push(measure(
        args, &loadgen, "cluster", None, &nodes, &subjects, &dir,
    )?);
    drop(nodes);
    drop(pg);

    // The table.
    let single_cpu = results
        .iter()
        .find(|r| r["label"] == "single")
        .and_then(|r| r["processes"][0]["cpu_us_per_message"].as_f64());
    println!(
        "\n{} rooms × {} participants (+ facilitator + board), {} rounds of {} s{}",
        args.rooms,
        args.participants,
        args.rounds,
        args.round_seconds,
        args.write_rate
            .map_or(String::new(), |r| format!(", --write-rate {r}"))
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>10} {:>10} {:>12} {:>12}",
        "run", "rooms ok", "writes/s", "msgs/s", "rtt p50", "rtt p99", "steady p50", "steady p99"
    );
    for r in &results {
        println!(
            "{:<8} {:>9} {:>9.0} {:>9.0} {:>10} {:>10} {:>12} {:>12}",
            r["label"].as_str().unwrap_or(""),
            format!("{}/{}", r["rooms_ok"], r["rooms"]),
            r["writes_per_s"].as_f64().unwrap_or(0.0),
            r["delivered"].as_f64().unwrap_or(0.0) / r["session_seconds"].as_f64().unwrap_or(1.0),
            f(&r["write_rtt_ms"]["p50"]),
            f(&r["write_rtt_ms"]["p99"]),
            f(&r["write_rtt_ms"]["steady_p50"]),
            f(&r["write_rtt_ms"]["steady_p99"]),
        );
    }
    println!(
        "\n{:<18} {:>8} {:>8} {:>12} {:>14} {:>10}",
        "process", "cpu s", "cpu %", "messages", "µs / message", "vs single"
    );
    let mut nodes_ok = true;
    for r in &results {
        for p in r["processes"].as_array().into_iter().flatten() {
            let per = p["cpu_us_per_message"].as_f64();
            let vs = match (per, single_cpu, p["share"].as_f64()) {
                (Some(x), Some(s), Some(sh)) if sh > 0.0 => {
                    let ratio = x / s;
                    if r["label"] == "cluster" && ratio > 1.3 {
                        nodes_ok = false;
                    }
                    format!("{ratio:.2}×")
                }
                _ => String::new(),
            };
            println!(
                "{:<18} {:>8} {:>8} {:>12.0} {:>14} {:>10}",
                p["name"].as_str().unwrap_or(""),
                f(&p["cpu_s"]),
                f(&p["cpu_percent"]),
                p["messages"].as_f64().unwrap_or(0.0),
                f(&p["cpu_us_per_message"]),
                vs
            );
        }
    }
    let cluster = results.iter().find(|r| r["label"] == "cluster");
    let complete = cluster.is_some_and(|r| r["complete"] == true);
    // Issue #14 says "write round trip p99 ≤ 20 ms" without saying over which writes. Both
    // are judged and printed. The exit status follows the steady p99 (writes due more than
    // 1 s into their round), as the performance bench (benches/loadgen/report.rs) judges its
    // own "write round trip p99" goal; the whole session's p99 also counts the writes caught
    // in the start and round-boundary bursts.
    let p99_le_20 = |key: &str| {
        cluster
            .and_then(|r| r["write_rtt_ms"][key].as_f64())
            .is_some_and(|p| p <= 20.0)
    };
    let rtt_steady_ok = p99_le_20("steady_p99");
    let rtt_all_ok = p99_le_20("p99");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let ms = |key: &str| cluster.map_or("n/a".to_owned(), |r| f(&r["write_rtt_ms"][key]));
    println!(
        "\ngoals (cluster): every session complete: {}",
        verdict(complete)
    );
    println!(
        "                 write round trip p99 ≤ 20 ms, steady (> 1 s into a round; the \
         performance bench's definition, the exit status follows it): {} ms, {}",
        ms("steady_p99"),
        verdict(rtt_steady_ok)
    );
    println!(
        "                 write round trip p99 ≤ 20 ms, whole session (start and boundary \
         bursts included): {} ms, {}",
        ms("p99"),
        verdict(rtt_all_ok)
    );
    if single_cpu.is_some() {
        println!(
            "                 each node's CPU per message ≤ 1.3 × the single node's: {}",
            verdict(nodes_ok)
        );
    }
    if let Some(label) = &args.save {
        let out = json!({
            "bench": "cluster_load",
            "commit": commit(),
            "args": {
                "rooms": args.rooms, "participants": args.participants, "rounds": args.rounds,
                "round_seconds": args.round_seconds, "write_rate": args.write_rate,
                "lease_ms": args.lease_ms, "server_args": args.server_args,
            },
            "loadavg_before": loadavg_before.trim(),
            "results": results,
            "goals": {"complete": complete,
                      "write_p99_le_20ms_steady": rtt_steady_ok,
                      "write_p99_le_20ms_whole_session": rtt_all_ok,
                      "cpu_per_message_le_1_3x": single_cpu.map(|_| nodes_ok)},
        });
        let path = manifest
            .join("benches/results")
            .join(format!("cluster-load-{}-{label}.json", commit()));
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("saved {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(complete && rtt_steady_ok && nodes_ok)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let args = Args::parse_from(argv);
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cluster_load: {e}");
            ExitCode::from(2)
        }
    }
}
