//! Wire protocol v1: every JSON message a client sends or receives over `/ws/{code}`.
//!
//! This module owns the *shape* of the wire and nothing else: serde types, their
//! documentation, and the parse function that turns a text frame into a [`ClientMsg`] with a
//! specific error, the error codes with their mapping from the engine's refusals, and the
//! close codes. It holds no room logic and performs no I/O. The views a message carries are
//! the engine's own ([`crate::room::view`]), embedded as they are: protocol depends on room,
//! never the other way. Every name on the wire is serde's; `docs/protocol.md` is the prose
//! version of this file, and a test fails when a message type, an error code or a close code
//! is missing from it.
//!
//! Anonymity is a property of these types: no server message carries the author of an idea.
//! Ideas and sheets have opaque ids; participant ids appear only in a participant's own
//! `welcome` and in the facilitator's `roster`, never next to an idea.

use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray, VariantNames};

use crate::room::RoomError;
pub use crate::room::view::{
    BallotEntry, BallotView, ClusterView, ClustersView, HeldSheet, IdeaView, MeView, MergeView,
    PhaseName, ProgressView, ResultView, RoomView, RosterEntry, RowView, SheetProgress, SheetView,
};

/// A message from a client. The first message on a socket must be `join`, `facilitate` or
/// `watch`; it picks the connection's role for the rest of its life.
///
/// Variants without fields are written `Start {}` so that `deny_unknown_fields` also
/// refuses `{"type":"start","extra":1}` (serde ignores extra keys on unit variants).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoStaticStr, VariantNames)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
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
        /// The sheet the client believes it holds; another one is `not_writing`.
        #[serde(default)]
        sheet: Option<String>,
    },
    /// C-Sketch: add a stroke to one's layer on the held sheet.
    Draw {
        /// `[x0, y0, x1, y1, …]`: 1 to 500 points on the 1000 × 750 canvas.
        points: Vec<u16>,
        /// The round the client believes it is in.
        #[serde(default)]
        round: Option<u32>,
        /// The sheet the client believes it holds.
        #[serde(default)]
        sheet: Option<String>,
        /// Client sequence number echoed in the `ack` (or the `error`).
        #[serde(default)]
        seq: Option<u64>,
    },
    /// C-Sketch: take one's last stroke back.
    Undo {
        /// The round the client believes it is in.
        #[serde(default)]
        round: Option<u32>,
        /// The sheet the client believes it holds.
        #[serde(default)]
        sheet: Option<String>,
        /// Client sequence number echoed in the `ack` (or the `error`).
        #[serde(default)]
        seq: Option<u64>,
    },
    /// Brainwriting pool: put the held sheet (with the draft as a row) into the pool and
    /// take another.
    Swap {
        /// The sheet the client believes it holds.
        #[serde(default)]
        sheet: Option<String>,
        /// Client sequence number echoed in the `ack` (or the `error`).
        #[serde(default)]
        seq: Option<u64>,
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
    /// The message's `type` on the wire (serde's name for it; a test checks they agree).
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// The role a connection took with its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// A writer, seated in a ring.
    Participant,
    /// The session's facilitator.
    Facilitator,
    /// A read-only board display.
    Board,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, IntoStaticStr, VariantNames)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    Me(MeView),
    /// The sheet a participant holds this round, with its own draft row.
    Sheet(HeldSheet),
    /// A `write` was accepted (and, when a journal is on, made durable).
    Ack {
        /// The `seq` of the write, if it had one.
        seq: Option<u64>,
        /// The round written in.
        round: u32,
        /// The slot written.
        slot: u32,
        /// C-Sketch (`draw`, `undo`): strokes now in one's layer.
        #[serde(skip_serializing_if = "Option::is_none")]
        strokes: Option<u32>,
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
    Ballot(BallotView),
    /// Everyone, after the rounds, whenever clusters or merges change.
    Clusters(ClustersView),
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

/// Stable error codes. Clients switch on these, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// A message of another method than the room's (`draw` outside C-Sketch, `swap`
    /// outside the pool).
    WrongMethod,
    /// A stroke over a limit: points per stroke, strokes or bytes per layer.
    SketchTooBig,
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
    /// The code as it appears on the wire (serde's name for it; a test checks they agree).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<&RoomError> for ErrorCode {
    /// The wire code of an engine refusal.
    fn from(e: &RoomError) -> Self {
        match e {
            RoomError::NotWriting(_) => ErrorCode::NotWriting,
            RoomError::InvalidSlot { .. } => ErrorCode::InvalidSlot,
            RoomError::TooLong { what: "idea", .. } => ErrorCode::TooLong,
            RoomError::TooLong { .. } | RoomError::InvalidValue(_) => ErrorCode::InvalidValue,
            RoomError::AlreadyStarted => ErrorCode::AlreadyStarted,
            RoomError::NotEnoughParticipants(_) => ErrorCode::NotEnoughParticipants,
            RoomError::WrongPhase(_) => ErrorCode::WrongPhase,
            RoomError::Finished => ErrorCode::Finished,
            RoomError::RoomFull(_) => ErrorCode::RoomFull,
            RoomError::UnknownParticipant => ErrorCode::UnknownParticipant,
            RoomError::Locked => ErrorCode::Locked,
            RoomError::UnknownIdea(_) => ErrorCode::UnknownIdea,
            RoomError::UnknownCluster(_) => ErrorCode::UnknownCluster,
            RoomError::OwnIdea => ErrorCode::OwnIdea,
            RoomError::NoVotesLeft(_) => ErrorCode::NoVotesLeft,
            RoomError::IdeaCap(_) => ErrorCode::IdeaCap,
            RoomError::NotVoting => ErrorCode::NotVoting,
            RoomError::WrongMethod(_) => ErrorCode::WrongMethod,
            RoomError::SketchTooBig(_) => ErrorCode::SketchTooBig,
        }
    }
}

