//! What the load generator counts and times: cumulative counters, latency histograms
//! (HdrHistogram, microseconds) and their transport between worker processes (hex of the
//! V2 serialisation inside JSON).
//!
//! It owns no timing policy: callers decide from which intended instant a latency counts.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// Cumulative counts of one worker (or, summed, of the whole run).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    /// Sockets whose role handshake completed.
    pub connected: u64,
    /// Sockets that could not connect or take their role.
    pub connect_failed: u64,
    /// Text frames sent by clients (messages into the server).
    pub sent: u64,
    /// Text frames received by clients (messages delivered by the server).
    pub received: u64,
    /// Bytes of text received.
    pub received_bytes: u64,
    /// `write` messages sent.
    pub writes: u64,
    /// `ack`s received.
    pub acks: u64,
    /// Writes refused with `not_writing` (sent too close to a deadline).
    pub late_writes: u64,
    /// Other `error` messages: a correctness failure.
    pub errors: u64,
    /// `sheet` messages received.
    pub sheets: u64,
    /// `reveal` messages received.
    pub reveals: u64,
    /// Sockets the server closed, or that failed, before the session ended.
    pub dropped: u64,
    /// Sheets handed over with fewer rows or ideas than a fully written session gives
    /// (only where writes were refused as late).
    pub short_sheets: u64,
    /// Rooms whose every check passed.
    pub rooms_ok: u64,
    /// Rooms with at least one failed check.
    pub rooms_failed: u64,
    /// Ideas found in the reveals checked by facilitators.
    pub ideas_revealed: u64,
    /// Timed `ping`s sent.
    pub pings: u64,
    /// `pong`s received for them.
    pub pongs: u64,
    /// CPU time (user + system) of the load generator's worker processes, µs: a saturated
    /// load generator measures itself, not the server.
    pub loadgen_cpu_us: u64,
}

impl Counters {
    /// Add another worker's counts.
    pub fn add(&mut self, o: &Counters) {
        self.connected += o.connected;
        self.connect_failed += o.connect_failed;
        self.sent += o.sent;
        self.received += o.received;
        self.received_bytes += o.received_bytes;
        self.writes += o.writes;
        self.acks += o.acks;
        self.late_writes += o.late_writes;
        self.errors += o.errors;
        self.sheets += o.sheets;
        self.reveals += o.reveals;
        self.dropped += o.dropped;
        self.short_sheets += o.short_sheets;
        self.rooms_ok += o.rooms_ok;
        self.rooms_failed += o.rooms_failed;
        self.ideas_revealed += o.ideas_revealed;
        self.pings += o.pings;
        self.pongs += o.pongs;
        self.loadgen_cpu_us += o.loadgen_cpu_us;
    }
}

/// A latency histogram in microseconds, 1 µs to an hour, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Record `us`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, us: i64) {
    let v = us.clamp(1, 3_600_000_000) as u64;
    h.record(v).expect("value clamped into range");
}

/// The per-round boundary histogram for the sheet of `round` (2 to 8), by name.
pub fn round_boundary_name(round: u32) -> Option<&'static str> {
    const NAMES: [&str; 7] = [
        "round_boundary_2",
        "round_boundary_3",
        "round_boundary_4",
        "round_boundary_5",
        "round_boundary_6",
        "round_boundary_7",
        "round_boundary_8",
    ];
    NAMES.get(round.checked_sub(2)? as usize).copied()
}

/// Every latency the load generator times, by name.
#[derive(Debug, Default)]
pub struct Hists(pub BTreeMap<&'static str, Histogram<u64>>);

/// Latency names, in report order, with what each measures.
pub const LATENCIES: &[(&str, &str)] = &[
    (
        "write_rtt",
        "write sent (intended instant) to its ack, coordinated-omission safe",
    ),
    (
        "write_rtt_steady",
        "the same, for writes meant more than 1 s after their round began (no boundary burst)",
    ),
    (
        "round_boundary",
        "a round's deadline to the moment the last member of the room has its next sheet",
    ),
    (
        "first_boundary",
        "round_boundary for the first boundary alone (round 1 to 2), where every server starts from the same spread of deadlines",
    ),
    (
        "round_boundary_2",
        "round_boundary for the boundary into round 2 alone",
    ),
    (
        "round_boundary_3",
        "round_boundary for the boundary into round 3 alone",
    ),
    (
        "round_boundary_4",
        "round_boundary for the boundary into round 4 alone",
    ),
    (
        "round_boundary_5",
        "round_boundary for the boundary into round 5 alone",
    ),
    (
        "round_boundary_6",
        "round_boundary for the boundary into round 6 alone",
    ),
    (
        "round_boundary_7",
        "round_boundary for the boundary into round 7 alone",
    ),
    (
        "round_boundary_8",
        "round_boundary for the boundary into round 8 alone",
    ),
    (
        "deadline_spread",
        "how far each room's first deadline lies after the common start plus one round: how bunched the rooms' boundaries are",
    ),
    (
        "member_sheet",
        "a round's deadline to each participant's next sheet",
    ),
    (
        "reveal",
        "the last deadline to the moment the last member of the room has the reveal",
    ),
    (
        "start",
        "the common start instant to the last member of the room holding its first sheet",
    ),
    (
        "ping",
        "ping sent (intended instant) to its pong, one socket per room at a fixed interval, coordinated-omission safe",
    ),
    (
        "ping_boundary",
        "the same, for pings in flight at some moment of the first second after a round's deadline (the boundary burst)",
    ),
    (
        "loadgen_lag",
        "how late the load generator's own 10 ms timer fires: above a few ms, it is the bottleneck",
    ),
    (
        "connect",
        "TCP connect + WebSocket upgrade + role handshake, per socket",
    ),
];

impl Hists {
    /// Empty histograms for every name.
    pub fn new() -> Self {
        Hists(LATENCIES.iter().map(|(n, _)| (*n, hist())).collect())
    }

    /// Record `us` under `name`.
    pub fn record(&mut self, name: &'static str, us: i64) {
        record(self.0.get_mut(name).expect("known latency name"), us);
    }

    /// Serialise every histogram to hex text.
    pub fn encode(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, h)| {
                let mut buf = Vec::new();
                V2Serializer::new()
                    .serialize(h, &mut buf)
                    .expect("serialise histogram");
                (k.to_string(), hex::encode(buf))
            })
            .collect()
    }

    /// Add histograms encoded by [`Hists::encode`].
    pub fn merge_encoded(&mut self, enc: &BTreeMap<String, String>) -> Result<(), String> {
        for (name, text) in enc {
            let bytes = hex::decode(text).map_err(|e| format!("{name}: {e}"))?;
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| format!("{name}: {e:?}"))?;
            let key = LATENCIES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, _)| *n)
                .ok_or_else(|| format!("unknown histogram {name}"))?;
            self.0
                .get_mut(key)
                .expect("known")
                .add(&h)
                .map_err(|e| format!("{name}: {e:?}"))?;
        }
        Ok(())
    }
}

/// Percentiles of one histogram, in milliseconds, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Summary {
    /// Summarise `h` (microseconds).
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Summary {
                count: 0,
                p50_ms: 0.0,
                p99_ms: 0.0,
                p999_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}
