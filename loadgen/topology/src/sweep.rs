//! Leftovers of a killed harness. A harness that dies by SIGKILL runs no teardown: its
//! servers mostly die with it (they get SIGKILL on their parent's death, see `process.rs`),
//! but its cgroups, run directories and any server that escaped stay. So each launch writes
//! an owner record — its pid and that process's start time (`/proc/<pid>/stat` field 22,
//! so a reused pid is not taken for the owner) plus what it created — into a registry
//! directory private to the user, removes it at teardown, and every later launch sweeps the
//! records whose owner is gone: it kills what still runs in their cgroups or names their run
//! directory, removes the cgroups, then the directories (a kept run directory stays, as its
//! teardown would have left it). A live harness's record is never touched.
//!
//! The generator's own box (`scaleloop/generator-<pid>-<start time>`, see
//! `generator_box.rs`) carries its owner in its name and is swept the same way.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{sys::signal::kill, sys::signal::Signal, unistd::Pid};
use serde::{Deserialize, Serialize};

use super::{
    cgroup::{self, BoxCgroup, Mode},
    process, secure, TopologyError,
};

/// What a launch created, as its record holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub pid: u32,
    /// The owner's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub keep_run_dir: bool,
    /// Directories removed even when the run directory is kept (the PostgreSQL clusters'
    /// own directory when they run as the postgres user; see `deployment.rs`).
    pub scratch_dirs: Vec<PathBuf>,
    /// The run's cgroup directory in each hierarchy.
    pub cgroups: Vec<PathBuf>,
}

/// This process's claim on a run: its record in the registry, withdrawn by [`Owner::release`]
/// once the run is torn down.
#[derive(Debug)]
pub struct Owner {
    path: PathBuf,
}

impl Owner {
    /// Records that this process owns what `record` lists (`pid`/`start_time` are filled in).
    pub fn register(mut record: Record) -> Result<Self, TopologyError> {
        record.pid = std::process::id();
        record.start_time = process::start_time(record.pid).ok_or_else(|| {
            TopologyError::io("reading this process's start time", std::io::Error::other("no /proc/self/stat"))
        })?;
        let dir = registry(true)?.unwrap_or_default();
        let name: String = record
            .run_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&record)
            .map_err(|e| TopologyError::io("writing an owner record", std::io::Error::other(e)))?;
        secure::replace_secret_file(&path, &text)?;
        Ok(Self { path })
    }

    /// Withdraws the record (everything it lists has been stopped and removed).
    pub fn release(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The registry: `scaleloop-owners-<uid>` in the system's temporary directory.
pub fn registry_path() -> PathBuf {
    std::env::temp_dir().join(format!("scaleloop-owners-{}", nix::unistd::geteuid().as_raw()))
}

/// The registry directory, created (mode 0700) when `create` and missing; `None` when it
/// does not exist and was not to be created. Refused unless it is a real directory of ours
/// that nobody else may write: its records say what to kill and delete.
fn registry(create: bool) -> Result<Option<PathBuf>, TopologyError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let path = registry_path();
    if create {
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(TopologyError::io(format!("creating {}", path.display()), e));
            }
            _ => {}
        }
    }
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
        Err(e) => return Err(TopologyError::io(format!("reading {}", path.display()), e)),
    };
    let unsafe_because = |reason: &str| Err(TopologyError::Unsafe { path: path.clone(), reason: reason.to_owned() });
    if !meta.file_type().is_dir() {
        return unsafe_because("the launcher's owner registry is not a directory (a symlink?)");
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return unsafe_because("the launcher's owner registry belongs to another user");
    }
    if meta.mode() & 0o077 != 0 {
        return unsafe_because("the launcher's owner registry is open to other users (it must be mode 0700)");
    }
    Ok(Some(path))
}

/// Whether the process that wrote a record still runs: same pid, same start time.
fn owner_alive(pid: u32, start_time: u64) -> bool {
    process::start_time(pid) == Some(start_time) && process::pid_alive(pid)
}

/// Sweeps the leftovers of every harness that is gone; returns one line per sweep (for
/// stderr). Problems are lines too: a sweep never keeps a launch from going ahead.
pub fn leftovers() -> Vec<String> {
    let mut lines = generator_boxes();
    let dir = match registry(false) {
        Ok(Some(dir)) => dir,
        Ok(None) => return lines,
        Err(e) => {
            lines.push(format!("warning: not sweeping leftovers of killed runs: {e}"));
            return lines;
        }
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.retain(|p| p.extension().is_some_and(|x| x == "json"));
    entries.sort();
    for path in entries {
        let record: Record = match std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            Some(r) => r,
            None => {
                lines.push(format!("warning: unreadable owner record {} left in place", path.display()));
                continue;
            }
        };
        if owner_alive(record.pid, record.start_time) {
            continue;
        }
        lines.push(sweep(&record));
        let _ = std::fs::remove_file(&path);
    }
    lines
}

