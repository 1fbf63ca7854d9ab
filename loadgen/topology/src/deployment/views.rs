//! Looking at a running topology: its boxes (tier, pids, cgroup, CPU used), servers and
//! URLs — what the profiler's host collector and the autoscaler read.

use std::path::{Path, PathBuf};

use service::config::Profile;

use super::{app, BoxCgroup, BoxInfo, Boxed, Deployment, Endpoints, HaProxy, PgNode};

impl Deployment {
    /// Every box with its processes now (for the profiler's host collector and the
    /// autoscaler's CPU readings).
    pub fn boxes(&self) -> Vec<BoxInfo> {
        fn info<T>(b: &Boxed<T>, name: &str, leader: u32) -> BoxInfo {
            BoxInfo {
                tier: b.tier.to_owned(),
                name: name.to_owned(),
                cpus: b.cpus,
                memory_mib: b.memory_mib,
                cgroup: b.cgroup.as_ref().map(|c| c.dirs[0].clone()),
                pids: b.cgroup.as_ref().map_or_else(|| vec![leader], BoxCgroup::pids),
                cpu_seconds: b.cgroup.as_ref().and_then(BoxCgroup::cpu_seconds),
                cpu_usage_file: b.cgroup.as_ref().and_then(|c| c.usage_file.clone()),
            }
        }
        let mut out = Vec::new();
        out.extend(self.lb.iter().map(|b| info(b, "haproxy", b.node.process.pid())));
        for i in self.apps.iter().chain(&self.workers) {
            out.push(BoxInfo {
                tier: i.role.tier().to_owned(),
                name: i.name.clone(),
                cpus: i.cpus,
                memory_mib: i.memory_mib,
                cgroup: i.cgroup.as_ref().map(|c| c.dirs[0].clone()),
                pids: i.cgroup.as_ref().map_or_else(|| vec![i.process.pid()], BoxCgroup::pids),
                cpu_seconds: i.cgroup.as_ref().and_then(BoxCgroup::cpu_seconds),
                cpu_usage_file: i.cgroup.as_ref().and_then(|c| c.usage_file.clone()),
            });
        }
        out.extend(self.redis.iter().map(|b| info(b, "redis", b.node.process.pid())));
        for b in self.primaries.iter().chain(&self.standby).chain(&self.replicas) {
            out.push(info(b, &b.node.name, b.node.process.pid()));
        }
        out
    }

    /// The run's cgroup directory in the cpu hierarchy (`None` when unconfined).
    pub fn cgroup_dir(&self) -> Option<&Path> {
        self.cgroups.run_dir()
    }

    /// The run's cgroup directories, one per hierarchy (empty when unconfined).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.cgroups.run_dirs().to_vec()
    }

    /// The load balancer, when the stage has one.
    pub fn haproxy(&self) -> Option<&HaProxy> {
        self.lb.as_ref().map(|b| &b.node)
    }

    /// The stage's profile with the private servers' URLs filled in (what the profiler's
    /// PostgreSQL and Redis collectors connect to).
    pub fn effective_profile(&self) -> Profile {
        app::instance_profile(&self.profile, &self.endpoints, &self.run_dir.join("data"), 0, self.workers.is_empty())
    }

    /// URLs of the service's databases and Redis.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// PostgreSQL clusters: primaries (shards), standby, replicas.
    pub fn pg_nodes(&self) -> impl Iterator<Item = &PgNode> {
        self.primaries.iter().chain(&self.standby).chain(&self.replicas).map(|b| &b.node)
    }

    /// Names of the running API instances (all pools).
    pub fn app_instances(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }

    /// Each running API instance's own URL (not the load balancer's): the profiler scrapes
    /// every instance's `/metrics`, since through HAProxy each scrape would reach another one.
    pub fn app_urls(&self) -> Vec<String> {
        self.apps.iter().filter_map(|a| a.url()).collect()
    }
}
