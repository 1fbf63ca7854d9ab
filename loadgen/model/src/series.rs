//! The timeline's series names, `<source>.<metric>[.<label>]`: the collectors write them and
//! the analysis, the charts and the loops read them, all through these constants (k6's
//! builtin metric names are the model). A family is a metric with one series per label
//! (a box tier, a pool): [`of`] names one of them, `<FAMILY>_PREFIX` is the family's prefix.

macro_rules! families {
    ($($(#[$doc:meta])* $name:ident, $prefix:ident = $text:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $text;
        #[doc = concat!("`", $text, ".`: the prefix of every series of the family.")]
        pub const $prefix: &str = concat!($text, ".");)*
    };
}

/// One series of a family: `of(HOST_CPU_CORES, "app")` is `host.cpu_cores.app`.
pub fn of(family: &str, label: &str) -> String {
    format!("{family}.{label}")
}

families! {
    /// Cores a box used (its processes' CPU time per second), per box tier.
    HOST_CPU_CORES, HOST_CPU_CORES_PREFIX = "host.cpu_cores";
    /// The box's CPU quota in cores, per box tier.
    HOST_CPU_QUOTA, HOST_CPU_QUOTA_PREFIX = "host.cpu_quota";
    /// CFS periods and throttled periods per second, and their ratio, per box tier.
    HOST_CPU_PERIODS, HOST_CPU_PERIODS_PREFIX = "host.cpu_periods";
    HOST_CPU_THROTTLED_PERIODS, HOST_CPU_THROTTLED_PERIODS_PREFIX = "host.cpu_throttled_periods";
    HOST_CPU_THROTTLED_SHARE, HOST_CPU_THROTTLED_SHARE_PREFIX = "host.cpu_throttled_share";
    /// Seconds the box was throttled, per second, per box tier.
    HOST_CPU_THROTTLED_S, HOST_CPU_THROTTLED_S_PREFIX = "host.cpu_throttled_s";
    /// Live processes, resident memory and disk bytes per second, per box tier.
    HOST_PROCESSES, HOST_PROCESSES_PREFIX = "host.processes";
    HOST_RSS_BYTES, HOST_RSS_BYTES_PREFIX = "host.rss_bytes";
    HOST_DISK_READ_BYTES, HOST_DISK_READ_BYTES_PREFIX = "host.disk_read_bytes";
    HOST_DISK_WRITE_BYTES, HOST_DISK_WRITE_BYTES_PREFIX = "host.disk_write_bytes";
    /// The service's own per-tier counters: calls, busy seconds per second, errors.
    SERVICE_TIER_CALLS, SERVICE_TIER_CALLS_PREFIX = "service.tier_calls";
    SERVICE_TIER_BUSY, SERVICE_TIER_BUSY_PREFIX = "service.tier_busy";
    SERVICE_TIER_ERRORS, SERVICE_TIER_ERRORS_PREFIX = "service.tier_errors";
    /// The service's connection pools: size, in use, callers waiting, per pool.
    SERVICE_POOL_MAX, SERVICE_POOL_MAX_PREFIX = "service.pool_max";
    SERVICE_POOL_IN_USE, SERVICE_POOL_IN_USE_PREFIX = "service.pool_in_use";
    SERVICE_POOL_WAITING, SERVICE_POOL_WAITING_PREFIX = "service.pool_waiting";
}

/// The machine's cores in use, its one-minute load, and the time the hypervisor gave to other
/// guests (`/proc/stat` steal) in cores and as a share of the machine.
pub const HOST_MACHINE_CPU_CORES: &str = "host.machine_cpu_cores";
pub const HOST_LOAD1: &str = "host.load1";
pub const HOST_STEAL_CORES: &str = "host.steal_cores";
pub const HOST_STEAL_SHARE: &str = "host.steal_share";

/// The service's `/metrics` (summed over its instances): requests, errors, load shed,
/// unavailable answers, degraded flag, cache hits and misses, the job queue.
pub const SERVICE_REQUESTS: &str = "service.requests";
pub const SERVICE_ERRORS: &str = "service.errors";
pub const SERVICE_SHED: &str = "service.shed";
pub const SERVICE_UNAVAILABLE: &str = "service.unavailable";
pub const SERVICE_DEGRADED: &str = "service.degraded";
pub const SERVICE_CACHE_HITS: &str = "service.cache_hits";
pub const SERVICE_CACHE_MISSES: &str = "service.cache_misses";
pub const SERVICE_JOBS_DONE: &str = "service.jobs_done";
pub const SERVICE_QUEUE_DEPTH: &str = "service.queue_depth";
pub const SERVICE_QUEUE_OLDEST_AGE_S: &str = "service.queue_oldest_age_s";

/// PostgreSQL's own counters (`pg_stat_*`), from the primary.
pub const POSTGRES_BACKENDS: &str = "postgres.backends";
pub const POSTGRES_ACTIVE_BACKENDS: &str = "postgres.active_backends";
pub const POSTGRES_LOCK_WAITING_BACKENDS: &str = "postgres.lock_waiting_backends";
pub const POSTGRES_XACTS: &str = "postgres.xacts";
pub const POSTGRES_BLOCKS_HIT: &str = "postgres.blocks_hit";
pub const POSTGRES_BLOCKS_READ: &str = "postgres.blocks_read";
pub const POSTGRES_CACHE_HIT_RATIO: &str = "postgres.cache_hit_ratio";
pub const POSTGRES_STANDBYS: &str = "postgres.standbys";
pub const POSTGRES_REPLICATION_LAG_BYTES: &str = "postgres.replication_lag_bytes";
/// 1 in a second the server did not answer its probe.
pub const POSTGRES_UNANSWERED: &str = "postgres.unanswered";

/// Redis's own `INFO`.
pub const REDIS_CPU_CORES: &str = "redis.cpu_cores";
pub const REDIS_OPS: &str = "redis.ops";
pub const REDIS_HITS: &str = "redis.hits";
pub const REDIS_MISSES: &str = "redis.misses";
pub const REDIS_EVICTIONS: &str = "redis.evictions";
pub const REDIS_CLIENTS: &str = "redis.clients";
pub const REDIS_BLOCKED_CLIENTS: &str = "redis.blocked_clients";
pub const REDIS_USED_MEMORY_BYTES: &str = "redis.used_memory_bytes";
pub const REDIS_UNANSWERED: &str = "redis.unanswered";

/// HAProxy's stats page (the frontend and its backend's servers).
pub const HAPROXY_SESSIONS: &str = "haproxy.sessions";
pub const HAPROXY_QUEUE: &str = "haproxy.queue";
pub const HAPROXY_ERRORS: &str = "haproxy.errors";
pub const HAPROXY_HTTP_5XX: &str = "haproxy.http_5xx";
pub const HAPROXY_RETRIES: &str = "haproxy.retries";
pub const HAPROXY_SERVER_CONNECTS: &str = "haproxy.server_connects";
pub const HAPROXY_SERVERS_UP: &str = "haproxy.servers_up";

/// The autoscaler: instances running and the CPU utilization it steers by.
pub const AUTOSCALE_INSTANCES: &str = "autoscale.instances";
pub const AUTOSCALE_CPU_UTILIZATION: &str = "autoscale.cpu_utilization";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_names_its_members_and_its_prefix() {
        assert_eq!(of(HOST_CPU_CORES, "app"), "host.cpu_cores.app");
        assert_eq!(HOST_CPU_CORES_PREFIX, "host.cpu_cores.");
        assert!(of(SERVICE_POOL_WAITING, "db_primary").starts_with(SERVICE_POOL_WAITING_PREFIX));
    }
}
