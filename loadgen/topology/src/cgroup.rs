//! Boxes as cgroups: each box of a topology is a cgroup with a CPU quota (and a memory limit
//! when the profile gives one), so adding boxes adds capacity on one machine the way adding
//! instances does on AWS.
//!
//! * cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` exists): `<root>/scaleloop/<run>/<box>`
//!   with `cpu.max` = "QUOTA PERIOD" and `memory.max`; the controllers are enabled in each
//!   parent's `cgroup.subtree_control` (under the root, which may hold processes itself).
//! * cgroup v1: `<controller mount>/<our own cgroup>/scaleloop/<run>/<box>` for `cpu`
//!   (`cpu.cfs_quota_us` + `cpu.cfs_period_us`), `memory` (`memory.limit_in_bytes`) and,
//!   when mounted apart from `cpu`, `cpuacct` (`cpuacct.usage`: the box's exact CPU time).
//!   Nesting under our own group respects whatever limits the caller already runs under.
//! * neither writable: boxes are unconfined, with one warning per process.
//!
//! The CFS period is short, 10 ms: a box that used up its quota waits for the next period, so
//! with the kernel's default 100 ms a 0.125-core box would stall for 87.5 ms in every 100 — a
//! stall the latency percentiles would blame on the box's tier. Below 0.1 core the period
//! grows so that the quota stays at the kernel's 1 ms minimum. The shared `scaleloop` parent is
//! left in place: parallel runs create their run directories under it and removing it would
//! race with them.

use std::{
    path::{Path, PathBuf},
    sync::Once,
    time::{Duration, Instant},
};

use nix::{sys::signal::kill, sys::signal::Signal, unistd::Pid};

use super::TopologyError;

const PERIOD_US: u64 = 10_000;
const MAX_PERIOD_US: u64 = 1_000_000;
const MIN_QUOTA_US: u64 = 1_000;

/// Which cgroup interface this machine offers us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    V2 { root: PathBuf },
    V1 { cpu: PathBuf, memory: Option<PathBuf>, cpuacct: Option<PathBuf> },
    Unconfined { reason: String },
}

/// The run's cgroup parent(s): one directory per controller hierarchy.
#[derive(Debug)]
pub struct RunCgroups {
    pub mode: Mode,
    /// `<base>/scaleloop/<run>` per hierarchy (cpu first); empty when unconfined.
    run_dirs: Vec<PathBuf>,
    /// Which hierarchy accounts CPU time, and in which file (`cpu.stat`, `cpuacct.usage`).
    usage: Option<(usize, &'static str)>,
}

/// One box's cgroup.
#[derive(Debug, Clone)]
pub struct BoxCgroup {
    /// One directory per hierarchy; the first is the one whose `cgroup.procs` lists the box.
    pub dirs: Vec<PathBuf>,
    /// The file holding the box's cumulative CPU time, when a hierarchy accounts it.
    pub usage_file: Option<PathBuf>,
}

/// While this process sits in its generator box (see `generator_box.rs`), the v1 groups it
/// came from, per controller: a stage's boxes nest under those, never under the generator's
/// group, whose quota the kernel would otherwise enforce over the whole stage.
static HOME: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Records (or, with an empty list, forgets) where this process came from.
pub(super) fn set_home(paths: Vec<(String, String)>) {
    *HOME.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = paths;
}

/// Our own path inside the v1 hierarchy that has `controller` (from `/proc/self/cgroup`), or
/// the one we came from while in the generator's box.
pub(super) fn own_v1_path(controller: &str) -> Option<String> {
    let home = HOME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = home.iter().find(|(c, _)| c == controller) {
        return Some(path.clone());
    }
    drop(home);
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == controller).then(|| path.trim_start_matches('/').to_owned())
    })
}

