//! The brainwriting pool's rules: who gets which sheet when one is put back.
//!
//! A pool session is one long round on one clock. Everyone starts with a fresh sheet of their
//! own; `swap` turns the draft into a row on the held sheet, puts the sheet into the pool and
//! hands out another. A sheet is never handed to the one who started it, never to one who held
//! it before, and never to two people; the emptiest eligible sheet goes first, then the one
//! longest in the pool. Whoever finds nothing eligible waits, and those waiting are served
//! first, in the order they began to wait, whenever a sheet enters the pool. Leaving puts the
//! sheet back at once. Pure: part of [`Room`], no I/O.

use super::{Event, Method, Millis, Phase, Pid, Room, RoomError};

impl Room {
    /// Pool: seat everyone in the lobby, each with a fresh sheet of their own, one clock.
    pub(super) fn start_pool(&mut self, order: Vec<Pid>, now: Millis, ev: &mut Vec<Event>) {
        self.rounds = 1;
        self.rings.push(super::Ring {
            members: Vec::with_capacity(order.len()),
            sheets: Vec::with_capacity(order.len()),
        });
        for pid in order {
            self.seat_in_pool(pid);
            ev.push(Event::Me(pid));
        }
        self.round = 1;
        self.phase = Phase::Writing {
            deadline: now + Millis::from(self.settings.round_seconds) * 1000,
        };
        ev.extend([Event::State, Event::Dealt, Event::Progress, Event::Roster]);
    }

    /// Pool: a seat and a fresh sheet of its own, held at once.
    pub(super) fn seat_in_pool(&mut self, pid: Pid) {
        self.seat(pid, 0);
        let p = &mut self.participants[pid.0 as usize];
        let sheet = p.fresh.take();
        self.hand(pid, sheet);
    }

    /// Give `pid` `sheet` (or nothing) with an empty draft.
    fn hand(&mut self, pid: Pid, sheet: Option<usize>) {
        let per = self.settings.ideas_per_round as usize;
        let p = &mut self.participants[pid.0 as usize];
        p.holding = sheet;
        p.done = false;
        p.draft = vec![String::new(); if sheet.is_some() { per } else { 0 }];
        p.links = vec![None; p.draft.len()];
        p.sketch = Default::default();
        if let Some(s) = sheet {
            p.held.push(s);
            self.sheets[s].visits += 1;
        }
    }

    /// `pid` may act in the running pool session (hold a sheet or wait for one).
    pub(super) fn check_pool_member(&self, pid: Pid, now: Millis) -> Result<(), RoomError> {
        let p = self
            .participants
            .get(pid.0 as usize)
            .ok_or(RoomError::UnknownParticipant)?;
        match self.phase {
            Phase::Writing { deadline } if now < deadline => {}
            Phase::Writing { .. } => return Err(RoomError::NotWriting("the session has ended")),
            Phase::Paused { .. } => return Err(RoomError::NotWriting("the session is paused")),
            Phase::Lobby => return Err(RoomError::NotWriting("the session has not started")),
            Phase::Finished => return Err(RoomError::NotWriting("the session is finished")),
        }
        if p.left || p.leaving {
            return Err(RoomError::NotWriting("you have left this session"));
        }
        Ok(())
    }

    /// `swap`: the draft becomes a row, the sheet goes into the pool, another comes back.
    pub(super) fn swap(
        &mut self,
        pid: Pid,
        sheet: Option<&str>,
        now: Millis,
        ev: &mut Vec<Event>,
    ) -> Result<(), RoomError> {
        if self.settings.method != Method::Pool {
            return Err(RoomError::WrongMethod(format!(
                "this room runs {}; swap is for brainwriting pool rooms",
                self.settings.method.as_str()
            )));
        }
        self.check_pool_member(pid, now)?;
        if self.participants[pid.0 as usize].holding.is_none() {
            return Err(RoomError::NotWriting(
                "you hold no sheet yet; one will come as soon as someone puts one back",
            ));
        }
        self.check_sheet(pid, sheet)?;
        self.put_back(pid);
        self.swaps += 1;
        self.waiting.push(pid);
        self.serve(ev);
        ev.extend([Event::Me(pid), Event::State, Event::Progress, Event::Roster]);
        Ok(())
    }

