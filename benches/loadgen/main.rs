//! # brainwrite load generator
//!
//! Speaks protocol v1 (docs/protocol.md) against a brainwrite server: creates `--rooms` rooms
//! of `--participants` participants plus a facilitator and `--boards` boards each, connects
//! them all, starts every room at the same instant, has every participant write its ideas
//! with typing-like draft updates, runs every session to the reveal and checks, as it goes,
//! that every sheet arrived and every written idea is in the reveal. It reports connections
//! held, server RSS per connection and CPU per delivered message (from `/proc`), latencies
//! (HdrHistogram, coordinated-omission safe) and message rates, as a table and as JSON.
//!
//! ```text
//! cargo build --release
//! cargo bench --bench loadgen                       # quick: 50 rooms, 2 rounds of 2 s
//! cargo bench --bench loadgen -- --rooms 2375 --participants 6 --rounds 2 \
//!     --round-seconds 10 --write-rate 10000         # 19,000 sockets
//! ```
//!
//! # Layout
//! - `coordinator`: the parent process. Spawns (or finds) the server, creates rooms, spawns
//!   workers, names the common start instant, samples `/proc`, and reports.
//! - `worker`: a child process (this binary with `--worker`) driving whole rooms on one
//!   thread; several of them exceed one process's descriptor limit.
//! - `client`: one simulated participant, facilitator or board per socket.
//! - `wire`: the protocol messages as a client reads and writes them.
//! - `plan`: coordinator ⇄ worker messages (JSON lines on stdin/stdout).
//! - `stats`: counters and histograms; `procfs`: server RSS and CPU; `report`: table, JSON.
//!
//! With `--peer-compat` it speaks the dialect of the reference peer in `../shared/peers`
//! (see [`Args::peer_compat`]), so the same sessions can be run against it.
//!
//! Traffic goes only to the server given (a loopback address unless told otherwise); every
//! loop is bounded in count and time, so a run ends by itself.

mod child;
mod client;
mod coordinator;
mod cputime;
mod plan;
mod procfs;
mod report;
mod stats;
mod wire;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Load generator for brainwrite: whole 6-3-5 sessions over real WebSockets.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen")]
pub struct Args {
    /// Base URL of a running server, e.g. http://127.0.0.1:8080. Without it, the server
    /// binary is spawned (see --spawn-server).
    #[arg(long)]
    pub url: Option<String>,

    /// Base URL of one node of a cluster (repeatable, instead of --url): room i is created
    /// on and driven at node i mod n, as a consistent hash of the room code spreads rooms
    /// over the nodes. The report's server figures (RSS, CPU) are then n/a: measure the
    /// nodes from outside (`benches/cluster_load.rs` does).
    #[arg(long = "cluster-url")]
    pub cluster_urls: Vec<String>,

    /// Pid of the server at --url, for RSS and CPU from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Server binary to spawn (with --memory on a free loopback port, its descriptor limit
    /// raised to the hard limit) when no --url is given.
    #[arg(long, default_value = "target/release/brainwrite")]
    pub spawn_server: PathBuf,

    /// Spawn the server with its default journal (SQLite, a fresh file under
    /// target/loadgen/) instead of --memory: every acknowledged write is then on disk, and a
    /// round boundary includes its group commit.
    #[arg(long)]
    pub server_journal: bool,

    /// Extra argument for the spawned server (repeatable), e.g. --server-arg=--outbox=512.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,

    /// Rooms.
    #[arg(long, default_value_t = 50)]
    pub rooms: u32,

    /// Participants per room.
    #[arg(long, default_value_t = 6)]
    pub participants: u32,

    /// Board sockets per room (a facilitator socket is always added).
    #[arg(long, default_value_t = 1)]
    pub boards: u32,

    /// Rounds per session (the room's `rounds` option); 0 for as many as the rings allow
    /// (6 for a room of 6: the full 108-idea session).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,

    /// Round length in seconds.
    #[arg(long, default_value_t = 2)]
    pub round_seconds: u32,

    /// Slots per row.
    #[arg(long, default_value_t = 3)]
    pub ideas_per_round: u32,

    /// Ring size.
    #[arg(long, default_value_t = 6)]
    pub group_size: u32,

    /// Each participant sends a write every this many ms while a round runs (default: every
    /// 2 s, or faster if the round is too short to fill every slot).
    #[arg(long)]
    pub write_interval_ms: Option<u64>,

    /// Aggregate writes per second over all participants (sets --write-interval-ms).
    #[arg(long)]
    pub write_rate: Option<f64>,

    /// No write is sent later than this before a round's deadline, ms.
    #[arg(long, default_value_t = 400)]
    pub guard_ms: u64,

    /// Worker processes (default: enough to stay within the descriptor limit).
    #[arg(long)]
    pub workers: Option<u32>,

    /// Most sockets one worker holds when --workers is not given.
    #[arg(long, default_value_t = 10_000)]
    pub sockets_per_worker: u32,

    /// Client sockets bind to 127.0.0.2, 127.0.0.3, … (this many), so that loopback
    /// ephemeral ports do not run out and no address exceeds the server's connections per
    /// IP (default: one address per 900 sockets, at least 4).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_addrs: Option<u8>,

    /// Sockets connecting at once, per worker.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,

    /// Give up connecting after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub connect_timeout: u64,

    /// Pause between "everyone is connected" and the common start, ms.
    #[arg(long, default_value_t = 1500)]
    pub start_delay_ms: u64,

    /// Pause before measuring idle RSS once everyone is connected, ms.
    #[arg(long, default_value_t = 2000)]
    pub idle_settle_ms: u64,

    /// One socket per room (its first board; the facilitator when there are no boards) sends
    /// `ping` every this many ms from the common start until it has the reveal, and times
    /// each `pong` (`latency_ms.ping`, and `ping_boundary` for those in flight in the first
    /// second after a round's deadline); 0 for none.
    #[arg(long, default_value_t = 1000)]
    pub ping_interval_ms: u64,

    /// Speak the peer's dialect of protocol v1 (`../shared/peers/node/server.js`): a board is
    /// welcomed as role "watcher", writes are never acked (participants write on the same
    /// schedule without them, so there is no write round trip; the reveal must hold the
    /// last text sent to every slot, less writes refused as late), a late write is refused
    /// without its seq, and `rounds` may be null in the lobby. Everything else is checked
    /// as usual.
    #[arg(long)]
    pub peer_compat: bool,

    /// Write the JSON report here (default: target/loadgen/<time>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// A label for the report.
    #[arg(long)]
    pub label: Option<String>,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,

    /// Internal: run as a worker process reading its plan from stdin.
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// Now, epoch milliseconds.
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// Now, epoch microseconds.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Raise the soft descriptor limit to the hard one; returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|_| {
        rlimit::Resource::NOFILE
            .get()
            .map(|(soft, _)| soft)
            .unwrap_or(1024)
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.worker {
        return match worker::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match coordinator::run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: some checks failed (see the report)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
