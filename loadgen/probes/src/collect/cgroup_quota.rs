//! A process's CPU quota in cores, read from its cgroup: `cpu.max` on cgroup v2,
//! `cpu.cfs_quota_us` / `cpu.cfs_period_us` on v1. The effective quota is the smallest one on
//! the way from the process's group up to the root, as the kernel enforces every level.
//!
//! CFS throttling is read from the same group's `cpu.stat` (`nr_periods`, `nr_throttled`, and
//! `throttled_time` in ns on v1 or `throttled_usec` on v2): a box whose quota ran out in most
//! periods is at its limit even when its own CPU accounting shows less (on v1 with `cpu` and
//! `cpuacct` mounted apart, a process can use the quota without being accounted).
//!
//! A box confined this way (by scaleloop's launcher, systemd, a container runtime) is judged
//! against its quota, not against the machine's cores: a Redis given 5% of a core is saturated
//! at 0.05 cores.

use std::path::{Path, PathBuf};

/// Where the cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The CPU quota of process `pid` in cores, or `None` when it is unconfined (or unknowable).
pub fn cpu_quota_cores(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    quota_from(&text, Path::new(CGROUP_ROOT))
}

/// The quota for a `/proc/<pid>/cgroup` listing, with the hierarchies mounted under `root`.
pub fn quota_from(proc_cgroup: &str, root: &Path) -> Option<f64> {
    let mut best: Option<f64> = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let found = if controllers.is_empty() {
            // v2: the unified hierarchy.
            walk_up(&root.join(path.trim_start_matches('/')), root, read_v2)
        } else if controllers.split(',').any(|c| c == "cpu") {
            // v1: the cpu controller, mounted as `cpu`, `cpu,cpuacct` or `cpuacct,cpu`.
            ["cpu", "cpu,cpuacct", "cpuacct,cpu", controllers]
                .iter()
                .map(|m| root.join(m))
                .find(|m| m.is_dir())
                .and_then(|mount| walk_up(&mount.join(path.trim_start_matches('/')), &mount, read_v1))
        } else {
            None
        };
        best = match (best, found) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    best
}

/// The smallest quota from `dir` up to `top`, inclusive.
fn walk_up(dir: &Path, top: &Path, read: fn(&Path) -> Option<f64>) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut current: Option<PathBuf> = Some(dir.to_owned());
    while let Some(d) = current {
        if let Some(q) = read(&d) {
            best = Some(best.map_or(q, |b: f64| b.min(q)));
        }
        if d == top || !d.starts_with(top) {
            break;
        }
        current = d.parent().map(Path::to_owned);
    }
    best
}

/// v2 `cpu.max`: `max 100000` (unlimited) or `QUOTA PERIOD`.
fn read_v2(dir: &Path) -> Option<f64> {
    parse_cpu_max(&std::fs::read_to_string(dir.join("cpu.max")).ok()?)
}

pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// v1: `cpu.cfs_quota_us` (-1 = unlimited) over `cpu.cfs_period_us`.
fn read_v1(dir: &Path) -> Option<f64> {
    let quota: f64 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok()?.trim().parse().ok()?;
    let period: f64 = std::fs::read_to_string(dir.join("cpu.cfs_period_us")).ok()?.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// A `cpu.stat` reading: CFS periods elapsed, periods in which the quota ran out, and the
/// time (seconds, summed over CPUs) runnable threads spent throttled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttling {
    pub periods: f64,
    pub throttled_periods: f64,
    pub throttled_s: f64,
}

impl std::ops::Add for Throttling {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            periods: self.periods + o.periods,
            throttled_periods: self.throttled_periods + o.throttled_periods,
            throttled_s: self.throttled_s + o.throttled_s,
        }
    }
}