/// Detects the interface and checks that we may create groups in it.
pub fn detect() -> Mode {
    let fs = Path::new("/sys/fs/cgroup");
    if fs.join("cgroup.controllers").exists() {
        return if writable(&fs.join("cgroup.subtree_control")) {
            Mode::V2 { root: fs.to_owned() }
        } else {
            Mode::Unconfined { reason: "cgroup v2 is not writable (run as root to confine boxes)".into() }
        };
    }
    let cpu_mount = ["cpu", "cpu,cpuacct"].iter().map(|m| fs.join(m)).find(|p| p.join("cpu.cfs_quota_us").exists());
    let Some(cpu_mount) = cpu_mount else {
        return Mode::Unconfined { reason: "no cgroup v2 and no cgroup v1 cpu controller under /sys/fs/cgroup".into() };
    };
    let cpu = cpu_mount.join(own_v1_path("cpu").unwrap_or_default());
    if !writable(&cpu.join("cgroup.procs")) {
        return Mode::Unconfined {
            reason: format!("{} is not writable (run as root to confine boxes)", cpu.display()),
        };
    }
    let writable_v1 = |controller: &str| {
        own_v1_path(controller).map(|own| fs.join(controller).join(own)).filter(|p| writable(&p.join("cgroup.procs")))
    };
    // With `cpu,cpuacct` mounted together the cpu directory already has cpuacct.usage.
    let cpuacct = if cpu.join("cpuacct.usage").exists() { None } else { writable_v1("cpuacct") };
    Mode::V1 { cpu, memory: writable_v1("memory"), cpuacct }
}

fn writable(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_ok()
}

fn write(path: &Path, value: &str) -> Result<(), TopologyError> {
    std::fs::write(path, value).map_err(|e| TopologyError::io(format!("writing {value:?} to {}", path.display()), e))
}

/// `(quota, period)` in µs for `cpus` cores: the 10 ms period, or a longer one when the quota
/// would fall below the kernel's 1 ms minimum (0.05 core = 1 ms every 20 ms).
pub fn quota_us(cpus: f64) -> (u64, u64) {
    let period = if cpus * PERIOD_US as f64 >= MIN_QUOTA_US as f64 {
        PERIOD_US
    } else {
        ((MIN_QUOTA_US as f64 / cpus.max(1e-3)).ceil() as u64).min(MAX_PERIOD_US)
    };
    (((cpus * period as f64).round() as u64).max(MIN_QUOTA_US), period)
}

impl RunCgroups {
    /// Creates `scaleloop/<run_id>` in each hierarchy; unconfined (with one warning per
    /// process) when that is impossible.
    pub fn create(run_id: &str) -> Self {
        let mode = detect();
        let (bases, usage): (Vec<PathBuf>, _) = match &mode {
            Mode::V2 { root } => (vec![root.clone()], Some((0, "cpu.stat"))),
            Mode::V1 { cpu, memory, cpuacct } => {
                let bases: Vec<PathBuf> =
                    std::iter::once(cpu.clone()).chain(memory.clone()).chain(cpuacct.clone()).collect();
                let usage = match cpuacct {
                    Some(_) => Some((bases.len() - 1, "cpuacct.usage")),
                    None => cpu.join("cpuacct.usage").exists().then_some((0, "cpuacct.usage")),
                };
                (bases, usage)
            }
            Mode::Unconfined { reason } => return Self::unconfined(reason.clone()),
        };
        let mut run_dirs = Vec::new();
        for base in &bases {
            let dir = base.join("scaleloop").join(run_id);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                let reason = format!("cannot create {}: {e}", dir.display());
                Self { mode: mode.clone(), run_dirs, usage }.remove();
                return Self::unconfined(reason);
            }
            run_dirs.push(dir);
        }
        if let Mode::V2 { root } = &mode {
            // Enable cpu and memory for the children of each level we created.
            for level in [root.clone(), root.join("scaleloop"), run_dirs[0].clone()] {
                if let Err(e) = write(&level.join("cgroup.subtree_control"), "+cpu +memory") {
                    let reason = e.to_string();
                    Self { mode: mode.clone(), run_dirs, usage }.remove();
                    return Self::unconfined(reason);
                }
            }
        }
        Self { mode, run_dirs, usage }
    }

    fn unconfined(reason: String) -> Self {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            eprintln!("warning: boxes run WITHOUT CPU quotas or memory limits: {reason}; stage-to-stage differences will not be measurable");
        });
        Self { mode: Mode::Unconfined { reason }, run_dirs: Vec::new(), usage: None }
    }

    pub fn confined(&self) -> bool {
        !self.run_dirs.is_empty()
    }

    /// The run's directory in the cpu hierarchy.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dirs.first().map(PathBuf::as_path)
    }

    /// The run's directory in every hierarchy (tests check they are gone after teardown).
    pub fn run_dirs(&self) -> &[PathBuf] {
        &self.run_dirs
    }

    /// Creates the cgroup of box `name` with its quota and limit; `None` when unconfined.
    pub fn create_box(
        &self,
        name: &str,
        cpus: Option<f64>,
        memory_mib: Option<u64>,
    ) -> Result<Option<BoxCgroup>, TopologyError> {
        if !self.confined() {
            return Ok(None);
        }
        let dirs: Vec<PathBuf> = self.run_dirs.iter().map(|d| d.join(name)).collect();
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(|e| TopologyError::io(format!("creating cgroup {}", d.display()), e))?;
        }
        let usage_file = self.usage.map(|(i, file)| dirs[i].join(file));
        let cg = BoxCgroup { dirs, usage_file };
        let bytes = memory_mib.map(|m| (m * 1024 * 1024).to_string());
        match &self.mode {
            Mode::V2 { .. } => {
                let max = cpus.map_or_else(
                    || format!("max {PERIOD_US}"),
                    |c| {
                        let (quota, period) = quota_us(c);
                        format!("{quota} {period}")
                    },
                );
                write(&cg.dirs[0].join("cpu.max"), &max)?;
                if let Some(b) = &bytes {
                    write(&cg.dirs[0].join("memory.max"), b)?;
                }
            }
            Mode::V1 { .. } => {
                let (quota, period) = cpus.map_or((None, PERIOD_US), |c| {
                    let (q, p) = quota_us(c);
                    (Some(q), p)
                });
                write(&cg.dirs[0].join("cpu.cfs_period_us"), &period.to_string())?;
                write(&cg.dirs[0].join("cpu.cfs_quota_us"), &quota.map_or_else(|| "-1".to_owned(), |q| q.to_string()))?;
                if let (Some(b), Some(mem)) = (&bytes, cg.dirs.get(1)) {
                    write(&mem.join("memory.limit_in_bytes"), b)?;
                }
            }
            Mode::Unconfined { .. } => {}
        }
        Ok(Some(cg))
    }

    /// Removes the run's groups bottom-up (every box must have been removed first; a box
    /// left over is emptied and removed here).
    pub fn remove(&self) {
        for run_dir in &self.run_dirs {
            remove_run_dir(run_dir);
        }
    }
}

