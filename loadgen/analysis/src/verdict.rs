//! The verdict, in this order:
//! 1. The generator, when it could not keep its schedule by its own fault (its CPU or timers):
//!    then no service tier is named. A slow target cannot make it late: sends do not wait on
//!    answers (`attack.rs`), so a stalled target shows as latency, not as lag.
//! 2. Among tiers whose **own resource** was at its limit (a box at its quota or throttled, a
//!    server's own saturation counter), the one closest to its limit — the utilization law's
//!    largest D/K — with ties broken by how close its onset was to the knee. Symptoms seen by
//!    callers never outvote such a tier.
//! 3. When no resource was at its limit but the SLO failed: the tier its callers saw
//!    saturated (symptoms only, low or medium confidence, said so in the sentence).
//! 4. `none`, with the headroom against the run's peak rate, when the SLO held and nothing
//!    persisted past its line.

use super::{knee::RunSeries, resource::TierAnalysis};
use loadgen_model::timeline::{Evidence, Knee, Verdict};

/// What the verdict needs besides the tiers.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub generator_overloaded: bool,
    pub generator_reasons: Vec<String>,
    /// Busy share of the generator's sending threads (0..1).
    pub generator_cpu_share: f64,
    pub slo_passed: bool,
    /// Mean achieved rate over the run.
    pub achieved_rate: f64,
    /// Highest achieved rate of any 3-second window: what the headroom is measured against.
    pub peak_rate: f64,
    /// Tiers that run inside the app process (no box of their own): their waits are
    /// symptoms when the app's CPU is saturated.
    pub in_process_tiers: Vec<String>,
    /// First second whose sends left later than the generator's allowed lag (p99 of that
    /// second), when any did.
    pub generator_late_from: Option<u64>,
    /// Mean share of the machine's time the host's hypervisor took (`host.steal_share`).
    pub host_steal_share: Option<f64>,
}

/// How a verdict that blames the host's steal rather than the generator's share begins.
pub const HOST_LIMITED: &str = "The host was the limit";

/// Share of the machine's time stolen by the host from which late sends with the generator's
/// own box far from its share are the host's doing (walk19, 2026-12-03: steal 35-40% of the
/// machine, the generator's box at 31% of its share, sends late at 499 req/s that had held at
/// 4,935 an hour before).
const STOLEN: f64 = 0.1;

/// Seconds a service box must have been at its limit before the sends fell behind for the
/// lateness to be the collapse it caused rather than the generator's own failing.
const SATURATED_BEFORE_LATE_S: u64 = 3;

pub(crate) fn describe(tier: &str) -> &'static str {
    match tier {
        "app" => "the app tier's CPU",
        "app-read" => "the read pool's CPU",
        "app-write" => "the write pool's CPU",
        "db_primary" => "the database primary",
        "db_replica" => "the read replicas",
        "cache" => "the cache tier",
        "object_store" => "the object store",
        "queue" => "the job queue's workers",
        "lb" => "the load balancer",
        "generator" => "the load generator itself",
        "machine" => "the machine's CPU (shared by the generator and the service)",
        _ => "an unnamed tier",
    }
}

/// The API's tier: one app fleet, or Users+++++'s read and write pools.
fn is_app_tier(tier: &str) -> bool {
    matches!(tier, "app" | "app-read" | "app-write")
}

fn is_service_tier(t: &TierAnalysis) -> bool {
    !matches!(t.figures.tier.as_str(), "generator" | "machine")
}

pub fn decide(run: &RunSeries, tiers: &[TierAnalysis], knee: Option<Knee>, facts: &RunFacts) -> Verdict {
    let generator = tiers.iter().find(|t| t.figures.tier == "generator");
    // Sends that left late while the generator's own threads idled and the embedded service
    // saturated the machine both share: the lateness is the service's CPU, already charged
    // as latency from the intended times. The run is judged (and says why).
    let contention = facts.generator_overloaded && facts.generator_cpu_share < 0.5 && machine_saturated_by_app(tiers);
    let knee_ref = knee.as_ref();
    let chosen = if facts.generator_overloaded && !contention {
        generator_late(run, tiers, generator, knee_ref, facts)
    } else {
        resource_at_its_limit(run, tiers, knee_ref, facts, contention)
            .or_else(|| contention.then(|| draft("generator", "high", "The load generator could not keep its schedule on a machine the embedded service saturated, and no service tier could be named from it. Give the generator a box of its own or more CPU.".into(), generator_evidence(run, generator, facts), None)))
            .or_else(|| symptoms_only(run, tiers, knee_ref, facts))
            .unwrap_or_else(|| nothing_saturated(tiers, facts))
    };
    Verdict {
        bottleneck: chosen.bottleneck,
        confidence: chosen.confidence.into(),
        sentence: chosen.sentence,
        knee,
        tiers: tiers.iter().map(|t| t.figures.clone()).collect(),
        evidence: chosen.evidence,
        headroom: chosen.headroom,
        faults: Vec::new(),
    }
}

