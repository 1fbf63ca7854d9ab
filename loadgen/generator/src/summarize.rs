//! Turning a finished run's recordings into its [`Summary`]: the per-operation figures, the
//! generator's self-check and the SLO checks.

use loadgen_model::run_dir::INTERVAL_LOG_FILE;
use std::time::Duration;

use crate::recorder::RecordedRun;
use crate::scenario::{GeneratorLimits, Scenario, Slo};
use crate::schedule::Schedule;
use loadgen_model::summary::{
    GeneratorInfo, OperationStats, Operations, Percentiles, ScheduleLag, SecondSample, SloCheck, SloReport, Summary,
    Verification,
};

/// Intended sends per operation in the measured part, from the schedule and the mix.
fn intended_counts(schedule: &Schedule, scenario: &Scenario, warmup: Duration) -> (u64, u64) {
    let mix = crate::keys::OperationMix::new(&scenario.mix, scenario.seed);
    let (mut reads, mut writes) = (0, 0);
    for k in schedule.indices() {
        if schedule.intended(k).is_some_and(|t| t >= warmup) {
            match mix.operation(k) {
                crate::keys::Operation::Read => reads += 1,
                crate::keys::Operation::Write => writes += 1,
            }
        }
    }
    (reads, writes)
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (count as f64 / seconds * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Measured CPU of the generator.
#[derive(Debug, Clone)]
pub struct CpuUse {
    /// Every generator thread: the sending threads, the profiler, progress and verifier.
    pub cpu: Option<Duration>,
    /// The sending threads alone: their share of `threads` cores is the self-check.
    pub sending: Option<Duration>,
    /// Sending threads.
    pub threads: usize,
    /// Wall time over which `cpu` was measured.
    pub wall: Duration,
}

/// Checks the generator could keep its schedule; returns plain-language reasons if not.
pub fn self_check(
    lag: &Percentiles,
    cpu_share: Option<f64>,
    limits: &GeneratorLimits,
    completed: u64,
    intended: u64,
    unsent_at_cap: u64,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let limit = limits.max_lag_p99.as_micros() as u64;
    if lag.p99 > limit {
        reasons.push(format!(
            "sends left late: schedule lag p99 {:.1} ms > {:.1} ms allowed — the generator's own timers or CPU could not keep the schedule",
            lag.p99 as f64 / 1000.0,
            limit as f64 / 1000.0
        ));
    }
    if let Some(share) = cpu_share {
        if share > limits.max_cpu_share {
            reasons.push(format!(
                "generator CPU at {:.0}% of its sending threads (limit {:.0}%) — it was itself a bottleneck",
                share * 100.0,
                limits.max_cpu_share * 100.0
            ));
        }
    }
    // Sends still waiting for an in-flight slot when the run ended never left because the
    // target held every slot: the target's doing, counted apart, not the generator stalling.
    if intended > 0 && (completed as f64) < intended as f64 * 0.98 && lag.count + unsent_at_cap < intended * 98 / 100 {
        reasons.push(format!(
            "only {} of {intended} intended sends left (the run was stopped early, or the generator stalled)",
            lag.count
        ));
    }
    reasons
}

/// Checks the scenario's SLOs (plus zero lost or corrupted writes).
pub fn slo_checks(slo: &Slo, all: &OperationStats, verification: &Verification) -> SloReport {
    let mut checks = Vec::new();
    let mut latency = |name: &str, limit: Option<Duration>, observed: u64| {
        if let Some(limit) = limit {
            let limit = limit.as_micros() as f64;
            checks.push(SloCheck {
                name: name.into(),
                limit,
                observed: observed as f64,
                passed: observed as f64 <= limit,
            });
        }
    };
    latency("p50_us", slo.p50, all.latency_us.p50);
    latency("p99_us", slo.p99, all.latency_us.p99);
    latency("p999_us", slo.p999, all.latency_us.p999);
    if let Some(limit) = slo.max_error_rate {
        let observed = if all.completed > 0 { all.errors as f64 / all.completed as f64 } else { 0.0 };
        checks.push(SloCheck { name: "error_rate".into(), limit, observed, passed: observed <= limit });
    }
    let bad = (verification.lost + verification.corrupted) as f64;
    checks.push(SloCheck { name: "lost_or_corrupted_writes".into(), limit: 0.0, observed: bad, passed: bad == 0.0 });
    SloReport { passed: checks.iter().all(|c| c.passed), checks }
}

/// Everything about a run that is not in the recorder.
#[derive(Debug)]
pub struct RunFacts<'a> {
    pub run_id: String,
    pub scenario: &'a Scenario,
    pub schedule: &'a Schedule,
    pub profile: Option<String>,
    pub target_kind: String,
    pub target_url: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Wall time of the measured part (from its scheduled start to the last response).
    pub measured_wall: Duration,
    pub users: usize,
    /// The in-flight cap and the most requests in flight at once.
    pub max_in_flight: usize,
    pub peak_in_flight: usize,
    /// Sends still waiting for an in-flight slot when the run ended.
    pub unsent_at_cap: u64,
    pub cpu: CpuUse,
    pub verification: Verification,
    pub goose_report: Option<String>,
}

/// Builds the summary of a run.
pub fn build_summary(facts: &RunFacts<'_>, run: &RecordedRun) -> Summary {
    let scenario = facts.scenario;
    let warmup = scenario.warmup;
    let seconds = scenario.duration.as_secs_f64();
    let (intended_reads, intended_writes) = intended_counts(facts.schedule, scenario, warmup);
    let stats = |intended: u64, ok: &hdrhistogram::Histogram<u64>, errors: u64| {
        let completed = ok.len() + errors;
        OperationStats {
            intended,
            completed,
            errors,
            intended_rate: rate(intended, seconds),
            achieved_rate: rate(completed, run.measured_until.as_secs_f64().max(seconds)),
            latency_us: Percentiles::of(ok),
        }
    };
    let read = stats(intended_reads, &run.tags[0].total, run.errors_by_op[0]);
    let write = stats(intended_writes, &run.tags[1].total, run.errors_by_op[1]);
    let mut both = run.tags[0].total.clone();
    let _ = both.add(&run.tags[1].total);
    let all = stats(intended_reads + intended_writes, &both, run.errors_by_op[0] + run.errors_by_op[1]);

    let series = (0..run.seconds().max(scenario.duration.as_secs() as usize))
        .map(|s| {
            let from = warmup + Duration::from_secs(s as u64);
            let h = run.second_all(s);
            let errors = run.tags[2].per_second.get(s).map_or(0, |e| e.len());
            SecondSample {
                t: s as u64,
                intended: (facts.schedule.intended_between(from, from + Duration::from_secs(1)) * 100.0).round()
                    / 100.0,
                sent: run.lag.per_second.get(s).map_or(0, |h| h.len()),
                lag_p99_us: run.lag.per_second.get(s).map_or(0, |h| {
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(0.99)
                    }
                }),
                completed: h.len(),
                errors,
                latency_us: Percentiles::of(&h),
            }
        })
        .collect();

    let lag = Percentiles::of(&run.lag.total);
    let wall = facts.measured_wall.as_secs_f64().max(0.001);
    let cpu_wall = facts.cpu.wall.as_secs_f64().max(0.001);
    let cpu_share = facts.cpu.sending.map(|c| c.as_secs_f64() / (cpu_wall * facts.cpu.threads.max(1) as f64));
    let reasons = self_check(&lag, cpu_share, &scenario.generator, all.completed, all.intended, facts.unsent_at_cap);
    let cpu_seconds = facts.cpu.cpu.map_or(0.0, |c| c.as_secs_f64());
    let generator = GeneratorInfo {
        users: facts.users,
        processes: 1,
        cpu_seconds,
        // The CPU covers the warm-up too, so its requests count here.
        cpu_us_per_request: match all.completed + run.warmup_requests {
            0 => 0.0,
            n => (cpu_seconds * 1e6 / n as f64 * 10.0).round() / 10.0,
        },
        cpu_share: cpu_share.map_or(0.0, |s| (s * 1000.0).round() / 1000.0),
        threads: facts.cpu.threads,
        cpu_source: if facts.cpu.cpu.is_some() { "threads".into() } else { "unavailable".into() },
        max_in_flight: facts.max_in_flight,
        peak_in_flight: facts.peak_in_flight,
        held_at_cap: run.held_at_cap,
        unsent_at_cap: facts.unsent_at_cap,
        overloaded: !reasons.is_empty(),
        reasons,
        waived: Vec::new(),
    };
    let slo = slo_checks(&scenario.slo, &all, &facts.verification);
    let curve = facts.schedule.curve();
    let mut rate_curve: Vec<[f64; 2]> = curve
        .points()
        .iter()
        .filter(|p| p.0 >= warmup.as_secs_f64())
        .map(|p| [p.0 - warmup.as_secs_f64(), p.1])
        .collect();
    rate_curve.dedup();
    Summary {
        schema_version: loadgen_model::summary::SCHEMA_VERSION,
        run_id: facts.run_id.clone(),
        scenario: loadgen_model::summary::ScenarioInfo {
            name: scenario.name.clone(),
            seed: scenario.seed,
            duration_s: seconds,
            warmup_s: warmup.as_secs_f64(),
            read_weight: scenario.mix.read,
            write_weight: scenario.mix.write,
            zipf_exponent: scenario.keys.zipf_exponent,
            preload: scenario.keys.preload,
            time_compression: matches!(scenario.load, crate::shape::LoadShape::PeakUs { .. })
                .then(|| (86_400.0 / seconds * 10.0).round() / 10.0),
            rate_curve,
        },
        profile: facts.profile.clone(),
        target: loadgen_model::summary::TargetInfo { kind: facts.target_kind.clone(), url: facts.target_url.clone() },
        started_at: facts.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_s: (wall * 1000.0).round() / 1000.0,
        operations: Operations { read, write, all },
        errors_by_kind: run.errors.clone(),
        series,
        schedule_lag: ScheduleLag { lag_us: lag, limit_p99_us: scenario.generator.max_lag_p99.as_micros() as u64 },
        trustworthy: !generator.overloaded,
        generator,
        verification: facts.verification.clone(),
        slo,
        files: loadgen_model::summary::ReportFiles {
            interval_log: INTERVAL_LOG_FILE.into(),
            goose_report: facts.goose_report.clone(),
        },
        verdict: None,
        recommendation: None,
        cloudwatch: None,
        fleet: None,
        seed_users: None,
        worker: None,
        workers: Vec::new(),
    }
}
