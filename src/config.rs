//! Server configuration: command-line flags with environment fallbacks (clap), and their
//! validation. Nothing here opens sockets or files.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Live 6-3-5 brainwriting: phones write, the server owns the clock and passes the sheets.
#[derive(Debug, Clone, Parser)]
#[command(name = "brainwrite", version, about)]
pub struct Config {
    /// Address and port to listen on. The default is reachable from phones on the same network.
    #[arg(long, env = "BRAINWRITE_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// Base URL that participants use (in join links and QR codes), e.g. behind a proxy:
    /// https://ideas.example.org. Default: taken from each request's Host header.
    #[arg(long, env = "BRAINWRITE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Keep rooms in memory only: nothing is written to disk and a restart loses them.
    #[arg(long, env = "BRAINWRITE_MEMORY", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub memory: bool,

    /// SQLite journal file where rooms are kept (with its -wal and -shm companions); created
    /// if missing; ignored with --memory.
    #[arg(long, env = "BRAINWRITE_DATA", default_value = "brainwrite.db")]
    pub data: PathBuf,

    /// Journal on PostgreSQL instead of the SQLite file, for several nodes on one database:
    /// postgres://USER@HOST/DB (see docs/scale-out.md). Default: the SQLite file at --data.
    #[arg(long, env = "BRAINWRITE_JOURNAL")]
    pub journal: Option<String>,

    /// This node's name in a PostgreSQL cluster, unique among the nodes. Default: the host
    /// name and the --bind port.
    #[arg(long, env = "BRAINWRITE_NODE_ID")]
    pub node_id: Option<String>,

    /// How long a node's lease on its rooms lasts after each renewal (renewed every second),
    /// in milliseconds; PostgreSQL journal only. Another node takes its rooms over once it
    /// has expired.
    #[arg(long, env = "BRAINWRITE_LEASE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1500..=600000))]
    pub lease_ms: u32,

    /// Browser origins allowed to open WebSockets besides the server's own (repeatable),
    /// e.g. https://intranet.example.org.
    #[arg(
        long = "allowed-origin",
        env = "BRAINWRITE_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Messages a connection's outgoing queue holds before the client counts as too slow and
    /// is disconnected (it can resume).
    #[arg(long, env = "BRAINWRITE_OUTBOX", default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..=65536))]
    pub outbox: u32,

    /// Largest WebSocket message a client may send, in bytes.
    #[arg(long, env = "BRAINWRITE_MAX_MESSAGE", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(256..=1048576))]
    pub max_message: u32,

    /// Most participants in one room.
    #[arg(long, env = "BRAINWRITE_MAX_PARTICIPANTS", default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=10000))]
    pub max_participants: u32,

    /// Most WebSocket connections held at once (the process's open-file limit must allow them).
    #[arg(long, env = "BRAINWRITE_MAX_CONNECTIONS", default_value_t = 30000, value_parser = clap::value_parser!(u32).range(1..=10000000))]
    pub max_connections: u32,

    /// Most WebSocket connections from one IP address. A classroom's phones often share one
    /// NAT address, so keep this well above the largest workshop.
    #[arg(long, env = "BRAINWRITE_MAX_CONNECTIONS_PER_IP", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10000000))]
    pub max_connections_per_ip: u32,

    /// Messages per second a connection may send on average (token bucket).
    #[arg(long, env = "BRAINWRITE_MESSAGES_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub messages_per_second: u32,

    /// Messages a connection may send in one burst above the average.
    #[arg(long, env = "BRAINWRITE_MESSAGE_BURST", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub message_burst: u32,

    /// Rooms one IP address may create per minute.
    #[arg(long, env = "BRAINWRITE_ROOMS_PER_MINUTE_PER_IP", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub rooms_per_minute_per_ip: u32,

    /// Bytes waiting for, or being written to, one socket before the client counts as slow.
    #[arg(long, env = "BRAINWRITE_MAX_WRITE_BUFFER", default_value_t = 262144, value_parser = clap::value_parser!(u32).range(16384..=67108864))]
    pub max_write_buffer: u32,

    /// Kernel send buffer of each client socket in bytes; 0 leaves it to the OS's autotuning
    /// (which may grow to megabytes per socket for a client that stops reading).
    #[arg(long, env = "BRAINWRITE_SOCKET_SEND_BUFFER", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=67108864))]
    pub socket_send_buffer: u32,

