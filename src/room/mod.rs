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

pub mod rings;
pub mod text;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
// ChaCha8 is specified to give the same stream on every platform and version, so a journal
// replays to the same room after an upgrade (StdRng makes no such promise).
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::protocol::{
    IdeaView, PhaseName, ProgressView, RoomView, RosterEntry, RowView, SheetProgress, SheetView,
};

/// Server epoch milliseconds.
pub type Millis = u64;

/// Index of a participant in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

/// Room settings fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
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
}

impl Settings {
    /// Defaults of classic 6-3-5 for a topic.
    pub fn classic(topic: &str) -> Self {
        Settings {
            topic: topic.to_owned(),
            ideas_per_round: 3,
            round_seconds: 300,
            group_size: 6,
            max_rounds: None,
            max_participants: 200,
        }
    }
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
    /// Set a slot of the participant's draft row.
    Write {
        /// Who writes.
        pid: Pid,
        /// 0-based slot.
        slot: u32,
        /// Raw text as sent.
        text: String,
        /// The round the client believes it is in.
        round: Option<u32>,
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
}

/// One idea on a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Idea {
    id: String,
    text: String,
}

/// One row: what one participant wrote on a sheet in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    round: u32,
    ideas: Vec<Idea>,
}

/// A sheet, owned by the seat that starts it.
#[derive(Debug, Clone)]
struct Sheet {
    id: String,
    rows: Vec<Row>,
}

/// A ring: members by seat; the sheet of seat `i` is `sheets[i]`.
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
}

