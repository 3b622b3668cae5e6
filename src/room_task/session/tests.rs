//! The session's connection rules, driven directly: no runtime, no socket, no journal. Each
//! test reads the frames the session queued for each connection as JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::room::Settings;

const T0: Millis = 1_700_000_000_000;
const FACILITATOR: &str = "the-facilitator-token";

fn session(journaled: bool) -> Session {
    let room = Room::new(Settings::classic("How might we onboard faster?"), 7);
    let hash = ids::hash_token(FACILITATOR);
    Session::new(RoomCode::random(), room, hash, journaled, T0)
}

/// The frames queued since the last call, per connection, as JSON, in order.
fn frames(s: &mut Session) -> Vec<(ConnId, Value)> {
    s.take_frames()
        .map(|(c, f)| {
            (
                c,
                serde_json::from_str(f.as_str()).expect("frames are JSON"),
            )
        })
        .collect()
}

fn to(frames: &[(ConnId, Value)], conn: ConnId) -> Vec<&Value> {
    frames
        .iter()
        .filter(|(c, _)| *c == conn)
        .map(|(_, v)| v)
        .collect()
}

fn types(frames: &[(ConnId, Value)], conn: ConnId) -> Vec<&str> {
    to(frames, conn)
        .into_iter()
        .map(|v| v["type"].as_str().unwrap_or("?"))
        .collect()
}

fn join(s: &mut Session, conn: ConnId, name: &str) -> Value {
    s.open(conn);
    let msg = ClientMsg::Join {
        name: Some(name.into()),
        token: None,
    };
    s.client(conn, msg, T0);
    let f = frames(s);
    to(&f, conn)[0].clone()
}

fn facilitate(s: &mut Session, conn: ConnId) {
    s.open(conn);
    let token = FACILITATOR.into();
    s.client(conn, ClientMsg::Facilitate { token }, T0);
    frames(s);
}