/// Kills, removes and reports what `record` lists.
fn sweep(record: &Record) -> String {
    let mut killed: Vec<u32> = Vec::new();
    for run_cgroup in &record.cgroups {
        for b in std::fs::read_dir(run_cgroup).into_iter().flatten().flatten().filter(|e| e.path().is_dir()) {
            killed.extend(BoxCgroup { dirs: vec![b.path()], usage_file: None }.pids());
        }
        cgroup::remove_run_dir(run_cgroup);
    }
    // Unconfined servers, or ones that left their box: found by their run's mark.
    killed.extend(kill_marked(&record.run_dir.join("logs")));
    killed.sort_unstable();
    killed.dedup();
    let cgroups_left: Vec<&PathBuf> = record.cgroups.iter().filter(|c| c.exists()).collect();
    let mut removed = Vec::new();
    for dir in &record.scratch_dirs {
        removed.extend(remove_ours(dir));
    }
    if !record.keep_run_dir {
        removed.extend(remove_ours(&record.run_dir));
    }
    let mut line = format!(
        "swept the leftovers of run {} (its harness, pid {}, is gone): killed {} process(es) {killed:?}, removed {} cgroup(s)",
        record.run_id,
        record.pid,
        killed.len(),
        record.cgroups.len() - cgroups_left.len()
    );
    if !removed.is_empty() {
        line += &format!(", removed {}", removed.join(", "));
    }
    if record.keep_run_dir {
        line += &format!(", kept {} (asked to keep it)", record.run_dir.display());
    }
    if !cgroups_left.is_empty() {
        line += &format!("; could not remove cgroup(s) {cgroups_left:?}");
    }
    line
}

/// SIGKILLs every process that carries the mark of the run logging to `logs` (see
/// `process.rs`; a user's `tail -f` of one of its logs is not one of them); waits up to 5 s
/// for them to be gone. Returns their pids.
fn kill_marked(logs: &Path) -> Vec<u32> {
    let pids = process::processes_marked(logs);
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| process::pid_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids
}

/// Removes `dir` when it is a real directory (not a symlink) of ours — or, as root, of the
/// user it was made for (the clusters' directory belongs to postgres); returns what was
/// removed, for the report.
fn remove_ours(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).ok()?;
    let me = nix::unistd::geteuid();
    if !meta.file_type().is_dir() || (meta.uid() != me.as_raw() && !me.is_root()) {
        return None;
    }
    std::fs::remove_dir_all(dir).ok().map(|()| dir.display().to_string())
}

/// Removes the boxes of generators that are gone (`generator-<pid>-<start time>`, or the
/// older `generator-<pid>`, whose pid alone must be dead).
pub fn generator_boxes() -> Vec<String> {
    let parents: Vec<PathBuf> = match cgroup::detect() {
        Mode::V1 { cpu, cpuacct, .. } => std::iter::once(cpu).chain(cpuacct).map(|d| d.join("scaleloop")).collect(),
        Mode::V2 { root } => vec![root.join("scaleloop")],
        Mode::Unconfined { .. } => Vec::new(),
    };
    let mut lines = Vec::new();
    for parent in parents {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(owner) = name.strip_prefix("generator-") else { continue };
            let mut parts = owner.split('-').map(str::parse::<u64>);
            let gone = match (parts.next(), parts.next()) {
                (Some(Ok(pid)), Some(Ok(start))) => !owner_alive(pid as u32, start),
                (Some(Ok(pid)), None) => !process::pid_alive(pid as u32),
                _ => false,
            };
            if gone {
                BoxCgroup { dirs: vec![entry.path()], usage_file: None }.remove();
                lines.push(format!("swept the cgroup of a killed load generator: {}", entry.path().display()));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_pid_is_not_the_owner() {
        let me = std::process::id();
        let start = process::start_time(me).unwrap();
        assert!(owner_alive(me, start));
        assert!(!owner_alive(me, start + 1), "same pid, other start time: another process");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!owner_alive(pid, 0));
    }
}
