//! The registry of live rooms: a `DashMap` from room code to the room actor's handle, room
//! creation (code and facilitator token), and the task tracker every socket and room task
//! is spawned on, so shutdown can wait for them.
//!
//! A map guard is never held across an `.await`: lookups clone the handle out first.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Config;
use crate::ids::{self, RoomCode};
use crate::room::{Room, Settings};
use crate::room_task::{Clock, RoomInfo, RoomMsg, RoomTask};

/// Commands a room's queue holds before senders wait.
const ROOM_QUEUE: usize = 1024;

/// A handle to a room actor.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    /// The actor's inbox.
    pub tx: mpsc::Sender<RoomMsg>,
}

impl RoomHandle {
    /// Ask the actor for its summary; `None` if it has stopped.
    pub async fn info(&self) -> Option<RoomInfo> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(RoomMsg::Info { reply }).await.ok()?;
        rx.await.ok()
    }
}

/// Why a room could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The server holds as many rooms as it is allowed.
    #[error("the server holds its maximum of {0} rooms; try again later")]
    Full(u32),
}

/// Shared server state.
pub struct Hub {
    rooms: DashMap<RoomCode, RoomHandle>,
    /// Configuration.
    pub config: Config,
    /// The server clock.
    pub clock: Clock,
    /// Fires when the server shuts down.
    pub shutdown: CancellationToken,
    /// Every room and socket task, so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl Hub {
    /// A hub with no rooms.
    pub fn new(config: Config, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Hub {
            rooms: DashMap::new(),
            config,
            clock: Clock::new(),
            shutdown,
            tracker: TaskTracker::new(),
        })
    }

    /// The room with this code.
    pub fn get(&self, code: &RoomCode) -> Option<RoomHandle> {
        self.rooms.get(code).map(|r| r.value().clone())
    }

    /// Rooms held.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Create a room and start its actor. Returns its code and the facilitator token.
    pub fn create(&self, mut settings: Settings) -> Result<(RoomCode, String), CreateError> {
        if self.rooms.len() >= self.config.max_rooms as usize {
            return Err(CreateError::Full(self.config.max_rooms));
        }
        settings.max_participants = self.config.max_participants;
        let token = ids::new_token();
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        // 40 bits: collisions are rare but possible; draw again until the code is free.
        let code = loop {
            let code = RoomCode::random();
            if let Entry::Vacant(v) = self.rooms.entry(code) {
                v.insert(RoomHandle { tx: tx.clone() });
                break code;
            }
        };
        let seed: u64 = rand::random();
        let task = RoomTask::new(
            code,
            Room::new(settings, seed),
            ids::hash_token(&token),
            self.clock,
        );
        let span = tracing::info_span!("room", code = %code);
        self.tracker
            .spawn(task.run(rx, self.shutdown.clone()).instrument(span));
        Ok((code, token))
    }
}
