//! The real `brainwrite` binary and its configuration: `--help` explains every flag and its
//! environment variable; bad values fail at once with one line naming the flag and start
//! nothing; good flags and their environment forms start a server that prints where it
//! listens and behaves as configured (public URL, limits, allowed origins, JSON logs); SIGTERM
//! closes sockets with 1012 and exits cleanly.
//!
//! Every test runs the binary as a child process (`CARGO_BIN_EXE_brainwrite`) on loopback,
//! never the in-process server, and kills it on drop.

mod common;

use common::TempDir;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long the binary may take to start listening, or to give up on bad configuration.
const START: Duration = Duration::from_secs(10);
/// How long a test waits for one expected WebSocket message.
const WAIT: Duration = Duration::from_secs(5);

/// Every flag with the environment variable that sets it.
const FLAGS: &[(&str, &str)] = &[
    ("--bind", "BRAINWRITE_BIND"),
    ("--public-url", "BRAINWRITE_PUBLIC_URL"),
    ("--memory", "BRAINWRITE_MEMORY"),
    ("--data", "BRAINWRITE_DATA"),
    ("--allowed-origin", "BRAINWRITE_ALLOWED_ORIGINS"),
    ("--outbox", "BRAINWRITE_OUTBOX"),
    ("--max-message", "BRAINWRITE_MAX_MESSAGE"),
    ("--max-participants", "BRAINWRITE_MAX_PARTICIPANTS"),
    ("--max-rooms", "BRAINWRITE_MAX_ROOMS"),
    ("--expire-after", "BRAINWRITE_EXPIRE_AFTER"),
    ("--log-format", "BRAINWRITE_LOG_FORMAT"),
];

