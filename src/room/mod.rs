//! The pure 6-3-5 room engine: phases, rings, sheets, drafts and the round clock.
//!
//! It owns every rule of the method and nothing else: no tokio, no sockets, no JSON text, no
//! wall clock. Time comes in as an argument (`now`, server epoch milliseconds) and randomness
//! from a seed given at creation, so a room is a deterministic function of its seed and its
//! command log: tests drive it directly and the journal can replay it.
//!
//! Inputs are [`Command`]s applied by [`Room::handle`]; the passage of time is applied by
//! [`Room::tick`], and [`Room::next_deadline`] says when the next tick is due. Both return
//! [`Event`]s that say *what changed*; the caller (the room actor) renders the messages.

mod decide;
mod pool;
pub mod rings;
pub mod rotation;
pub mod sketch;
pub mod text;
pub mod view;

pub use decide::Stage;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
// ChaCha8 is specified to give the same stream on every platform and version, so a journal
// replays to the same room after an upgrade (StdRng makes no such promise).
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use rotation::Seat;
use sketch::{Layer, Stroke, StrokeError};
use view::{
    HeldSheet, IdeaView, MeView, PhaseName, PoolView, ProgressView, RoomView, RosterEntry, RowView,
    SheetProgress, SheetView, ViewKey,
};

/// Server epoch milliseconds.
pub type Millis = u64;

/// Index of a participant in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

/// The brainwriting method a room runs, chosen at creation.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum Method {
    /// 6-3-5: a row of ideas per round on the held sheet; sheets rotate at each boundary.
    #[default]
    #[serde(rename = "635")]
    #[strum(serialize = "635")]
    SixThreeFive,
    /// C-Sketch: a sketch (strokes and a caption) per round on the held sheet, drawn on top
    /// of or beside the earlier layers; sheets rotate as in 6-3-5.
    #[serde(rename = "c_sketch")]
    #[strum(serialize = "c_sketch")]
    CSketch,
    /// The brainwriting pool: one session clock; whoever has written puts the sheet in the
    /// pool and takes another.
    #[serde(rename = "pool")]
    #[strum(serialize = "pool")]
    Pool,
}

impl Method {
    /// The wire name (`635`, `c_sketch`, `pool`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Room settings fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The method (`635` for every room made before the field existed).
    #[serde(default)]
    pub method: Method,
    /// The problem statement (already validated by [`text::topic`]).
    pub topic: String,
    /// Slots per row, 1–10.
    pub ideas_per_round: u32,
    /// Round length in seconds, 1–3600.
    pub round_seconds: u32,
    /// Largest ring, 2–12.
    pub group_size: u32,
    /// Upper bound on rounds, 1–12; `None` for as many as the smallest ring allows.
    pub max_rounds: Option<u32>,
    /// Most participants the room admits.
    pub max_participants: u32,
    /// The preset the room was made from (`classic`, `quick`, `large`).
    #[serde(default = "classic_name")]
    pub preset: String,
    /// The session's goal, shown before the start.
    #[serde(default)]
    pub goal: Option<String>,
    /// Expected outcomes, shown before the start.
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// The room's language (one of [`LANGUAGES`]), set by the facilitator at creation: the
    /// pages use it unless a person chose another, and the facilitator's page asks for its
    /// exports in it. `None` (every room before this field, and rooms created without it):
    /// each person's browser decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// The languages the web client and the exports are written in (BCP 47 primary tags).
pub const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "ar"];

fn classic_name() -> String {
    "classic".to_owned()
}

impl Settings {
    /// Defaults of classic 6-3-5 for a topic.
    pub fn classic(topic: &str) -> Self {
        Settings {
            method: Method::SixThreeFive,
            topic: topic.to_owned(),
            ideas_per_round: 3,
            round_seconds: 300,
            group_size: 6,
            max_rounds: None,
            max_participants: 200,
            preset: classic_name(),
            goal: None,
            outcomes: Vec::new(),
            language: None,
        }
    }
}

/// What a `write` sets: one slot of the participant's draft row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSlot {
    /// Who writes.
    pub pid: Pid,
    /// 0-based slot.
    pub slot: u32,
    /// Raw text as sent.
    pub text: String,
    /// The round the client believes it is in.
    pub round: Option<u32>,
    /// The idea on the held sheet this slot builds on.
    #[serde(default)]
    pub builds_on: Option<String>,
    /// The sheet the client believes it holds (a stale one is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

/// A C-Sketch stroke added to the participant's layer on the held sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawStroke {
    /// Who draws.
    pub pid: Pid,
    /// `[x0, y0, x1, y1, …]` on the canvas ([`sketch`]).
    pub points: Stroke,
    /// The round the client believes it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    /// The sheet the client believes it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

