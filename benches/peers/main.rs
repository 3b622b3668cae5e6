//! # brainwrite against its peers
//!
//! One command for the comparison of issue #13: runs the load generator (`benches/loadgen`)
//! with the same load flags against a peer from `../shared/peers` (Bun, whose WebSocket
//! layer is uWebSockets, and/or Node + `ws`, both running the reference `server.js`) and
//! against brainwrite (spawned, with its default shards and with `--shards=1`), interleaved
//! when repeated, and prints one table: each measure for each server, the ratios
//! brainwrite / peer, and the goals of issue #13 beside them. The same goes to a JSON file.
//! Peer runs get the load generator's `--peer-compat` (the peer's protocol v1 has no acks
//! and calls a board a "watcher"); the load, i.e. every load flag, is the same for all.
//!
//! ```text
//! cargo build --release --bin brainwrite
//! cargo bench --bench peers -- --peer bun --rooms 2400 --participants 6 --rounds 6 \
//!     --round-seconds 5 --repeat 2 --label full
//! cargo bench --bench peers -- --help
//! ```
//!
//! # Layout
//! - `cli`: this command's flags; everything else goes to the load generator.
//! - `peer`: copying the read-only peers folder, `npm ci`, starting and stopping a peer.
//! - `loadgen`: building and running the load generator, reading its JSON report.
//! - `summary`: medians, ratios, goals; the table and the comparison's JSON.

#[path = "../loadgen/child.rs"]
mod child;
mod cli;
mod loadgen;
mod peer;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::cli::{Cli, Parsed, PeerChoice};
use crate::loadgen::{Invocation, Measures};
use crate::peer::Kind;
use crate::summary::Subject;

/// Epoch seconds.
fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The cargo profile directory this bench runs from (`<target>/release`), found from its
/// own path (`<target>/release/deps/peers-…`), so `CARGO_TARGET_DIR` is honoured.
fn profile_dir(manifest: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent().map(Path::to_owned))?
        })
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| manifest.join("target"))
                .join("release")
        })
}

/// A server under test, as the runs see it.
enum Server {
    Peer(Kind),
    /// brainwrite, with these extra server arguments, in memory or with its default journal.
    Brainwrite {
        /// Extra server arguments.
        args: Vec<String>,
        /// With the default SQLite journal (else `--memory`).
        journal: bool,
    },
}