    /// Pool: `pid` leaves (or is removed) while the session runs: the draft becomes a row and
    /// the sheet goes back into the pool at once.
    pub(super) fn leave_pool(&mut self, pid: Pid, ev: &mut Vec<Event>) {
        if self.participants[pid.0 as usize].holding.is_some() {
            self.put_back(pid);
        }
        self.waiting.retain(|&w| w != pid);
        self.serve(ev);
    }

    /// The held sheet, with the draft as a row, into the pool.
    fn put_back(&mut self, pid: Pid) {
        let i = pid.0 as usize;
        let Some(sheet) = self.participants[i].holding.take() else {
            return;
        };
        self.commit_row(i, sheet);
        let p = &mut self.participants[i];
        p.draft.clear();
        p.links.clear();
        p.sketch = Default::default();
        p.done = false;
        self.pool.push(sheet);
    }

    /// Hand sheets to those waiting, in order, while one of them may take one.
    fn serve(&mut self, ev: &mut Vec<Event>) {
        let mut still = Vec::new();
        for pid in std::mem::take(&mut self.waiting) {
            match self.pick(pid) {
                Some(at) => {
                    let sheet = self.pool.remove(at);
                    self.hand(pid, Some(sheet));
                    ev.extend([Event::Handed(pid), Event::Me(pid)]);
                }
                None => still.push(pid),
            }
        }
        self.waiting = still;
    }

    /// Where in the pool the sheet for `pid` is: not one it held (its own included), the
    /// fewest ideas first, then the longest in the pool.
    fn pick(&self, pid: Pid) -> Option<usize> {
        let held = &self.participants[pid.0 as usize].held;
        self.pool
            .iter()
            .enumerate()
            .filter(|(_, s)| !held.contains(s))
            .min_by_key(|&(at, &s)| (self.ideas_on(s), at))
            .map(|(at, _)| at)
    }

    fn ideas_on(&self, sheet: usize) -> usize {
        self.sheets[sheet].rows.iter().map(|r| r.ideas.len()).sum()
    }

    /// The session ends early when every connected participant still in it is done.
    pub(super) fn pool_all_done(&self) -> bool {
        let mut connected = 0;
        for p in self.participants.iter() {
            if p.seat.is_some() && !p.left && !p.leaving && p.connections > 0 {
                if !p.done {
                    return false;
                }
                connected += 1;
            }
        }
        connected > 0
    }

    /// Counts of the pool for the facilitator: (pooled, held, waiting, swaps).
    pub(super) fn pool_counts(&self) -> (u32, u32, u32, u32) {
        let held = self
            .participants
            .iter()
            .filter(|p| p.holding.is_some())
            .count();
        (
            self.pool.len() as u32,
            held as u32,
            self.waiting.len() as u32,
            self.swaps,
        )
    }

    /// Pool: is `pid` waiting for a sheet?
    pub(super) fn is_waiting(&self, pid: Pid) -> bool {
        self.waiting.contains(&pid)
    }

    /// The sheet's next row number (a pool row's `round` is its position on the sheet).
    pub(super) fn next_row_number(&self, sheet: usize) -> u32 {
        self.sheets[sheet].rows.len() as u32 + 1
    }

    /// Check invariants (tests): every sheet is in exactly one place.
    #[cfg(test)]
    pub(crate) fn pool_invariants(&self) -> Result<(), String> {
        let mut seen = vec![0u32; self.sheets.len()];
        for &s in &self.pool {
            seen[s] += 1;
        }
        for p in &self.participants {
            if let Some(s) = p.holding {
                seen[s] += 1;
            }
        }
        if let Some(s) = seen.iter().position(|&n| n > 1) {
            return Err(format!("sheet {s} is in {} places", seen[s]));
        }
        if self.phase != Phase::Finished && self.phase != Phase::Lobby {
            if let Some(s) = seen.iter().position(|&n| n != 1) {
                return Err(format!("sheet {s} is neither held nor in the pool"));
            }
        }
        Ok(())
    }
}
