//! Test harness: a real server on an ephemeral loopback port (shut down on drop) and a
//! JSON-over-WebSocket client that remembers every frame it received.
#![allow(dead_code)]

pub mod pg;

use std::sync::Arc;
use std::time::Duration;

use brainwrite::{Config, Hub};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long a test waits for any one expected message.
pub const WAIT: Duration = Duration::from_secs(5);

/// The headers of a WebSocket opening handshake (version 13, RFC 6455's example key last).
pub const UPGRADE: [(&str, &str); 4] = [
    ("connection", "upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

/// The sum of every sample of `name` whose labels include `label` (if given).
pub fn metric_value(s: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

/// Every idea text on the sheets of a `reveal` message, in sheet and row order.
pub fn reveal_texts(reveal: &Value) -> Vec<String> {
    reveal["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap().clone())
        .flat_map(|r| r["ideas"].as_array().unwrap().clone())
        .map(|i| i["text"].as_str().unwrap().to_owned())
        .collect()
}

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub hub: Arc<Hub>,
    pub shutdown: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_config(Config::for_tests()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let hub = Hub::new(config, shutdown.clone()).expect("hub starts");
        let task = tokio::spawn(brainwrite::serve(listener, hub.clone()));
        TestServer {
            addr,
            hub,
            shutdown,
            task: Some(task),
        }
    }

    /// A WebSocket opening handshake for `path` over plain HTTP (for answers refused before
    /// the upgrade: a client library would only say it failed).
    pub async fn handshake(&self, path: &str) -> reqwest::Response {
        self.get_with(path, &UPGRADE).await
    }

    /// `GET path` with these headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut r = reqwest::Client::new().get(self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    }

    /// `/metrics` now, parsed (fails the test if it is not valid Prometheus text).
    pub async fn scrape(&self) -> prometheus_parse::Scrape {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
    }

    /// The sum of a metric's samples (all label sets) in `/metrics` now.
    pub async fn metric(&self, name: &str) -> f64 {
        metric_value(&self.scrape().await, name, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST /api/rooms; returns the JSON answer and the status.
    pub async fn create_raw(&self, body: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.url("/api/rooms"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// `GET /api/rooms/{code}`, as JSON.
    pub async fn room_info(&self, code: &str) -> Value {
        reqwest::get(self.url(&format!("/api/rooms/{code}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /api/rooms/{code}/export.{file}` (`file` is e.g. `"md"` or `"html?lang=de"`)
    /// with the facilitator token, which must answer 200; the body.
    pub async fn export(&self, code: &str, token: &str, file: &str) -> String {
        let r = reqwest::Client::new()
            .get(self.url(&format!("/api/rooms/{code}/export.{file}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "export.{file}");
        r.text().await.unwrap()
    }

    /// Create a room; returns (code, facilitator token).
    pub async fn create(&self, body: Value) -> (String, String) {
        let (status, v) = self.create_raw(&body.to_string()).await;
        assert_eq!(status, 201, "{v}");
        (
            v["code"].as_str().unwrap().to_owned(),
            v["facilitator_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn connect(&self, code: &str) -> Client {
        Client::connect(&format!("ws://{}/ws/{}", self.addr, code)).await
    }

    /// A facilitator connection, past its welcome.
    pub async fn facilitator(&self, code: &str, token: &str) -> Client {
        let mut c = self.connect(code).await;
        c.send(json!({"type":"facilitate","token":token})).await;
        let w = c.recv_type("welcome").await;
        assert_eq!(w["role"], "facilitator");
        c
    }

    /// A participant, past its welcome; returns it with its welcome.
    pub async fn participant(&self, code: &str, name: &str) -> (Client, Value) {
        let mut c = self.connect(code).await;
        c.send(json!({"type":"join","name":name})).await;
        let w = c.recv_type("welcome").await;
        assert_eq!(w["role"], "participant");
        (c, w)
    }

    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("server stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every text frame received, in order.
    pub log: Vec<String>,
    /// Parsed frames received but not yet taken by a `recv_*`.
    pending: std::collections::VecDeque<Value>,
    pub close: Option<(u16, String)>,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client {
            ws,
            log: Vec::new(),
            pending: Default::default(),
            close: None,
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }

    /// The next frame from the socket, or `None` when it closed.
    async fn read(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let m = tokio::time::timeout(wait, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no message within {wait:?}; log: {:#?}", self.tail()));
            match m {
                Some(Ok(Message::Text(t))) => {
                    self.log.push(t.to_string());
                    return Some(serde_json::from_str(&t).expect("server sends JSON"));
                }
                Some(Ok(Message::Close(f))) => {
                    self.close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    fn tail(&self) -> Vec<&String> {
        self.log.iter().rev().take(8).collect()
    }

    /// The next message, whatever its type.
    pub async fn recv(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read(WAIT).await.expect("socket closed")
    }

    /// The next message of this type; earlier ones of other types are kept for later.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        self.recv_where(|v| v["type"] == ty).await
    }

    pub async fn recv_where(&mut self, f: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&f) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self
                .read(WAIT)
                .await
                .unwrap_or_else(|| panic!("socket closed; log: {:#?}", self.tail()));
            if f(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// The next error; asserts its code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let e = self.recv_type("error").await;
        assert_eq!(e["code"], code, "{e}");
        assert!(!e["message"].as_str().unwrap_or("").is_empty());
        e
    }

    /// Read until the socket closes; returns the close code.
    pub async fn closed(&mut self, wait: Duration) -> Option<u16> {
        while self.read(wait).await.is_some() {}
        self.close.as_ref().map(|c| c.0)
    }

    /// Drop everything not yet taken.
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// The real `brainwrite` binary as a child process (killed on drop), with the base URL it
/// printed.
pub struct Binary {
    pub child: tokio::process::Child,
    pub base: String,
}

impl Binary {
    /// Start it with `args` and `env` (stderr inherited unless `capture_stderr`), and wait
    /// for its `brainwrite listening on URL` line.
    pub async fn spawn(args: &[&str], env: &[(&str, &str)], capture_stderr: bool) -> Binary {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_brainwrite"));
        cmd.args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(if capture_stderr {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::inherit()
            })
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn brainwrite");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("brainwrite listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("brainwrite exited before listening")
        })
        .await
        .expect("brainwrite starts within 20 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Binary { child, base }
    }

    pub fn ws(&self, code: &str) -> String {
        format!("{}/ws/{code}", self.base.replace("http://", "ws://"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// POST /api/rooms; the JSON answer.
    pub async fn create(&self, body: Value) -> Value {
        reqwest::Client::new()
            .post(format!("{}/api/rooms", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGTERM: the graceful path.
    pub fn terminate(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name starts with `brainwrite-{tag}`.
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("brainwrite-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` inside it.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
