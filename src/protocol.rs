//! Wire protocol v1: every JSON message a client sends or receives over `/ws/{code}`.
//!
//! This module owns the *shape* of the wire and nothing else: serde types, their
//! documentation, and the parse function that turns a text frame into a [`ClientMsg`] with a
//! specific error. It holds no room logic and performs no I/O. `docs/protocol.md` is the prose
//! version of this file; keep them in step.
//!
//! Anonymity is a property of these types: no server message carries the author of an idea.
//! Ideas and sheets have opaque ids; participant ids appear only in a participant's own
//! `welcome` and in the facilitator's `roster`, never next to an idea.

use serde::{Deserialize, Serialize};

/// A message from a client. The first message on a socket must be `join`, `facilitate` or
/// `watch`; it picks the connection's role for the rest of its life.
///
/// Variants without fields are written `Start {}` so that `deny_unknown_fields` also
/// refuses `{"type":"start","extra":1}` (serde ignores extra keys on unit variants).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Join as a participant, or resume an earlier seat with its `token`.
    Join {
        /// Display name shown to the facilitator only (1–40 characters after trimming).
        #[serde(default)]
        name: Option<String>,
        /// Resume token from an earlier `welcome`; resumes that seat and its draft.
        #[serde(default)]
        token: Option<String>,
    },
    /// Drive the session as its facilitator.
    Facilitate {
        /// The `facilitator_token` returned when the room was created.
        token: String,
    },
    /// Watch the room as a board (projector or remote screen); read-only.
    Watch {},
    /// Set the text of one slot of this round's row on the sheet the participant holds.
    Write {
        /// 0-based slot, below the room's `ideas_per_round`.
        slot: u32,
        /// The idea text; empty clears the slot. At most 500 characters.
        text: String,
        /// The round the client believes it is writing in; any other round is `not_writing`.
        #[serde(default)]
        round: Option<u32>,
        /// Client sequence number echoed in the `ack` (and in an `error`) for this write.
        #[serde(default)]
        seq: Option<u64>,
        /// The id of an idea on the held sheet that this one builds on.
        #[serde(default)]
        builds_on: Option<String>,
    },
    /// The participant has finished this round's row. A later `write` in the same round
    /// withdraws it.
    Done {
        /// The round the client believes it is in; any other round is `not_writing`.
        #[serde(default)]
        round: Option<u32>,
    },
    /// Facilitator: seat everyone in the lobby and start round 1.
    Start {},
    /// Facilitator: freeze the clock.
    Pause {},
    /// Facilitator: restart the clock with the time that was left.
    Resume {},
    /// Facilitator: add time to the running (or paused) round.
    Extend {
        /// Seconds to add, 1–3600.
        seconds: u32,
    },
    /// Facilitator: end the round now and pass the sheets.
    Advance {},
    /// Facilitator: end the session now; the current row is kept and every sheet revealed.
    Finish {},
    /// Anyone: ask for the server's clock.
    Ping {},
    /// Participant: leave the session (its sheet keeps moving).
    Leave {},
    /// Facilitator: remove a participant.
    Remove {
        /// The participant's id from the roster.
        participant: String,
    },
    /// Facilitator: refuse new joins.
    Lock {},
    /// Facilitator: admit new joins.
    Unlock {},
    /// Facilitator: show one sheet to everyone (null: all sheets).
    Present {
        /// The sheet id, or null for all.
        #[serde(default)]
        sheet: Option<String>,
    },
    /// Facilitator: open dot voting.
    OpenVoting {
        /// Votes per person, 1–20 (default 3).
        #[serde(default)]
        votes: Option<u32>,
        /// Most votes one person may put on one idea (default 1).
        #[serde(default)]
        per_idea: Option<u32>,
    },
    /// Facilitator: close voting and publish the ranking.
    CloseVoting {},
    /// Participant: put a vote on an idea.
    Vote {
        /// The idea id.
        idea: String,
    },
    /// Participant: take a vote back.
    Unvote {
        /// The idea id.
        idea: String,
    },
    /// Facilitator: create a cluster (without id) or rename one.
    Cluster {
        /// The cluster to rename.
        #[serde(default)]
        id: Option<String>,
        /// Its name, 1–80 characters.
        name: String,
    },
    /// Facilitator: delete a cluster.
    DeleteCluster {
        /// The cluster id.
        cluster: String,
    },
    /// Facilitator: put an idea into a cluster (null: out of any).
    Assign {
        /// The idea id.
        idea: String,
        /// The cluster id, or null.
        #[serde(default)]
        cluster: Option<String>,
    },
    /// Facilitator: mark an idea as a duplicate of another (null: undo).
    Merge {
        /// The duplicate.
        idea: String,
        /// The idea it duplicates, or null.
        #[serde(default)]
        into: Option<String>,
    },
}

