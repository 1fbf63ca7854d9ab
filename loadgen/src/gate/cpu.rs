//! The service's CPU time, for the A/B gate's per-request CPU figure (Linux `/proc`).
//!
//! Embedded service: its threads in this process (`svc-*`, and `sqlx-*` started by its
//! SQLite driver), read per thread from `schedstat` in nanoseconds — `stat`'s 10 ms ticks
//! would be too coarse for a run of a few seconds. A service started from a command: every
//! process of its process group, from `stat` (which counts the process's exited threads too).
//! Readings are per thread or process id, and a delta counts only ids present at the end, so
//! a thread that started during the run counts in full.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::target::embedded::SERVICE_THREAD_PREFIX;

/// CPU used so far per thread or process id, in nanoseconds.
pub type CpuReading = BTreeMap<u32, u64>;

const SERVICE_THREADS: &[&str] = &[SERVICE_THREAD_PREFIX, "sqlx-"];
const NANOS_PER_TICK: u64 = 10_000_000;

/// The embedded service's threads in this process.
pub fn embedded_service() -> Option<CpuReading> {
    let mut out = CpuReading::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else { continue };
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !SERVICE_THREADS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let nanos =
            std::fs::read_to_string(dir.join("schedstat")).ok().and_then(|s| schedstat_nanos(&s)).or_else(|| {
                std::fs::read_to_string(dir.join("stat")).ok().and_then(|s| stat_ticks(&s)).map(|t| t * NANOS_PER_TICK)
            });
        if let Some(n) = nanos {
            out.insert(tid, n);
        }
    }
    Some(out)
}

/// Every process whose process group is `pgid`.
pub fn process_group(pgid: u32) -> Option<CpuReading> {
    let mut out = CpuReading::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if stat_pgrp(&stat) == Some(pgid) {
            if let Some(t) = stat_ticks(&stat) {
                out.insert(pid, t * NANOS_PER_TICK);
            }
        }
    }
    Some(out)
}

/// CPU used between two readings by the ids alive at `after`.
pub fn used(before: &CpuReading, after: &CpuReading) -> Duration {
    let nanos = after.iter().map(|(id, &a)| a.saturating_sub(before.get(id).copied().unwrap_or(0))).sum();
    Duration::from_nanos(nanos)
}

/// First field of `schedstat`: time spent on the CPU, ns.
fn schedstat_nanos(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Fields after the `(comm)` of a `stat` line (comm may contain spaces and parentheses).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// utime + stime (fields 14 and 15), clock ticks.
fn stat_ticks(stat: &str) -> Option<u64> {
    let f = stat_fields(stat)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Process group (field 5).
fn stat_pgrp(stat: &str) -> Option<u32> {
    stat_fields(stat)?.get(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_lines() {
        let line = "1234 (svc (worker)) S 1 77 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(stat_ticks(line), Some(280));
        assert_eq!(stat_pgrp(line), Some(77));
        assert_eq!(schedstat_nanos("376709955 64269682 103\n"), Some(376_709_955));
    }

    #[test]
    fn a_delta_counts_the_threads_alive_at_the_end() {
        let before = CpuReading::from([(1, 100), (2, 50)]);
        let after = CpuReading::from([(1, 400), (3, 25)]);
        assert_eq!(used(&before, &after), Duration::from_nanos(300 + 25));
    }

    #[test]
    fn reads_this_process_group() {
        if std::path::Path::new("/proc/self/stat").exists() {
            let me = std::fs::read_to_string("/proc/self/stat").unwrap();
            let pgid = stat_pgrp(&me).unwrap();
            assert!(process_group(pgid).unwrap().contains_key(&std::process::id()));
        }
    }
}
