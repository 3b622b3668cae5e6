//! The server's clock: epoch milliseconds that never run backwards, and the conversion of a
//! deadline to a timer instant for the actor's one timer. Nothing else.

use std::time::Duration;

use tokio::time::Instant;

use crate::room::Millis;

/// The server's clock: epoch milliseconds that never run backwards, and the conversion of a
/// deadline to a timer instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_ms: Millis,
}

impl Clock {
    /// A clock anchored at the current wall time.
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_ms,
        }
    }

    /// Now, in server epoch milliseconds.
    pub fn now(&self) -> Millis {
        self.base_ms + self.base.elapsed().as_millis() as Millis
    }

    /// The timer instant of an epoch-millisecond deadline.
    pub fn instant_of(&self, at: Millis) -> Instant {
        self.base + Duration::from_millis(at.saturating_sub(self.base_ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
