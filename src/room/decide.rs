//! After the rounds: presenting sheets, dot voting (no votes for one's own ideas, tallies
//! hidden until the close), clusters and merged duplicates. Pure rules on the engine's state;
//! authors are consulted here and never leave it.

use std::collections::BTreeMap;

use super::view::{BallotEntry, BallotView, ClusterView, ClustersView, MergeView, ResultView};
use super::{Command, Event, Phase, Pid, Room, RoomError, text};

/// What the room is doing after the rounds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Stage {
    /// Sheets are revealed and presented.
    Sharing,
    /// Dot voting is open.
    Voting,
    /// Voting closed; results are out.
    Results,
}

/// Longest cluster name, in characters.
const MAX_CLUSTER_NAME: usize = 80;
/// Most clusters in a room.
const MAX_CLUSTERS: usize = 100;

#[derive(Debug, Clone)]
struct Cluster {
    id: String,
    name: String,
    ideas: Vec<String>,
}

/// The state after the rounds.
#[derive(Debug, Clone, Default)]
pub(super) struct Decide {
    pub(super) stage: Option<Stage>,
    /// Sheet index presented to everyone; `None` for all.
    pub(super) presenting: Option<usize>,
    votes: u32,
    per_idea: u32,
    /// Each voter's votes, by idea id.
    pub(super) ballots: BTreeMap<Pid, BTreeMap<String, u32>>,
    clusters: Vec<Cluster>,
    next_cluster: u32,
    /// Duplicate idea → the idea it was merged into (never itself merged).
    merged: BTreeMap<String, String>,
}

impl Decide {
    /// Votes placed so far, while voting.
    pub(super) fn votes_cast(&self) -> Option<u32> {
        (self.stage == Some(Stage::Voting))
            .then(|| self.ballots.values().flat_map(|b| b.values()).sum())
    }
}