/// A command to the room. The connection layer has already resolved who sends it.
/// Commands are journaled as they are, so changing one is a journal format change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// A new participant with a fresh resume token (its SHA-256 hash) and an optional name.
    Join {
        /// SHA-256 of the resume token the server handed out.
        token_hash: [u8; 32],
        /// Raw display name as sent.
        name: Option<String>,
    },
    /// A connection for this participant opened.
    Connect(Pid),
    /// A connection for this participant closed.
    Disconnect(Pid),
    /// Set a slot of the participant's draft row. (A newtype around a struct is journaled
    /// exactly as the struct variant it replaced: `{"write":{"pid":…}}`.)
    Write(WriteSlot),
    /// C-Sketch: add a stroke to one's layer.
    Draw(DrawStroke),
    /// C-Sketch: take one's last stroke back.
    Undo {
        /// Who.
        pid: Pid,
        /// The round the client believes it is in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round: Option<u32>,
        /// The sheet the client believes it holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sheet: Option<String>,
    },
    /// Pool: the draft becomes a row, the sheet goes into the pool, another comes back.
    Swap {
        /// Who.
        pid: Pid,
        /// The sheet the client believes it holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sheet: Option<String>,
    },
    /// The participant finished its row.
    Done {
        /// Who.
        pid: Pid,
        /// The round the client believes it is in.
        round: Option<u32>,
    },
    /// Facilitator: seat the lobby and start round 1.
    Start,
    /// Facilitator: freeze the clock.
    Pause,
    /// Facilitator: restart the clock.
    Resume,
    /// Facilitator: add seconds to the round.
    Extend(u32),
    /// Facilitator: end the round now.
    Advance,
    /// Facilitator: end the session now.
    Finish,
    /// The server restarted: nobody is connected any more, and the time the server was
    /// down since `down_since` is given back to the running round.
    Resync {
        /// The last moment the server is known to have been running.
        down_since: Millis,
    },
    /// The participant leaves: it stops holding sheets at the next boundary.
    Leave(Pid),
    /// Facilitator: remove a participant (by public id); its token stops working.
    Remove(String),
    /// Facilitator: refuse new joins.
    Lock,
    /// Facilitator: admit new joins again.
    Unlock,
    /// Facilitator: show one sheet (by id) to everyone, or all of them.
    Present(Option<String>),
    /// Facilitator: open dot voting.
    OpenVoting {
        /// Votes per person.
        votes: u32,
        /// Most votes one person may put on one idea.
        per_idea: u32,
    },
    /// Facilitator: close voting and publish the results.
    CloseVoting,
    /// A participant puts a vote on an idea.
    Vote {
        /// Who votes.
        pid: Pid,
        /// The idea id.
        idea: String,
    },
    /// A participant takes a vote back.
    Unvote {
        /// Who.
        pid: Pid,
        /// The idea id.
        idea: String,
    },
    /// Facilitator: create a cluster (no id) or rename one.
    Cluster {
        /// The cluster to rename, or none to create.
        id: Option<String>,
        /// Its name.
        name: String,
    },
    /// Facilitator: delete a cluster (its ideas become unclustered).
    DeleteCluster(String),
    /// Facilitator: put an idea into a cluster, or out of any.
    Assign {
        /// The idea.
        idea: String,
        /// The cluster, or none.
        cluster: Option<String>,
    },
    /// Facilitator: mark an idea as a duplicate of another, or undo it.
    Merge {
        /// The duplicate.
        idea: String,
        /// The idea it duplicates, or none to undo.
        into: Option<String>,
    },
}

/// What changed. The actor turns these into messages for the right recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The public room state changed (phase, round, clock, counts).
    State,
    /// The participant list changed (facilitator roster).
    Roster,
    /// A participant's own state (`seated`, `done`) changed.
    Me(Pid),
    /// A participant joined; it is the new participant's id.
    Joined(Pid),
    /// A write was stored.
    Saved {
        /// Who wrote.
        pid: Pid,
        /// Round written in.
        round: u32,
        /// Slot written.
        slot: u32,
    },
    /// Sheet fill counts changed.
    Progress,
    /// A new round began: every seated participant holds a new sheet.
    Dealt,
    /// The session finished: every sheet is revealed.
    Revealed,
    /// Clusters or merges changed.
    Clusters,
    /// A participant's ballot changed.
    Ballot(Pid),
    /// Every participant's ballot changed (voting opened).
    Ballots,
    /// Voting closed: results are out.
    Results,
    /// A participant was removed: close its connections.
    Removed(Pid),
    /// Pool: this participant was handed a sheet (send it its `sheet`).
    Handed(Pid),
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Not a running round (or not for this participant / this round).
    #[error("{0}")]
    NotWriting(&'static str),
    /// Slot outside the row.
    #[error("slot {slot} is outside the row (0 to {max})")]
    InvalidSlot {
        /// The slot sent.
        slot: u32,
        /// The last valid slot.
        max: u32,
    },
    /// Text too long.
    #[error("{what} is {len} characters; the limit is {max}")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Start after the start.
    #[error("the session has already started")]
    AlreadyStarted,
    /// Start with fewer than two.
    #[error("{0} participant(s) in the lobby; at least 2 are needed to start")]
    NotEnoughParticipants(usize),
    /// A value out of range.
    #[error("{0}")]
    InvalidValue(String),
    /// The command does not fit the phase.
    #[error("{0}")]
    WrongPhase(&'static str),
    /// The session is finished.
    #[error("the session is finished")]
    Finished,
    /// No room for another participant.
    #[error("the room is full ({0} participants)")]
    RoomFull(u32),
    /// Unknown participant (a stale id from a removed connection).
    #[error("unknown participant")]
    UnknownParticipant,
    /// The room is locked.
    #[error("the facilitator has locked this session; ask them to unlock it")]
    Locked,
    /// No such idea (or not on the sheet one holds).
    #[error("{0}")]
    UnknownIdea(String),
    /// No such cluster.
    #[error("no cluster {0}")]
    UnknownCluster(String),
    /// A vote for one's own idea.
    #[error("you cannot vote for an idea you wrote")]
    OwnIdea,
    /// All votes used.
    #[error("you have used all {0} of your votes; take one back to move it")]
    NoVotesLeft(u32),
    /// Per-idea cap reached.
    #[error("at most {0} vote(s) on one idea")]
    IdeaCap(u32),
    /// Voting is not open.
    #[error("voting is not open")]
    NotVoting,
    /// A command of another method than the room's.
    #[error("{0}")]
    WrongMethod(String),
    /// A stroke over a limit of the stroke or of the layer.
    #[error("{0}")]
    SketchTooBig(String),
}

impl From<StrokeError> for RoomError {
    fn from(e: StrokeError) -> Self {
        match e {
            StrokeError::Invalid(m) => RoomError::InvalidValue(m),
            StrokeError::TooBig(m) => RoomError::SketchTooBig(m),
        }
    }
}

/// The phase with its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the start.
    Lobby,
    /// Round running until `deadline`.
    Writing {
        /// When the round ends.
        deadline: Millis,
    },
    /// Round frozen with `remaining` milliseconds left.
    Paused {
        /// Time left when paused.
        remaining: Millis,
    },
    /// Over; sheets revealed.
    Finished,
}

