//! The load generator as a subprocess: finds its bench executable (building it with
//! `cargo bench --bench loadgen --no-run` when not given), runs it once per server with the
//! same load flags, and reads the figures this comparison uses out of its JSON report.
//!
//! Which report field gives which measure is written down once, in [`Measures::read`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The figures of one run, by key (see [`ROWS`](crate::summary::ROWS)); `None` where the
/// report has no such figure (e.g. no pid to read `/proc` of, or not measured at all).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measures {
    /// Numeric measures.
    pub values: BTreeMap<&'static str, Option<f64>>,
    /// No loss: every room's reveal held every acknowledged idea, no error, no drop.
    pub correct: bool,
    /// Correct, and every idea the rules allow was written (no write refused as late).
    pub complete: bool,
    /// Rooms that passed every check, of rooms.
    pub rooms_ok: u64,
    /// Rooms in the run.
    pub rooms: u64,
    /// The latency the ping figure came from, if the report has one.
    pub ping_source: Option<String>,
    /// The run spoke the peer's dialect (`--peer-compat`: no acks expected).
    pub peer_compat: bool,
    /// The load: each participant's write interval and the ping interval, ms (the same for
    /// every run of a comparison, or it is not like for like).
    pub load: (Option<u64>, Option<u64>),
    /// The CPU window used: "steady" (whole seconds of writing) or "session".
    pub cpu_window: &'static str,
    /// Sockets connected, and those that failed to connect or take their role.
    pub sockets: (u64, u64),
    /// Writes sent and acks received.
    pub writes_acks: (u64, u64),
    /// The first few distinct failures the report lists (room codes left out).
    pub failures: Vec<String>,
}

/// A failure without the room code or participant number, so that the same failure in many
/// rooms is one line.
fn failure_kind(f: &str) -> String {
    let f = match f.strip_prefix("room ").and_then(|r| r.split_once(": ")) {
        Some((_, rest)) => rest,
        None => f,
    };
    match f
        .strip_prefix("participant ")
        .and_then(|r| r.split_once(": "))
    {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => format!("participant: {rest}"),
        _ => f.to_owned(),
    }
}

fn at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    doc.pointer(pointer).filter(|v| !v.is_null())
}

fn num(doc: &Value, pointer: &str) -> Option<f64> {
    at(doc, pointer).and_then(Value::as_f64)
}

fn need(doc: &Value, pointer: &str, file: &Path) -> Result<f64, String> {
    num(doc, pointer).ok_or_else(|| {
        format!(
            "{}: no number at {pointer}; has the load generator's report changed?",
            file.display()
        )
    })
}

/// A latency's percentile, or `None` when nothing was recorded.
fn latency(doc: &Value, name: &str, field: &str, file: &Path) -> Result<Option<f64>, String> {
    let count = need(doc, &format!("/latency_ms/{name}/count"), file)?;
    if count <= 0.0 {
        return Ok(None);
    }
    need(doc, &format!("/latency_ms/{name}/{field}"), file).map(Some)
}

/// The same for a latency the report may leave out (the write round trips with
/// `--peer-compat`; the pings before the load generator timed them).
fn optional_latency(
    doc: &Value,
    name: &str,
    field: &str,
    file: &Path,
) -> Result<Option<f64>, String> {
    let Some(count) = num(doc, &format!("/latency_ms/{name}/count")) else {
        return Ok(None);
    };
    if count <= 0.0 {
        return Ok(None);
    }
    need(doc, &format!("/latency_ms/{name}/{field}"), file).map(Some)
}

impl Measures {
    /// Read a load generator report.
    pub fn read(file: &Path) -> Result<Measures, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
        let mut values = BTreeMap::new();
        let rb = "round_boundary";
        values.insert("boundary_p50_ms", latency(&doc, rb, "p50_ms", file)?);
        values.insert("boundary_p99_ms", latency(&doc, rb, "p99_ms", file)?);
        values.insert("boundary_max_ms", latency(&doc, rb, "max_ms", file)?);

        // Pings timed from one socket per room (reports before that have none).
        let ping = optional_latency(&doc, "ping", "p99_ms", file)?;
        let ping_source = ping.map(|_| "latency_ms.ping".to_owned());
        values.insert("ping_p99_ms", ping);
        values.insert(
            "ping_boundary_p99_ms",
            optional_latency(&doc, "ping_boundary", "p99_ms", file)?,
        );

        values.insert(
            "rss_per_idle_socket_b",
            num(&doc, "/memory/bytes_per_idle_connection"),
        );

        // CPU per message as the load generator reports it: the steady writing window if
        // there is one, else the whole session.
        let window = if at(&doc, "/steady/server_cpu_us_per_delivered").is_some() {
            "steady"
        } else {
            "session"
        };
        let w = |f: &str| num(&doc, &format!("/{window}/{f}"));
        let per_delivered = w("server_cpu_us_per_delivered");
        values.insert("cpu_us_per_delivered", per_delivered);
        // The same CPU over messages in and out (same window, so rates stand for counts).
        let in_out = match (
            per_delivered,
            w("messages_in_per_s"),
            w("messages_out_per_s"),
        ) {
            (Some(c), Some(i), Some(o)) if i + o > 0.0 => Some(c * o / (i + o)),
            _ => None,
        };
        values.insert("cpu_us_per_message_in_out", in_out);
        values.insert("server_cpu_percent", w("server_cpu_percent"));
        values.insert("loadgen_cpu_percent", w("loadgen_cpu_percent"));
        values.insert("writes_per_s", w("writes_per_s"));

