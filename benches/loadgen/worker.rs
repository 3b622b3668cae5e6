//! A worker process: drives whole rooms (every participant, the facilitator and the boards
//! of each room it was given) on one single-threaded tokio runtime, and reports to the
//! coordinator on stdout.
//!
//! It owns the per-room aggregation (deadlines, who has which sheet when, the texts to find
//! in the reveal) and the lifecycle: connect everything, report ready, start every room at
//! the instant the coordinator names, run to the reveal, close on command. Every wait is
//! bounded: the worker ends by itself even if the server or the coordinator stops answering.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::client;
use crate::plan::{Command, Report, WorkerPlan};
use crate::stats::{Counters, Hists};
use crate::{now_ms, now_us};

/// Where the whole worker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting and taking roles.
    Connecting,
    /// Every room starts at this epoch millisecond.
    Go(u64),
    /// Stop: close every socket (and fail whatever has not finished).
    Close,
}

/// What one room's members have seen, for the per-room latencies and checks.
#[derive(Debug, Default)]
pub struct RoomAgg {
    /// Sockets in the room: participants, facilitator, boards.
    pub members: u32,
    /// Deadline of each round (index = round), epoch ms, from the first `room` that had it.
    pub deadlines: Vec<Option<u64>>,
    /// Planned rounds, from `room`.
    pub rounds: u32,
    /// Per round: participants holding their sheet, and the latest arrival (epoch µs).
    pub sheets: Vec<(u32, u64)>,
    /// Members holding the reveal, and the latest arrival (epoch µs).
    pub reveals: (u32, u64),
    /// Final text of every slot every participant wrote (what the reveal must hold): the last
    /// acknowledged, or in peer mode the last sent and not refused.
    pub expected: Vec<String>,
    /// Every idea text of the facilitator's reveal.
    pub revealed: Option<Vec<String>>,
    /// First failure seen in this room.
    pub failed: Option<String>,
    /// Members that have finished (revealed or failed).
    pub finished: u32,
}

impl RoomAgg {
    /// The deadline of `round`, if known.
    pub fn deadline(&self, round: u32) -> Option<u64> {
        self.deadlines.get(round as usize).copied().flatten()
    }

    /// Remember the deadline of `round`.
    pub fn set_deadline(&mut self, round: u32, deadline: u64) {
        let i = round as usize;
        if self.deadlines.len() <= i {
            self.deadlines.resize(i + 1, None);
        }
        self.deadlines[i].get_or_insert(deadline);
    }

    /// Count a participant's sheet of `round`; returns (holders, latest arrival).
    pub fn sheet_arrived(&mut self, round: u32, at_us: u64) -> (u32, u64) {
        let i = round as usize;
        if self.sheets.len() <= i {
            self.sheets.resize(i + 1, (0, 0));
        }
        let s = &mut self.sheets[i];
        s.0 += 1;
        s.1 = s.1.max(at_us);
        *s
    }
}

/// State shared by every task of the worker (one thread, so `Rc` and `RefCell`).
pub struct Shared {
    /// The plan from the coordinator.
    pub plan: WorkerPlan,
    /// The server's address.
    pub server: SocketAddr,
    /// Counts.
    pub counters: RefCell<Counters>,
    /// Latencies.
    pub hists: RefCell<Hists>,
    /// Per room.
    pub rooms: Vec<RefCell<RoomAgg>>,
    /// Failure descriptions (the first few).
    pub failures: RefCell<Vec<String>>,
    /// Limits sockets connecting at once.
    pub connecting: Semaphore,
    /// Where the worker is.
    pub stage: watch::Receiver<Stage>,
    /// Rooms finished.
    pub rooms_finished: Cell<usize>,
    /// Fires when every room has finished.
    pub all_finished: Notify,
    /// Latest reveal arrival, epoch µs.
    pub last_reveal_us: Cell<u64>,
    /// Next source address to bind.
    pub next_source: Cell<usize>,
    /// When connecting must end.
    pub connect_deadline: Instant,
    /// Clock ticks per second of /proc times.
    pub ticks: u64,
}

/// Most failure descriptions kept.
const MAX_FAILURES: usize = 20;

impl Shared {
    /// Note a failure description (the first few are kept).
    pub fn note_failure(&self, what: String) {
        let mut f = self.failures.borrow_mut();
        if f.len() < MAX_FAILURES {
            f.push(what);
        }
    }

