//! Every tier the timeline has figures for, each judged by its own resource first: the box
//! that serves it (its CPU against its quota, with CFS throttling), then the server's own
//! counters; what its callers see (pool waiters, time per call, queue age, HAProxy's queue
//! for a server) is added as symptoms (see `resource.rs`).

use super::{
    knee::RunSeries,
    resource::{analyse, flat, Resource, Signal, TierAnalysis},
    stats::{percentile, slope},
};
use loadgen_model::series;
use loadgen_model::timeline::Timeline;

pub use super::resource::BUSY;

/// Aligns a timeline series to the run's seconds (missing = None).
pub(crate) fn aligned(timeline: &Timeline, run: &RunSeries, name: &str) -> Vec<Option<f64>> {
    let Some(col) = timeline.series.get(name) else { return vec![None; run.len()] };
    run.t.iter().map(|t| timeline.t.iter().position(|x| x == t).and_then(|i| col.get(i).copied().flatten())).collect()
}

fn sum_prefix(timeline: &Timeline, run: &RunSeries, prefix: &str) -> Vec<Option<f64>> {
    let names: Vec<String> = timeline.names_with_prefix(prefix).map(str::to_owned).collect();
    if names.is_empty() {
        return vec![None; run.len()];
    }
    let cols: Vec<_> = names.iter().map(|n| aligned(timeline, run, n)).collect();
    (0..run.len())
        .map(|i| {
            let vals: Vec<f64> = cols.iter().filter_map(|c| c[i]).collect();
            (!vals.is_empty()).then(|| vals.iter().sum())
        })
        .collect()
}

/// Growth of a gauge per second over the second half of the run, as a per-second signal.
pub(crate) fn growth(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let known = flat(values);
    let half = &known[known.len() / 2..];
    let s = slope(half);
    values.iter().map(|v| v.map(|_| s)).collect()
}

/// Milliseconds per call of a tier each second, from the service's busy time and call count.
fn per_call_ms(tl: &Timeline, run: &RunSeries, tier: &str) -> Vec<Option<f64>> {
    let calls = aligned(tl, run, &series::of(series::SERVICE_TIER_CALLS, tier));
    let busy = aligned(tl, run, &series::of(series::SERVICE_TIER_BUSY, tier));
    busy.iter()
        .zip(&calls)
        .map(|(b, c)| match (b, c) {
            (Some(b), Some(c)) if *c > 0.0 => Some(b / c * 1000.0),
            _ => None,
        })
        .collect()
}

/// The quota in cores of box `tier`, if the timeline has that box.
fn quota(timeline: &Timeline, tier: &str) -> Option<f64> {
    timeline.boxes.iter().find(|b| b.tier == tier).map(|b| b.cpu_cores)
}

/// "app box" or "2 app boxes", as the evidence names it.
fn box_label(timeline: &Timeline, tier: &str) -> String {
    let n = timeline
        .boxes
        .iter()
        .find(|b| b.tier == tier)
        .map_or(1, |b| b.members.iter().filter(|m| m.starts_with("cgroup")).count().max(1));
    if n == 1 {
        format!("{tier} box")
    } else {
        format!("{n} {tier} boxes (quotas summed)")
    }
}

/// Box `tier`'s CPU against its quota, with its throttling, as the tier's own resource.
fn box_cpu<'a>(tl: &Timeline, run: &RunSeries, tier: &'a str, box_tier: &str) -> Option<Resource<'a>> {
    let k = quota(tl, box_tier)?;
    let throttled_name = series::of(series::HOST_CPU_THROTTLED_SHARE, box_tier);
    Some(Resource {
        tier,
        unit: "cores",
        busy: aligned(tl, run, &series::of(series::HOST_CPU_CORES, box_tier)),
        capacity: k,
        available: None,
        throttled: tl.series.contains_key(&throttled_name).then(|| aligned(tl, run, &throttled_name)),
        own_side: true,
        label: box_label(tl, box_tier),
    })
}

