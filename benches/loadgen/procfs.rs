//! Server-side measurements read from `/proc/<pid>`: resident memory (`status`) and CPU time
//! (`stat` utime + stime, which include threads that have exited), plus open descriptors.
//!
//! Read-only; Linux only. Anything unreadable is reported as absent, never as zero.

use serde::Serialize;

/// One look at the server process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// When, epoch milliseconds.
    pub t_ms: u64,
    /// utime + stime, microseconds.
    pub cpu_us: u64,
    /// stime alone (time in the kernel on the process's behalf), microseconds.
    pub sys_us: u64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// RssAnon (heap and stacks), KiB.
    pub rss_anon_kib: u64,
    /// VmHWM (peak RSS), KiB.
    pub hwm_kib: u64,
    /// Threads.
    pub threads: u64,
}

/// Clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// Sample `pid` now; `None` if it cannot be read (gone, or not Linux).
pub fn sample(pid: u32, ticks: u64) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15, num_threads 20.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let threads: u64 = f.get(17)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(Sample {
        t_ms: crate::now_ms(),
        cpu_us: (utime + stime) * 1_000_000 / ticks,
        sys_us: stime * 1_000_000 / ticks,
        rss_kib: kib("VmRSS:")?,
        rss_anon_kib: kib("RssAnon:").unwrap_or(0),
        hwm_kib: kib("VmHWM:").unwrap_or(0),
        threads,
    })
}

/// Open file descriptors of `pid` (a directory listing; costs a little with many sockets).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}
