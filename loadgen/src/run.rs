//! One whole run: start or check the target, preload the corpus, drive the schedule with
//! Goose, read back sampled writes, and write `reports/<run-id>/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::attack::{self, AttackContext, AttackError, AttackSettings, Workload};
use crate::distributed::Distributed;
use crate::keys::{KeySpace, OperationMix};
use crate::pacer::Pacer;
use crate::recorder::Recorder;
use crate::report::{self, CpuUse, RunFacts};
use crate::requests::ApiUrls;
use crate::scenario::Scenario;
use crate::schedule::{users_for, Schedule, Share};
use crate::summary::Summary;
use crate::target::{RunningTarget, TargetChoice, TargetError};
use crate::verify::Verifier;

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

/// What the run reads off a stage the launcher brought up, once, before the load.
struct LaunchedView {
    profile: service::config::Profile,
    boxes: Vec<crate::topology::BoxInfo>,
    haproxy_stats: Option<String>,
    autoscaling: Option<service::config::AutoscalingConfig>,
    /// Each API instance's own URL, for its `/metrics`.
    instance_urls: Vec<String>,
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

/// The stage's fleet (rate per core) and the users of the seed's model it holds, from the
/// run's timeline and verdict.
fn add_capacity(
    summary: &mut Summary,
    timeline: &crate::profiler::Timeline,
    curve: &crate::shape::RateCurve,
    profile: Option<&service::config::Profile>,
) {
    let scaled = profile.and_then(|p| {
        p.topology.autoscaling.as_ref().map(|_| if p.topology.split_read_write { "app-read" } else { "app" })
    });
    let cores = crate::topology::budget::machine_cores();
    summary.fleet = crate::capacity::fleet(timeline, summary.operations.all.achieved_rate, scaled, cores);
    let peak_achieved = summary.series.iter().map(|s| s.completed as f64).fold(0.0, f64::max);
    let peak_to_average = if curve.mean() > 0.0 { curve.peak() / curve.mean() } else { 1.0 };
    summary.seed_users =
        Some(crate::capacity::seed_users(summary.verdict.as_ref(), curve.peak(), peak_achieved, peak_to_average));
}

/// The rate curve a run of `scenario` sends: its warm-up at the curve's mean rate, then the
/// measured part (every worker of a distributed run builds the same one).
pub fn schedule_curve(scenario: &Scenario) -> crate::shape::RateCurve {
    let measured = scenario.load.curve(scenario.duration);
    measured.after_warmup(scenario.warmup.as_secs_f64(), measured.mean())
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

async fn drive(
    options: &RunOptions,
    run_id: &str,
    dir: &std::path::Path,
    client: &reqwest::Client,
    target: &RunningTarget,
    distributed: Option<&Distributed>,
) -> Result<Summary, RunError> {
    let scenario = &options.scenario;
    let base_url = target.base_url.clone();
    let api = ApiUrls::new(&base_url)
        .map_err(|reason| TargetError::BadUrl { url: base_url.clone(), reason })?
        .with_max_response_bytes(scenario.generator.max_response_bytes);
    let share = distributed.map_or(Share::WHOLE, |d| d.share);
    let corpus = obtain_corpus(scenario, target, distributed, client, &api, &base_url).await?;

    let measured = scenario.load.curve(scenario.duration);
    let schedule = Arc::new(Schedule::for_share(schedule_curve(scenario), share));
    let users = options
        .users
        .unwrap_or_else(|| users_for(schedule.curve().peak() / share.count as f64, scenario.generator.max_users));
    if scenario.generator.expected_latency.is_some() {
        eprintln!("note: generator.expected_latency is ignored: requests in flight grow on demand up to generator.max_in_flight ({})", scenario.generator.max_in_flight);
    }
    let recorder = Arc::new(Recorder::new(scenario.warmup));
    let verifier =
        Arc::new(Verifier::new(scenario.verify.clone(), scenario.seed, scenario.payload.clone(), scenario.keys.users));
    let pacer = Arc::new(Pacer::new(schedule.clone(), recorder.clone(), Duration::from_millis(200)));
    let context = attack_context(options, &base_url, &api, corpus, &pacer, &verifier);

    let stop = CancellationToken::new();
    let verifying = tokio::spawn(verifier.clone().run(client.clone(), api, stop.clone()));
    let progress = tokio::spawn(crate::progress::show(pacer.clone(), options.progress, stop.clone()));

    let profile_path = options.target.profile_path();
    // Reports quote the profile (profile.toml, index.html): never with its passwords.
    let profile_text =
        profile_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).map(|t| crate::redact::secrets(&t));
    let launched_view = launched_view(target).await;
    let profile = match &launched_view {
        Some(v) => Some(v.profile.clone()),
        None => profile_path.as_ref().and_then(|p| service::config::Profile::load(p).ok()),
    };
    let bound = (scenario.warmup + scenario.duration).as_secs() + 30;
    let start_at = distributed.and_then(|d| d.start_at);
    if let Some(at) = start_at {
        crate::distributed::start::sleep_until_lead(at).await;
    }
    let profiler = if options.profile {
        Some(start_profiler(client, &base_url, target, profile.as_ref(), launched_view.as_ref(), bound).await)
    } else {
        None
    };

    let goose_report = options.goose_report.then(|| dir.join(report::GOOSE_REPORT_FILE));
    let settings =
        AttackSettings { users, send_threads: scenario.generator.send_threads, goose_report: goose_report.clone() };
    let start_plan = start_at.map(crate::distributed::start::plan);
    if let Some(plan) = &start_plan {
        pacer.start_at(plan.zero);
    }
    let cpu_before = crate::cpu::generator_cpu_besides_sending();
    let attack_started = tokio::time::Instant::now();
    let autoscaler = match (&target.deployment, launched_view.as_ref().and_then(|v| v.autoscaling.clone())) {
        (Some(d), Some(policy)) => Some(crate::autoscale::start(d.clone(), &policy, Duration::from_secs(bound))),
        _ => None,
    };
    let chaos = crate::faults::inject::start_for_run(scenario, target, &pacer, client, &base_url, bound)?;
    let context_in_flight_cap = context.in_flight.cap;
    let attacked = attack::run(context.clone(), &settings).await;
    let fleet = match autoscaler {
        Some(a) => Some(a.finish().await),
        None => None,
    };
    let mut faults = match chaos {
        Some(c) => c.finish().await,
        None => Vec::new(),
    };
    let cpu_after = crate::cpu::generator_cpu_besides_sending();
    let finished = tokio::time::Instant::now();
    stop.cancel();
    let _ = progress.await;
    let _ = verifying.await;
    let attacked = attacked?;
    let clock = match distributed {
        Some(_) => crate::distributed::clock::measure(client, &base_url).await,
        None => None,
    };
    if options.goose_report {
        eprintln!("{}", attacked.goose_metrics);
    }

    let start = pacer.start().unwrap_or(finished);
    let measured_start = start + scenario.warmup;
    let measured_wall = finished.saturating_duration_since(measured_start);
    let started_at = chrono::Utc::now()
        - chrono::Duration::from_std(tokio::time::Instant::now().saturating_duration_since(measured_start))
            .unwrap_or_default();
    let others = cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a));
    let cpu = CpuUse {
        cpu: others.zip(attacked.sending_cpu).map(|(o, s)| o + s),
        sending: attacked.sending_cpu,
        threads: scenario.generator.send_threads,
        wall: finished.saturating_duration_since(attack_started),
    };
    let recorded = recorder.snapshot();
    let facts = RunFacts {
        run_id: run_id.to_owned(),
        scenario,
        schedule: &schedule,
        profile: target.profile.clone(),
        target_kind: target.kind.to_owned(),
        target_url: crate::redact::secrets(&base_url),
        started_at,
        measured_wall,
        users,
        max_in_flight: context_in_flight_cap,
        peak_in_flight: context.in_flight.peak(),
        unsent_at_cap: context.in_flight.waiting.load(std::sync::atomic::Ordering::Relaxed),
        cpu,
        verification: verifier.results(),
        goose_report: goose_report.as_ref().map(|_| report::GOOSE_REPORT_FILE.to_owned()),
    };
    let mut summary = report::build_summary(&facts, &recorded);
    let report_error = |source| RunError::Report { path: dir.to_owned(), source };
    let timeline = assemble_timeline(profiler, &mut faults, &recorded, &mut summary, measured_start).await;
    let mut timeline = timeline;
    if let Some(fleet) = &fleet {
        crate::autoscale::add_to_timeline(&mut timeline, fleet, measured_start);
        let text = serde_json::to_string_pretty(&fleet.history).map_err(std::io::Error::other).map_err(report_error)?;
        std::fs::write(dir.join(crate::autoscale::FLEET_FILE), text).map_err(report_error)?;
    }
    if options.profile {
        add_capacity(&mut summary, &timeline, &measured, profile.as_ref());
    }
    if let Some(d) = distributed {
        crate::merge::workers::record_worker(&mut summary, d, start_plan.as_ref(), started_at, scenario, clock);
    }
    write_run_files(dir, run_id, scenario, &summary, &timeline, profile_text.as_deref(), &recorded, started_at)
        .map_err(report_error)?;
    Ok(summary)
}

