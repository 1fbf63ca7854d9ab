//! The generator's own CPU time, read from `/proc/self/task/*/stat` (Linux).
//!
//! Threads of the embedded service (named `svc-*`) are left out, so the figure is the
//! generator's even when the service runs in the same process. Elsewhere, or when `/proc`
//! is unavailable, no figure is given. Times are in clock ticks of 1/100 s (Linux USER_HZ).

use std::time::Duration;

use crate::target::embedded::SERVICE_THREAD_PREFIX;

const TICKS_PER_SECOND: u64 = 100;

/// CPU used so far by the process's non-service threads that are still alive.
pub fn generator_cpu() -> Option<Duration> {
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim_end().starts_with(SERVICE_THREAD_PREFIX) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(dir.join("stat")) {
            ticks += stat_ticks(&stat).unwrap_or(0);
        }
    }
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// utime + stime of a `stat` line (fields 14 and 15, counted after the `(comm)` field).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line = "1234 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(stat_ticks(line), Some(280));
    }

    #[test]
    fn reads_its_own_cpu() {
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(generator_cpu().is_some());
        }
    }
}
