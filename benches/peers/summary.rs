//! The comparison: each measure's median (and range, over `--repeat` runs) for each server,
//! the ratios brainwrite / peer, and the goals of issue #13 beside them, judged on the
//! medians; printed as one table and returned as JSON.
//!
//! Every number comes from the runs; the only constants are the goals themselves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::loadgen::Measures;

/// A goal of issue #13 for one measure: brainwrite's median must be at most `abs` and at
/// most `bun` × Bun's median (where given).
pub struct Goal {
    /// As written in the table.
    pub text: &'static str,
    /// Absolute bound.
    pub abs: Option<f64>,
    /// Bound as a multiple of Bun's figure.
    pub bun: Option<f64>,
}

/// One row of the table.
pub struct Row {
    /// Key in [`Measures::values`].
    pub key: &'static str,
    /// What it is, with its unit.
    pub name: &'static str,
    /// Decimals shown.
    pub decimals: usize,
    /// Its goal, if it has one.
    pub goal: Option<Goal>,
}

/// The rows, in order.
pub const ROWS: &[Row] = &[
    Row {
        key: "boundary_p50_ms",
        name: "round boundary p50, last of room (ms)",
        decimals: 1,
        goal: Some(Goal {
            text: "<= 20 ms and <= Bun",
            abs: Some(20.0),
            bun: Some(1.0),
        }),
    },
    Row {
        key: "boundary_p99_ms",
        name: "round boundary p99, last of room (ms)",
        decimals: 1,
        goal: Some(Goal {
            text: "<= 0.67 x Bun",
            abs: None,
            bun: Some(0.67),
        }),
    },
    Row {
        key: "boundary_max_ms",
        name: "round boundary max, last of room (ms)",
        decimals: 1,
        goal: Some(Goal {
            text: "<= 0.67 x Bun",
            abs: None,
            bun: Some(0.67),
        }),
    },
    Row {
        key: "ping_p99_ms",
        name: "ping round trip p99 under load (ms)",
        decimals: 1,
        goal: Some(Goal {
            text: "<= 0.5 x Bun",
            abs: None,
            bun: Some(0.5),
        }),
    },
    Row {
        key: "ping_boundary_p99_ms",
        name: "ping p99 in the boundary burst (ms)",
        decimals: 1,
        goal: None,
    },
    Row {
        key: "rss_per_idle_socket_b",
        name: "server RSS per idle socket (B)",
        decimals: 0,
        goal: Some(Goal {
            text: "<= 4 KiB (4,096 B)",
            abs: Some(4096.0),
            bun: None,
        }),
    },
    Row {
        key: "cpu_us_per_delivered",
        name: "server CPU per delivered message (us)",
        decimals: 2,
        goal: Some(Goal {
            text: "<= 0.8 x Bun",
            abs: None,
            bun: Some(0.8),
        }),
    },
    Row {
        key: "cpu_us_per_message_in_out",
        name: "server CPU per message in+out (us)",
        decimals: 2,
        goal: None,
    },
    Row {
        key: "write_rtt_steady_p99_ms",
        name: "write round trip p99, steady (ms)",
        decimals: 2,
        goal: None,
    },
    Row {
        key: "write_rtt_p99_ms",
        name: "write round trip p99, all (ms)",
        decimals: 2,
        goal: None,
    },
    Row {
        key: "writes_per_s",
        name: "writes per second (steady)",
        decimals: 0,
        goal: None,
    },
    Row {
        key: "writes_sent",
        name: "writes sent (whole run)",
        decimals: 0,
        goal: None,
    },
    Row {
        key: "acks_per_write",
        name: "acks per write sent",
        decimals: 2,
        goal: None,
    },
    Row {
        key: "loadgen_lag_p99_ms",
        name: "load generator's own timer lag p99 (ms)",
        decimals: 1,
        goal: None,
    },
    Row {
        key: "server_cpu_percent",
        name: "server CPU (% of one core)",
        decimals: 0,
        goal: None,
    },
    Row {
        key: "loadgen_cpu_percent",
        name: "load generator CPU (% of one core)",
        decimals: 0,
        goal: None,
    },
];

/// One server under test and its runs.
pub struct Subject {
    /// Name in the table: "bun", "node", "brainwrite", "brainwrite --shards=1".
    pub name: String,
    /// Whether it is brainwrite (ratios and goals are for these).
    pub brainwrite: bool,
    /// Its runs, in order.
    pub runs: Vec<Measures>,
}