/// The sending loop's shared state: the workload (mix, keys, payloads, read-back) over the
/// run's corpus, the pacer, and the generator's limits.
fn attack_context(
    options: &RunOptions,
    base_url: &str,
    api: &ApiUrls,
    corpus: Vec<String>,
    pacer: &Arc<Pacer>,
    verifier: &Arc<Verifier>,
) -> Arc<AttackContext> {
    let scenario = &options.scenario;
    let workload = Workload {
        seed: scenario.seed,
        mix: OperationMix::new(&scenario.mix, scenario.seed),
        zipf_exponent: scenario.keys.zipf_exponent,
        sizes: scenario.payload.clone(),
        users: scenario.keys.users,
        keys: Arc::new(KeySpace::new(corpus)),
        verifier: verifier.clone(),
    };
    Arc::new(AttackContext {
        base_url: base_url.to_owned(),
        api: api.clone(),
        workload,
        pacer: pacer.clone(),
        connections: Default::default(),
        goose_metrics: options.goose_report,
        in_flight: attack::InFlight::new(scenario.generator.max_in_flight),
        finished: Default::default(),
        extra_cpu_per_send: scenario.generator.extra_cpu_per_send,
    })
}

/// The run's corpus: the distributed run's shared file, the ids a kept target already holds,
/// or a fresh preload (kept on the target for the next run of the same seed and size).
async fn obtain_corpus(
    scenario: &Scenario,
    target: &RunningTarget,
    distributed: Option<&Distributed>,
    client: &reqwest::Client,
    api: &ApiUrls,
    base_url: &str,
) -> Result<Vec<String>, RunError> {
    let shared_corpus = distributed.and_then(|d| d.corpus.as_deref().map(|path| (d, path)));
    Ok(match (shared_corpus, target.kept_corpus(scenario.seed, scenario.keys.preload)) {
        (Some((d, path)), _) => crate::distributed::corpus::obtain(d, path, scenario, client, api, base_url).await?,
        (None, Some(ids)) => ids,
        (None, None) => {
            let ids = preload(client, api, scenario).await?;
            target.keep(scenario.seed, scenario.keys.preload, &ids);
            ids
        }
    })
}

