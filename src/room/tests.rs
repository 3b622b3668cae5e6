//! Engine tests: rotation, phases, the clock, rejections, and property tests over random
//! command sequences. No sockets, no runtime.

use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const T0: Millis = 1_700_000_000_000;

fn room_with(n: usize, settings: Settings) -> (Room, Vec<Pid>) {
    let mut room = Room::new(settings, 42);
    let mut pids = Vec::new();
    for i in 0..n {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let ev = room
            .handle(
                Command::Join {
                    token_hash: h,
                    name: Some(format!("P{i}")),
                },
                T0,
            )
            .unwrap();
        let Some(Event::Joined(pid)) = ev.first().cloned() else {
            panic!("no Joined event: {ev:?}")
        };
        room.handle(Command::Connect(pid), T0).unwrap();
        pids.push(pid);
    }
    (room, pids)
}

fn settings(group: u32, per: u32, secs: u32) -> Settings {
    Settings {
        ideas_per_round: per,
        round_seconds: secs,
        group_size: group,
        ..Settings::classic("How might we?")
    }
}

fn held_id(room: &Room, pid: Pid) -> String {
    room.held_sheet(pid).expect("holds a sheet").sheet.id
}

fn write(
    room: &mut Room,
    pid: Pid,
    slot: u32,
    text: &str,
    now: Millis,
) -> Result<Vec<Event>, RoomError> {
    room.handle(
        Command::Write(WriteSlot {
            pid,
            slot,
            text: text.into(),
            round: None,
            builds_on: None,
            sheet: None,
        }),
        now,
    )
}

#[test]
fn classic_six_person_session_gives_108_ideas() {
    let (mut room, pids) = room_with(6, Settings::classic("Better onboarding"));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.ring_sizes(), vec![6]);
    assert_eq!(room.rounds(), 6);
    let mut now = T0;
    let mut holds: HashMap<Pid, Vec<String>> = HashMap::new();
    for round in 1..=6 {
        assert_eq!(room.round(), round);
        for &p in &pids {
            holds.entry(p).or_default().push(held_id(&room, p));
            for slot in 0..3 {
                write(
                    &mut room,
                    p,
                    slot,
                    &format!("r{round} {p:?} s{slot}"),
                    now + 1,
                )
                .unwrap();
            }
        }
        now += 300_000;
        let ev = room.tick(now);
        assert!(ev.contains(&Event::State));
    }
    assert_eq!(room.phase(), Phase::Finished);
    assert_eq!(room.idea_count(), 108);
    for (p, sheets) in holds {
        let distinct: HashSet<_> = sheets.iter().collect();
        assert_eq!(distinct.len(), 6, "{p:?} held a sheet twice: {sheets:?}");
    }
    let reveal = room.reveal().unwrap();
    assert_eq!(reveal.len(), 6);
    for s in &reveal {
        assert_eq!(s.rows.len(), 6);
        assert_eq!(
            s.rows.iter().map(|r| r.round).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
    }
}

#[test]
fn rotation_for_ring_sizes_2_to_12() {
    for n in 2..=12usize {
        let (mut room, _) = room_with(n, settings(12, 1, 10));
        room.handle(Command::Start, T0).unwrap();
        assert_eq!(room.rounds(), n as u32);
        let order: Vec<Pid> = room.seated().collect();
        // Seat i's own sheet in round 1.
        let own: Vec<String> = order.iter().map(|&p| held_id(&room, p)).collect();
        let mut now = T0;
        for round in 1..=n as u32 {
            for (seat, &p) in order.iter().enumerate() {
                assert_eq!(
                    held_id(&room, p),
                    own[(seat + round as usize - 1) % n],
                    "n={n} round={round} seat={seat}"
                );
                write(&mut room, p, 0, &format!("{round}-{seat}"), now).unwrap();
            }
            now += 10_000;
            room.tick(now);
        }
        assert_eq!(room.phase(), Phase::Finished);
        assert_eq!(room.idea_count(), n * n);
        // The row of round r on the sheet of seat s was written by seat (s - r + 1) mod n.
        let reveal = room.reveal().unwrap();
        for (s, sheet) in reveal.iter().enumerate() {
            assert_eq!(sheet.id, own[s]);
            for row in &sheet.rows {
                let writer = (s + n * 2 - (row.round as usize - 1)) % n;
                assert_eq!(row.ideas[0].text, format!("{}-{writer}", row.round));
            }
        }
    }
}

#[test]
fn uneven_splits_make_rings_and_rounds_from_the_smallest() {
    for (n, g, sizes, rounds) in [
        (8, 6, vec![4, 4], 4),
        (13, 6, vec![5, 4, 4], 4),
        (3, 2, vec![3], 3),
        (7, 3, vec![3, 2, 2], 2),
    ] {
        let (mut room, _) = room_with(n, settings(g, 3, 60));
        let lobby = room.view("C", T0);
        assert_eq!(lobby.rounds, rounds, "planned rounds shown in the lobby");
        room.handle(Command::Start, T0).unwrap();
        assert_eq!(room.ring_sizes(), sizes);
        assert_eq!(room.rounds(), rounds);
    }
}

#[test]
fn rounds_setting_only_lowers() {
    let (mut room, _) = room_with(
        6,
        Settings {
            max_rounds: Some(2),
            ..settings(6, 3, 60)
        },
    );
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.rounds(), 2);
    let (mut room, _) = room_with(
        3,
        Settings {
            max_rounds: Some(12),
            ..settings(6, 3, 60)
        },
    );
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.rounds(), 3);
}

