//! One stage of the loop: bring the stage up **once**, run its capacity search as steps on
//! that one deployment (each step an ordinary run with its own report), take the verdict of
//! the first step past the sustainable rate, and tear the stage down. Bringing a stage up per
//! step (a PostgreSQL cluster, replicas, Redis, HAProxy) cost more than the steps themselves
//! and measured a cold stage every time.

use loadgen_model::series;
use loadgen_model::tiers::Tier;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::search::CapacitySearch;
use super::{projection, EvolveError, EvolveOptions, StageResult, StepResult};
use crate::summary::Summary;
use crate::target::drain::{drain_queue, MAX_DRAIN};
use crate::target::{RunningTarget, TargetChoice};
use crate::RunOptions;

/// The warm-up of a step: the scenario's, at most this long. The stage stays up between
/// steps, so only the first step meets cold caches and pools.
const MAX_STEP_WARMUP: Duration = Duration::from_secs(5);

/// A stage's search ends when its lowest failing rate is within this share above its highest
/// passing one: the sustainable rate it reports is then at most 10% under the stage's limit.
/// (With 20% the ratio of two stages' rates moved by up to ±20% with where each search
/// happened to land: walk12's Users+++ held 4,908 and failed at 5,889 req/s, 1.87x Users++.)
pub(crate) const SEARCH_TOLERANCE: f64 = 0.1;

fn p99_ms(s: &Summary) -> f64 {
    s.operations.all.latency_us.p99 as f64 / 1000.0
}

/// Whether the generator's reserved share is spent: it could not keep its schedule *and* it
/// used most of its box's quota over the step, so a higher rate would measure the generator,
/// not the stage. A schedule missed with CPU to spare is the target stalling the sends: an
/// ordinary failed step, which the search bisects below. So is a step whose verdict named a
/// service tier that was at its limit before the sends fell behind: the generator's CPU went to
/// the collapse that tier caused (walk26's Users++++ at 6,277 req/s, HAProxy queueing for the
/// app boxes while the sends were still on time).
fn generator_bound(s: &Summary) -> bool {
    let share = crate::profiler::collect::cgroup_quota::cpu_quota_cores(std::process::id())
        .unwrap_or_else(crate::topology::budget::machine_cores);
    let wall = s.scenario.duration_s + s.scenario.warmup_s;
    let service_named = s
        .verdict
        .as_ref()
        .and_then(|v| Tier::parse(&v.bottleneck))
        .is_some_and(|t| !matches!(t, Tier::Generator | Tier::NoneSaturated));
    !s.trustworthy && !service_named && wall > 0.0 && s.generator.cpu_seconds / wall >= GENERATOR_SPENT * share
}

/// The share of its quota at which the generator counts as spent (a CFS quota is rarely used
/// to the last percent: the throttled periods show as schedule lag first).
const GENERATOR_SPENT: f64 = 0.85;

fn step_result(s: &Summary, rate: f64, report: String) -> StepResult {
    let mut failed_because: Vec<String> = s
        .slo
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("SLO {} {:.3} > {:.3}", c.name, c.observed, c.limit))
        .collect();
    if !s.trustworthy {
        failed_because.push("the generator could not keep the schedule".into());
    }
    let all = &s.operations.all;
    StepResult {
        rate,
        achieved_rate: all.achieved_rate,
        p99_ms: p99_ms(s),
        error_rate: if all.completed > 0 { all.errors as f64 / all.completed as f64 } else { 0.0 },
        passed: failed_because.is_empty(),
        failed_because,
        report,
        fleet_cores: s.fleet.as_ref().map(|f| f.cores),
        host_steal_share: None,
    }
}