/// A verdict before the run's knee and tier table are put into it.
struct Draft {
    bottleneck: String,
    confidence: &'static str,
    sentence: String,
    evidence: Vec<Evidence>,
    headroom: Option<f64>,
}

fn draft(
    bottleneck: &str,
    confidence: &'static str,
    sentence: String,
    evidence: Vec<Evidence>,
    headroom: Option<f64>,
) -> Draft {
    Draft { bottleneck: bottleneck.into(), confidence, sentence, evidence, headroom }
}

/// Sends left late: a tier that reached its limit before they did, else the host that took
/// the machine, else the generator itself.
fn generator_late(
    run: &RunSeries,
    tiers: &[TierAnalysis],
    generator: Option<&TierAnalysis>,
    knee: Option<&Knee>,
    facts: &RunFacts,
) -> Draft {
    if let Some((chosen, late_from)) = saturated_before_late(run, tiers, knee, facts) {
        let onset = chosen.onset.unwrap_or(0);
        let behind = if facts.generator_late_from.is_some() {
            format!("fell behind only from t = {late_from} s")
        } else {
            "the sends it could not make waited for in-flight slots the target held".to_owned()
        };
        let sentence = format!(
        "Bottleneck: {} ({}){}. The generator kept its schedule while this tier reached its limit (t = {onset} s) and {behind}, as the target collapsed under it.",
        describe(&chosen.figures.tier),
        figures_of(&chosen),
        ceiling_of(&chosen)
        );
        let mut evidence = chosen.evidence.clone();
        evidence.extend(generator_evidence(run, None, facts).into_iter().map(|mut e| {
        e.note = format!("{} — from t = {late_from} s only, {} s after the {} was at its limit: the tier is judged on the seconds before", e.note, late_from - onset, chosen.figures.tier);
        e
        }));
        return draft(&chosen.figures.tier, "medium", sentence, evidence, None);
    }
    if let Some((sentence, evidence)) = host_stole(run, generator, facts) {
        return draft("generator", "medium", sentence, evidence, None);
    }
    draft("generator", "high", "The load generator was the limit: its own CPU or timers could not keep the schedule, so this run names no service bottleneck. Give it more CPU or run more generator processes and merge their logs.".into(), generator_evidence(run, generator, facts), None)
}

/// A tier whose own resource (a box's CPU against its quota, a pool) was at its limit.
fn resource_at_its_limit(
    run: &RunSeries,
    tiers: &[TierAnalysis],
    knee: Option<&Knee>,
    facts: &RunFacts,
    contention: bool,
) -> Option<Draft> {
    let candidates = resource_bound(tiers, facts);
    let candidates: Vec<&TierAnalysis> = candidates.iter().collect();
    if let Some(chosen) = pick(run, &candidates, knee).filter(|c| !contention || c.figures.tier == "app") {
        let signals = chosen.evidence.len();
        let confidence = match (signals, knee.is_some()) {
            (n, true) if n >= 2 => "high",
            (n, _) if n >= 2 => "medium",
            (_, true) => "medium",
            _ => "low",
        };
        let sentence =
            format!("Bottleneck: {} ({}){}.", describe(&chosen.figures.tier), figures_of(chosen), ceiling_of(chosen));
        let mut evidence = chosen.evidence.clone();
        if contention {
            evidence.extend(generator_evidence(run, None, facts).into_iter().map(|mut e| {
                e.note = format!("{} — waived: the generator's sending threads were {:.0}% busy while the embedded service saturated the machine they share", e.note, facts.generator_cpu_share * 100.0);
                e
            }));
        }
        return Some(draft(&chosen.figures.tier, confidence, sentence, evidence, None));
    }
    None
}