impl Room {
    pub(super) fn decide(&mut self, cmd: Command, ev: &mut Vec<Event>) -> Result<(), RoomError> {
        if self.phase != Phase::Finished {
            return Err(RoomError::WrongPhase(
                "sharing, voting and clustering come after the rounds",
            ));
        }
        match cmd {
            Command::Present(sheet) => {
                self.decide.presenting = match sheet {
                    None => None,
                    Some(id) => Some(
                        self.sheets
                            .iter()
                            .position(|s| s.id == id)
                            .ok_or_else(|| RoomError::UnknownIdea(format!("no sheet {id}")))?,
                    ),
                };
                ev.push(Event::State);
            }
            Command::OpenVoting { votes, per_idea } => {
                if !(1..=20).contains(&votes) {
                    return Err(RoomError::InvalidValue(format!(
                        "votes per person must be 1 to 20, not {votes}"
                    )));
                }
                if !(1..=votes).contains(&per_idea) {
                    return Err(RoomError::InvalidValue(format!(
                        "votes per idea must be 1 to {votes}, not {per_idea}"
                    )));
                }
                if self.decide.stage == Some(Stage::Voting) {
                    return Err(RoomError::WrongPhase("voting is already open"));
                }
                let d = &mut self.decide;
                d.stage = Some(Stage::Voting);
                d.votes = votes;
                d.per_idea = per_idea;
                d.ballots.clear();
                ev.extend([Event::State, Event::Ballots]);
            }
            Command::CloseVoting => {
                if self.decide.stage != Some(Stage::Voting) {
                    return Err(RoomError::NotVoting);
                }
                self.decide.stage = Some(Stage::Results);
                ev.extend([Event::State, Event::Results]);
            }
            Command::Vote { pid, idea } => {
                self.voter(pid)?;
                let target = self.votable(&idea)?;
                if self.authored_in(pid, &target) {
                    return Err(RoomError::OwnIdea);
                }
                let d = &mut self.decide;
                let ballot = d.ballots.entry(pid).or_default();
                let used: u32 = ballot.values().sum();
                if used >= d.votes {
                    return Err(RoomError::NoVotesLeft(d.votes));
                }
                let on = ballot.entry(target).or_insert(0);
                if *on >= d.per_idea {
                    return Err(RoomError::IdeaCap(d.per_idea));
                }
                *on += 1;
                ev.extend([Event::Ballot(pid), Event::State]);
            }
            Command::Unvote { pid, idea } => {
                self.voter(pid)?;
                if self.decide.stage != Some(Stage::Voting) {
                    return Err(RoomError::NotVoting);
                }
                let target = self.canonical(&idea);
                // Look up, never create: a refused unvote leaves no empty ballot behind.
                let no_vote = || RoomError::UnknownIdea(format!("you have no vote on {idea}"));
                let ballot = self.decide.ballots.get_mut(&pid).ok_or_else(no_vote)?;
                match ballot.get_mut(&target) {
                    Some(n) if *n > 1 => *n -= 1,
                    Some(_) => {
                        ballot.remove(&target);
                    }
                    None => return Err(no_vote()),
                }
                ev.extend([Event::Ballot(pid), Event::State]);
            }
            Command::Cluster { id, name } => {
                let name = text::clean(&name, false).trim().to_owned();
                let len = name.chars().count();
                if len == 0 || len > MAX_CLUSTER_NAME {
                    return Err(RoomError::InvalidValue(format!(
                        "a cluster name has 1 to {MAX_CLUSTER_NAME} characters, not {len}"
                    )));
                }
                match id {
                    Some(id) => self.cluster_mut(&id)?.name = name,
                    None => {
                        if self.decide.clusters.len() >= MAX_CLUSTERS {
                            return Err(RoomError::InvalidValue(format!(
                                "at most {MAX_CLUSTERS} clusters"
                            )));
                        }
                        let d = &mut self.decide;
                        d.next_cluster += 1;
                        d.clusters.push(Cluster {
                            id: format!("c{}", d.next_cluster),
                            name,
                            ideas: Vec::new(),
                        });
                    }
                }
                ev.push(Event::Clusters);
            }
            Command::DeleteCluster(id) => {
                let i = self
                    .decide
                    .clusters
                    .iter()
                    .position(|c| c.id == id)
                    .ok_or(RoomError::UnknownCluster(id))?;
                self.decide.clusters.remove(i);
                ev.push(Event::Clusters);
            }
            Command::Assign { idea, cluster } => {
                if self.idea(&idea).is_none() {
                    return Err(RoomError::UnknownIdea(format!("no idea {idea}")));
                }
                if let Some(c) = &cluster {
                    self.cluster_mut(c)?;
                }
                for c in &mut self.decide.clusters {
                    c.ideas.retain(|i| *i != idea);
                }
                if let Some(c) = cluster {
                    self.cluster_mut(&c)?.ideas.push(idea);
                }
                ev.push(Event::Clusters);
            }
            Command::Merge { idea, into } => {
                if self.idea(&idea).is_none() {
                    return Err(RoomError::UnknownIdea(format!("no idea {idea}")));
                }
                match into {
                    None => {
                        self.decide.merged.remove(&idea);
                    }
                    Some(into) => {
                        if self.idea(&into).is_none() {
                            return Err(RoomError::UnknownIdea(format!("no idea {into}")));
                        }
                        let root = self.canonical(&into);
                        if root == idea {
                            return Err(RoomError::InvalidValue(
                                "an idea cannot be merged into itself".into(),
                            ));
                        }
                        if self.decide.stage == Some(Stage::Voting) {
                            return Err(RoomError::WrongPhase(
                                "merge before or after voting, not during it",
                            ));
                        }
                        // Keep the map flat: whatever was merged into `idea` now points at
                        // the new root too.
                        for v in self.decide.merged.values_mut() {
                            if *v == idea {
                                *v = root.clone();
                            }
                        }
                        self.decide.merged.insert(idea, root);
                    }
                }
                ev.push(Event::Clusters);
            }
            _ => {}
        }
        Ok(())
    }

    /// A participant who may vote: known and not removed (those who left may still vote).
    fn voter(&self, pid: Pid) -> Result<(), RoomError> {
        match self.participants.get(pid.0 as usize) {
            Some(p) if !p.removed => Ok(()),
            _ => Err(RoomError::UnknownParticipant),
        }
    }