impl ClientMsg {
    /// The message's `type` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            ClientMsg::Join { .. } => "join",
            ClientMsg::Facilitate { .. } => "facilitate",
            ClientMsg::Watch {} => "watch",
            ClientMsg::Write { .. } => "write",
            ClientMsg::Done { .. } => "done",
            ClientMsg::Start {} => "start",
            ClientMsg::Pause {} => "pause",
            ClientMsg::Resume {} => "resume",
            ClientMsg::Extend { .. } => "extend",
            ClientMsg::Advance {} => "advance",
            ClientMsg::Finish {} => "finish",
            ClientMsg::Ping {} => "ping",
            ClientMsg::Leave {} => "leave",
            ClientMsg::Remove { .. } => "remove",
            ClientMsg::Lock {} => "lock",
            ClientMsg::Unlock {} => "unlock",
            ClientMsg::Present { .. } => "present",
            ClientMsg::OpenVoting { .. } => "open_voting",
            ClientMsg::CloseVoting {} => "close_voting",
            ClientMsg::Vote { .. } => "vote",
            ClientMsg::Unvote { .. } => "unvote",
            ClientMsg::Cluster { .. } => "cluster",
            ClientMsg::DeleteCluster { .. } => "delete_cluster",
            ClientMsg::Assign { .. } => "assign",
            ClientMsg::Merge { .. } => "merge",
        }
    }
}

/// The role a connection took with its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A writer, seated in a ring.
    Participant,
    /// The session's facilitator.
    Facilitator,
    /// A read-only board display.
    Board,
}

