//! Engine tests of the methods beyond 6-3-5: the brainwriting pool's hand-out rules and
//! C-Sketch's layers and limits, with property tests over random command sequences. No
//! sockets, no runtime.

use super::sketch::{MAX_POINTS, MAX_STROKES};
use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use strum::VariantArray;

const T0: Millis = 1_700_000_000_000;

fn room(method: Method, n: usize, per: u32, secs: u32) -> (Room, Vec<Pid>) {
    let settings = Settings {
        method,
        ideas_per_round: per,
        round_seconds: secs,
        ..Settings::classic("How might we?")
    };
    let mut room = Room::new(settings, 7);
    let pids = (0..n).map(|i| join(&mut room, i as u8, T0)).collect();
    (room, pids)
}

fn join(room: &mut Room, i: u8, now: Millis) -> Pid {
    let mut h = [0u8; 32];
    h[0] = i;
    h[1] = 0xa5;
    let ev = room
        .handle(
            Command::Join {
                token_hash: h,
                name: None,
            },
            now,
        )
        .unwrap();
    let pid = ev
        .iter()
        .find_map(|e| match e {
            Event::Joined(p) => Some(*p),
            _ => None,
        })
        .unwrap();
    room.handle(Command::Connect(pid), now).unwrap();
    pid
}

fn write(room: &mut Room, pid: Pid, slot: u32, text: &str, now: Millis) -> Result<(), RoomError> {
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
    .map(drop)
}

fn swap(room: &mut Room, pid: Pid, now: Millis) -> Result<Vec<Event>, RoomError> {
    room.handle(Command::Swap { pid, sheet: None }, now)
}

fn draw(room: &mut Room, pid: Pid, points: Vec<u16>, now: Millis) -> Result<(), RoomError> {
    room.handle(
        Command::Draw(DrawStroke {
            pid,
            points,
            round: None,
            sheet: None,
        }),
        now,
    )
    .map(drop)
}

fn held(room: &Room, pid: Pid) -> Option<String> {
    room.held_sheet(pid).map(|h| h.sheet.id)
}

fn pool_view(room: &Room) -> PoolView {
    room.progress().pool.expect("a pool room reports its pool")
}

// ---------- the brainwriting pool ----------

#[test]
fn a_pool_starts_everyone_on_a_sheet_of_their_own_with_one_clock() {
    let (mut room, pids) = room(Method::Pool, 3, 3, 1800);
    assert_eq!(room.view("C", T0).rounds, 1, "a pool has no rounds");
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.next_deadline(), Some(T0 + 1_800_000));
    let sheets: HashSet<_> = pids.iter().map(|&p| held(&room, p).unwrap()).collect();
    assert_eq!(sheets.len(), 3);
    assert_eq!(
        pool_view(&room),
        PoolView {
            pooled: 0,
            held: 3,
            waiting: 0,
            swaps: 0
        }
    );
    assert_eq!(room.view("C", T0).method, Method::Pool);
}

#[test]
fn a_sheet_never_goes_back_to_its_author_and_those_waiting_are_served_first() {
    let (mut room, p) = room(Method::Pool, 3, 2, 600);
    room.handle(Command::Start, T0).unwrap();
    let own: Vec<String> = p.iter().map(|&x| held(&room, x).unwrap()).collect();
    write(&mut room, p[0], 0, "a1", T0 + 1).unwrap();
    // A's own sheet is the only one in the pool: A waits.
    let ev = swap(&mut room, p[0], T0 + 2).unwrap();
    assert!(!ev.contains(&Event::Handed(p[0])));
    assert_eq!(held(&room, p[0]), None);
    assert!(room.me(p[0]).unwrap().waiting);
    assert_eq!(
        pool_view(&room),
        PoolView {
            pooled: 1,
            held: 2,
            waiting: 1,
            swaps: 1
        }
    );
    // Someone waiting is still in the session: "0 of 3 done", as the room's view says.
    let prog = room.progress();
    assert_eq!((prog.done, prog.seated), (0, 3));
    let view = room.view("C", T0 + 2);
    assert_eq!((view.done, view.seated), (prog.done, prog.seated));
    // Writing while waiting says why.
    assert!(matches!(
        write(&mut room, p[0], 0, "x", T0 + 3),
        Err(RoomError::NotWriting(m)) if m.contains("no sheet yet")
    ));
    // B puts its sheet back: A (waiting) is served first and gets B's, B takes A's.
    write(&mut room, p[1], 0, "b1", T0 + 4).unwrap();
    let ev = swap(&mut room, p[1], T0 + 5).unwrap();
    assert!(ev.contains(&Event::Handed(p[0])) && ev.contains(&Event::Handed(p[1])));
    assert_eq!(held(&room, p[0]).as_ref(), Some(&own[1]));
    assert_eq!(held(&room, p[1]).as_ref(), Some(&own[0]));
    assert!(!room.me(p[0]).unwrap().waiting);
    // The row A wrote is on A's sheet, now with B.
    let on = room.held_sheet(p[1]).unwrap().sheet;
    assert_eq!(on.rows.len(), 1);
    assert_eq!(on.rows[0].ideas[0].text, "a1");
    assert_eq!(on.rows[0].round, 1, "a pool row's round is its position");
    room.pool_invariants().unwrap();
}