/// A tier that only its callers saw saturated (no box or server at its own limit), when the
/// SLO failed or the throughput bent.
fn symptoms_only(run: &RunSeries, tiers: &[TierAnalysis], knee: Option<&Knee>, facts: &RunFacts) -> Option<Draft> {
    let congested = primary_congested(tiers);
    let mut symptomatic: Vec<&TierAnalysis> = tiers
        .iter()
        .filter(|t| t.saturated && is_service_tier(t) && !(congested && t.figures.tier == "queue"))
        .collect();
    // An app whose own CPU was not at its limit fills up (sheds, queues at the load balancer)
    // because it waits on a tier behind it: when such a tier shows symptoms too, it is named.
    if symptomatic.iter().any(|t| !is_app_tier(&t.figures.tier)) {
        symptomatic.retain(|t| !is_app_tier(&t.figures.tier));
    }
    if !facts.slo_passed || knee.is_some() {
        if let Some(chosen) = pick(run, &symptomatic, knee) {
            let confidence = if chosen.evidence.len() >= 2 && knee.is_some() { "medium" } else { "low" };
            let sentence = format!(
                "Bottleneck: {} as its callers saw it ({}){}; no box or server was seen at its own limit, so this may be a software limit (a pool size, a lock) or a resource not measured here.",
                describe(&chosen.figures.tier),
                figures_of(chosen),
                ceiling_of(chosen)
            );
            return Some(draft(&chosen.figures.tier, confidence, sentence, chosen.evidence.clone(), None));
        }
    }
    None
}

