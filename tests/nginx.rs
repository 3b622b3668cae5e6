//! brainwrite behind Debian's nginx as a reverse proxy on loopback, configured with the very
//! proxy directives of `deploy/nginx.conf`: the page, the REST API and a short session over
//! WebSockets (three participants, a facilitator and a board, two 1-second rounds that pass by
//! the server's clock, the reveal) all go through nginx, browser-like `Origin` included; a
//! client cannot fake its address past nginx; the server's 1012 on SIGTERM reaches the clients
//! through the proxy; and the whole deploy file, TLS server included, passes `nginx -t`.
//!
//! Needs `/usr/sbin/nginx` (Debian's `nginx` package) and, for the `nginx -t` check, `openssl`.
//! Without them the tests print why and pass, unless `CI` is set: then they fail.

mod common;

use common::TempDir;

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const NGINX: &str = "/usr/sbin/nginx";
/// How long a process may take to start.
const START: Duration = Duration::from_secs(10);
/// How long a test waits for any one expected message.
const WAIT: Duration = Duration::from_secs(5);
/// The deploy configuration this test runs.
const DEPLOY_CONF: &str = include_str!("../deploy/nginx.conf");

/// Whether we run in CI, where a missing tool is a failure rather than a skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `Some(path)` when `tool` exists; otherwise skip (print why) or, in CI, fail.
fn require(path: &str, package: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    let why = format!("{path} is missing (Debian package `{package}`)");
    assert!(!in_ci(), "{why}; CI must install it");
    eprintln!("SKIPPED: {why}; set CI=true to make this a failure");
    None
}

/// The lines between `# BEGIN brainwrite {part}` and `# END brainwrite {part}`.
fn deploy_part(part: &str) -> &'static str {
    let begin = format!("# BEGIN brainwrite {part}\n");
    let end = format!("# END brainwrite {part}");
    let from = DEPLOY_CONF
        .find(&begin)
        .unwrap_or_else(|| panic!("deploy/nginx.conf has no {begin:?}"))
        + begin.len();
    let to = DEPLOY_CONF[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("deploy/nginx.conf has no {end:?}"))
        + from;
    &DEPLOY_CONF[from..to]
}

/// A child process killed on drop, with its stderr collected.
struct Proc {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
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
        let (mut err, sink) = (child.stderr.take().unwrap(), stderr.clone());
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
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

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
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start brainwrite on an ephemeral loopback port; returns it with its address.
fn start_brainwrite(public_url: &str) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brainwrite"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BRAINWRITE_") {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "--bind",
        "127.0.0.1:0",
        "--memory",
        "--public-url",
        public_url,
    ])
    // As in deploy/brainwrite.service; a low room limit shows whose address counts.
    .args([
        "--real-ip-header",
        "X-Real-IP",
        "--rooms-per-minute-per-ip",
        "2",
    ]);
    let p = Proc::spawn(cmd);
    let deadline = Instant::now() + START;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match p.stdout.recv_timeout(left) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("brainwrite listening on http://") {
                    let addr = url.trim().trim_end_matches('/').parse().unwrap();
                    return (p, addr);
                }
            }
            Err(e) => panic!("brainwrite did not start ({e}); stderr {:?}", p.stderr()),
        }
    }
}

/// nginx in the foreground, one process, every file it writes in `dir`, listening on
/// `127.0.0.1:port` and proxying with deploy/nginx.conf's directives to `upstream`.
fn nginx_conf(dir: &TempDir, port: u16, upstream: SocketAddr) -> String {
    let http = deploy_part("http").replace("127.0.0.1:8080", &upstream.to_string());
    assert_ne!(
        http,
        deploy_part("http"),
        "the upstream is not 127.0.0.1:8080"
    );
    let location = deploy_part("location");
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {pid};
error_log {error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {access_log};
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

{http}
    server {{
        listen 127.0.0.1:{port};
        server_name _;

{location}
    }}
}}
",
        pid = dir.path("nginx.pid"),
        error_log = dir.path("error.log"),
        access_log = dir.path("access.log"),
        tmp = dir.0.display(),
    )
}

/// brainwrite and nginx in front of it.
struct Stack {
    /// Where clients talk to: nginx.
    port: u16,
    nginx: Proc,
    brainwrite: Proc,
    backend: SocketAddr,
    dir: TempDir,
}