#[test]
fn start_rules() {
    let (mut room, _) = room_with(1, settings(6, 3, 60));
    assert_eq!(
        room.handle(Command::Start, T0),
        Err(RoomError::NotEnoughParticipants(1))
    );
    let (mut room, _) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(
        room.handle(Command::Start, T0),
        Err(RoomError::AlreadyStarted)
    );
}

#[test]
fn pause_freezes_and_extend_adds() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 60_000));
    room.handle(Command::Pause, T0 + 20_000).unwrap();
    assert_eq!(room.phase(), Phase::Paused { remaining: 40_000 });
    assert_eq!(room.next_deadline(), None);
    // Time passes while paused: nothing ends.
    assert!(room.tick(T0 + 500_000).is_empty());
    assert!(matches!(
        write(&mut room, pids[0], 0, "x", T0 + 500_000),
        Err(RoomError::NotWriting(_))
    ));
    room.handle(Command::Extend(30), T0 + 500_000).unwrap();
    assert_eq!(room.phase(), Phase::Paused { remaining: 70_000 });
    room.handle(Command::Resume, T0 + 600_000).unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 670_000));
    room.handle(Command::Extend(60), T0 + 600_001).unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 730_000));
    assert_eq!(room.view("C", T0).deadline, Some(T0 + 730_000));
    assert!(matches!(
        room.handle(Command::Extend(0), T0),
        Err(RoomError::InvalidValue(_))
    ));
    assert!(matches!(
        room.handle(Command::Extend(3601), T0),
        Err(RoomError::InvalidValue(_))
    ));
    assert!(matches!(
        room.handle(Command::Resume, T0 + 600_002),
        Err(RoomError::WrongPhase(_))
    ));
    room.tick(T0 + 730_000);
    assert_eq!(room.round(), 2);
    // Round 2 is timed from the tick that ended round 1.
    assert_eq!(room.next_deadline(), Some(T0 + 790_000));
}

/// A boundary the clock reaches late (a busy shard) hands the sheets out then, and the next
/// round lasts its full length from that moment; a stalled server ends one round per tick,
/// never skipping one nobody could write in.
#[test]
fn a_late_tick_gives_the_next_round_its_full_length_and_skips_none() {
    let (mut room, pids) = room_with(3, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 60_000));
    // Before the deadline nothing happens.
    assert!(room.tick(T0 + 59_999).is_empty());
    room.tick(T0 + 60_250);
    assert_eq!(room.round(), 2);
    assert_eq!(room.next_deadline(), Some(T0 + 120_250));
    // Ten minutes late: one round ends, the next gets its whole minute.
    room.tick(T0 + 720_000);
    assert_eq!(room.round(), 3);
    assert_eq!(room.next_deadline(), Some(T0 + 780_000));
    // A write in that round is still taken.
    write(&mut room, pids[0], 0, "late but whole", T0 + 779_999).unwrap();
}

/// Replay ends the round at a journaled tick even when the deadline it computes is later
/// (a journal from a server that timed rounds from the old deadline).
#[test]
fn a_replayed_tick_ends_the_round_whatever_the_deadline() {
    let (mut room, _) = room_with(3, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    room.replay_tick(T0 + 60_500);
    room.replay_tick(T0 + 120_000);
    assert_eq!(room.round(), 3);
    assert_eq!(room.next_deadline(), Some(T0 + 180_000));
    let (mut lobby, _) = room_with(3, settings(6, 3, 60));
    assert!(lobby.replay_tick(T0).is_empty(), "no round, nothing to end");
}

#[test]
fn early_end_when_every_connected_participant_is_done() {
    let (mut room, pids) = room_with(3, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    write(&mut room, pids[0], 0, "a", T0 + 1).unwrap();
    room.handle(
        Command::Done {
            pid: pids[0],
            round: Some(1),
        },
        T0 + 2,
    )
    .unwrap();
    room.handle(
        Command::Done {
            pid: pids[1],
            round: None,
        },
        T0 + 3,
    )
    .unwrap();
    assert_eq!(room.round(), 1);
    assert_eq!(room.view("C", T0).done, 2);
    // Writing again withdraws done.
    write(&mut room, pids[1], 0, "b", T0 + 4).unwrap();
    assert_eq!(room.view("C", T0).done, 1);
    room.handle(
        Command::Done {
            pid: pids[1],
            round: None,
        },
        T0 + 5,
    )
    .unwrap();
    // The last one disconnects instead of finishing: everyone connected is done.
    let ev = room.handle(Command::Disconnect(pids[2]), T0 + 6).unwrap();
    assert!(ev.contains(&Event::Dealt));
    assert_eq!(room.round(), 2);
    assert_eq!(room.next_deadline(), Some(T0 + 6 + 60_000));
    assert_eq!(room.idea_count(), 2);
    // Done for the wrong round is refused.
    assert!(matches!(
        room.handle(
            Command::Done {
                pid: pids[0],
                round: Some(1)
            },
            T0 + 7
        ),
        Err(RoomError::NotWriting(_))
    ));
}

#[test]
fn nobody_connected_does_not_end_the_round() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    room.handle(Command::Disconnect(pids[0]), T0 + 1).unwrap();
    room.handle(Command::Disconnect(pids[1]), T0 + 2).unwrap();
    assert_eq!(room.round(), 1);
}

#[test]
fn late_writes_are_refused_and_change_nothing() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    write(&mut room, pids[0], 0, "in time", T0 + 59_999).unwrap();
    // Without a tick the engine still treats the round as closed.
    assert!(matches!(
        write(&mut room, pids[0], 1, "late", T0 + 60_000),
        Err(RoomError::NotWriting(_))
    ));
    room.tick(T0 + 60_000);
    assert_eq!(room.round(), 2);
    assert_eq!(room.idea_count(), 1);
    assert!(matches!(
        room.handle(
            Command::Write(WriteSlot {
                pid: pids[0],
                slot: 0,
                text: "old".into(),
                round: Some(1),
                builds_on: None,
                sheet: None,
            }),
            T0 + 60_001
        ),
        Err(RoomError::NotWriting(_))
    ));
    assert_eq!(room.held_sheet(pids[0]).unwrap().draft, vec!["", "", ""]);
}