/// What callers of a pooled tier see: busy time against the pool's connections.
fn pool_view<'a>(tl: &Timeline, run: &RunSeries, tier: &'a str, pool_max: f64) -> Resource<'a> {
    Resource {
        tier,
        unit: "connections",
        busy: aligned(tl, run, &series::of(series::SERVICE_TIER_BUSY, tier)),
        capacity: pool_max,
        available: None,
        throttled: None,
        own_side: false,
        label: format!("the service's {tier} pool"),
    }
}

fn pool_max(tl: &Timeline, prefix: &str) -> f64 {
    tl.names_with_prefix(series::SERVICE_POOL_MAX_PREFIX)
        .filter(|n| n[series::SERVICE_POOL_MAX_PREFIX.len()..].starts_with(prefix))
        .map(|n| percentile(&tl.values(n), 0.5))
        .sum()
}

/// Every tier the timeline has figures for.
pub fn analyse_tiers(run: &RunSeries, tl: &Timeline) -> Vec<TierAnalysis> {
    let mut out = Vec::new();
    out.extend(generator_and_app(run, tl));
    out.extend(machine(run, tl));
    out.extend(databases(run, tl));
    out.extend(cache(run, tl));
    // Load balancer: its own box's CPU; failed connections to its servers are a symptom.
    if let Some(lb) = box_cpu(tl, run, "lb", "lb") {
        let errors = Signal::symptom(
            series::HAPROXY_ERRORS,
            aligned(tl, run, series::HAPROXY_ERRORS),
            1.0,
            "connection or response errors between the load balancer and its servers",
        );
        out.extend(analyse(run, lb, vec![errors]));
    }
    // Object store: no pool to fill; its own answer time per call (a slow store dominates).
    let in_flight_cap = 1.0_f64.max(percentile(&flat(&sum_prefix(tl, run, series::SERVICE_POOL_MAX_PREFIX)), 0.5));
    let store = Resource {
        unit: "calls in flight",
        capacity: in_flight_cap,
        label: "object-store calls".into(),
        ..pool_view(tl, run, "object_store", in_flight_cap)
    };
    let slow = Signal::own(
        "object_store ms per call",
        per_call_ms(tl, run, "object_store"),
        20.0,
        "object-store calls slower than 20 ms",
    );
    out.extend(analyse(run, store, vec![slow]));
    out.extend(queue(run, tl));
    out
}

/// The generator's and the app's CPU: boxes of this machine. Users+++++ splits the API into
/// a read pool and a write pool, each a box tier of its own: each is judged on its own quota
/// (summed into one app tier, a write pool at its limit would hide behind an idle read pool).
fn generator_and_app(run: &RunSeries, tl: &Timeline) -> Vec<TierAnalysis> {
    let mut out = Vec::new();
    for tier in ["generator", "app", "app-read", "app-write"] {
        let Some(mut r) = box_cpu(tl, run, tier, tier) else { continue };
        let k = r.capacity;
        // An app without a quota of its own shares the machine with the generator: what it can
        // use each second is the machine's cores less the generator's. (Other processes are
        // not subtracted: under CFS a light app still gets the CPU it asks for.) An app in a
        // cgroup of its own has its quota whatever the generator's box happens to equal.
        let shares_machine = !app_in_a_cgroup(tl)
            && tl
                .boxes
                .iter()
                .filter(|b| b.tier == "generator" || b.tier == "app")
                .all(|b| (b.cpu_cores - k).abs() < 1e-9);
        if tier == "app" && shares_machine {
            r.available = Some(
                aligned(tl, run, &series::of(series::HOST_CPU_CORES, loadgen_model::stages::GENERATOR_TIER))
                    .iter()
                    .map(|g| Some(k - g.unwrap_or(0.0)))
                    .collect(),
            );
            r.label = "app (sharing the machine with the generator)".into();
        }
        let mut signals = Vec::new();
        if tier != "generator" {
            signals.push(Signal::symptom(
                series::SERVICE_SHED,
                aligned(tl, run, series::SERVICE_SHED),
                1.0,
                "requests shed at the in-flight cap (503)",
            ));
            // HAProxy queues a request when every app server has its fill: the app tier is
            // slow or full, whatever the reason.
            signals.push(Signal::symptom(
                series::HAPROXY_QUEUE,
                aligned(tl, run, series::HAPROXY_QUEUE),
                1.0,
                "requests queued at the load balancer for a free app server",
            ));
        }
        out.extend(analyse(run, r, signals));
    }
    out
}