fn error_of(frames: &[(ConnId, Value)], conn: ConnId) -> (String, String) {
    let errors: Vec<_> = to(frames, conn)
        .into_iter()
        .filter(|v| v["type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "one error for {conn}: {frames:?}");
    let e = errors[0];
    (
        e["code"].as_str().unwrap_or("").into(),
        e["message"].as_str().unwrap_or("").into(),
    )
}

fn write(slot: u32, text: &str, seq: u64) -> ClientMsg {
    ClientMsg::Write {
        slot,
        text: text.into(),
        round: None,
        seq: Some(seq),
        builds_on: None,
        sheet: None,
    }
}

/// Two participants (1, 2) and the facilitator (9), started.
fn started() -> Session {
    let mut s = session(true);
    join(&mut s, 1, "Ana");
    join(&mut s, 2, "Ben");
    facilitate(&mut s, 9);
    s.client(9, ClientMsg::Start {}, T0);
    frames(&mut s);
    s
}

#[test]
fn a_participant_is_welcomed_then_subscribed_then_given_a_snapshot() {
    let mut s = session(true);
    s.open(1);
    let msg = ClientMsg::Join {
        name: Some("Ana".into()),
        token: None,
    };
    s.client(1, msg, T0);
    let f = frames(&mut s);
    assert_eq!(types(&f, 1), ["welcome", "room", "me"]);
    let welcome = to(&f, 1)[0];
    assert_eq!(welcome["role"], "participant");
    assert_eq!(welcome["name"], "Ana");
    assert!(welcome["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(to(&f, 1)[1]["participants"], 1);
    assert_eq!(to(&f, 1)[1]["connected"], 1);
    // Join and connect are both in the journal's queue.
    let (entries, finished) = s.entries();
    assert_eq!(entries.len(), 2);
    assert!(matches!(entries[0].1, Entry::Cmd(Command::Join { .. })));
    assert!(matches!(entries[1].1, Entry::Cmd(Command::Connect(_))));
    assert_eq!(finished, None);
}

#[test]
fn a_resume_token_gives_back_the_same_seat_and_a_wrong_one_changes_nothing() {
    let mut s = session(true);
    let welcome = join(&mut s, 1, "Ana");
    let token = welcome["token"].as_str().expect("a token").to_owned();
    s.closed(1, T0);
    s.committed(T0);
    s.open(2);
    let resume = ClientMsg::Join {
        name: None,
        token: Some(token),
    };
    s.client(2, resume, T0);
    let f = frames(&mut s);
    let again = to(&f, 2)[0];
    assert_eq!(again["participant_id"], welcome["participant_id"]);
    assert_eq!(again["name"], "Ana");
    assert_eq!(s.room().participant_count(), 1);

    s.committed(T0);
    s.open(3);
    let wrong = ClientMsg::Join {
        name: None,
        token: Some("not-a-token".into()),
    };
    s.client(3, wrong, T0);
    let f = frames(&mut s);
    assert_eq!(error_of(&f, 3).0, "forbidden");
    assert!(s.entries().0.is_empty(), "a refusal journals nothing");
    assert_eq!(s.room().participant_count(), 1);
}

#[test]
fn the_facilitator_needs_its_token_and_gets_the_roster() {
    let mut s = session(true);
    join(&mut s, 1, "Ana");
    s.open(9);
    let wrong = ClientMsg::Facilitate {
        token: "guess".into(),
    };
    s.client(9, wrong, T0);
    let f = frames(&mut s);
    assert_eq!(error_of(&f, 9).0, "forbidden");
    let right = ClientMsg::Facilitate {
        token: FACILITATOR.into(),
    };
    s.client(9, right, T0);
    let f = frames(&mut s);
    assert_eq!(types(&f, 9), ["welcome", "room", "roster", "progress"]);
    assert_eq!(to(&f, 9)[2]["participants"][0]["name"], "Ana");
    s.open(5);
    s.client(5, ClientMsg::Watch {}, T0);
    let f = frames(&mut s);
    assert_eq!(
        types(&f, 5),
        ["welcome", "room", "progress"],
        "no roster for a board"
    );
}

#[test]
fn each_role_may_send_only_its_own_messages() {
    let mut s = session(true);
    join(&mut s, 1, "Ana");
    join(&mut s, 2, "Ben");
    facilitate(&mut s, 9);
    s.open(5);
    s.client(5, ClientMsg::Watch {}, T0);
    s.open(6);
    frames(&mut s);
    s.committed(T0);

    s.client(6, ClientMsg::Start {}, T0);
    s.client(5, ClientMsg::Start {}, T0);
    s.client(9, write(0, "an idea", 1), T0);
    s.client(1, ClientMsg::Watch {}, T0);
    let f = frames(&mut s);
    assert_eq!(error_of(&f, 6).0, "not_joined");
    assert_eq!(
        error_of(&f, 5),
        ("forbidden".into(), "a board may not send start".into())
    );
    assert_eq!(error_of(&f, 1).0, "already_started");
    assert_eq!(
        error_of(&f, 9),
        (
            "forbidden".into(),
            "the facilitator does not write ideas".into()
        )
    );
    assert!(s.entries().0.is_empty(), "nothing refused is journaled");
    assert_eq!(s.room().round(), 0, "the room did not start");

    s.client(2, ClientMsg::Start {}, T0);
    let f = frames(&mut s);
    assert_eq!(
        error_of(&f, 2),
        (
            "forbidden".into(),
            "a participant may not send start".into()
        )
    );
}

#[test]
fn a_write_is_acknowledged_with_its_seq_and_a_refused_one_is_refused_with_it() {
    let mut s = started();
    s.committed(T0);
    // Past the start's interval, so the progress is not folded into the next one.
    s.client(
        1,
        write(1, "pair newcomers with a buddy", 41),
        T0 + COALESCE_MS,
    );
    let f = frames(&mut s);
    let ack = to(&f, 1)
        .into_iter()
        .find(|v| v["type"] == "ack")
        .expect("an ack");
    assert_eq!(
        *ack,
        json!({"type": "ack", "seq": 41, "round": 1, "slot": 1})
    );
    // Counts only reach the facilitator; the other participant hears nothing of it.
    assert_eq!(types(&f, 9), ["progress"]);
    assert!(to(&f, 2).is_empty());
    assert!(matches!(
        s.entries().0,
        [(_, Entry::Cmd(Command::Write(WriteSlot { slot: 1, .. })))]
    ));

    s.committed(T0);
    s.client(1, write(7, "no such slot", 42), T0 + 20);
    let f = frames(&mut s);
    let e = to(&f, 1)[0];
    assert_eq!(e["code"], "invalid_slot");
    assert_eq!(e["seq"], 42);
    assert!(s.entries().0.is_empty());
}

#[test]
fn after_a_failed_commit_everything_but_ping_is_refused_until_one_succeeds() {
    let mut s = started();
    s.client(1, write(0, "an idea", 1), T0 + 10);
    let resync = s.journal_failed(&"disk full", T0 + 11);
    let mut resync = resync.clone();
    resync.sort();
    assert_eq!(resync, [1, 2, 9], "every connection is closed to resync");
    assert_eq!(
        s.take_frames().count(),
        0,
        "nothing unconfirmed is announced"
    );
    // Every connection is detached: what they send now is ignored.
    s.client(1, ClientMsg::Ping {}, T0 + 11);
    assert_eq!(s.take_frames().count(), 0);
    // The write stays queued for the next commit.
    assert!(
        s.entries()
            .0
            .iter()
            .any(|e| matches!(e.1, Entry::Cmd(Command::Write(WriteSlot { .. }))))
    );

    s.open(3);
    let token = None;
    s.client(3, ClientMsg::Join { name: None, token }, T0 + 12);
    s.client(3, ClientMsg::Ping {}, T0 + 12);
    let f = frames(&mut s);
    assert_eq!(types(&f, 3), ["error", "pong"]);
    assert_eq!(to(&f, 3)[0]["code"], "unavailable");
    assert!(
        s.journal_failed(&"still full", T0 + 13).is_empty(),
        "a second failure closes nobody"
    );

    s.committed(T0);
    let token = None;
    s.client(3, ClientMsg::Join { name: None, token }, T0 + 14);
    let f = frames(&mut s);
    assert_eq!(types(&f, 3)[0], "welcome");
}

#[test]
fn a_boundary_deals_each_sheet_to_its_holder_only_and_the_reveal_names_nobody() {
    let mut s = started();
    s.client(1, write(0, "idea from Ana", 1), T0 + 10);
    s.client(2, write(0, "idea from Ben", 1), T0 + 10);
    frames(&mut s);
    s.client(9, ClientMsg::Advance {}, T0 + 20);
    let f = frames(&mut s);
    for p in [1, 2] {
        let sheets: Vec<_> = to(&f, p)
            .into_iter()
            .filter(|v| v["type"] == "sheet")
            .collect();
        assert_eq!(sheets.len(), 1, "one sheet for {p}");
        assert_eq!(sheets[0]["round"], 2);
        let text = &sheets[0]["sheet"]["rows"][0]["ideas"][0]["text"];
        let own = if p == 1 {
            "idea from Ana"
        } else {
            "idea from Ben"
        };
        assert_ne!(text, own, "{p} holds the other's sheet");
    }
    assert!(!types(&f, 9).contains(&"sheet"));

    s.client(9, ClientMsg::Finish {}, T0 + 30);
    let f = frames(&mut s);
    let reveal: Vec<_> = f.iter().filter(|(_, v)| v["type"] == "reveal").collect();
    assert_eq!(reveal.len(), 3, "everyone gets the reveal");
    let ids: Vec<String> = s.room().roster().into_iter().map(|p| p.id).collect();
    let text = reveal[0].1.to_string();
    for id in ids {
        assert!(!text.contains(&id), "the reveal names participant {id}");
    }
    assert!(
        s.entries().1.is_some(),
        "the finish time waits for the journal"
    );
    s.committed(T0);
    assert!(s.entries().1.is_none());
}

#[test]
fn a_removed_participant_is_closed_with_4003_and_cannot_resume() {
    let mut s = session(true);
    let welcome = join(&mut s, 1, "Ana");
    facilitate(&mut s, 9);
    let id = welcome["participant_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    s.client(9, ClientMsg::Remove { participant: id }, T0);
    frames(&mut s);
    assert_eq!(s.take_closing(), [(1, close::REMOVED)]);
    s.closed(1, T0);

    s.open(2);
    let token = welcome["token"].as_str().map(str::to_owned);
    s.client(2, ClientMsg::Join { name: None, token }, T0);
    let f = frames(&mut s);
    assert_eq!(error_of(&f, 2).0, "removed");
    assert_eq!(s.take_closing(), [(2, close::REMOVED)]);
}

#[test]
fn closing_a_socket_disconnects_its_participant_and_memory_rooms_journal_nothing() {
    let mut s = session(false);
    join(&mut s, 1, "Ana");
    facilitate(&mut s, 9);
    s.closed(1, T0 + 5);
    let f = frames(&mut s);
    let room = to(&f, 9)
        .into_iter()
        .find(|v| v["type"] == "room")
        .expect("the new state");
    assert_eq!(room["connected"], 0);
    assert_eq!(room["participants"], 1);
    assert!(s.entries().0.is_empty());
    // A socket the session does not know is ignored.
    s.client(77, ClientMsg::Ping {}, T0);
    assert_eq!(s.take_frames().count(), 0);
}

#[test]
fn the_export_needs_the_facilitator_token_and_a_finished_session() {
    let mut s = started();
    assert_eq!(s.export("guess").err(), Some(ExportError::Forbidden));
    assert_eq!(s.export(FACILITATOR).err(), Some(ExportError::NotFinished));
    s.client(1, write(0, "an idea", 1), T0 + 1);
    s.client(9, ClientMsg::Finish {}, T0 + 2);
    let export = s.export(FACILITATOR).expect("finished");
    assert_eq!(export.sheets.len(), 2);
    assert_eq!(s.info().participants, 2);
}

/// How many frames of `kind` each connection got.
fn count(frames: &[(ConnId, Value)], kind: &str) -> BTreeMap<ConnId, usize> {
    let mut n = BTreeMap::new();
    for (c, v) in frames {
        if v["type"] == kind {
            *n.entry(*c).or_default() += 1;
        }
    }
    n
}

#[test]
fn a_burst_of_joins_sends_each_member_a_bounded_number_of_room_frames_with_exact_counts() {
    let mut s = session(false);
    facilitate(&mut s, 9);
    let mut all = Vec::new();
    for c in 1..=200 {
        s.open(c);
        let msg = ClientMsg::Join {
            name: None,
            token: None,
        };
        // All within one interval.
        s.client(c, msg, T0 + c / 4);
        all.extend(frames(&mut s));
    }
    // Folding starts once the room is larger than FOLD_ABOVE.
    let owed = s.next_wakeup().expect("the folded frame is owed");
    assert!(owed <= T0 + 50 + COALESCE_MS, "{owed}");
    s.tick(owed);
    all.extend(frames(&mut s));
    let rooms = count(&all, "room");
    // Until the room is larger than FOLD_ABOVE every join is sent (two frames: join,
    // connect); then each joiner gets its snapshot and the folded broadcast. Without
    // folding, joiner k gets 2 × (201 − k).
    let cap = 2 * FOLD_ABOVE + 3;
    assert!(rooms.values().all(|&n| n <= cap), "{rooms:?}");
    let total: usize = rooms.values().sum();
    assert!(total <= 201 * cap / 2, "{total} room frames for 200 joins");
    for c in [1, 100, 200, 9] {
        let last = to(&all, c)
            .into_iter()
            .rfind(|v| v["type"] == "room")
            .expect("a room frame");
        assert_eq!(last["participants"], 200, "{c} ends with the exact count");
        assert_eq!(last["connected"], 200);
    }
    let rosters = count(&all, "roster");
    // Unfolded, two per join (join, connect): 400.
    assert!(
        rosters[&9] <= 2 * FOLD_ABOVE + 2,
        "the facilitator's roster is folded too: {rosters:?}"
    );
    assert_eq!(s.next_wakeup(), None, "nothing more is owed");
}

#[test]
fn a_change_of_phase_is_never_folded_and_done_counts_are() {
    let mut s = session(false);
    let n = FOLD_ABOVE as u64 + 6;
    for c in 1..=n {
        join(&mut s, c, "p");
    }
    facilitate(&mut s, 0);
    s.tick(T0 + COALESCE_MS);
    frames(&mut s);
    s.client(0, ClientMsg::Start {}, T0 + COALESCE_MS + 1);
    let f = frames(&mut s);
    let started = to(&f, 1)
        .into_iter()
        .find(|v| v["type"] == "room")
        .expect("the start goes out at once");
    assert_eq!(started["phase"], "writing");

    let t = T0 + COALESCE_MS + 2;
    let mut all = Vec::new();
    for c in 1..n {
        s.client(c, ClientMsg::Done { round: None }, t);
        all.extend(frames(&mut s));
    }
    let room_frames = count(&all, "room");
    assert_eq!(room_frames.get(&n).copied().unwrap_or(0), 0, "folded");
    s.tick(t + COALESCE_MS);
    let f = frames(&mut s);
    let last = to(&f, n)
        .into_iter()
        .rfind(|v| v["type"] == "room")
        .expect("the folded frame");
    assert_eq!(last["done"], n - 1);
    // The last `done` ends the round: the new round goes out at once.
    s.client(n, ClientMsg::Done { round: None }, t + COALESCE_MS + 1);
    let f = frames(&mut s);
    let next = to(&f, 1)
        .into_iter()
        .rfind(|v| v["type"] == "room")
        .expect("the new round");
    assert_eq!(next["round"], 2);
    assert_eq!(next["done"], 0);
}

#[test]
fn a_small_room_sends_every_change_at_once() {
    let mut s = session(false);
    facilitate(&mut s, 9);
    let mut all = Vec::new();
    for c in 1..=6 {
        s.open(c);
        let msg = ClientMsg::Join {
            name: None,
            token: None,
        };
        s.client(c, msg, T0);
        all.extend(frames(&mut s));
    }
    assert_eq!(s.next_wakeup(), None, "nothing folded in a room of {}", 7);
    // Two per join, as ever: the join, then the connection.
    assert_eq!(count(&all, "room")[&9], 12);
}

#[test]
fn at_a_boundary_participants_frames_leave_before_the_facilitators_and_boards() {
    let mut s = started();
    s.open(5);
    s.client(5, ClientMsg::Watch {}, T0);
    frames(&mut s);
    s.client(9, ClientMsg::Advance {}, T0 + 1_000);
    let order: Vec<ConnId> = s.take_frames().map(|(c, _)| c).collect();
    let first_late = order.iter().position(|c| *c == 9 || *c == 5);
    let last_participant = order.iter().rposition(|c| *c == 1 || *c == 2);
    assert!(
        first_late > last_participant,
        "participants first: {order:?}"
    );
}

/// A conference room: 2,000 phones join over five seconds, then everyone says `done`. Room
/// frames stay bounded per member over the join phase, and the round's end costs O(n)
/// frames, not O(n²).
#[test]
fn a_room_of_2000_joins_and_finishes_a_round_in_linear_frames() {
    let n: u64 = 2000;
    let mut settings = Settings::classic("a conference");
    settings.max_participants = 2000;
    let room = Room::new(settings, 7);
    let mut s = Session::new(
        RoomCode::random(),
        room,
        ids::hash_token(FACILITATOR),
        false,
        T0,
    );
    facilitate(&mut s, 0);
    s.open(100_000);
    s.client(100_000, ClientMsg::Watch {}, T0);
    // (room frames, all frames) queued since the last call.
    fn take(s: &mut Session) -> (usize, usize) {
        let mut n = (0, 0);
        for (_, f) in s.take_frames() {
            n.1 += 1;
            if f.as_str().starts_with(r#"{"type":"room""#) {
                n.0 += 1;
            }
        }
        n
    }
    let mut room_frames = 0;
    for c in 1..=n {
        let now = T0 + c * 5_000 / n;
        s.tick(now);
        s.open(c);
        let msg = ClientMsg::Join {
            name: None,
            token: None,
        };
        s.client(c, msg, now);
        room_frames += take(&mut s).0;
    }
    s.tick(T0 + 5_000 + COALESCE_MS);
    room_frames += take(&mut s).0;
    let per_member = room_frames as f64 / (n + 2) as f64;
    eprintln!("{room_frames} room frames while {n} joined: {per_member:.1} per member");
    assert!(
        per_member <= 30.0,
        "{per_member:.1} room frames per member while joining"
    );

    s.client(0, ClientMsg::Start {}, T0 + 6_000);
    take(&mut s);
    let mut frames = 0;
    for c in 1..=n {
        let now = T0 + 7_000 + c;
        s.tick(now);
        s.client(c, ClientMsg::Done { round: None }, now);
        frames += take(&mut s).1;
    }
    assert_eq!(s.room().round(), 2, "everyone done ends the round");
    eprintln!("{frames} frames from the start to the end of a round everyone ended");
    // Each done: its `me`; the folded room frames; the boundary: room, me and sheet each.
    assert!(
        frames as u64 <= 25 * n,
        "{frames} frames to end a round of {n} (O(n²) would be ~{})",
        n * n
    );
}

/// Replay what a session journaled, the way the hub restores a room.
fn replay(entries: &[(Millis, Entry)]) -> Room {
    let mut room = Room::new(Settings::classic("How might we onboard faster?"), 7);
    for (at, e) in entries {
        match e {
            Entry::Tick => {
                room.replay_tick(*at);
            }
            Entry::Deadline(d) => {
                room.set_deadline(*d);
            }
            Entry::Cmd(c) => {
                room.handle(c.clone(), *at).expect("replayed as accepted");
            }
        }
    }
    room
}

/// Journaled, a round's clock starts when its sheets go out after the commit, not when it
/// was decided: the deadline moves on by the commit's delay, in the frames too, is journaled
/// for the next commit, and replays the same; a write inside the moved time is accepted
/// live and on replay.
#[test]
fn a_round_starts_when_its_commit_lets_the_sheets_out() {
    let mut s = session(true);
    let mut journal: Vec<(Millis, Entry)> = Vec::new();
    let mut commit = |s: &mut Session, at: Millis| {
        journal.extend(s.entries().0.iter().cloned());
        s.committed(at);
        journal.clone()
    };
    join(&mut s, 1, "Ana");
    join(&mut s, 2, "Ben");
    facilitate(&mut s, 9);
    commit(&mut s, T0);
    let round = Millis::from(s.room().settings().round_seconds) * 1000;
    s.client(9, ClientMsg::Start {}, T0);
    assert_eq!(s.room().next_deadline(), Some(T0 + round));
    // The commit took 300 ms.
    commit(&mut s, T0 + 300);
    let moved = T0 + 300 + round;
    assert_eq!(s.room().next_deadline(), Some(moved));
    assert_eq!(s.entries().0, [(T0 + 300, Entry::Deadline(moved))]);
    let f = frames(&mut s);
    for conn in [1, 2, 9] {
        let states: Vec<_> = to(&f, conn)
            .into_iter()
            .filter(|v| v["type"] == "room")
            .collect();
        assert!(!states.is_empty(), "{conn} is told the state");
        for v in states {
            assert_eq!(v["deadline"], json!(moved), "{conn}: {v}");
        }
    }
    // Written after the decided deadline, before the moved one: accepted.
    s.tick(T0 + round + 100);
    s.client(1, write(0, "late but in time", 1), T0 + round + 100);
    let f = frames(&mut s);
    assert!(
        to(&f, 1).iter().any(|v| v["type"] == "ack"),
        "the write is acknowledged: {f:?}"
    );
    let journal = commit(&mut s, T0 + round + 100);
    assert!(s.entries().0.is_empty(), "a write sets no clock");
    let room = replay(&journal);
    assert_eq!(room.next_deadline(), Some(moved));
    assert_eq!(room.round(), 1);
    // A commit without delay moves nothing; in memory nothing is ever moved.
    s.tick(moved);
    let boundary = s.room().next_deadline();
    commit(&mut s, moved);
    assert_eq!(s.room().next_deadline(), boundary);
    assert!(s.entries().0.is_empty());
    let mut m = session(false);
    join(&mut m, 1, "Ana");
    join(&mut m, 2, "Ben");
    facilitate(&mut m, 9);
    m.client(9, ClientMsg::Start {}, T0);
    m.committed(T0 + 300);
    assert_eq!(m.room().next_deadline(), Some(T0 + round));
}