        // Absent with --peer-compat (the peer sends no acks).
        values.insert(
            "write_rtt_steady_p99_ms",
            optional_latency(&doc, "write_rtt_steady", "p99_ms", file)?,
        );
        values.insert(
            "write_rtt_p99_ms",
            optional_latency(&doc, "write_rtt", "p99_ms", file)?,
        );

        let correct = at(&doc, "/correct")
            .and_then(Value::as_bool)
            .ok_or_else(|| format!("{}: no boolean at /correct", file.display()))?;
        // Older reports had no "complete"; "correct" is the most they can say.
        let complete = at(&doc, "/complete")
            .and_then(Value::as_bool)
            .unwrap_or(correct);
        let rooms_ok = need(&doc, "/counters/rooms_ok", file)? as u64;
        let rooms = need(&doc, "/run/rooms", file)? as u64;
        let count = |k: &str| need(&doc, &format!("/counters/{k}"), file).map(|x| x as u64);
        let sockets = (count("connected")?, count("connect_failed")?);
        let writes_acks = (count("writes")?, count("acks")?);
        values.insert("writes_sent", Some(writes_acks.0 as f64));
        // Above a few ms the load generator (or other work on the machine) is in every
        // latency above.
        values.insert(
            "loadgen_lag_p99_ms",
            optional_latency(&doc, "loadgen_lag", "p99_ms", file)?,
        );
        values.insert(
            "acks_per_write",
            (writes_acks.0 > 0).then(|| writes_acks.1 as f64 / writes_acks.0 as f64),
        );
        let peer_compat = at(&doc, "/run/peer_compat")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ms = |p: &str| at(&doc, p).and_then(Value::as_u64);
        let load = (ms("/run/write_interval_ms"), ms("/run/ping_interval_ms"));
        let mut failures: Vec<String> = Vec::new();
        for f in at(&doc, "/failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let k = failure_kind(f);
            if failures.len() < 3 && !failures.contains(&k) {
                failures.push(k);
            }
        }
        Ok(Measures {
            values,
            correct,
            complete,
            rooms_ok,
            rooms,
            ping_source,
            peer_compat,
            load,
            cpu_window: window,
            sockets,
            writes_acks,
            failures,
        })
    }

    /// One value.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied().flatten()
    }
}

/// Build the load generator bench and return its executable.
pub fn build(manifest_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("peers: building the load generator (cargo bench --bench loadgen --no-run)");
    let out = Command::new(&cargo)
        .args([
            "bench",
            "--bench",
            "loadgen",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(manifest_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {cargo} bench --bench loadgen --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo bench --bench loadgen --no-run failed: {}",
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = None;
    for line in text.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_loadgen = msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "loadgen"
            && msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|x| x == "bench"));
        if let (true, Some(exe)) = (is_loadgen, msg["executable"].as_str()) {
            found = Some(PathBuf::from(exe));
        }
    }
    found.ok_or_else(|| {
        "cargo bench --bench loadgen --no-run named no loadgen executable; pass --loadgen PATH"
            .to_owned()
    })
}

/// One load generator run.
pub struct Invocation<'a> {
    /// The executable.
    pub exe: &'a Path,
    /// Working directory (the package root, as under `cargo bench`).
    pub cwd: &'a Path,
    /// The load flags, the same for every server.
    pub load_args: &'a [String],
    /// Flags naming the server: `--url … --server-pid …` or `--spawn-server …`.
    pub server_args: Vec<String>,
    /// Its report.
    pub json: PathBuf,
    /// Its stdout (the load generator's own table).
    pub log: PathBuf,
    /// Its label.
    pub label: String,
}

impl Invocation<'_> {
    /// Run it to the end; the report's figures, whether or not its checks passed (the
    /// report says which); an error if it wrote no report.
    pub fn run(&self) -> Result<Measures, String> {
        let _ = std::fs::remove_file(&self.json);
        let log =
            std::fs::File::create(&self.log).map_err(|e| format!("{}: {e}", self.log.display()))?;
        let status = Command::new(self.exe)
            .args(self.load_args)
            .args(&self.server_args)
            .arg("--json")
            .arg(&self.json)
            .arg("--label")
            .arg(&self.label)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| format!("running {}: {e}", self.exe.display()))?;
        // 0: every check passed; 1: the report says what failed; anything else: no report.
        if !matches!(status.code(), Some(0 | 1)) || !self.json.exists() {
            return Err(format!(
                "the load generator failed ({status}) for {}; its output is in {}",
                self.label,
                self.log.display()
            ));
        }
        Measures::read(&self.json)
    }
}
