//! A running topology: bring-up in order, its servers and boxes, and the teardown on
//! [`Deployment::down`] or drop. What can be done to it while it runs is in `operations.rs`,
//! what can be read from it in `views.rs`.
//!
//! The run directory is created fresh, mode 0700 (see `secure.rs`). PostgreSQL running as
//! the postgres user (when we are root) could not enter it, so its clusters then live in a
//! 0700 directory of their own, owned by that user and removed at teardown; otherwise in
//! `<run dir>/pg`. Both are in the run's owner record, which a later launch uses to sweep
//! them if this process is killed (see `sweep.rs`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use service::config::Profile;

mod databases;
mod faults;
mod operations;
mod views;

pub use faults::Server;

use super::{
    app::{self, AppInstance, Endpoints, Launch, Role},
    cgroup::{BoxCgroup, RunCgroups},
    haproxy::{self, HaProxy},
    postgres::{PgNode, PgSettings},
    process::RunAs,
    redis::{self, RedisNode},
    secure::{self, Secret},
    sweep::{Owner, Record},
    Binaries, Plan, TopologyError, TopologyOptions,
};

/// How long a stopped server gets before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// One box as the profiler and the autoscaler see it.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxInfo {
    /// `app`, `db`, `db-replica`, `lb`, …
    pub tier: String,
    /// `app-2`, `pg-primary`, `redis`, …
    pub name: String,
    pub cpus: Option<f64>,
    pub memory_mib: Option<u64>,
    /// The box's cgroup in the cpu hierarchy; `None` when running unconfined.
    pub cgroup: Option<PathBuf>,
    /// Its processes now (from `cgroup.procs`; the leader alone when unconfined).
    pub pids: Vec<u32>,
    /// CPU seconds used so far, exact from the cgroup's accounting (`None` when unconfined):
    /// the difference of two readings over their interval is the box's CPU use in cores.
    pub cpu_seconds: Option<f64>,
    /// The file `cpu_seconds` is read from (`cpuacct.usage` in ns, or v2 `cpu.stat`).
    pub cpu_usage_file: Option<PathBuf>,
}

/// A box's cgroup (when confined), CPU quota and memory limit.
type BoxParts = (Option<BoxCgroup>, Option<f64>, Option<u64>);

/// A server and the box it runs in.
#[derive(Debug)]
struct Boxed<T> {
    tier: &'static str,
    cgroup: Option<BoxCgroup>,
    cpus: Option<f64>,
    memory_mib: Option<u64>,
    node: T,
}

/// A running stage. Everything in it stops on [`Deployment::down`] or when it is dropped.
#[derive(Debug)]
pub struct Deployment {
    pub profile: Profile,
    pub run_id: String,
    pub run_dir: PathBuf,
    /// Where to send API traffic: HAProxy's frontend, or the only instance.
    pub base_url: String,
    options: TopologyOptions,
    bins: Binaries,
    cgroups: RunCgroups,
    endpoints: Endpoints,
    client: reqwest::Client,
    lb: Option<Boxed<HaProxy>>,
    apps: Vec<AppInstance>,
    workers: Vec<AppInstance>,
    redis: Option<Boxed<RedisNode>>,
    replicas: Vec<Boxed<PgNode>>,
    standby: Option<Boxed<PgNode>>,
    primaries: Vec<Boxed<PgNode>>,
    /// The clusters' shared settings (directory, password), made before the first cluster.
    pg: Option<PgSettings>,
    /// Directories removed at teardown even when the run directory is kept.
    scratch_dirs: Vec<PathBuf>,
    /// This process's record of the run, withdrawn at the end of teardown.
    owner: Option<Owner>,
    next_instance: u32,
    down: bool,
}

