//! `loadgen evolve`: the benchmark → profile → fix loop over the seed's stages. For each stage:
//! bring it up once, find the highest constant rate at which the scenario's SLO holds
//! ([`search`], [`stage`]) — raising the rate until the SLO breaks or the generator's reserved
//! share is spent —, take the verdict of the first step past it (where the bottleneck shows),
//! move to the stage the recommendation names, and repeat until the target rate is met or the
//! path ends. By default the target is the seed's ten million users: 40,400 req/s on average,
//! times the scenario's peak/average. A stage that sustains less than the one before is
//! flagged as a regression, with its cause. Each step is an ordinary run with its own report
//! under `reports/<run-id>/<stage>/`; the loop's own summary (`evolve.json`) and page
//! (`index.html`) sit at the top.

pub use loadgen_analysis::projection;
pub mod report;
pub mod search;
pub mod stage;

use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::Scenario;

/// What the loop needs.
#[derive(Debug, Clone)]
pub struct EvolveOptions {
    pub scenario: Scenario,
    /// Profile to start from (`single-box` by default).
    pub from: String,
    pub profiles_dir: PathBuf,
    /// Rate to reach (req/s); the loop ends at the first stage that sustains it.
    pub target_rate: f64,
    /// First rate each stage's search tries.
    pub start_rate: f64,
    /// Length of each step (after the scenario's warm-up).
    pub step: Duration,
    /// Steps per stage at most: a safety limit, not the way a search ends (it ends where the
    /// SLO breaks, the generator's share is spent, or the target holds).
    pub max_steps: u32,
    /// Stages at most.
    pub max_stages: usize,
    pub reports_dir: PathBuf,
    pub run_id: Option<String>,
}

pub use loadgen_model::evolve::{EvolveSummary, StageResult, StepResult};

#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    #[error("stage {profile}: {message}")]
    Stage { profile: String, message: String },
    #[error("writing the evolve report in {path}: {message}")]
    Report { path: PathBuf, message: String },
}

/// A finished loop.
#[derive(Debug)]
pub struct EvolveReport {
    pub summary: EvolveSummary,
    pub dir: PathBuf,
}

/// The scenario's peak rate over its mean (1 for a flat curve).
pub fn peak_to_average(scenario: &Scenario) -> f64 {
    let curve = scenario.load.curve(scenario.duration);
    if curve.mean() > 0.0 {
        (curve.peak() / curve.mean()).max(1.0)
    } else {
        1.0
    }
}

/// The default target: the seed's ten million users at the scenario's peak (40,400 req/s on
/// average × peak/average).
pub fn seed_target_rate(scenario: &Scenario) -> f64 {
    crate::capacity::peak_rate_of(crate::capacity::SEED_USERS, peak_to_average(scenario))
}

/// The regression note of a stage that sustains less than the stage before it, naming what
/// bound it first.
pub fn regression(previous: &StageResult, stage: &StageResult) -> Option<String> {
    let before = previous.sustainable_rate?;
    let now = stage.sustainable_rate.unwrap_or(0.0);
    if now >= before {
        return None;
    }
    let cores = match (previous.fleet_cores, stage.fleet_cores) {
        (Some(a), Some(b)) => format!(" on {b:.3} cores of boxes against {a:.3}"),
        _ => String::new(),
    };
    // Each search stops within SEARCH_TOLERANCE of its stage's limit, so two stages of one
    // capacity can land that far apart: say so, rather than let a reader take it for a cause.
    let resolution = if now >= before * (1.0 - stage::SEARCH_TOLERANCE) {
        format!(" (within the searches' {:.0}% resolution: the two may hold the same)", stage::SEARCH_TOLERANCE * 100.0)
    } else {
        String::new()
    };
    Some(format!(
        "sustains {now:.0} req/s, {:.0}% less than {}'s {before:.0} req/s{resolution}{cores}: {} binds first here ({})",
        (1.0 - now / before) * 100.0,
        previous.profile,
        stage.bottleneck,
        stage.sentence
    ))
}

