//! The send side of one connection, shared by its room actor and its socket task: the
//! bounded queue of what waits for the peer, the frame writer ([`frame`]) and the stream.
//!
//! The actor queues a batch's frames ([`Outbox::send`], never waiting) and then writes them
//! straight into the socket in its own turn ([`Outbox::flush`]): a room's burst is on the
//! wire before the next room on the shard is computed, and when the kernel takes it all, the
//! socket's task is not even woken. What the kernel does not take stays queued, and the
//! socket's task writes it when the socket is writable ([`Outbox::poll_flush`]), with its
//! own control frames (pings, pongs, close) between data frames. Both write only while
//! holding the writer's lock, through one cursor, so frames never interleave or tear.
//! (This was withdrawn once for stalling rooms of 500; the stall was the actor dropping a
//! message at the end of a full batch, fixed in `room_task`: docs/performance.md.)
//!
//! A client that stops reading is cut off as slow ([`close::SLOW`]) when `--outbox` data
//! frames or `--max-write-buffer` bytes of them wait. Once its socket decides to close, the
//! outbox is sealed: nothing more is queued behind the close.
//!
//! It allocates nothing while empty: when everything is written the writer's storage is
//! freed, so an idle connection holds only this shared struct (docs/performance.md).
//!
//! The stream is read only by the socket's task, through [`Outbox::poll_read`]; this module
//! does not parse, time or decide anything about the conversation.
//!
//! [`close::SLOW`]: crate::protocol::close::SLOW

mod frame;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tungstenite::Utf8Bytes;

use crate::metrics::METRICS;
use crate::protocol::close;

use frame::Unsent;

/// The sending half of a connection, shared by its room actor and its socket task.
#[derive(Clone, Debug)]
pub struct Outbox(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    io: TcpStream,
    writer: Mutex<Writer>,
    /// The limits of [`Outbox::send`]; raised once for a facilitator or a board
    /// ([`Outbox::widen`]).
    max_frames: AtomicUsize,
    max_bytes: AtomicUsize,
    /// The close code asked for; 0 while open. The first code asked for wins.
    close_code: AtomicU16,
    /// The socket task has ended: nothing sent now will be written.
    gone: AtomicBool,
    /// The socket task, woken by a close or by a write the socket did not take at once.
    waker: AtomicWaker,
    /// When bytes last went into the socket, ms since [`EPOCH`] (keepalive skips a socket
    /// that is written to and heard from anyway).
    last_write: AtomicU64,
}

/// The origin of [`Outbox::since_last_write`]'s clock.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn epoch_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

#[derive(Debug, Default)]
struct Writer {
    out: Unsent,
    /// The socket is closing: no more data frames are queued.
    sealed: bool,
}

/// Why [`Outbox::send`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue was full: the connection has been told to close as slow.
    Slow,
    /// The connection is gone or closing.
    Closed,
}

impl std::fmt::Debug for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsent")
            .field("data_frames", &self.data_len())
            .field("data_bytes", &self.data_bytes())
            .field("control_bytes", &self.control_len())
            .finish()
    }
}