/// Median, least and greatest of the runs that have the figure.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stat {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Least.
    pub min: f64,
    /// Greatest.
    pub max: f64,
    /// Runs with the figure.
    pub n: usize,
}

impl Subject {
    /// The figure `key` over the runs, if any run has it.
    pub fn stat(&self, key: &str) -> Option<Stat> {
        let mut v: Vec<f64> = self.runs.iter().filter_map(|m| m.get(key)).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    fn complete_runs(&self) -> usize {
        self.runs.iter().filter(|m| m.complete).count()
    }
}

fn cell(s: Option<Stat>, decimals: usize, why_none: &str) -> String {
    match s {
        None => why_none.to_owned(),
        Some(s) if s.n == 1 || s.min == s.max => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} ({:.*}-{:.*})",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

/// A goal's verdict for brainwrite's figure `bw` against Bun's `bun`; `bun_complete` is
/// whether every session of every Bun run completed (if not, Bun did less work).
fn verdict(
    goal: &Goal,
    bw: Option<f64>,
    bun: Option<f64>,
    bun_ran: bool,
    bun_complete: bool,
) -> String {
    let Some(bw) = bw else {
        return "n/a (not measured)".into();
    };
    let mut ok = goal.abs.is_none_or(|a| bw <= a);
    if let Some(f) = goal.bun {
        if !bun_ran {
            return "n/a (no Bun run)".into();
        }
        let Some(b) = bun else {
            return "n/a (no Bun figure)".into();
        };
        ok &= bw <= f * b;
        if !bun_complete {
            return format!("{} (Bun incomplete)", if ok { "met" } else { "NOT met" });
        }
    }
    if ok { "met" } else { "NOT met" }.into()
}

/// brainwrite server → peer → measure → ratio of medians.
type Ratios = BTreeMap<String, BTreeMap<String, BTreeMap<&'static str, Option<f64>>>>;

/// Print-ready table and the JSON of the comparison.
pub fn compare(subjects: &[Subject]) -> (String, Value) {
    let peers: Vec<&Subject> = subjects.iter().filter(|s| !s.brainwrite).collect();
    let bws: Vec<&Subject> = subjects.iter().filter(|s| s.brainwrite).collect();
    let bun = peers.iter().find(|s| s.name == "bun");
    let short = |s: &Subject| s.name.replace("brainwrite --", "");

    let mut header: Vec<String> = vec!["measure".into()];
    header.extend(subjects.iter().map(|s| s.name.clone()));
    for b in &bws {
        for p in &peers {
            header.push(format!("{} / {}", short(b), p.name));
        }
    }
    header.push("goal (issue #13)".into());
    for b in &bws {
        header.push(format!("{}: goal", short(b)));
    }

    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut ratios: Ratios = BTreeMap::new();
    let mut goals = Vec::new();
    let mut summary = serde_json::Map::new();
    for s in subjects {
        let m: serde_json::Map<String, Value> = ROWS
            .iter()
            .map(|r| (r.key.to_owned(), json!(s.stat(r.key))))
            .collect();
        summary.insert(s.name.clone(), Value::Object(m));
    }
    for r in ROWS {
        let none = |s: &Subject| {
            let peer_mode = s.runs.iter().any(|m| m.peer_compat);
            if r.key.starts_with("ping") {
                "not measured"
            } else if peer_mode && r.key.starts_with("write_rtt") {
                // --peer-compat: the peer sends no acks, so there is no round trip to time.
                "none (no acks)"
            } else {
                "n/a"
            }
        };
        let mut row = vec![r.name.to_owned()];
        row.extend(
            subjects
                .iter()
                .map(|s| cell(s.stat(r.key), r.decimals, none(s))),
        );
        for b in &bws {
            for p in &peers {
                let ratio = match (b.stat(r.key), p.stat(r.key)) {
                    (Some(x), Some(y)) if y.median > 0.0 => Some(x.median / y.median),
                    _ => None,
                };
                row.push(ratio.map_or("n/a".into(), |q| format!("{q:.2}")));
                ratios
                    .entry(b.name.clone())
                    .or_default()
                    .entry(p.name.clone())
                    .or_default()
                    .insert(r.key, ratio);
            }
        }
        match &r.goal {
            Some(g) => {
                row.push(g.text.to_owned());
                let bun_median = bun.and_then(|s| s.stat(r.key)).map(|s| s.median);
                for b in &bws {
                    let bw_median = b.stat(r.key).map(|s| s.median);
                    let bun_complete = bun.is_some_and(|s| s.complete_runs() == s.runs.len());
                    let v = verdict(g, bw_median, bun_median, bun.is_some(), bun_complete);
                    goals.push(json!({
                        "measure": r.key,
                        "goal": g.text,
                        "server": b.name,
                        "brainwrite_median": bw_median,
                        "bun_median": bun_median,
                        "verdict": v,
                    }));
                    row.push(v);
                }
            }
            None => {
                row.push("-".into());
                row.extend(bws.iter().map(|_| "-".to_owned()));
            }
        }
        rows.push(row);
    }
    // Whether every session completed, in every run.
    let mut row = vec!["runs with every session complete".to_owned()];
    row.extend(
        subjects
            .iter()
            .map(|s| format!("{}/{}", s.complete_runs(), s.runs.len())),
    );
    row.extend(
        bws.iter()
            .flat_map(|_| peers.iter().map(|_| "-".to_owned())),
    );
    row.push("every run".into());
    for b in &bws {
        let v = if b.complete_runs() == b.runs.len() {
            "met"
        } else {
            "NOT met"
        };
        goals.push(json!({
            "measure": "complete",
            "goal": "every session of every run completes",
            "server": b.name,
            "verdict": v,
        }));
        row.push(v.into());
    }
    rows.push(row);

    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::from("|");
        for (c, w) in cells.iter().zip(&widths) {
            let pad = w.saturating_sub(c.chars().count());
            let _ = write!(l, " {c}{} |", " ".repeat(pad));
        }
        let _ = writeln!(out, "{l}");
    };
    line(&header, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule, &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    for s in subjects {
        for (i, m) in s.runs.iter().enumerate() {
            if m.complete {
                continue;
            }
            let _ = writeln!(
                out,
                "note: {} run {}: {}/{} rooms passed every check; {} sockets held, {} failed; {} writes, {} acks{}{}",
                s.name,
                i + 1,
                m.rooms_ok,
                m.rooms,
                m.sockets.0,
                m.sockets.1,
                m.writes_acks.0,
                m.writes_acks.1,
                if m.failures.is_empty() { "" } else { "; e.g. " },
                m.failures.join("; "),
            );
        }
    }
    if peers.iter().any(|p| p.runs.iter().any(|m| m.peer_compat)) {
        let _ = writeln!(
            out,
            "note: same load for every server (same flags, so the same writes per participant and pings per room), but not the same work per write: brainwrite acks every write once applied (and, with a journal, once committed: the \"journal\" runs use the default SQLite journal, the others --memory); the peer stores it silently (no ack, no journal), so the load generator ran it with --peer-compat: no acks expected, the reveal checked against the texts sent"
        );
    }
    let loads: Vec<(Option<u64>, Option<u64>)> = subjects
        .iter()
        .flat_map(|s| &s.runs)
        .map(|m| m.load)
        .collect();
    if loads.windows(2).any(|w| w[0] != w[1]) {
        let _ = writeln!(
            out,
            "note: NOT the same load in every run (write interval, ping interval in ms): {loads:?}"
        );
    }
    if peers.iter().any(|p| p.complete_runs() < p.runs.len()) {
        let _ = writeln!(
            out,
            "note: a peer that fails the load generator's checks did less work than brainwrite (fewer sockets, no acks): its figures, and the ratios to them, are not like for like"
        );
    }
    let zero_cpu: Vec<&str> = subjects
        .iter()
        .filter(|s| {
            s.stat("cpu_us_per_delivered")
                .is_some_and(|x| x.median == 0.0)
        })
        .map(|s| s.name.as_str())
        .collect();
    if !zero_cpu.is_empty() {
        let _ = writeln!(
            out,
            "note: {}: no CPU tick counted in the window (/proc counts in clock ticks), so the CPU figures are 0: the run is too small to measure CPU",
            zero_cpu.join(", ")
        );
    }
    if subjects
        .iter()
        .flat_map(|s| &s.runs)
        .all(|m| m.ping_source.is_none())
    {
        let _ = writeln!(
            out,
            "note: no ping latency in the load generator's reports (pings off with --ping-interval-ms 0?), so there is no ping figure"
        );
    }
    let doc = json!({
        "summary": summary,
        "ratios_brainwrite_over_peer": ratios,
        "goals": goals,
        "judged_on": "medians over the runs of each server",
    });
    (out, doc)
}
