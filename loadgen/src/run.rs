//! One whole run: start or check the target, preload the corpus, drive the schedule with
//! Goose, read back sampled writes, and write `reports/<run-id>/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::attack::{self, AttackContext, AttackError, AttackSettings, Workload};
use crate::keys::{write_body, KeySpace, OperationMix};
use crate::pacer::Pacer;
use crate::recorder::Recorder;
use crate::report::{self, CpuUse, RunFacts};
use crate::requests::{self, ApiUrls, ReplyBody};
use crate::scenario::Scenario;
use crate::schedule::{users_for, Schedule};
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
}

/// Seed offset that keeps preload payloads apart from the run's writes.
const PRELOAD_SEED: u64 = 0x9e1_0ad;

/// The default run id: `<UTC timestamp>-<scenario>`.
pub fn default_run_id(scenario: &str) -> String {
    format!("{}-{scenario}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// Writes the corpus of `scenario.keys.preload` items; returns their ids in rank order.
pub async fn preload(client: &reqwest::Client, api: &ApiUrls, scenario: &Scenario) -> Result<Vec<String>, TargetError> {
    let seed = scenario.seed ^ PRELOAD_SEED;
    let count = u64::from(scenario.keys.preload);
    let replies: Vec<(u64, requests::Reply)> = futures::stream::iter(0..count)
        .map(|i| {
            let body = write_body(seed, i, &scenario.payload, scenario.keys.users);
            async move { (i, requests::write(client, api, &body).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ids: Vec<(u64, String)> = Vec::with_capacity(replies.len());
    let mut failures = Vec::new();
    for (i, reply) in replies {
        match reply.body {
            ReplyBody::Created { content_id } => ids.push((i, content_id)),
            _ => failures.push(reply.error.unwrap_or_default()),
        }
    }
    if failures.len() as u64 > count / 10 {
        return Err(TargetError::Preload {
            url: api.content().to_string(),
            reason: format!("{} of {count} writes failed (first: {})", failures.len(), failures[0]),
        });
    }
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// The HTTP client of a run (also used by the gate for its `/metrics` scrapes).
pub fn http_client() -> Result<reqwest::Client, RunError> {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| RunError::Client(e.to_string()))
}

/// Carries out a run and writes its report directory.
pub async fn run(options: RunOptions) -> Result<RunReport, RunError> {
    let client = http_client()?;
    let target = RunningTarget::start(&options.target, &client).await?;
    let result = run_on(&options, &target).await;
    target.stop().await;
    result
}

/// Carries out a run against a target that is already up (`options.target` says what it
/// is) and leaves it running: the gate reads the service's counters around it.
pub async fn run_on(options: &RunOptions, target: &RunningTarget) -> Result<RunReport, RunError> {
    let scenario = &options.scenario;
    let run_id = options.run_id.clone().unwrap_or_else(|| default_run_id(&scenario.name));
    let dir = options.reports_dir.join(&run_id);
    let report_error = |source| RunError::Report { path: dir.clone(), source };
    std::fs::create_dir_all(&dir).map_err(report_error)?;
    let client = http_client()?;
    let summary = drive(options, &run_id, &dir, &client, target).await?;
    Ok(RunReport { summary, dir })
}

async fn drive(
    options: &RunOptions,
    run_id: &str,
    dir: &std::path::Path,
    client: &reqwest::Client,
    target: &RunningTarget,
) -> Result<Summary, RunError> {
    let scenario = &options.scenario;
    let base_url = target.base_url.clone();
    let api = ApiUrls::new(&base_url)
        .map_err(|reason| TargetError::BadUrl { url: base_url.clone(), reason })?;
    let corpus = preload(client, &api, scenario).await?;

    let measured = scenario.load.curve(scenario.duration);
    let curve = measured.after_warmup(scenario.warmup.as_secs_f64(), measured.mean());
    let schedule = Arc::new(Schedule::new(curve));
    let users = options.users.unwrap_or_else(|| {
        users_for(schedule.curve().peak(), scenario.generator.expected_latency, scenario.generator.max_users)
    });
    let recorder = Arc::new(Recorder::new(scenario.warmup));
    let verifier =
        Arc::new(Verifier::new(scenario.verify.clone(), scenario.seed, scenario.payload.clone(), scenario.keys.users));
    let workload = Workload {
        seed: scenario.seed,
        mix: OperationMix::new(&scenario.mix, scenario.seed),
        zipf_exponent: scenario.keys.zipf_exponent,
        sizes: scenario.payload.clone(),
        users: scenario.keys.users,
        keys: Arc::new(KeySpace::new(corpus)),
        verifier: verifier.clone(),
    };
    let pacer = Arc::new(Pacer::new(schedule.clone(), recorder.clone(), Duration::from_millis(200)));
    let context = Arc::new(AttackContext {
        base_url: base_url.clone(),
        api: api.clone(),
        workload,
        pacer: pacer.clone(),
        connections: Default::default(),
        goose_metrics: options.goose_report,
    });

    let stop = CancellationToken::new();
    let verifying = tokio::spawn(verifier.clone().run(client.clone(), api, stop.clone()));
    let progress = tokio::spawn(crate::progress::show(pacer.clone(), options.progress, stop.clone()));

    let profile_path = options.target.profile_path();
    let profile_text = profile_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    // A launched stage's servers are its own, so the profiler reads the URLs it filled in.
    let launched_view = match &target.deployment {
        Some(d) => {
            let d = d.lock().await;
            let lb = d.haproxy().map(|lb| format!("http://127.0.0.1:{}/stats;csv", lb.stats_port));
            Some((d.effective_profile(), d.boxes(), lb, d.profile.topology.autoscaling.clone()))
        }
        None => None,
    };
    let profile = match &launched_view {
        Some((p, ..)) => Some(p.clone()),
        None => profile_path.as_ref().and_then(|p| service::config::Profile::load(p).ok()),
    };
    let bound = (scenario.warmup + scenario.duration).as_secs() + 30;
    let launched = launched_view.as_ref().map(|(_, boxes, ..)| boxes.clone());
    let profiler = if options.profile {
        let session = crate::profiler::session::ProfilerSession::start(
            client.clone(),
            &base_url,
            target.kind == "embedded",
            profile.as_ref(),
            launched.as_deref(),
            launched_view.as_ref().and_then(|(_, _, lb, _)| lb.clone()),
            bound,
        );
        Some(session.await)
    } else {
        None
    };

    let goose_report = options.goose_report.then(|| dir.join(report::GOOSE_REPORT_FILE));
    let settings =
        AttackSettings { users, send_threads: scenario.generator.send_threads, goose_report: goose_report.clone() };
    let cpu_before = crate::cpu::generator_cpu_besides_sending();
    let attack_started = tokio::time::Instant::now();
    let autoscaler = match (&target.deployment, launched_view.as_ref().and_then(|(.., a)| a.clone())) {
        (Some(d), Some(policy)) => Some(crate::autoscale::start(d.clone(), &policy, Duration::from_secs(bound))),
        _ => None,
    };
    let attacked = attack::run(context, &settings).await;
    let fleet = match autoscaler {
        Some(a) => Some(a.finish().await),
        None => None,
    };
    let cpu_after = crate::cpu::generator_cpu_besides_sending();
    let finished = tokio::time::Instant::now();
    stop.cancel();
    let _ = progress.await;
    let _ = verifying.await;
    let attacked = attacked?;
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
        target_url: base_url,
        started_at,
        measured_wall,
        users,
        cpu,
        verification: verifier.results(),
        goose_report: goose_report.as_ref().map(|_| report::GOOSE_REPORT_FILE.to_owned()),
    };
    let mut summary = report::build_summary(&facts, &recorded);
    let report_error = |source| RunError::Report { path: dir.to_owned(), source };
    let timeline = match profiler {
        Some(profiler) => {
            let stage = profiler.stage.clone();
            let timeline = profiler.finish(measured_start).await;
            crate::profiler::session::conclude(&mut summary, &timeline, &stage);
            timeline
        }
        None => crate::profiler::Timeline::default(),
    };
    let mut timeline = timeline;
    if let Some(fleet) = &fleet {
        crate::autoscale::add_to_timeline(&mut timeline, fleet, measured_start);
        let text = serde_json::to_string_pretty(&fleet.history).map_err(std::io::Error::other).map_err(report_error)?;
        std::fs::write(dir.join(crate::autoscale::FLEET_FILE), text).map_err(report_error)?;
    }
    crate::profiler::session::write_timeline(dir, &timeline).map_err(report_error)?;
    std::fs::write(dir.join(crate::html::SCENARIO_FILE), &scenario.source_text).map_err(report_error)?;
    if let Some(text) = &profile_text {
        std::fs::write(dir.join(crate::html::PROFILE_FILE), text).map_err(report_error)?;
    }
    if let Err(e) = crate::html::write_report(
        dir,
        &summary,
        &timeline,
        summary.verdict.as_ref(),
        summary.recommendation.as_ref(),
        profile_text.as_deref(),
        Some(&scenario.source_text),
    ) {
        // The data files are written; `loadgen report <dir>` can rebuild the page later.
        tracing::warn!(error = %e, "the HTML report could not be written");
    }
    report::write_summary(dir, &summary).map_err(report_error)?;
    let mut log = std::fs::File::create(dir.join(report::INTERVAL_LOG_FILE)).map_err(report_error)?;
    let system_start = std::time::SystemTime::from(started_at);
    recorded
        .write_interval_log(&mut log, system_start, &format!("loadgen run {run_id} scenario {}", scenario.name))
        .map_err(report_error)?;
    Ok(summary)
}