/// Mean of `host.steal_share` over a step's timeline.
fn steal_share(timeline: &crate::profiler::Timeline) -> Option<f64> {
    let values = timeline.values(series::HOST_STEAL_SHARE);
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Mean CPU of each box tier over its quota in a step's timeline (`host.cpu_cores.<tier>` /
/// `host.cpu_quota.<tier>`): how close each box came to its limit.
fn box_utilization(timeline: &crate::profiler::Timeline) -> Vec<(String, f64)> {
    timeline
        .boxes
        .iter()
        .filter_map(|b| {
            let used = timeline.values(&series::of(series::HOST_CPU_CORES, &b.tier));
            (!used.is_empty() && b.cpu_cores > 0.0)
                .then(|| (b.tier.clone(), used.iter().sum::<f64>() / used.len() as f64 / b.cpu_cores))
        })
        .collect()
}

/// The busiest service box's share of its quota at which the next step aims: a step that
/// passed with its busiest box at `u` of its quota tries about `rate × HEADROOM_AIM / u` next
/// (at most double), just past where that box should reach its limit.
const HEADROOM_AIM: f64 = 1.1;

/// The next rate a passing step at `rate` suggests, from its busiest service box (mean CPU over
/// quota in its timeline); `None` without box figures.
fn guided_next_rate(rate: f64, timeline: &crate::profiler::Timeline) -> Option<f64> {
    busiest_box_share(timeline).map(|busiest| rate * (HEADROOM_AIM / busiest).min(2.0))
}

/// The largest mean CPU over quota of any service box in a step's timeline; `None` without
/// box figures.
fn busiest_box_share(timeline: &crate::profiler::Timeline) -> Option<f64> {
    let busiest = box_utilization(timeline)
        .into_iter()
        .filter(|(tier, _)| tier != crate::topology::budget::GENERATOR_TIER)
        .map(|(_, u)| u)
        .fold(0.0f64, f64::max);
    (busiest > 0.0).then_some(busiest)
}

/// A failed step with no errors and every send answered whose busiest box stayed under this
/// share of its quota is run once more before the search believes it (as is a failed first
/// step of a stage, which met it cold): with no resource near its limit the miss may be one stall
/// of a shared machine (walk8: Users++'s first step missed p99 by 4 ms on one 186 ms second,
/// every box under 60%, and the search settled 16% below the stage before).
const UNCONFIRMED_BELOW: f64 = 0.8;

/// A step's `timeline.json`, if it has one.
fn read_timeline(run_dir: &Path) -> Option<crate::profiler::Timeline> {
    loadgen_model::RunDir::new(run_dir).read_timeline().ok().flatten()
}

/// Lets the stage settle between steps: its boxes nearly idle, then its answers quick again.
async fn settle(target: &RunningTarget, profile: &str) {
    boxes_idle(target).await;
    answers_quickly(target, profile).await;
}

/// The fleet's CPU share below which a stage counts as settled between steps.
const SETTLED_SHARE: f64 = 0.15;
/// Longest wait for a stage to settle.
const MAX_SETTLE: Duration = Duration::from_secs(30);

/// Waits until the stage's boxes are nearly idle (their CPU over the last second under
/// [`SETTLED_SHARE`] of their quotas), at most [`MAX_SETTLE`]. The stage stays up between steps,
/// so a step past the knee leaves a backlog — requests queued in the app, jobs in the queue —
/// that would otherwise land on the next step and fail it at any rate.
async fn boxes_idle(target: &RunningTarget) {
    let Some(deployment) = &target.deployment else { return };
    let reading = || async {
        let boxes = deployment.lock().await.boxes();
        let quota: f64 = boxes.iter().filter_map(|b| b.cpus).sum();
        let used: Option<f64> = boxes.iter().map(|b| b.cpu_seconds).sum();
        (quota, used)
    };
    let started = tokio::time::Instant::now();
    let (_, mut before) = reading().await;
    while started.elapsed() < MAX_SETTLE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (quota, now) = reading().await;
        let (Some(a), Some(b)) = (before, now) else { return };
        if quota <= 0.0 || (b - a) < SETTLED_SHARE * quota {
            return;
        }
        before = now;
    }
    eprintln!("evolve: the stage was still busy {} s after the step; going on", MAX_SETTLE.as_secs());
}

/// Probes in a row that must answer fast before the next step starts.
const SETTLED_PROBES: u32 = 5;
/// An answer this fast means nothing is queued ahead of it.
const SETTLED_LATENCY: Duration = Duration::from_millis(20);
/// Longest wait for a stage to settle between steps.
const SETTLE_BOUND: Duration = Duration::from_secs(45);

