//! Protocol v1 as the load generator speaks it: the client messages it sends and a light,
//! borrowing parse of the server messages it reads.
//!
//! It deliberately does not reuse `brainwrite::protocol`: the load generator must work against
//! any server that keeps the documented wire contract (docs/protocol.md), so it reads the
//! wire as a client would and ignores fields and message types it does not know.

use serde::{Deserialize, Serialize};

/// A message the load generator sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Out<'a> {
    /// Join as a participant.
    Join {
        /// Display name.
        name: &'a str,
    },
    /// Drive the room as its facilitator.
    Facilitate {
        /// The facilitator token from room creation.
        token: &'a str,
    },
    /// Watch as a board.
    Watch,
    /// Anyone: answered with `pong`.
    Ping,
    /// Facilitator: seat everyone and start round 1.
    Start,
    /// Set one slot of this round's row.
    Write {
        /// Slot index.
        slot: u32,
        /// Text of the idea.
        text: &'a str,
        /// The round meant.
        round: u32,
        /// Echoed in the ack.
        seq: u64,
    },
}

impl Out<'_> {
    /// The JSON text of one frame.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialise")
    }
}

/// The `type` of a server message. The server writes the tag first, so the fast path is a
/// prefix match; anything else falls back to a real JSON parse.
pub fn msg_type(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix("{\"type\":\"")
        && let Some(end) = rest.find('"')
    {
        return Some(&rest[..end]);
    }
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        ty: &'a str,
    }
    serde_json::from_str::<Tag>(text).ok().map(|t| t.ty)
}

/// `welcome`.
#[derive(Debug, Deserialize)]
pub struct Welcome<'a> {
    /// The role taken.
    #[serde(borrow)]
    pub role: &'a str,
}

/// `room`: the public state (only the fields the load generator uses).
#[derive(Debug, Deserialize)]
pub struct RoomState<'a> {
    /// lobby, writing, paused or finished.
    #[serde(borrow)]
    pub phase: &'a str,
    /// Current round, 0 in the lobby.
    pub round: u32,
    /// Planned rounds (the peer sends null in the lobby while it cannot tell).
    pub rounds: Option<u32>,
    /// End of the running round, server epoch ms.
    pub deadline: Option<u64>,
}

/// `ack`.
#[derive(Debug, Deserialize)]
pub struct Ack {
    /// The write's seq.
    pub seq: Option<u64>,
    /// The round written in.
    pub round: u32,
    /// The slot written.
    pub slot: u32,
}

/// `error`.
#[derive(Debug, Deserialize)]
pub struct Error<'a> {
    /// Machine-readable code.
    #[serde(borrow)]
    pub code: &'a str,
    /// Explanation.
    #[serde(default)]
    pub message: String,
    /// The seq of the refused write.
    #[serde(default)]
    pub seq: Option<u64>,
}

/// A row with its ideas counted but not kept.
#[derive(Debug, Deserialize)]
pub struct RowCount {
    /// Ideas in the row.
    pub ideas: Vec<serde::de::IgnoredAny>,
}

/// A sheet with only its shape kept.
#[derive(Debug, Deserialize)]
pub struct SheetShape {
    /// Opaque sheet id.
    pub id: String,
    /// Rows already on it.
    pub rows: Vec<RowCount>,
}

/// `sheet`.
#[derive(Debug, Deserialize)]
pub struct Sheet {
    /// The round it is held in.
    pub round: u32,
    /// The sheet.
    pub sheet: SheetShape,
    /// The participant's draft, one string per slot.
    pub draft: Vec<serde::de::IgnoredAny>,
}

/// `reveal` with shapes only (participants and boards).
#[derive(Debug, Deserialize)]
pub struct RevealShape {
    /// Every sheet.
    pub sheets: Vec<SheetShape>,
}

/// One idea with its text.
#[derive(Debug, Deserialize)]
pub struct IdeaText {
    /// The idea.
    pub text: String,
}

/// A row with its texts.
#[derive(Debug, Deserialize)]
pub struct RowText {
    /// Round written in.
    pub round: u32,
    /// The ideas.
    pub ideas: Vec<IdeaText>,
}

/// A sheet with its texts.
#[derive(Debug, Deserialize)]
pub struct SheetText {
    /// The rows.
    pub rows: Vec<RowText>,
}

/// `reveal` with every text (the facilitator checks them against what was written).
#[derive(Debug, Deserialize)]
pub struct RevealText {
    /// Every sheet.
    pub sheets: Vec<SheetText>,
}

/// Printable ASCII filler for idea texts, sliced to imitate a phrase being typed.
const FILLER: &str = "we could let people swap sheets by walking to a new table, then \
    read the last row aloud before writing, and keep a timer visible on the wall for all";

/// The text of write number `version` to `slot`: grows like a phrase being typed, and is
/// unique within its room so the reveal can be checked text by text.
pub fn idea_text(room: usize, participant: u32, round: u32, slot: u32, version: u32) -> String {
    let len = (16 + 22 * version as usize).min(FILLER.len());
    format!(
        "r{room}p{participant}R{round}s{slot}v{version} {}",
        FILLER[..len].trim_end()
    )
}
