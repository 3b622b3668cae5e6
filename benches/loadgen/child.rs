//! Stopping a server process the benches spawned: SIGTERM, then SIGKILL after a grace
//! period. Shared by the load generator and the peers command (`#[path]`), so both stop
//! their servers the same way.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Stop `child` if there is one (taking it): SIGTERM, then SIGKILL once `grace` has passed.
pub fn stop(child: &mut Option<Child>, grace: Duration) {
    let Some(mut child) = child.take() else {
        return;
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let end = Instant::now() + grace;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