/// Whether the app tier runs in cgroups of its own (a launched stage), so that its quota is
/// its own whatever it happens to equal.
fn app_in_a_cgroup(tl: &Timeline) -> bool {
    tl.boxes.iter().any(|b| b.tier == "app" && b.members.iter().any(|m| m.starts_with("cgroup ")))
}

/// The machine, when the app shares it with the generator (the embedded target): its cores
/// bound the headroom, and its run queue is its own evidence, never on its own the app's.
fn machine(run: &RunSeries, tl: &Timeline) -> Option<TierAnalysis> {
    let app = quota(tl, "app")?;
    let cores = tl.boxes.iter().map(|b| b.cpu_cores).fold(0.0, f64::max);
    // A launched stage's app tier can be its largest box without sharing anything (walk9:
    // Users++++'s two 0.375-core app boxes were taken for a 0.75-core machine).
    if (app - cores).abs() > 1e-9 || app_in_a_cgroup(tl) {
        return None;
    }
    let run_queue = Signal::own(
        series::HOST_LOAD1,
        aligned(tl, run, series::HOST_LOAD1),
        cores * 1.5,
        "run queue longer than the cores",
    );
    let r = Resource {
        tier: "machine",
        unit: "cores",
        busy: aligned(tl, run, series::HOST_MACHINE_CPU_CORES),
        capacity: cores,
        available: None,
        throttled: None,
        own_side: true,
        label: "the machine".into(),
    };
    analyse(run, r, vec![run_queue])
}

/// The database primary and the read replicas.
fn databases(run: &RunSeries, tl: &Timeline) -> Vec<TierAnalysis> {
    let mut out = Vec::new();
    let k = pool_max(tl, "db_primary");
    if k > 0.0 || quota(tl, "db").is_some() {
        let signals = vec![
            Signal::own(
                series::POSTGRES_LOCK_WAITING_BACKENDS,
                aligned(tl, run, series::POSTGRES_LOCK_WAITING_BACKENDS),
                1.0,
                "backends waiting on locks (the server's own view)",
            ),
            Signal::own(
                series::POSTGRES_UNANSWERED,
                aligned(tl, run, series::POSTGRES_UNANSWERED),
                1.0,
                "PostgreSQL did not answer its own statistics query within 500 ms",
            ),
            Signal::symptom(
                "service.pool_waiting.db_primary",
                sum_prefix(tl, run, &series::of(series::SERVICE_POOL_WAITING, "db_primary")),
                2.0,
                "callers waiting for a database connection",
            ),
        ];
        let r = box_cpu(tl, run, "db_primary", "db").unwrap_or_else(|| pool_view(tl, run, "db_primary", k.max(1.0)));
        out.extend(analyse(run, r, signals));
    }
    let k = pool_max(tl, "db_replica");
    if k > 0.0 || quota(tl, "db-replica").is_some() {
        let signals = vec![
            Signal::own(
                series::POSTGRES_REPLICATION_LAG_BYTES,
                aligned(tl, run, series::POSTGRES_REPLICATION_LAG_BYTES),
                16.0 * 1024.0 * 1024.0,
                "replicas behind the primary",
            ),
            Signal::symptom(
                "service.pool_waiting.db_replica",
                sum_prefix(tl, run, &series::of(series::SERVICE_POOL_WAITING, "db_replica")),
                2.0,
                "callers waiting for a replica connection",
            ),
        ];
        let r = box_cpu(tl, run, "db_replica", "db-replica")
            .unwrap_or_else(|| pool_view(tl, run, "db_replica", k.max(1.0)));
        out.extend(analyse(run, r, signals));
    }
    out
}

