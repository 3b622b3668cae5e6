//! # The kernel's floor under a round boundary
//!
//! At a round boundary the server sends one batch of frames (`room`, `me`, `sheet`) to every
//! socket of every room at once. This benchmark measures what that costs with everything of
//! brainwrite taken away: one thread sends one vectored write of `bytes` to each of `sockets`
//! loopback TCP sockets, as fast as it can, while a reader (one tokio thread, like a load
//! generator worker) takes them; `rounds` times. No WebSocket framing, no JSON, no runtime on
//! the sending side.
//!
//! It reports the sender's and the reader's CPU per socket (thread times from
//! `/proc/thread-self/stat`), the wall time of each burst, and the floor this puts under a
//! boundary of 19,000 sockets on this machine's cores: no server can deliver it faster than
//! (send + receive CPU) × 19,000 ÷ cores.
//!
//! ```text
//! cargo bench --bench send_floor -- [sockets=9000] [bytes=1500] [rounds=10]
//! ```

use std::io::{IoSlice, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

// The load generator reads every field; this bench only the total.
#[allow(dead_code)]
#[path = "loadgen/cputime.rs"]
mod cputime;

/// This thread's user + system CPU time so far, µs.
fn thread_cpu_us(ticks: u64) -> u64 {
    cputime::read("/proc/thread-self/stat", ticks).map_or(0, |c| c.total_us)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sockets = args.first().copied().unwrap_or(9000);
    let bytes = args.get(1).copied().unwrap_or(1500);
    let rounds = args.get(2).copied().unwrap_or(10);
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024) as usize;
    assert!(
        sockets * 2 + 64 <= limit,
        "{sockets} socket pairs need {} descriptors; the limit is {limit}",
        sockets * 2 + 64
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ticks = cputime::clock_ticks();

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut clients = Vec::with_capacity(sockets);
    let mut servers = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let c = TcpStream::connect(addr).expect("connect");
        let (s, _) = listener.accept().expect("accept");
        c.set_nodelay(true).expect("nodelay");
        s.set_nodelay(true).expect("nodelay");
        clients.push(c);
        servers.push(s);
    }

    // The reader: one tokio thread reading every socket, counting sockets whose round is in.
    let per_round = bytes + 4;
    let done = Arc::new(AtomicUsize::new(0));
    let (round_tx, round_rx) = mpsc::channel::<()>();
    let (cpu_tx, cpu_rx) = mpsc::channel::<u64>();
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let start = thread_cpu_us(ticks);
                let mut tasks = Vec::new();
                for c in clients {
                    c.set_nonblocking(true).expect("nonblocking");
                    let mut c = tokio::net::TcpStream::from_std(c).expect("tokio stream");
                    let done = done.clone();
                    let round_tx = round_tx.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        let mut have = 0;
                        for r in 1..=rounds {
                            while have < r * per_round {
                                match c.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => have += n,
                                }
                            }
                            if done.fetch_add(1, Ordering::AcqRel) + 1 == sockets * r {
                                let _ = round_tx.send(());
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
                let _ = cpu_tx.send(thread_cpu_us(ticks) - start);
            });
        })
    };

    let head = [0x81u8, 126, (bytes >> 8) as u8, bytes as u8];
    let body = vec![b'x'; bytes];
    let mut send_cpu = 0u64;
    let mut bursts = Vec::new();
    let mut sends = Vec::new();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..rounds {
        let cpu0 = thread_cpu_us(ticks);
        let t0 = Instant::now();
        for s in &mut servers {
            let slices = [IoSlice::new(&head), IoSlice::new(&body)];
            let n = s.write_vectored(&slices).expect("write");
            assert_eq!(
                n, per_round,
                "a short write: the socket buffer is too small"
            );
        }
        sends.push(t0.elapsed());
        send_cpu += thread_cpu_us(ticks) - cpu0;
        round_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the reader took the round");
        bursts.push(t0.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(servers);
    let read_cpu = cpu_rx.recv().unwrap_or(0);
    let _ = reader.join();

    let n = (sockets * rounds) as f64;
    let send_us = send_cpu as f64 / n;
    let read_us = read_cpu as f64 / n;
    bursts.sort();
    sends.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "send floor: {sockets} loopback sockets, one {}-byte vectored write each, {rounds} bursts, {cores} cores",
        per_round
    );
    println!(
        "  sender CPU per socket   {send_us:6.2} µs   (one thread; a burst's sends took p50 {:.1} ms)",
        ms(sends[sends.len() / 2])
    );
    println!(
        "  reader CPU per socket   {read_us:6.2} µs   (one tokio thread, like a load generator worker)"
    );
    println!(
        "  burst until all read    p50 {:.1} ms, max {:.1} ms",
        ms(bursts[bursts.len() / 2]),
        ms(bursts[bursts.len() - 1])
    );
    let floor = (send_us + read_us) * 19_000.0 / cores as f64 / 1000.0;
    println!(
        "  floor for a boundary of 19,000 sockets on {cores} cores: ({send_us:.2} + {read_us:.2}) µs × 19,000 ÷ {cores} = {floor:.0} ms"
    );
}