impl Stack {
    fn start(nginx: &Path) -> Self {
        // The port is free when we look; another process may take it before nginx binds it,
        // so try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let (brainwrite, backend) = start_brainwrite(&format!("http://127.0.0.1:{port}"));
            let dir = TempDir::new("nginx");
            let conf = dir.path("nginx.conf");
            std::fs::write(&conf, nginx_conf(&dir, port, backend)).unwrap();
            let mut cmd = Command::new(nginx);
            cmd.args([
                "-p",
                &dir.path(""),
                "-e",
                &dir.path("error.log"),
                "-c",
                &conf,
            ]);
            let mut proxy = Proc::spawn(cmd);
            let deadline = Instant::now() + START;
            while Instant::now() < deadline {
                if proxy.child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Stack {
                        port,
                        nginx: proxy,
                        brainwrite,
                        backend,
                        dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            last_error = format!(
                "{}{}",
                proxy.stderr(),
                std::fs::read_to_string(dir.path("error.log")).unwrap_or_default()
            );
            if !last_error.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A WebSocket to the room through nginx, with the Origin a browser on the page sends.
    async fn ws(&self, code: &str) -> Ws {
        Ws::connect(
            &format!("ws://127.0.0.1:{}/ws/{code}", self.port),
            Some(&self.origin()),
        )
        .await
        .unwrap_or_else(|e| panic!("no WebSocket through nginx: {e}; {}", self.logs()))
    }

    fn logs(&self) -> String {
        format!(
            "nginx error.log: {}\nbrainwrite stderr: {}",
            std::fs::read_to_string(self.dir.path("error.log")).unwrap_or_default(),
            self.brainwrite.stderr()
        )
    }
}

/// A JSON-over-WebSocket client that keeps messages it was not asked for yet.
struct Ws {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pending: VecDeque<Value>,
}

impl Ws {
    async fn connect(
        url: &str,
        origin: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", HeaderValue::from_str(o).unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Ws {
            ws,
            pending: VecDeque::new(),
        })
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The next message for which `f` holds; others are kept for later.
    async fn recv_where(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&f) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_ne!(v["type"], "error", "waiting for {what}: {v}");
                    if f(&v) {
                        return v;
                    }
                    self.pending.push_back(v);
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("waiting for {what}: {other:?}; pending {:?}", self.pending),
            }
        }
    }

    async fn recv_type(&mut self, ty: &str) -> Value {
        self.recv_where(ty, |v| v["type"] == ty).await
    }

    /// Read until the socket closes; returns the close code.
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await {
                Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return None,
                Err(_) => panic!("the socket did not close"),
            }
        }
    }
}

