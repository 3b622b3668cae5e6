//! The peers: copies the read-only peers folder to a writable place, installs its npm
//! packages there (only when the lock file changed since the last install), starts a peer on
//! a free loopback port, waits for its `/healthz`, and stops it again.
//!
//! The peer process is the server itself (`node server.js`, or the `bun` executable from
//! npm running the same file), so its pid is the one to read `/proc` of.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A peer implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bun ../node/server.js`: Bun's WebSocket layer is uWebSockets.
    Bun,
    /// `node server.js` with the `ws` package.
    Node,
}

impl Kind {
    /// Short name, used in tables, file names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bun => "bun",
            Kind::Node => "node",
        }
    }
}

/// The copied peers folder.
pub struct Peers {
    /// Its root (holding `node/` and `bun/`).
    pub root: PathBuf,
}

/// Files of `src` (recursively, without `node_modules`), as paths relative to it.
fn files(src: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let dir = src.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let r = rel.join(&name);
        if kind.is_dir() {
            files(src, &r, out)?;
        } else if kind.is_file() {
            out.push(r);
        }
    }
    Ok(())
}

/// Copy `src` to `dest` (every file rewritten, so a changed server.js is picked up; an
/// existing `node_modules` is kept). Files are written anew, not copied with their
/// permissions, so the copy is writable even though the source is not.
pub fn copy(src: &Path, dest: &Path) -> Result<Peers, String> {
    if !src.join("node").join("server.js").is_file() {
        return Err(format!(
            "{}: no node/server.js there; give the peers folder with --peers-src",
            src.display()
        ));
    }
    let mut list = Vec::new();
    files(src, Path::new(""), &mut list)?;
    for rel in &list {
        let (from, to) = (src.join(rel), dest.join(rel));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let bytes = std::fs::read(&from).map_err(|e| format!("reading {}: {e}", from.display()))?;
        let _ = std::fs::remove_file(&to);
        std::fs::write(&to, bytes).map_err(|e| format!("writing {}: {e}", to.display()))?;
    }
    Ok(Peers {
        root: dest.to_owned(),
    })
}

impl Peers {
    /// `npm ci` in `sub` (`node` or `bun`) unless the lock file is the one installed last.
    pub fn install(&self, sub: &str) -> Result<(), String> {
        let dir = self.root.join(sub);
        let lock_path = dir.join("package-lock.json");
        let lock = std::fs::read(&lock_path)
            .map_err(|e| format!("reading {}: {e}", lock_path.display()))?;
        let stamp = dir.join("node_modules").join(".peers-bench-installed-lock");
        if std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
            eprintln!("peers: {sub}/ already installed");
            return Ok(());
        }
        eprintln!("peers: npm ci in {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            // Keep stdout for the table.
            .stdout(std::io::stderr())
            .status()
            .map_err(|e| {
                format!(
                    "running npm ci in {}: {e} (is npm installed?)",
                    dir.display()
                )
            })?;
        if !status.success() {
            return Err(format!("npm ci in {} failed: {status}", dir.display()));
        }
        std::fs::write(&stamp, &lock).map_err(|e| format!("writing {}: {e}", stamp.display()))
    }

    /// The program and arguments that run `kind` (before `--bind`).
    fn command(&self, kind: Kind) -> Result<(PathBuf, Vec<PathBuf>), String> {
        let server = self.root.join("node").join("server.js");
        match kind {
            Kind::Node => Ok((PathBuf::from("node"), vec![server])),
            Kind::Bun => {
                let bun = self
                    .root
                    .join("bun")
                    .join("node_modules")
                    .join(".bin")
                    .join("bun");
                if !bun.exists() {
                    return Err(format!(
                        "{} is missing after npm ci in bun/: the bun package did not install its executable",
                        bun.display()
                    ));
                }
                Ok((bun, vec![server]))
            }
        }
    }

    /// The peer runtime's version, e.g. `v20.20.2` or `1.4.5`.
    pub fn version(&self, kind: Kind) -> Result<String, String> {
        let (prog, _) = self.command(kind)?;
        let out = Command::new(&prog)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {} --version: {e}", prog.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} --version failed: {}: {}",
                prog.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Start `kind` on a free loopback port, logging to `log`, and wait for `/healthz`.
    pub fn start(&self, kind: Kind, log: &Path) -> Result<Running, String> {
        let (prog, args) = self.command(kind)?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&prog)
            .args(&args)
            .arg("--bind")
            .arg(addr.to_string())
            .current_dir(self.root.join(kind.name()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", prog.display()))?;
        let mut running = Running {
            kind,
            addr,
            child: Some(child),
        };
        running.wait_healthy(log)?;
        Ok(running)
    }
}

/// A port nobody listens on now (bound and released; the peer binds it right after).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// One `GET /healthz`; true on a 200.
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 200") || got.starts_with(b"HTTP/1.0 200")
}

/// A started peer; stopped when dropped.
pub struct Running {
    /// Which peer.
    pub kind: Kind,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Running {
    /// Its pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn wait_healthy(&mut self, log: &Path) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "the {} peer exited ({status}) before answering /healthz; see {}",
                        self.kind.name(),
                        log.display()
                    ));
                }
            }
            if healthz(self.addr) {
                return Ok(());
            }
            if Instant::now() >= until {
                self.stop();
                return Err(format!(
                    "the {} peer did not answer http://{}/healthz within 30 s; see {}",
                    self.kind.name(),
                    self.addr,
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        crate::child::stop(&mut self.child, Duration::from_secs(10));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
