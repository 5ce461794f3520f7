//! `creditgate_log_lines_dropped_total`: log lines dropped because stderr did not keep up.
//! The count is the background log writer's own (the binary's `logs.rs`), read when scraped.

use std::sync::OnceLock;

static DROPPED: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> = OnceLock::new();

/// Makes `source` what the series reports (the first one given; the binary gives the
/// background log writer's count when it starts one).
pub fn count_dropped_log_lines(source: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = DROPPED.set(Box::new(source));
}

/// Log lines dropped so far; 0 when lines are written directly.
pub fn dropped_log_lines() -> u64 {
    DROPPED.get().map_or(0, |source| source())
}

pub fn render() -> String {
    format!(
        "# HELP creditgate_log_lines_dropped_total Log lines dropped because stderr did not keep up.\n\
         # TYPE creditgate_log_lines_dropped_total counter\ncreditgate_log_lines_dropped_total {}\n",
        dropped_log_lines()
    )
}
