//! The frame writer of one socket: it turns what is queued for the peer (the shared,
//! serialised-once text payloads from the room actor, and whole control frames: pings,
//! tungstenite's pongs and close echo, our close frame) into whole RFC 6455 frames, written
//! with as few vectored writes as the socket takes, straight from the shared bytes (headers
//! are made on the fly, payloads are never copied into a buffer).
//!
//! It owns the write queue ([`Unsent`]) and its partial-write cursor: a write the socket
//! takes only in part is resumed exactly where it stopped, so frames are never torn, never
//! reordered, and control frames go between data frames, never inside one. Dropping what is
//! not yet started (a closing socket) keeps the one frame already on its way whole.
//!
//! It must not do anything else: no limits, no waking, no socket state (timers, who closed),
//! no room, no I/O of its own beyond the write function it is given on each call. The outbox
//! (the parent module) decides who writes and when; this module only frames and accounts.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use tungstenite::Utf8Bytes;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};

/// Most queued frames handed to one vectored write.
const COALESCE: usize = 64;

/// What waits to be written to one socket, and how much of it already was: control frames
/// (pings, and tungstenite's pongs and close echo) go before the next data frame, never in
/// the middle of one.
///
/// Its fields stay private: only the methods below touch the cursor, so nothing outside can
/// drop or reorder bytes of a frame already on its way.
#[derive(Default)]
pub(super) struct Unsent {
    /// Whole control frames, back to back.
    control: Vec<u8>,
    /// Data frames' payloads, in order (headers are made on the fly).
    data: VecDeque<Utf8Bytes>,
    /// Payload bytes of `data`, the partly written frame's included.
    data_bytes: usize,
    /// Bytes of the first unit already written, when a write was partial.
    written: usize,
    /// The partly written unit is `control` (else `data`'s first frame).
    writing_control: bool,
}

impl Unsent {
    /// Nothing waits to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.data.is_empty()
    }

    /// Bytes of control frames waiting (a peer that pings and stops reading grows them).
    pub(super) fn control_len(&self) -> usize {
        self.control.len()
    }

    /// Data frames waiting, the partly written one included.
    pub(super) fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Payload bytes of the data frames waiting, the partly written one included.
    pub(super) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Queue a data frame's payload behind those waiting.
    pub(super) fn push_data(&mut self, frame: Utf8Bytes) {
        self.data_bytes += frame.len();
        self.data.push_back(frame);
    }

    /// Queue whole control frames already formatted (what tungstenite writes: pongs, the
    /// echo of the peer's close). They go before the next data frame.
    pub(super) fn push_control_bytes(&mut self, frames: &[u8]) {
        self.control.extend_from_slice(frames);
    }

    /// Queue an empty ping.
    pub(super) fn push_ping(&mut self) {
        push_frame(&mut self.control, Frame::ping(Vec::new()));
    }

    /// Queue our close frame with `code` and `reason`.
    pub(super) fn push_close(&mut self, code: u16, reason: &'static str) {
        let frame = Frame::close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from_static(reason),
        }));
        push_frame(&mut self.control, frame);
    }

    /// Write `control` and `data` in order through `write` (a vectored, non-blocking write:
    /// `WouldBlock` when the socket takes nothing now), as few calls as the socket takes.
    /// `Ok` once everything is written; `WouldBlock` (or the socket's error) leaves the rest
    /// queued with its cursor, to be resumed by the next call.
    pub(super) fn write_with(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        loop {
            if self.written == 0 {
                self.writing_control = !self.control.is_empty();
                if !self.writing_control && self.data.is_empty() {
                    return Ok(());
                }
            }
            let frames = self.data.len().min(COALESCE);
            let mut heads = [([0u8; 10], 0usize); COALESCE];
            for (h, f) in heads.iter_mut().zip(self.data.iter()) {
                *h = text_head(f.len());
            }
            let mut slices = [IoSlice::new(&[]); 2 * COALESCE + 1];
            let mut n = 0;
            let mut skip = self.written;
            if self.writing_control {
                slices[0] = IoSlice::new(&self.control[skip..]);
                n = 1;
                skip = 0;
            }
            for ((head, hlen), body) in heads.iter().zip(self.data.iter()).take(frames) {
                if skip < *hlen {
                    slices[n] = IoSlice::new(&head[skip..*hlen]);
                    n += 1;
                    skip = 0;
                } else {
                    skip -= hlen;
                }
                slices[n] = IoSlice::new(&body.as_bytes()[skip..]);
                n += 1;
                skip = 0;
            }
            let mut k = write(&slices[..n])?;
            if k == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            // Account for what went, unit by unit, with the headers made above.
            let mut next_head = heads[..frames].iter().map(|(_, len)| *len);
            while k > 0 {
                let unit = if self.writing_control {
                    self.control.len()
                } else {
                    match (self.data.front(), next_head.next()) {
                        (Some(f), Some(hlen)) => hlen + f.len(),
                        _ => break,
                    }
                };
                let left = unit - self.written;
                if k < left {
                    self.written += k;
                    break;
                }
                k -= left;
                self.written = 0;
                if self.writing_control {
                    self.control.clear();
                    self.writing_control = false;
                } else if let Some(f) = self.data.pop_front() {
                    self.data_bytes -= f.len();
                }
            }
        }
    }

    /// Drop the data frames not yet started: only one partly written may stay (a frame cut
    /// in half would break the stream).
    pub(super) fn drop_unstarted_data(&mut self) {
        if self.written > 0 && !self.writing_control {
            self.data.truncate(1);
        } else {
            self.data.clear();
        }
        self.data_bytes = self.data.iter().map(|f| f.len()).sum();
    }

    /// Drop every frame not yet started, data and control.
    pub(super) fn keep_partial_frame(&mut self) {
        self.drop_unstarted_data();
        if !(self.written > 0 && self.writing_control) {
            self.control.clear();
        }
    }
}