/// WebSocket close codes the server uses, and the reason sent with each. Documented in
/// docs/protocol.md (a test checks every one has its row).
pub mod close {
    /// An ordinary end of the conversation (the client closed).
    pub const NORMAL: u16 = 1000;
    /// A frame that breaks RFC 6455.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The server is restarting or shutting down: reconnect and resume.
    pub const RESTART: u16 = 1012;
    /// The client did not read its messages fast enough: reconnect and resume.
    pub const SLOW: u16 = 4008;
    /// The client sent nothing within the handshake time.
    pub const IDLE: u16 = 4000;
    /// The room no longer exists.
    pub const ROOM_GONE: u16 = 4004;
    /// The facilitator removed this participant.
    pub const REMOVED: u16 = 4003;
    /// Too many messages too fast.
    pub const RATE: u16 = 4029;
    /// A message larger than allowed.
    pub const TOO_BIG: u16 = 1009;
    /// The peer stopped answering pings.
    pub const DEAD: u16 = 4001;
    /// The server could not make the room's changes durable: reconnect to resync.
    pub const INTERNAL: u16 = 1011;

    /// Every close code above, for the documentation test.
    pub const ALL: [u16; 12] = [
        NORMAL,
        PROTOCOL_ERROR,
        INVALID_DATA,
        RESTART,
        SLOW,
        IDLE,
        ROOM_GONE,
        REMOVED,
        RATE,
        TOO_BIG,
        DEAD,
        INTERNAL,
    ];