/// A running `brainwrite` child process, killed on drop.
struct Brainwrite {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Brainwrite {
    /// Start the binary with these arguments and environment variables (and no other
    /// `BRAINWRITE_*` variable from the test's own environment).
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_brainwrite"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("BRAINWRITE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("RUST_LOG")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the brainwrite binary starts");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Brainwrite {
            child,
            stdout,
            stdout_seen: Vec::new(),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait for the `brainwrite listening on http://ADDR` line; returns ADDR.
    fn listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + START;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.stdout_seen.push(line.clone());
                    if let Some(url) = line.strip_prefix("brainwrite listening on http://") {
                        return url
                            .trim()
                            .trim_end_matches('/')
                            .parse()
                            .unwrap_or_else(|e| panic!("unreadable address in {line:?}: {e}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "no listening line within {START:?}; stdout {:?}, stderr {:?}",
                    self.stdout_seen,
                    self.stderr()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                    panic!(
                        "brainwrite exited before listening ({:?}); stdout {:?}, stderr {:?}",
                        self.child.try_wait(),
                        self.stdout_seen,
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Wait for the process to exit on its own; `None` if it is still running after `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything printed on stdout until it closed (call after the process exited).
    fn all_stdout(&mut self) -> Vec<String> {
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            self.stdout_seen.push(line);
        }
        self.stdout_seen.clone()
    }

    /// stderr after the process exited, once the reader thread has drained the pipe.
    fn final_stderr(&self) -> String {
        let mut last = self.stderr();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(10));
            let now = self.stderr();
            if now == last && !now.is_empty() {
                break;
            }
            last = now;
        }
        last
    }

    fn sigterm(&self) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("sh runs kill");
        assert!(status.success(), "kill -TERM failed");
    }
}

impl Drop for Brainwrite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether we run in CI, where a missing tool is a failure rather than a skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run the binary expecting it to refuse its configuration: it exits with status 2 within
/// [`START`], prints nothing on stdout, and says why on one line of stderr. Returns that line.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut bw = Brainwrite::spawn(args, env);
    let what = format!("args {args:?} env {env:?}");
    let Some(status) = bw.exit_within(START) else {
        panic!(
            "{what}: still running after {START:?} instead of refusing; stdout {:?}",
            bw.all_stdout()
        );
    };
    let stdout = bw.all_stdout();
    let stderr = bw.final_stderr();
    assert_eq!(
        status.code(),
        Some(2),
        "{what}: status {status}, stderr {stderr:?}"
    );
    assert!(stdout.is_empty(), "{what}: printed {stdout:?}");
    reason_line(&stderr, &what)
}

/// The one line of stderr that gives the reason. clap's own errors may add its generic hints
/// (`[possible values: …]`, `Usage: …`, `For more information, try '--help'.`) after it; the reason itself
/// is never spread over several lines.
fn reason_line(stderr: &str, what: &str) -> String {
    let mut lines = stderr.lines().filter(|l| !l.trim().is_empty());
    let reason = lines
        .next()
        .unwrap_or_else(|| panic!("{what}: nothing on stderr"))
        .to_owned();
    assert!(
        reason.starts_with("brainwrite: ") || reason.starts_with("error: "),
        "{what}: the reason line is {reason:?}"
    );
    for extra in lines {
        assert!(
            extra.starts_with("For more information, try '--help'")
                || extra.starts_with("Usage: ")
                || extra.trim_start().starts_with("[possible values:"),
            "{what}: the reason spreads over more than one line: {stderr:?}"
        );
    }
    reason
}

async fn create_room(base: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/rooms"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open a WebSocket, optionally with the Origin header a browser would send.
async fn ws_connect(
    url: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(o).unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next JSON message of type `ty`, skipping others.
async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == ty {
                    return v;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("waiting for {ty}: {other:?}"),
        }
    }
}

/// Read until the socket closes; returns the close code.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("the socket did not close within {WAIT:?}"),
        }
    }
}

/// The options `--help` lists: (flag, its explanation with the `[env: …]` and `[default: …]`
/// notes). clap prints each option on one line and its explanation on the next.
fn help_options(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("-h, ")
            .or(t.strip_prefix("-V, "))
            .unwrap_or(t);
        if t.starts_with("--") {
            let flag = t.split_whitespace().next().unwrap().to_owned();
            options.push((flag, String::new()));
        } else if let Some((_, text)) = options.last_mut() {
            text.push_str(t);
            text.push(' ');
        }
    }
    options
}

/// The variable in an explanation's `[env: NAME=]` note.
fn env_var(explanation: &str) -> Option<&str> {
    let from = explanation.find("[env: ")? + "[env: ".len();
    let len = explanation[from..].find('=')?;
    Some(&explanation[from..from + len])
}

fn help_text() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_brainwrite"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let help = help_text();
    let options = help_options(&help);
    for (flag, var) in FLAGS {
        let Some((_, text)) = options.iter().find(|(f, _)| f == flag) else {
            panic!("--help does not list {flag}:\n{help}");
        };
        assert_eq!(env_var(text), Some(*var), "{flag}: {text}");
    }
    // Every option but --help and --version has an environment variable and says what it
    // does in a few words at least.
    for (flag, text) in &options {
        if flag == "--help" || flag == "--version" {
            continue;
        }
        let var = env_var(text).unwrap_or_else(|| panic!("{flag} has no environment variable"));
        assert!(var.starts_with("BRAINWRITE_"), "{flag}: {var}");
        let explanation = &text[..text.find("[env: ").unwrap()];
        assert!(
            explanation.split_whitespace().count() >= 3,
            "--help does not explain {flag}: {text:?}"
        );
    }
    for default in [
        "0.0.0.0:8080",
        "brainwrite.db",
        "256",
        "8192",
        "200",
        "10000",
        "7d",
    ] {
        assert!(
            help.contains(default),
            "--help does not show the default {default}"
        );
    }

    let out = Command::new(env!("CARGO_BIN_EXE_brainwrite"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let version = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        version.trim(),
        format!("brainwrite {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_values_fail_at_once_with_one_line_naming_the_flag_and_start_nothing() {
    // (flag arguments, environment, what the reason line must contain)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (&["--bind", "nonsense"], &[], &["--bind", "nonsense"]),
        (&["--bind", "127.0.0.1:99999"], &[], &["--bind", "99999"]),
        (&["--outbox", "1"], &[], &["--outbox", "1"]),
        (&["--outbox", "many"], &[], &["--outbox", "many"]),
        (&["--max-message", "10"], &[], &["--max-message", "10"]),
        (&["--max-participants", "1"], &[], &["--max-participants"]),
        (&["--max-rooms", "0"], &[], &["--max-rooms"]),
        (
            &["--public-url", "ftp://x"],
            &[],
            &["--public-url", "ftp://x"],
        ),
        (
            &["--public-url", "ideas.example.org"],
            &[],
            &["--public-url", "ideas.example.org"],
        ),
        (
            &["--allowed-origin", "https://x/"],
            &[],
            &["--allowed-origin", "https://x/"],
        ),
        (
            &["--allowed-origin", "intranet.example.org"],
            &[],
            &["--allowed-origin", "intranet.example.org"],
        ),
        (&["--log-format", "xml"], &[], &["--log-format", "xml"]),
        (
            &["--expire-after", "soon"],
            &[],
            &["--expire-after", "soon"],
        ),
        (&["--max-connections", "0"], &[], &["--max-connections"]),
        (&["--max-write-buffer", "1"], &[], &["--max-write-buffer"]),
        (
            &["--ping-interval", "often"],
            &[],
            &["--ping-interval", "often"],
        ),
        (&["--no-such-flag"], &[], &["--no-such-flag"]),
        (&[], &[("BRAINWRITE_BIND", "bad")], &["--bind", "bad"]),
        (&[], &[("BRAINWRITE_OUTBOX", "1")], &["--outbox", "1"]),
        (
            &[],
            &[("BRAINWRITE_MAX_MESSAGE", "10")],
            &["--max-message", "10"],
        ),
        (
            &[],
            &[("BRAINWRITE_PUBLIC_URL", "ftp://x")],
            &["--public-url", "ftp://x"],
        ),
        (
            &[],
            &[("BRAINWRITE_ALLOWED_ORIGINS", "https://a.example,https://x/")],
            &["--allowed-origin", "https://x/"],
        ),
        (
            &[],
            &[("BRAINWRITE_LOG_FORMAT", "xml")],
            &["--log-format", "xml"],
        ),
    ];
    for (args, env, needles) in cases {
        // Were it to start anyway, it would listen here: check afterwards that nothing does.
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut full: Vec<&str> = vec!["--memory"];
        let sets_bind =
            args.contains(&"--bind") || env.iter().any(|(k, _)| *k == "BRAINWRITE_BIND");
        if !sets_bind {
            full.extend(["--bind", &bind]);
        }
        full.extend(args.iter());
        let started = Instant::now();
        let reason = refused(&full, env);
        for needle in *needles {
            assert!(
                reason.contains(needle),
                "args {args:?} env {env:?}: the reason {reason:?} does not name {needle:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "args {args:?} env {env:?}: took {:?} to refuse",
            started.elapsed()
        );
        if !sets_bind {
            assert!(
                TcpStream::connect(&bind).is_err(),
                "args {args:?} env {env:?}: something listens on {bind}"
            );
        }
    }
}

#[test]
fn a_port_in_use_fails_with_one_line_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut bw = Brainwrite::spawn(&["--memory", "--bind", &addr], &[]);
    let status = bw.exit_within(START).expect("exits when the port is taken");
    assert!(!status.success());
    assert!(bw.all_stdout().is_empty());
    let stderr = bw.final_stderr();
    let reason = reason_line(&stderr, "port in use");
    assert!(reason.starts_with("brainwrite: "), "{reason:?}");
    assert!(reason.contains(&addr), "{reason:?} does not name {addr}");
}

#[tokio::test]
async fn loopback_memory_starts_and_prints_the_listening_url() {
    let mut bw = Brainwrite::spawn(&["--bind", "127.0.0.1:0", "--memory"], &[]);
    let addr = bw.listening();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let base = format!("http://{addr}");

    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status":"ok"}));
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("<html"));

    // Without --public-url, links follow the address the request came to.
    let (status, room) = create_room(&base, json!({"topic":"Lunch ideas"})).await;
    assert_eq!(status, 201, "{room}");
    let code = room["code"].as_str().unwrap();
    assert_eq!(room["join_url"], format!("{base}/r/{code}"));
}

#[tokio::test]
async fn public_url_makes_the_join_links_and_the_flag_beats_the_environment() {
    let mut bw = Brainwrite::spawn(
        &[
            "--bind",
            "127.0.0.1:0",
            "--memory",
            "--public-url",
            "https://ideas.example.org",
        ],
        &[("BRAINWRITE_PUBLIC_URL", "https://env.example.org")],
    );
    let base = format!("http://{}", bw.listening());
    let (status, room) = create_room(&base, json!({"topic":"Team offsite"})).await;
    assert_eq!(status, 201, "{room}");
    let code = room["code"].as_str().unwrap();
    let token = room["facilitator_token"].as_str().unwrap();
    assert_eq!(
        room["join_url"],
        format!("https://ideas.example.org/r/{code}")
    );
    assert_eq!(
        room["facilitate_url"],
        format!("https://ideas.example.org/f/{code}#{token}")
    );
    let qr = reqwest::get(format!("{base}/api/rooms/{code}/qr.svg"))
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");

    // A trailing slash does not double in the links.
    let mut bw = Brainwrite::spawn(
        &["--bind", "127.0.0.1:0", "--memory"],
        &[("BRAINWRITE_PUBLIC_URL", "https://ideas.example.org/")],
    );
    let base = format!("http://{}", bw.listening());
    let (_, room) = create_room(&base, json!({"topic":"Team offsite"})).await;
    let code = room["code"].as_str().unwrap();
    assert_eq!(
        room["join_url"],
        format!("https://ideas.example.org/r/{code}")
    );
}

#[tokio::test]
async fn environment_variables_configure_bind_limits_and_allowed_origins() {
    let mut bw = Brainwrite::spawn(
        &[],
        &[
            ("BRAINWRITE_BIND", "127.0.0.1:0"),
            ("BRAINWRITE_MEMORY", "true"),
            ("BRAINWRITE_MAX_ROOMS", "1"),
            ("BRAINWRITE_MAX_PARTICIPANTS", "2"),
            (
                "BRAINWRITE_ALLOWED_ORIGINS",
                "https://a.example.org,https://b.example.org:8443",
            ),
        ],
    );
    let addr = bw.listening();
    assert!(addr.ip().is_loopback(), "{addr}");
    let base = format!("http://{addr}");

    // --max-rooms
    let (status, room) = create_room(&base, json!({"topic":"one"})).await;
    assert_eq!(status, 201, "{room}");
    let code = room["code"].as_str().unwrap().to_owned();
    let (status, full) = create_room(&base, json!({"topic":"two"})).await;
    assert_eq!(status, 503, "{full}");
    assert_eq!(full["error"]["code"], "too_many_rooms");

    // --allowed-origin, as a comma-separated list: listed origins and the server's own may
    // open sockets, others may not.
    let ws_url = format!("ws://{addr}/ws/{code}");
    let own = format!("http://{addr}");
    let mut people = Vec::new();
    for origin in ["https://b.example.org:8443", own.as_str()] {
        let mut ws = ws_connect(&ws_url, Some(origin))
            .await
            .unwrap_or_else(|e| panic!("origin {origin} refused: {e}"));
        send(&mut ws, json!({"type":"join","name":origin})).await;
        assert_eq!(recv_type(&mut ws, "welcome").await["role"], "participant");
        people.push(ws);
    }
    match ws_connect(&ws_url, Some("https://evil.example.org")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a foreign origin got {:?}", other.map(|_| "a socket")),
    }

    // --max-participants: the third is turned away, and its socket stays open.
    let mut third = ws_connect(&ws_url, Some("https://a.example.org"))
        .await
        .unwrap();
    send(&mut third, json!({"type":"join","name":"third"})).await;
    assert_eq!(recv_type(&mut third, "error").await["code"], "room_full");
    send(&mut third, json!({"type":"ping"})).await;
    recv_type(&mut third, "pong").await;
}

/// Start with `--max-message 256`, check a message under the limit is answered, send one
/// over it and return the close code the server sends.
async fn close_code_for_an_oversized_message() -> Option<u16> {
    let mut bw = Brainwrite::spawn(
        &["--bind", "127.0.0.1:0", "--memory", "--max-message", "256"],
        &[],
    );
    let addr = bw.listening();
    let (_, room) = create_room(&format!("http://{addr}"), json!({"topic":"big"})).await;
    let code = room["code"].as_str().unwrap();
    let mut ws = ws_connect(&format!("ws://{addr}/ws/{code}"), None)
        .await
        .unwrap();
    send(&mut ws, json!({"type":"join","name":"Ann"})).await;
    recv_type(&mut ws, "welcome").await;
    // Under the limit (JSON may carry whitespace): answered.
    let padded = |n: usize| format!("{{\"type\":\"ping\"}}{}", " ".repeat(n));
    ws.send(Message::text(padded(200))).await.unwrap();
    recv_type(&mut ws, "pong").await;
    // Over it: closed, without an answer.
    let _ = ws.send(Message::text(padded(1000))).await;
    close_code(&mut ws).await
}

#[tokio::test]
async fn max_message_closes_an_oversized_message_with_1009() {
    assert_eq!(close_code_for_an_oversized_message().await, Some(1009));
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let mut bw = Brainwrite::spawn(
        &["--bind", "127.0.0.1:0", "--memory", "--log-format", "json"],
        &[("RUST_LOG", "info")],
    );
    bw.listening();
    let deadline = Instant::now() + START;
    let stderr = loop {
        let s = bw.stderr();
        if s.contains('\n') || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "no log line on stderr");
    for line in lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line {line:?} is not JSON: {e}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1012_and_exits_cleanly() {
    let mut bw = Brainwrite::spawn(&["--bind", "127.0.0.1:0", "--memory"], &[]);
    let addr = bw.listening();
    let (_, room) = create_room(&format!("http://{addr}"), json!({"topic":"bye"})).await;
    let code = room["code"].as_str().unwrap();
    let mut ws = ws_connect(&format!("ws://{addr}/ws/{code}"), None)
        .await
        .unwrap();
    send(&mut ws, json!({"type":"join","name":"Ann"})).await;
    recv_type(&mut ws, "welcome").await;

    bw.sigterm();
    assert_eq!(close_code(&mut ws).await, Some(1012));
    let status = bw
        .exit_within(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}; stderr {:?}", bw.final_stderr());
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after exit"
    );
}

#[test]
fn an_unusable_data_path_fails_at_start_naming_it() {
    let dir = TempDir::new("cli");
    for data in [dir.path("missing/dir/brainwrite.db"), dir.path("")] {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut bw = Brainwrite::spawn(&["--bind", &bind, "--data", &data], &[]);
        let status = bw
            .exit_within(START)
            .unwrap_or_else(|| panic!("--data {data}: still running"));
        assert!(!status.success(), "--data {data}: {status}");
        let stderr = bw.final_stderr();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("--data {data}: nothing on stderr"));
        assert!(
            last.starts_with("brainwrite: ") && last.contains(data.trim_end_matches('/')),
            "--data {data}: the reason {last:?} does not name the path"
        );
        assert!(
            TcpStream::connect(&bind).is_err(),
            "--data {data}: something listens on {bind}"
        );
    }
}

/// docs/deploy.md's backup, taken while the server runs, is a journal another server starts
/// from: the room and the participant's seat are in it.
#[tokio::test]
async fn a_backup_taken_while_running_restores_the_rooms() {
    let sqlite3 = "/usr/bin/sqlite3";
    if !std::path::Path::new(sqlite3).exists() {
        let why = format!("{sqlite3} is missing (Debian package `sqlite3`)");
        assert!(!in_ci(), "{why}; CI must install it");
        eprintln!("SKIPPED: {why}; set CI=true to make this a failure");
        return;
    }
    let dir = TempDir::new("cli");
    let (data, backup) = (dir.path("brainwrite.db"), dir.path("backup.db"));
    let mut bw = Brainwrite::spawn(&["--bind", "127.0.0.1:0", "--data", &data], &[]);
    let addr = bw.listening();
    let (status, room) = create_room(&format!("http://{addr}"), json!({"topic":"kept"})).await;
    assert_eq!(status, 201, "{room}");
    let code = room["code"].as_str().unwrap();
    let mut ws = ws_connect(&format!("ws://{addr}/ws/{code}"), None)
        .await
        .unwrap();
    send(&mut ws, json!({"type":"join","name":"Ann"})).await;
    let welcome = recv_type(&mut ws, "welcome").await;

    // The command from docs/deploy.md, while the server runs.
    let out = Command::new(sqlite3)
        .args([&data, &format!(".backup '{backup}'")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = Command::new(sqlite3)
        .args([&backup, "PRAGMA integrity_check"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    let mut restored = Brainwrite::spawn(&["--bind", "127.0.0.1:0", "--data", &backup], &[]);
    let addr = restored.listening();
    let info: Value = reqwest::get(format!("http://{addr}/api/rooms/{code}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["topic"], "kept", "{info}");
    assert_eq!(info["participants"], 1, "{info}");
    let mut again = ws_connect(&format!("ws://{addr}/ws/{code}"), None)
        .await
        .unwrap();
    send(&mut again, json!({"type":"join","token":welcome["token"]})).await;
    let resumed = recv_type(&mut again, "welcome").await;
    assert_eq!(resumed["participant_id"], welcome["participant_id"]);
    assert_eq!(resumed["name"], "Ann");
}

#[test]
fn the_deploy_guide_lists_every_flag_and_environment_variable() {
    let guide = include_str!("../docs/deploy.md");
    let reference = &guide[guide
        .find("## Configuration reference")
        .expect("docs/deploy.md has a configuration reference")..];
    for (flag, text) in help_options(&help_text()) {
        if flag == "--help" || flag == "--version" {
            continue;
        }
        assert!(
            reference.contains(&format!("`{flag}")),
            "docs/deploy.md's configuration reference lacks {flag}"
        );
        let var = env_var(&text).unwrap();
        assert!(
            reference.contains(&format!("`{var}`")),
            "docs/deploy.md's configuration reference lacks {var}"
        );
    }
}