/// The header of an unmasked, final text frame of `len` bytes, and its length.
fn text_head(len: usize) -> ([u8; 10], usize) {
    let head = FrameHeader {
        is_final: true,
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let mut buf = [0u8; 10];
    let mut cursor = io::Cursor::new(&mut buf[..]);
    // Ten bytes hold any unmasked header, so formatting cannot fail.
    let _ = head.format(len as u64, &mut cursor);
    let n = cursor.position() as usize;
    (buf, n)
}

/// Append `frame`, formatted, to `out`.
fn push_frame(out: &mut Vec<u8>, frame: Frame) {
    // Writing into a Vec cannot fail.
    let _ = frame.format(out);
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use proptest::prelude::*;
    use tokio::io::AsyncWrite;

    use super::*;

    impl Unsent {
        /// [`Unsent::write_with`] over an `AsyncWrite`: pending while it takes nothing.
        fn poll_write<W: AsyncWrite + Unpin>(
            &mut self,
            io: &mut W,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<()>> {
            let r = self.write_with(|s| match Pin::new(&mut *io).poll_write_vectored(cx, s) {
                Poll::Ready(r) => r,
                Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            });
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                r => Poll::Ready(r),
            }
        }
    }

    #[test]
    fn text_headers_use_the_shortest_length_encoding() {
        assert_eq!(text_head(5), ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(text_head(125).1, 2);
        assert_eq!(text_head(126), ([0x81, 126, 0, 126, 0, 0, 0, 0, 0, 0], 4));
        assert_eq!(text_head(65_535).1, 4);
        assert_eq!(text_head(65_536).1, 10);
    }

    /// A socket that takes a few bytes at a time and sometimes none.
    struct Trickle {
        out: Vec<u8>,
        chunks: Vec<usize>,
        calls: usize,
        pending_every: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let call = self.calls;
            self.calls += 1;
            if self.pending_every > 0 && call % self.pending_every == 0 {
                return Poll::Pending;
            }
            let mut room = self.chunks[call % self.chunks.len()];
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(room);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                room -= take;
                if room == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Every frame in `bytes`, as (opcode byte, payload); fails on a torn frame.
    fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut cursor = io::Cursor::new(bytes);
        let mut out = Vec::new();
        while (cursor.position() as usize) < bytes.len() {
            let start = cursor.position() as usize;
            let (head, len) = FrameHeader::parse(&mut cursor)
                .expect("a valid header")
                .expect("a whole header");
            assert!(head.mask.is_none() && head.is_final);
            let at = cursor.position() as usize;
            let end = at + len as usize;
            assert!(end <= bytes.len(), "a torn frame at byte {start}");
            out.push((bytes[start], bytes[at..end].to_vec()));
            cursor.set_position(end as u64);
        }
        out
    }

    #[derive(Debug, Clone)]
    enum Op {
        Data(usize),
        Ping(usize),
        Write,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop_oneof![0..300usize, Just(119), Just(120), Just(65_529), Just(70_000)]
                .prop_map(Op::Data),
            1 => (0..120usize).prop_map(Op::Ping),
            3 => Just(Op::Write),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// However the socket splits the writes, the bytes are whole frames: every data frame
        /// once and in order, every control frame once and in order, none inside another;
        /// and a close after `keep_partial_frame` still lands on a frame boundary.
        #[test]
        fn partial_writes_never_tear_or_reorder_frames(
            ops in prop::collection::vec(op(), 1..40),
            chunks in prop::collection::vec(prop_oneof![1..200usize, 1000..100_000usize], 1..8),
            pending_every in prop_oneof![Just(0usize), 2..5usize],
            close_early in any::<bool>(),
        ) {
            let mut io = Trickle { out: Vec::new(), chunks, calls: 0, pending_every };
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let mut u = Unsent::default();
            let (mut texts, mut pings) = (Vec::new(), Vec::new());
            for op in ops {
                match op {
                    Op::Data(n) => {
                        let t = format!("{:06}{}", texts.len(), "x".repeat(n));
                        u.push_data(Utf8Bytes::from(t.clone()));
                        texts.push(t.into_bytes());
                    }
                    Op::Ping(n) => {
                        let p = vec![b'p'; n];
                        push_frame(&mut u.control, Frame::ping(p.clone()));
                        pings.push(p);
                    }
                    Op::Write => {
                        let _ = u.poll_write(&mut io, &mut cx);
                    }
                }
            }
            if close_early {
                u.keep_partial_frame();
                push_frame(&mut u.control, Frame::close(None));
            }
            // Each call that is not refused takes at least a byte.
            let most = 3 * (u.control.len() + u.data.iter().map(|d| d.len() + 10).sum::<usize>()) + 10;
            let mut spins = 0;
            while u.poll_write(&mut io, &mut cx).is_pending() {
                spins += 1;
                prop_assert!(spins < most, "no progress");
            }
            prop_assert_eq!(u.data_bytes(), 0, "bytes left counted after everything went");
            let got = frames(&io.out);
            let data: Vec<Vec<u8>> =
                got.iter().filter(|f| f.0 == 0x81).map(|f| f.1.clone()).collect();
            let ping: Vec<Vec<u8>> =
                got.iter().filter(|f| f.0 == 0x89).map(|f| f.1.clone()).collect();
            if close_early {
                prop_assert_eq!(got.last().map(|f| f.0), Some(0x88));
                prop_assert!(texts.starts_with(&data));
                prop_assert!(pings.starts_with(&ping));
            } else {
                prop_assert_eq!(data, texts);
                prop_assert_eq!(ping, pings);
            }
        }
    }
}