/// The short git commit of the package, if git knows it.
fn commit(manifest: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(manifest)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn one_line(name: &str, m: &Measures) -> String {
    let f = |k: &str, d: usize| m.get(k).map_or("n/a".into(), |v| format!("{v:.d$}"));
    format!(
        "peers: {name}: boundary p50/p99/max {}/{}/{} ms, ping p99 {} ms ({} ms in the boundary burst), RSS {} B per idle socket, CPU {} us per delivered message ({}% of a core), write p99 {} ms, {}/{} rooms ok{}",
        f("boundary_p50_ms", 1),
        f("boundary_p99_ms", 1),
        f("boundary_max_ms", 1),
        f("ping_p99_ms", 1),
        f("ping_boundary_p99_ms", 1),
        f("rss_per_idle_socket_b", 0),
        f("cpu_us_per_delivered", 2),
        f("server_cpu_percent", 0),
        f("write_rtt_steady_p99_ms", 2),
        m.rooms_ok,
        m.rooms,
        if m.complete { "" } else { " (NOT complete)" },
    )
}

fn run(cli: Cli) -> Result<(), String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let profile = profile_dir(&manifest);
    let target = profile
        .parent()
        .map_or(manifest.join("target"), Path::to_owned);
    let brainwrite = cli
        .brainwrite
        .clone()
        .unwrap_or_else(|| profile.join("brainwrite"));
    if !brainwrite.is_file() {
        return Err(format!(
            "{} does not exist: build it (cargo build --release --bin brainwrite, with the same CARGO_TARGET_DIR) or pass --brainwrite PATH",
            brainwrite.display()
        ));
    }
    let peers_src = if cli.peers_src.is_absolute() {
        cli.peers_src.clone()
    } else {
        manifest.join(&cli.peers_src)
    };
    let work = cli.work_dir.clone().unwrap_or_else(|| target.join("peers"));
    let runs_dir = work.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .map_err(|e| format!("creating {}: {e}", runs_dir.display()))?;
    let loadgen_exe = match &cli.loadgen {
        Some(p) => p.clone(),
        None => loadgen::build(&manifest)?,
    };
    if !loadgen_exe.is_file() {
        return Err(format!("{} does not exist", loadgen_exe.display()));
    }
    // The peers inherit it: thousands of sockets need thousands of descriptors.
    let fd_limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("raising the descriptor limit: {e}"))?;

    let kinds: &[Kind] = match cli.peer {
        PeerChoice::Bun => &[Kind::Bun],
        PeerChoice::Node => &[Kind::Node],
        PeerChoice::Both => &[Kind::Bun, Kind::Node],
    };
    let peers = peer::copy(&peers_src, &work.join("src"))?;
    // server.js and its `ws` live in node/; Bun runs the same file.
    peers.install("node")?;
    if kinds.contains(&Kind::Bun) {
        peers.install("bun")?;
    }
    let mut versions = serde_json::Map::new();
    for k in kinds {
        let v = peers.version(*k)?;
        eprintln!("peers: {} {v}", k.name());
        versions.insert(k.name().to_owned(), json!(v));
    }

    let mut servers: Vec<(String, Server)> = kinds
        .iter()
        .map(|k| (k.name().to_owned(), Server::Peer(*k)))
        .collect();
    for journal in [false, true] {
        if journal && cli.no_journal {
            continue;
        }
        let tag = if journal { " journal" } else { "" };
        servers.push((
            format!("brainwrite{tag}"),
            Server::Brainwrite {
                args: Vec::new(),
                journal,
            },
        ));
        if !cli.no_single_shard {
            servers.push((
                format!("brainwrite --shards=1{tag}"),
                Server::Brainwrite {
                    args: vec!["--shards=1".into()],
                    journal,
                },
            ));
        }
    }
    let stamp = cli.label.clone().unwrap_or_else(|| now_s().to_string());
    let started = now_s();
    let mut subjects: Vec<Subject> = servers
        .iter()
        .map(|(name, s)| Subject {
            name: name.clone(),
            brainwrite: matches!(s, Server::Brainwrite { .. }),
            runs: Vec::new(),
        })
        .collect();
    let mut runs_json = Vec::new();
    for round in 1..=cli.repeat {
        for (i, (name, server)) in servers.iter().enumerate() {
            let base = format!("{stamp}-{round}-{}", slug(name));
            eprintln!(
                "peers: round {round}/{}: {name} (load generator output in {})",
                cli.repeat,
                runs_dir.join(format!("{base}.log")).display()
            );
            let mut inv = Invocation {
                exe: &loadgen_exe,
                cwd: &manifest,
                load_args: &cli.loadgen_args,
                server_args: Vec::new(),
                json: runs_dir.join(format!("{base}.json")),
                log: runs_dir.join(format!("{base}.log")),
                label: format!("peers-{stamp}-{}-{round}", slug(name)),
            };
            let measures = match server {
                Server::Peer(kind) => {
                    let mut p = peers.start(*kind, &runs_dir.join(format!("{base}-server.log")))?;
                    let pid = p.pid().ok_or("the peer has no pid")?;
                    // --peer-compat for the peer only: it welcomes boards as "watcher" and
                    // sends no acks (see the load generator's --help).
                    inv.server_args = vec![
                        "--url".into(),
                        format!("http://{}", p.addr),
                        "--server-pid".into(),
                        pid.to_string(),
                        "--peer-compat".into(),
                    ];
                    let m = inv.run();
                    p.stop();
                    m?
                }
                Server::Brainwrite { args, journal } => {
                    inv.server_args =
                        vec!["--spawn-server".into(), brainwrite.display().to_string()];
                    if *journal {
                        inv.server_args.push("--server-journal".into());
                    }
                    for a in cli.server_args.iter().chain(args) {
                        inv.server_args.push(format!("--server-arg={a}"));
                    }
                    inv.run()?
                }
            };
            eprintln!("{}", one_line(name, &measures));
            let report: Value = std::fs::read_to_string(&inv.json)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            runs_json.push(json!({
                "server": name,
                "round": round,
                "loadgen_json": inv.json,
                "loadgen_args": inv.server_args,
                "measures": measures,
                "report": report,
            }));
            subjects[i].runs.push(measures);
        }
    }

    let (table, comparison) = summary::compare(&subjects);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "brainwrite vs peers: {} round(s) of runs, interleaved; load flags: {}",
        cli.repeat,
        if cli.loadgen_args.is_empty() {
            "(the load generator's defaults)".to_owned()
        } else {
            cli.loadgen_args.join(" ")
        }
    );
    let vs: Vec<String> = versions
        .iter()
        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
        .collect();
    println!(
        "peers: {} (one event loop each); brainwrite {} (default shards: one per core); {cores} cores, shared with the load generator",
        vs.join(", "),
        brainwrite.display()
    );
    println!(
        "values: median (min-max) over the runs; ratios and goals on the medians; CPU per message from the load generator's {} window",
        subjects
            .iter()
            .flat_map(|s| &s.runs)
            .next()
            .map_or("steady", |m| m.cpu_window)
    );
    println!();
    print!("{table}");

    let doc = json!({
        "label": cli.label,
        "commit": commit(&manifest),
        "started_s": started,
        "finished_s": now_s(),
        "cores": cores,
        "fd_limit": fd_limit,
        "repeat": cli.repeat,
        "load_args": cli.loadgen_args,
        "server_args": cli.server_args,
        "brainwrite": brainwrite,
        "loadgen": loadgen_exe,
        "peer_versions": versions,
        "comparison": comparison,
        "runs": runs_json,
    });
    let text =
        serde_json::to_string_pretty(&doc).map_err(|e| format!("serialising the report: {e}"))?;
    let mut paths = vec![
        cli.json
            .clone()
            .unwrap_or_else(|| work.join(format!("peers-{stamp}.json"))),
    ];
    if cli.save {
        paths.push(
            manifest
                .join("benches")
                .join("results")
                .join(format!("peers-{stamp}.json")),
        );
    }
    for p in &paths {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::write(p, &text).map_err(|e| format!("writing {}: {e}", p.display()))?;
        println!("JSON: {}", p.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match cli::parse(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            print!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Ok(Parsed::Run(c)) => match run(*c) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("peers: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("peers: {e} (see --help)");
            ExitCode::from(2)
        }
    }
}