/// What the profiler needs of a launched stage. Its servers are the run's own, so the profiler
/// reads the URLs the launcher filled in.
async fn launched_view(target: &RunningTarget) -> Option<LaunchedView> {
    let d = target.deployment.as_ref()?.lock().await;
    let lb = d.haproxy().map(|lb| format!("http://127.0.0.1:{}/stats;csv", lb.stats_port));
    Some(LaunchedView {
        profile: d.effective_profile(),
        boxes: d.boxes(),
        haproxy_stats: lb,
        autoscaling: d.profile.topology.autoscaling.clone(),
        instance_urls: d.app_urls(),
    })
}

/// Starts the profiler's 1 s sampling of the target's boxes and servers, for at most `bound` s.
async fn start_profiler(
    client: &reqwest::Client,
    base_url: &str,
    target: &RunningTarget,
    profile: Option<&service::config::Profile>,
    launched: Option<&LaunchedView>,
    bound: u64,
) -> crate::profiler::session::ProfilerSession {
    crate::profiler::session::ProfilerSession::start(
        client.clone(),
        base_url,
        target.kind == "embedded",
        profile,
        launched.map(|v| v.boxes.as_slice()),
        crate::profiler::session::StageEndpoints {
            haproxy_stats_url: launched.and_then(|v| v.haproxy_stats.clone()),
            instance_urls: launched.map(|v| v.instance_urls.clone()).unwrap_or_default(),
        },
        bound,
    )
    .await
}