    /// A member of `room` has finished, with its verdict. The last member settles the room.
    pub fn member_finished(&self, room: usize, verdict: Result<(), String>) {
        let mut r = self.rooms[room].borrow_mut();
        if let Err(why) = verdict
            && r.failed.is_none()
        {
            r.failed = Some(why);
        }
        r.finished += 1;
        if r.finished < r.members {
            return;
        }
        let code = &self.plan.rooms[room].code;
        let verdict = self.settle(&mut r);
        let mut c = self.counters.borrow_mut();
        match verdict {
            Ok(ideas) => {
                c.rooms_ok += 1;
                c.ideas_revealed += ideas;
            }
            Err(why) => {
                c.rooms_failed += 1;
                drop(c);
                self.note_failure(format!("room {code}: {why}"));
            }
        }
        self.rooms_finished.set(self.rooms_finished.get() + 1);
        if self.rooms_finished.get() == self.rooms.len() {
            self.all_finished.notify_one();
        }
    }

    /// The whole-room checks once every member is done: the reveal holds exactly the texts
    /// written, as many as the rules say.
    fn settle(&self, r: &mut RoomAgg) -> Result<u64, String> {
        if let Some(why) = &r.failed {
            return Err(why.clone());
        }
        let Some(mut revealed) = r.revealed.take() else {
            return Err("the facilitator saw no reveal".into());
        };
        revealed.sort_unstable();
        r.expected.sort_unstable();
        if revealed != r.expected {
            let missing = r
                .expected
                .iter()
                .find(|t| revealed.binary_search(t).is_err());
            return Err(format!(
                "the reveal holds {} ideas but {} were {} (e.g. missing {missing:?})",
                revealed.len(),
                r.expected.len(),
                // Peer mode: nothing is acked; what was sent and not refused is expected.
                if self.plan.peer_compat {
                    "written"
                } else {
                    "acknowledged"
                }
            ));
        }
        Ok(revealed.len() as u64)
    }

    /// Pick the next source address for a client socket.
    pub fn source(&self) -> std::net::Ipv4Addr {
        let a = &self.plan.source_addrs;
        let i = self.next_source.get();
        self.next_source.set(i + 1);
        a[i % a.len()]
    }
}

impl Shared {
    /// The counts now, with this process's CPU time.
    pub fn snapshot(&self) -> Counters {
        let mut c = self.counters.borrow().clone();
        c.loadgen_cpu_us =
            crate::procfs::sample(std::process::id(), self.ticks).map_or(0, |s| s.cpu_us);
        c
    }
}

/// Print one report line for the coordinator.
fn emit(r: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(r).expect("reports serialise")
    );
    let _ = out.flush();
}

/// An `Instant` for an epoch-microsecond time (now, if it has passed).
pub fn instant_at_us(epoch_us: u64) -> Instant {
    Instant::now() + Duration::from_micros(epoch_us.saturating_sub(now_us()))
}