/// One participant. Its author identity never leaves the engine except as its own `id`.
#[derive(Debug, Clone)]
struct Participant {
    /// Opaque public id.
    id: String,
    token_hash: [u8; 32],
    name: Option<String>,
    /// Open connections.
    connections: u32,
    /// (ring, seat) once seated.
    seat: Option<(usize, usize)>,
    done: bool,
    /// This round's row, one string per slot.
    draft: Vec<String>,
    /// What each draft slot builds on.
    links: Vec<Option<String>>,
    /// C-Sketch: this round's layer on the held sheet.
    sketch: Layer,
    /// The sheet held this round.
    holding: Option<usize>,
    /// Every sheet ever held.
    held: Vec<usize>,
    /// Seated this round with a fresh sheet of its own.
    fresh: Option<usize>,
    /// Asked to leave (or was removed): stops holding sheets at the next boundary.
    leaving: bool,
    /// Gone: holds no sheet any more.
    left: bool,
    /// Removed by the facilitator: its token no longer resumes.
    removed: bool,
}

/// One idea on a sheet. Its author never leaves the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Idea {
    id: String,
    text: String,
    builds_on: Option<String>,
    /// C-Sketch: the strokes of the layer (the text is its caption).
    sketch: Option<Vec<Stroke>>,
    author: Pid,
}

/// One row: what one participant wrote on a sheet in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    round: u32,
    ideas: Vec<Idea>,
}

/// A sheet, started by one participant.
#[derive(Debug, Clone)]
struct Sheet {
    id: String,
    rows: Vec<Row>,
    /// Rounds it has been held in.
    visits: u32,
}

/// A ring: members in seat order (those who left keep their seat, inactive) and its sheets.
#[derive(Debug, Clone)]
struct Ring {
    members: Vec<Pid>,
    sheets: Vec<usize>,
}

/// A brainwriting room.
#[derive(Debug, Clone)]
pub struct Room {
    settings: Settings,
    rng: ChaCha8Rng,
    phase: Phase,
    round: u32,
    rounds: u32,
    participants: Vec<Participant>,
    rings: Vec<Ring>,
    sheets: Vec<Sheet>,
    next_idea: u64,
    finished_at: Option<Millis>,
    /// Where idea `i{k}` is: (sheet, row, position) at index k − 1.
    idea_index: Vec<(usize, usize, usize)>,
    locked: bool,
    decide: decide::Decide,
    /// Pool: the sheets in the pool, longest there first.
    pool: Vec<usize>,
    /// Pool: the participants waiting for a sheet, in the order they began to wait.
    waiting: Vec<Pid>,
    /// Pool: swaps so far.
    swaps: u32,
}