/// The run's timeline: the profiler's samples (with its verdict drawn into `summary`), or an
/// empty one without profiling, and the faults' figures from the run's own recordings.
async fn assemble_timeline(
    profiler: Option<crate::profiler::session::ProfilerSession>,
    faults: &mut [crate::faults::FaultRecord],
    recorded: &crate::recorder::RecordedRun,
    summary: &mut Summary,
    measured_start: tokio::time::Instant,
) -> crate::profiler::Timeline {
    match profiler {
        Some(profiler) => {
            let stage = profiler.stage.clone();
            let mut timeline = profiler.finish(measured_start).await;
            crate::faults::figures::attach(faults, recorded, &mut timeline);
            crate::profiler::session::conclude(summary, &timeline, &stage);
            timeline
        }
        None => {
            let mut timeline = crate::profiler::Timeline::default();
            crate::faults::figures::attach(faults, recorded, &mut timeline);
            timeline
        }
    }
}

/// Writes the run directory: timeline, the scenario and profile as run, the page, the
/// interval log, and last `summary.json` (a merge step on a shared volume takes it as "this
/// run is complete").
#[allow(clippy::too_many_arguments)]
fn write_run_files(
    dir: &std::path::Path,
    run_id: &str,
    scenario: &Scenario,
    summary: &Summary,
    timeline: &crate::profiler::Timeline,
    profile_text: Option<&str>,
    recorded: &crate::recorder::RecordedRun,
    started_at: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<()> {
    crate::profiler::session::write_timeline(dir, timeline)?;
    let scenario_text = crate::redact::secrets(&scenario.source_text);
    std::fs::write(dir.join(crate::html::SCENARIO_FILE), &scenario_text)?;
    if let Some(text) = profile_text {
        std::fs::write(dir.join(crate::html::PROFILE_FILE), text)?;
    }
    if let Err(e) = crate::html::write_report(
        dir,
        summary,
        timeline,
        summary.verdict.as_ref(),
        summary.recommendation.as_ref(),
        profile_text,
        Some(&scenario_text),
    ) {
        // The data files are written; `loadgen report <dir>` can rebuild the page later.
        tracing::warn!(error = %e, "the HTML report could not be written");
    }
    let mut log = std::fs::File::create(dir.join(report::INTERVAL_LOG_FILE))?;
    let system_start = std::time::SystemTime::from(started_at);
    recorded.write_interval_log(&mut log, system_start, &format!("loadgen run {run_id} scenario {}", scenario.name))?;
    report::write_summary(dir, summary)
}