#[test]
fn write_validation() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    assert!(matches!(
        write(&mut room, pids[0], 0, "x", T0),
        Err(RoomError::NotWriting(_))
    ));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(
        write(&mut room, pids[0], 3, "x", T0),
        Err(RoomError::InvalidSlot { slot: 3, max: 2 })
    );
    assert!(matches!(
        write(&mut room, pids[0], 0, &"x".repeat(501), T0),
        Err(RoomError::TooLong { len: 501, .. })
    ));
    // Idempotent, and control characters are stripped.
    write(&mut room, pids[0], 0, "a\u{202E}b", T0).unwrap();
    write(&mut room, pids[0], 0, "a\u{202E}b", T0).unwrap();
    assert_eq!(room.held_sheet(pids[0]).unwrap().draft[0], "ab");
    // Empty text clears.
    write(&mut room, pids[0], 0, "", T0).unwrap();
    assert_eq!(room.held_sheet(pids[0]).unwrap().draft[0], "");
}

#[test]
fn late_joiner_waits_unseated() {
    let (mut room, _) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    let ev = room
        .handle(
            Command::Join {
                token_hash: [9; 32],
                name: None,
            },
            T0,
        )
        .unwrap();
    let Some(Event::Joined(late)) = ev.first().cloned() else {
        panic!()
    };
    assert_eq!(room.me(late), Some(me(false, false, false)));
    assert!(room.held_sheet(late).is_none());
    assert!(matches!(
        write(&mut room, late, 0, "x", T0),
        Err(RoomError::NotWriting(_))
    ));
    assert_eq!(room.find_by_token(&[9; 32]), Some(late));
    assert_eq!(room.find_by_token(&[8; 32]), None);
}

#[test]
fn finish_keeps_the_current_row_and_reveals() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    write(&mut room, pids[0], 0, "kept", T0 + 1).unwrap();
    let ev = room.handle(Command::Finish, T0 + 2).unwrap();
    assert!(ev.contains(&Event::Revealed));
    assert_eq!(room.idea_count(), 1);
    assert_eq!(
        room.handle(Command::Start, T0 + 3),
        Err(RoomError::Finished)
    );
    assert_eq!(
        room.handle(Command::Pause, T0 + 3),
        Err(RoomError::Finished)
    );
}

#[test]
fn names_are_validated_and_room_fills() {
    let mut room = Room::new(
        Settings {
            max_participants: 1,
            ..settings(6, 3, 60)
        },
        1,
    );
    assert!(matches!(
        room.handle(
            Command::Join {
                token_hash: [1; 32],
                name: Some("n".repeat(41))
            },
            T0
        ),
        Err(RoomError::TooLong { what: "name", .. })
    ));
    assert_eq!(room.participant_count(), 0);
    room.handle(
        Command::Join {
            token_hash: [1; 32],
            name: Some("  ".into()),
        },
        T0,
    )
    .unwrap();
    assert_eq!(room.participant_name(Pid(0)), None);
    assert_eq!(
        room.handle(
            Command::Join {
                token_hash: [2; 32],
                name: None
            },
            T0
        ),
        Err(RoomError::RoomFull(1))
    );
}

#[test]
fn progress_counts_without_text() {
    let (mut room, pids) = room_with(3, settings(6, 2, 60));
    room.handle(Command::Start, T0).unwrap();
    write(&mut room, pids[0], 0, "secret", T0).unwrap();
    write(&mut room, pids[0], 1, "   ", T0).unwrap();
    let p = room.progress();
    assert_eq!(p.sheets.iter().map(|s| s.drafted).sum::<u32>(), 1);
    assert!(p.sheets.iter().all(|s| s.capacity == 6));
    room.handle(Command::Advance, T0 + 1).unwrap();
    let p = room.progress();
    assert_eq!(p.sheets.iter().map(|s| s.ideas).sum::<u32>(), 1);
    assert_eq!(p.round, 2);
}