/// Every idea text in a `reveal`.
fn revealed(reveal: &Value) -> BTreeSet<String> {
    reveal["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .flat_map(|r| r["ideas"].as_array().unwrap())
        .map(|i| i["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_played_through_nginx() {
    let Some(nginx) = require(NGINX, "nginx") else {
        return;
    };
    let mut stack = Stack::start(&nginx);

    // The page, through the proxy.
    let page = reqwest::get(stack.http("/")).await.unwrap();
    assert_eq!(page.status(), 200, "{}", stack.logs());
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await.unwrap().to_lowercase().contains("<html"));
    let health: Value = reqwest::get(stack.http("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status":"ok"}));

    // A room, with links to the proxy's address (--public-url).
    let r = reqwest::Client::new()
        .post(stack.http("/api/rooms"))
        .json(&json!({"topic":"How might we make Mondays better?",
                      "round_seconds": 1, "rounds": 2, "ideas_per_round": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let room: Value = r.json().await.unwrap();
    let code = room["code"].as_str().unwrap().to_owned();
    let token = room["facilitator_token"].as_str().unwrap();
    assert_eq!(room["join_url"], stack.http(&format!("/r/{code}")));
    let qr = reqwest::get(stack.http(&format!("/api/rooms/{code}/qr.svg")))
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);

    // nginx overwrites X-Real-IP, so a client cannot dodge the per-address room limit (2 a
    // minute here) by making up addresses.
    let mut answers = Vec::new();
    for fake in ["10.0.0.1", "10.0.0.2"] {
        let r = reqwest::Client::new()
            .post(stack.http("/api/rooms"))
            .header("x-real-ip", fake)
            .json(&json!({"topic":"spoofed"}))
            .send()
            .await
            .unwrap();
        answers.push(r.status().as_u16());
    }
    assert_eq!(answers, [201, 429], "{}", stack.logs());

    // A page from another site may not open a socket, even through the proxy.
    match Ws::connect(
        &format!("ws://127.0.0.1:{}/ws/{code}", stack.port),
        Some("http://evil.example.org"),
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        Err(e) => panic!("a foreign origin got {e}"),
        Ok(_) => panic!("a foreign origin got a socket"),
    }

    // Facilitator, board and three participants, all through nginx.
    let mut fac = stack.ws(&code).await;
    fac.send(json!({"type":"facilitate","token":token})).await;
    assert_eq!(fac.recv_type("welcome").await["role"], "facilitator");
    let mut board = stack.ws(&code).await;
    board.send(json!({"type":"watch"})).await;
    assert_eq!(board.recv_type("welcome").await["role"], "board");
    let mut people = Vec::new();
    for name in ["Ada", "Grace", "Linus"] {
        let mut p = stack.ws(&code).await;
        p.send(json!({"type":"join","name":name})).await;
        assert_eq!(p.recv_type("welcome").await["role"], "participant");
        people.push(p);
    }
    fac.recv_where("a roster of 3 connected", |v| {
        v["type"] == "roster"
            && v["participants"]
                .as_array()
                .is_some_and(|ps| ps.len() == 3 && ps.iter().all(|p| p["connected"] == true))
    })
    .await;

    fac.send(json!({"type":"start"})).await;
    let mut written = BTreeSet::new();
    for round in 1..=2u64 {
        for (i, p) in people.iter_mut().enumerate() {
            let sheet = p
                .recv_where("sheet", |v| v["type"] == "sheet" && v["round"] == round)
                .await;
            // Round 2's sheet carries the row someone else wrote in round 1.
            assert_eq!(
                sheet["sheet"]["rows"].as_array().unwrap().len() as u64,
                round - 1,
                "{sheet}"
            );
            for slot in 0..3 {
                let text = format!("idea {i}.{round}.{slot} via nginx");
                p.send(json!({"type":"write","round":round,"slot":slot,"text":text,"seq":slot}))
                    .await;
                written.insert(text);
            }
            for slot in 0..3 {
                let ack = p.recv_type("ack").await;
                assert_eq!(ack["slot"], slot);
                assert_eq!(ack["round"], round);
            }
        }
        // Nobody says done: the round passes by the server's clock.
    }
    assert_eq!(written.len(), 18);

    for p in people.iter_mut() {
        assert_eq!(revealed(&p.recv_type("reveal").await), written);
    }
    assert_eq!(revealed(&fac.recv_type("reveal").await), written);
    assert_eq!(revealed(&board.recv_type("reveal").await), written);
    board
        .recv_where("finished", |v| {
            v["type"] == "room" && v["phase"] == "finished"
        })
        .await;

    // An upgrade: SIGTERM closes every socket with 1012, and the code reaches the clients
    // through nginx, so they reconnect.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", stack.brainwrite.child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    for ws in people.iter_mut().chain([&mut fac, &mut board]) {
        assert_eq!(ws.close_code().await, Some(1012), "{}", stack.logs());
    }
    let exit = stack
        .brainwrite
        .exit_within(Duration::from_secs(10))
        .expect("brainwrite exits after SIGTERM");
    assert!(exit.success(), "{exit}");
    assert!(TcpStream::connect(stack.backend).is_err());
    // With the backend gone nginx answers 502 until it is back.
    let down = reqwest::get(stack.http("/healthz")).await.unwrap();
    assert_eq!(down.status(), 502);
    assert!(stack.nginx.child.try_wait().unwrap().is_none());
    // And it all went through nginx: the upgrades are in its access log.
    let access = std::fs::read_to_string(stack.dir.path("access.log")).unwrap();
    let upgrades = access
        .lines()
        .filter(|l| l.contains(&format!("GET /ws/{code} HTTP/1.1\" 101 ")))
        .count();
    assert_eq!(upgrades, 5, "{access}");
}

#[test]
fn the_whole_deploy_config_passes_nginx_t() {
    let Some(nginx) = require(NGINX, "nginx") else {
        return;
    };
    let Some(openssl) = require("/usr/bin/openssl", "openssl") else {
        return;
    };
    let dir = TempDir::new("nginx-t");
    let (cert, key) = (dir.path("fullchain.pem"), dir.path("privkey.pem"));
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=ideas.example.org",
            "-keyout",
            &key,
            "-out",
            &cert,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let site = DEPLOY_CONF
        .replace(
            "/etc/letsencrypt/live/ideas.example.org/fullchain.pem",
            &cert,
        )
        .replace("/etc/letsencrypt/live/ideas.example.org/privkey.pem", &key);
    assert_ne!(site, DEPLOY_CONF, "the certificate paths moved");
    std::fs::write(dir.path("brainwrite.conf"), site).unwrap();
    let tmp = dir.0.display();
    std::fs::write(
        dir.path("nginx.conf"),
        format!(
            "pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/brainwrite.conf;
}}
"
        ),
    )
    .unwrap();
    let out = Command::new(nginx)
        .args(["-t", "-p", &dir.path(""), "-e", &dir.path("error.log")])
        .args(["-c", &dir.path("nginx.conf")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t: {said}");
    assert!(said.contains("syntax is ok"), "{said}");
    assert!(!said.contains("[warn]"), "nginx -t warns: {said}");
}
