//! The load generator's own box: this process moved into a cgroup with the reserved share of
//! the machine budget (see [`super::budget`]) for as long as a [`GeneratorBox`] lives, then
//! moved back where it came from.
//!
//! The whole process moves (`cgroup.procs` moves every thread, on v1 and v2 alike): once the
//! service runs in boxes of its own, everything left in this process is the generator — its
//! sending threads, the profiler, the progress bar. A capped generator is what makes "the
//! generator's budget is reached" a measurable end of a capacity search, and it keeps the
//! generator from eating the cores the stage's boxes were promised. Only the CPU hierarchies
//! are used (v1 `cpu` and `cpuacct`; v2 the `cpu` controller): the memory group this process
//! was started in is left as it is. Server processes spawned while inside start here and move
//! themselves into their own box before they exec (see `process.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::cgroup::{self, Mode};

/// The generator box's CFS period (see `try_enter`).
const GENERATOR_PERIOD_US: u64 = 100_000;

/// Only one box per process: the process is in one place at a time.
static INSIDE: AtomicBool = AtomicBool::new(false);

/// This process inside its box; moved back on drop.
#[derive(Debug)]
pub struct GeneratorBox {
    /// The share in cores.
    pub cores: f64,
    /// (box directory, the directory the process came from), one per hierarchy.
    moved: Vec<(PathBuf, PathBuf)>,
    /// The box's CPU accounting file (`cpuacct.usage` or v2 `cpu.stat`), when there is one.
    pub usage_file: Option<PathBuf>,
}

/// This process's own v2 cgroup path (`0::/path` in `/proc/self/cgroup`).
fn own_v2_path() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(|p| p.trim_start_matches('/').to_owned())
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value:?} to {}: {e}", path.display()))
}

impl GeneratorBox {
    /// Moves this process into a box of `cores`. `None` (with a warning) when cgroups are not
    /// writable or the move fails — the generator then runs unconfined, as before.
    pub fn enter(cores: f64) -> Option<Self> {
        if INSIDE.swap(true, Ordering::SeqCst) {
            return None;
        }
        let made = Self::try_enter(cores);
        match made {
            Ok(b) => Some(b),
            Err(reason) => {
                INSIDE.store(false, Ordering::SeqCst);
                eprintln!("warning: the load generator runs WITHOUT its reserved CPU share: {reason}");
                None
            }
        }
    }

    fn try_enter(cores: f64) -> Result<Self, String> {
        // Named by its owner (pid and start time) so that a later launch can tell a killed
        // generator's box from a live one's and sweep it (see `sweep.rs`).
        let pid = std::process::id();
        let name = match super::process::start_time(pid) {
            Some(start) => format!("generator-{pid}-{start}"),
            None => format!("generator-{pid}"),
        };
        for line in super::sweep::generator_boxes() {
            eprintln!("{line}");
        }
        // (the group this process is in now, the parent its box goes under), cpu first; and
        // the file that accounts the box's CPU time. v1 nests under our own group, as the
        // stage's boxes do, so limits the caller already runs under still hold.
        let (hierarchies, usage): (Vec<(PathBuf, PathBuf)>, &str) = match cgroup::detect() {
            Mode::V1 { cpu, cpuacct, .. } => {
                // `cpuacct.usage` sits in the cpu directory when both are mounted together, else
                // in the cpuacct one: the first box directory that has it is used.
                let h = std::iter::once(cpu).chain(cpuacct).map(|d| (d.clone(), d.join("scaleloop"))).collect();
                (h, "cpuacct.usage")
            }
            Mode::V2 { root } => {
                for level in [root.clone(), root.join("scaleloop")] {
                    std::fs::create_dir_all(&level).map_err(|e| format!("creating {}: {e}", level.display()))?;
                    write(&level.join("cgroup.subtree_control"), "+cpu")?;
                }
                (vec![(root.join(own_v2_path().unwrap_or_default()), root.join("scaleloop"))], "cpu.stat")
            }
            Mode::Unconfined { reason } => return Err(reason),
        };
        // The stage's boxes must keep nesting where this process was, not under its new group.
        cgroup::set_home(
            ["cpu", "cpuacct", "memory"]
                .iter()
                .filter_map(|c| Some(((*c).to_owned(), cgroup::own_v1_path(c)?)))
                .collect(),
        );
        let mut me = Self { cores, moved: Vec::new(), usage_file: None };
        for (i, (origin, parent)) in hierarchies.iter().enumerate() {
            let dir = parent.join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            if i == 0 {
                // Unlike a service box, the generator keeps time: a 10 ms period would throttle
                // every thread — the sending one too — for the rest of a period whenever the
                // profiler's once-a-second sample takes a few ms, and the sends would leave
                // late. A 100 ms period with a burst of one quota (CPU left unused earlier)
                // absorbs such spikes while the average stays within the share.
                let period = GENERATOR_PERIOD_US;
                let quota = ((cores * period as f64).round() as u64).max(1_000);
                if dir.join("cpu.max").exists() {
                    write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
                    let _ = write(&dir.join("cpu.max.burst"), &quota.to_string());
                } else {
                    write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
                    write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                    // Kernels before 5.14 have no burst; the quota alone still bounds the share.
                    let _ = write(&dir.join("cpu.cfs_burst_us"), &quota.to_string());
                }
            }
            me.moved.push((dir.clone(), origin.clone()));
            // From here on a failure drops `me`, which moves the process back.
            write(&dir.join("cgroup.procs"), &std::process::id().to_string())?;
        }
        me.usage_file = me.moved.iter().map(|(d, _)| d.join(usage)).find(|f| f.exists());
        Ok(me)
    }

    /// CPU seconds the generator has used since it entered its box (exact, counting threads
    /// that have exited).
    pub fn cpu_seconds(&self) -> Option<f64> {
        cgroup::cpu_seconds_in(self.usage_file.as_ref()?)
    }
}

impl Drop for GeneratorBox {
    fn drop(&mut self) {
        let pid = std::process::id().to_string();
        for (dir, origin) in self.moved.iter().rev() {
            if let Err(e) = write(&origin.join("cgroup.procs"), &pid) {
                tracing::warn!("moving the generator back: {e}");
            }
            // The kernel frees a group a moment after its last task leaves.
            let mut last = None;
            for _ in 0..80 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => last = Some(e),
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            if let Some(e) = last {
                let left = std::fs::read_to_string(dir.join("tasks")).unwrap_or_default();
                eprintln!(
                    "warning: cannot remove the generator's cgroup {}: {e} (tasks left: {})",
                    dir.display(),
                    left.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
        }
        cgroup::set_home(Vec::new());
        INSIDE.store(false, Ordering::SeqCst);
    }
}