#[test]
fn same_seed_same_session() {
    let run = || {
        let (mut room, pids) = room_with(7, settings(3, 2, 60));
        room.handle(Command::Start, T0).unwrap();
        for &p in &pids {
            write(&mut room, p, 0, "x", T0).unwrap();
        }
        room.handle(Command::Advance, T0 + 5).unwrap();
        (
            room.ring_sizes(),
            room.reveal(),
            room.progress(),
            pids.iter().map(|&p| held_id(&room, p)).collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(), run());
}

#[derive(Debug, Clone)]
enum Op {
    Join,
    Connect(usize),
    Disconnect(usize),
    Write(usize, u32, String),
    Done(usize),
    Start,
    Pause,
    Resume,
    Extend(u32),
    Advance,
    Finish,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Join),
        1 => (0..16usize).prop_map(Op::Connect),
        1 => (0..16usize).prop_map(Op::Disconnect),
        8 => (0..16usize, 0..4u32, "[a-z ]{0,12}").prop_map(|(p, s, t)| Op::Write(p, s, t)),
        2 => (0..16usize).prop_map(Op::Done),
        2 => Just(Op::Start),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => (0..5u32).prop_map(Op::Extend),
        1 => Just(Op::Advance),
        1 => Just(Op::Finish),
        3 => (0..90_000u64).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random command sequences: nobody ever holds the same sheet twice, every accepted
    /// non-empty write that was still in the draft at its round's end lands on exactly one
    /// sheet, refused commands change nothing, and the clock never runs backwards.
    #[test]
    fn invariants_hold_under_random_commands(
        group in 2..7u32,
        per in 1..4u32,
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut room = Room::new(Settings { max_participants: 16, ..settings(group, per, 60) }, seed);
        let mut pids: Vec<Pid> = Vec::new();
        let mut now = T0;
        let mut held: HashMap<Pid, Vec<String>> = HashMap::new();
        // The text each participant has in each slot of its current draft, by round.
        let mut drafts: HashMap<(Pid, u32, u32), String> = HashMap::new();
        let mut committed: Vec<(u32, String)> = Vec::new();
        let mut counter = 0u64;
        let mut last_round = 0;
        let record = |room: &Room, held: &mut HashMap<Pid, Vec<String>>, last_round: &mut u32| {
            if room.round() != *last_round {
                *last_round = room.round();
                for p in room.seated().collect::<Vec<_>>() {
                    if let Some(h) = room.held_sheet(p) {
                        held.entry(p).or_default().push(h.sheet.id);
                    }
                }
            }
        };
        for op in ops {
            let before_round = room.round();
            let before_ideas = room.idea_count();
            let pick = |i: usize| pids.get(i % pids.len().max(1)).copied();
            let res = match op {
                Op::Wait(ms) => { now += ms; Ok(room.tick(now)) }
                Op::Join => {
                    let mut h = [0u8; 32];
                    h[..8].copy_from_slice(&(pids.len() as u64).to_le_bytes());
                    let r = room.handle(Command::Join { token_hash: h, name: None }, now);
                    if let Ok(ev) = &r {
                        if let Some(Event::Joined(p)) = ev.first() { pids.push(*p); }
                    }
                    r
                }
                Op::Connect(i) => match pick(i) { Some(p) => room.handle(Command::Connect(p), now), None => continue },
                Op::Disconnect(i) => match pick(i) { Some(p) => room.handle(Command::Disconnect(p), now), None => continue },
                Op::Write(i, slot, t) => match pick(i) {
                    Some(p) => {
                        counter += 1;
                        let text = if t.trim().is_empty() { t } else { format!("{t}#{counter}") };
                        let round = room.round();
                        let r = room.handle(Command::Write(WriteSlot { pid: p, slot, text: text.clone(), round: None, builds_on: None, sheet: None }), now);
                        if r.is_ok() { drafts.insert((p, round, slot), text); }
                        r
                    }
                    None => continue,
                },
                Op::Done(i) => match pick(i) { Some(p) => room.handle(Command::Done { pid: p, round: None }, now), None => continue },
                Op::Start => room.handle(Command::Start, now),
                Op::Pause => room.handle(Command::Pause, now),
                Op::Resume => room.handle(Command::Resume, now),
                Op::Extend(s) => room.handle(Command::Extend(s), now),
                Op::Advance => room.handle(Command::Advance, now),
                Op::Finish => room.handle(Command::Finish, now),
            };
            if res.is_err() {
                prop_assert_eq!(room.round(), before_round);
                prop_assert_eq!(room.idea_count(), before_ideas);
            }
            // When a round ended, the drafts of that round became rows.
            if room.round() != before_round || (room.phase() == Phase::Finished && before_round > 0 && room.idea_count() != before_ideas) {
                for ((_, r, _), t) in drafts.iter() {
                    if *r == before_round && !t.trim().is_empty() {
                        committed.push((*r, t.trim().to_owned()));
                    }
                }
                drafts.retain(|(_, r, _), _| *r != before_round);
            }
            record(&room, &mut held, &mut last_round);
            if let Some(d) = room.next_deadline() { prop_assert!(d > now); }
            prop_assert!(room.round() <= room.rounds());
        }
        for (p, sheets) in &held {
            let distinct: HashSet<_> = sheets.iter().collect();
            prop_assert_eq!(distinct.len(), sheets.len(), "{:?} held a sheet twice: {:?}", p, sheets);
        }
        if let Some(reveal) = room.reveal() {
            let mut on_sheets: Vec<(u32, String)> = reveal
                .iter()
                .flat_map(|s| s.rows.iter().flat_map(|r| r.ideas.iter().map(move |i| (r.round, i.text.clone()))))
                .collect();
            let ids: HashSet<_> = reveal.iter().flat_map(|s| s.rows.iter().flat_map(|r| r.ideas.iter().map(|i| i.id.clone()))).collect();
            prop_assert_eq!(ids.len(), on_sheets.len(), "idea ids are unique");
            on_sheets.sort();
            committed.sort();
            prop_assert_eq!(on_sheets, committed);
        }
    }
}

#[test]
fn resync_gives_downtime_back_and_forgets_connections() {
    let (mut room, pids) = room_with(2, settings(6, 3, 60));
    room.handle(Command::Start, T0).unwrap();
    // Down from T0+10s to T0+1000s: 50 s of the round were left and still are.
    room.handle(
        Command::Resync {
            down_since: T0 + 10_000,
        },
        T0 + 1_000_000,
    )
    .unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 1_050_000));
    assert_eq!(room.view("C", T0).connected, 0);
    write(&mut room, pids[0], 0, "still on time", T0 + 1_000_001).unwrap();
    // A round whose deadline had passed before the crash ends at once.
    room.handle(
        Command::Resync {
            down_since: T0 + 2_000_000,
        },
        T0 + 3_000_000,
    )
    .unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 3_000_000));
    room.tick(T0 + 3_000_000);
    assert_eq!(room.round(), 2);
}