    /// Header that carries the client's address when behind a reverse proxy (e.g.
    /// X-Real-IP or X-Forwarded-For; for a list, the last address is used). Per-IP limits
    /// use it. Set it only behind a proxy that overwrites it.
    #[arg(long, env = "BRAINWRITE_REAL_IP_HEADER")]
    pub real_ip_header: Option<String>,

    /// Most rooms held at once.
    #[arg(long, env = "BRAINWRITE_MAX_ROOMS", default_value_t = 10000, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub max_rooms: u32,

    /// How long a finished room (or one with no activity) is kept before it is deleted with
    /// its data, e.g. 7d, 36h, 90m.
    #[arg(long, env = "BRAINWRITE_EXPIRE_AFTER", default_value = "7d", value_parser = humantime::parse_duration)]
    pub expire_after: std::time::Duration,

    /// Time a new WebSocket has to send its first message before it is closed.
    #[arg(long, env = "BRAINWRITE_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: std::time::Duration,

    /// Keepalive interval: a connection with no traffic either way for an interval is pinged;
    /// a peer silent for two intervals is dropped.
    #[arg(long, env = "BRAINWRITE_PING_INTERVAL", default_value = "25s", value_parser = humantime::parse_duration)]
    pub ping_interval: std::time::Duration,

    /// On SIGTERM, how long /readyz reports unready while the server keeps serving, before
    /// sockets are closed with 1012 (lets a load balancer move new people elsewhere).
    #[arg(long, env = "BRAINWRITE_SHUTDOWN_DRAIN", default_value = "1s", value_parser = humantime::parse_duration)]
    pub shutdown_drain: std::time::Duration,

    /// Threads that run rooms and their sockets (each room and all of its sockets on one
    /// thread); 0 means one per CPU core.
    #[arg(long, env = "BRAINWRITE_SHARDS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub shards: u32,

    /// Log format: "pretty" for people, "json" for log collectors.
    #[arg(long, env = "BRAINWRITE_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,
}

/// `http(s)://host[:port]` with a host and nothing after it.
fn is_origin(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest.parse::<axum::http::uri::Authority>().is_ok()
}

impl Config {
    /// The origin participants' browsers use when `--public-url` is set.
    pub fn public_origin(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// How many shard threads to start: `--shards`, or one per CPU core for 0.
    pub fn shard_count(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        }
    }

    /// The PostgreSQL URL of `--journal`, if the journal is on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.journal.as_deref().filter(|_| !self.memory)
    }

    /// This node's name: `--node-id`, or the host name and the port.
    pub fn node_name(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "brainwrite".to_owned());
            format!("{host}:{}", self.bind.port())
        })
    }

    /// Configuration for tests: loopback, ephemeral port, memory only.
    pub fn for_tests() -> Self {
        let mut c = Config::parse_from(["brainwrite", "--memory", "--bind", "127.0.0.1:0"]);
        c.allowed_origins.clear();
        c
    }

    /// Check values clap cannot; the error is one line.
    pub fn validate(&self) -> Result<(), String> {
        if self.shutdown_drain > std::time::Duration::from_secs(60) {
            return Err("--shutdown-drain must be at most 60s".into());
        }
        if self.handshake_timeout.is_zero() || self.ping_interval.is_zero() {
            return Err("--handshake-timeout and --ping-interval must be above zero".into());
        }
        if let Some(u) = &self.public_url
            && !is_origin(u.trim_end_matches('/'))
        {
            return Err(format!(
                "--public-url must look like https://host[:port] (no path: the pages live at the root), not {u:?}"
            ));
        }
        for o in &self.allowed_origins {
            if !is_origin(o) {
                return Err(format!(
                    "--allowed-origin must look like https://host[:port] with no path, not {o:?}"
                ));
            }
        }
        if let Some(j) = &self.journal
            && !(j.starts_with("postgres://") || j.starts_with("postgresql://"))
        {
            return Err(format!(
                "--journal must be a PostgreSQL URL like postgres://USER@HOST/DB, not {j:?} (the SQLite journal is --data)"
            ));
        }
        if self
            .node_id
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.len() > 200)
        {
            return Err("--node-id must be 1 to 200 characters".into());
        }
        if self.journal.is_some() && self.node_id.is_none() && self.bind.port() == 0 {
            return Err("with --journal on PostgreSQL and --bind port 0, set --node-id".into());
        }
        if let Some(h) = &self.real_ip_header
            && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(format!("--real-ip-header {h:?} is not a valid header name"));
        }
        Ok(())
    }
}