impl std::iter::Sum for Throttling {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// Parses `cpu.stat` of either version (v1: `throttled_time` ns; v2: `throttled_usec`).
pub fn parse_cpu_stat(text: &str) -> Option<Throttling> {
    let mut t = Throttling::default();
    let mut seen = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        let Ok(v) = value.trim().parse::<f64>() else { continue };
        match key {
            "nr_periods" => {
                t.periods = v;
                seen = true;
            }
            "nr_throttled" => t.throttled_periods = v,
            "throttled_time" => t.throttled_s = v / 1e9,
            "throttled_usec" => t.throttled_s = v / 1e6,
            _ => {}
        }
    }
    seen.then_some(t)
}

/// The throttling counters in directory `dir`'s `cpu.stat`.
pub fn throttling_in(dir: &Path) -> Option<Throttling> {
    parse_cpu_stat(&std::fs::read_to_string(dir.join("cpu.stat")).ok()?)
}

/// The directory of process `pid`'s own group in the hierarchy that enforces CPU quotas (v2:
/// the unified one; v1: the `cpu` controller's), where its `cpu.stat` is.
pub fn cpu_group_dir(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    group_dir_from(&text, Path::new(CGROUP_ROOT))
}

fn group_dir_from(proc_cgroup: &str, root: &Path) -> Option<PathBuf> {
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let rel = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "cpu") {
            let mount =
                ["cpu", "cpu,cpuacct", "cpuacct,cpu", controllers].iter().map(|m| root.join(m)).find(|m| m.is_dir())?;
            return Some(mount.join(rel));
        }
        if controllers.is_empty() {
            v2 = Some(root.join(rel));
        }
    }
    v2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v2_takes_the_tightest_level() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("outer"), "cpu.max", "50000 100000\n");
        write(&r.join("outer/inner"), "cpu.max", "max 100000\n");
        assert_eq!(quota_from("0::/outer/inner\n", r), Some(0.5));
        write(&r.join("outer/inner"), "cpu.max", "5000 100000\n");
        assert_eq!(quota_from("0::/outer/inner\n", r), Some(0.05));
        assert_eq!(quota_from("0::/elsewhere\n", r), None);
    }

    #[test]
    fn v1_reads_the_cpu_controller() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("cpu,cpuacct/box"), "cpu.cfs_quota_us", "25000\n");
        write(&r.join("cpu,cpuacct/box"), "cpu.cfs_period_us", "100000\n");
        write(&r.join("cpu,cpuacct"), "cpu.cfs_quota_us", "-1\n");
        write(&r.join("cpu,cpuacct"), "cpu.cfs_period_us", "100000\n");
        let listing = "12:memory:/box\n4:cpu,cpuacct:/box\n1:name=systemd:/x\n";
        assert_eq!(quota_from(listing, r), Some(0.25));
        assert_eq!(quota_from("4:cpu,cpuacct:/\n", r), None);
    }

    #[test]
    fn cpu_stat_of_both_versions() {
        let v1 = "nr_periods 120\nnr_throttled 90\nthrottled_time 4500000000\n";
        assert_eq!(parse_cpu_stat(v1), Some(Throttling { periods: 120.0, throttled_periods: 90.0, throttled_s: 4.5 }));
        let v2 = "usage_usec 10\nuser_usec 5\nsystem_usec 5\nnr_periods 10\nnr_throttled 1\nthrottled_usec 250000\n";
        assert_eq!(parse_cpu_stat(v2), Some(Throttling { periods: 10.0, throttled_periods: 1.0, throttled_s: 0.25 }));
        assert_eq!(parse_cpu_stat("usage_usec 10\n"), None);
    }

    #[test]
    fn the_cpu_group_of_a_process() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("cpu/box")).unwrap();
        let listing = "5:cpuacct:/other\n4:cpu:/box\n0::/unified\n";
        assert_eq!(group_dir_from(listing, r), Some(r.join("cpu/box")));
        assert_eq!(group_dir_from("0::/unified/box\n", r), Some(r.join("unified/box")));
    }

    #[test]
    fn cpu_max_parsing() {
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max("200000 100000"), Some(2.0));
        assert_eq!(parse_cpu_max("garbage"), None);
    }
}