#[test]
fn commands_replay_to_the_same_room() {
    // The journal stores commands; replaying them on a room with the same seed must give
    // the same room, ids included.
    let cmds: Vec<(Millis, Command)> = {
        let mut v = vec![];
        for i in 0..5u8 {
            v.push((
                T0,
                Command::Join {
                    token_hash: [i; 32],
                    name: Some(format!("n{i}")),
                },
            ));
        }
        v.push((T0 + 1, Command::Start));
        for i in 0..5u32 {
            v.push((
                T0 + 2,
                Command::Write(WriteSlot {
                    pid: Pid(i),
                    slot: 0,
                    text: format!("t{i}"),
                    round: Some(1),
                    builds_on: None,
                    sheet: None,
                }),
            ));
        }
        v.push((T0 + 3, Command::Advance));
        v.push((T0 + 4, Command::Finish));
        v
    };
    let play = |cmds: &[(Millis, Command)]| {
        let mut room = Room::new(settings(3, 2, 60), 7);
        for (at, c) in cmds {
            room.tick(*at);
            room.handle(c.clone(), *at).unwrap();
        }
        room
    };
    let json = serde_json::to_string(&cmds).unwrap();
    let back: Vec<(Millis, Command)> = serde_json::from_str(&json).unwrap();
    let (a, b) = (play(&cmds), play(&back));
    assert_eq!(a.reveal(), b.reveal());
    assert_eq!(a.roster(), b.roster());
    assert_eq!(a.finished_at(), Some(T0 + 4));
}

fn join(room: &mut Room, i: u8, now: Millis) -> Pid {
    let ev = room
        .handle(
            Command::Join {
                token_hash: [100 + i; 32],
                name: None,
            },
            now,
        )
        .unwrap();
    let Some(Event::Joined(pid)) = ev.first().cloned() else {
        panic!()
    };
    room.handle(Command::Connect(pid), now).unwrap();
    pid
}

fn sheet_of(room: &Room, pid: Pid) -> Option<String> {
    room.held_sheet(pid).map(|h| h.sheet.id)
}

#[test]
fn two_late_joiners_and_one_leaver_keep_the_rotation_rules() {
    let (mut room, mut pids) = room_with(6, settings(6, 2, 60));
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.rounds(), 6);
    let mut history: HashMap<Pid, Vec<String>> = HashMap::new();
    let mut own: HashMap<Pid, String> = HashMap::new();
    for &p in &pids {
        own.insert(p, sheet_of(&room, p).unwrap());
    }
    let mut now = T0;
    let mut leaver = None;
    for round in 1..=6u32 {
        assert_eq!(room.round(), round);
        // Everyone holding a sheet writes; the matching holds: one sheet each, never twice.
        let mut this_round = HashSet::new();
        for &p in &pids {
            if let Some(s) = sheet_of(&room, p) {
                assert!(
                    this_round.insert(s.clone()),
                    "two hold {s} in round {round}"
                );
                let h = history.entry(p).or_default();
                assert!(!h.contains(&s), "{p:?} holds {s} twice");
                h.push(s);
                write(&mut room, p, 0, &format!("r{round} {p:?}"), now).unwrap();
            }
        }
        if round == 2 {
            // Two people arrive late: they wait, then start on their own fresh sheet.
            let a = join(&mut room, 1, now);
            let b = join(&mut room, 2, now);
            assert_eq!(room.me(a), Some(me(false, false, false)));
            assert_eq!(room.view("C", now).waiting, 2);
            assert!(matches!(
                write(&mut room, a, 0, "x", now),
                Err(RoomError::NotWriting(_))
            ));
            pids.extend([a, b]);
        }
        if round == 3 {
            // One leaves mid-round: the row they drafted still lands.
            let l = pids[0];
            write(&mut room, l, 1, "parting idea", now).unwrap();
            room.handle(Command::Leave(l), now).unwrap();
            assert!(room.me(l).unwrap().left);
            leaver = Some(l);
        }
        now += 60_000;
        room.tick(now);
        if round == 2 {
            for &p in &pids[6..] {
                assert_eq!(
                    room.me(p),
                    Some(me(true, false, false)),
                    "seated at the boundary"
                );
                let first = sheet_of(&room, p).unwrap();
                assert!(
                    !own.values().any(|s| *s == first),
                    "a fresh sheet of its own"
                );
                own.insert(p, first);
            }
            assert_eq!(room.ring_sizes(), vec![8]);
        }
        if round == 3 {
            let l = leaver.unwrap();
            assert_eq!(
                sheet_of(&room, l),
                None,
                "the leaver holds nothing after the boundary"
            );
        }
    }
    assert_eq!(room.phase(), Phase::Finished);
    let reveal = room.reveal().unwrap();
    let all: Vec<&str> = reveal
        .iter()
        .flat_map(|s| {
            s.rows
                .iter()
                .flat_map(|r| r.ideas.iter().map(|i| i.text.as_str()))
        })
        .collect();
    assert!(all.contains(&"parting idea"));
    // The leaver's own sheet kept moving after they left.
    let l = leaver.unwrap();
    let theirs = reveal.iter().find(|s| s.id == own[&l]).unwrap();
    assert!(theirs.rows.iter().any(|r| r.round >= 4), "{theirs:?}");
    // The newcomers' sheets joined the rotation: others wrote on them.
    for p in &pids[6..] {
        let s = reveal.iter().find(|s| s.id == own[p]).unwrap();
        assert!(s.rows.len() >= 3, "{s:?}");
    }
}