#[test]
fn the_emptiest_sheet_goes_first_then_the_longest_in_the_pool() {
    let (mut room, p) = room(Method::Pool, 4, 3, 600);
    room.handle(Command::Start, T0).unwrap();
    let own: Vec<String> = p.iter().map(|&x| held(&room, x).unwrap()).collect();
    // p0 puts back a sheet with 3 ideas, p1 one with 1 idea, p2 an empty one.
    for s in 0..3 {
        write(&mut room, p[0], s, &format!("zero {s}"), T0 + 1).unwrap();
    }
    write(&mut room, p[1], 0, "one", T0 + 1).unwrap();
    swap(&mut room, p[0], T0 + 2).unwrap(); // waits (only its own in the pool)
    // p1 puts back: p0 (waiting) takes p1's sheet; p1 takes p0's.
    swap(&mut room, p[1], T0 + 3).unwrap();
    assert_eq!(held(&room, p[0]).as_ref(), Some(&own[1]));
    assert_eq!(held(&room, p[1]).as_ref(), Some(&own[0]));
    // p2 puts back its empty sheet: p2 may not take it, the pool has only it: p2 waits.
    swap(&mut room, p[2], T0 + 4).unwrap();
    assert!(room.me(p[2]).unwrap().waiting);
    // p3 puts back its own (empty): p2 gets p3's; p3 may take p2's.
    swap(&mut room, p[3], T0 + 5).unwrap();
    assert_eq!(held(&room, p[2]).as_ref(), Some(&own[3]));
    assert_eq!(held(&room, p[3]).as_ref(), Some(&own[2]));
    // Now p1 puts back p0's sheet (3 ideas) while p0 puts back p1's (1 idea): p0 first.
    swap(&mut room, p[0], T0 + 6).unwrap();
    // p0 held own[0] and own[1]; the pool has own[1]: p0 waits.
    assert!(room.me(p[0]).unwrap().waiting);
    swap(&mut room, p[1], T0 + 7).unwrap();
    // p0 waited: it may take own[0]? No (its own). The pool has own[1] and own[0]; p0 may
    // take neither and keeps waiting; p1 (held own[1], own[0]) waits too.
    assert!(room.me(p[0]).unwrap().waiting && room.me(p[1]).unwrap().waiting);
    // p2 puts back own[3] (empty): p0 is served first with it (never held), then p1 waits on.
    swap(&mut room, p[2], T0 + 8).unwrap();
    assert_eq!(held(&room, p[0]).as_ref(), Some(&own[3]));
    // p2 (held own[2], own[3]) takes the emptiest it may: own[1] (1 idea) before own[0] (3).
    assert_eq!(held(&room, p[2]).as_ref(), Some(&own[1]));
    assert!(room.me(p[1]).unwrap().waiting);
    room.pool_invariants().unwrap();
}

#[test]
fn leaving_puts_the_sheet_back_at_once_with_its_draft() {
    let (mut room, p) = room(Method::Pool, 2, 2, 600);
    room.handle(Command::Start, T0).unwrap();
    let own1 = held(&room, p[1]).unwrap();
    swap(&mut room, p[0], T0 + 1).unwrap();
    assert!(room.me(p[0]).unwrap().waiting);
    write(&mut room, p[1], 0, "left behind", T0 + 2).unwrap();
    room.handle(Command::Leave(p[1]), T0 + 3).unwrap();
    assert_eq!(held(&room, p[0]), Some(own1));
    let sheet = room.held_sheet(p[0]).unwrap().sheet;
    assert_eq!(sheet.rows[0].ideas[0].text, "left behind");
    assert!(room.me(p[1]).unwrap().left);
    room.pool_invariants().unwrap();
}

