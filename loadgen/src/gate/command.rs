//! `loadgen gate`, `gate record` and `gate calibrate`: the orchestration around the pure
//! parts (figures, SLOs, statistics) and the outputs.

use std::path::Path;
use std::time::Instant;

use crate::exit::Exit;
use crate::scenario::Scenario;

use super::ab::{self, AbSettings};
use super::args::{
    AbRunArgs, BaselineArgs, CalibrateArgs, CandidateArgs, CheckArgs, GateArgs, GateCommand, RecordArgs, ShapeArgs,
};
use super::baseline::{self, GateBaseline, RunShape};
use super::calibration::{self, Calibration, ThresholdSettings, CALIBRATION_VERSION};
use super::check::GateResult;
use super::runner::{measured_run, Measured, RunPlan};
use super::side::Side;
use super::slo::{self, SloOverrides};
use super::{output, GateError};

/// Threshold used when neither --threshold nor --calibration is given: wide enough for the
/// A/A spread of CPU per request measured on the project's shared 2-core machines
/// (BENCHMARKS.md), far below the 2x a real regression of that kind shows.
pub const DEFAULT_THRESHOLD: f64 = 1.3;

/// Runs `loadgen gate …`; the exit code to end with.
pub async fn execute(args: GateArgs) -> Result<Exit, GateError> {
    match args.command {
        Some(GateCommand::Record(a)) => record(a).await,
        Some(GateCommand::Calibrate(a)) => calibrate(a).await,
        None => check(args.check).await,
    }
}

fn scenario(shape: &ShapeArgs) -> Result<Scenario, GateError> {
    let s = Scenario::find(&shape.scenario, &shape.scenarios_dir)
        .map_err(|e| GateError::BadInput(e.to_string()))?
        .with_overrides(shape.rate, shape.duration, shape.seed);
    s.validate()
        .map_err(|(field, reason)| GateError::BadInput(format!("scenario {}: field `{field}`: {reason}", s.name)))?;
    Ok(s)
}

/// The scenario of the A/B runs: the same traffic, at the A/B rate and length.
fn ab_scenario(shape: &ShapeArgs, runs: &AbRunArgs) -> Result<Scenario, GateError> {
    let mut s = scenario(shape)?.with_overrides(Some(runs.ab_rate), Some(runs.ab_duration), None);
    s.warmup = runs.ab_warmup;
    s.validate().map_err(|(field, reason)| GateError::BadInput(format!("A/B runs: field `{field}`: {reason}")))?;
    Ok(s)
}

fn candidate(c: &CandidateArgs, shape: &ShapeArgs) -> Result<Side, GateError> {
    Side::from_options(
        c.candidate_profile.as_deref(),
        c.candidate_url.as_deref(),
        c.candidate_cmd.as_deref(),
        "single-box",
        &shape.profiles_dir,
    )
}

fn baseline_side(b: &BaselineArgs, shape: &ShapeArgs) -> Result<Option<Side>, GateError> {
    if b.baseline_profile.is_none() && b.baseline_url.is_none() && b.baseline_cmd.is_none() {
        return Ok(None);
    }
    Side::from_options(
        b.baseline_profile.as_deref(),
        b.baseline_url.as_deref(),
        b.baseline_cmd.as_deref(),
        "single-box",
        &shape.profiles_dir,
    )
    .map(Some)
}

fn plan(shape: &ShapeArgs, scenario: Scenario, name: &str, profile: bool, drain: bool) -> RunPlan {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    RunPlan { scenario, reports_dir: shape.out.join("runs"), run_id: format!("{stamp}-{name}"), profile, drain }
}

/// The figures/SLO run, retried (up to `retries` times) when the generator fell behind.
async fn figures_run(side: &Side, plan: &RunPlan, retries: u32) -> Result<Measured, GateError> {
    let mut attempt = 0;
    loop {
        let p = RunPlan { run_id: format!("{}-{}", plan.run_id, attempt + 1), ..plan.clone() };
        let run = measured_run(side, &p).await?;
        if run.summary.trustworthy || attempt >= retries {
            return Ok(run);
        }
        attempt += 1;
        eprintln!(
            "loadgen gate: the generator fell behind ({}); running again",
            run.summary.generator.reasons.join("; ")
        );
    }
}

