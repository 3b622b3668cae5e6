//! The report: derives memory per connection, CPU per delivered message, rates and latency
//! percentiles from what the coordinator gathered, prints them as a table beside the goals of
//! issue 5, and writes the same figures (plus a per-second timeline) as JSON.
//!
//! It measures nothing itself and decides nothing about the run. With `--peer-compat` the
//! write round trips are absent (the peer sends no acks), not zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::coordinator::Setup;
use crate::procfs::Sample;
use crate::stats::{Counters, Hists, LATENCIES, Summary};
use crate::{Args, now_ms};

/// Everything a run produced.
pub struct Outcome<'a> {
    /// The command line.
    pub args: &'a Args,
    /// Derived settings.
    pub setup: &'a Setup,
    /// The server's pid, if known.
    pub server_pid: Option<u32>,
    /// Whether the load generator spawned the server.
    pub spawned: bool,
    /// Seconds to connect every socket.
    pub connect_s: f64,
    /// Counts once every socket had its role.
    pub ready: Counters,
    /// Counts once every room had finished.
    pub at_reveal: Counters,
    /// Final counts.
    pub totals: Counters,
    /// The common start, epoch ms.
    pub go_ms: u64,
    /// The last reveal's arrival, epoch ms.
    pub last_reveal_ms: u64,
    /// Rounds per session.
    pub rounds: u32,
    /// Server before rooms were created.
    pub before_rooms: Option<Sample>,
    /// Server with the rooms created, no sockets.
    pub base: Option<Sample>,
    /// Server with every socket connected and idle.
    pub idle: Option<Sample>,
    /// Its open descriptors then.
    pub idle_fds: Option<u64>,
    /// Server at the common start.
    pub at_go: Option<Sample>,
    /// Server once every room had finished (sockets still open).
    pub at_end: Option<Sample>,
    /// Its open descriptors then.
    pub end_fds: Option<u64>,
    /// Server once a second during the sessions.
    pub timeline: Vec<Sample>,
    /// Worker counts per epoch second.
    pub ticks: BTreeMap<u64, BTreeMap<usize, Counters>>,
    /// Latencies.
    pub hists: Hists,
    /// Failure descriptions.
    pub failures: Vec<String>,
    /// /proc/loadavg before the run: other work on the machine skews every figure.
    pub loadavg_before: String,
    /// The server's own round-delivery histogram: (count, p50, p99, max) upper bounds, ms.
    pub server_metrics: Option<(u64, f64, f64, f64)>,
}

/// Figures over a window between two instants.
#[derive(Debug, Clone, serde::Serialize)]
struct Window {
    from_ms: u64,
    to_ms: u64,
    seconds: f64,
    messages_in_per_s: f64,
    messages_out_per_s: f64,
    writes_per_s: f64,
    server_cpu_percent: Option<f64>,
    server_cpu_us_per_delivered: Option<f64>,
    /// The part of it spent in the kernel (stime): sending, receiving, polling.
    server_sys_us_per_delivered: Option<f64>,
    loadgen_cpu_percent: f64,
}

/// CPU of the server at an instant: (utime + stime, stime), µs.
type Cpu = Option<(u64, u64)>;

fn window(a: (u64, &Counters, Cpu), b: (u64, &Counters, Cpu)) -> Window {
    let secs = (b.0.saturating_sub(a.0)) as f64 / 1000.0;
    let per_s = |x: u64, y: u64| {
        if secs > 0.0 {
            y.saturating_sub(x) as f64 / secs
        } else {
            0.0
        }
    };
    let delivered = b.1.received.saturating_sub(a.1.received);
    let (cpu, sys) = match (a.2, b.2) {
        (Some(x), Some(y)) => (Some(y.0.saturating_sub(x.0)), Some(y.1.saturating_sub(x.1))),
        _ => (None, None),
    };
    Window {
        from_ms: a.0,
        to_ms: b.0,
        seconds: secs,
        messages_in_per_s: per_s(a.1.sent, b.1.sent),
        messages_out_per_s: per_s(a.1.received, b.1.received),
        writes_per_s: per_s(a.1.writes, b.1.writes),
        server_cpu_percent: cpu.filter(|_| secs > 0.0).map(|c| c as f64 / 1e4 / secs),
        server_cpu_us_per_delivered: cpu
            .filter(|_| delivered > 0)
            .map(|c| c as f64 / delivered as f64),
        server_sys_us_per_delivered: sys
            .filter(|_| delivered > 0)
            .map(|c| c as f64 / delivered as f64),
        loadgen_cpu_percent: if secs > 0.0 {
            b.1.loadgen_cpu_us.saturating_sub(a.1.loadgen_cpu_us) as f64 / 1e4 / secs
        } else {
            0.0
        },
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": kernel,
    })
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One line of the goals table.
struct Goal {
    name: &'static str,
    value: String,
    goal: &'static str,
    verdict: String,
}

