//! One whole run: start or check the target, preload the corpus, drive the schedule with
//! Goose, read back sampled writes, and write `reports/<run-id>/`.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::attack::AttackError;
use crate::distributed::Distributed;
use crate::requests::ApiUrls;
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::target::{RunningTarget, TargetChoice, TargetError};

mod steps;

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub target: TargetChoice,
    /// Parent of the run's report directory (`reports/`).
    pub reports_dir: PathBuf,
    /// Defaults to `<UTC timestamp>-<scenario>`.
    pub run_id: Option<String>,
    /// Also write Goose's own HTML report.
    pub goose_report: bool,
    /// Draw the progress bar (it is hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Overrides the number of Goose users sized from the scenario.
    pub users: Option<usize>,
    /// Sample host, service and server metrics and draw a verdict (off only to measure the
    /// profiler's own overhead).
    pub profile: bool,
}

/// A finished run.
#[derive(Debug)]
pub struct RunReport {
    pub summary: Summary,
    /// `reports/<run-id>/`.
    pub dir: PathBuf,
}

/// Why a run could not be carried out (a run that breached its SLOs is not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Attack(#[from] AttackError),
    #[error("cannot write the report in {path}: {source}")]
    Report { path: PathBuf, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("run id taken: {path} already exists (an explicit --run-id never overwrites a report; pick another or remove it)")]
    RunIdTaken { path: PathBuf },
    #[error(transparent)]
    Distributed(#[from] crate::distributed::DistributedError),
    #[error(transparent)]
    FaultsNeedStage(#[from] crate::faults::inject::FaultsNeedStage),
}

impl RunError {
    /// Whether the caller asked for something impossible (exit code 2), rather than the
    /// target or the machine failing.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Target(t) => t.is_bad_input(),
            Self::RunIdTaken { .. } | Self::Distributed(_) | Self::FaultsNeedStage(_) => true,
            _ => false,
        }
    }
}

/// The default run id: `<UTC timestamp>-<scenario>`.
pub fn default_run_id(scenario: &str) -> String {
    format!("{}-{scenario}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

pub use loadgen_topology::target::corpus::preload;

/// The HTTP client of a run (also used by the gate for its `/metrics` scrapes).
pub fn http_client() -> Result<reqwest::Client, RunError> {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| RunError::Client(e.to_string()))
}

/// The rate curve a run of `scenario` sends: its warm-up at the rate the measured part starts
/// with, then the measured part (every worker of a distributed run builds the same one).
///
/// Not at the curve's mean: where the mean lies above the box's ceiling the warm-up alone
/// overloads it, and the backlog it leaves lands on the first measured seconds (peak-us on
/// the single box: 606 req/s of warm-up against a ceiling of ~345 req/s, then the measured
/// part's 104 req/s answered at 75-97 per second for 6 s, and the knee found at t = 0).
pub fn schedule_curve(scenario: &Scenario) -> crate::shape::RateCurve {
    let measured = scenario.load.curve(scenario.duration);
    measured.after_warmup(scenario.warmup.as_secs_f64(), measured.rate_at(0.0))
}

/// Carries out a run and writes its report directory.
pub async fn run(options: RunOptions) -> Result<RunReport, RunError> {
    run_with(options, None).await
}

/// Carries out one worker's share of a distributed run (see [`crate::distributed`]).
pub async fn run_distributed(options: RunOptions, distributed: &Distributed) -> Result<RunReport, RunError> {
    run_with(options, Some(distributed)).await
}

async fn run_with(options: RunOptions, distributed: Option<&Distributed>) -> Result<RunReport, RunError> {
    // Before a stage is launched for nothing: an explicit run id that is taken is refused.
    if let Some(id) = &options.run_id {
        let path = options.reports_dir.join(id);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(RunError::RunIdTaken { path });
        }
    }
    // Faults are done to a launched stage: refused before anything is started for nothing.
    crate::faults::inject::check_target(&options.scenario, &options.target)?;
    let client = http_client()?;
    let target = RunningTarget::start(&options.target, &client).await?;
    let result = run_on_with(&options, &target, distributed).await;
    target.stop().await;
    result
}

/// Carries out a run against a target that is already up (`options.target` says what it
/// is) and leaves it running: the gate reads the service's counters around it.
pub async fn run_on(options: &RunOptions, target: &RunningTarget) -> Result<RunReport, RunError> {
    run_on_with(options, target, None).await
}

async fn run_on_with(
    options: &RunOptions,
    target: &RunningTarget,
    distributed: Option<&Distributed>,
) -> Result<RunReport, RunError> {
    let (run_id, dir) = claim_report_dir(options)?;
    let client = http_client()?;
    let summary = drive(options, &run_id, &dir, &client, target, distributed).await?;
    Ok(RunReport { summary, dir })
}