/// Run a worker: read the plan from stdin, drive its rooms, report on stdout.
pub fn run() -> Result<(), String> {
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| format!("reading the plan: {e}"))?;
    let plan: WorkerPlan =
        serde_json::from_str(&line).map_err(|e| format!("unreadable plan: {e}"))?;
    drop(stdin);
    let server: SocketAddr = plan
        .server
        .parse()
        .map_err(|e| format!("server address {}: {e}", plan.server))?;
    crate::raise_fd_limit();

    // Commands arrive on stdin; a plain thread forwards them (stdin has no async reader here).
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Command>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Command>(&line) {
                Ok(c) => {
                    if cmd_tx.send(c).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("loadgen worker: bad command {line:?}: {e}"),
            }
        }
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (stage_tx, stage_rx) = watch::channel(Stage::Connecting);
        let members = plan.participants + 1 + plan.boards;
        let rooms = plan.rooms.len();
        let sh = Rc::new(Shared {
            connecting: Semaphore::new(plan.connect_concurrency.max(1)),
            connect_deadline: Instant::now() + Duration::from_millis(plan.connect_timeout_ms),
            plan,
            server,
            counters: RefCell::new(Counters::default()),
            hists: RefCell::new(Hists::new()),
            rooms: (0..rooms)
                .map(|_| {
                    RefCell::new(RoomAgg {
                        members,
                        ..RoomAgg::default()
                    })
                })
                .collect(),
            failures: RefCell::new(Vec::new()),
            stage: stage_rx,
            rooms_finished: Cell::new(0),
            all_finished: Notify::new(),
            last_reveal_us: Cell::new(0),
            next_source: Cell::new(0),
            ticks: crate::cputime::clock_ticks(),
        });
        let total = rooms as u64 * members as u64;
        let mut tasks = Vec::with_capacity(total as usize);
        // Boards and facilitators first, so they see every participant arrive.
        for room in 0..rooms {
            for b in 0..sh.plan.boards {
                tasks.push(tokio::task::spawn_local(client::board(sh.clone(), room, b)));
            }
            tasks.push(tokio::task::spawn_local(client::facilitator(
                sh.clone(),
                room,
            )));
        }
        for room in 0..rooms {
            for p in 0..sh.plan.participants {
                tasks.push(tokio::task::spawn_local(client::participant(
                    sh.clone(),
                    room,
                    p,
                )));
            }
        }

        // Every socket connects (or fails) by its own bounded deadline.
        loop {
            let c = sh.counters.borrow().clone();
            if c.connected + c.connect_failed >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        emit(&Report::Ready {
            counters: sh.snapshot(),
        });

        // Wait (bounded) for the start instant.
        let go = match tokio::time::timeout(Duration::from_secs(600), cmd_rx.recv()).await {
            Ok(Some(Command::Go { at_ms })) => Some(at_ms),
            _ => None,
        };
        let hard_end = match go {
            Some(at) => {
                let _ = stage_tx.send(Stage::Go(at));
                instant_at_us((at + sh.plan.session_ms + 30_000) * 1000)
            }
            None => {
                let _ = stage_tx.send(Stage::Close);
                Instant::now() + Duration::from_secs(5)
            }
        };
        let ticker = tokio::task::spawn_local(ticks(sh.clone()));
        let lag = tokio::task::spawn_local(lag(sh.clone()));
        let timed_out = tokio::select! {
            _ = sh.all_finished.notified() => false,
            _ = tokio::time::sleep_until(hard_end) => true,
        };
        if timed_out {
            // Unfinished members fail and settle their rooms.
            let _ = stage_tx.send(Stage::Close);
            let _ = tokio::time::timeout(Duration::from_secs(10), sh.all_finished.notified()).await;
        }
        emit(&Report::Revealed {
            last_reveal_ms: sh.last_reveal_us.get() / 1000,
            counters: sh.snapshot(),
        });

        // Keep every socket open until the coordinator has measured, then close.
        let _ = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(c) = cmd_rx.recv().await {
                if matches!(c, Command::Close) {
                    break;
                }
            }
        })
        .await;
        let _ = stage_tx.send(Stage::Close);
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
        ticker.abort();
        lag.abort();
        let rounds = sh
            .rooms
            .iter()
            .map(|r| r.borrow().rounds)
            .max()
            .unwrap_or(0);
        emit(&Report::Done {
            counters: sh.snapshot(),
            hists: sh.hists.borrow().encode(),
            failures: sh.failures.borrow().clone(),
            rounds,
        });
    });
    Ok(())
}

/// Time this worker's own scheduling delay: a 10 ms timer, and how late it fires.
async fn lag(sh: Rc<Shared>) {
    // Bounded: aborted at the end, and never more than a day of 10 ms steps.
    for _ in 0..8_640_000u32 {
        let due = now_us() + 10_000;
        tokio::time::sleep_until(instant_at_us(due)).await;
        sh.hists
            .borrow_mut()
            .record("loadgen_lag", now_us() as i64 - due as i64);
        if *sh.stage.borrow() == Stage::Close {
            return;
        }
    }
}

/// Report cumulative counts at every epoch second until the worker closes.
async fn ticks(sh: Rc<Shared>) {
    let mut stage = sh.stage.clone();
    // Bounded: the worker aborts this task, and at most a day of ticks would ever run.
    for _ in 0..86_400 {
        let next = (now_ms() / 1000 + 1) * 1000;
        tokio::select! {
            _ = tokio::time::sleep_until(instant_at_us(next * 1000)) => {}
            _ = stage.changed() => {
                if *stage.borrow() == Stage::Close { return; }
                continue;
            }
        }
        emit(&Report::Tick {
            t_ms: next,
            counters: sh.snapshot(),
        });
    }
}
