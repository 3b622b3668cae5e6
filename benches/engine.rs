//! Criterion benchmarks of the pure room engine (`brainwrite::room`), with no sockets and no
//! runtime: a whole 6-person session, the rotation at a round boundary of a 30-person
//! session, and building (and serialising) the snapshots a joining client or a facilitator
//! receives. Each "+ messages" variant also renders every frame the room actor would send,
//! so the pair shows what the engine costs and what turning it into JSON costs.
//!
//! `cargo bench --bench engine` (add a filter, e.g. `-- rotation`, to run one group).

use std::hint::black_box;

use brainwrite::protocol::ServerMsg;
use brainwrite::room::{Command, Pid, Room, Settings, WriteSlot};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// Round length used throughout, ms.
const ROUND_MS: u64 = 300_000;

fn settings() -> Settings {
    Settings::classic("How might we make Monday meetings shorter?")
}

/// A room with `n` participants joined and connected, in the lobby.
fn lobby(n: u32) -> Room {
    let mut room = Room::new(settings(), 7);
    for i in 0..n {
        let mut token_hash = [0u8; 32];
        token_hash[..4].copy_from_slice(&i.to_le_bytes());
        room.handle(
            Command::Join {
                token_hash,
                name: Some(format!("person {i}")),
            },
            0,
        )
        .expect("join");
        room.handle(Command::Connect(Pid(i)), 0).expect("connect");
    }
    room
}

/// An idea as it would be typed, growing over `versions` draft updates.
fn idea(p: u32, round: u32, slot: u32, version: u32) -> String {
    let full = format!(
        "participant {p} round {round} slot {slot}: hold the stand-up walking, and end it when the walk ends"
    );
    let len = full.len() * (version as usize + 1) / 4;
    full[..len.max(1)].to_owned()
}

/// Every seated participant fills every slot with four typing-like updates.
fn write_round(room: &mut Room, n: u32, now: u64) {
    let round = room.round();
    for version in 0..4 {
        for p in 0..n {
            for slot in 0..3 {
                room.handle(
                    Command::Write(WriteSlot {
                        pid: Pid(p),
                        slot,
                        text: idea(p, round, slot, version),
                        round: Some(round),
                        builds_on: None,
                        sheet: None,
                    }),
                    now,
                )
                .expect("write");
            }
        }
    }
}

/// The frames the actor renders at a round boundary: the room state for everyone, each
/// participant's sheet, progress for facilitator and boards, and the roster.
fn boundary_frames(room: &Room, n: u32, now: u64) -> usize {
    let mut bytes = ServerMsg::Room(room.view("ABCD2345", now)).to_json().len();
    for p in 0..n {
        if let Some(held) = room.held_sheet(Pid(p)) {
            bytes += ServerMsg::Sheet(held).to_json().len();
        }
    }
    bytes += ServerMsg::Progress(room.progress()).to_json().len();
    bytes += ServerMsg::Roster {
        participants: room.roster(),
    }
    .to_json()
    .len();
    bytes
}

/// A whole session: join, start, every round written and ended by its deadline, reveal.
fn session(n: u32, render: bool) -> usize {
    let mut room = lobby(n);
    room.handle(Command::Start, 0).expect("start");
    let mut bytes = 0;
    let mut now = 0;
    while let Some(deadline) = room.next_deadline() {
        write_round(&mut room, n, now + 1);
        now = deadline;
        room.tick(now);
        if render {
            bytes += boundary_frames(&room, n, now);
        }
    }
    if render && let Some(sheets) = room.reveal() {
        bytes += ServerMsg::Reveal { sheets }.to_json().len();
    }
    bytes + room.idea_count()
}

/// A 30-person room in round 3 with every draft filled: the next `tick` rotates.
fn before_rotation(n: u32) -> (Room, u64) {
    let mut room = lobby(n);
    room.handle(Command::Start, 0).expect("start");
    let mut now = 0;
    for _ in 0..2 {
        write_round(&mut room, n, now + 1);
        now = room.next_deadline().expect("running");
        room.tick(now);
    }
    write_round(&mut room, n, now + 1);
    (room, now + ROUND_MS)
}

fn bench_session(c: &mut Criterion) {
    // The rules hold before anything is timed: 6 × 6 rounds × 3 ideas.
    assert_eq!(session(6, false), 108);
    let mut g = c.benchmark_group("session");
    g.bench_function("6 people, 6 rounds, 4 updates per idea", |b| {
        b.iter(|| black_box(session(6, false)))
    });
    g.bench_function("6 people, 6 rounds + messages", |b| {
        b.iter(|| black_box(session(6, true)))
    });
    g.finish();
}

fn bench_rotation(c: &mut Criterion) {
    let (room, deadline) = before_rotation(30);
    assert_eq!(room.ring_sizes(), vec![6; 5]);
    let mut g = c.benchmark_group("rotation");
    g.bench_function("30 people, round 3 -> 4", |b| {
        b.iter_batched(
            || room.clone(),
            |mut r| {
                let ev = r.tick(deadline);
                assert_eq!(r.round(), 4);
                black_box((ev, r))
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("30 people, round 3 -> 4 + messages", |b| {
        b.iter_batched(
            || room.clone(),
            |mut r| {
                r.tick(deadline);
                let bytes = boundary_frames(&r, 30, deadline);
                black_box((bytes, r))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    let (mut room, deadline) = before_rotation(30);
    // Late in the session: sheets already carry rows.
    for _ in 0..2 {
        room.tick(deadline);
        let d = room.next_deadline().expect("running");
        write_round(&mut room, 30, d - 1);
        room.tick(d);
    }
    let now = room.next_deadline().expect("running") - 1;
    let mut g = c.benchmark_group("snapshot");
    g.bench_function("participant (room, me, sheet) in round 6 of 30", |b| {
        b.iter(|| {
            let mut bytes = ServerMsg::Room(room.view("ABCD2345", now)).to_json().len();
            let me = room.me(Pid(17)).expect("known");
            bytes += ServerMsg::Me(me).to_json().len();
            let held = room.held_sheet(Pid(17)).expect("seated");
            bytes += ServerMsg::Sheet(held).to_json().len();
            black_box(bytes)
        })
    });
    g.bench_function("facilitator (room, roster, progress) of 30", |b| {
        b.iter(|| {
            let mut bytes = ServerMsg::Room(room.view("ABCD2345", now)).to_json().len();
            bytes += ServerMsg::Roster {
                participants: room.roster(),
            }
            .to_json()
            .len();
            bytes += ServerMsg::Progress(room.progress()).to_json().len();
            black_box(bytes)
        })
    });
    g.bench_function("view only (built, not serialised)", |b| {
        b.iter(|| black_box(room.view("ABCD2345", now)))
    });
    let mut finished = room.clone();
    finished.handle(Command::Finish, now).expect("finish");
    g.bench_function("reveal of 30 sheets, serialised", |b| {
        b.iter(|| {
            let sheets = finished.reveal().expect("finished");
            black_box(ServerMsg::Reveal { sheets }.to_json())
        })
    });
    g.finish();
}

criterion_group!(benches, bench_session, bench_rotation, bench_snapshot);
criterion_main!(benches);
