//! One tier judged by the utilization law and the USE method: its busy series against its
//! capacity K gives utilization U(t) = busy / K; demand D = Σbusy / Σcompleted (seconds of the
//! tier per request); ceiling X_max = K / D. Saturation signals are judged per second, on
//! their p95 (p5 for floors), and count only when they persist.
//!
//! Where a figure comes from matters as much as its value. A tier's **own side** is the
//! resource that serves it: its box's CPU against the box's quota (with the CFS periods in
//! which the quota ran out), or the server's own counters (PostgreSQL's lock waiters, Redis's
//! evictions or silence, the job table's backlog). A **symptom** is what a caller sees while
//! it waits: pool waiters, connections in use, time per cache call, HAProxy's queue for a
//! server. Symptoms point somewhere, but a CPU-starved caller produces them itself (it holds
//! its connections longer), so they never outvote a resource at its limit.

use super::{knee::RunSeries, stats::percentile};
use loadgen_model::timeline::{Evidence, TierFigures};

/// Utilization at or above this is "busy" (USE: ~80%).
pub const BUSY: f64 = 0.8;

/// Seconds a signal (or utilization over [`BUSY`]) must be seen before it counts: a single
/// second's blip is not saturation.
pub const PERSIST_S: usize = 3;

/// A tier's analysis plus when it first looked saturated.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAnalysis {
    pub figures: TierFigures,
    pub evidence: Vec<Evidence>,
    /// First second with U ≥ BUSY or a saturation signal.
    pub onset: Option<u64>,
    /// Some persistent signal or utilization over its line, from either side.
    pub saturated: bool,
    /// The tier's own resource was at its limit (own-side utilization or an own-side signal).
    pub resource_bound: bool,
    /// How close the own resource came to its limit: own-side U (p95), or 1 for an own-side
    /// signal past its line. Ranks resource-bound tiers (the utilization law: largest D/K).
    pub score: f64,
    /// Own-side utilization each second (empty when the tier has no own-side figure), for
    /// ranking tiers over the part of the run past the knee.
    pub own_utilization: Vec<Option<f64>>,
    /// 1 in the seconds a persistent own-side signal fired, else 0 (empty when none did).
    pub own_signal_seconds: Vec<Option<f64>>,
}

impl TierAnalysis {
    /// How much of the overloaded part of the run (the seconds from `from` on) the tier's own
    /// resource spent at its limit: its mean own-side utilization there, or the share of
    /// those seconds an own-side signal fired, whichever is larger.
    pub fn load_from(&self, t: &[u64], from: u64) -> f64 {
        let mean = |series: &[Option<f64>]| {
            let known: Vec<f64> = t.iter().zip(series).filter(|(s, _)| **s >= from).filter_map(|(_, v)| *v).collect();
            (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
        };
        match (mean(&self.own_utilization), mean(&self.own_signal_seconds)) {
            (None, None) => self.score,
            (a, b) => a.unwrap_or(0.0).max(b.unwrap_or(0.0)),
        }
    }
}

/// A busy series against a capacity: figures, onset and evidence.
pub(crate) struct Resource<'a> {
    pub tier: &'a str,
    pub unit: &'a str,
    pub busy: Vec<Option<f64>>,
    pub capacity: f64,
    /// Capacity actually available each second when it is shared (else `capacity`).
    pub available: Option<Vec<Option<f64>>>,
    /// Share of CFS periods in which the box's quota ran out, per second, when it has one.
    /// Evidence of saturation beside the utilization, not a utilization of its own: with a
    /// short period and a quota smaller than the kernel's bandwidth slice, a box of several
    /// threads is throttled in most periods well before it uses its whole quota.
    pub throttled: Option<Vec<Option<f64>>>,
    /// Whether `busy / capacity` is the resource's own side (a box's CPU) or what callers
    /// see of it (connections in use).
    pub own_side: bool,
    /// What the box is, for the evidence ("app box", "2 app boxes").
    pub label: String,
}

/// A saturation signal: a per-second series and the level that counts as saturated.
pub(crate) struct Signal {
    pub metric: String,
    pub values: Vec<Option<f64>>,
    pub threshold: f64,
    pub note: String,
    /// Saturated when the value falls to the threshold or under it (e.g. CPU credits left),
    /// judged on the 5th percentile instead of the 95th.
    pub below: bool,
    /// Seen from a caller's side: evidence, never on its own a resource at its limit.
    pub symptom: bool,
}

impl Signal {
    /// A signal from the resource's own side.
    pub fn own(metric: &str, values: Vec<Option<f64>>, threshold: f64, note: &str) -> Self {
        Self { metric: metric.into(), values, threshold, note: note.into(), below: false, symptom: false }
    }