/// Runs the loop and writes its report.
pub async fn evolve(options: EvolveOptions) -> Result<EvolveReport, EvolveError> {
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| format!("{}-evolve", crate::run::default_run_id(&options.scenario.name)));
    let dir = options.reports_dir.join(&run_id);
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut stages: Vec<StageResult> = Vec::new();
    let mut profile = options.from.clone();
    let stopped_because = loop {
        if stages.len() >= options.max_stages {
            break format!("stopped after {} stages (--max-stages)", options.max_stages);
        }
        // A later stage starts its search where the one before held: it should hold that much.
        let start_rate =
            stages.last().and_then(|s| s.sustainable_rate).map_or(options.start_rate, |r| r.max(options.start_rate));
        let mut stage = match stage::run_stage(&profile, &options, &dir, start_rate).await {
            Ok(stage) => stage,
            // What was measured so far still makes a report.
            Err(e) if !stages.is_empty() => break format!("stopped: {e}"),
            Err(e) => return Err(e),
        };
        stage.regression = stages.last().and_then(|p| regression(p, &stage));
        let met = stage.sustainable_rate.is_some_and(|r| r >= options.target_rate);
        let next = stage.next_profile.clone().filter(|n| n != &profile && !stages.iter().any(|s| &s.profile == n));
        let bottleneck = stage.bottleneck.clone();
        let never_failed = stage.steps.iter().all(|s| s.passed);
        let reached = stage.sustainable_rate.unwrap_or(0.0);
        let generator_limited = stage.generator_limited;
        let host_limited = stage.sentence.starts_with(crate::profiler::analysis::verdict::HOST_LIMITED);
        stages.push(stage);
        if met {
            break format!("{profile} sustains the target rate of {:.0} req/s", options.target_rate);
        }
        if generator_limited {
            break format!("{profile} held {reached:.0} req/s where the generator's reserved share was spent: no stage can be judged past it on this machine");
        }
        if never_failed && bottleneck == "none" {
            break format!("{profile} held every step up to {reached:.0} req/s and the search's steps ran out before its SLO broke: raise --max-steps (a safety limit) or --start-rate to find its limit");
        }
        match next {
            Some(n) if options.profiles_dir.join(format!("{n}.toml")).is_file() => profile = n,
            Some(n) => break format!("the next stage, {n}, has no profile in {}", options.profiles_dir.display()),
            None if bottleneck == "generator" && host_limited => {
                break format!("the host took the machine's time (steal) while the generator's box was not spent, so {profile}'s steps measured the host: run the walk again when the machine is quieter")
            }
            None if bottleneck == "generator" => break "the load generator was the limit: no stage can be judged past it".into(),
            None => break format!("the path ends: no later stage addresses the {bottleneck} bottleneck of {profile}"),
        }
    };
    // The seed's 40,000 reads/s are averages: size for the scenario's peak over its mean.
    let peak_factor = peak_to_average(&options.scenario);
    let projection = stages
        .iter()
        .rev()
        .find(|s| !s.demands.is_empty())
        .map(|s| projection::project(&s.demands, peak_factor, &projection::PriceTable::shipped()));
    let summary = EvolveSummary {
        run_id,
        scenario: options.scenario.name.clone(),
        target_rate: options.target_rate,
        peak_to_average: peak_factor,
        started_at,
        target_met: stages.last().is_some_and(|s| s.sustainable_rate.is_some_and(|r| r >= options.target_rate)),
        stages,
        // A stage's error may quote a launched server's URL, password included.
        stopped_because: crate::redact::secrets(&stopped_because),
        projection,
    };
    report::write(&dir, &summary)?;
    Ok(EvolveReport { summary, dir })
}

/// The stage names in path order, for the report's diagram.
pub fn path() -> &'static [&'static str] {
    &loadgen_model::stages::STAGE_IDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(profile: &str, rate: Option<f64>, cores: f64) -> StageResult {
        let mut s: StageResult = serde_json::from_value(serde_json::json!({
            "profile": profile, "stage": profile, "sustainable_rate": rate, "p99_ms": null,
            "bottleneck": "db_primary", "confidence": "high", "sentence": "the primary is at its quota",
            "evidence": [], "next_profile": null, "action": "", "reason": "", "expected_gain": "", "steps": [], "demands": []
        }))
        .unwrap();
        s.fleet_cores = Some(cores);
        s
    }

    #[test]
    fn a_stage_that_sustains_less_is_a_regression_with_its_cause() {
        let before = stage("single-box", Some(1000.0), 0.25);
        let note = regression(&before, &stage("users-plus", Some(600.0), 0.5)).unwrap();
        assert!(
            note.contains("40% less than single-box's 1000 req/s") && note.contains("db_primary binds first"),
            "{note}"
        );
        assert!(note.contains("0.500 cores of boxes against 0.250"), "{note}");
        assert!(regression(&before, &stage("users-plus", None, 0.5)).is_some(), "holding nothing is less");
        assert!(regression(&before, &stage("users-plus", Some(1000.0), 0.5)).is_none());
        assert!(!note.contains("resolution"), "40% less is no search artefact: {note}");
        let close = regression(&before, &stage("users-plus", Some(920.0), 0.5)).unwrap();
        assert!(close.contains("8% less") && close.contains("within the searches' 10% resolution"), "{close}");
        assert!(regression(&stage("single-box", None, 0.25), &stage("users-plus", Some(5.0), 0.5)).is_none());
    }

    #[test]
    fn the_default_target_is_the_seeds_ten_million_users_at_the_scenarios_peak() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let peak = Scenario::find("peak-us", &dir).unwrap();
        assert!((seed_target_rate(&peak) / 80_800.0 - 1.0).abs() < 0.01, "{}", seed_target_rate(&peak));
        let steady = Scenario::find("steady", &dir).unwrap();
        assert!((seed_target_rate(&steady) - 40_400.0).abs() < 1e-6);
    }
}