/// Creates the run's report directory, new: an explicit run id that exists is refused (its
/// report is never overwritten); a default one taken by a run in the same second gets a
/// `-2`, `-3`, … suffix.
fn claim_report_dir(options: &RunOptions) -> Result<(String, PathBuf), RunError> {
    let report_error = |path: &std::path::Path, source| RunError::Report { path: path.to_owned(), source };
    std::fs::create_dir_all(&options.reports_dir).map_err(|e| report_error(&options.reports_dir, e))?;
    let base = options.run_id.clone().unwrap_or_else(|| default_run_id(&options.scenario.name));
    for n in 1..=100 {
        let run_id = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let dir = options.reports_dir.join(&run_id);
        // mkdir, not mkdir -p: it fails on anything already there, a symlink included.
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((run_id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && options.run_id.is_none() => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(RunError::RunIdTaken { path: dir }),
            Err(e) => return Err(report_error(&dir, e)),
        }
    }
    let path = options.reports_dir.join(&base);
    Err(report_error(&path, std::io::Error::other("a hundred runs of this id in one second")))
}

/// The run's fixed inputs, handed to each of its steps.
pub(crate) struct RunPlace<'a> {
    pub options: &'a RunOptions,
    pub run_id: &'a str,
    /// The run directory.
    pub dir: &'a std::path::Path,
    pub client: &'a reqwest::Client,
    pub target: &'a RunningTarget,
    pub distributed: Option<&'a Distributed>,
    pub base_url: String,
}

/// One run, step by step: corpus, engine, stage record, a common start (distributed runs),
/// profiler, sending, and the run directory.
async fn drive(
    options: &RunOptions,
    run_id: &str,
    dir: &std::path::Path,
    client: &reqwest::Client,
    target: &RunningTarget,
    distributed: Option<&Distributed>,
) -> Result<Summary, RunError> {
    let place = RunPlace { options, run_id, dir, client, target, distributed, base_url: target.base_url.clone() };
    let scenario = &options.scenario;
    let api = ApiUrls::new(&place.base_url)
        .map_err(|reason| TargetError::BadUrl { url: place.base_url.clone(), reason })?
        .with_max_response_bytes(scenario.generator.max_response_bytes);
    let corpus = steps::obtain_corpus(&place, &api).await?;
    let engine = steps::Engine::build(&place, &api, corpus);

    let stop = CancellationToken::new();
    let verifying = tokio::spawn(engine.verifier.clone().run(client.clone(), api, stop.clone()));
    let progress = tokio::spawn(crate::progress::show(engine.pacer.clone(), options.progress, stop.clone()));
    let stage = steps::StageRecord::read(&place).await;
    let bound = (scenario.warmup + scenario.duration).as_secs() + 30;
    let start_at = distributed.and_then(|d| d.start_at);
    if let Some(at) = start_at {
        crate::distributed::start::sleep_until_lead(at).await;
    }
    let profiler = match options.profile {
        true => Some(steps::start_profiler(&place, &stage, bound).await),
        false => None,
    };
    let start_plan = start_at.map(crate::distributed::start::plan);
    if let Some(plan) = &start_plan {
        engine.pacer.start_at(plan.zero);
    }
    let sent = steps::send(&place, &engine, &stage, bound).await?;
    stop.cancel();
    let _ = progress.await;
    let _ = verifying.await;
    let clock = match distributed {
        Some(_) => crate::distributed::clock::measure(client, &place.base_url).await,
        None => None,
    };
    steps::conclude(&place, &engine, stage, sent, profiler, start_plan, clock).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
        Scenario::load(&path).unwrap()
    }

    #[test]
    fn the_warm_up_runs_at_the_rate_the_measured_part_starts_with() {
        for name in ["peak-us", "write-burst", "viral-spike", "smoke"] {
            let s = scenario(name);
            let warmup = s.warmup.as_secs_f64();
            let measured = s.load.curve(s.duration);
            let curve = schedule_curve(&s);
            assert!(warmup > 0.0, "{name}: no warm-up to check");
            for t in [0.0, warmup / 2.0, warmup] {
                assert!((curve.rate_at(t) - measured.rate_at(0.0)).abs() < 1e-9, "{name} at {t} s");
            }
            assert!((curve.rate_at(warmup + 5.0) - measured.rate_at(5.0)).abs() < 1e-9, "{name}");
        }
        // peak-us starts well below its mean: the warm-up does not overload a box the mean would.
        let s = scenario("peak-us");
        assert!(schedule_curve(&s).rate_at(0.0) < 0.5 * s.load.curve(s.duration).mean());
    }
}
