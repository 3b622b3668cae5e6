//! Process-wide metrics in Prometheus text format (prometheus-client, the Prometheus
//! project's own Rust client): counters, gauges and histograms, plus `GET /metrics`.
//!
//! Recording is a few atomic operations and never blocks; nothing here knows about rooms
//! beyond the numbers it is handed.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Rooms held, by phase.
    pub rooms: Family<Labels, Gauge>,
    /// Participants in all rooms.
    pub participants: Gauge,
    /// Client messages received.
    pub messages_in: Counter,
    /// Server messages queued to clients.
    pub messages_out: Counter,
    /// Client messages rejected, by error code.
    pub rejected: Family<Labels, Counter>,
    /// Connections closed because they fell behind.
    pub slow_disconnects: Counter,
    /// Journal commit latency, seconds.
    pub journal_commit: Histogram,
    /// Requests per journal commit.
    pub journal_batch: Histogram,
    /// From a round's deadline to every new sheet of the room queued, seconds.
    pub round_delivery: Histogram,
    /// Rooms created.
    pub rooms_created: Counter,
    /// Rooms this node owns in the cluster (PostgreSQL journal only).
    pub rooms_owned: Gauge,
    /// Rooms this node took over from a node whose lease had expired, or that was no longer
    /// connected to the database when a request for the room came here.
    pub takeovers: Counter,
    /// Rooms this node took from a live owner because a request for them came here, by
    /// `kind`: `cooperative` (the owner committed and released the room when asked) or
    /// `forced` (it did not answer in time and the room was claimed; fencing keeps it safe).
    pub handoffs: Family<Labels, Counter>,
    /// Appends refused because another node had taken the room over.
    pub fenced_appends: Counter,
}

/// The metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("brainwrite");
    let m = Metrics {
        connections: Gauge::default(),
        rooms: Family::default(),
        participants: Gauge::default(),
        messages_in: Counter::default(),
        messages_out: Counter::default(),
        rejected: Family::default(),
        slow_disconnects: Counter::default(),
        journal_commit: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
        journal_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
        round_delivery: Histogram::new(exponential_buckets(0.000_5, 1.25, 40)),
        rooms_created: Counter::default(),
        rooms_owned: Gauge::default(),
        takeovers: Counter::default(),
        handoffs: Family::default(),
        fenced_appends: Counter::default(),
        registry: Registry::default(),
    };
    registry.register(
        "connections",
        "Open WebSocket connections",
        m.connections.clone(),
    );
    registry.register("rooms", "Rooms held, by phase", m.rooms.clone());
    registry.register(
        "participants",
        "Participants in all rooms",
        m.participants.clone(),
    );
    registry.register(
        "messages_in",
        "Client messages received",
        m.messages_in.clone(),
    );
    registry.register(
        "messages_out",
        "Server messages queued to clients",
        m.messages_out.clone(),
    );
    registry.register(
        "rejected_messages",
        "Client messages rejected, by code",
        m.rejected.clone(),
    );
    registry.register(
        "slow_client_disconnects",
        "Connections closed because they fell behind",
        m.slow_disconnects.clone(),
    );
    registry.register(
        "journal_commit_seconds",
        "Journal commit latency",
        m.journal_commit.clone(),
    );
    registry.register(
        "journal_batch_requests",
        "Requests committed per journal transaction",
        m.journal_batch.clone(),
    );
    registry.register(
        "round_delivery_seconds",
        "From a round's deadline until every member's next sheet (or the reveal) is written to its socket (or queued, for what the socket did not take)",
        m.round_delivery.clone(),
    );
    registry.register("rooms_created", "Rooms created", m.rooms_created.clone());
    registry.register(
        "cluster_rooms_owned",
        "Rooms this node owns in the cluster",
        m.rooms_owned.clone(),
    );
    registry.register(
        "cluster_takeovers",
        "Rooms taken over from a node whose lease had expired or that had no database session",
        m.takeovers.clone(),
    );
    registry.register(
        "cluster_handoffs",
        "Rooms taken from a live owner because their requests come here, by kind \
         (cooperative: released by the owner when asked; forced: claimed after no answer)",
        m.handoffs.clone(),
    );
    registry.register(
        "cluster_fenced_appends",
        "Appends refused because another node owns the room now",
        m.fenced_appends.clone(),
    );
    // Both kinds are exported from the start, at 0.
    for kind in ["cooperative", "forced"] {
        m.handoffs.get_or_create(&[("kind", kind)]).inc_by(0);
    }
    Metrics { registry, ..m }
});

/// Record one journal commit.
pub fn journal_commit(took: Duration, requests: usize) {
    METRICS.journal_commit.observe(took.as_secs_f64());
    METRICS.journal_batch.observe(requests as f64);
}

/// Record a rejected client message.
pub fn rejected(code: &'static str) {
    METRICS.rejected.get_or_create(&[("code", code)]).inc();
}

/// Move one room from one phase to another (`None` for created / removed).
pub fn room_phase(from: Option<&'static str>, to: Option<&'static str>) {
    if let Some(f) = from {
        METRICS.rooms.get_or_create(&[("phase", f)]).dec();
    }
    if let Some(t) = to {
        METRICS.rooms.get_or_create(&[("phase", t)]).inc();
    }
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &METRICS.registry);
    out
}