/// Crockford-style alphabet for opaque ids.
const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl Room {
    /// A new room in the lobby. `seed` fixes every random choice (seat shuffle, ids).
    pub fn new(mut settings: Settings, seed: u64) -> Self {
        if settings.method == Method::CSketch {
            // A C-Sketch row is one sketch.
            settings.ideas_per_round = 1;
        }
        Room {
            settings,
            rng: ChaCha8Rng::seed_from_u64(seed),
            phase: Phase::Lobby,
            round: 0,
            rounds: 0,
            participants: Vec::new(),
            rings: Vec::new(),
            sheets: Vec::new(),
            next_idea: 0,
            finished_at: None,
            idea_index: Vec::new(),
            locked: false,
            decide: decide::Decide::default(),
            pool: Vec::new(),
            waiting: Vec::new(),
            swaps: 0,
        }
    }

    /// The room's method.
    pub fn method(&self) -> Method {
        self.settings.method
    }

    /// When the session finished, if it has.
    pub fn finished_at(&self) -> Option<Millis> {
        self.finished_at
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The current round (0 in the lobby).
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Number of participants, seated or not.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// A participant's public id.
    pub fn participant_id(&self, pid: Pid) -> Option<&str> {
        self.participants.get(pid.0 as usize).map(|p| p.id.as_str())
    }

    /// A participant's display name.
    pub fn participant_name(&self, pid: Pid) -> Option<&str> {
        self.participants
            .get(pid.0 as usize)
            .and_then(|p| p.name.as_deref())
    }

    /// The participant whose resume token hashes to `hash` (check [`Room::is_removed`]
    /// before letting it back in).
    pub fn find_by_token(&self, hash: &[u8; 32]) -> Option<Pid> {
        use subtle::ConstantTimeEq;
        // Scan all without early exit so timing says nothing about which one matched.
        let mut found = None;
        for (i, p) in self.participants.iter().enumerate() {
            if bool::from(p.token_hash.ct_eq(hash)) {
                found = Some(Pid(i as u32));
            }
        }
        found
    }

    /// When the next tick is due, if any.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.phase {
            Phase::Writing { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Apply the passage of time: end the round if its deadline has passed. The next round
    /// is timed from `now`, the moment its sheets are handed out, so a late tick never
    /// shortens anyone's round: it moves the rest of the schedule by as much. One tick ends
    /// one round, however late it runs (a stalled server does not skip rounds).
    pub fn tick(&mut self, now: Millis) -> Vec<Event> {
        let mut ev = Vec::new();
        if let Phase::Writing { deadline } = self.phase
            && now >= deadline
        {
            self.end_round(now, &mut ev);
        }
        ev
    }

    /// Move the running round's deadline to `deadline` (the actor does, when the sheets of
    /// a round went out later than it was decided; a replay, from the journal). Nothing
    /// happens, and `false` says so, outside a round.
    pub fn set_deadline(&mut self, deadline: Millis) -> bool {
        match self.phase {
            Phase::Writing { .. } => {
                self.phase = Phase::Writing { deadline };
                true
            }
            _ => false,
        }
    }

    /// Replay a journaled clock boundary: the round running at `at` ended then, whatever its
    /// deadline says (a journal written by a server that timed rounds differently replays
    /// the same way). Nothing happens outside a round.
    pub fn replay_tick(&mut self, at: Millis) -> Vec<Event> {
        let mut ev = Vec::new();
        if let Phase::Writing { .. } = self.phase {
            self.end_round(at, &mut ev);
        }
        ev
    }

    /// Apply one command at time `now`. The caller applies [`Room::tick`] first (the actor
    /// always does); without it, a round whose deadline has passed is treated as closed, so
    /// a late write is refused either way. On `Err` nothing changed.
    pub fn handle(&mut self, cmd: Command, now: Millis) -> Result<Vec<Event>, RoomError> {
        let mut ev = Vec::new();
        self.apply(cmd, now, &mut ev)?;
        Ok(ev)
    }
}

impl Room {
    fn apply(&mut self, cmd: Command, now: Millis, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        match cmd {
            Command::Join { token_hash, name } => self.join(token_hash, name, ev),
            Command::Connect(pid) => {
                let p = self.participant_mut(pid)?;
                p.connections += 1;
                ev.extend([Event::State, Event::Roster]);
                Ok(())
            }
            Command::Disconnect(pid) => {
                let p = self.participant_mut(pid)?;
                p.connections = p.connections.saturating_sub(1);
                ev.extend([Event::State, Event::Roster]);
                // The one writer everybody waited for may just have left.
                self.end_round_if_all_done(now, ev);
                Ok(())
            }
            Command::Write(w) => self.write(w, now, ev),
            Command::Draw(d) => self.draw(d, now, ev),
            Command::Undo { pid, round, sheet } => {
                self.check_sketcher(pid, round, sheet.as_deref(), now)?;
                let was = self.drafted(pid);
                if !self.participants[pid.0 as usize].sketch.undo() {
                    return Err(RoomError::InvalidValue(
                        "there is no stroke of yours to undo on this sheet".to_owned(),
                    ));
                }
                ev.push(Event::Saved {
                    pid,
                    round: self.round,
                    slot: 0,
                });
                self.after_write(pid, was, ev);
                Ok(())
            }
            Command::Swap { pid, sheet } => self.swap(pid, sheet.as_deref(), now, ev),
            Command::Done { pid, round } => {
                if self.settings.method == Method::Pool {
                    self.check_pool_member(pid, now)?;
                } else {
                    self.check_writer(pid, round, now)?;
                }
                let p = &mut self.participants[pid.0 as usize];
                if !p.done {
                    p.done = true;
                    ev.extend([Event::Me(pid), Event::State, Event::Roster, Event::Progress]);
                }
                self.end_round_if_all_done(now, ev);
                Ok(())
            }
            Command::Start => self.start(now, ev),
            Command::Pause => match self.phase {
                Phase::Writing { deadline } if deadline > now => {
                    self.phase = Phase::Paused {
                        remaining: deadline - now,
                    };
                    ev.push(Event::State);
                    Ok(())
                }
                _ => Err(self.phase_error("pause needs a running round")),
            },
            Command::Resume => match self.phase {
                Phase::Paused { remaining } => {
                    self.phase = Phase::Writing {
                        deadline: now + remaining,
                    };
                    ev.push(Event::State);
                    Ok(())
                }
                _ => Err(self.phase_error("resume needs a paused round")),
            },
            Command::Extend(seconds) => {
                if !(1..=3600).contains(&seconds) {
                    return Err(RoomError::InvalidValue(format!(
                        "extend takes 1 to 3600 seconds, not {seconds}"
                    )));
                }
                let add = Millis::from(seconds) * 1000;
                match self.phase {
                    Phase::Writing { deadline } if deadline > now => {
                        self.phase = Phase::Writing {
                            deadline: deadline + add,
                        }
                    }
                    Phase::Paused { remaining } => {
                        self.phase = Phase::Paused {
                            remaining: remaining + add,
                        }
                    }
                    _ => return Err(self.phase_error("extend needs a running or paused round")),
                }
                ev.push(Event::State);
                Ok(())
            }
            Command::Advance => match self.phase {
                Phase::Writing { .. } | Phase::Paused { .. } => {
                    self.end_round(now, ev);
                    Ok(())
                }
                _ => Err(self.phase_error("advance needs a running or paused round")),
            },
            Command::Finish => match self.phase {
                Phase::Writing { .. } | Phase::Paused { .. } => {
                    self.commit_rows();
                    self.finish(now, ev);
                    Ok(())
                }
                _ => Err(self.phase_error("finish needs a started session")),
            },
            Command::Resync { down_since } => {
                for p in &mut self.participants {
                    p.connections = 0;
                }
                if let Phase::Writing { deadline } = self.phase {
                    // Downtime does not eat writing time.
                    let left = deadline.saturating_sub(down_since.min(now));
                    self.phase = Phase::Writing {
                        deadline: now + left,
                    };
                }
                ev.extend([Event::State, Event::Roster]);
                Ok(())
            }
            Command::Leave(pid) => {
                self.participant_mut(pid)?;
                self.depart(pid, false, now, ev);
                Ok(())
            }
            Command::Remove(id) => {
                let pid = self
                    .participants
                    .iter()
                    .position(|p| p.id == id && !p.removed)
                    .map(|i| Pid(i as u32))
                    .ok_or(RoomError::UnknownParticipant)?;
                self.depart(pid, true, now, ev);
                Ok(())
            }
            Command::Lock | Command::Unlock => {
                self.locked = matches!(cmd, Command::Lock);
                ev.push(Event::State);
                Ok(())
            }
            Command::Present(_)
            | Command::OpenVoting { .. }
            | Command::CloseVoting
            | Command::Vote { .. }
            | Command::Unvote { .. }
            | Command::Cluster { .. }
            | Command::DeleteCluster(_)
            | Command::Assign { .. }
            | Command::Merge { .. } => self.decide(cmd, ev),
        }
    }

    fn phase_error(&self, what: &'static str) -> RoomError {
        match self.phase {
            Phase::Finished => RoomError::Finished,
            _ => RoomError::WrongPhase(what),
        }
    }

    fn participant_mut(&mut self, pid: Pid) -> Result<&mut Participant, RoomError> {
        self.participants
            .get_mut(pid.0 as usize)
            .ok_or(RoomError::UnknownParticipant)
    }

    fn random_id(&mut self, prefix: char, len: usize) -> String {
        let mut s = String::with_capacity(len + 1);
        s.push(prefix);
        for _ in 0..len {
            s.push(ID_ALPHABET[self.rng.random_range(0..32)] as char);
        }
        s
    }

    fn join(
        &mut self,
        token_hash: [u8; 32],
        name: Option<String>,
        ev: &mut Vec<Event>,
    ) -> Result<(), RoomError> {
        let name = match name.as_deref().map(text::name) {
            None => None,
            Some(Ok(n)) => n,
            Some(Err(len)) => {
                return Err(RoomError::TooLong {
                    what: "name",
                    len,
                    max: text::MAX_NAME_CHARS,
                });
            }
        };
        if self.locked {
            return Err(RoomError::Locked);
        }
        if self.participants.len() >= self.settings.max_participants as usize {
            return Err(RoomError::RoomFull(self.settings.max_participants));
        }
        // 16 characters of base32: 80 bits, unique for any realistic room.
        let id = loop {
            let id = self.random_id('p', 16);
            if self.participants.iter().all(|p| p.id != id) {
                break id;
            }
        };
        let pid = Pid(self.participants.len() as u32);
        self.participants.push(Participant {
            id,
            token_hash,
            name,
            connections: 0,
            seat: None,
            done: false,
            draft: Vec::new(),
            links: Vec::new(),
            sketch: Layer::default(),
            holding: None,
            held: Vec::new(),
            fresh: None,
            leaving: false,
            left: false,
            removed: false,
        });
        ev.extend([Event::Joined(pid), Event::State, Event::Roster]);
        if self.settings.method == Method::Pool
            && matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. })
        {
            // No boundary to wait for: a sheet of one's own at once.
            self.seat_in_pool(pid);
            ev.extend([Event::Me(pid), Event::Progress]);
        }
        Ok(())
    }

    /// A participant leaves or is removed. In the lobby (or when holding nothing) it is gone
    /// at once; a writer keeps its sheet until the boundary, so its row is not lost.
    fn depart(&mut self, pid: Pid, removed: bool, now: Millis, ev: &mut Vec<Event>) {
        let writing = matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. });
        let pool = self.settings.method == Method::Pool;
        if writing && pool {
            self.leave_pool(pid, ev);
        }
        let p = &mut self.participants[pid.0 as usize];
        p.removed |= removed;
        if writing && !pool && p.holding.is_some() {
            p.leaving = true;
        } else {
            p.left = true;
        }
        p.done = false;
        ev.extend([Event::State, Event::Roster, Event::Me(pid), Event::Progress]);
        if removed {
            ev.push(Event::Removed(pid));
        }
        self.end_round_if_all_done(now, ev);
    }

    /// The participant may write or say done now, in `round` if given.
    fn check_writer(&self, pid: Pid, round: Option<u32>, now: Millis) -> Result<(), RoomError> {
        let p = self
            .participants
            .get(pid.0 as usize)
            .ok_or(RoomError::UnknownParticipant)?;
        match self.phase {
            Phase::Writing { deadline } if now < deadline => {}
            Phase::Writing { .. } => return Err(RoomError::NotWriting("the round has ended")),
            Phase::Paused { .. } => return Err(RoomError::NotWriting("the session is paused")),
            Phase::Lobby => return Err(RoomError::NotWriting("the session has not started")),
            Phase::Finished => return Err(RoomError::NotWriting("the session is finished")),
        }
        if p.left || p.leaving {
            return Err(RoomError::NotWriting("you have left this session"));
        }
        if p.seat.is_none() {
            return Err(RoomError::NotWriting(
                "you joined after the start; you will be seated when the next round begins",
            ));
        }
        if p.holding.is_none() && self.settings.method == Method::Pool {
            return Err(RoomError::NotWriting(
                "you hold no sheet yet; one will come as soon as someone puts one back",
            ));
        }
        if p.holding.is_none() {
            return Err(RoomError::NotWriting(
                "no sheet could come to you this round; the next one will",
            ));
        }
        if let Some(r) = round
            && r != self.round
        {
            return Err(RoomError::NotWriting(
                "that round is over; this is another round",
            ));
        }
        Ok(())
    }

    fn write(&mut self, w: WriteSlot, now: Millis, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        let WriteSlot {
            pid,
            slot,
            text: raw,
            round,
            builds_on,
            sheet,
        } = w;
        let raw = raw.as_str();
        self.check_writer(pid, round, now)?;
        self.check_sheet(pid, sheet.as_deref())?;
        let per = self.settings.ideas_per_round;
        if slot >= per {
            return Err(RoomError::InvalidSlot { slot, max: per - 1 });
        }
        let text = text::idea(raw).map_err(|len| RoomError::TooLong {
            what: "idea",
            len,
            max: text::MAX_IDEA_CHARS,
        })?;
        let holding = self.participants[pid.0 as usize].holding;
        if let Some(b) = &builds_on
            && self.idea_location(b).map(|l| l.0) != holding
        {
            return Err(RoomError::UnknownIdea(format!(
                "{b} is not an idea on the sheet you hold"
            )));
        }
        let was = self.drafted(pid);
        let p = &mut self.participants[pid.0 as usize];
        p.draft[slot as usize] = text;
        p.links[slot as usize] = builds_on;
        ev.push(Event::Saved {
            pid,
            round: self.round,
            slot,
        });
        self.after_write(pid, was, ev);
        Ok(())
    }

    /// After a change to `pid`'s draft that had `was` slots drafted: writing again means the
    /// row is not finished after all; the counts change when a slot filled or emptied.
    fn after_write(&mut self, pid: Pid, was: u32, ev: &mut Vec<Event>) {
        let now_drafted = self.drafted(pid);
        let p = &mut self.participants[pid.0 as usize];
        if p.done {
            p.done = false;
            ev.extend([Event::Me(pid), Event::State, Event::Roster, Event::Progress]);
        } else if was != now_drafted {
            ev.push(Event::Progress);
        }
    }

    /// Slots of `pid`'s draft that hold something (a C-Sketch layer with strokes counts for
    /// its slot even without a caption).
    fn drafted(&self, pid: Pid) -> u32 {
        let p = &self.participants[pid.0 as usize];
        let texts = p.draft.iter().filter(|t| !t.trim().is_empty()).count() as u32;
        let sketch_only =
            !p.sketch.is_empty() && p.draft.first().is_some_and(|t| t.trim().is_empty());
        texts + u32::from(sketch_only)
    }

    /// C-Sketch: a stroke on one's layer.
    fn draw(&mut self, d: DrawStroke, now: Millis, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        let DrawStroke {
            pid,
            points,
            round,
            sheet,
        } = d;
        self.check_sketcher(pid, round, sheet.as_deref(), now)?;
        let was = self.drafted(pid);
        self.participants[pid.0 as usize].sketch.push(points)?;
        ev.push(Event::Saved {
            pid,
            round: self.round,
            slot: 0,
        });
        self.after_write(pid, was, ev);
        Ok(())
    }

    /// `pid` may draw now: a C-Sketch room and a writer of this round and sheet.
    fn check_sketcher(
        &self,
        pid: Pid,
        round: Option<u32>,
        sheet: Option<&str>,
        now: Millis,
    ) -> Result<(), RoomError> {
        if self.settings.method != Method::CSketch {
            return Err(RoomError::WrongMethod(format!(
                "this room runs {}; strokes are for C-Sketch rooms",
                self.settings.method.as_str()
            )));
        }
        self.check_writer(pid, round, now)?;
        self.check_sheet(pid, sheet)
    }

    /// The sheet a client names is the one it holds.
    fn check_sheet(&self, pid: Pid, sheet: Option<&str>) -> Result<(), RoomError> {
        let held = self.participants[pid.0 as usize]
            .holding
            .map(|s| self.sheets[s].id.as_str());
        match sheet {
            Some(id) if Some(id) != held => Err(RoomError::NotWriting(
                "that sheet has gone on; you hold another one now",
            )),
            _ => Ok(()),
        }
    }

    /// How many strokes `pid`'s layer has now (for the ack).
    pub fn strokes(&self, pid: Pid) -> Option<u32> {
        (self.settings.method == Method::CSketch)
            .then(|| self.participants.get(pid.0 as usize))
            .flatten()
            .map(|p| p.sketch.len() as u32)
    }

    /// (sheet, row, position) of an idea id.
    fn idea_location(&self, id: &str) -> Option<(usize, usize, usize)> {
        let k: usize = id.strip_prefix('i')?.parse().ok()?;
        self.idea_index.get(k.checked_sub(1)?).copied()
    }

    fn idea(&self, id: &str) -> Option<&Idea> {
        let (s, r, i) = self.idea_location(id)?;
        Some(&self.sheets[s].rows[r].ideas[i])
    }

    fn start(&mut self, now: Millis, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        match self.phase {
            Phase::Lobby => {}
            Phase::Finished => return Err(RoomError::Finished),
            _ => return Err(RoomError::AlreadyStarted),
        }
        let mut order: Vec<Pid> = (0..self.participants.len() as u32)
            .map(Pid)
            .filter(|p| !self.participants[p.0 as usize].left)
            .collect();
        let n = order.len();
        if n < 2 {
            return Err(RoomError::NotEnoughParticipants(n));
        }
        // Seats are shuffled: join order says nothing about who writes where.
        order.shuffle(&mut self.rng);
        if self.settings.method == Method::Pool {
            self.start_pool(order, now, ev);
            return Ok(());
        }
        let sizes = rings::split(n, self.settings.group_size as usize);
        self.rounds = rings::planned_rounds(&sizes, self.settings.max_rounds);
        let mut it = order.into_iter();
        for (r, &size) in sizes.iter().enumerate() {
            self.rings.push(Ring {
                members: Vec::with_capacity(size),
                sheets: Vec::with_capacity(size),
            });
            for _ in 0..size {
                let Some(pid) = it.next() else { break };
                self.seat(pid, r);
                ev.push(Event::Me(pid));
            }
        }
        self.begin_round(1, now, ev);
        Ok(())
    }

    /// Give `pid` the next seat of ring `r` and a fresh sheet of its own.
    fn seat(&mut self, pid: Pid, r: usize) {
        let id = loop {
            let id = self.random_id('s', 8);
            if self.sheets.iter().all(|s| s.id != id) {
                break id;
            }
        };
        let sheet = self.sheets.len();
        self.sheets.push(Sheet {
            id,
            rows: Vec::new(),
            visits: 0,
        });
        let ring = &mut self.rings[r];
        let seat = ring.members.len();
        ring.members.push(pid);
        ring.sheets.push(sheet);
        let p = &mut self.participants[pid.0 as usize];
        p.seat = Some((r, seat));
        p.fresh = Some(sheet);
    }

    /// Seat the newcomers, let the leavers go, deal the sheets and start round `round`.
    fn begin_round(&mut self, round: u32, now: Millis, ev: &mut Vec<Event>) {
        self.round = round;
        // `me` is sent only to those whose own state changes at this boundary.
        let before: Vec<_> = self.pids().map(|p| self.me(p)).collect();
        for p in &mut self.participants {
            if p.leaving {
                p.leaving = false;
                p.left = true;
            }
        }
        // Newcomers join the ring with the fewest active members.
        let waiting: Vec<Pid> = (0..self.participants.len() as u32)
            .map(Pid)
            .filter(|p| {
                let p = &self.participants[p.0 as usize];
                p.seat.is_none() && !p.left
            })
            .collect();
        for pid in waiting {
            let r = (0..self.rings.len())
                .min_by_key(|&r| self.active_members(r))
                .unwrap_or(0);
            self.seat(pid, r);
            ev.push(Event::Me(pid));
        }
        for r in 0..self.rings.len() {
            let members = self.rings[r].members.clone();
            let seats: Vec<Seat> = members
                .iter()
                .map(|&pid| {
                    let p = &self.participants[pid.0 as usize];
                    Seat {
                        active: !p.left,
                        last: p.holding,
                        fresh: p.fresh,
                        held: p.held.clone(),
                    }
                })
                .collect();
            let sheets: Vec<(usize, u32)> = self.rings[r]
                .sheets
                .iter()
                .map(|&s| (s, self.sheets[s].visits))
                .collect();
            let dealt = rotation::deal(&seats, &sheets);
            for (pid, sheet) in members.into_iter().zip(dealt) {
                let p = &mut self.participants[pid.0 as usize];
                p.holding = sheet;
                p.fresh = None;
                if let Some(s) = sheet {
                    p.held.push(s);
                    self.sheets[s].visits += 1;
                }
            }
        }
        let per = self.settings.ideas_per_round as usize;
        for p in &mut self.participants {
            p.draft = vec![String::new(); if p.holding.is_some() { per } else { 0 }];
            p.links = vec![None; p.draft.len()];
            p.sketch = Layer::default();
            p.done = false;
        }
        self.phase = Phase::Writing {
            deadline: now + Millis::from(self.settings.round_seconds) * 1000,
        };
        for (i, was) in before.into_iter().enumerate() {
            let pid = Pid(i as u32);
            if self.me(pid) != was && !ev.contains(&Event::Me(pid)) {
                ev.push(Event::Me(pid));
            }
        }
        ev.extend([Event::State, Event::Dealt, Event::Progress, Event::Roster]);
    }

    fn active_members(&self, r: usize) -> usize {
        self.rings[r]
            .members
            .iter()
            .filter(|p| !self.participants[p.0 as usize].left)
            .count()
    }

    /// Turn every holder's draft into a row on the sheet it holds.
    fn commit_rows(&mut self) {
        for i in 0..self.participants.len() {
            if let Some(sheet) = self.participants[i].holding {
                self.commit_row(i, sheet);
            }
        }
    }

    /// Participant `i`'s draft (and C-Sketch layer) as a row on `sheet`, if it has anything.
    fn commit_row(&mut self, i: usize, sheet: usize) {
        let round = match self.settings.method {
            Method::Pool => self.next_row_number(sheet),
            _ => self.round,
        };
        let draft = std::mem::take(&mut self.participants[i].draft);
        let links = std::mem::take(&mut self.participants[i].links);
        let strokes = self.participants[i].sketch.take();
        let mut sketch = (!strokes.is_empty()).then_some(strokes);
        let row = self.sheets[sheet].rows.len();
        let mut ideas = Vec::new();
        for (t, link) in draft.into_iter().zip(links) {
            let t = t.trim();
            // A C-Sketch layer goes with its slot's caption, which may be empty.
            let drawn = sketch.take();
            if t.is_empty() && drawn.is_none() {
                continue;
            }
            self.next_idea += 1;
            self.idea_index.push((sheet, row, ideas.len()));
            ideas.push(Idea {
                id: format!("i{}", self.next_idea),
                text: t.to_owned(),
                builds_on: link,
                sketch: drawn,
                author: Pid(i as u32),
            });
        }
        if !ideas.is_empty() {
            self.sheets[sheet].rows.push(Row { round, ideas });
        }
    }

    fn end_round(&mut self, now: Millis, ev: &mut Vec<Event>) {
        self.commit_rows();
        if self.round >= self.rounds {
            self.finish(now, ev);
        } else {
            self.begin_round(self.round + 1, now, ev);
        }
    }

    fn end_round_if_all_done(&mut self, now: Millis, ev: &mut Vec<Event>) {
        let Phase::Writing { deadline } = self.phase else {
            return;
        };
        if now >= deadline {
            return;
        }
        if self.settings.method == Method::Pool {
            if self.pool_all_done() {
                self.end_round(now, ev);
            }
            return;
        }
        let mut connected = 0;
        for p in self.participants.iter().filter(|p| p.holding.is_some()) {
            if p.connections > 0 && !p.leaving {
                if !p.done {
                    return;
                }
                connected += 1;
            }
        }
        if connected > 0 {
            self.end_round(now, ev);
        }
    }

    fn finish(&mut self, now: Millis, ev: &mut Vec<Event>) {
        self.phase = Phase::Finished;
        self.finished_at = Some(now);
        self.decide.stage = Some(Stage::Sharing);
        self.pool.clear();
        self.waiting.clear();
        for p in &mut self.participants {
            p.done = false;
            p.draft.clear();
            p.links.clear();
            p.sketch = Layer::default();
            p.holding = None;
            if p.leaving {
                p.leaving = false;
                p.left = true;
            }
        }
        ev.extend([
            Event::State,
            Event::Revealed,
            Event::Roster,
            Event::Clusters,
        ]);
    }
}

