//! The conversation between the coordinator and its worker processes: one JSON object per
//! line, the plan and commands on the worker's stdin, reports on its stdout.
//!
//! Only the shapes live here; who sends what when is in `coordinator.rs` and `worker.rs`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::stats::Counters;

/// One room a worker drives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomPlan {
    /// Index of the room in the whole run (used in idea texts and ids).
    pub index: usize,
    /// Room code.
    pub code: String,
    /// Facilitator token.
    pub token: String,
    /// The node (host:port) this room was created on and is driven at, with
    /// `--cluster-url`; `None` for the plan's server.
    #[serde(default)]
    pub server: Option<String>,
}

/// Everything a worker needs, sent as the first line of its stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    /// Worker number.
    pub id: u32,
    /// Server host:port.
    pub server: String,
    /// The rooms, each driven whole by this worker.
    pub rooms: Vec<RoomPlan>,
    /// Participants per room.
    pub participants: u32,
    /// Boards per room.
    pub boards: u32,
    /// Slots per row.
    pub ideas_per_round: u32,
    /// Round length, ms.
    pub round_ms: u64,
    /// Each participant writes every this many ms while a round runs.
    pub write_interval_ms: u64,
    /// No write is sent later than this before a deadline.
    pub guard_ms: u64,
    /// Participants before this worker's first (spreads write phases over the whole run).
    pub participant_offset: u64,
    /// Participants in the whole run.
    pub participants_total: u64,
    /// Client sockets bind to these source addresses, round-robin.
    pub source_addrs: Vec<Ipv4Addr>,
    /// Sockets connecting at once.
    pub connect_concurrency: usize,
    /// Give up connecting after this many ms.
    pub connect_timeout_ms: u64,
    /// Session length the worker should expect after the start, ms (bounds its loops).
    pub session_ms: u64,
    /// Rooms in the whole run (spreads ping phases over the whole run).
    pub rooms_total: u64,
    /// The pinging socket of each room pings every this many ms; 0 for none.
    pub ping_interval_ms: u64,
    /// Speak the reference peer's dialect (see `Args::peer_compat`).
    pub peer_compat: bool,
}

/// A command from the coordinator, after the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Start every room at this epoch millisecond.
    Go {
        /// The common start instant.
        at_ms: u64,
    },
    /// Close every socket and report.
    Close,
}

/// A report from a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// Every socket has its role (or has failed).
    Ready {
        /// Counts so far.
        counters: Counters,
    },
    /// Cumulative counts at an epoch second.
    Tick {
        /// The second, epoch ms.
        t_ms: u64,
        /// Counts so far.
        counters: Counters,
    },
    /// Every room has finished (revealed, failed or timed out).
    Revealed {
        /// When the last reveal arrived, epoch ms.
        last_reveal_ms: u64,
        /// Counts so far.
        counters: Counters,
    },
    /// Final counts and histograms; the worker then exits.
    Done {
        /// Final counts.
        counters: Counters,
        /// Histograms, hex of their V2 serialisation.
        hists: BTreeMap<String, String>,
        /// Failures, a few examples each.
        failures: Vec<String>,
        /// Planned rounds seen in `room` messages.
        rounds: u32,
    },
}
