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

/// Sample `pid` now; `None` if it cannot be read (gone, or not Linux).
pub fn sample(pid: u32, ticks: u64) -> Option<Sample> {
    let cpu = crate::cputime::read(&format!("/proc/{pid}/stat"), ticks)?;
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
        cpu_us: cpu.total_us,
        sys_us: cpu.sys_us,
        rss_kib: kib("VmRSS:")?,
        rss_anon_kib: kib("RssAnon:").unwrap_or(0),
        hwm_kib: kib("VmHWM:").unwrap_or(0),
        threads: cpu.threads,
    })
}

/// Open file descriptors of `pid` (a directory listing; costs a little with many sockets).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}
