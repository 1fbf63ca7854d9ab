//! Host figures with `sysinfo`: the machine's CPU and load, and CPU/RSS/disk per box. A box is
//! a set of processes of one tier (PostgreSQL's backends, `redis-server`, an app process) or,
//! for the embedded target, the threads of this process: the generator's own threads versus
//! the embedded service's (`svc-*`, `sqlx-*`); for a stage brought up by the topology
//! launcher, the processes in the boxes' cgroups.
//!
//! Series: `host.machine_cpu_cores`, `host.load1`, `host.cpu_cores.<box>`, `host.processes.<box>`,
//! `host.cpu_quota.<box>` (its capacity in cores; a box's CPU is the larger of its cgroups'
//! accounting and its member processes' times), `host.cpu_throttled_share.<box>` (share of
//! the CFS periods in which the box's quota ran out, from its cgroups' `cpu.stat`),
//! `host.cpu_throttled_s.<box>` (seconds its threads spent throttled, per second),
//! `host.rss_bytes.<box>`,
//! `host.disk_read_bytes.<box>`, `host.disk_write_bytes.<box>`.

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

use super::{
    cgroup_quota::{cpu_group_dir, throttling_in, Throttling},
    rate, CollectError, Collector,
};
use loadgen_model::timeline::BoxInfo;

/// How a box's members are found.
#[derive(Debug, Clone)]
pub enum Members {
    /// Processes whose name is one of these (e.g. `postgres`, `redis-server`).
    ProcessNames(Vec<String>),
    /// A process and all its descendants (a PostgreSQL cluster's postmaster, a Redis server).
    ProcessTree(u32),
    /// Threads of this process that belong to the generator.
    GeneratorThreads,
    /// Threads of this process that belong to the embedded service.
    EmbeddedServiceThreads,
    /// The processes in these cgroups (read from `cgroup.procs` at every sample, so
    /// PostgreSQL's forked backends count): the boxes of a launched topology. CPU comes
    /// from the cgroups' own accounting files when every box has one (exact, counting
    /// processes that already exited), else from the processes' times.
    Cgroups { dirs: Vec<std::path::PathBuf>, cpu_usage_files: Vec<std::path::PathBuf> },
    /// These processes (a launched topology running unconfined).
    Pids(Vec<u32>),
}