impl Outbox {
    /// The send side of `io`, holding at most `max_frames` data frames and `max_bytes`
    /// bytes of them.
    pub fn new(io: TcpStream, max_frames: usize, max_bytes: usize) -> Self {
        Outbox(Arc::new(Shared {
            io,
            writer: Mutex::new(Writer::default()),
            max_frames: AtomicUsize::new(max_frames.max(1)),
            max_bytes: AtomicUsize::new(max_bytes.max(1)),
            close_code: AtomicU16::new(0),
            gone: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            last_write: AtomicU64::new(epoch_ms()),
        }))
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // Nothing panics while holding the lock; a poisoned writer is still consistent.
        self.0.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a data frame without waiting or writing; [`Outbox::flush`] writes it. A full
    /// queue disconnects the client as slow.
    pub fn send(&self, frame: Utf8Bytes) -> Result<(), SendError> {
        if self.0.gone.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let mut w = self.writer();
        if w.sealed {
            return Err(SendError::Closed);
        }
        let out = &mut w.out;
        let max_frames = self.0.max_frames.load(Ordering::Relaxed);
        let max_bytes = self.0.max_bytes.load(Ordering::Relaxed);
        if out.data_len() >= max_frames || out.data_bytes() + frame.len() > max_bytes {
            drop(w);
            self.fell_behind();
            return Err(SendError::Slow);
        }
        out.push_data(frame);
        Ok(())
    }

    /// Let this connection queue `factor` times as much before it counts as slow: for a
    /// facilitator or a board, whose room-wide frames (roster, progress) grow with the room
    /// (about 100 KB each at 2,000 people) and who are a few per room.
    pub fn widen(&self, factor: usize) {
        for limit in [&self.0.max_frames, &self.0.max_bytes] {
            let _ = limit.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_mul(factor))
            });
        }
    }

    /// For the room actor, after queueing a batch: write what is queued now, in the caller's
    /// turn. What the socket does not take is left to the socket's task, which is woken.
    pub fn flush(&self) {
        let mut w = self.writer();
        if w.out.is_empty() {
            return;
        }
        let r = w.out.write_with(|s| self.0.io.try_write_vectored(s));
        self.wrote();
        match r {
            Ok(()) => w.out = Unsent::default(),
            // Not taken (or broken): the socket's task writes the rest or finds the error.
            Err(_) => {
                drop(w);
                self.0.waker.wake();
            }
        }
    }

    /// For the socket task: write everything queued, as the socket becomes writable; ready
    /// when nothing is left (or the socket failed).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.writer().out.is_empty() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.0.io.poll_write_ready(cx))?;
            let mut w = self.writer();
            let r = w.out.write_with(|s| self.0.io.try_write_vectored(s));
            self.wrote();
            match r {
                Ok(()) => {
                    // Everything written: an idle socket keeps no storage.
                    w.out = Unsent::default();
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale; `poll_write_ready` registers for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn wrote(&self) {
        self.0.last_write.store(epoch_ms(), Ordering::Relaxed);
    }

    /// How long ago bytes last went into the socket (or it opened), to the millisecond.
    pub fn since_last_write(&self) -> Duration {
        let at = self.0.last_write.load(Ordering::Relaxed);
        Duration::from_millis(epoch_ms().saturating_sub(at))
    }

    /// For the socket task: read what the peer sent (pending, with the waker registered,
    /// when nothing is there).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.io.poll_read_ready(cx))?;
            match self.0.io.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// For the socket task, last: end the stream's sending side (TCP FIN).
    pub fn shutdown(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.0.io).shutdown(std::net::Shutdown::Write)
    }

    /// For the socket task: queue whole control frames already formatted (tungstenite's
    /// pongs and close echo); they go before the next data frame.
    pub fn push_control(&self, frames: &[u8]) {
        self.writer().out.push_control_bytes(frames);
    }

    /// For the socket task: queue an empty ping.
    pub fn push_ping(&self) {
        self.writer().out.push_ping();
    }

    /// For the socket task: bytes of control frames waiting (a peer that pings and stops
    /// reading grows them).
    pub fn control_len(&self) -> usize {
        self.writer().out.control_len()
    }

    /// For the socket task, as it decides to close: queue nothing more; what is queued
    /// still goes.
    pub fn seal(&self) {
        self.writer().sealed = true;
    }

    /// [`Outbox::seal`], and drop the data frames not yet started (the peer closed: only
    /// the frame already on its way, then the echo queued as a control frame).
    pub fn seal_dropping_data(&self) {
        let mut w = self.writer();
        w.sealed = true;
        w.out.drop_unstarted_data();
    }

    /// [`Outbox::seal`], and drop every frame not yet started, control frames too (a slow or
    /// dead peer would only hold the close up). The frame already on its way stays whole.
    pub fn seal_dropping_all(&self) {
        let mut w = self.writer();
        w.sealed = true;
        w.out.keep_partial_frame();
    }

    /// For the socket task, once everything before it is written: queue our close frame.
    pub fn push_close(&self, code: u16) {
        let mut w = self.writer();
        w.sealed = true;
        w.out.push_close(code, close::reason(code));
    }

    /// Ask the connection to close with `code`. The first code asked for wins: true if it
    /// is this one.
    pub fn close(&self, code: u16) -> bool {
        let first = self
            .0
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.0.waker.wake();
        first
    }

    /// The client is not keeping up: close it as slow, counted once per connection.
    pub fn fell_behind(&self) {
        if self.close(close::SLOW) {
            METRICS.slow_disconnects.inc();
        }
    }

    /// The close code asked for, if any.
    pub fn close_code(&self) -> Option<u16> {
        match self.0.close_code.load(Ordering::Acquire) {
            0 => None,
            c => Some(c),
        }
    }

    /// For the socket task: be woken by a close, or by a write the socket did not take.
    pub fn register(&self, waker: &Waker) {
        self.0.waker.register(waker);
    }

    /// For the socket task, as it ends: refuse further frames and free what is queued.
    pub fn finish(&self) {
        self.0.gone.store(true, Ordering::Release);
        let mut w = self.writer();
        w.sealed = true;
        w.out = Unsent::default();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    fn f(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    /// A connected loopback pair: the outbox on the server side, the raw peer.
    async fn pair(max_frames: usize, max_bytes: usize) -> (Outbox, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (io, _) = l.accept().await.unwrap();
        (Outbox::new(io, max_frames, max_bytes), peer)
    }

    /// Read exactly `n` bytes from the peer.
    async fn read(peer: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        peer.read_exact(&mut buf).await.unwrap();
        buf
    }

    #[tokio::test]
    async fn a_flush_writes_the_batch_at_once_and_keeps_no_storage() {
        let (o, mut peer) = pair(8, 1024).await;
        o.send(f("a")).unwrap();
        o.send(f("bc")).unwrap();
        // Nothing is written before the flush.
        assert_eq!(o.writer().out.data_len(), 2);
        o.flush();
        assert!(o.writer().out.is_empty());
        assert_eq!(read(&mut peer, 7).await, b"\x81\x01a\x81\x02bc");
        // Everything went in the actor's turn: the socket's task has nothing to do.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(o.poll_flush(&mut cx).is_ready());
    }

    #[tokio::test]
    async fn a_full_queue_closes_as_slow_and_that_code_is_final() {
        let (o, _peer) = pair(2, 1024).await;
        o.send(f("1")).unwrap();
        o.send(f("2")).unwrap();
        assert_eq!(o.send(f("3")), Err(SendError::Slow));
        assert_eq!(o.close_code(), Some(close::SLOW));
        // The first code asked for wins.
        assert!(!o.close(close::RESTART));
        assert_eq!(o.close_code(), Some(close::SLOW));
        // Further refusals find the code already set, so the disconnect is counted once.
        assert_eq!(o.send(f("4")), Err(SendError::Slow));
        assert!(!o.close(close::SLOW));
    }

    #[tokio::test]
    async fn the_byte_limit_counts_until_written() {
        let (o, _peer) = pair(100, 10).await;
        o.send(f("12345")).unwrap();
        o.send(f("12345")).unwrap();
        assert_eq!(o.send(f("1")), Err(SendError::Slow));
        let (o, _peer) = pair(100, 10).await;
        o.send(f("12345")).unwrap();
        std::future::poll_fn(|cx| o.poll_flush(cx)).await.unwrap();
        // Written: those bytes no longer count.
        o.send(f("1234567890")).unwrap();
    }

    #[tokio::test]
    async fn a_widened_outbox_holds_that_many_times_more() {
        let (o, _peer) = pair(2, 10).await;
        o.widen(3);
        for _ in 0..6 {
            o.send(f("12345")).unwrap();
        }
        // Six frames of 30 bytes: the frame limit (2 × 3) is reached first.
        assert_eq!(o.send(f("1")), Err(SendError::Slow));
        let (o, _peer) = pair(100, 10).await;
        o.widen(3);
        for _ in 0..6 {
            o.send(f("12345")).unwrap();
        }
        // 30 bytes of 30: one more byte is over.
        assert_eq!(o.send(f("1")), Err(SendError::Slow));
    }

    /// A peer that does not read: the kernel takes what fits, the rest waits in the outbox,
    /// and the socket's task finishes it once the peer reads.
    #[tokio::test]
    async fn what_the_kernel_does_not_take_waits_and_counts() {
        let (o, mut peer) = pair(1_000_000, 64 << 20).await;
        let big = Utf8Bytes::from("x".repeat(60_000));
        let mut sent = 0;
        // Fill the socket's buffers until the actor's flush leaves something queued.
        while o.writer().out.is_empty() {
            o.send(big.clone()).unwrap();
            o.flush();
            sent += 1;
            assert!(sent < 10_000, "the kernel never pushed back");
        }
        let waiting = o.writer().out.data_bytes();
        assert!(waiting > 0 && waiting <= big.len());
        // The socket's task finishes it once the peer reads.
        // A 60,000-byte payload has a 4-byte header.
        let frame = 4 + big.len();
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = vec![0; 1 << 16];
            while got < sent * frame {
                got += peer.read(&mut buf).await.unwrap();
            }
            got
        });
        std::future::poll_fn(|cx| o.poll_flush(cx)).await.unwrap();
        assert_eq!(reader.await.unwrap(), sent * frame);
        assert!(o.writer().out.is_empty());
    }

    #[tokio::test]
    async fn a_sealed_or_finished_outbox_refuses() {
        let (o, _peer) = pair(8, 1024).await;
        o.send(f("a")).unwrap();
        o.seal();
        assert_eq!(o.send(f("b")), Err(SendError::Closed));
        // What was queued before the seal still goes.
        assert_eq!(o.writer().out.data_len(), 1);
        o.finish();
        assert_eq!(o.send(f("c")), Err(SendError::Closed));
        assert!(o.writer().out.is_empty());
    }
}
