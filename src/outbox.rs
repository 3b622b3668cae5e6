//! The bounded queue between a room actor and one socket.
//!
//! The actor pushes frames without ever waiting ([`Outbox::send`]); the socket's task takes
//! everything queued at once ([`Outbox::take`]) and writes it in one vectored write. A client
//! that stops reading is cut off as slow ([`close::SLOW`]) when `--outbox` frames wait in the
//! queue, or when the frames waiting plus those the socket took but has not written yet reach
//! `--max-write-buffer` bytes.
//!
//! It allocates nothing while empty: the socket takes the queue's storage along with the
//! frames, so an idle connection holds only this small shared struct (docs/performance.md).
//!
//! [`close::SLOW`]: crate::protocol::close::SLOW

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use tungstenite::Utf8Bytes;

use crate::metrics::METRICS;
use crate::protocol::close;

/// The sending half of a connection, shared by its room actor and its socket task.
#[derive(Clone, Debug)]
pub struct Outbox(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    max_frames: usize,
    max_bytes: usize,
    /// The close code asked for; 0 while open. The first code asked for wins.
    close_code: AtomicU16,
    /// The socket task has ended: nothing sent now will be written.
    gone: AtomicBool,
    /// The socket task, woken by a new frame or a close.
    waker: AtomicWaker,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    /// Bytes taken by the socket and not yet written.
    in_flight_bytes: usize,
}

/// Why [`Outbox::send`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue was full: the connection has been told to close as slow.
    Slow,
    /// The connection is gone.
    Closed,
}

impl Outbox {
    /// An empty outbox holding at most `max_frames` frames and `max_bytes` bytes.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        Outbox(Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            max_frames: max_frames.max(1),
            max_bytes: max_bytes.max(1),
            close_code: AtomicU16::new(0),
            gone: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }))
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.0.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a frame without waiting. A full queue disconnects the client as slow.
    pub fn send(&self, frame: Utf8Bytes) -> Result<(), SendError> {
        if self.0.gone.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let mut q = self.queue();
        let bytes = q.bytes + q.in_flight_bytes + frame.len();
        if q.frames.len() >= self.0.max_frames || bytes > self.0.max_bytes {
            drop(q);
            self.fell_behind();
            return Err(SendError::Slow);
        }
        q.bytes += frame.len();
        q.frames.push_back(frame);
        drop(q);
        self.0.waker.wake();
        Ok(())
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

    /// For the socket task: be woken by the next frame or close.
    pub fn register(&self, waker: &Waker) {
        self.0.waker.register(waker);
    }

    /// For the socket task: everything queued, with the queue's storage, or `None` if
    /// nothing is. What is taken counts against the byte limit until [`Outbox::written`].
    pub fn take(&self) -> Option<VecDeque<Utf8Bytes>> {
        let mut q = self.queue();
        if q.frames.is_empty() {
            return None;
        }
        q.in_flight_bytes += q.bytes;
        q.bytes = 0;
        Some(std::mem::take(&mut q.frames))
    }

    /// For the socket task: everything taken so far has been written.
    pub fn written(&self) {
        let mut q = self.queue();
        q.in_flight_bytes = 0;
    }

    /// For the socket task, as it ends: refuse further frames and free what is queued.
    pub fn finish(&self) {
        self.0.gone.store(true, Ordering::Release);
        *self.queue() = Queue::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    #[test]
    fn frames_come_out_in_order_and_an_empty_queue_holds_no_storage() {
        let o = Outbox::new(8, 1024);
        assert!(o.take().is_none());
        o.send(f("a")).unwrap();
        o.send(f("b")).unwrap();
        let got: Vec<_> = o.take().unwrap().into_iter().collect();
        assert_eq!(got, vec![f("a"), f("b")]);
        assert_eq!(o.queue().frames.capacity(), 0);
        assert!(o.take().is_none());
    }

    #[test]
    fn a_full_queue_closes_as_slow_and_that_code_is_final() {
        let o = Outbox::new(2, 1024);
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

    #[test]
    fn taken_frames_leave_the_queue_but_their_bytes_count_until_written() {
        // Two frames of 8 bytes in all, taken by the socket.
        let taken = || {
            let o = Outbox::new(2, 10);
            o.send(f("1234")).unwrap();
            o.send(f("5678")).unwrap();
            assert!(o.take().is_some());
            o
        };
        // The queue has room again, but 8 of 10 bytes are still being written.
        assert_eq!(taken().send(f("abc")), Err(SendError::Slow));
        let o = taken();
        o.written();
        o.send(f("abcd")).unwrap();
        o.send(f("efgh")).unwrap();
        assert_eq!(o.close_code(), None);
    }

    #[test]
    fn the_byte_limit_counts_too() {
        let o = Outbox::new(100, 10);
        o.send(f("12345")).unwrap();
        o.send(f("12345")).unwrap();
        assert_eq!(o.send(f("1")), Err(SendError::Slow));
    }

    #[test]
    fn a_finished_outbox_refuses_and_frees() {
        let o = Outbox::new(8, 1024);
        o.send(f("a")).unwrap();
        o.finish();
        assert_eq!(o.send(f("b")), Err(SendError::Closed));
        assert!(o.take().is_none());
    }
}
