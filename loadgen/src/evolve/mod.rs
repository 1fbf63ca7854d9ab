//! `loadgen evolve`: the benchmark → profile → fix loop over the seed's stages. For each stage:
//! find the highest constant rate at which the scenario's SLO holds ([`search`]), take the
//! verdict of the first step past it (where the bottleneck shows), move to the stage the
//! recommendation names, and repeat until the target rate is met or the path ends. Each step is
//! an ordinary run with its own report under `reports/<run-id>/<stage>/`; the loop's own
//! summary (`evolve.json`) and page (`index.html`) sit at the top.

pub mod projection;
pub mod report;
pub mod search;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::profiler::analysis::recommend;
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::{RunOptions, TargetChoice};
use search::CapacitySearch;

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
    /// Steps per stage at most.
    pub max_steps: u32,
    /// Stages at most.
    pub max_stages: usize,
    pub reports_dir: PathBuf,
    pub run_id: Option<String>,
}

/// One step of a stage's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepResult {
    pub rate: f64,
    pub achieved_rate: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub passed: bool,
    /// Why it failed (`slo p99`, `generator could not keep the schedule`, …).
    pub failed_because: Vec<String>,
    /// The step's report directory, relative to the evolve run directory.
    pub report: String,
}

/// One stage of the loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageResult {
    pub profile: String,
    pub stage: String,
    /// Highest rate that met the SLO (None: not even the lowest step did).
    pub sustainable_rate: Option<f64>,
    /// p99 at the sustainable rate.
    pub p99_ms: Option<f64>,
    /// Verdict of the step past the sustainable rate (or of the last step).
    pub bottleneck: String,
    pub confidence: String,
    pub sentence: String,
    /// The verdict's evidence, one line each.
    pub evidence: Vec<String>,
    pub next_profile: Option<String>,
    pub action: String,
    pub reason: String,
    pub expected_gain: String,
    pub steps: Vec<StepResult>,
    /// Per-request CPU of each box tier, from the step the verdict came from.
    pub demands: Vec<(String, f64)>,
}

/// The whole loop (`evolve.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvolveSummary {
    pub run_id: String,
    pub scenario: String,
    pub target_rate: f64,
    pub started_at: String,
    pub stages: Vec<StageResult>,
    pub target_met: bool,
    /// Why the loop stopped.
    pub stopped_because: String,
    pub projection: Option<projection::Projection>,
}

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

fn p99_ms(s: &Summary) -> f64 {
    s.operations.all.latency_us.p99 as f64 / 1000.0
}

fn step_result(s: &Summary, rate: f64, report: String) -> StepResult {
    let mut failed_because: Vec<String> = s.slo.checks.iter().filter(|c| !c.passed).map(|c| format!("SLO {} {:.3} > {:.3}", c.name, c.observed, c.limit)).collect();
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
    }
}

/// Where a stage's steps send their load: the embedded service for `single-box`, the stage
/// brought up on real servers by the topology launcher for the others.
fn target_for(profile: &str, options: &EvolveOptions) -> TargetChoice {
    TargetChoice::for_profile(profile.into(), options.profiles_dir.clone(), false)
}