/// The phase of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// Waiting for the facilitator to start.
    Lobby,
    /// A round is running.
    Writing,
    /// A round is frozen by the facilitator.
    Paused,
    /// All rounds are over; every sheet is revealed.
    Finished,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to the first message: the role taken.
    Welcome {
        /// The role this connection has.
        role: Role,
        /// The participant's own opaque id (participants only).
        #[serde(skip_serializing_if = "Option::is_none")]
        participant_id: Option<String>,
        /// The participant's resume token (participants only): keep it, send it in `join`.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// The participant's display name, if it gave one (participants only).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The public state of the room, sent on join and whenever it changes.
    Room(RoomView),
    /// The participant's own state: whether it is seated and whether it said `done`.
    Me {
        /// Seated in a ring (false in the lobby and for a participant who joined too late).
        seated: bool,
        /// Said `done` in the current round.
        done: bool,
        /// Has left the session (or was removed).
        left: bool,
    },
    /// The sheet a participant holds this round, with its own draft row.
    Sheet {
        /// The round this sheet is held in.
        round: u32,
        /// The sheet and the rows already on it.
        sheet: SheetView,
        /// The participant's draft for this round, one string per slot.
        draft: Vec<String>,
        /// What each draft slot builds on (an idea id on this sheet), or null.
        links: Vec<Option<String>>,
    },
    /// A `write` was accepted (and, when a journal is on, made durable).
    Ack {
        /// The `seq` of the write, if it had one.
        seq: Option<u64>,
        /// The round written in.
        round: u32,
        /// The slot written.
        slot: u32,
    },
    /// Facilitator only: who is in the room.
    Roster {
        /// Every participant, in join order.
        participants: Vec<RosterEntry>,
    },
    /// Facilitator and boards: how far the round has got, as counts only.
    Progress(ProgressView),
    /// Everyone, when the session is finished: every sheet with all its rows.
    Reveal {
        /// All sheets.
        sheets: Vec<SheetView>,
    },
    /// A participant's own votes while voting is open.
    Ballot {
        /// Votes still to place.
        votes_left: u32,
        /// Most votes on one idea.
        per_idea: u32,
        /// Where this participant's votes are.
        mine: Vec<BallotEntry>,
    },
    /// Everyone, after the rounds, whenever clusters or merges change.
    Clusters {
        /// The clusters, in creation order.
        clusters: Vec<ClusterView>,
        /// Ideas marked as duplicates of others.
        merged: Vec<MergeView>,
    },
    /// Everyone, when voting closes: ideas ranked by votes.
    Results {
        /// Ranked ideas (merged duplicates counted with the idea they were merged into).
        ideas: Vec<ResultView>,
    },
    /// The answer to `ping`.
    Pong {
        /// Server time, epoch milliseconds.
        now: u64,
    },
    /// A message was rejected; nothing changed. The connection stays open.
    Error {
        /// Stable machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The `seq` of the rejected write, if it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

/// The public state of a room: the same bytes go to everyone in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    /// The room code (8 characters of Crockford base32).
    pub code: String,
    /// The problem statement at the head of every sheet.
    pub topic: String,
    /// Where the session is.
    pub phase: PhaseName,
    /// The current round, 1-based; 0 in the lobby.
    pub round: u32,
    /// The number of rounds: planned from the lobby's size before the start, fixed after it.
    pub rounds: u32,
    /// Slots per row.
    pub ideas_per_round: u32,
    /// Length of a round in seconds.
    pub round_seconds: u32,
    /// When the running round ends, server epoch milliseconds; null unless writing.
    pub deadline: Option<u64>,
    /// Time left in the round while paused, milliseconds; null otherwise.
    pub remaining_ms: Option<u64>,
    /// Server time when this state was sent, epoch milliseconds (for clock offset).
    pub now: u64,
    /// Participants in the room (seated or waiting).
    pub participants: u32,
    /// Participants connected right now.
    pub connected: u32,
    /// Seated participants who said `done` this round.
    pub done: u32,
    /// Seated participants in this session.
    pub seated: u32,
    /// Participants waiting to be seated at the next round boundary.
    pub waiting: u32,
    /// New joins are refused.
    pub locked: bool,
    /// After the rounds: `sharing`, `voting` or `results`; null before.
    pub stage: Option<&'static str>,
    /// The sheet the facilitator shows everyone, or null for all.
    pub presenting: Option<String>,
    /// Votes placed so far, while voting (no tallies).
    pub votes_cast: Option<u32>,
    /// The preset the room was made from.
    pub preset: String,
    /// The session's goal.
    pub goal: Option<String>,
    /// Expected outcomes.
    pub outcomes: Vec<String>,
}

/// One idea on a ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BallotEntry {
    /// The idea id.
    pub idea: String,
    /// Votes on it.
    pub votes: u32,
}

/// A named cluster of ideas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// Cluster id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Idea ids in it.
    pub ideas: Vec<String>,
}

/// A duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeView {
    /// The duplicate idea.
    pub idea: String,
    /// The idea it was merged into.
    pub into: String,
}

/// One ranked idea.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultView {
    /// The idea id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// Votes, its duplicates' included.
    pub votes: u32,
    /// 1-based rank; ties share a rank.
    pub rank: u32,
}

/// One sheet: its opaque id and its rows, oldest first. No author anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SheetView {
    /// Opaque sheet id.
    pub id: String,
    /// The rows written so far, one per round that left at least one idea.
    pub rows: Vec<RowView>,
}

/// One row: the ideas one (unnamed) participant wrote on a sheet in one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowView {
    /// The round the row was written in.
    pub round: u32,
    /// The non-empty ideas of the row, in slot order.
    pub ideas: Vec<IdeaView>,
}

/// One idea.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdeaView {
    /// Opaque idea id.
    pub id: String,
    /// The idea text.
    pub text: String,
    /// The id of the idea on the same sheet this one builds on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builds_on: Option<String>,
}

/// A participant as the facilitator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterEntry {
    /// The participant's opaque id.
    pub id: String,
    /// Display name, or null.
    pub name: Option<String>,
    /// Has at least one open connection.
    pub connected: bool,
    /// Seated in a ring.
    pub seated: bool,
    /// Said `done` this round.
    pub done: bool,
    /// Left or was removed.
    pub left: bool,
}