#[test]
fn builds_on_must_point_at_the_held_sheet_and_shows_in_the_reveal() {
    let (mut room, pids) = room_with(3, settings(6, 2, 60));
    room.handle(Command::Start, T0).unwrap();
    for &p in &pids {
        write(&mut room, p, 0, "seed", T0).unwrap();
    }
    room.handle(Command::Advance, T0 + 1).unwrap();
    let sheet = room.held_sheet(pids[0]).unwrap().sheet;
    let on_mine = sheet.rows[0].ideas[0].id.clone();
    let elsewhere = room.held_sheet(pids[1]).unwrap().sheet.rows[0].ideas[0]
        .id
        .clone();
    let w = |room: &mut Room, b: &str| {
        room.handle(
            Command::Write(WriteSlot {
                pid: pids[0],
                slot: 1,
                text: "more".into(),
                round: None,
                builds_on: Some(b.into()),
                sheet: None,
            }),
            T0 + 2,
        )
    };
    assert!(matches!(
        w(&mut room, &elsewhere),
        Err(RoomError::UnknownIdea(_))
    ));
    assert!(matches!(
        w(&mut room, "i999"),
        Err(RoomError::UnknownIdea(_))
    ));
    w(&mut room, &on_mine).unwrap();
    assert_eq!(
        room.held_sheet(pids[0]).unwrap().links,
        vec![None, Some(on_mine.clone())]
    );
    room.handle(Command::Finish, T0 + 3).unwrap();
    let linked: Vec<_> = room
        .reveal()
        .unwrap()
        .into_iter()
        .flat_map(|s| s.rows.into_iter().flat_map(|r| r.ideas))
        .filter(|i| i.builds_on.is_some())
        .collect();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].builds_on.as_deref(), Some(on_mine.as_str()));
}

/// A finished 3-person session where each wrote one idea; returns the idea ids by author.
fn finished_room() -> (Room, Vec<Pid>, Vec<String>) {
    let (mut room, pids) = room_with(3, settings(6, 1, 60));
    room.handle(Command::Start, T0).unwrap();
    let mut sheets = Vec::new();
    for &p in &pids {
        sheets.push(sheet_of(&room, p).unwrap());
        write(&mut room, p, 0, &format!("idea of {p:?}"), T0).unwrap();
    }
    room.handle(Command::Finish, T0 + 1).unwrap();
    let reveal = room.reveal().unwrap();
    let ids = sheets
        .iter()
        .map(|s| {
            reveal.iter().find(|x| x.id == *s).unwrap().rows[0].ideas[0]
                .id
                .clone()
        })
        .collect();
    (room, pids, ids)
}

fn vote(room: &mut Room, pid: Pid, idea: &str) -> Result<Vec<Event>, RoomError> {
    room.handle(
        Command::Vote {
            pid,
            idea: idea.into(),
        },
        T0 + 10,
    )
}

#[test]
fn dot_voting_refuses_self_votes_and_hides_tallies_until_closed() {
    let (mut room, pids, ids) = finished_room();
    assert_eq!(vote(&mut room, pids[0], &ids[1]), Err(RoomError::NotVoting));
    assert!(matches!(
        room.handle(
            Command::OpenVoting {
                votes: 2,
                per_idea: 3
            },
            T0
        ),
        Err(RoomError::InvalidValue(_))
    ));
    room.handle(
        Command::OpenVoting {
            votes: 2,
            per_idea: 1,
        },
        T0,
    )
    .unwrap();
    assert_eq!(room.view("C", T0).stage, Some(Stage::Voting));
    assert_eq!(vote(&mut room, pids[0], &ids[0]), Err(RoomError::OwnIdea));
    vote(&mut room, pids[0], &ids[1]).unwrap();
    assert_eq!(
        vote(&mut room, pids[0], &ids[1]),
        Err(RoomError::IdeaCap(1))
    );
    vote(&mut room, pids[0], &ids[2]).unwrap();
    assert_eq!(
        vote(&mut room, pids[0], &ids[1]),
        Err(RoomError::NoVotesLeft(2))
    );
    vote(&mut room, pids[1], &ids[2]).unwrap();
    vote(&mut room, pids[2], &ids[1]).unwrap();
    assert_eq!(vote(&mut room, pids[2], &ids[2]), Err(RoomError::OwnIdea));
    vote(&mut room, pids[2], &ids[0]).unwrap();
    room.handle(
        Command::Unvote {
            pid: pids[2],
            idea: ids[0].clone(),
        },
        T0,
    )
    .unwrap();
    // While open: only counts, and each voter's own ballot.
    assert!(room.results().is_none());
    assert_eq!(room.view("C", T0).votes_cast, Some(4));
    let b = room.ballot(pids[0]).unwrap();
    assert_eq!((b.votes_left, b.per_idea, b.mine.len()), (0, 1, 2));
    room.handle(Command::CloseVoting, T0).unwrap();
    let results = room.results().unwrap();
    let by_id: HashMap<_, _> = results
        .iter()
        .map(|r| (r.id.clone(), (r.votes, r.rank)))
        .collect();
    assert_eq!(by_id[&ids[1]], (2, 1));
    assert_eq!(by_id[&ids[2]], (2, 1), "ties share a rank");
    assert_eq!(by_id[&ids[0]], (0, 3));
    assert_eq!(vote(&mut room, pids[1], &ids[0]), Err(RoomError::NotVoting));
}