/// Then waits until the stage answers quickly again: requests the generator gave up on at the
/// end of a step are still being served (and queued at the load balancer), so a step started
/// at once measures the last one's backlog. Settled = `SETTLED_PROBES` answers of `/livez` in
/// a row, each under `SETTLED_LATENCY`; bounded by `SETTLE_BOUND`.
async fn answers_quickly(target: &RunningTarget, profile: &str) {
    let Ok(client) = crate::run::http_client() else { return };
    let url = format!("{}/livez", target.base_url);
    let started = std::time::Instant::now();
    let mut fast = 0;
    while fast < SETTLED_PROBES && started.elapsed() < SETTLE_BOUND {
        let sent = std::time::Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(2), client.get(&url).send()).await;
        let quick = matches!(answered, Ok(Ok(ref r)) if r.status().is_success()) && sent.elapsed() < SETTLED_LATENCY;
        fast = if quick { fast + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = started.elapsed().as_secs_f64();
    if fast < SETTLED_PROBES {
        eprintln!(
            "evolve: {profile} did not settle within {} s; the next step starts on a busy stage",
            SETTLE_BOUND.as_secs()
        );
    } else if waited > 2.0 {
        eprintln!("evolve: {profile} settled in {waited:.1} s after the last step");
    }
}

/// Writes the scenario's corpus once, before the search, and waits until the stage's workers
/// have processed the jobs those writes queued (the service's `scaleloop_queue_depth` back to
/// zero), at most [`MAX_DRAIN`].
async fn preload_and_drain(
    target: &RunningTarget,
    scenario: &crate::scenario::Scenario,
    profile: &str,
) -> Result<(), EvolveError> {
    let stage_error = |message: String| EvolveError::Stage { profile: profile.into(), message };
    let client = crate::run::http_client().map_err(|e| stage_error(e.to_string()))?;
    let api = crate::requests::ApiUrls::new(&target.base_url)
        .map_err(|e| stage_error(format!("{}: {e}", target.base_url)))?;
    let started = std::time::Instant::now();
    let ids = crate::target::corpus::preload(&client, &api, scenario).await.map_err(|e| stage_error(e.to_string()))?;
    target.keep(scenario.seed, scenario.keys.preload, &ids);
    let written = started.elapsed().as_secs_f64();
    let drain = drain_queue(&client, &target.base_url, MAX_DRAIN).await;
    match drain.left {
        Some(d) if drain.timed_out() => eprintln!(
            "evolve: {profile}: {d:.0} of the preload's jobs still queued after {} s; the search starts anyway",
            MAX_DRAIN.as_secs()
        ),
        _ => eprintln!(
            "evolve: {profile}: preloaded {} items in {written:.1} s, their jobs done {:.1} s later",
            ids.len(),
            drain.waited.as_secs_f64()
        ),
    }
    Ok(())
}

/// Starts the stage's target, once more after a failed first try (a port taken, a slow socket).
async fn bring_up(choice: &TargetChoice, profile: &str) -> Result<RunningTarget, EvolveError> {
    let stage_error = |message: String| EvolveError::Stage { profile: profile.into(), message };
    let client = crate::run::http_client().map_err(|e| stage_error(e.to_string()))?;
    let started = std::time::Instant::now();
    let target = match RunningTarget::start(choice, &client).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("evolve: {profile} could not come up ({e}); trying once more");
            RunningTarget::start(choice, &client).await.map_err(|e| stage_error(e.to_string()))?
        }
    };
    eprintln!(
        "evolve: {profile} up ({}) in {:.1} s at {}",
        target.kind,
        started.elapsed().as_secs_f64(),
        target.base_url
    );
    Ok(target)
}

