//! The `[topology]` section of a profile: how the harness's launcher lays a stage out on real
//! servers, beyond what `[[boxes]]` already says (which boxes, how many, how big).
//!
//! The service itself ignores this section; `loadgen up` and `loadgen evolve` read it. Box
//! tiers the launcher knows (see [`KNOWN_TIERS`]):
//!
//! * `app` — API instances (each its own box); `app-read` / `app-write` instead when the read
//!   and write API pools are split (`split_read_write`);
//! * `worker` — worker-only processes (the async stage's worker fleet);
//! * `lb` — HAProxy in front of the API instances;
//! * `db` — PostgreSQL primaries: one, or several = `user_content` sharded by user_id;
//! * `db-standby` — a hot standby of the primary (streaming; promoted on failover);
//! * `db-replica` — streaming read replicas;
//! * `cache` — a Redis server (the cache and/or the Redis Streams job queue).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Box tiers the topology launcher can start.
pub const KNOWN_TIERS: [&str; 10] =
    ["app", "app-read", "app-write", "worker", "lb", "db", "db-standby", "db-replica", "cache", "generator"];

/// Launcher settings that are not box sizes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// Route `POST` to the `app-write` pool and everything else to the `app-read` pool (the
    /// seed's "separate read and write API servers"); needs both box tiers.
    pub split_read_write: bool,
    /// PostgreSQL `synchronous_commit` on the primaries (`on`, `off`, `local`,
    /// `remote_write`, `remote_apply`). `on` with no synchronous standby names: a commit is
    /// acknowledged once flushed to the primary's WAL (fsync stays on either way).
    pub synchronous_commit: SynchronousCommit,
    /// Make the `db-standby` a synchronous standby (`synchronous_standby_names`): a commit
    /// is acknowledged only once the standby has it too, so a failover loses no acknowledged
    /// write (as RDS Multi-AZ does). The price: writes wait while the standby is down.
    pub synchronous_standby: bool,
    /// PostgreSQL `shared_buffers` in MiB for each cluster (small boxes, small buffers).
    pub pg_shared_buffers_mib: u32,
    /// Target-tracking autoscaling of the `app` boxes (Users++++); absent = a fixed fleet.
    pub autoscaling: Option<AutoscalingConfig>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            split_read_write: false,
            synchronous_commit: SynchronousCommit::On,
            synchronous_standby: false,
            // 32 MiB keeps a cluster's memory well inside a small box's limit.
            pg_shared_buffers_mib: 32,
            autoscaling: None,
        }
    }
}

/// PostgreSQL `synchronous_commit` values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SynchronousCommit {
    #[default]
    On,
    Off,
    Local,
    RemoteWrite,
    RemoteApply,
}

impl SynchronousCommit {
    /// The value as PostgreSQL spells it.
    pub fn as_pg(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Local => "local",
            Self::RemoteWrite => "remote_write",
            Self::RemoteApply => "remote_apply",
        }
    }
}

/// What the autoscaler tracks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    /// Mean CPU utilization of the app boxes against their quota (0..1).
    #[default]
    Cpu,
    /// p99 latency of the API in milliseconds.
    P99Ms,
}

/// A target-tracking policy, as AWS Auto Scaling has it: keep `metric` near `target` with
/// between `min` and `max` instances, waiting out cooldowns and counting a new instance's
/// metrics only after its warm-up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AutoscalingConfig {
    pub min: u32,
    pub max: u32,
    pub metric: ScalingMetric,
    /// Target value of the metric (a fraction for `cpu`, milliseconds for `p99_ms`).
    pub target: f64,
    /// Least time between a scale-out and the next scaling action.
    #[serde(with = "humantime_serde")]
    pub scale_out_cooldown: Duration,
    /// Least time between a scale-in and the next scaling action.
    #[serde(with = "humantime_serde")]
    pub scale_in_cooldown: Duration,
    /// A new instance's metrics are left out of the aggregate for this long.
    #[serde(with = "humantime_serde")]
    pub warmup: Duration,
}

impl Default for AutoscalingConfig {
    fn default() -> Self {
        Self {
            min: 1,
            max: 4,
            metric: ScalingMetric::Cpu,
            target: 0.6,
            scale_out_cooldown: Duration::from_secs(15),
            scale_in_cooldown: Duration::from_secs(60),
            warmup: Duration::from_secs(5),
        }
    }
}