/// Round progress in counts only: never text while writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressView {
    /// The round these counts are for.
    pub round: u32,
    /// Seated participants who said `done`.
    pub done: u32,
    /// Seated participants.
    pub seated: u32,
    /// Per sheet: ideas already on it and ideas drafted on it this round.
    pub sheets: Vec<SheetProgress>,
}

/// How full one sheet is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SheetProgress {
    /// Opaque sheet id.
    pub id: String,
    /// Ideas in the rows already on the sheet.
    pub ideas: u32,
    /// Non-empty slots in this round's draft on the sheet.
    pub drafted: u32,
    /// Ideas the sheet can hold when every round is full.
    pub capacity: u32,
}

/// Stable error codes. Clients switch on these, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A command that needs a role was sent before `join`/`facilitate`/`watch`.
    NotJoined,
    /// The sender's role may not do this, or a token was wrong.
    Forbidden,
    /// No round is open for writing (lobby, paused, finished, late, or another round).
    NotWriting,
    /// The slot is outside the row.
    InvalidSlot,
    /// The text is longer than allowed.
    TooLong,
    /// The session has already started (or a second role message was sent).
    AlreadyStarted,
    /// `start` with fewer than 2 participants.
    NotEnoughParticipants,
    /// Unparseable JSON, unknown type, or a field of the wrong shape.
    BadMessage,
    /// A value is out of its range (extend seconds, name length).
    InvalidValue,
    /// The command does not fit the current phase (pause when not writing, ...).
    WrongPhase,
    /// The session is already finished.
    Finished,
    /// The room is full.
    RoomFull,
    /// Too many messages too fast; this one was dropped.
    RateLimited,
    /// The facilitator locked the room.
    Locked,
    /// No such participant.
    UnknownParticipant,
    /// No such idea (or not on the sheet one holds).
    UnknownIdea,
    /// No such cluster.
    UnknownCluster,
    /// A vote for one's own idea.
    OwnIdea,
    /// Every vote is placed.
    NoVotesLeft,
    /// The per-idea cap is reached.
    IdeaCap,
    /// Voting is not open.
    NotVoting,
    /// The facilitator removed this participant; its token no longer resumes.
    Removed,
    /// The server cannot store changes right now (its journal failed); nothing changed.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotWriting => "not_writing",
            ErrorCode::InvalidSlot => "invalid_slot",
            ErrorCode::TooLong => "too_long",
            ErrorCode::AlreadyStarted => "already_started",
            ErrorCode::NotEnoughParticipants => "not_enough_participants",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::WrongPhase => "wrong_phase",
            ErrorCode::Finished => "finished",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Locked => "locked",
            ErrorCode::UnknownParticipant => "unknown_participant",
            ErrorCode::UnknownIdea => "unknown_idea",
            ErrorCode::UnknownCluster => "unknown_cluster",
            ErrorCode::OwnIdea => "own_idea",
            ErrorCode::NoVotesLeft => "no_votes_left",
            ErrorCode::IdeaCap => "idea_cap",
            ErrorCode::NotVoting => "not_voting",
            ErrorCode::Removed => "removed",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// Parse one text frame into a client message, with a message that says what was wrong.
pub fn parse_client(text: &str) -> Result<ClientMsg, String> {
    // serde would also accept an internally tagged enum as an array (`["ping"]`); the
    // protocol's only message form is an object (found by fuzzing).
    if !text.trim_start().starts_with('{') {
        return Err("could not read message: a message is one JSON object".to_owned());
    }
    // Most messages are well formed: parse them plainly, and only parse a refused one again
    // with the path tracked, to name the field in the error (half the cost per message).
    if let Ok(msg) = serde_json::from_str::<ClientMsg>(text) {
        return Ok(msg);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let msg: ClientMsg = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if e.path().iter().next().is_some() {
            format!("could not read message: {}: {}", e.path(), e.inner())
        } else {
            format!("could not read message: {}", e.inner())
        }
    })?;
    de.end()
        .map_err(|e| format!("could not read message: {e}"))?;
    Ok(msg)
}