fn verdict(ok: bool) -> String {
    if ok { "met" } else { "NOT met" }.to_owned()
}

/// Print the table, write the JSON; `Ok(true)` when every correctness check passed.
pub fn report(o: &Outcome) -> Result<bool, String> {
    let s = o.setup;
    let conns = o.ready.connected.max(1);
    let per_conn = |a: Option<Sample>, b: Option<Sample>, anon: bool| -> Option<f64> {
        let (a, b) = (a?, b?);
        let (x, y) = if anon {
            (a.rss_anon_kib, b.rss_anon_kib)
        } else {
            (a.rss_kib, b.rss_kib)
        };
        Some((y as f64 - x as f64) * 1024.0 / conns as f64)
    };
    let idle_per_conn = per_conn(o.base, o.idle, false);
    let idle_per_conn_anon = per_conn(o.base, o.idle, true);
    let after_per_conn = per_conn(o.base, o.at_end, false);

    let session = window(
        (o.go_ms, &o.ready, o.at_go.map(|x| (x.cpu_us, x.sys_us))),
        (
            o.last_reveal_ms.max(o.go_ms + 1),
            &o.at_reveal,
            o.at_end.map(|x| (x.cpu_us, x.sys_us)),
        ),
    );

    // Steady state: whole seconds inside the writing, away from the start and the reveal.
    let workers = s.workers as usize;
    let cpu_at: BTreeMap<u64, (u64, u64)> = o
        .timeline
        .iter()
        .map(|x| (x.t_ms, (x.cpu_us, x.sys_us)))
        .collect();
    let full: Vec<(u64, Counters)> = o
        .ticks
        .iter()
        .filter(|(_, w)| w.len() == workers)
        .map(|(t, w)| {
            let mut c = Counters::default();
            for x in w.values() {
                c.add(x);
            }
            (*t, c)
        })
        .collect();
    let writing_end = o.go_ms + o.rounds as u64 * s.round_ms;
    let in_steady: Vec<&(u64, Counters)> = full
        .iter()
        .filter(|(t, _)| *t >= o.go_ms + 1000 && *t + 1000 <= writing_end && cpu_at.contains_key(t))
        .collect();
    let steady = match (in_steady.first(), in_steady.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => Some(window(
            (a.0, &a.1, cpu_at.get(&a.0).copied()),
            (b.0, &b.1, cpu_at.get(&b.0).copied()),
        )),
        _ => None,
    };
    let timeline: Vec<Value> = full
        .windows(2)
        .map(|p| {
            let (a, b) = (&p[0], &p[1]);
            let w = window(
                (a.0, &a.1, cpu_at.get(&a.0).copied()),
                (b.0, &b.1, cpu_at.get(&b.0).copied()),
            );
            let rss = o.timeline.iter().find(|x| x.t_ms == b.0).map(|x| x.rss_kib);
            json!({
                "t_s": (b.0 as f64 - o.go_ms as f64) / 1000.0,
                "in_per_s": w.messages_in_per_s,
                "out_per_s": w.messages_out_per_s,
                "writes_per_s": w.writes_per_s,
                "server_cpu_percent": w.server_cpu_percent,
                "loadgen_cpu_percent": w.loadgen_cpu_percent,
                "server_rss_kib": rss,
            })
        })
        .collect();

    let peer = o.args.peer_compat;
    // Peer mode: no acks, so no write round trip at all (absent from the report, not zero).
    let no_ack = |k: &str| peer && k.starts_with("write_rtt");
    let lat: BTreeMap<&str, Summary> = o
        .hists
        .0
        .iter()
        .filter(|(k, _)| !no_ack(k))
        .map(|(k, h)| (*k, Summary::of(h)))
        .collect();
    let empty = Summary::of(&crate::stats::hist());
    let t = &o.totals;
    let rooms = o.args.rooms as u64;
    let ideas_per_room =
        o.args.participants as u64 * o.rounds as u64 * o.args.ideas_per_round as u64;
    // No loss: every room's reveal holds exactly the acknowledged texts, every write was
    // answered, no socket dropped, no unexpected error. (Peer mode: writes are not answered;
    // the reveal must hold the last text sent to each slot, less those refused as late.)
    let correct = t.rooms_ok == rooms
        && t.rooms_failed == 0
        && t.errors == 0
        && t.dropped == 0
        && t.connect_failed == 0
        && (peer || t.acks + t.late_writes == t.writes)
        && t.pongs == t.pings;
    // Complete: also every idea the rules allow (no write refused as late).
    let complete = correct && t.ideas_revealed == rooms * ideas_per_room;

    // Goals of issue 5.
    let goal_load = steady.as_ref().map(|w| w.writes_per_s).unwrap_or(0.0);
    let at_goal_load = goal_load >= 9_500.0;
    let rtt = lat.get("write_rtt_steady").unwrap_or(&empty);
    let rtt_all = lat.get("write_rtt").unwrap_or(&empty);
    let rb = &lat["round_boundary"];
    let cpu_msg = steady
        .as_ref()
        .and_then(|w| w.server_cpu_us_per_delivered)
        .or(session.server_cpu_us_per_delivered);
    let load_note = |ok: bool| {
        if at_goal_load {
            verdict(ok)
        } else if ok {
            format!("met, at {goal_load:.0} writes/s (goal load 10,000)")
        } else {
            format!("NOT met, at {goal_load:.0} writes/s (goal load 10,000)")
        }
    };
    let goals = vec![
        Goal {
            name: "WebSocket connections held",
            value: format!("{} ({} failed)", o.ready.connected, o.ready.connect_failed),
            goal: ">= 19,000 in one server",
            verdict: verdict(o.ready.connected >= 19_000 && o.ready.connect_failed == 0),
        },
        Goal {
            name: "sessions completed, no loss",
            value: format!(
                "{}/{} rooms, {}/{} ideas, {} late writes",
                t.rooms_ok,
                rooms,
                t.ideas_revealed,
                rooms * ideas_per_room,
                t.late_writes
            ),
            goal: "every session, every idea",
            verdict: if complete {
                verdict(true)
            } else if correct {
                "no loss, but writes refused as late".to_owned()
            } else {
                verdict(false)
            },
        },
        Goal {
            name: "server RSS per idle connection",
            value: idle_per_conn.map_or("n/a".into(), |b| format!("{:.0} B", b)),
            goal: "<= 4 KiB (4,096 B)",
            verdict: idle_per_conn.map_or("n/a".into(), |b| verdict(b <= 4096.0)),
        },
        Goal {
            name: "round boundary p99 (last member)",
            value: format!("{:.1} ms", rb.p99_ms),
            goal: "<= 100 ms",
            verdict: verdict(rb.count > 0 && rb.p99_ms <= 100.0),
        },
        Goal {
            name: "round boundary max (last member)",
            value: format!("{:.1} ms", rb.max_ms),
            goal: "<= 250 ms",
            verdict: verdict(rb.count > 0 && rb.max_ms <= 250.0),
        },
        if peer {
            Goal {
                name: "write round trip p99 (steady)",
                value: format!("none at {goal_load:.0}/s: the peer sends no acks"),
                goal: "<= 5 ms at 10,000 writes/s",
                verdict: "n/a (--peer-compat)".to_owned(),
            }
        } else {
            Goal {
                name: "write round trip p99 (steady)",
                value: format!(
                    "{:.2} ms at {goal_load:.0}/s (all writes: {:.2} ms)",
                    rtt.p99_ms, rtt_all.p99_ms
                ),
                goal: "<= 5 ms at 10,000 writes/s",
                verdict: load_note(rtt.count > 0 && rtt.p99_ms <= 5.0),
            }
        },
        Goal {
            name: "server CPU per delivered message",
            value: cpu_msg.map_or("n/a".into(), |c| format!("{c:.2} µs")),
            goal: "<= 5 µs at 10,000 writes/s",
            verdict: cpu_msg.map_or("n/a".into(), |c| load_note(c <= 5.0)),
        },
    ];

    // The table.
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "brainwrite load test: {} rooms × {} participants (+1 facilitator, +{} board), {} rounds of {} s, {} ideas per row",
        o.args.rooms,
        o.args.participants,
        o.args.boards,
        o.rounds,
        o.args.round_seconds,
        o.args.ideas_per_round
    );
    let _ = writeln!(
        out,
        "{} sockets over {} worker process(es); connected in {:.1} s; session {:.1} s from the common start to the last reveal",
        s.sockets, s.workers, o.connect_s, session.seconds
    );
    let _ = writeln!(
        out,
        "load average before the run: {} (other work on these 2 cores skews every figure)",
        o.loadavg_before
    );
    if peer {
        let _ = writeln!(
            out,
            "--peer-compat: boards welcomed as \"watcher\", writes not acked (sent on the same schedule; no write round trip), late writes refused without their seq"
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| {:<34} | {:<44} | {:<26} | verdict |",
        "goal", "measured", "target"
    );
    let _ = writeln!(out, "|{:-<36}|{:-<46}|{:-<28}|{:-<10}|", "", "", "", "");
    for g in &goals {
        let _ = writeln!(
            out,
            "| {:<34} | {:<44} | {:<26} | {} |",
            g.name, g.value, g.goal, g.verdict
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| {:<16} | {:>8} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "latency (ms)", "count", "p50", "p99", "p99.9", "max"
    );
    let _ = writeln!(
        out,
        "|{:-<18}|{:->10}|{:->11}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", "", ""
    );
    for (name, _) in LATENCIES {
        let Some(l) = lat.get(name) else {
            let _ = writeln!(
                out,
                "| {name:<16} | absent: --peer-compat, the peer sends no acks          |"
            );
            continue;
        };
        let _ = writeln!(
            out,
            "| {:<16} | {:>8} | {:>9.2} | {:>9.2} | {:>9.2} | {:>9.2} |",
            name, l.count, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
    }
    let _ = writeln!(out);
    let mem = |x: Option<Sample>| {
        x.map_or("n/a".to_owned(), |x| {
            format!("{:.1} MiB", x.rss_kib as f64 / 1024.0)
        })
    };
    let _ = writeln!(
        out,
        "server RSS: {} empty, {} with rooms, {} idle with sockets ({} fds), {} after the sessions ({} fds); peak {}",
        mem(o.before_rooms),
        mem(o.base),
        mem(o.idle),
        o.idle_fds.map_or("?".into(), |f| f.to_string()),
        mem(o.at_end),
        o.end_fds.map_or("?".into(), |f| f.to_string()),
        o.at_end.map_or("n/a".into(), |x| format!(
            "{:.1} MiB",
            x.hwm_kib as f64 / 1024.0
        )),
    );
    let _ = writeln!(
        out,
        "per connection: {} idle ({} anonymous), {} after the sessions",
        idle_per_conn.map_or("n/a".into(), |b| format!("{b:.0} B")),
        idle_per_conn_anon.map_or("n/a".into(), |b| format!("{b:.0} B")),
        after_per_conn.map_or("n/a".into(), |b| format!("{b:.0} B")),
    );
    let fmt_w = |w: &Window| {
        format!(
            "{:.1} s: in {:.0}/s, out {:.0}/s, writes {:.0}/s, server CPU {}, {} per delivered message ({} of it in the kernel); load generator CPU {:.0}%",
            w.seconds,
            w.messages_in_per_s,
            w.messages_out_per_s,
            w.writes_per_s,
            w.server_cpu_percent
                .map_or("n/a".into(), |c| format!("{c:.0}%")),
            w.server_cpu_us_per_delivered
                .map_or("n/a".into(), |c| format!("{c:.2} µs")),
            w.server_sys_us_per_delivered
                .map_or("n/a".into(), |c| format!("{c:.2} µs")),
            w.loadgen_cpu_percent,
        )
    };
    let _ = writeln!(out, "whole session {}", fmt_w(&session));
    if let Some(w) = &steady {
        let _ = writeln!(out, "steady writing {}", fmt_w(w));
    }
    let _ = writeln!(
        out,
        "messages: {} in, {} out ({:.1} MiB); writes {} / acks {} / late {}; pings {} / pongs {}; sheets {} ({} short); reveals {}; errors {}; dropped {}",
        t.sent,
        t.received,
        t.received_bytes as f64 / 1048576.0,
        t.writes,
        t.acks,
        t.late_writes,
        t.pings,
        t.pongs,
        t.sheets,
        t.short_sheets,
        t.reveals,
        t.errors,
        t.dropped
    );
    if let Some((n, p50, p99, max)) = o.server_metrics {
        let _ = writeln!(
            out,
            "server's own view (/metrics round_delivery, deadline to every sheet queued, bucket bounds): {n} boundaries, p50 <= {p50:.1} ms, p99 <= {p99:.1} ms, max <= {max:.1} ms"
        );
    }
    for f in o.failures.iter().take(10) {
        let _ = writeln!(out, "failure: {f}");
    }
    println!("{out}");

    let doc = json!({
        "label": o.args.label,
        "finished_ms": now_ms(),
        "machine": machine(),
        "loadavg_before": o.loadavg_before,
        "loadavg_after": loadavg(),
        "run": {
            "rooms": o.args.rooms,
            "participants": o.args.participants,
            "boards": o.args.boards,
            "rounds": o.rounds,
            "round_seconds": o.args.round_seconds,
            "ideas_per_round": o.args.ideas_per_round,
            "group_size": o.args.group_size,
            "write_interval_ms": s.interval_ms,
            "guard_ms": o.args.guard_ms,
            "sockets": s.sockets,
            "workers": s.workers,
            "fd_limit": s.fd_limit,
            "server_pid": o.server_pid,
            "server_spawned": o.spawned,
            "server_args": o.args.server_args,
            "connect_seconds": o.connect_s,
            "ping_interval_ms": o.args.ping_interval_ms,
            "peer_compat": peer,
        },
        "correct": correct,
        "complete": complete,
        "goals": goals.iter().map(|g| json!({"name": g.name, "measured": g.value, "target": g.goal, "verdict": g.verdict})).collect::<Vec<_>>(),
        "counters": o.totals,
        "memory": {
            "rss_empty": o.before_rooms,
            "rss_rooms": o.base,
            "rss_idle": o.idle,
            "rss_after_sessions": o.at_end,
            "idle_fds": o.idle_fds,
            "end_fds": o.end_fds,
            "bytes_per_idle_connection": idle_per_conn,
            "anon_bytes_per_idle_connection": idle_per_conn_anon,
            "bytes_per_connection_after_sessions": after_per_conn,
        },
        "session": session,
        "steady": steady,
        "latency_ms": lat,
        "latency_meaning": LATENCIES.iter().filter(|(k, _)| !no_ack(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        "timeline": timeline,
        "server_round_delivery_ms": o.server_metrics.map(|(n, p50, p99, max)| json!({"count": n, "p50_le": p50, "p99_le": p99, "max_le": max})),
        "failures": o.failures,
    });
    let path = match &o.args.json {
        Some(p) => p.clone(),
        None => {
            let _ = std::fs::create_dir_all("target/loadgen");
            std::path::PathBuf::from(format!("target/loadgen/run-{}.json", now_ms() / 1000))
        }
    };
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("report serialises"),
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("JSON report: {}", path.display());
    Ok(correct)
}
