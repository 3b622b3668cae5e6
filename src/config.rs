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
    #[arg(long, env = "BRAINWRITE_MEMORY")]
    pub memory: bool,

    /// SQLite journal file.
    #[arg(long, env = "BRAINWRITE_DATA", default_value = "brainwrite.db")]
    pub data: PathBuf,

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

    /// Most rooms held at once.
    #[arg(long, env = "BRAINWRITE_MAX_ROOMS", default_value_t = 10000, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub max_rooms: u32,

    /// How long a finished room (or one with no activity) is kept before it is deleted with
    /// its data, e.g. 7d, 36h, 90m.
    #[arg(long, env = "BRAINWRITE_EXPIRE_AFTER", default_value = "7d", value_parser = humantime::parse_duration)]
    pub expire_after: std::time::Duration,

    /// Log format: "pretty" for people, "json" for log collectors.
    #[arg(long, env = "BRAINWRITE_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,
}

impl Config {
    /// Configuration for tests: loopback, ephemeral port, memory only.
    pub fn for_tests() -> Self {
        let mut c = Config::parse_from(["brainwrite", "--memory", "--bind", "127.0.0.1:0"]);
        c.allowed_origins.clear();
        c
    }

    /// Check values clap cannot; the error is one line.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "--public-url must start with http:// or https://, not {u:?}"
            ));
        }
        for o in &self.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(format!(
                    "--allowed-origin must look like https://host[:port] with no path, not {o:?}"
                ));
            }
        }
        Ok(())
    }
}