impl ServerMsg {
    /// Serialise to the JSON text sent in one frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys, no
        // user-implemented Serialize. Fall back to an error frame rather than panicking.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"internal","message":"serialise: {e}"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_message() {
        assert_eq!(
            parse_client(r#"{"type":"join"}"#),
            Ok(ClientMsg::Join {
                name: None,
                token: None
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"write","slot":1,"text":"hi","round":2,"seq":7}"#),
            Ok(ClientMsg::Write {
                slot: 1,
                text: "hi".into(),
                round: Some(2),
                seq: Some(7),
                builds_on: None,
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"extend","seconds":60}"#),
            Ok(ClientMsg::Extend { seconds: 60 })
        );
        for t in [
            "start", "pause", "resume", "advance", "finish", "ping", "watch",
        ] {
            assert!(parse_client(&format!(r#"{{"type":"{t}"}}"#)).is_ok(), "{t}");
            assert!(
                parse_client(&format!(r#"{{"type":"{t}","x":1}}"#)).is_err(),
                "{t} with an unknown field"
            );
        }
    }

    #[test]
    fn rejects_bad_shapes_with_a_reason() {
        let e = parse_client(r#"{"type":"fly"}"#).unwrap_err();
        assert!(e.contains("fly"), "{e}");
        let e = parse_client(r#"{"type":"write","slot":-1,"text":"x"}"#).unwrap_err();
        assert!(e.contains("-1") || e.contains("invalid value"), "{e}");
        let e = parse_client(r#"{"type":"write","slot":"zero","text":"x"}"#).unwrap_err();
        assert!(e.contains("string"), "{e}");
        assert!(parse_client(r#"{"type":"ping"} trailing"#).is_err());
        assert!(
            parse_client(r#"["ping"]"#).is_err(),
            "the array form is refused"
        );
        assert!(parse_client(r#"["write",0,"x",null,null,null]"#).is_err());
        assert!(parse_client(r#"  {"type":"ping"}"#).is_ok());
        assert!(parse_client(r#"{"type":"write","slot":0,"text":"x","extra":1}"#).is_err());
        assert!(parse_client("not json").is_err());
        assert!(parse_client("[]").is_err());
    }

    #[test]
    fn server_messages_are_tagged_snake_case() {
        let s = ServerMsg::Error {
            code: ErrorCode::NotEnoughParticipants,
            message: "x".into(),
            seq: None,
        }
        .to_json();
        assert_eq!(
            s,
            r#"{"type":"error","code":"not_enough_participants","message":"x"}"#
        );
        assert_eq!(
            ServerMsg::Pong { now: 5 }.to_json(),
            r#"{"type":"pong","now":5}"#
        );
        let code: serde_json::Value = serde_json::to_value(ErrorCode::InvalidSlot).unwrap();
        assert_eq!(code, ErrorCode::InvalidSlot.as_str());
    }

    proptest::proptest! {
        /// The fast path and the path-tracking parse accept exactly the same texts, as the
        /// same message: messages are the documented ones with bytes deleted, inserted or
        /// replaced.
        #[test]
        fn the_fast_parse_agrees_with_the_tracked_one(
            base in proptest::sample::select(vec![
                r#"{"type":"join","name":"Ana"}"#,
                r#"{"type":"write","slot":1,"text":"hi","round":2,"seq":7}"#,
                r#"{"type":"write","slot":0,"text":"x","builds_on":"i3"}"#,
                r#"{"type":"extend","seconds":60}"#,
                r#"{"type":"vote","idea":"i2"}"#,
                r#"{"type":"ping"}"#,
                r#"{"type":"facilitate","token":"abc"}"#,
            ]),
            edits in proptest::collection::vec((0..80usize, 0..3u8, proptest::sample::select(
                b"{}[]\":,0123456789abcdefghijklmnopqrstuvwxyz -".to_vec())), 0..4),
        ) {
            let mut b = base.as_bytes().to_vec();
            for (at, kind, byte) in edits {
                let at = at % (b.len() + 1);
                match kind {
                    0 if at < b.len() => { b.remove(at); }
                    1 => b.insert(at, byte),
                    _ if at < b.len() => b[at] = byte,
                    _ => {}
                }
            }
            let text = String::from_utf8_lossy(&b);
            let fast = serde_json::from_str::<ClientMsg>(&text).ok();
            let mut de = serde_json::Deserializer::from_str(&text);
            let tracked = serde_path_to_error::deserialize::<_, ClientMsg>(&mut de)
                .ok()
                .filter(|_| de.end().is_ok());
            proptest::prop_assert_eq!(fast, tracked);
        }
    }
}