#[test]
fn a_late_joiner_gets_a_sheet_of_its_own_at_once() {
    let (mut room, p) = room(Method::Pool, 2, 2, 600);
    room.handle(Command::Start, T0).unwrap();
    swap(&mut room, p[0], T0 + 1).unwrap();
    assert!(room.me(p[0]).unwrap().waiting);
    let late = join(&mut room, 9, T0 + 2);
    assert!(room.me(late).unwrap().seated);
    let own = held(&room, late).expect("a sheet of its own at once");
    write(&mut room, late, 0, "late idea", T0 + 3).unwrap();
    swap(&mut room, late, T0 + 4).unwrap();
    // The waiting p0 gets the newcomer's sheet.
    assert_eq!(held(&room, p[0]), Some(own));
    room.pool_invariants().unwrap();
}

#[test]
fn the_session_clock_ends_the_pool_and_every_draft_is_kept() {
    let (mut room, p) = room(Method::Pool, 3, 2, 60);
    room.handle(Command::Start, T0).unwrap();
    write(&mut room, p[0], 0, "swapped", T0 + 1).unwrap();
    swap(&mut room, p[0], T0 + 2).unwrap();
    write(&mut room, p[1], 1, "drafted only", T0 + 3).unwrap();
    assert!(room.tick(T0 + 59_999).is_empty());
    room.tick(T0 + 60_000);
    assert_eq!(room.phase(), Phase::Finished);
    let texts: Vec<String> = room
        .reveal()
        .unwrap()
        .into_iter()
        .flat_map(|s| s.rows)
        .flat_map(|r| r.ideas)
        .map(|i| i.text)
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&"swapped".to_owned()) && texts.contains(&"drafted only".to_owned()));
}

#[test]
fn pool_refusals_say_why_and_change_nothing() {
    let (mut six, q) = room(Method::SixThreeFive, 2, 1, 60);
    six.handle(Command::Start, T0).unwrap();
    assert!(
        matches!(swap(&mut six, q[0], T0 + 1), Err(RoomError::WrongMethod(m)) if m.contains("635"))
    );

    let (mut room, p) = room(Method::Pool, 2, 1, 60);
    assert!(
        matches!(swap(&mut room, p[0], T0), Err(RoomError::NotWriting(m)) if m.contains("not started"))
    );
    room.handle(Command::Start, T0).unwrap();
    let stale = room.handle(
        Command::Swap {
            pid: p[0],
            sheet: Some("s-nope".into()),
        },
        T0 + 1,
    );
    assert!(matches!(stale, Err(RoomError::NotWriting(m)) if m.contains("gone on")));
    assert_eq!(pool_view(&room).swaps, 0);
    room.handle(Command::Pause, T0 + 2).unwrap();
    assert!(
        matches!(swap(&mut room, p[0], T0 + 3), Err(RoomError::NotWriting(m)) if m.contains("paused"))
    );
    assert_eq!(pool_view(&room).swaps, 0);
}

#[test]
fn the_pool_ends_early_when_everyone_connected_is_done_even_while_waiting() {
    let (mut room, p) = room(Method::Pool, 2, 1, 600);
    room.handle(Command::Start, T0).unwrap();
    swap(&mut room, p[0], T0 + 1).unwrap();
    assert!(room.me(p[0]).unwrap().waiting);
    room.handle(
        Command::Done {
            pid: p[0],
            round: None,
        },
        T0 + 2,
    )
    .unwrap();
    assert_eq!(room.phase_name(), PhaseName::Writing);
    room.handle(
        Command::Done {
            pid: p[1],
            round: None,
        },
        T0 + 3,
    )
    .unwrap();
    assert_eq!(room.phase(), Phase::Finished);
}