#[test]
fn clusters_and_merges() {
    let (mut room, pids, ids) = finished_room();
    let c = |room: &mut Room, cmd| room.handle(cmd, T0);
    c(
        &mut room,
        Command::Cluster {
            id: None,
            name: " Onboarding ".into(),
        },
    )
    .unwrap();
    c(
        &mut room,
        Command::Cluster {
            id: None,
            name: "Tools".into(),
        },
    )
    .unwrap();
    assert!(matches!(
        c(
            &mut room,
            Command::Cluster {
                id: None,
                name: "  ".into()
            }
        ),
        Err(RoomError::InvalidValue(_))
    ));
    c(
        &mut room,
        Command::Cluster {
            id: Some("c2".into()),
            name: "Tooling".into(),
        },
    )
    .unwrap();
    c(
        &mut room,
        Command::Assign {
            idea: ids[0].clone(),
            cluster: Some("c1".into()),
        },
    )
    .unwrap();
    c(
        &mut room,
        Command::Assign {
            idea: ids[1].clone(),
            cluster: Some("c1".into()),
        },
    )
    .unwrap();
    // Moving an idea takes it out of its old cluster.
    c(
        &mut room,
        Command::Assign {
            idea: ids[1].clone(),
            cluster: Some("c2".into()),
        },
    )
    .unwrap();
    assert_eq!(
        c(
            &mut room,
            Command::Assign {
                idea: ids[1].clone(),
                cluster: Some("c9".into())
            }
        ),
        Err(RoomError::UnknownCluster("c9".into()))
    );
    let clusters = room.clusters().unwrap().clusters;
    assert_eq!(clusters[0].name, "Onboarding");
    assert_eq!(clusters[0].ideas, vec![ids[0].clone()]);
    assert_eq!(clusters[1].name, "Tooling");
    assert_eq!(clusters[1].ideas, vec![ids[1].clone()]);
    // Merging a duplicate: votes for it count for the original, and its author may not
    // vote for the original either.
    c(
        &mut room,
        Command::Merge {
            idea: ids[2].clone(),
            into: Some(ids[1].clone()),
        },
    )
    .unwrap();
    assert!(matches!(
        c(
            &mut room,
            Command::Merge {
                idea: ids[1].clone(),
                into: Some(ids[2].clone())
            }
        ),
        Err(RoomError::InvalidValue(_))
    ));
    room.handle(
        Command::OpenVoting {
            votes: 3,
            per_idea: 2,
        },
        T0,
    )
    .unwrap();
    assert_eq!(vote(&mut room, pids[2], &ids[1]), Err(RoomError::OwnIdea));
    vote(&mut room, pids[0], &ids[2]).unwrap();
    vote(&mut room, pids[0], &ids[1]).unwrap();
    room.handle(Command::CloseVoting, T0).unwrap();
    let results = room.results().unwrap();
    assert_eq!(results.len(), 2, "the duplicate is not ranked on its own");
    assert_eq!(
        (results[0].id.clone(), results[0].votes),
        (ids[1].clone(), 2)
    );
    c(&mut room, Command::DeleteCluster("c1".into())).unwrap();
    assert_eq!(room.clusters().unwrap().clusters.len(), 1);
    c(
        &mut room,
        Command::Merge {
            idea: ids[2].clone(),
            into: None,
        },
    )
    .unwrap();
    assert!(room.clusters().unwrap().merged.is_empty());
}

#[test]
fn lock_refuses_joins_and_remove_ends_a_token() {
    let (mut room, pids) = room_with(3, settings(6, 1, 60));
    room.handle(Command::Lock, T0).unwrap();
    assert_eq!(
        room.handle(
            Command::Join {
                token_hash: [200; 32],
                name: None
            },
            T0
        ),
        Err(RoomError::Locked)
    );
    assert_eq!(
        room.find_by_token(&[0; 32]),
        Some(pids[0]),
        "resuming still works"
    );
    room.handle(Command::Unlock, T0).unwrap();
    let id = room.participant_id(pids[1]).unwrap().to_owned();
    let ev = room.handle(Command::Remove(id.clone()), T0).unwrap();
    assert!(ev.contains(&Event::Removed(pids[1])));
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&1u64.to_le_bytes());
    assert!(room.is_removed(room.find_by_token(&h).unwrap()));
    assert_eq!(
        room.handle(Command::Remove(id), T0),
        Err(RoomError::UnknownParticipant)
    );
    assert_eq!(room.roster().len(), 2);
    // Two remain: the session can start without the removed one.
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.ring_sizes(), vec![2]);
}