/// Nothing saturated: the headroom when the SLO held, else the tier of the largest demand.
fn nothing_saturated(tiers: &[TierAnalysis], facts: &RunFacts) -> Draft {
    let headroom = headroom(tiers, facts.peak_rate.max(facts.achieved_rate));
    if facts.slo_passed {
        // The tier whose ceiling gives the headroom, so the sentence and the tier table agree.
        let tightest = tiers
            .iter()
            .filter(|t| is_service_tier(t) && t.figures.unit == "cores")
            .filter_map(|t| t.figures.ceiling_rps.map(|c| (t, c)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t);
        let sentence = match (headroom, tightest) {
            (Some(h), Some(t)) => format!(
                "No tier saturated and the SLO held; the tightest is {} at {:.0}% of its capacity (p95): room for about {:.1}x the {:.0} req/s peak of this run.",
                describe(&t.figures.tier),
                t.figures.utilization_p95 * 100.0,
                1.0 + h,
                facts.peak_rate.max(facts.achieved_rate)
            ),
            _ => "No tier saturated and the SLO held.".into(),
        };
        return draft("none", "high", sentence, Vec::new(), headroom);
    }
    // The SLO failed and nothing showed saturation: the tier with the largest demand.
    let top =
        tiers.iter().filter(|t| is_service_tier(t)).max_by(|a, b| a.figures.demand_s.total_cmp(&b.figures.demand_s));
    let tier = top.map_or("none".to_owned(), |t| t.figures.tier.clone());
    let sentence = format!("The SLO was missed but no tier showed saturation; {} carries the largest demand per request, so look there first.", describe(&tier));
    draft(&tier, "low", sentence, top.map(|t| t.evidence.clone()).unwrap_or_default(), None)
}

/// A service tier whose own resource was at its limit at least [`SATURATED_BEFORE_LATE_S`]
/// before the generator's sends first fell behind, while the generator's own box was not yet
/// at its limit (or an app tier its load balancer queued for while the sends were on time,
/// [`queued_while_on_time`]), and lateness the only complaint against the generator: the
/// overload came first and the lateness with the collapse it caused (thousands of requests in
/// flight, timeouts and 503s to handle). Returns that tier and the first late second.
fn saturated_before_late(
    run: &RunSeries,
    tiers: &[TierAnalysis],
    knee: Option<&Knee>,
    facts: &RunFacts,
) -> Option<(TierAnalysis, u64)> {
    // Sends that never left (every in-flight slot held by a target that stopped answering)
    // count like late ones: from the run's end, when the missing sends are known.
    let late_from = facts
        .generator_late_from
        .or_else(|| facts.generator_reasons.iter().any(|r| never_left(r)).then(|| run.t.last().copied()).flatten())?;
    let only_late = !facts.generator_reasons.is_empty()
        && facts.generator_reasons.iter().all(|r| r.starts_with("sends left late") || never_left(r));
    if !only_late {
        return None;
    }
    let bound = resource_bound(tiers, facts);
    let queued: Vec<&TierAnalysis> = bound.iter().filter(|t| queued_while_on_time(t, late_from)).collect();
    if let Some(t) = pick(run, &queued, knee) {
        return Some((t.clone(), late_from));
    }
    let generator_on_time =
        tiers.iter().find(|t| t.figures.tier == "generator").is_none_or(|g| g.onset.is_none_or(|o| o >= late_from));
    if !generator_on_time {
        return None;
    }
    let earlier: Vec<&TierAnalysis> =
        bound.iter().filter(|t| t.onset.is_some_and(|o| o + SATURATED_BEFORE_LATE_S <= late_from)).collect();
    pick(run, &earlier, knee).map(|t| (t.clone(), late_from))
}

/// An app tier at its limit whose load balancer was already queueing requests for it (every
/// app server at its `maxconn`) in a second when the sends still left on time: the backlog is
/// seen from the service's side before the generator fell behind, however soon after that
/// was, and whatever the generator's box then used (a queue at HAProxy is offered load the app
/// did not take; a slow generator offers less). Walk26's Users++++ at 6,277 req/s: app boxes at
/// 99% of their quota and HAProxy's queue at 1,008 at t = 0 with the sends on time, late from
/// t = 1 s while thousands of requests waited, the generator's box pinned only then.
fn queued_while_on_time(t: &TierAnalysis, late_from: u64) -> bool {
    is_app_tier(&t.figures.tier)
        && t.onset.is_some_and(|o| o < late_from)
        && t.evidence.iter().any(|e| e.metric == loadgen_model::series::HAPROXY_QUEUE && e.window[0] < late_from)
}

/// Late sends while the host took at least [`STOLEN`] of the machine's time and the
/// generator's own box stayed under [`super::resource::BUSY`] of its share: the generator's
/// threads waited for CPU the host did not give the machine, so neither its share nor the
/// stage is what the run measured.
fn host_stole(run: &RunSeries, generator: Option<&TierAnalysis>, facts: &RunFacts) -> Option<(String, Vec<Evidence>)> {
    let steal = facts.host_steal_share.filter(|s| *s >= STOLEN)?;
    let used = generator.map(|g| g.figures.utilization_p95).filter(|u| *u < super::resource::BUSY)?;
    let sentence = format!(
        "{HOST_LIMITED}, not the generator's share: the host took {:.0}% of the machine's time (steal) while the generator's box used at most {:.0}% of its share (p95), and the sends left late; this run names no service bottleneck. Run it again when the machine is quieter.",
        steal * 100.0,
        used * 100.0
    );
    let mut evidence = generator_evidence(run, generator, facts);
    evidence.push(Evidence {
        tier: "generator".into(),
        metric: "host steal share".into(),
        value: super::resource::round3(steal),
        threshold: STOLEN,
        window: [run.t.first().copied().unwrap_or(0), run.t.last().copied().unwrap_or(0)],
        note: format!(
            "the host took {:.0}% of the machine's time on average (host.steal_share, from /proc/stat)",
            steal * 100.0
        ),
    });
    Some((sentence, evidence))
}

/// The self-check's reason for sends that never left (`report.rs`).
fn never_left(reason: &str) -> bool {
    reason.contains("intended sends left")
}

/// The generator's own evidence and the self-check's reasons.
fn generator_evidence(run: &RunSeries, generator: Option<&TierAnalysis>, facts: &RunFacts) -> Vec<Evidence> {
    let mut evidence: Vec<Evidence> = generator.map(|g| g.evidence.clone()).unwrap_or_default();
    for reason in &facts.generator_reasons {
        evidence.push(Evidence {
            tier: "generator".into(),
            metric: "self-check".into(),
            value: 1.0,
            threshold: 1.0,
            window: [run.t.first().copied().unwrap_or(0), run.t.last().copied().unwrap_or(0)],
            note: reason.clone(),
        });
    }
    evidence
}

/// Service tiers whose own resource was at its limit, after removing the ones whose
/// saturation another's explains: in-process tiers of a CPU-starved app, and the queue behind
/// a saturated primary (workers write each job's result to it). On an embedded target a
/// saturated shared machine is the app's CPU when the app is what runs on it.
fn resource_bound(tiers: &[TierAnalysis], facts: &RunFacts) -> Vec<TierAnalysis> {
    let mut out: Vec<TierAnalysis> = tiers.iter().filter(|t| t.resource_bound && is_service_tier(t)).cloned().collect();
    let app = tiers.iter().find(|t| t.figures.tier == "app");
    let machine = tiers.iter().find(|t| t.figures.tier == "machine");
    if let (Some(app), Some(machine)) = (app, machine) {
        if !app.resource_bound && machine_saturated_by_app(tiers) {
            out.push(TierAnalysis {
                evidence: app.evidence.iter().chain(&machine.evidence).cloned().collect(),
                onset: app.onset.or(machine.onset),
                resource_bound: true,
                score: machine.score,
                ..app.clone()
            });
        }
    }
    if out.iter().any(|t| is_app_tier(&t.figures.tier)) {
        out.retain(|t| !facts.in_process_tiers.contains(&t.figures.tier));
    }
    if primary_congested(tiers) {
        out.retain(|t| t.figures.tier != "queue");
    }
    out
}

/// The machine an embedded app shares with the generator was at its limit, mostly with the
/// app's work: its cores busy (not just a long run queue, which other work on a shared
/// machine makes too), the app at least half of that, the generator's own CPU idle.
fn machine_saturated_by_app(tiers: &[TierAnalysis]) -> bool {
    let find = |tier: &str| tiers.iter().find(|t| t.figures.tier == tier);
    let (Some(app), Some(machine)) = (find("app"), find("machine")) else { return false };
    let generator_idle = find("generator").is_none_or(|g| g.score < 0.5);
    let app_share = app.figures.demand_s / machine.figures.demand_s.max(1e-12);
    machine.figures.utilization_p95 >= super::resource::BUSY && app_share >= 0.5 && generator_idle
}

/// Workers write each job's result to the primary: a primary at its limit, or one its callers
/// queue for (pool waiters), backs the job queue up too, so the backlog is then its symptom.
fn primary_congested(tiers: &[TierAnalysis]) -> bool {
    tiers.iter().any(|t| t.figures.tier == "db_primary" && t.saturated)
}

/// The candidate closest to its limit over the overloaded part of the run (from the knee on,
/// else the whole run): the utilization law's largest D/K. Among those about as close (within
/// 5 points), the one whose saturation started nearest the knee, then the one with more
/// signals.
fn pick<'a>(run: &RunSeries, candidates: &[&'a TierAnalysis], knee: Option<&Knee>) -> Option<&'a TierAnalysis> {
    let from = knee.map_or(0, |k| k.t);
    let load = |t: &TierAnalysis| t.load_from(&run.t, from);
    let best = candidates.iter().map(|t| load(t)).fold(f64::NEG_INFINITY, f64::max);
    let knee_t = knee.map(|k| k.t);
    candidates
        .iter()
        .filter(|t| load(t) >= best - 0.05)
        .min_by_key(|t| {
            let onset = t.onset.unwrap_or(u64::MAX);
            let distance = knee_t.map_or(0, |k| if onset <= k + 2 { 0 } else { onset - k });
            let furthest = t.evidence.iter().map(|e| exceedance(e.value, e.threshold)).fold(1.0, f64::max);
            (distance, std::cmp::Reverse(t.evidence.len()), std::cmp::Reverse((furthest * 1000.0) as u64), onset)
        })
        .copied()
}