/// Checks what serde cannot; returns (field, reason) of the first problem.
pub fn validate(topology: &TopologyConfig, boxes: &[super::BoxSpec]) -> Result<(), (&'static str, String)> {
    for b in boxes {
        if !KNOWN_TIERS.contains(&b.tier.as_str()) {
            return Err(("boxes.tier", format!("unknown tier `{}` (known: {})", b.tier, KNOWN_TIERS.join(", "))));
        }
        if let Some(c) = b.cpus {
            if !(c.is_finite() && c >= 0.01) {
                return Err(("boxes.cpus", format!("{c} for tier {}: must be at least 0.01", b.tier)));
            }
        }
        if b.memory_mib == Some(0) {
            return Err(("boxes.memory_mib", format!("0 for tier {}: must be at least 1", b.tier)));
        }
    }
    let count = |tier: &str| boxes.iter().filter(|b| b.tier == tier).map(|b| b.count).sum::<u32>();
    if topology.split_read_write && (count("app-read") == 0 || count("app-write") == 0) {
        return Err(("topology.split_read_write", "needs boxes of tiers app-read and app-write".into()));
    }
    if !topology.split_read_write && (count("app-read") > 0 || count("app-write") > 0) {
        return Err(("boxes.tier", "app-read/app-write boxes need topology.split_read_write = true".into()));
    }
    if count("db") > 1 && (count("db-standby") > 0 || count("db-replica") > 0) {
        return Err(("boxes.tier", "a sharded database (db count > 1) has no standby or replicas here".into()));
    }
    if topology.synchronous_standby && count("db-standby") == 0 {
        return Err(("topology.synchronous_standby", "needs a db-standby box".into()));
    }
    if count("db-standby") > 1 {
        return Err(("boxes.count", "at most one db-standby".into()));
    }
    if count("lb") > 1 {
        return Err(("boxes.count", "at most one lb".into()));
    }
    if let Some(a) = &topology.autoscaling {
        if a.min == 0 || a.min > a.max {
            return Err(("topology.autoscaling.min", format!("need 1 <= min ({}) <= max ({})", a.min, a.max)));
        }
        if !(a.target.is_finite() && a.target > 0.0) {
            return Err(("topology.autoscaling.target", "must be positive".into()));
        }
        // The pool that scales: `app`, or the read pool when reads and writes are split.
        let app = if topology.split_read_write { count("app-read") } else { count("app") };
        if app < a.min || app > a.max {
            return Err(("topology.autoscaling", format!("the app box count ({app}) must lie within min..=max")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Profile;

    fn parse(text: &str) -> Result<Profile, String> {
        Profile::parse(&format!("name = \"t\"\n{text}"), Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_shipped_profile_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = Profile::load(&entry.path()).unwrap_or_else(|e| panic!("{e}"));
            names.push(p.name);
        }
        names.sort();
        for stage in [
            "single-box",
            "users-plus",
            "users-plus-plus",
            "users-plus-plus-plus",
            "users-plus-plus-plus-plus",
            "users-plus-plus-plus-plus-plus",
        ] {
            assert!(names.iter().any(|n| n == stage), "no profile {stage} in {names:?}");
        }
    }

    #[test]
    fn unknown_tiers_and_topology_keys_are_rejected() {
        let err = parse("[[boxes]]\ntier = \"dbb\"\n").unwrap_err();
        assert!(err.contains("boxes.tier") && err.contains("dbb"), "{err}");
        let err = parse("[topology]\nsplit_reads = true\n").unwrap_err();
        assert!(err.contains("split_reads"), "{err}");
    }

    #[test]
    fn autoscaling_bounds_must_hold_the_app_count() {
        let text = "[[boxes]]\ntier = \"app\"\ncount = 5\n[topology.autoscaling]\nmin = 1\nmax = 4\n";
        let err = parse(text).unwrap_err();
        assert!(err.contains("topology.autoscaling"), "{err}");
        let ok = parse("[[boxes]]\ntier = \"app\"\ncount = 2\n[topology.autoscaling]\nmin = 1\nmax = 4\nscale_in_cooldown = \"90s\"\n").unwrap();
        let a = ok.topology.autoscaling.unwrap();
        assert_eq!((a.min, a.max, a.scale_in_cooldown.as_secs()), (1, 4, 90));
    }

    #[test]
    fn split_pools_and_synchronous_standby_need_their_boxes() {
        let err = parse("[topology]\nsplit_read_write = true\n[[boxes]]\ntier = \"app\"\n").unwrap_err();
        assert!(err.contains("split_read_write"), "{err}");
        let err = parse("[topology]\nsynchronous_standby = true\n[[boxes]]\ntier = \"db\"\n").unwrap_err();
        assert!(err.contains("synchronous_standby"), "{err}");
        let err = parse("[[boxes]]\ntier = \"app\"\ncpus = 0.0\n").unwrap_err();
        assert!(err.contains("boxes.cpus"), "{err}");
    }
}
