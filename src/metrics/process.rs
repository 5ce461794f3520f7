//! The process's own figures, read from `/proc` when scraped (Linux; elsewhere none), in
//! the names Prometheus's client libraries use.

use std::fmt::Write as _;

/// Clock ticks a second and the page size: what Linux reports for every process.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_BYTES: u64 = 4096;

pub fn render() -> String {
    let mut text = String::new();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return text;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
    // Fields 14 and 15 (utime, stime), 22 (starttime) and 24 (rss), counted from 1 with
    // the pid and the command as 1 and 2.
    if let (Some(user), Some(system)) = (field(11), field(12)) {
        let seconds = (user + system) as f64 / TICKS_PER_SECOND;
        let _ = writeln!(text, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {seconds}");
    }
    if let Some(pages) = field(21) {
        let _ = writeln!(text, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}", pages * PAGE_BYTES);
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ").and_then(|t| t.trim().parse::<u64>().ok()))
    });
    if let (Some(boot), Some(start)) = (boot, field(19)) {
        let started = boot as f64 + start as f64 / TICKS_PER_SECOND;
        let _ = writeln!(text, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {started}");
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(text, "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}", fds.count());
    }
    text
}