async fn check(args: CheckArgs) -> Result<Exit, GateError> {
    if let Some(dir) = &args.run {
        return super::judge::judge_run(dir, &args);
    }
    let started = Instant::now();
    let shape = &args.shape;
    let scenario = scenario(shape)?;
    let candidate = candidate(&args.candidate, shape)?;
    let recorded = args.figures.as_deref().map(GateBaseline::load).transpose()?;
    let mut notes =
        vec![format!("candidate: {}; scenario {} (seed {})", candidate.label(), scenario.name, scenario.seed)];

    // Deterministic figures and SLOs: one drained, profiled run.
    let run = figures_run(&candidate, &plan(shape, scenario.clone(), "figures", true, true), args.retries).await?;
    let mut checks = Vec::new();
    if let Some(b) = &recorded {
        let shape_now = RunShape::of(&scenario, &run.summary);
        if shape_now != b.run {
            return Err(GateError::BadInput(format!(
                "the baseline {} was recorded for {:?}, this run is {:?}: use the same scenario, seed, rate and duration, or re-record it",
                args.figures.as_deref().unwrap_or(Path::new("")).display(),
                b.run,
                shape_now
            )));
        }
        notes.push(format!(
            "figures baseline: {} ({}, recorded {})",
            args.figures.as_deref().unwrap_or(Path::new("")).display(),
            b.target,
            b.created_at
        ));
        checks.extend(baseline::checks(b, &run));
    }
    let slo = SloOverrides { p99: args.slo_p99, max_error_rate: args.slo_error_rate }.apply(&scenario.slo);
    checks.extend(slo::checks(&run.summary, &slo));

    let baseline = baseline_side(&args.baseline, shape)?;
    let ab = if args.ab || baseline.is_some() {
        let baseline = baseline.unwrap_or_else(|| candidate.clone());
        let (threshold, source) = threshold(&args)?;
        notes.push(format!(
            "A/B baseline: {}{}",
            baseline.label(),
            if baseline == candidate { " (the candidate itself: A/A)" } else { "" }
        ));
        let ab_plan = plan(shape, ab_scenario(shape, &args.ab_runs)?, "ab", false, false);
        eprintln!(
            "loadgen gate: {} interleaved pairs of {} at {}/s for {:?}",
            args.pairs,
            args.ab_runs.metric.name(),
            args.ab_runs.ab_rate,
            args.ab_runs.ab_duration
        );
        let pairs = ab::run_pairs(&baseline, &candidate, args.ab_runs.metric, args.pairs.max(1), &ab_plan).await?;
        let settings = AbSettings {
            metric: args.ab_runs.metric,
            pairs: args.pairs,
            threshold,
            threshold_source: source,
            confidence: args.confidence,
            resamples: args.resamples,
            seed: args.ab_runs.bootstrap_seed,
        };
        let outcome = ab::summarise(pairs, &settings)?;
        checks.push(output::ab_check(&outcome));
        Some(outcome)
    } else {
        None
    };
    notes.push(format!("gate took {:.1} s", started.elapsed().as_secs_f64()));
    let result = GateResult::new(checks, notes, ab);
    let written = output::write_all(&shape.out, &result)?;
    println!("{}", output::terminal(&result));
    println!("written: {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(result.exit())
}

fn threshold(args: &CheckArgs) -> Result<(f64, String), GateError> {
    if let Some(t) = args.threshold {
        return Ok((t, "--threshold".into()));
    }
    let Some(path) = &args.calibration else {
        return Ok((DEFAULT_THRESHOLD, "default, not calibrated on this machine".into()));
    };
    let cal = Calibration::load(path)?;
    if cal.metric != args.ab_runs.metric.name() {
        return Err(GateError::BadInput(format!(
            "calibration {} is for metric {}, not {}",
            path.display(),
            cal.metric,
            args.ab_runs.metric.name()
        )));
    }
    let t = cal.threshold_for(args.pairs, args.fpr)?;
    Ok((
        t,
        format!(
            "calibrated: {} A/A pairs on {}, {} pairs, fpr {}",
            cal.ratios.len(),
            cal.machine,
            args.pairs,
            args.fpr
        ),
    ))
}

async fn record(args: RecordArgs) -> Result<Exit, GateError> {
    let scenario = scenario(&args.shape)?;
    let side = candidate(&args.candidate, &args.shape)?;
    let run = figures_run(&side, &plan(&args.shape, scenario.clone(), "record", true, true), 1).await?;
    if !run.summary.trustworthy {
        return Err(GateError::Measurement(
            "the generator could not keep its schedule: not recording these figures".into(),
        ));
    }
    let b = GateBaseline::record(side.label(), &scenario, &run)
        .ok_or_else(|| GateError::Measurement("the service answered no API request".into()))?;
    b.save(&args.file)?;
    for (name, value) in &b.figures {
        println!("  {name:<34} {value}");
    }
    if let Some(v) = &b.verdict {
        println!(
            "  verdict bottleneck {}, recommended stage {} ({} confidence)",
            v.bottleneck, v.next_stage, v.confidence
        );
        if v.confidence == "low" {
            println!("  note: a low-confidence verdict (host load from other work?) is not gated; re-record on a quieter machine to gate it");
        }
    }
    println!("baseline written: {}", args.file.display());
    Ok(Exit::Ok)
}

async fn calibrate(args: CalibrateArgs) -> Result<Exit, GateError> {
    let side = baseline_side(&args.baseline, &args.shape)?
        .unwrap_or_else(|| Side::profile("single-box", &args.shape.profiles_dir));
    let scenario = ab_scenario(&args.shape, &args.ab_runs)?;
    let runs = format!(
        "{} at {}/s for {:?} (+{:?} warm-up)",
        scenario.name, args.ab_runs.ab_rate, args.ab_runs.ab_duration, args.ab_runs.ab_warmup
    );
    eprintln!(
        "loadgen gate calibrate: {} A/A pairs of {} on {}, {runs}",
        args.aa_pairs,
        args.ab_runs.metric.name(),
        side.label()
    );
    let pairs = ab::run_pairs(
        &side,
        &side,
        args.ab_runs.metric,
        args.aa_pairs.max(2),
        &plan(&args.shape, scenario, "calibrate", false, false),
    )
    .await?;
    let ratios: Vec<f64> = pairs.iter().map(|p| p.ratio).collect();
    let settings = ThresholdSettings {
        pairs: args.pairs,
        fpr: args.fpr,
        confidence: args.confidence,
        min_effect: args.min_effect,
        ..ThresholdSettings::default()
    };
    let threshold = calibration::threshold(&ratios, &settings)?;
    let spread = super::stats::bootstrap_median(&ratios, 2000, args.confidence, settings.seed)?;
    let cal = Calibration {
        version: CALIBRATION_VERSION,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: calibration::machine_description(),
        metric: args.ab_runs.metric.name().into(),
        runs,
        ratios,
        settings,
        threshold,
    };
    let (lo, hi) = cal.ratios.iter().fold((f64::INFINITY, 0.0_f64), |(l, h), &r| (l.min(r), h.max(r)));
    println!(
        "A/A ratios: min {lo:.3}, max {hi:.3}, median {:.3} (95% CI {:.3}–{:.3})",
        spread.estimate, spread.low, spread.high
    );
    println!("threshold for {} pairs at a false-positive rate of {}: {threshold:.3}", args.pairs, args.fpr);
    if let Some(path) = &args.write {
        cal.save(path)?;
        println!("calibration written: {}", path.display());
    }
    Ok(Exit::Ok)
}