#[derive(Debug, Clone)]
enum PoolOp {
    Write(usize, u32),
    Swap(usize),
    Leave(usize),
    Join,
    Disconnect(usize),
    Wait(u32),
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    prop_oneof![
        4 => (0..8usize, 0..3u32).prop_map(|(p, s)| PoolOp::Write(p, s)),
        4 => (0..8usize).prop_map(PoolOp::Swap),
        1 => (0..8usize).prop_map(PoolOp::Leave),
        1 => Just(PoolOp::Join),
        1 => (0..8usize).prop_map(PoolOp::Disconnect),
        1 => (1..30_000u32).prop_map(PoolOp::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Under any sequence of writes, swaps, leaves and joins: nobody gets a sheet they
    /// started or held before, no sheet is held by two or lost, and every idea drafted is in
    /// the reveal exactly once.
    #[test]
    fn the_pool_never_hands_a_sheet_twice_or_to_its_author_and_loses_no_idea(
        n in 2..6usize,
        ops in proptest::collection::vec(pool_op(), 1..120),
    ) {
        let (mut room, mut pids) = room(Method::Pool, n, 3, 120);
        room.handle(Command::Start, T0).unwrap();
        let mut now = T0;
        let mut history: HashMap<Pid, Vec<String>> = HashMap::new();
        let mut started: HashMap<String, Pid> = HashMap::new();
        // What each participant has drafted on the sheet it holds, slot → text.
        let mut drafts: HashMap<Pid, HashMap<u32, String>> = HashMap::new();
        let mut kept: Vec<String> = Vec::new();
        let mut k = 0u32;
        let observe = |room: &Room, history: &mut HashMap<Pid, Vec<String>>, started: &mut HashMap<String, Pid>, pids: &[Pid]| -> Result<(), TestCaseError> {
            let mut holders: HashMap<String, Pid> = HashMap::new();
            for &p in pids {
                if let Some(s) = held(room, p) {
                    prop_assert!(holders.insert(s.clone(), p).is_none(), "{s} held by two");
                    let h = history.entry(p).or_default();
                    if h.last() != Some(&s) {
                        prop_assert!(!h.contains(&s), "{p:?} got {s} again");
                        let author = *started.entry(s.clone()).or_insert(p);
                        prop_assert!(author == p || !h.is_empty(), "{p:?} got {s} first but did not start it");
                        if !h.is_empty() {
                            prop_assert!(author != p, "{p:?} got its own sheet {s} back");
                        }
                        h.push(s);
                    }
                }
            }
            room.pool_invariants().map_err(TestCaseError::fail)?;
            Ok(())
        };
        observe(&room, &mut history, &mut started, &pids)?;
        for op in ops {
            if room.phase() == Phase::Finished {
                break;
            }
            match op {
                PoolOp::Write(i, slot) => {
                    let p = pids[i % pids.len()];
                    k += 1;
                    let text = format!("idea {k}");
                    if write(&mut room, p, slot, &text, now).is_ok() {
                        drafts.entry(p).or_default().insert(slot, text);
                    }
                }
                PoolOp::Swap(i) => {
                    let p = pids[i % pids.len()];
                    if swap(&mut room, p, now).is_ok() {
                        kept.extend(drafts.remove(&p).unwrap_or_default().into_values());
                    }
                }
                PoolOp::Leave(i) => {
                    let p = pids[i % pids.len()];
                    if room.handle(Command::Leave(p), now).is_ok() {
                        kept.extend(drafts.remove(&p).unwrap_or_default().into_values());
                    }
                }
                PoolOp::Join => pids.push(join(&mut room, 100 + pids.len() as u8, now)),
                PoolOp::Disconnect(i) => {
                    let _ = room.handle(Command::Disconnect(pids[i % pids.len()]), now);
                }
                PoolOp::Wait(ms) => {
                    now += u64::from(ms);
                    room.tick(now);
                }
            }
            observe(&room, &mut history, &mut started, &pids)?;
        }
        if room.phase() != Phase::Finished {
            room.handle(Command::Finish, now).unwrap();
        }
        kept.extend(drafts.into_values().flat_map(HashMap::into_values));
        let mut revealed: Vec<String> = room.reveal().unwrap().into_iter()
            .flat_map(|s| s.rows).flat_map(|r| r.ideas).map(|i| i.text).collect();
        revealed.sort();
        kept.sort();
        prop_assert_eq!(revealed, kept);
    }
}

// ---------- C-Sketch ----------

#[test]
fn c_sketch_rotates_as_6_3_5_with_a_layer_per_round() {
    let (mut room, p) = room(Method::CSketch, 4, 3, 60);
    assert_eq!(
        room.settings().ideas_per_round,
        1,
        "a C-Sketch row is one sketch"
    );
    room.handle(Command::Start, T0).unwrap();
    assert_eq!(room.rounds(), 4);
    let mut holds: HashMap<Pid, Vec<String>> = HashMap::new();
    let mut now = T0;
    for round in 1..=4u16 {
        for (i, &x) in p.iter().enumerate() {
            holds.entry(x).or_default().push(held(&room, x).unwrap());
            draw(
                &mut room,
                x,
                vec![round * 10, i as u16, round * 20, 700],
                now + 1,
            )
            .unwrap();
            write(&mut room, x, 0, &format!("r{round} caption {i}"), now + 1).unwrap();
        }
        now += 60_000;
        room.tick(now);
    }
    assert_eq!(room.phase(), Phase::Finished);
    for (x, sheets) in holds {
        assert_eq!(
            sheets.iter().collect::<HashSet<_>>().len(),
            4,
            "{x:?}: {sheets:?}"
        );
    }
    for sheet in room.reveal().unwrap() {
        let rounds: Vec<u32> = sheet.rows.iter().map(|r| r.round).collect();
        assert_eq!(rounds, vec![1, 2, 3, 4], "one layer per round, in order");
        for row in &sheet.rows {
            assert_eq!(row.ideas.len(), 1);
            let strokes = row.ideas[0].sketch.as_ref().expect("a layer has strokes");
            assert_eq!(strokes.len(), 1);
            assert_eq!(strokes[0][0], row.round as u16 * 10);
        }
    }
}

#[test]
fn a_sketch_draft_survives_in_the_held_sheet_and_undo_takes_the_last_stroke_back() {
    let (mut room, p) = room(Method::CSketch, 2, 1, 60);
    room.handle(Command::Start, T0).unwrap();
    draw(&mut room, p[0], vec![1, 1, 2, 2], T0 + 1).unwrap();
    draw(&mut room, p[0], vec![3, 3], T0 + 2).unwrap();
    assert_eq!(room.strokes(p[0]), Some(2));
    let h = room.held_sheet(p[0]).unwrap();
    assert_eq!(h.sketch, Some(vec![vec![1, 1, 2, 2], vec![3, 3]]));
    // A layer with strokes and no caption counts as drafted.
    let sheet = h.sheet.id.clone();
    let prog = room.progress();
    let sp = prog.sheets.iter().find(|s| s.id == sheet).unwrap();
    assert_eq!(sp.drafted, 1);
    room.handle(
        Command::Undo {
            pid: p[0],
            round: Some(1),
            sheet: Some(sheet.clone()),
        },
        T0 + 3,
    )
    .unwrap();
    assert_eq!(room.strokes(p[0]), Some(1));
    room.handle(
        Command::Undo {
            pid: p[0],
            round: None,
            sheet: None,
        },
        T0 + 4,
    )
    .unwrap();
    let again = room.handle(
        Command::Undo {
            pid: p[0],
            round: None,
            sheet: None,
        },
        T0 + 5,
    );
    assert!(matches!(again, Err(RoomError::InvalidValue(m)) if m.contains("no stroke")));
    // An empty layer without a caption leaves no row; one with only a caption does.
    write(&mut room, p[1], 0, "only words", T0 + 6).unwrap();
    room.tick(T0 + 60_000);
    let rows: usize = p
        .iter()
        .map(|&x| room.held_sheet(x).map_or(0, |h| h.sheet.rows.len()))
        .sum();
    assert_eq!(rows, 1, "p1's caption is a row; p0's empty layer is not");
    // The held sheet of round 2 comes with an empty draft layer.
    assert_eq!(room.held_sheet(p[0]).unwrap().sketch, Some(vec![]));
}

#[test]
fn stroke_limits_and_shapes_are_refused_specifically_and_change_nothing() {
    let (mut room, p) = room(Method::CSketch, 2, 1, 60);
    room.handle(Command::Start, T0).unwrap();
    let too_long = vec![1u16; (MAX_POINTS + 1) * 2];
    assert!(
        matches!(draw(&mut room, p[0], too_long, T0), Err(RoomError::SketchTooBig(m)) if m.contains("501 points"))
    );
    assert!(matches!(
        draw(&mut room, p[0], vec![], T0),
        Err(RoomError::InvalidValue(_))
    ));
    assert!(matches!(
        draw(&mut room, p[0], vec![1, 2, 3], T0),
        Err(RoomError::InvalidValue(_))
    ));
    assert!(
        matches!(draw(&mut room, p[0], vec![1001, 2], T0), Err(RoomError::InvalidValue(m)) if m.contains("off the canvas"))
    );
    assert_eq!(room.strokes(p[0]), Some(0));
    for _ in 0..MAX_STROKES {
        draw(&mut room, p[0], vec![5, 5], T0).unwrap();
    }
    assert!(
        matches!(draw(&mut room, p[0], vec![5, 5], T0), Err(RoomError::SketchTooBig(m)) if m.contains("strokes"))
    );
    assert_eq!(room.strokes(p[0]), Some(MAX_STROKES as u32));
    // Bytes: 8 full strokes fit in a fresh layer, a 9th does not.
    let full = vec![9u16; MAX_POINTS * 2];
    for _ in 0..8 {
        draw(&mut room, p[1], full.clone(), T0).unwrap();
    }
    assert!(
        matches!(draw(&mut room, p[1], full, T0), Err(RoomError::SketchTooBig(m)) if m.contains("bytes"))
    );
    assert_eq!(room.strokes(p[1]), Some(8));

    let (mut six, q) = self::room(Method::SixThreeFive, 2, 3, 60);
    six.handle(Command::Start, T0).unwrap();
    assert!(matches!(
        draw(&mut six, q[0], vec![1, 1], T0),
        Err(RoomError::WrongMethod(_))
    ));
    assert_eq!(six.strokes(q[0]), None);
    assert_eq!(
        six.held_sheet(q[0]).unwrap().sketch,
        None,
        "no sketch in a 6-3-5 sheet"
    );
    // Drawing outside a round.
    let (mut lobby, l) = self::room(Method::CSketch, 2, 1, 60);
    assert!(matches!(
        draw(&mut lobby, l[0], vec![1, 1], T0),
        Err(RoomError::NotWriting(_))
    ));
}

#[test]
fn sketch_commands_keep_their_journal_form() {
    let d = Command::Draw(DrawStroke {
        pid: Pid(2),
        points: vec![1, 2, 3, 4],
        round: Some(1),
        sheet: None,
    });
    let text = serde_json::to_string(&d).unwrap();
    assert_eq!(text, r#"{"draw":{"pid":2,"points":[1,2,3,4],"round":1}}"#);
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), d);
    let s = Command::Swap {
        pid: Pid(1),
        sheet: None,
    };
    assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"swap":{"pid":1}}"#);
    // Settings from before methods load as 6-3-5.
    let old = r#"{"topic":"t","ideas_per_round":3,"round_seconds":300,"group_size":6,
        "max_rounds":null,"max_participants":200}"#;
    let settings: Settings = serde_json::from_str(old).unwrap();
    assert_eq!(settings.method, Method::SixThreeFive);
    let m: Vec<&str> = Method::VARIANTS.iter().map(|m| m.as_str()).collect();
    assert_eq!(m, ["635", "c_sketch", "pool"]);
    for v in Method::VARIANTS {
        assert_eq!(
            serde_json::to_string(v).unwrap(),
            format!("\"{}\"", v.as_str())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever is drawn and undone, each layer in the reveal is exactly the strokes left.
    #[test]
    fn a_revealed_layer_is_what_was_drawn_minus_what_was_undone(
        ops in proptest::collection::vec((0..3usize, 0..4u8, 0..1000u16), 1..150),
    ) {
        let (mut room, p) = room(Method::CSketch, 3, 1, 60);
        room.handle(Command::Start, T0).unwrap();
        let mut now = T0;
        let mut model: HashMap<(u32, String), Vec<Vec<u16>>> = HashMap::new();
        for (who, kind, x) in ops {
            let pid = p[who];
            if room.phase() == Phase::Finished {
                break;
            }
            let key = (room.round(), held(&room, pid).unwrap());
            match kind {
                0 | 1 => {
                    let stroke = vec![x, x % 751, 1000 - x, 750 - x % 751];
                    if draw(&mut room, pid, stroke.clone(), now).is_ok() {
                        model.entry(key).or_default().push(stroke);
                    }
                }
                2 => {
                    if room.handle(Command::Undo { pid, round: None, sheet: None }, now).is_ok() {
                        model.get_mut(&key).and_then(|v| v.pop());
                    }
                }
                _ => {
                    now += 60_000;
                    room.tick(now);
                }
            }
        }
        if room.phase() != Phase::Finished {
            room.handle(Command::Finish, now).unwrap();
        }
        model.retain(|_, v| !v.is_empty());
        let mut seen = 0;
        for sheet in room.reveal().unwrap() {
            for row in sheet.rows {
                let strokes = row.ideas[0].sketch.clone().unwrap_or_default();
                prop_assert_eq!(Some(&strokes), model.get(&(row.round, sheet.id.clone())));
                seen += 1;
            }
        }
        prop_assert_eq!(seen, model.len());
    }
}