/// Crockford-style alphabet for opaque ids.
const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl Room {
    /// A new room in the lobby. `seed` fixes every random choice (seat shuffle, ids).
    pub fn new(settings: Settings, seed: u64) -> Self {
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
        }
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

    /// The participant whose resume token hashes to `hash`.
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
    /// is timed from the old deadline, not from the moment the tick ran, so a late tick does
    /// not shorten anyone's round.
    pub fn tick(&mut self, now: Millis) -> Vec<Event> {
        let mut ev = Vec::new();
        while let Phase::Writing { deadline } = self.phase
            && now >= deadline
        {
            self.end_round(deadline, &mut ev);
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
            Command::Write {
                pid,
                slot,
                text,
                round,
            } => self.write(pid, slot, &text, round, now, ev),
            Command::Done { pid, round } => {
                self.check_writer(pid, round, now)?;
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
        });
        ev.extend([Event::Joined(pid), Event::State, Event::Roster]);
        Ok(())
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
        if p.seat.is_none() {
            return Err(RoomError::NotWriting(
                "you joined after the start; you will see every idea at the end",
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

    fn write(
        &mut self,
        pid: Pid,
        slot: u32,
        raw: &str,
        round: Option<u32>,
        now: Millis,
        ev: &mut Vec<Event>,
    ) -> Result<(), RoomError> {
        self.check_writer(pid, round, now)?;
        let per = self.settings.ideas_per_round;
        if slot >= per {
            return Err(RoomError::InvalidSlot { slot, max: per - 1 });
        }
        let text = text::idea(raw).map_err(|len| RoomError::TooLong {
            what: "idea",
            len,
            max: text::MAX_IDEA_CHARS,
        })?;
        let p = &mut self.participants[pid.0 as usize];
        let cell = &mut p.draft[slot as usize];
        let was_filled = !cell.trim().is_empty();
        let now_filled = !text.trim().is_empty();
        *cell = text;
        ev.push(Event::Saved {
            pid,
            round: self.round,
            slot,
        });
        if p.done {
            // Writing again means the row is not finished after all.
            p.done = false;
            ev.extend([Event::Me(pid), Event::State, Event::Roster, Event::Progress]);
        } else if was_filled != now_filled {
            ev.push(Event::Progress);
        }
        Ok(())
    }

    fn start(&mut self, now: Millis, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        match self.phase {
            Phase::Lobby => {}
            Phase::Finished => return Err(RoomError::Finished),
            _ => return Err(RoomError::AlreadyStarted),
        }
        let n = self.participants.len();
        if n < 2 {
            return Err(RoomError::NotEnoughParticipants(n));
        }
        let mut order: Vec<Pid> = (0..n as u32).map(Pid).collect();
        // Seats are shuffled: join order says nothing about who writes where.
        order.shuffle(&mut self.rng);
        let sizes = rings::split(n, self.settings.group_size as usize);
        self.rounds = rings::planned_rounds(&sizes, self.settings.max_rounds);
        let mut it = order.into_iter();
        for (r, &size) in sizes.iter().enumerate() {
            let mut ring = Ring {
                members: Vec::with_capacity(size),
                sheets: Vec::with_capacity(size),
            };
            for seat in 0..size {
                let Some(pid) = it.next() else { break };
                let id = self.random_id('s', 8);
                ring.members.push(pid);
                ring.sheets.push(self.sheets.len());
                self.sheets.push(Sheet {
                    id,
                    rows: Vec::new(),
                });
                self.participants[pid.0 as usize].seat = Some((r, seat));
                ev.push(Event::Me(pid));
            }
            self.rings.push(ring);
        }
        self.begin_round(1, now, ev);
        ev.push(Event::Roster);
        Ok(())
    }

    fn begin_round(&mut self, round: u32, now: Millis, ev: &mut Vec<Event>) {
        self.round = round;
        let per = self.settings.ideas_per_round as usize;
        for p in &mut self.participants {
            if p.seat.is_some() {
                p.draft = vec![String::new(); per];
                p.done = false;
            }
        }
        self.phase = Phase::Writing {
            deadline: now + Millis::from(self.settings.round_seconds) * 1000,
        };
        ev.extend([Event::State, Event::Dealt, Event::Progress, Event::Roster]);
    }

    /// Turn every seated participant's draft into a row on the sheet it holds.
    fn commit_rows(&mut self) {
        let round = self.round;
        for ring in &self.rings {
            let size = ring.members.len();
            for (seat, &pid) in ring.members.iter().enumerate() {
                let sheet = ring.sheets[rings::held_sheet_seat(seat, round, size)];
                let draft = std::mem::take(&mut self.participants[pid.0 as usize].draft);
                let ideas: Vec<Idea> = draft
                    .into_iter()
                    .filter_map(|t| {
                        let t = t.trim();
                        (!t.is_empty()).then(|| t.to_owned())
                    })
                    .map(|text| {
                        self.next_idea += 1;
                        Idea {
                            id: format!("i{}", self.next_idea),
                            text,
                        }
                    })
                    .collect();
                if !ideas.is_empty() {
                    self.sheets[sheet].rows.push(Row { round, ideas });
                }
            }
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
        let mut connected = 0;
        for p in self.participants.iter().filter(|p| p.seat.is_some()) {
            if p.connections > 0 {
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
        for p in &mut self.participants {
            p.done = false;
            p.draft.clear();
        }
        ev.extend([Event::State, Event::Revealed, Event::Roster]);
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
        let rounds = match self.phase {
            Phase::Lobby => rings::planned_rounds(
                &rings::split(self.participants.len(), self.settings.group_size as usize),
                self.settings.max_rounds,
            ),
            _ => self.rounds,
        };
        let seated = self.participants.iter().filter(|p| p.seat.is_some());
        RoomView {
            code: code.to_owned(),
            topic: self.settings.topic.clone(),
            phase,
            round: self.round,
            rounds,
            ideas_per_round: self.settings.ideas_per_round,
            round_seconds: self.settings.round_seconds,
            deadline,
            remaining_ms,
            now,
            participants: self.participants.len() as u32,
            connected: self
                .participants
                .iter()
                .filter(|p| p.connections > 0)
                .count() as u32,
            done: seated.clone().filter(|p| p.done).count() as u32,
            seated: seated.count() as u32,
        }
    }

    /// The phase as named on the wire.
    pub fn phase_name(&self) -> PhaseName {
        match self.phase {
            Phase::Lobby => PhaseName::Lobby,
            Phase::Writing { .. } => PhaseName::Writing,
            Phase::Paused { .. } => PhaseName::Paused,
            Phase::Finished => PhaseName::Finished,
        }
    }

    /// A participant's own state: (seated, done).
    pub fn me(&self, pid: Pid) -> Option<(bool, bool)> {
        self.participants
            .get(pid.0 as usize)
            .map(|p| (p.seat.is_some(), p.done))
    }

    /// The sheet a seated participant holds this round, with its draft; `None` outside a
    /// round or when not seated.
    pub fn held_sheet(&self, pid: Pid) -> Option<(SheetView, Vec<String>)> {
        if !matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. }) {
            return None;
        }
        let p = self.participants.get(pid.0 as usize)?;
        let (ring, seat) = p.seat?;
        let ring = &self.rings[ring];
        let sheet = ring.sheets[rings::held_sheet_seat(seat, self.round, ring.members.len())];
        Some((self.sheet_view(sheet), p.draft.clone()))
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
            .map(|p| RosterEntry {
                id: p.id.clone(),
                name: p.name.clone(),
                connected: p.connections > 0,
                seated: p.seat.is_some(),
                done: p.done,
            })
            .collect()
    }

    /// Counts of how full each sheet is; never text.
    pub fn progress(&self) -> ProgressView {
        let mut drafted = vec![0u32; self.sheets.len()];
        if matches!(self.phase, Phase::Writing { .. } | Phase::Paused { .. }) {
            for ring in &self.rings {
                let size = ring.members.len();
                for (seat, &pid) in ring.members.iter().enumerate() {
                    let sheet = ring.sheets[rings::held_sheet_seat(seat, self.round, size)];
                    drafted[sheet] = self.participants[pid.0 as usize]
                        .draft
                        .iter()
                        .filter(|t| !t.trim().is_empty())
                        .count() as u32;
                }
            }
        }
        let seated = self.participants.iter().filter(|p| p.seat.is_some());
        ProgressView {
            round: self.round,
            done: seated.clone().filter(|p| p.done).count() as u32,
            seated: seated.count() as u32,
            sheets: self
                .sheets
                .iter()
                .zip(drafted)
                .map(|(s, drafted)| SheetProgress {
                    id: s.id.clone(),
                    ideas: s.rows.iter().map(|r| r.ideas.len() as u32).sum(),
                    drafted,
                    capacity: self.rounds * self.settings.ideas_per_round,
                })
                .collect(),
        }
    }

    /// Seated participants in ring order (used by tests and the journal's checks).
    pub fn seated(&self) -> impl Iterator<Item = Pid> + '_ {
        self.rings.iter().flat_map(|r| r.members.iter().copied())
    }

    /// Total ideas on all sheets.
    pub fn idea_count(&self) -> usize {
        self.sheets
            .iter()
            .map(|s| s.rows.iter().map(|r| r.ideas.len()).sum::<usize>())
            .sum()
    }

    /// Ring sizes, in ring order.
    pub fn ring_sizes(&self) -> Vec<usize> {
        self.rings.iter().map(|r| r.members.len()).collect()
    }

    /// The planned number of rounds (0 before the start).
    pub fn rounds(&self) -> u32 {
        self.rounds
    }
}

#[cfg(test)]
mod tests;