impl Deployment {
    pub(super) async fn start(
        profile: Profile,
        plan: Plan,
        bins: Binaries,
        options: TopologyOptions,
    ) -> Result<Self, TopologyError> {
        let run_id = super::new_run_id(&profile.name);
        let run_dir = match &options.run_dir {
            Some(dir) => {
                secure::create_fresh_dir(dir)?;
                dir.clone()
            }
            None => secure::fresh_temp_dir("scaleloop-run-")?,
        };
        for sub in ["logs", "data"] {
            std::fs::create_dir_all(run_dir.join(sub))
                .map_err(|e| TopologyError::io(format!("creating {}", run_dir.join(sub).display()), e))?;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TopologyError::io("building an HTTP client", std::io::Error::other(e)))?;
        let mut d = Self {
            cgroups: RunCgroups::create(&run_id),
            profile,
            run_id,
            run_dir,
            base_url: String::new(),
            options,
            bins,
            endpoints: Endpoints::default(),
            client,
            lb: None,
            apps: Vec::new(),
            workers: Vec::new(),
            redis: None,
            replicas: Vec::new(),
            standby: None,
            primaries: Vec::new(),
            pg: None,
            scratch_dirs: Vec::new(),
            owner: None,
            next_instance: 0,
            down: false,
        };
        // From here on an early return drops `d`, which tears down what was started.
        if plan.db > 0 {
            d.pg = Some(d.pg_settings()?);
        }
        d.owner = Some(Owner::register(Record {
            pid: 0,
            start_time: 0,
            run_id: d.run_id.clone(),
            run_dir: d.run_dir.clone(),
            keep_run_dir: d.options.keep_run_dir,
            scratch_dirs: d.scratch_dirs.clone(),
            cgroups: d.cgroups.run_dirs().to_vec(),
        })?);
        if plan.db > 0 {
            d.start_postgres(&plan).await?;
        }
        if plan.cache {
            d.start_redis().await?;
        }
        for _ in 0..plan.workers {
            d.start_instance(Role::Worker).await?;
        }
        for &(role, n) in &plan.api {
            for _ in 0..n {
                d.start_instance(role).await?;
            }
        }
        if plan.lb {
            d.start_lb().await?;
        }
        d.base_url = match &d.lb {
            Some(lb) => lb.node.base_url(),
            None => d.apps.first().and_then(AppInstance::url).unwrap_or_default(),
        };
        Ok(d)
    }

    fn logs(&self) -> PathBuf {
        self.run_dir.join("logs")
    }

    /// A new box of `tier`'s size: its cgroup (when confined), CPUs and memory limit.
    fn make_box(&self, tier: &'static str, name: &str) -> Result<BoxParts, TopologyError> {
        let spec = super::box_spec(&self.profile, tier);
        let (cpus, mem) = (spec.and_then(|b| b.cpus), spec.and_then(|b| b.memory_mib));
        Ok((self.cgroups.create_box(name, cpus, mem)?, cpus, mem))
    }

    async fn start_redis(&mut self) -> Result<(), TopologyError> {
        let (cgroup, cpus, memory_mib) = self.make_box("cache", "redis")?;
        let procs = cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
        let bin = self.bins.redis.clone().unwrap_or_default();
        let password = Secret::generate();
        let mut attempt = 0;
        let node = loop {
            attempt += 1;
            match redis::start(&bin, &self.run_dir.join("redis"), &password, procs.clone(), &self.logs(), memory_mib)
                .await
            {
                Err(e) if attempt < 3 && super::port_clash(&e) => continue,
                other => break other?,
            }
        };
        self.endpoints.redis_url = Some(node.url());
        self.redis = Some(Boxed { tier: "cache", cgroup, cpus, memory_mib, node });
        Ok(())
    }