    /// A signal seen by the resource's callers.
    pub fn symptom(metric: &str, values: Vec<Option<f64>>, threshold: f64, note: &str) -> Self {
        Self { symptom: true, ..Self::own(metric, values, threshold, note) }
    }

    fn fires(&self, v: f64) -> bool {
        if self.below {
            v <= self.threshold
        } else {
            v >= self.threshold
        }
    }
}

pub(crate) fn flat(v: &[Option<f64>]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A number of cores as boxes are sized (units of 1/16 core): up to four decimals, trailing
/// zeros dropped — "0.125", "0.0625", "1.5" (two decimals would print a 0.125-core quota as
/// "0.12", below the 0.125 cores it is seen using).
pub fn cores_text(x: f64) -> String {
    let text = format!("{x:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Seconds needed to call something persistent in a run of `n` seconds (short runs need
/// fewer, never less than two).
fn persist_needed(n: usize) -> usize {
    PERSIST_S.min((n / 3).max(2))
}

pub(crate) fn analyse(run: &RunSeries, r: Resource<'_>, signals: Vec<Signal>) -> Option<TierAnalysis> {
    let busy_known = r.busy.iter().any(Option::is_some);
    if !busy_known && signals.iter().all(|s| s.values.iter().all(Option::is_none)) {
        return None;
    }
    let need = persist_needed(run.len());
    let k = r.capacity.max(1e-9);
    // Time spent waiting for the resource is counted in its callers' busy time; past the
    // capacity that is queueing, not work, so busy is capped at the capacity (at saturation
    // the demand law then gives X_max = the throughput achieved there).
    let busy: Vec<Option<f64>> = r.busy.iter().map(|b| b.map(|b| b.min(k))).collect();
    let util: Vec<Option<f64>> = busy
        .iter()
        .enumerate()
        .map(|(i, b)| {
            // A shared capacity (cores the generator leaves) is floored so a busy generator
            // does not divide by ~0; a box's own capacity (a quota) is taken as it is.
            let cap = r.available.as_ref().and_then(|a| a[i]).map_or(k, |a| a.max(0.05));
            b.map(|b| (b / cap).min(1.0))
        })
        .collect();
    let u_p95 = percentile(&flat(&util), 0.95);
    let (busy_sum, done_sum) = busy.iter().zip(&run.achieved).fold((0.0, 0.0), |(b, d), (x, a)| match x {
        Some(x) => (b + x, d + a),
        None => (b, d),
    });
    let demand = if done_sum > 0.0 { busy_sum / done_sum } else { 0.0 };
    let mut evidence = Vec::new();
    let mut onset: Option<u64> = None;
    let mut note_onset = |t: u64| onset = Some(onset.map_or(t, |o: u64| o.min(t)));
    let busy_seconds = util.iter().filter(|u| u.is_some_and(|u| u >= BUSY)).count();
    let util_persistent = u_p95 >= BUSY && busy_seconds >= need;
    if util_persistent {
        // The longest run of busy seconds: a few busy seconds early on (workers catching up on
        // the preload's jobs) are not where the box ran out.
        let (first, last) = longest_run(&util, BUSY);
        note_onset(run.t[first]);
        evidence.push(Evidence {
            tier: r.tier.into(),
            metric: format!("utilization ({})", r.unit),
            value: round3(u_p95),
            threshold: BUSY,
            window: [run.t[first], run.t[last]],
            note: utilization_note(&r, &busy, k),
        });
    }
    let judged = judge_signals(run, r.tier, signals, need);
    if let Some(t) = judged.onset {
        note_onset(t);
    }
    evidence.extend(judged.evidence.iter().cloned());
    let (saturation, own_signal) = (judged.saturation.clone(), judged.own_signal);
    let resource_bound = (util_persistent && r.own_side) || own_signal;
    let saturated = util_persistent || !saturation.is_empty();
    let score = if own_signal {
        1.0
    } else if r.own_side {
        u_p95
    } else {
        0.0
    };
    let own_utilization = if r.own_side { util.clone() } else { Vec::new() };
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
        resource_bound,
        score: round3(score),
        own_utilization,
        own_signal_seconds: judged.own_seconds,
    })
}

/// What a tier's signals showed: the ones that persisted past their line.
struct JudgedSignals {
    saturation: Vec<String>,
    evidence: Vec<Evidence>,
    /// Some own-side signal persisted.
    own_signal: bool,
    /// 1 in the seconds a persistent own-side signal fired (empty when none did).
    own_seconds: Vec<Option<f64>>,
    onset: Option<u64>,
}

fn judge_signals(run: &RunSeries, tier: &str, signals: Vec<Signal>, need: usize) -> JudgedSignals {
    let mut out = JudgedSignals {
        saturation: Vec::new(),
        evidence: Vec::new(),
        own_signal: false,
        own_seconds: Vec::new(),
        onset: None,
    };
    for s in signals {
        let (q, label) = if s.below { (0.05, "p5") } else { (0.95, "p95") };
        let known = flat(&s.values);
        let typical = percentile(&known, q);
        let fired_seconds = s.values.iter().filter(|v| v.is_some_and(|v| s.fires(v))).count();
        if known.is_empty() || !s.fires(typical) || fired_seconds < need {
            continue;
        }
        if let Some(i) = s.values.iter().position(|v| v.is_some_and(|v| s.fires(v))) {
            out.onset = Some(out.onset.map_or(run.t[i], |o| o.min(run.t[i])));
        }
        if !s.symptom {
            out.own_signal = true;
            if out.own_seconds.is_empty() {
                out.own_seconds = vec![Some(0.0); s.values.len()];
            }
            for (seconds, v) in out.own_seconds.iter_mut().zip(&s.values) {
                if v.is_some_and(|v| s.fires(v)) {
                    *seconds = Some(1.0);
                }
            }
        }
        let side = if s.symptom { " (symptom)" } else { "" };
        out.saturation.push(format!("{} {label} = {}{side}", s.metric, round3(typical)));
        let fired: Vec<Option<f64>> = s.values.iter().map(|v| v.map(|v| if s.fires(v) { 1.0 } else { 0.0 })).collect();
        out.evidence.push(Evidence {
            tier: tier.into(),
            metric: s.metric.clone(),
            value: round3(typical),
            threshold: s.threshold,
            window: window_of(run, &fired, 1.0),
            note: if s.symptom { format!("{} — seen by its callers, a symptom", s.note) } else { s.note.clone() },
        });
    }
    out
}

/// "app box: p95 0.505 cores of its 0.50-core quota (101%), quota ran out in 87% of periods".
fn utilization_note(r: &Resource<'_>, busy: &[Option<f64>], k: f64) -> String {
    let busy_p95 = percentile(&flat(busy), 0.95);
    let mut note = if r.own_side {
        let of = if r.available.is_some() { "the cores the generator left of" } else { "its quota of" };
        format!("{}: p95 {busy_p95:.3} {} of {of} {} ({:.0}%)", r.label, r.unit, cores_text(k), busy_p95 / k * 100.0)
    } else {
        format!("{}: p95 {busy_p95:.2} of {k:.0} {} in use — seen by its callers, a symptom", r.label, r.unit)
    };
    if let Some(t) = &r.throttled {
        let share = percentile(&flat(t), 0.95);
        if share > 0.0 {
            note += &format!("; its quota ran out in {:.0}% of CFS periods (p95)", share * 100.0);
        }
    }
    note
}

/// `(first, last)` index of the longest run of consecutive values ≥ `level` (the first such
/// run when several are as long; `(0, 0)` when there is none).
fn longest_run(values: &[Option<f64>], level: f64) -> (usize, usize) {
    let (mut best, mut start) = ((0, 0, 0), None);
    for (i, v) in values.iter().enumerate() {
        if v.is_some_and(|v| v >= level) {
            let s = *start.get_or_insert(i);
            if i + 1 - s > best.0 {
                best = (i + 1 - s, s, i);
            }
        } else {
            start = None;
        }
    }
    (best.1, best.2)
}

/// `[first, last]` second where `values` ≥ `level`, or the whole run when never.
fn window_of(run: &RunSeries, values: &[Option<f64>], level: f64) -> [u64; 2] {
    let hits: Vec<u64> =
        values.iter().zip(&run.t).filter(|(v, _)| v.is_some_and(|v| v >= level)).map(|(_, t)| *t).collect();
    match (hits.first(), hits.last()) {
        (Some(a), Some(b)) => [*a, *b],
        _ => [run.t.first().copied().unwrap_or(0), run.t.last().copied().unwrap_or(0)],
    }
}

#[cfg(test)]
mod tests {
    use super::{cores_text, longest_run};

    #[test]
    fn quotas_in_sixteenths_print_whole() {
        assert_eq!(cores_text(0.125), "0.125");
        assert_eq!(cores_text(0.0625), "0.0625");
        assert_eq!(cores_text(1.5), "1.5");
        assert_eq!(cores_text(2.0), "2");
        assert_eq!(cores_text(0.0), "0");
        assert_eq!(cores_text(0.33333), "0.3333");
    }

    #[test]
    fn the_longest_busy_run_is_found() {
        let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
        assert_eq!(longest_run(&v(&[1.0, 1.0, 0.1, 0.9, 0.9, 0.9, 0.2]), 0.8), (3, 5));
        assert_eq!(longest_run(&v(&[0.1, 0.2]), 0.8), (0, 0));
        assert_eq!(longest_run(&[None, Some(0.9), Some(0.9)], 0.8), (1, 2));
    }
}