    /// The reason sent in the close frame with `code`.
    pub fn reason(code: u16) -> &'static str {
        match code {
            SLOW => "client fell behind; reconnect to resume",
            IDLE => "no first message in time",
            DEAD => "no answer to pings",
            ROOM_GONE => "room closed",
            RATE => "too many messages",
            TOO_BIG => "message too big",
            REMOVED => "removed by the facilitator",
            INTERNAL => "server could not store changes; reconnect to resume",
            PROTOCOL_ERROR => "protocol error",
            INVALID_DATA => "text frames must be UTF-8",
            NORMAL => "bye",
            _ => "server restarting; reconnect to resume",
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
                sheet: None,
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"draw","points":[1,2,3,4],"round":1,"seq":8}"#),
            Ok(ClientMsg::Draw {
                points: vec![1, 2, 3, 4],
                round: Some(1),
                sheet: None,
                seq: Some(8),
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"swap","sheet":"s1"}"#),
            Ok(ClientMsg::Swap {
                sheet: Some("s1".into()),
                seq: None,
            })
        );
        let negative = parse_client(r#"{"type":"draw","points":[1,-2]}"#).unwrap_err();
        assert!(negative.contains("-2"), "{negative}");
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

    /// strum's names (for metrics and messages) and serde's (on the wire) are one list.
    #[test]
    fn every_wire_name_is_serdes() {
        for &c in ErrorCode::VARIANTS {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for &r in Role::VARIANTS {
            assert_eq!(serde_json::to_value(r).unwrap(), <&str>::from(r));
        }
        for &p in PhaseName::VARIANTS {
            assert_eq!(serde_json::to_value(p).unwrap(), <&str>::from(p));
        }
        for &s in crate::room::Stage::VARIANTS {
            assert_eq!(serde_json::to_value(s).unwrap(), <&str>::from(s));
        }
        // serde lists every client type it accepts when it meets an unknown one.
        let e = parse_client(r#"{"type":"no_such_type"}"#).unwrap_err();
        let listed: Vec<&str> = e
            .split("expected one of ")
            .nth(1)
            .and_then(|s| s.split(" at line").next())
            .unwrap_or("")
            .split(", ")
            .map(|s| s.trim_matches(|c: char| c == '`' || c.is_whitespace()))
            .collect();
        assert_eq!(listed, ClientMsg::VARIANTS, "{e}");
        for name in ClientMsg::VARIANTS {
            // A message of each type that parses names itself the same way.
            if let Ok(m) = parse_client(&format!(r#"{{"type":"{name}"}}"#)) {
                assert_eq!(m.name(), *name);
            }
        }
        let view = RoomView {
            code: "C".into(),
            method: crate::room::Method::SixThreeFive,
            topic: "t".into(),
            phase: PhaseName::Lobby,
            round: 0,
            rounds: 0,
            ideas_per_round: 3,
            round_seconds: 300,
            deadline: None,
            remaining_ms: None,
            now: 0,
            participants: 0,
            connected: 0,
            done: 0,
            seated: 0,
            waiting: 0,
            locked: false,
            stage: None,
            presenting: None,
            votes_cast: None,
            preset: "classic".into(),
            goal: None,
            outcomes: vec![],
            language: None,
        };
        let sheet = SheetView {
            id: "s".into(),
            rows: vec![],
        };
        let every = [
            ServerMsg::Welcome {
                role: Role::Board,
                participant_id: None,
                token: None,
                name: None,
            },
            ServerMsg::Room(view),
            ServerMsg::Me(MeView {
                seated: true,
                done: false,
                left: false,
                waiting: false,
            }),
            ServerMsg::Sheet(HeldSheet {
                round: 1,
                sheet: sheet.clone(),
                draft: vec![],
                links: vec![],
                sketch: None,
            }),
            ServerMsg::Ack {
                seq: None,
                round: 1,
                slot: 0,
                strokes: None,
            },
            ServerMsg::Roster {
                participants: vec![],
            },
            ServerMsg::Progress(ProgressView {
                round: 1,
                done: 0,
                seated: 0,
                sheets: vec![],
                pool: None,
            }),
            ServerMsg::Reveal {
                sheets: vec![sheet],
            },
            ServerMsg::Ballot(BallotView {
                votes_left: 3,
                per_idea: 1,
                mine: vec![],
            }),
            ServerMsg::Clusters(ClustersView::default()),
            ServerMsg::Results { ideas: vec![] },
            ServerMsg::Pong { now: 1 },
            ServerMsg::Error {
                code: ErrorCode::Forbidden,
                message: "no".into(),
                seq: None,
            },
        ];
        let names: Vec<&str> = every.iter().map(<&str>::from).collect();
        assert_eq!(
            names,
            ServerMsg::VARIANTS,
            "one sample of each server message"
        );
        for (m, name) in every.iter().zip(names) {
            let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
            assert_eq!(v["type"], name);
        }
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
