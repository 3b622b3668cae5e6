//! What a room looks like from outside: the plain data the engine produces for the room's
//! participants, its facilitator and its boards.
//!
//! These are views, not state: [`Room`](super::Room) builds them on demand and never keeps
//! them, so they are never stale. They derive `Serialize` so that `protocol` can embed them in
//! its messages as they are, and their names on the wire are serde's (`rename_all`): no
//! hand-kept table of names anywhere. This module knows nothing of messages, sockets or JSON
//! text; no view carries the author of an idea.

use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

use super::{Method, Stage};

/// The phase of a room.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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

/// What in a room's public state is more than counts (`RoomView` without its tallies):
/// cheap to take, so a caller can tell whether a change needs the full view at once.
/// (`rounds` is left out: in the lobby it is planned from the head count.)
#[derive(Debug, Clone, PartialEq)]
pub struct ViewKey {
    /// As in [`RoomView`].
    pub phase: PhaseName,
    /// As in [`RoomView`].
    pub round: u32,
    /// As in [`RoomView`].
    pub deadline: Option<u64>,
    /// As in [`RoomView`].
    pub remaining_ms: Option<u64>,
    /// As in [`RoomView`].
    pub locked: bool,
    /// As in [`RoomView`].
    pub stage: Option<Stage>,
    /// As in [`RoomView`].
    pub presenting: Option<String>,
}

impl ViewKey {
    /// The key of a rendered view.
    pub fn of(v: &RoomView) -> Self {
        ViewKey {
            phase: v.phase,
            round: v.round,
            deadline: v.deadline,
            remaining_ms: v.remaining_ms,
            locked: v.locked,
            stage: v.stage,
            presenting: v.presenting.clone(),
        }
    }
}

/// The public state of a room: the same bytes go to everyone in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    /// The room code (8 characters of Crockford base32).
    pub code: String,
    /// The method: `635`, `c_sketch` or `pool`.
    pub method: Method,
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
    pub stage: Option<Stage>,
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
    /// The room's language set at creation (`en`, `de`, `fr`, `es`, `ar`), or null when each
    /// person's browser decides.
    pub language: Option<String>,
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
    /// C-Sketch: the idea's strokes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sketch: Option<Vec<Vec<u16>>>,
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
    /// C-Sketch: the strokes of this layer, `[[x0, y0, x1, y1, …], …]` (the text is its
    /// caption).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sketch: Option<Vec<Vec<u16>>>,
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
    /// Pool rooms: the pool's state in counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolView>,
}

/// The brainwriting pool in counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolView {
    /// Sheets in the pool, waiting for someone to take them.
    pub pooled: u32,
    /// Sheets held by participants.
    pub held: u32,
    /// Participants waiting for a sheet they may take.
    pub waiting: u32,
    /// Sheets put back so far.
    pub swaps: u32,
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

/// A participant's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeView {
    /// Seated in a ring (false in the lobby and for a participant who joined too late).
    pub seated: bool,
    /// Said `done` in the current round.
    pub done: bool,
    /// Has left the session (or was removed).
    pub left: bool,
    /// Pool: waiting for a sheet (none in the pool may come to this participant yet); sent
    /// only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub waiting: bool,
}

/// The sheet a participant holds this round, with its own draft row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldSheet {
    /// The round this sheet is held in.
    pub round: u32,
    /// The sheet and the rows already on it.
    pub sheet: SheetView,
    /// The participant's draft for this round, one string per slot.
    pub draft: Vec<String>,
    /// What each draft slot builds on (an idea id on this sheet), or null.
    pub links: Vec<Option<String>>,
    /// C-Sketch: the draft layer's strokes (its caption is `draft[0]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sketch: Option<Vec<Vec<u16>>>,
}

/// A participant's own votes while voting is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BallotView {
    /// Votes still to place.
    pub votes_left: u32,
    /// Most votes on one idea.
    pub per_idea: u32,
    /// Where this participant's votes are.
    pub mine: Vec<BallotEntry>,
}

/// The clusters and the merged duplicates, after the rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClustersView {
    /// The clusters, in creation order.
    pub clusters: Vec<ClusterView>,
    /// Ideas marked as duplicates of others.
    pub merged: Vec<MergeView>,
}