/// Empties and removes every box under a run's cgroup directory, then the directory (also
/// what the sweep of a killed harness's run does, see `sweep.rs`).
pub(super) fn remove_run_dir(run_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            BoxCgroup { dirs: vec![e.path()], usage_file: None }.remove();
        }
    }
    rmdir_retrying(run_dir);
}

impl BoxCgroup {
    /// `cgroup.procs` files a process writes itself into to join the box.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The processes in the box now.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dirs[0].join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// CPU seconds the box has used since it was created (exact, from the kernel's
    /// accounting; `None` without a CPU-accounting hierarchy).
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_in(self.usage_file.as_ref()?)
    }

    /// SIGKILLs whatever is still inside, then removes the directories.
    pub fn remove(&self) {
        for dir in &self.dirs {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let pids = BoxCgroup { dirs: vec![dir.clone()], usage_file: None }.pids();
                if pids.is_empty() || Instant::now() >= deadline {
                    break;
                }
                for pid in pids {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            rmdir_retrying(dir);
        }
    }
}

/// CPU seconds from a cgroup's accounting file: v1 `cpuacct.usage` (ns) or v2 `cpu.stat`
/// (`usage_usec`).
pub fn cpu_seconds_in(file: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(file).ok()?;
    if file.ends_with("cpu.stat") {
        let usec: f64 = text.lines().find_map(|l| l.strip_prefix("usage_usec "))?.trim().parse().ok()?;
        Some(usec / 1e6)
    } else {
        Some(text.trim().parse::<f64>().ok()? / 1e9)
    }
}

/// A cgroup can be busy for a moment after its last process exits (the kernel frees it
/// asynchronously), so rmdir is retried briefly.
fn rmdir_retrying(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if Instant::now() >= deadline => {
                tracing::warn!("cannot remove cgroup {}: {e}", dir.display());
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_use_a_short_period_and_stay_above_the_kernel_minimum() {
        assert_eq!(quota_us(0.5), (5_000, 10_000));
        assert_eq!(quota_us(0.125), (1_250, 10_000));
        assert_eq!(quota_us(0.1), (1_000, 10_000));
        assert_eq!(quota_us(2.0), (20_000, 10_000));
        // Below 0.1 core the period stretches so the quota stays 1 ms and the share is kept.
        assert_eq!(quota_us(0.05), (1_000, 20_000));
        let (q, p) = quota_us(0.001);
        assert!(q >= MIN_QUOTA_US && p <= MAX_PERIOD_US, "{q}/{p}");
    }
}
