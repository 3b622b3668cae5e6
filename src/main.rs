//! The `brainwrite` binary: parse and check the configuration, set up logging, open the
//! journal, bind, print where to open it, and run until SIGINT or SIGTERM. Everything else
//! lives in the library.
#![forbid(unsafe_code)]

/// mimalloc: frames are allocated by room tasks and freed by socket tasks on other threads,
/// which glibc's arenas handle poorly (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use brainwrite::{Config, Hub};

fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line: clap's first line, without its "error: " prefix.
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("brainwrite: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let Err(why) = config.validate() {
        eprintln!("brainwrite: {why}");
        return ExitCode::from(2);
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brainwrite: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let shutdown = CancellationToken::new();
    // The journal first: a bad --data fails before anything claims to be listening.
    let data = config.data.clone();
    let memory = config.memory;
    let bind = config.bind;
    let public = config.public_url.clone();
    let cluster = config
        .postgres_url()
        .map(|_| (config.node_name(), config.lease_ms));
    let hub = match Hub::start(config, shutdown.clone()).await {
        Ok(h) => h,
        Err(brainwrite::hub::OpenError::Store(e)) => {
            if cluster.is_some() {
                eprintln!("brainwrite: --journal: {e}");
            } else {
                eprintln!("brainwrite: --data {}: {e}", data.display());
            }
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("brainwrite: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("brainwrite: --bind {bind}: cannot listen: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("brainwrite: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_urls(addr, public.as_deref());
    if let Some((node, lease)) = &cluster {
        println!("rooms are journaled to PostgreSQL as node {node} (lease {lease} ms)");
    } else if memory {
        println!("rooms are kept in memory only (--memory): a restart loses them");
    } else {
        println!("rooms are journaled to {}", data.display());
    }
    tracing::info!(%addr, "listening");
    let draining = hub.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            drain = ?draining.config.shutdown_drain,
            "shutting down: unready now, then closing sockets with 1012"
        );
        draining.shut_down().await;
    });
    match brainwrite::serve(listener, hub).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brainwrite: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Print every URL the server can be opened at, and a QR code of the one phones should use.
fn print_urls(addr: SocketAddr, public: Option<&str>) {
    let port = addr.port();
    let mut urls: Vec<String> = Vec::new();
    if addr.ip().is_unspecified() {
        // Reachable on every interface: list the LAN addresses phones can use first.
        let mut lan: Vec<IpAddr> = if_addrs::get_if_addrs()
            .map(|ifs| {
                ifs.into_iter()
                    .filter(|i| !i.is_loopback())
                    .map(|i| i.ip())
                    .filter(|ip| ip.is_ipv4() || addr.is_ipv6())
                    .collect()
            })
            .unwrap_or_default();
        lan.sort();
        lan.dedup();
        urls.extend(lan.iter().map(|ip| url_of(*ip, port)));
        urls.push(format!("http://localhost:{port}"));
    } else {
        urls.push(url_of(addr.ip(), port));
    }
    println!("brainwrite listening on {}", urls[0]);
    for u in &urls[1..] {
        println!("                  also on {u}");
    }
    let phones = match public {
        Some(p) => {
            let p = p.trim_end_matches('/').to_owned();
            println!("participants reach it at {p} (--public-url)");
            p
        }
        None => urls[0].clone(),
    };
    println!("open {phones}/ to create a session");
    if std::io::stdout().is_terminal()
        && !phones.contains("localhost")
        && !phones.contains("127.0.0.1")
        && let Ok(qr) = qrcode::QrCode::new(format!("{phones}/").as_bytes())
    {
        let art = qr
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        println!("scan to open it on a phone:\n{art}");
    }
}

fn url_of(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("http://{v4}:{port}"),
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
