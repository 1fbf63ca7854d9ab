//! The generator's own CPU time, read from `/proc/self/task/*/stat` (Linux).
//!
//! When the process has the binary's runtime threads (`loadgen-gen`), only threads named
//! `loadgen*` count. Otherwise (the library inside another program, or tests) every thread
//! counts except the embedded service's: its runtime (`svc-*`) and SQLite workers
//! (`sqlx-*`). So the figure is the generator's even when the service runs in the same
//! process. The threads that send requests (`loadgen-send`, see `attack.rs`) are also counted
//! on their own: whether *they* were saturated is the generator's self-check. Elsewhere, or when `/proc` is unavailable, no figure is given. Times are in
//! clock ticks of 1/100 s (Linux USER_HZ).

use std::time::Duration;

use crate::target::embedded::SERVICE_THREAD_PREFIX;

/// Prefix of the generator binary's thread names.
pub const GENERATOR_THREAD_PREFIX: &str = "loadgen";

/// The name of the binary's main runtime threads (profiler, progress, verifier).
pub const RUNTIME_THREAD_NAME: &str = "loadgen-gen";

/// The name of the threads that run the Goose users (see `attack.rs`).
pub const SEND_THREAD_NAME: &str = "loadgen-send";

/// Prefixes of threads the embedded service's libraries start on their own.
const SERVICE_LIBRARY_THREADS: &[&str] = &["sqlx-"];

const TICKS_PER_SECOND: u64 = 100;

/// CPU used so far by the generator's threads that are still alive.
pub fn generator_cpu() -> Option<Duration> {
    Some(ticks_to_duration(generator_ticks(&live_threads()?)))
}

/// CPU used so far by the generator's live threads that do *not* send requests (the
/// sending threads report their own CPU as they finish: once gone, `/proc` forgets them).
pub fn generator_cpu_besides_sending() -> Option<Duration> {
    let threads: Vec<_> = live_threads()?.into_iter().filter(|(n, _)| !n.starts_with(SEND_THREAD_NAME)).collect();
    Some(ticks_to_duration(generator_ticks(&threads)))
}

/// CPU used so far by the live threads that send requests.
pub fn sending_cpu() -> Option<Duration> {
    let threads = live_threads()?;
    Some(ticks_to_duration(threads.iter().filter(|(n, _)| n.starts_with(SEND_THREAD_NAME)).map(|(_, t)| t).sum()))
}

/// `(name, CPU ticks)` of every live thread of this process.
fn live_threads() -> Option<Vec<(String, u64)>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim_end().to_owned();
        let ticks = std::fs::read_to_string(dir.join("stat")).ok().and_then(|s| stat_ticks(&s)).unwrap_or(0);
        threads.push((name, ticks));
    }
    Some(threads)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// Sums the ticks of the generator's threads among `(name, ticks)`.
fn generator_ticks(threads: &[(String, u64)]) -> u64 {
    let named = threads.iter().any(|(n, _)| n == RUNTIME_THREAD_NAME);
    threads
        .iter()
        .filter(|(n, _)| {
            if named {
                n.starts_with(GENERATOR_THREAD_PREFIX)
            } else {
                !n.starts_with(SERVICE_THREAD_PREFIX) && !SERVICE_LIBRARY_THREADS.iter().any(|p| n.starts_with(p))
            }
        })
        .map(|(_, t)| t)
        .sum()
}

/// CPU used so far by the whole process (every thread, alive or exited).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(Duration::from_millis(stat_ticks(&stat)? * 1000 / TICKS_PER_SECOND))
}

/// CPU used so far by processes `pids` (each process's own threads, from `/proc/<pid>/stat`).
pub fn pids_cpu(pids: &[u32]) -> Duration {
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|s| stat_ticks(&s))
        .sum();
    ticks_to_duration(ticks)
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
    fn counts_only_generator_threads() {
        let t = |n: &str, v| (n.to_owned(), v);
        let binary = [
            t("loadgen", 1),
            t("loadgen-gen", 10),
            t("loadgen-send", 5),
            t("svc-worker", 100),
            t("sqlx-sqlite-wor", 1000),
            t("ctrl-c", 0),
        ];
        assert_eq!(generator_ticks(&binary), 16);
        let library = [
            t("my-test", 2),
            t("tokio-runtime-w", 20),
            t("loadgen-send", 5),
            t("svc-worker", 100),
            t("sqlx-sqlite-wor", 1000),
        ];
        assert_eq!(generator_ticks(&library), 27);
    }

    #[test]
    fn reads_its_own_cpu() {
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(generator_cpu().is_some());
        }
    }
}