/// Runs one stage's capacity search from `start_rate`.
pub async fn run_stage(
    profile: &str,
    options: &EvolveOptions,
    dir: &Path,
    start_rate: f64,
) -> Result<StageResult, EvolveError> {
    let stage_error = |message: String| EvolveError::Stage { profile: profile.into(), message };
    let choice = TargetChoice::for_profile(profile.into(), options.profiles_dir.clone(), false);
    let mut target = bring_up(&choice, profile).await?;
    // Every step writes to the same service: the preloaded corpus is written once.
    target.keep_corpus = true;
    if let Err(e) = preload_and_drain(&target, &options.scenario, profile).await {
        target.stop().await;
        return Err(e);
    }
    let mut search = CapacitySearch::new(start_rate, options.target_rate, SEARCH_TOLERANCE, options.max_steps);
    let mut steps = Vec::new();
    let mut summaries: Vec<(f64, Summary, PathBuf)> = Vec::new();
    let mut generator_steps: Vec<(f64, bool)> = Vec::new();
    let mut failure = None;
    let mut retried: Option<f64> = None;
    let mut scenario = options.scenario.clone();
    scenario.warmup = scenario.warmup.min(MAX_STEP_WARMUP);
    while let Some(rate) = search.next_rate() {
        if !steps.is_empty() {
            settle(&target, profile).await;
        }
        let run_id = format!("{}-{:.0}rps", steps.len() + 1, rate);
        let run = RunOptions {
            scenario: scenario.clone().with_overrides(Some(rate), Some(options.step), None),
            target: choice.clone(),
            reports_dir: dir.join(profile),
            run_id: Some(run_id.clone()),
            goose_report: false,
            progress: false,
            users: None,
            profile: true,
        };
        let report = match crate::run::run_on(&run, &target).await {
            Ok(r) => r,
            Err(e) => {
                // Launched servers' URLs carry their passwords: never into evolve.json.
                failure = Some(stage_error(crate::redact::secrets(&format!("step at {rate:.0} req/s: {e:#}"))));
                break;
            }
        };
        let mut step = step_result(&report.summary, rate, format!("{profile}/{run_id}"));
        let timeline = read_timeline(&report.dir);
        step.host_steal_share = timeline.as_ref().and_then(steal_share);
        eprintln!(
            "evolve: {profile} at {rate:.0} req/s: achieved {:.0}, p99 {:.1} ms, host steal {}, {}",
            step.achieved_rate,
            step.p99_ms,
            step.host_steal_share.map_or("n/a".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            if step.passed { "SLO held".to_owned() } else { format!("failed: {}", step.failed_because.join("; ")) }
        );
        let busiest = timeline.as_ref().and_then(busiest_box_share);
        // A collapse (errors, or sends not answered) idles the boxes too: it is no stall.
        let marginal = step.error_rate == 0.0 && step.achieved_rate >= 0.98 * rate;
        let unloaded = marginal && busiest.is_some_and(|b| b < UNCONFIRMED_BELOW);
        // The stage's first step meets it cold (empty cache, an autoscaling group scaled in
        // while the stage idled through its preload): a miss there is run once more, warm.
        let cold = steps.is_empty();
        let confirm = !step.passed && !generator_bound(&report.summary) && (unloaded || cold);
        if confirm && retried != Some(rate) {
            if unloaded {
                eprintln!("evolve: {profile} at {rate:.0} req/s failed with every box under {:.0}% of its quota; running it again to confirm", UNCONFIRMED_BELOW * 100.0);
            } else {
                eprintln!("evolve: {profile}'s first step at {rate:.0} req/s failed on a cold stage; running it again warm to confirm");
            }
            step.failed_because.push("not confirmed: run again".into());
            retried = Some(rate);
            steps.push(step);
            generator_steps.push((rate, false));
            summaries.push((rate, report.summary, report.dir));
            continue;
        }
        search.record(rate, step.passed);
        if step.passed {
            if let Some(next) = timeline.as_ref().and_then(|t| guided_next_rate(rate, t)) {
                search.limit_next(next);
            }
        }
        // A step past the generator's budget measured the generator, not the stage: it counts
        // as a failure for the search, which bisects below it; the stage is judged on the
        // lowest failing step, so it ends generator-limited only if no service tier failed
        // below the generator's budget.
        let limited = generator_bound(&report.summary);
        if limited {
            eprintln!("evolve: {profile} at {rate:.0} req/s spent the generator's reserved share; trying lower");
        }
        generator_steps.push((rate, limited));
        steps.push(step);
        summaries.push((rate, report.summary, report.dir));
    }
    let sustainable = search.sustainable();
    let lowest_failure =
        generator_steps.iter().filter(|(r, _)| sustainable.is_none_or(|s| *r > s)).min_by(|a, b| a.0.total_cmp(&b.0));
    let generator_limited = lowest_failure.is_some_and(|(_, limited)| *limited);
    target.stop().await;
    if let Some(e) = failure {
        if summaries.is_empty() {
            return Err(e);
        }
        eprintln!("evolve: {e}; judging the stage on the steps that ran");
    }
    conclude(profile, options, steps, &summaries, sustainable, generator_limited)
}

/// The stage's result from its steps: the verdict of the lowest failing step that names a
/// service tier (where the bottleneck shows; a step whose sends fell behind while the
/// generator had CPU to spare may name the generator, and a higher step then shows what
/// stalled them), else of the lowest failing step, or of the highest step when every step held.
fn conclude(
    profile: &str,
    options: &EvolveOptions,
    steps: Vec<StepResult>,
    summaries: &[(f64, Summary, PathBuf)],
    sustainable: Option<f64>,
    generator_limited: bool,
) -> Result<StageResult, EvolveError> {
    let stage_error = |message: String| EvolveError::Stage { profile: profile.into(), message };
    let mut failing: Vec<&(f64, Summary, PathBuf)> =
        summaries.iter().filter(|(r, _, _)| sustainable.is_none_or(|s| *r > s)).collect();
    failing.sort_by(|a, b| a.0.total_cmp(&b.0));
    let names_a_service_tier =
        |s: &Summary| s.verdict.as_ref().is_some_and(|v| !matches!(v.bottleneck.as_str(), "generator" | "none"));
    let source = failing
        .iter()
        .find(|(_, s, _)| !generator_limited && names_a_service_tier(s))
        .or(failing.first())
        .copied()
        .or_else(|| summaries.iter().max_by(|a, b| a.0.total_cmp(&b.0)))
        .ok_or_else(|| stage_error("the search ran no step".into()))?;
    // The last step at the sustainable rate: a step run again to confirm a miss passed there.
    let held = summaries.iter().rev().find(|(r, _, _)| Some(*r) == sustainable);
    // A generator that spent its share is the stage's limit, not a tier a collapse pinned.
    let saturated_first = held.filter(|(_, h, _)| match (&source.1.verdict, &h.verdict) {
        (Some(failing), Some(limit)) => !generator_limited && first_to_saturate(failing, limit),
        _ => false,
    });
    let (_, summary, run_dir) = saturated_first.unwrap_or(source);
    let mut verdict = summary.verdict.clone().ok_or_else(|| stage_error("the run has no verdict".into()))?;
    if let (Some((rate, _, _)), Some(failing)) = (saturated_first, &source.1.verdict) {
        verdict.sentence = format!(
            "{} This is the tier nearest its limit at {rate:.0} req/s, the highest rate the stage held (the first to run out there by its CPU per request); one step above, in the collapse, {} was at its limit too.",
            verdict.sentence,
            failing.bottleneck
        );
    }
    let rec = summary.recommendation.clone().ok_or_else(|| stage_error("the run has no recommendation".into()))?;
    let timeline = read_timeline(run_dir).unwrap_or_default();
    let achieved: Vec<(u64, f64)> = summary.series.iter().map(|s| (s.t, s.completed as f64)).collect();
    let fleet_cores = held.or(Some(source)).and_then(|(_, s, _)| s.fleet.as_ref().map(|f| f.cores));
    let peak_to_average = super::peak_to_average(&options.scenario);
    Ok(StageResult {
        profile: profile.into(),
        stage: rec.current_stage.clone(),
        sustainable_rate: sustainable,
        p99_ms: held.map(|(_, s, _)| p99_ms(s)),
        fleet_cores,
        rate_per_core: sustainable.zip(fleet_cores).filter(|(_, c)| *c > 0.0).map(|(r, c)| r / c),
        users_held: sustainable.map(|r| crate::capacity::users_at_peak(r, peak_to_average)),
        generator_limited,
        regression: None,
        bottleneck: verdict.bottleneck.clone(),
        confidence: verdict.confidence.clone(),
        sentence: verdict.sentence.clone(),
        evidence: verdict
            .evidence
            .iter()
            .map(|e| {
                format!(
                    "{}: {} = {} (threshold {}, t {}–{} s) — {}",
                    e.tier, e.metric, e.value, e.threshold, e.window[0], e.window[1], e.note
                )
            })
            .collect(),
        box_utilization: box_utilization(&timeline),
        next_profile: rec.next_profile.clone(),
        action: rec.action.clone(),
        reason: rec.reason.clone(),
        expected_gain: rec.expected_gain.clone(),
        steps,
        demands: projection::measured_demands(&timeline, &achieved),
    })
}

/// Whether the stage's bottleneck is the tier `limit` (the verdict of the highest step that
/// held) rather than the one the failing step named: past a stage's limit a step collapses,
/// and in the collapse a tier upstream of the real limit can be pinned too (HAProxy holding
/// thousands of waiting connections and opening a server connection per request: walk17's
/// Users+++ named the load balancer at 9,670 req/s, while at the 8,883 that held the app boxes
/// were at their quota and HAProxy at 70% of its). The tier that saturated first as the load
/// rose is the one the next stage must address: where the stage held, the held verdict's tier
/// was busy and, by each tier's own CPU per request there, would run out at least
/// [`FIRST_MARGIN`] sooner than the tier the collapse pinned (walk20's Users+++: at the 8,999
/// req/s that held, the app's ceiling 9,534 req/s, HAProxy's 11,366). Without ceilings, the
/// pinned tier must not have been busy where the stage held. The generator can be the pinned
/// one too, when it had not spent its share (the caller checks): in a collapse it holds
/// thousands of requests in flight, and its sends fall behind (walk21's Users+++: the
/// generator named at 8,693 req/s; at the 8,160 that held, the app at p95 100% with a ceiling
/// of 8,234 req/s, the generator at 64% with one of 13,509).
fn first_to_saturate(failing: &crate::profiler::Verdict, limit: &crate::profiler::Verdict) -> bool {
    use crate::profiler::analysis::tiers::BUSY;
    let service = |b: &str| !matches!(b, "generator" | "none" | "machine");
    let pinnable = |b: &str| !matches!(b, "none" | "machine");
    let held = |tier: &str| limit.tiers.iter().find(|t| t.tier == tier);
    let (Some(named), Some(pinned)) = (held(&limit.bottleneck), held(&failing.bottleneck)) else { return false };
    let sooner = match (named.ceiling_rps, pinned.ceiling_rps) {
        (Some(first), Some(later)) => first < later * (1.0 - FIRST_MARGIN),
        _ => pinned.utilization_p95 < BUSY,
    };
    pinnable(&failing.bottleneck)
        && service(&limit.bottleneck)
        && failing.bottleneck != limit.bottleneck
        && named.utilization_p95 >= BUSY
        && sooner
}

/// How much sooner (as a share of the other's ceiling) the held verdict's tier must run out
/// than the tier a collapse pinned for it to be named instead: within it the two are too
/// close to tell apart by one step's figures, and the failing step's own reading stands.
const FIRST_MARGIN: f64 = 0.1;

#[cfg(test)]
mod tests {
    use crate::profiler::{TierFigures, Verdict};

    fn verdict(bottleneck: &str, tiers: &[(&str, f64)]) -> Verdict {
        with_ceilings(bottleneck, &tiers.iter().map(|(t, u)| (*t, *u, None)).collect::<Vec<_>>())
    }

    fn with_ceilings(bottleneck: &str, tiers: &[(&str, f64, Option<f64>)]) -> Verdict {
        Verdict {
            bottleneck: bottleneck.into(),
            confidence: "low".into(),
            sentence: String::new(),
            knee: None,
            tiers: tiers
                .iter()
                .map(|(t, u, c)| TierFigures {
                    tier: (*t).into(),
                    capacity: 1.0,
                    unit: "cores".into(),
                    utilization_p95: *u,
                    demand_s: 0.0,
                    ceiling_rps: *c,
                    saturation: vec![],
                })
                .collect(),
            evidence: vec![],
            headroom: None,
            faults: vec![],
        }
    }

    #[test]
    fn a_step_whose_verdict_names_a_service_tier_did_not_spend_the_generators_share() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-smoke.json");
        let mut s: crate::summary::Summary = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        // Sends late, and the generator's CPU over the step all of the most it could have had.
        let wall = s.scenario.duration_s + s.scenario.warmup_s;
        s.trustworthy = false;
        s.generator.cpu_seconds = wall * crate::topology::budget::machine_cores().max(8.0);
        s.verdict = Some(verdict("generator", &[]));
        assert!(super::generator_bound(&s));
        s.verdict = Some(verdict("app", &[("app", 1.0)]));
        assert!(!super::generator_bound(&s), "the app at its limit first: the collapse's, not the generator's");
        s.verdict = Some(verdict("none", &[]));
        assert!(super::generator_bound(&s));
        s.generator.cpu_seconds = 0.0;
        s.verdict = Some(verdict("generator", &[]));
        assert!(!super::generator_bound(&s), "late with CPU to spare: the target stalled the sends");
    }

    #[test]
    fn the_tier_at_its_limit_where_the_stage_held_is_named_over_one_pinned_in_the_collapse() {
        // walk17's Users+++: lb named at the failing 9,670; at the 8,883 that held, app 100%, lb 70%.
        let failing = verdict("lb", &[("app", 0.98), ("lb", 1.0)]);
        let held = verdict("app", &[("app", 1.0), ("lb", 0.704)]);
        assert!(super::first_to_saturate(&failing, &held));
        // Both at their limit where the stage held: the failing step's verdict stands.
        assert!(!super::first_to_saturate(&failing, &verdict("app", &[("app", 1.0), ("lb", 0.81)])));
        // Nothing at its limit where it held, or the same tier: no change.
        assert!(!super::first_to_saturate(&failing, &verdict("none", &[("app", 0.5), ("lb", 0.4)])));
        assert!(!super::first_to_saturate(&verdict("app", &[("app", 1.0)]), &held));
        // A generator verdict without the generator's figures where the stage held: no change.
        assert!(!super::first_to_saturate(&verdict("generator", &[]), &held));
    }

    #[test]
    fn by_their_ceilings_where_it_held_the_tier_that_runs_out_first_is_named() {
        // walk20's Users+++: lb pinned at the failing 11,537 req/s; at the 8,999 that held,
        // app p95 94% (ceiling 9,534 req/s), lb 83% (11,366).
        let failing = with_ceilings("lb", &[("app", 0.885, Some(3802.0)), ("lb", 1.0, Some(3244.0))]);
        let held = with_ceilings("app", &[("app", 0.943, Some(9534.0)), ("lb", 0.832, Some(11366.0))]);
        assert!(super::first_to_saturate(&failing, &held));
        // Ceilings within 10% of each other: the failing step's own reading stands.
        let close = with_ceilings("app", &[("app", 0.943, Some(9534.0)), ("lb", 0.93, Some(10_200.0))]);
        assert!(!super::first_to_saturate(&failing, &close));
        // The held verdict's tier not busy there: no change.
        let idle = with_ceilings("app", &[("app", 0.6, Some(9534.0)), ("lb", 0.5, Some(20_000.0))]);
        assert!(!super::first_to_saturate(&failing, &idle));
        // walk21's Users+++: the generator named in the collapse at 8,693 req/s; at the 8,160
        // that held it had room (ceiling 13,509) and the app was at p95 100% (8,234).
        let late = with_ceilings("generator", &[("generator", 1.0, Some(9555.0)), ("app", 1.0, Some(6776.0))]);
        let held = with_ceilings("app", &[("generator", 0.64, Some(13_509.0)), ("app", 1.0, Some(8234.0))]);
        assert!(super::first_to_saturate(&late, &held));
        // A generator near its own limit where the stage held too: its verdict stands.
        let tight = with_ceilings("app", &[("generator", 0.95, Some(8600.0)), ("app", 1.0, Some(8234.0))]);
        assert!(!super::first_to_saturate(&late, &tight));
    }
}