    /// Starts one instance of `role` in a new box; returns its name.
    async fn start_instance(&mut self, role: Role) -> Result<String, TopologyError> {
        self.next_instance += 1;
        let name = format!("{}-{}", role.tier(), self.next_instance);
        let (cgroup, cpus, memory_mib) = self.make_box(role.tier(), &name)?;
        let launch = Launch {
            exe: &self.options.exe,
            stage: &self.profile,
            endpoints: &self.endpoints,
            data_dir: &self.run_dir.join("data"),
            logs: &self.logs(),
            worker_fleet: super::box_spec(&self.profile, "worker").is_some_and(|b| b.count > 0),
            client: &self.client,
        };
        let mut attempt = 0;
        let started = loop {
            attempt += 1;
            match app::start(&launch, &name, role, cgroup.clone(), cpus, memory_mib).await {
                Err(e) if attempt < 3 && super::port_clash(&e) => continue,
                other => break other,
            }
        };
        let instance = match started {
            Ok(i) => i,
            Err(e) => {
                if let Some(cg) = cgroup {
                    cg.remove();
                }
                return Err(e);
            }
        };
        if role == Role::Worker {
            self.workers.push(instance)
        } else {
            self.apps.push(instance)
        }
        Ok(name)
    }

    /// The load balancer's pools as the API instances are now: (backend, [(server, port)]).
    fn lb_pools(&self) -> Vec<(String, Vec<(String, u16)>)> {
        let split = self.profile.topology.split_read_write;
        let backends: &[Role] = if split { &[Role::ApiRead, Role::ApiWrite] } else { &[Role::Api] };
        backends
            .iter()
            .map(|&role| {
                let servers = self
                    .apps
                    .iter()
                    .filter(|a| a.role == role)
                    .filter_map(|a| Some((a.name.clone(), a.port?)))
                    .collect();
                (role.tier().to_owned(), servers)
            })
            .collect()
    }

    async fn start_lb(&mut self) -> Result<(), TopologyError> {
        let pools = self.lb_pools();
        let (cgroup, cpus, memory_mib) = self.make_box("lb", "haproxy")?;
        let layout = haproxy::LbLayout::new(self.profile.topology.split_read_write, cpus);
        let procs = cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
        let bin = self.bins.haproxy.clone().unwrap_or_default();
        let mut attempt = 0;
        let node = loop {
            attempt += 1;
            match haproxy::start(&bin, &self.run_dir.join("lb"), &pools, layout, procs.clone(), &self.logs()).await {
                Err(e) if attempt < 3 && super::port_clash(&e) => continue,
                other => break other?,
            }
        };
        self.lb = Some(Boxed { tier: "lb", cgroup, cpus, memory_mib, node });
        Ok(())
    }

    /// Stops everything (load balancer, instances, Redis, replicas, standby, primaries, in
    /// that order), removes the boxes' cgroups, the clusters' own directory and, unless asked
    /// to keep it, the run directory, then withdraws the owner record. Blocks for up to a few
    /// seconds per server; idempotent.
    pub fn down(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        if let Some(mut lb) = self.lb.take() {
            lb.node.process.stop(GRACE);
            remove_box(&lb.cgroup);
        }
        for mut i in self.apps.drain(..).chain(self.workers.drain(..)) {
            i.process.stop(GRACE);
            remove_box(&i.cgroup);
        }
        if let Some(mut r) = self.redis.take() {
            r.node.process.stop(GRACE);
            remove_box(&r.cgroup);
        }
        let pg: Vec<Boxed<PgNode>> =
            self.replicas.drain(..).chain(self.standby.take()).chain(self.primaries.drain(..)).collect();
        for mut b in pg {
            b.node.process.stop(Duration::from_secs(15));
            remove_box(&b.cgroup);
        }
        self.cgroups.remove();
        for dir in &self.scratch_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        if !self.options.keep_run_dir {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
        if let Some(owner) = &self.owner {
            owner.release();
        }
    }

    /// Where the PostgreSQL clusters live (`None` without PostgreSQL).
    pub fn pg_dir(&self) -> Option<&Path> {
        self.pg.as_ref().map(|s| s.root.as_path())
    }
}

fn remove_box(cgroup: &Option<BoxCgroup>) {
    if let Some(cg) = cgroup {
        cg.remove();
    }
}

fn extract(list: &mut Vec<AppInstance>, name: &str) -> Option<AppInstance> {
    let i = list.iter().position(|a| a.name == name)?;
    Some(list.remove(i))
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.down();
    }
}
