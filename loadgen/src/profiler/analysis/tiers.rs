//! Per-tier figures by the utilization law and the USE method: for each tier, its busy series
//! and capacity K give utilization U(t) = busy / K; demand D = Σbusy / Σcompleted (seconds of
//! the tier per request); ceiling X_max = K / D. Saturation signals (pool waiters, queue
//! growth, replica lag, evictions, run queue, shed requests) are judged per second and their
//! p95, not run means. Each tier also gets the second its saturation started (its onset).

use super::{knee::RunSeries, stats::{percentile, slope}};
use crate::profiler::{Evidence, TierFigures, Timeline};

/// Utilization at or above this is "busy" (USE: ~80%).
pub const BUSY: f64 = 0.8;

/// A tier's analysis plus when it first looked saturated.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAnalysis {
    pub figures: TierFigures,
    pub evidence: Vec<Evidence>,
    /// First second with U ≥ BUSY or a saturation signal.
    pub onset: Option<u64>,
    pub saturated: bool,
}

/// Aligns a timeline series to the run's seconds (missing = None).
pub(super) fn aligned(timeline: &Timeline, run: &RunSeries, name: &str) -> Vec<Option<f64>> {
    let Some(col) = timeline.series.get(name) else { return vec![None; run.len()] };
    run.t
        .iter()
        .map(|t| timeline.t.iter().position(|x| x == t).and_then(|i| col.get(i).copied().flatten()))
        .collect()
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

pub(super) fn flat(v: &[Option<f64>]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

/// A busy series against a capacity: figures, onset and evidence.
pub(super) struct Resource<'a> {
    pub tier: &'a str,
    pub unit: &'a str,
    pub busy: Vec<Option<f64>>,
    pub capacity: f64,
    /// Capacity actually available each second when it is shared (else `capacity`).
    pub available: Option<Vec<Option<f64>>>,
}

/// A saturation signal: a per-second series and the level that counts as saturated.
pub(super) struct Signal {
    pub metric: String,
    pub values: Vec<Option<f64>>,
    pub threshold: f64,
    pub note: String,
    /// Saturated when the value falls to the threshold or under it (e.g. CPU credits left),
    /// judged on the 5th percentile instead of the 95th.
    pub below: bool,
}

impl Signal {
    fn fires(&self, v: f64) -> bool {
        if self.below { v <= self.threshold } else { v >= self.threshold }
    }
}

pub(super) fn analyse(run: &RunSeries, r: Resource<'_>, signals: Vec<Signal>) -> Option<TierAnalysis> {
    let busy_known = r.busy.iter().any(Option::is_some);
    if !busy_known && signals.iter().all(|s| s.values.iter().all(Option::is_none)) {
        return None;
    }
    let k = r.capacity.max(1e-9);
    // Time spent waiting for the resource is counted in its callers' busy time; past the
    // capacity that is queueing, not work, so busy is capped at the capacity (at saturation
    // the demand law then gives X_max = the throughput achieved there).
    let busy_capped: Vec<Option<f64>> = r.busy.iter().map(|b| b.map(|b| b.min(k))).collect();
    let r = Resource { busy: busy_capped, ..r };
    let util: Vec<Option<f64>> = r
        .busy
        .iter()
        .enumerate()
        .map(|(i, b)| {
            // A shared capacity (cores the generator leaves) is floored so a busy generator
            // does not divide by ~0; a box's own capacity (a quota) is taken as it is.
            let cap = r.available.as_ref().and_then(|a| a[i]).map_or(k, |a| a.max(0.05));
            b.map(|b| b / cap)
        })
        .collect();
    let u_p95 = percentile(&flat(&util), 0.95);
    let (busy_sum, done_sum) = r.busy.iter().zip(&run.achieved).fold((0.0, 0.0), |(b, d), (x, a)| match x {
        Some(x) => (b + x, d + a),
        None => (b, d),
    });
    let demand = if done_sum > 0.0 { busy_sum / done_sum } else { 0.0 };
    let mut evidence = Vec::new();
    let mut onset: Option<u64> = None;
    let mut note_onset = |t: u64| onset = Some(onset.map_or(t, |o: u64| o.min(t)));
    if let Some(i) = util.iter().position(|u| u.is_some_and(|u| u >= BUSY)) {
        note_onset(run.t[i]);
    }
    let mut saturation = Vec::new();
    let busy_window = window_of(run, &util, BUSY);
    if u_p95 >= BUSY {
        evidence.push(Evidence {
            tier: r.tier.into(),
            metric: format!("utilization ({})", r.unit),
            value: round3(u_p95),
            threshold: BUSY,
            window: busy_window,
            note: format!("p95 of busy / capacity {k:.2} {}", r.unit),
        });
    }
    for s in signals {
        let (q, label) = if s.below { (0.05, "p5") } else { (0.95, "p95") };
        let known = flat(&s.values);
        let typical = percentile(&known, q);
        if !known.is_empty() && s.fires(typical) {
            if let Some(i) = s.values.iter().position(|v| v.is_some_and(|v| s.fires(v))) {
                note_onset(run.t[i]);
            }
            saturation.push(format!("{} {label} = {}", s.metric, round3(typical)));
            let fired: Vec<Option<f64>> = s.values.iter().map(|v| v.map(|v| if s.fires(v) { 1.0 } else { 0.0 })).collect();
            evidence.push(Evidence {
                tier: r.tier.into(),
                metric: s.metric.clone(),
                value: round3(typical),
                threshold: s.threshold,
                window: window_of(run, &fired, 1.0),
                note: s.note.clone(),
            });
        }
    }
    let saturated = u_p95 >= BUSY || !saturation.is_empty();
    Some(TierAnalysis {
        figures: TierFigures {
            tier: r.tier.into(),
            capacity: round3(k),
            unit: r.unit.into(),
            utilization_p95: round3(u_p95),
            demand_s: demand,
            ceiling_rps: (demand > 0.0).then(|| (k / demand).round()),
            saturation,
        },
        evidence,
        onset: if saturated { onset } else { None },
        saturated,
    })
}

/// `[first, last]` second where `values` ≥ `level`, or the whole run when never.
fn window_of(run: &RunSeries, values: &[Option<f64>], level: f64) -> [u64; 2] {
    let hits: Vec<u64> = values.iter().zip(&run.t).filter(|(v, _)| v.is_some_and(|v| v >= level)).map(|(_, t)| *t).collect();
    match (hits.first(), hits.last()) {
        (Some(a), Some(b)) => [*a, *b],
        _ => [run.t.first().copied().unwrap_or(0), run.t.last().copied().unwrap_or(0)],
    }
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn quota(timeline: &Timeline, tier: &str) -> Option<f64> {
    timeline.boxes.iter().find(|b| b.tier == tier).map(|b| b.cpu_cores)
}

/// Growth of a gauge per second over the second half of the run, as a per-second signal.
pub(super) fn growth(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let known = flat(values);
    let half = &known[known.len() / 2..];
    let s = slope(half);
    values.iter().map(|v| v.map(|_| s)).collect()
}

/// Milliseconds per call of a tier each second, from the service's busy time and call count.
fn per_call_ms(tl: &Timeline, run: &RunSeries, tier: &str) -> Vec<Option<f64>> {
    let calls = aligned(tl, run, &format!("service.tier_calls.{tier}"));
    let busy = aligned(tl, run, &format!("service.tier_busy.{tier}"));
    busy.iter().zip(&calls).map(|(b, c)| match (b, c) {
        (Some(b), Some(c)) if *c > 0.0 => Some(b / c * 1000.0),
        _ => None,
    }).collect()
}

/// Every tier the timeline has figures for.
pub fn analyse_tiers(run: &RunSeries, tl: &Timeline) -> Vec<TierAnalysis> {
    let mut out = Vec::new();
    let pools = |prefix: &str| {
        let max: f64 = tl.names_with_prefix("service.pool_max.").filter(|n| n["service.pool_max.".len()..].starts_with(prefix))
            .map(|n| percentile(&tl.values(n), 0.5)).sum();
        max
    };
    let sig = |metric: &str, values: Vec<Option<f64>>, threshold: f64, note: &'static str| Signal { metric: metric.into(), values, threshold, note: note.into(), below: false };

    // Generator and app CPU: boxes of this machine.
    for (tier, label) in [("generator", "generator"), ("app", "app")] {
        let Some(k) = quota(tl, tier) else { continue };
        let mut signals = Vec::new();
        // An app box without its own quota shares the machine with the generator: what it can
        // use each second is the machine's cores less the generator's. (Other processes on a
        // shared machine are not subtracted: under CFS a light app still gets the CPU it asks
        // for, and counting a neighbour's compile as the app's saturation would name the app
        // on a healthy run.)
        let shares_machine = tl.boxes.iter().filter(|b| b.tier == "generator" || b.tier == "app").all(|b| (b.cpu_cores - k).abs() < 1e-9);
        let available = (tier == "app" && shares_machine).then(|| {
            aligned(tl, run, "host.cpu_cores.generator").iter().map(|g| Some(k - g.unwrap_or(0.0))).collect()
        });
        if tier == "app" {
            signals.push(sig("service.shed", aligned(tl, run, "service.shed"), 1.0, "requests shed at the in-flight cap (503)"));
        }
        out.extend(analyse(run, Resource { tier: label, unit: "cores", busy: aligned(tl, run, &format!("host.cpu_cores.{tier}")), capacity: k, available }, signals));
    }
    // The machine: boxes without a quota share its cores (the embedded target shares them
    // with the generator), so it bounds the headroom even when no single box is busy.
    if tl.boxes.iter().any(|b| b.tier == "app") {
        let cores = tl.boxes.iter().map(|b| b.cpu_cores).fold(0.0, f64::max);
        // The run queue is the machine's: other work on a shared machine lengthens it too, so
        // it is evidence about the machine, never on its own about the app.
        let run_queue = sig("host.load1", aligned(tl, run, "host.load1"), cores * 1.5, "run queue longer than the cores");
        out.extend(analyse(run, Resource { tier: "machine", unit: "cores", busy: aligned(tl, run, "host.machine_cpu_cores"), capacity: cores, available: None }, vec![run_queue]));
    }
    // Database primary: its pools (calls in flight vs connections), or its box's CPU.
    let k = pools("db_primary");
    if k > 0.0 {
        let waiting = sum_prefix(tl, run, "service.pool_waiting.db_primary");
        let mut signals = vec![sig("service.pool_waiting.db_primary", waiting, 2.0, "callers waiting for a database connection")];
        signals.push(sig("postgres.lock_waiting_backends", aligned(tl, run, "postgres.lock_waiting_backends"), 1.0, "backends waiting on locks"));
        if let Some(db_k) = quota(tl, "db") {
            let cpu: Vec<Option<f64>> = aligned(tl, run, "host.cpu_cores.db").iter().map(|c| c.map(|c| c / db_k)).collect();
            signals.push(sig("host.cpu_cores.db / quota", cpu, BUSY, "database box CPU"));
        }
        out.extend(analyse(run, Resource { tier: "db_primary", unit: "connections", busy: aligned(tl, run, "service.tier_busy.db_primary"), capacity: k, available: None }, signals));
    }
    let k = pools("db_replica");
    if k > 0.0 {
        let signals = vec![
            sig("service.pool_waiting.db_replica", sum_prefix(tl, run, "service.pool_waiting.db_replica"), 2.0, "callers waiting for a replica connection"),
            sig("postgres.replication_lag_bytes", aligned(tl, run, "postgres.replication_lag_bytes"), 16.0 * 1024.0 * 1024.0, "replicas behind the primary"),
        ];
        out.extend(analyse(run, Resource { tier: "db_replica", unit: "connections", busy: aligned(tl, run, "service.tier_busy.db_replica"), capacity: k, available: None }, signals));
    }
    // Cache: Redis runs commands on one thread, so its CPU in cores is its utilization.
    if tl.series.contains_key("redis.cpu_cores") || tl.series.contains_key("service.tier_calls.cache") {
        let signals = vec![
            sig("redis.evictions", aligned(tl, run, "redis.evictions"), 1.0, "entries evicted for memory"),
            sig("service.tier_errors.cache", aligned(tl, run, "service.tier_errors.cache"), 1.0, "cache calls failing or timing out"),
            // A cache answers in well under a millisecond on a LAN; calls taking several are
            // queueing behind a busy (or throttled) server.
            sig("cache ms per call", per_call_ms(tl, run, "cache"), 5.0, "cache calls slower than 5 ms: queueing at the cache"),
        ];
        let (busy, k, unit) = if tl.series.contains_key("redis.cpu_cores") {
            // One command thread: capacity is one core, or the cache box's quota if smaller.
            (aligned(tl, run, "redis.cpu_cores"), quota(tl, "cache").unwrap_or(1.0).min(1.0), "cores")
        } else {
            (aligned(tl, run, "service.tier_busy.cache"), tl.boxes.iter().map(|b| b.cpu_cores).fold(1.0, f64::max), "calls in flight")
        };
        if tl.values("service.tier_calls.cache").iter().any(|c| *c > 0.0) || tl.series.contains_key("redis.cpu_cores") {
            out.extend(analyse(run, Resource { tier: "cache", unit, busy, capacity: k, available: None }, signals));
        }
    }
    // Load balancer (HAProxy): its own box's CPU, requests queued for a server, failed
    // connections to the servers.
    if tl.series.contains_key("haproxy.queue") {
        let signals = vec![
            sig("haproxy.queue", aligned(tl, run, "haproxy.queue"), 1.0, "requests queued at the load balancer for a free server"),
            sig("haproxy.errors", aligned(tl, run, "haproxy.errors"), 1.0, "connection or response errors between the load balancer and its servers"),
        ];
        let k = quota(tl, "lb").unwrap_or(1.0);
        out.extend(analyse(run, Resource { tier: "lb", unit: "cores", busy: aligned(tl, run, "host.cpu_cores.lb"), capacity: k, available: None }, signals));
    }
    // Object store: no pool to fill; judge its time per call (a slow store dominates latency).
    let busy = aligned(tl, run, "service.tier_busy.object_store");
    let in_flight_cap = 1.0_f64.max(percentile(&flat(&sum_prefix(tl, run, "service.pool_max.")), 0.5));
    out.extend(analyse(run, Resource { tier: "object_store", unit: "calls in flight", busy, capacity: in_flight_cap, available: None },
        vec![sig("object_store ms per call", per_call_ms(tl, run, "object_store"), 20.0, "object-store calls slower than 20 ms")]));
    // Queue and workers: a backlog that keeps growing means the workers cannot keep up.
    let depth = aligned(tl, run, "service.queue_depth");
    if depth.iter().any(Option::is_some) {
        let signals = vec![
            sig("service.queue_depth growth /s", growth(&depth), 1.0, "backlog growing: workers cannot keep up"),
            sig("service.queue_oldest_age_s", aligned(tl, run, "service.queue_oldest_age_s"), 5.0, "oldest job waiting (worker lag)"),
        ];
        out.extend(analyse(run, Resource { tier: "queue", unit: "jobs/s", busy: vec![None; run.len()], capacity: 1.0, available: None }, signals));
    }
    out
}
