//! CPU time from `/proc/.../stat`: the clock tick rate and utime + stime of a process or
//! thread. Shared by the load generator's `/proc` sampler and the `send_floor` bench (which
//! includes this file by path). Linux only; unreadable is `None`, never zero.

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`, else 100).
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

/// CPU time read from one `stat` file, microseconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    /// utime + stime.
    pub total_us: u64,
    /// stime alone: time in the kernel on its behalf.
    pub sys_us: u64,
    /// num_threads (for a process).
    pub threads: u64,
}

/// Read `stat` (e.g. `/proc/<pid>/stat` or `/proc/thread-self/stat`).
pub fn read(stat: &str, ticks: u64) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name, which may itself hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15, num_threads 20.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(CpuTime {
        total_us: (utime + stime) * 1_000_000 / ticks,
        sys_us: stime * 1_000_000 / ticks,
        threads: f.get(17)?.parse().ok()?,
    })
}