#[test]
fn decide_commands_wait_for_the_end() {
    let (mut room, _) = room_with(2, settings(6, 1, 60));
    assert!(matches!(
        room.handle(
            Command::OpenVoting {
                votes: 3,
                per_idea: 1
            },
            T0
        ),
        Err(RoomError::WrongPhase(_))
    ));
    assert!(matches!(
        room.handle(
            Command::Cluster {
                id: None,
                name: "x".into()
            },
            T0
        ),
        Err(RoomError::WrongPhase(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// People coming and going at random: in every round each sheet has at most one holder,
    /// nobody ever holds a sheet twice (so never their own again), nobody who left holds
    /// one, and no active member sits idle while a sheet of their ring they may hold rests.
    #[test]
    fn rotation_rules_hold_with_people_coming_and_going(
        start in 2..9usize,
        group in 2..7u32,
        seed in any::<u64>(),
        plan in prop::collection::vec((0..4u8, 0..16usize), 0..40),
    ) {
        let mut room = Room::new(Settings { max_participants: 64, ..settings(group, 1, 60) }, seed);
        let mut pids = Vec::new();
        for i in 0..start {
            pids.push(join(&mut room, i as u8, T0));
        }
        room.handle(Command::Start, T0).unwrap();
        let mut now = T0;
        let mut history: HashMap<Pid, HashSet<String>> = HashMap::new();
        let mut left: HashSet<Pid> = HashSet::new();
        let mut step = plan.into_iter();
        let mut joined = start as u8;
        while room.phase() != Phase::Finished {
            let mut holders: HashMap<String, Pid> = HashMap::new();
            for p in room.pids().collect::<Vec<_>>() {
                if let Some(s) = sheet_of(&room, p) {
                    prop_assert!(!left.contains(&p), "{:?} left but holds {}", p, s);
                    prop_assert!(holders.insert(s.clone(), p).is_none(), "two hold {}", s);
                    prop_assert!(history.entry(p).or_default().insert(s.clone()), "{:?} holds {} twice", p, s);
                    let _ = write(&mut room, p, 0, "x", now);
                }
            }
            // Maximality: an active member without a sheet has no resting sheet of its ring
            // that it has never held.
            for ring in &room.rings {
                for &m in &ring.members {
                    let p = &room.participants[m.0 as usize];
                    if p.left || p.holding.is_some() {
                        continue;
                    }
                    for &s in &ring.sheets {
                        let resting = !room.participants.iter().any(|q| q.holding == Some(s));
                        prop_assert!(
                            !resting || p.held.contains(&s),
                            "{:?} idles while sheet {} it never held rests", m, s
                        );
                    }
                }
            }
            if let Some((kind, who)) = step.next() {
                match kind {
                    0 => { joined += 1; if joined < 60 { pids.push(join(&mut room, joined, now)); } }
                    1 => {
                        let p = pids[who % pids.len()];
                        if room.handle(Command::Leave(p), now).is_ok() { left.insert(p); }
                    }
                    2 => {
                        let p = pids[who % pids.len()];
                        if let Some(id) = room.participant_id(p).map(str::to_owned) {
                            if room.handle(Command::Remove(id), now).is_ok() { left.insert(p); }
                        }
                    }
                    _ => {}
                }
            }
            now += 60_000;
            room.tick(now);
        }
        // Every written idea landed exactly once.
        let reveal = room.reveal().unwrap();
        let ids: Vec<String> = reveal.iter().flat_map(|s| s.rows.iter().flat_map(|r| r.ideas.iter().map(|i| i.id.clone()))).collect();
        let unique: HashSet<&String> = ids.iter().collect();
        prop_assert_eq!(unique.len(), ids.len());
    }
}

#[test]
fn refused_votes_change_nothing_found_by_fuzzing() {
    let (mut room, pids, ids) = finished_room();
    room.handle(
        Command::OpenVoting {
            votes: 1,
            per_idea: 1,
        },
        T0,
    )
    .unwrap();
    // An unvote with no ballot is refused and leaves no empty ballot behind.
    assert!(matches!(
        room.handle(
            Command::Unvote {
                pid: pids[0],
                idea: ids[1].clone()
            },
            T0
        ),
        Err(RoomError::UnknownIdea(_))
    ));
    assert!(!room.decide.ballots.contains_key(&pids[0]));
    // A participant that does not exist cannot vote.
    assert_eq!(
        vote(&mut room, Pid(3840), &ids[0]),
        Err(RoomError::UnknownParticipant)
    );
    assert_eq!(room.view("C", T0).votes_cast, Some(0));
}

fn me(seated: bool, done: bool, left: bool) -> MeView {
    MeView {
        seated,
        done,
        left,
        waiting: false,
    }
}

/// A journal written before `Command::Write` wrapped [`WriteSlot`] replays: the JSON is the
/// same, with or without `builds_on`.
#[test]
fn write_commands_keep_their_journal_form() {
    let w = Command::Write(WriteSlot {
        pid: Pid(2),
        slot: 1,
        text: "x".into(),
        round: Some(3),
        builds_on: Some("i4".into()),
        sheet: None,
    });
    let text = r#"{"write":{"pid":2,"slot":1,"text":"x","round":3,"builds_on":"i4"}}"#;
    assert_eq!(serde_json::to_string(&w).unwrap(), text);
    assert_eq!(serde_json::from_str::<Command>(text).unwrap(), w);
    let older = r#"{"write":{"pid":2,"slot":1,"text":"x","round":null}}"#;
    let Command::Write(old) = serde_json::from_str::<Command>(older).unwrap() else {
        panic!("not a write");
    };
    assert_eq!((old.builds_on, old.round), (None, None));
}

/// `view_key` is the view's key in every phase (lobby, writing, paused, locked, finished),
/// and `set_deadline` moves a running round's deadline only.
#[test]
fn the_view_key_matches_the_view_and_set_deadline_moves_only_a_round() {
    let (mut room, _) = room_with(3, settings(6, 3, 60));
    let same = |room: &Room| {
        assert_eq!(
            room.view_key(),
            view::ViewKey::of(&room.view("C", T0)),
            "{:?}",
            room.phase()
        )
    };
    same(&room);
    assert!(!room.set_deadline(T0 + 1));
    room.handle(Command::Start, T0).unwrap();
    same(&room);
    assert!(room.set_deadline(T0 + 99_000));
    assert_eq!(room.next_deadline(), Some(T0 + 99_000));
    same(&room);
    room.handle(Command::Pause, T0 + 20_000).unwrap();
    same(&room);
    assert!(!room.set_deadline(T0 + 1));
    assert_eq!(room.phase(), Phase::Paused { remaining: 79_000 });
    room.handle(Command::Resume, T0 + 30_000).unwrap();
    room.handle(Command::Lock, T0 + 30_000).unwrap();
    same(&room);
    room.handle(Command::Finish, T0 + 40_000).unwrap();
    same(&room);
}