/// Views: what the actor sends. Built from state on demand; never cached, so never stale.
impl Room {
    /// The public room state at `now`.
    pub fn view(&self, code: &str, now: Millis) -> RoomView {
        let (phase, deadline, remaining_ms) = match self.phase {
            Phase::Lobby => (PhaseName::Lobby, None, None),
            Phase::Writing { deadline } => (PhaseName::Writing, Some(deadline), None),
            Phase::Paused { remaining } => (PhaseName::Paused, None, Some(remaining)),
            Phase::Finished => (PhaseName::Finished, None, None),
        };
        let present = self.participants.iter().filter(|p| !p.left);
        let rounds = match self.phase {
            Phase::Lobby if self.settings.method == Method::Pool => 1,
            Phase::Lobby => rings::planned_rounds(
                &rings::split(present.clone().count(), self.settings.group_size as usize),
                self.settings.max_rounds,
            ),
            _ => self.rounds,
        };
        let seated = present.clone().filter(|p| p.seat.is_some());
        let writing = !matches!(self.phase, Phase::Lobby | Phase::Finished);
        RoomView {
            code: code.to_owned(),
            method: self.settings.method,
            topic: self.settings.topic.clone(),
            phase,
            round: self.round,
            rounds,
            ideas_per_round: self.settings.ideas_per_round,
            round_seconds: self.settings.round_seconds,
            deadline,
            remaining_ms,
            now,
            participants: present.clone().count() as u32,
            connected: present.clone().filter(|p| p.connections > 0).count() as u32,
            done: seated.clone().filter(|p| p.done).count() as u32,
            seated: seated.count() as u32,
            waiting: if writing {
                present.filter(|p| p.seat.is_none()).count() as u32
            } else {
                0
            },
            locked: self.locked,
            stage: self.decide.stage,
            presenting: self.decide.presenting.map(|s| self.sheets[s].id.clone()),
            votes_cast: self.decide.votes_cast(),
            preset: self.settings.preset.clone(),
            goal: self.settings.goal.clone(),
            outcomes: self.settings.outcomes.clone(),
            language: self.settings.language.clone(),
        }
    }