/// Runs one stage's capacity search; returns the stage and the summary the verdict came from.
async fn run_stage(profile: &str, options: &EvolveOptions, dir: &std::path::Path) -> Result<StageResult, EvolveError> {
    let stage_error = |message: String| EvolveError::Stage { profile: profile.into(), message };
    let mut search = CapacitySearch::new(options.start_rate, options.target_rate, 0.2, options.max_steps);
    let mut steps = Vec::new();
    let mut summaries: Vec<(f64, Summary, PathBuf)> = Vec::new();
    while let Some(rate) = search.next_rate() {
        let run_id = format!("{}-{:.0}rps", steps.len() + 1, rate);
        let run = RunOptions {
            scenario: options.scenario.clone().with_overrides(Some(rate), Some(options.step), None),
            target: target_for(profile, options),
            reports_dir: dir.join(profile),
            run_id: Some(run_id.clone()),
            goose_report: false,
            progress: false,
            users: None,
            profile: true,
        };
        // A stage that fails to come up once (a port taken, a slow socket) gets one more try.
        let report = match crate::run(run.clone()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("evolve: {profile} at {rate:.0} req/s could not run ({e:#}); trying once more");
                crate::run(run).await.map_err(|e| stage_error(format!("{e:#}")))?
            }
        };
        let step = step_result(&report.summary, rate, format!("{profile}/{run_id}"));
        eprintln!(
            "evolve: {profile} at {rate:.0} req/s: achieved {:.0}, p99 {:.1} ms, {}",
            step.achieved_rate,
            step.p99_ms,
            if step.passed { "SLO held".to_owned() } else { format!("failed: {}", step.failed_because.join("; ")) }
        );
        search.record(rate, step.passed);
        steps.push(step);
        summaries.push((rate, report.summary, report.dir));
    }
    let sustainable = search.sustainable();
    // The bottleneck shows in the lowest failing step; when every step passed (target met),
    // the verdict of the highest one says what headroom is left.
    let source = summaries
        .iter()
        .filter(|(r, _, _)| sustainable.is_none_or(|s| *r > s))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .or_else(|| summaries.iter().max_by(|a, b| a.0.total_cmp(&b.0)))
        .ok_or_else(|| stage_error("the search ran no step".into()))?;
    let (_, summary, run_dir) = source;
    let verdict = summary.verdict.clone().ok_or_else(|| stage_error("the run has no verdict".into()))?;
    let rec = summary.recommendation.clone().ok_or_else(|| stage_error("the run has no recommendation".into()))?;
    let timeline: crate::profiler::Timeline = std::fs::read_to_string(run_dir.join(crate::html::TIMELINE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let achieved: Vec<(u64, f64)> = summary.series.iter().map(|s| (s.t, s.completed as f64)).collect();
    let at_sustainable = summaries.iter().find(|(r, _, _)| Some(*r) == sustainable).map(|(_, s, _)| p99_ms(s));
    Ok(StageResult {
        profile: profile.into(),
        stage: rec.current_stage.clone(),
        sustainable_rate: sustainable,
        p99_ms: at_sustainable,
        bottleneck: verdict.bottleneck.clone(),
        confidence: verdict.confidence.clone(),
        sentence: verdict.sentence.clone(),
        evidence: verdict.evidence.iter().map(|e| format!("{}: {} = {} (threshold {}, t {}–{} s) — {}", e.tier, e.metric, e.value, e.threshold, e.window[0], e.window[1], e.note)).collect(),
        next_profile: rec.next_profile.clone(),
        action: rec.action.clone(),
        reason: rec.reason.clone(),
        expected_gain: rec.expected_gain.clone(),
        steps,
        demands: projection::measured_demands(&timeline, &achieved),
    })
}

/// Runs the loop and writes its report.
pub async fn evolve(options: EvolveOptions) -> Result<EvolveReport, EvolveError> {
    let run_id = options.run_id.clone().unwrap_or_else(|| format!("{}-evolve", crate::run::default_run_id(&options.scenario.name)));
    let dir = options.reports_dir.join(&run_id);
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut stages: Vec<StageResult> = Vec::new();
    let mut profile = options.from.clone();
    let stopped_because = loop {
        if stages.len() >= options.max_stages {
            break format!("stopped after {} stages (--max-stages)", options.max_stages);
        }
        let stage = match run_stage(&profile, &options, &dir).await {
            Ok(stage) => stage,
            // What was measured so far still makes a report.
            Err(e) if !stages.is_empty() => break format!("stopped: {e}"),
            Err(e) => return Err(e),
        };
        let met = stage.sustainable_rate.is_some_and(|r| r >= options.target_rate);
        let next = stage.next_profile.clone().filter(|n| n != &profile && !stages.iter().any(|s| &s.profile == n));
        let bottleneck = stage.bottleneck.clone();
        let never_failed = stage.steps.iter().all(|s| s.passed);
        let reached = stage.sustainable_rate.unwrap_or(0.0);
        stages.push(stage);
        if met {
            break format!("{profile} sustains the target rate of {:.0} req/s", options.target_rate);
        }
        if never_failed && bottleneck == "none" {
            break format!("{profile} held every step up to {reached:.0} req/s and the search's steps ran out before its SLO broke: raise --max-steps or --start-rate to find its limit");
        }
        match next {
            Some(n) if options.profiles_dir.join(format!("{n}.toml")).is_file() => profile = n,
            Some(n) => break format!("the next stage, {n}, has no profile in {}", options.profiles_dir.display()),
            None if bottleneck == "generator" => break "the load generator was the limit: no stage can be judged past it".into(),
            None => break format!("the path ends: no later stage addresses the {bottleneck} bottleneck of {profile}"),
        }
    };
    // The seed's 40,000 reads/s are averages: size for the scenario's peak over its mean.
    let curve = options.scenario.load.curve(options.scenario.duration);
    let peak_factor = if curve.mean() > 0.0 { (curve.peak() / curve.mean()).max(1.0) } else { 1.0 };
    let projection = stages
        .iter()
        .rev()
        .find(|s| !s.demands.is_empty())
        .map(|s| projection::project(&s.demands, peak_factor, &projection::PriceTable::shipped()));
    let summary = EvolveSummary {
        run_id,
        scenario: options.scenario.name.clone(),
        target_rate: options.target_rate,
        started_at,
        target_met: stages.last().is_some_and(|s| s.sustainable_rate.is_some_and(|r| r >= options.target_rate)),
        stages,
        stopped_because,
        projection,
    };
    report::write(&dir, &summary)?;
    Ok(EvolveReport { summary, dir })
}

/// The stage names in path order, for the report's diagram.
pub fn path() -> &'static [&'static str] {
    &recommend::STAGES
}