fn figures_of(t: &TierAnalysis) -> String {
    let mut figures = Vec::new();
    if t.figures.utilization_p95 > 0.0 {
        figures.push(format!(
            "utilization p95 {:.0}% of {} {}",
            t.figures.utilization_p95 * 100.0,
            t.figures.capacity,
            t.figures.unit
        ));
    }
    figures.extend(t.figures.saturation.iter().cloned());
    let onset = t.onset.map(|s| format!(" from t = {s} s")).unwrap_or_default();
    format!("{}{onset}", figures.join(", "))
}

fn ceiling_of(t: &TierAnalysis) -> String {
    t.figures.ceiling_rps.map(|c| format!("; its ceiling is about {c:.0} req/s")).unwrap_or_default()
}

/// How much more than `peak_rate` the tightest own-resource ceiling allows (X_max / X − 1).
/// Service tiers only: the machine's busy time counts whatever else runs on it.
fn headroom(tiers: &[TierAnalysis], peak_rate: f64) -> Option<f64> {
    let h = tiers
        .iter()
        .filter(|t| t.figures.unit == "cores" && is_service_tier(t))
        .filter_map(|t| t.figures.ceiling_rps)
        .map(|c| c / peak_rate.max(1e-9) - 1.0)
        .fold(f64::INFINITY, f64::min);
    h.is_finite().then_some((h.max(0.0) * 100.0).round() / 100.0)
}

/// How far a signal is past its threshold, as a ratio ≥ 1 (either direction: a floor signal
/// such as CPU credits left is past its line when under it).
fn exceedance(value: f64, threshold: f64) -> f64 {
    let ratio = if value >= threshold { value / threshold.max(1e-9) } else { threshold / value.max(1e-9) };
    ratio.clamp(1.0, 1e6)
}