    /// [`Room::view`]'s key fields, without counting anyone (a view of 2,000 people walks
    /// them several times).
    pub fn view_key(&self) -> ViewKey {
        let (phase, deadline, remaining_ms) = match self.phase {
            Phase::Lobby => (PhaseName::Lobby, None, None),
            Phase::Writing { deadline } => (PhaseName::Writing, Some(deadline), None),
            Phase::Paused { remaining } => (PhaseName::Paused, None, Some(remaining)),
            Phase::Finished => (PhaseName::Finished, None, None),
        };
        ViewKey {
            phase,
            round: self.round,
            deadline,
            remaining_ms,
            locked: self.locked,
            stage: self.decide.stage,
            presenting: self.decide.presenting.map(|s| self.sheets[s].id.clone()),
        }
    }

    /// New joins are refused.
    pub fn locked(&self) -> bool {
        self.locked
    }

    /// The phase without its clock.
    pub fn phase_name(&self) -> PhaseName {
        match self.phase {
            Phase::Lobby => PhaseName::Lobby,
            Phase::Writing { .. } => PhaseName::Writing,
            Phase::Paused { .. } => PhaseName::Paused,
            Phase::Finished => PhaseName::Finished,
        }
    }

    /// A participant's own state.
    pub fn me(&self, pid: Pid) -> Option<MeView> {
        self.participants.get(pid.0 as usize).map(|p| MeView {
            seated: p.seat.is_some() && !p.left,
            done: p.done,
            left: p.left || p.leaving,
            waiting: self.is_waiting(pid),
        })
    }

