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

/// The embedded service names its threads with this prefix, so the generator's CPU can be told apart.
pub const SERVICE_THREAD_PREFIX: &str = "svc-";

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
    Some(live_threads_with_ids()?.into_iter().map(|(_, name, ticks)| (name, ticks)).collect())
}

/// A thread's identity: (tid, start time). A tid can be reused by a later thread, the pair
/// cannot.
type ThreadId = (u64, u64);

/// `(id, name, CPU ticks)` of every live thread.
fn live_threads_with_ids() -> Option<Vec<(ThreadId, String, u64)>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let tid: u64 = entry.file_name().to_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim_end().to_owned();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let ticks = stat_ticks(&stat).unwrap_or(0);
        threads.push(((tid, stat_start_time(&stat).unwrap_or(0)), name, ticks));
    }
    Some(threads)
}

/// Every thread this process has been seen to run, with its last reading (see [`split_cpu`]).
/// Per thread: whether it is the generator's, and its CPU ticks at the last reading.
type Ledger = std::collections::HashMap<ThreadId, (bool, u64)>;

static LEDGER: std::sync::Mutex<Option<Ledger>> = std::sync::Mutex::new(None);

/// CPU used so far by (the generator's threads, the embedded service's threads), each side
/// summed over its own threads — the live ones and those seen before that have since exited,
/// at their last reading. A thread's time after its last reading is lost when it exits (at
/// most the interval between two calls), never moved to the other side.
pub fn split_cpu() -> Option<(Duration, Duration)> {
    let live = live_threads_with_ids()?;
    let named = live.iter().any(|(_, n, _)| n == RUNTIME_THREAD_NAME);
    let mut ledger = LEDGER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ledger = ledger.get_or_insert_with(Default::default);
    for (id, name, ticks) in live {
        let generator = is_generator_thread(&name, named);
        let entry = ledger.entry(id).or_insert((generator, 0));
        *entry = (generator, entry.1.max(ticks));
    }
    let side = |generator: bool| ledger.values().filter(|(g, _)| *g == generator).map(|(_, t)| t).sum::<u64>();
    Some((ticks_to_duration(side(true)), ticks_to_duration(side(false))))
}

fn is_generator_thread(name: &str, binary_names: bool) -> bool {
    if binary_names {
        name.starts_with(GENERATOR_THREAD_PREFIX)
    } else {
        !name.starts_with(SERVICE_THREAD_PREFIX) && !SERVICE_LIBRARY_THREADS.iter().any(|p| name.starts_with(p))
    }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// Sums the ticks of the generator's threads among `(name, ticks)`.
fn generator_ticks(threads: &[(String, u64)]) -> u64 {
    let named = threads.iter().any(|(n, _)| n == RUNTIME_THREAD_NAME);
    threads.iter().filter(|(n, _)| is_generator_thread(n, named)).map(|(_, t)| t).sum()
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

/// The thread's start time (field 22, in ticks since boot) of a `stat` line.
fn stat_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
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

    /// The spike of issue 16: a generator thread that burned CPU and exited must not show up
    /// as the embedded service's CPU (the old split was process total − live generator).
    /// Checked on the burner's own ledger entry, not on side totals: the other tests of this
    /// binary run beside it and move both sides.
    #[test]
    fn an_exited_generator_thread_is_not_counted_as_the_service() {
        if !std::path::Path::new("/proc/thread-self/stat").exists() {
            return;
        }
        split_cpu().unwrap();
        let burner = std::thread::Builder::new()
            .name("loadgen-burner".into())
            .spawn(|| {
                let own_ticks = || stat_ticks(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
                let tid: u64 = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                    .unwrap();
                // Until it has used 20 ticks of its own, bounded in time on a busy machine.
                let started = std::time::Instant::now();
                let mut x = 0u64;
                while own_ticks() < 20 && started.elapsed() < Duration::from_secs(10) {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                }
                std::hint::black_box(x);
                // Seen alive once, after its work.
                split_cpu().unwrap();
                (tid, own_ticks())
            })
            .unwrap();
        let (tid, burned) = burner.join().unwrap();
        assert!(burned >= 1, "the burner got no CPU in 10 s");
        split_cpu().unwrap();
        // Gone from /proc: the old split (total − live generator threads) would have counted
        // its time as the service's.
        let live = live_threads_with_ids().unwrap();
        assert!(live.iter().all(|((t, _), _, _)| *t != tid), "the joined burner is still listed");
        // The ledger keeps it on the generator's side, with the time it was last seen at.
        let ledger = LEDGER.lock().unwrap();
        let entry = ledger.as_ref().unwrap().iter().find(|((t, _), _)| *t == tid).map(|(_, e)| *e);
        let (generator, ticks) = entry.expect("the burner was never recorded");
        assert!(generator, "the burner was recorded as the service's");
        assert!(ticks + 1 >= burned, "recorded {ticks} ticks, it used {burned}");
    }

    #[test]
    fn reads_its_own_cpu() {
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(generator_cpu().is_some());
        }
    }
}