impl Members {
    /// The pids the member list names now (`None` for name- or thread-based members).
    fn pids(&self) -> Option<std::collections::HashSet<sysinfo::Pid>> {
        match self {
            Self::Cgroups { dirs, .. } => Some(
                dirs.iter()
                    .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
                    .flat_map(|t| t.lines().filter_map(|l| l.trim().parse::<usize>().ok()).collect::<Vec<_>>())
                    .map(sysinfo::Pid::from)
                    .collect(),
            ),
            Self::Pids(pids) => Some(pids.iter().map(|&p| sysinfo::Pid::from_u32(p)).collect()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BoxSpec {
    pub tier: String,
    pub members: Members,
    /// CPU quota in cores; `None` = the machine's cores.
    pub cpu_quota: Option<f64>,
}

impl BoxSpec {
    /// A box of one process tree whose quota is read from the process's cgroup, falling back
    /// to `declared` (the profile's figure) when the process is unconfined.
    pub fn process_tree(tier: &str, pid: u32, declared: Option<f64>) -> Self {
        let quota = super::cgroup_quota::cpu_quota_cores(pid).or(declared);
        Self { tier: tier.into(), members: Members::ProcessTree(pid), cpu_quota: quota }
    }
}

pub struct HostCollector {
    system: System,
    boxes: Vec<BoxSpec>,
    cores: f64,
    previous: BTreeMap<String, f64>,
}

impl HostCollector {
    pub fn new(boxes: Vec<BoxSpec>) -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        let cores = system.cpus().len().max(1) as f64;
        Self { system, boxes, cores, previous: BTreeMap::new() }
    }

    /// The boxes as the timeline describes them.
    pub fn box_infos(&self) -> Vec<BoxInfo> {
        self.boxes
            .iter()
            .map(|b| BoxInfo {
                tier: b.tier.clone(),
                cpu_cores: b.cpu_quota.unwrap_or(self.cores),
                members: match &b.members {
                    Members::ProcessNames(names) => names.clone(),
                    Members::ProcessTree(pid) => vec![format!("pid {pid} and its children")],
                    Members::GeneratorThreads => vec!["self: generator threads".into()],
                    Members::EmbeddedServiceThreads => vec!["self: svc-*/sqlx-* threads".into()],
                    Members::Cgroups { dirs, .. } => dirs.iter().map(|d| format!("cgroup {}", d.display())).collect(),
                    Members::Pids(pids) => pids.iter().map(|p| format!("pid {p}")).collect(),
                },
            })
            .collect()
    }

    /// The box's throttling over the last interval, from its cumulative `cpu.stat` counters.
    fn throttling(&mut self, tier: &str, t: Throttling, elapsed_s: f64, out: &mut BTreeMap<String, f64>) {
        let periods_key = series::of(series::HOST_CPU_PERIODS, tier);
        let throttled_key = series::of(series::HOST_CPU_THROTTLED_PERIODS, tier);
        let periods = rate(self.previous.get(&periods_key).copied(), t.periods, 1.0);
        let throttled = rate(self.previous.get(&throttled_key).copied(), t.throttled_periods, 1.0);
        if let (Some(p), Some(th)) = (periods, throttled) {
            if p > 0.0 {
                out.insert(series::of(series::HOST_CPU_THROTTLED_SHARE, tier), (th / p).min(1.0));
            }
        }
        self.previous.insert(periods_key, t.periods);
        self.previous.insert(throttled_key, t.throttled_periods);
        self.counter(series::of(series::HOST_CPU_THROTTLED_S, tier), t.throttled_s, elapsed_s, out);
    }

    fn counter(&mut self, name: String, current: f64, elapsed_s: f64, out: &mut BTreeMap<String, f64>) {
        if let Some(r) = rate(self.previous.get(&name).copied(), current, elapsed_s) {
            out.insert(name.clone(), r);
        }
        self.previous.insert(name, current);
    }
}

/// Whether process `p` belongs to a box with these members.
fn is_member(system: &System, p: &sysinfo::Process, members: &Members) -> bool {
    match members {
        Members::ProcessNames(names) => {
            let name = p.name().to_string_lossy();
            names.iter().any(|n| name == n.as_str())
        }
        Members::ProcessTree(root) => {
            // Walk up the parents (bounded: the tree is shallow, cycles are impossible but a
            // bound costs nothing).
            let mut current = Some(p.pid());
            for _ in 0..16 {
                let Some(pid) = current else { return false };
                if pid.as_u32() == *root {
                    return true;
                }
                current = system.process(pid).and_then(sysinfo::Process::parent);
            }
            false
        }
        // Pid sets are matched by `Members::pids` before this is asked.
        Members::Cgroups { .. } | Members::Pids(_) | Members::GeneratorThreads | Members::EmbeddedServiceThreads => {
            false
        }
    }
}

/// The summed `cpu.stat` throttling counters of a box's groups in the CPU-quota hierarchy
/// (`None` when the box has no group of its own).
fn throttling_of(members: &Members) -> Option<Throttling> {
    match members {
        Members::Cgroups { dirs, .. } => dirs.iter().map(|d| throttling_in(d)).sum::<Option<Throttling>>(),
        Members::ProcessTree(pid) => cpu_group_dir(*pid).and_then(|d| throttling_in(&d)),
        _ => None,
    }
}

/// CPU seconds used so far by this process's threads, split (generator, embedded service).
/// Each side counts its own threads, exited ones included (see `cpu::split_cpu`): the process
/// total minus the live generator threads gave the service the time of every generator
/// thread that had ended.
pub fn self_thread_cpu_seconds() -> Option<(f64, f64)> {
    let (generator, service) = loadgen_generator::cpu::split_cpu()?;
    Some((generator.as_secs_f64(), service.as_secs_f64()))
}

#[async_trait]
impl Collector for HostCollector {
    fn name(&self) -> &'static str {
        "host"
    }

    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let mut out = BTreeMap::new();
        self.system.refresh_cpu_usage();
        out.insert(
            series::HOST_MACHINE_CPU_CORES.into(),
            f64::from(self.system.global_cpu_usage()) / 100.0 * self.cores,
        );
        out.insert(series::HOST_LOAD1.into(), System::load_average().one);
        let wants_processes = self.boxes.iter().any(|b| {
            matches!(
                b.members,
                Members::ProcessNames(_) | Members::ProcessTree(_) | Members::Cgroups { .. } | Members::Pids(_)
            )
        });
        if wants_processes {
            // Boxes known by their pids (a launched stage's cgroups) refresh just those: a scan
            // of every process costs tens of milliseconds a second, and it runs inside the
            // generator's own box, where such a burst holds the sending thread back.
            let by_pid: Option<Vec<sysinfo::Pid>> = self
                .boxes
                .iter()
                .filter(|b| !matches!(b.members, Members::GeneratorThreads | Members::EmbeddedServiceThreads))
                .try_fold(Vec::new(), |mut all, b| {
                    all.extend(b.members.pids()?);
                    Some(all)
                });
            let which = by_pid.as_deref().map_or(ProcessesToUpdate::All, ProcessesToUpdate::Some);
            self.system.refresh_processes_specifics(
                which,
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory().with_disk_usage(),
            );
        }
        let threads = self_thread_cpu_seconds();
        for spec in self.boxes.clone() {
            let tier = &spec.tier;
            out.insert(series::of(series::HOST_CPU_QUOTA, tier), spec.cpu_quota.unwrap_or(self.cores));
            match &spec.members {
                Members::GeneratorThreads | Members::EmbeddedServiceThreads => {
                    if let Some((generator, service)) = threads {
                        let cpu = if matches!(spec.members, Members::GeneratorThreads) { generator } else { service };
                        self.counter(series::of(series::HOST_CPU_CORES, tier), cpu, elapsed_s, &mut out);
                    }
                }
                Members::ProcessNames(_) | Members::ProcessTree(_) | Members::Cgroups { .. } | Members::Pids(_) => {
                    let (mut cpu_ms, mut rss, mut read, mut written, mut alive) = (0u64, 0u64, 0u64, 0u64, 0u32);
                    let pids = spec.members.pids();
                    for (pid, p) in self.system.processes() {
                        let member = match &pids {
                            Some(set) => set.contains(pid),
                            None => is_member(&self.system, p, &spec.members),
                        };
                        if member {
                            alive += 1;
                            cpu_ms += p.accumulated_cpu_time();
                            rss += p.memory();
                            let disk = p.disk_usage();
                            read += disk.total_read_bytes;
                            written += disk.total_written_bytes;
                        }
                    }
                    let accounted = match &spec.members {
                        Members::Cgroups { cpu_usage_files, .. } if !cpu_usage_files.is_empty() => cpu_usage_files
                            .iter()
                            .map(|f| loadgen_topology::cgroup::cpu_seconds_in(f))
                            .sum::<Option<f64>>(),
                        _ => None,
                    };
                    // The cgroup's own accounting is exact and counts processes that exited; the
                    // members' own times count a process that uses the box's CPU quota without
                    // being accounted to it (on v1 a process can join `cpu` and not `cpuacct`).
                    // Each second takes the larger.
                    let mut rates = BTreeMap::new();
                    if let Some(accounted) = accounted {
                        self.counter(format!("accounted.{tier}"), accounted, elapsed_s, &mut rates);
                    }
                    self.counter(format!("members.{tier}"), cpu_ms as f64 / 1000.0, elapsed_s, &mut rates);
                    if let Some(cores) = rates.values().copied().reduce(f64::max) {
                        out.insert(series::of(series::HOST_CPU_CORES, tier), cores);
                    }
                    if let Some(t) = throttling_of(&spec.members) {
                        self.throttling(tier, t, elapsed_s, &mut out);
                    }
                    // A box with no process left is a dead server (`analysis/faults.rs`).
                    out.insert(series::of(series::HOST_PROCESSES, tier), f64::from(alive));
                    out.insert(series::of(series::HOST_RSS_BYTES, tier), rss as f64);
                    self.counter(series::of(series::HOST_DISK_READ_BYTES, tier), read as f64, elapsed_s, &mut out);
                    self.counter(series::of(series::HOST_DISK_WRITE_BYTES, tier), written as f64, elapsed_s, &mut out);
                }
            }
        }
        Ok(out)
    }
}