    /// Was this participant removed by the facilitator?
    pub fn is_removed(&self, pid: Pid) -> bool {
        self.participants
            .get(pid.0 as usize)
            .is_some_and(|p| p.removed)
    }

    /// The sheet a participant holds this round, with its draft and links; `None` outside a
    /// round or when it holds none.
    pub fn held_sheet(&self, pid: Pid) -> Option<HeldSheet> {
        if !matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. }) {
            return None;
        }
        let p = self.participants.get(pid.0 as usize)?;
        let sheet = p.holding?;
        Some(HeldSheet {
            round: self.round,
            sheet: self.sheet_view(sheet),
            draft: p.draft.clone(),
            links: p.links.clone(),
            sketch: (self.settings.method == Method::CSketch).then(|| p.sketch.strokes().to_vec()),
        })
    }

    fn sheet_view(&self, sheet: usize) -> SheetView {
        let s = &self.sheets[sheet];
        SheetView {
            id: s.id.clone(),
            rows: s
                .rows
                .iter()
                .map(|r| RowView {
                    round: r.round,
                    ideas: r
                        .ideas
                        .iter()
                        .map(|i| IdeaView {
                            id: i.id.clone(),
                            text: i.text.clone(),
                            builds_on: i.builds_on.clone(),
                            sketch: i.sketch.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Every sheet with all its rows, once finished.
    pub fn reveal(&self) -> Option<Vec<SheetView>> {
        (self.phase == Phase::Finished)
            .then(|| (0..self.sheets.len()).map(|i| self.sheet_view(i)).collect())
    }

    /// The facilitator's list of participants, in join order.
    pub fn roster(&self) -> Vec<RosterEntry> {
        self.participants
            .iter()
            .filter(|p| !p.removed)
            .map(|p| RosterEntry {
                id: p.id.clone(),
                name: p.name.clone(),
                connected: p.connections > 0,
                seated: p.seat.is_some() && !p.left,
                done: p.done,
                left: p.left || p.leaving,
            })
            .collect()
    }

    /// Counts of how full each sheet is; never text.
    pub fn progress(&self) -> ProgressView {
        let mut drafted = vec![0u32; self.sheets.len()];
        if matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. }) {
            for (i, p) in self.participants.iter().enumerate() {
                if let Some(s) = p.holding {
                    drafted[s] = self.drafted(Pid(i as u32));
                }
            }
        }
        let pool = self.settings.method == Method::Pool;
        let capacity = if pool {
            // Everyone else may write a row on a sheet once.
            let seated = self
                .participants
                .iter()
                .filter(|p| p.seat.is_some())
                .count() as u32;
            seated.saturating_sub(1) * self.settings.ideas_per_round
        } else {
            self.rounds * self.settings.ideas_per_round
        };
        // Who counts toward "n of m done": those holding a sheet; in a pool, everyone seated
        // (someone waiting for a sheet is still in the session), as in the room's view.
        let holders = self.participants.iter().filter(|p| {
            if pool {
                p.seat.is_some() && !p.left
            } else {
                p.holding.is_some()
            }
        });
        ProgressView {
            round: self.round,
            done: holders.clone().filter(|p| p.done).count() as u32,
            seated: holders.count() as u32,
            sheets: self
                .sheets
                .iter()
                .zip(drafted)
                .map(|(s, drafted)| SheetProgress {
                    id: s.id.clone(),
                    ideas: s.rows.iter().map(|r| r.ideas.len() as u32).sum(),
                    drafted,
                    capacity,
                })
                .collect(),
            pool: pool.then(|| {
                let (pooled, held, waiting, swaps) = self.pool_counts();
                PoolView {
                    pooled,
                    held,
                    waiting,
                    swaps,
                }
            }),
        }
    }

    /// Seated participants in ring and seat order (those who left included).
    pub fn seated(&self) -> impl Iterator<Item = Pid> + '_ {
        self.rings.iter().flat_map(|r| r.members.iter().copied())
    }

    /// Every participant.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + use<> {
        (0..self.participants.len() as u32).map(Pid)
    }

    /// Total ideas on all sheets.
    pub fn idea_count(&self) -> usize {
        self.idea_index.len()
    }

    /// Ring sizes (seats, those who left included), in ring order.
    pub fn ring_sizes(&self) -> Vec<usize> {
        self.rings.iter().map(|r| r.members.len()).collect()
    }

    /// The planned number of rounds (0 before the start).
    pub fn rounds(&self) -> u32 {
        self.rounds
    }
}

#[cfg(test)]
mod method_tests;
#[cfg(test)]
mod tests;