    fn cluster_mut(&mut self, id: &str) -> Result<&mut Cluster, RoomError> {
        self.decide
            .clusters
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| RoomError::UnknownCluster(id.to_owned()))
    }

    /// The idea a vote for `id` counts for (itself unless merged).
    fn canonical(&self, id: &str) -> String {
        self.decide
            .merged
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    /// The canonical idea a vote for `id` goes to, if voting is open and the idea exists.
    fn votable(&self, id: &str) -> Result<String, RoomError> {
        if self.decide.stage != Some(Stage::Voting) {
            return Err(RoomError::NotVoting);
        }
        if self.idea(id).is_none() {
            return Err(RoomError::UnknownIdea(format!("no idea {id}")));
        }
        Ok(self.canonical(id))
    }

    /// Did `pid` write `root` or any idea merged into it?
    fn authored_in(&self, pid: Pid, root: &str) -> bool {
        let mine = |id: &str| self.idea(id).is_some_and(|i| i.author == pid);
        mine(root)
            || self
                .decide
                .merged
                .iter()
                .any(|(dup, into)| into == root && mine(dup))
    }

    /// A participant's ballot while voting is open.
    pub fn ballot(&self, pid: Pid) -> Option<BallotView> {
        if self.decide.stage != Some(Stage::Voting) {
            return None;
        }
        let mine = self.decide.ballots.get(&pid);
        let used: u32 = mine.map(|b| b.values().sum()).unwrap_or(0);
        Some(BallotView {
            votes_left: self.decide.votes.saturating_sub(used),
            per_idea: self.decide.per_idea,
            mine: mine
                .map(|b| {
                    b.iter()
                        .map(|(idea, &votes)| BallotEntry {
                            idea: idea.clone(),
                            votes,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Clusters and merges, once the rounds are over.
    pub fn clusters(&self) -> Option<ClustersView> {
        (self.phase == Phase::Finished).then(|| ClustersView {
            clusters: self
                .decide
                .clusters
                .iter()
                .map(|c| ClusterView {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    ideas: c.ideas.clone(),
                })
                .collect(),
            merged: self
                .decide
                .merged
                .iter()
                .map(|(idea, into)| MergeView {
                    idea: idea.clone(),
                    into: into.clone(),
                })
                .collect(),
        })
    }

    /// The ranking, once voting has closed: every idea that is not a duplicate, by votes
    /// (its duplicates' included), ties sharing a rank, then in idea order.
    pub fn results(&self) -> Option<Vec<ResultView>> {
        if self.decide.stage != Some(Stage::Results) {
            return None;
        }
        let mut tally: BTreeMap<String, u32> = BTreeMap::new();
        for b in self.decide.ballots.values() {
            for (idea, n) in b {
                *tally.entry(self.canonical(idea)).or_default() += n;
            }
        }
        let mut ideas: Vec<(usize, ResultView)> = self
            .idea_index
            .iter()
            .enumerate()
            .filter_map(|(k, &(s, r, i))| {
                let idea = &self.sheets[s].rows[r].ideas[i];
                (!self.decide.merged.contains_key(&idea.id)).then(|| {
                    (
                        k,
                        ResultView {
                            id: idea.id.clone(),
                            text: idea.text.clone(),
                            votes: tally.get(&idea.id).copied().unwrap_or(0),
                            rank: 0,
                            sketch: idea.sketch.clone(),
                        },
                    )
                })
            })
            .collect();
        ideas.sort_by_key(|(k, r)| (std::cmp::Reverse(r.votes), *k));
        let mut out: Vec<ResultView> = ideas.into_iter().map(|(_, r)| r).collect();
        for i in 0..out.len() {
            out[i].rank = if i > 0 && out[i].votes == out[i - 1].votes {
                out[i - 1].rank
            } else {
                i as u32 + 1
            };
        }
        Some(out)
    }

    /// The votes each idea got, once voting has closed (for exports).
    pub fn tallies(&self) -> Option<BTreeMap<String, (u32, u32)>> {
        self.results()
            .map(|r| r.into_iter().map(|v| (v.id, (v.votes, v.rank))).collect())
    }
}