/// The cache: Redis runs commands on one thread, so its CPU in cores is its utilization.
fn cache(run: &RunSeries, tl: &Timeline) -> Option<TierAnalysis> {
    let redis = tl.series.contains_key(series::REDIS_CPU_CORES) || tl.series.contains_key(series::REDIS_UNANSWERED);
    let calls = tl.values(&series::of(series::SERVICE_TIER_CALLS, "cache")).iter().any(|c| *c > 0.0);
    if !redis && !calls {
        return None;
    }
    let signals = vec![
        Signal::own(
            series::REDIS_EVICTIONS,
            aligned(tl, run, series::REDIS_EVICTIONS),
            1.0,
            "entries evicted for memory",
        ),
        Signal::own(
            series::REDIS_UNANSWERED,
            aligned(tl, run, series::REDIS_UNANSWERED),
            1.0,
            "Redis did not answer INFO within 500 ms",
        ),
        Signal::symptom(
            "service.tier_errors.cache",
            aligned(tl, run, &series::of(series::SERVICE_TIER_ERRORS, "cache")),
            1.0,
            "cache calls failing or timing out",
        ),
        // A cache answers in well under a millisecond on a LAN; calls taking several are
        // queueing somewhere: at a busy server, or in a CPU-starved caller.
        Signal::symptom("cache ms per call", per_call_ms(tl, run, "cache"), 5.0, "cache calls slower than 5 ms"),
    ];
    let r = if redis {
        // One command thread: capacity is one core, or the cache box's quota if smaller.
        let k = quota(tl, "cache").unwrap_or(1.0).min(1.0);
        let throttled = tl
            .series
            .contains_key(&series::of(series::HOST_CPU_THROTTLED_SHARE, "cache"))
            .then(|| aligned(tl, run, &series::of(series::HOST_CPU_THROTTLED_SHARE, "cache")));
        let label = if quota(tl, "cache").is_some() {
            box_label(tl, "cache")
        } else {
            "redis-server (one command thread)".into()
        };
        Resource {
            tier: "cache",
            unit: "cores",
            busy: aligned(tl, run, series::REDIS_CPU_CORES),
            capacity: k,
            available: None,
            throttled,
            own_side: true,
            label,
        }
    } else {
        let k = tl.boxes.iter().map(|b| b.cpu_cores).fold(1.0, f64::max);
        Resource { unit: "calls in flight", label: "in-process cache calls".into(), ..pool_view(tl, run, "cache", k) }
    };
    analyse(run, r, signals)
}

/// Queue and workers: a backlog that keeps growing means the workers cannot keep up. The
/// backlog is the job table's own count; the oldest job's age is what a reader waits.
fn queue(run: &RunSeries, tl: &Timeline) -> Option<TierAnalysis> {
    let depth = aligned(tl, run, series::SERVICE_QUEUE_DEPTH);
    if !depth.iter().any(Option::is_some) {
        return None;
    }
    let signals = vec![
        Signal::own("service.queue_depth growth /s", growth(&depth), 1.0, "backlog growing: workers cannot keep up"),
        Signal::symptom(
            series::SERVICE_QUEUE_OLDEST_AGE_S,
            aligned(tl, run, series::SERVICE_QUEUE_OLDEST_AGE_S),
            5.0,
            "oldest job waiting (worker lag)",
        ),
    ];
    let r = box_cpu(tl, run, "queue", "worker").unwrap_or(Resource {
        tier: "queue",
        unit: "jobs/s",
        busy: vec![None; run.len()],
        capacity: 1.0,
        available: None,
        throttled: None,
        own_side: false,
        label: "the job queue".into(),
    });
    analyse(run, r, signals)
}
