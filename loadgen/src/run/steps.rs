//! The named steps of one run (`drive` in the parent calls them in order): the corpus, the
//! engine (schedule, recorder, verifier, pacer), the stage as the run records it, the profiler,
//! sending the schedule, and concluding into the run directory.

use std::sync::Arc;
use std::time::Duration;

use super::{preload, RunError, RunOptions, RunPlace};
use crate::attack::{self, AttackContext, AttackError, AttackSettings, Attacked, Workload};
use crate::keys::{KeySpace, OperationMix};
use crate::pacer::Pacer;
use crate::profiler::session::ProfilerSession;
use crate::recorder::Recorder;
use crate::report::{self, CpuUse, RunFacts};
use crate::requests::ApiUrls;
use crate::scenario::Scenario;
use crate::schedule::{users_for, Schedule, Share};
use crate::summary::Summary;
use crate::target::drain::{wait_for_preload_jobs, MAX_DRAIN};
use crate::target::RunningTarget;
use crate::verify::Verifier;

/// The open-model engine of one run, made before the first send: the schedule (this worker's
/// share of it), the Goose users sized for its peak, and the parts that pace, record and
/// read back its requests.
pub(super) struct Engine {
    schedule: Arc<Schedule>,
    users: usize,
    recorder: Arc<Recorder>,
    pub verifier: Arc<Verifier>,
    pub pacer: Arc<Pacer>,
    context: Arc<AttackContext>,
}

impl Engine {
    pub fn build(place: &RunPlace<'_>, api: &ApiUrls, corpus: Vec<String>) -> Self {
        let (options, scenario) = (place.options, &place.options.scenario);
        let share = place.distributed.map_or(Share::WHOLE, |d| d.share);
        let schedule = Arc::new(Schedule::for_share(super::schedule_curve(scenario), share));
        let users = options
            .users
            .unwrap_or_else(|| users_for(schedule.curve().peak() / share.count as f64, scenario.generator.max_users));
        if scenario.generator.expected_latency.is_some() {
            eprintln!("note: generator.expected_latency is ignored: requests in flight grow on demand up to generator.max_in_flight ({})", scenario.generator.max_in_flight);
        }
        let recorder = Arc::new(Recorder::new(scenario.warmup));
        let verifier = Arc::new(Verifier::new(
            scenario.verify.clone(),
            scenario.seed,
            scenario.payload.clone(),
            scenario.keys.users,
        ));
        let pacer = Arc::new(Pacer::new(schedule.clone(), recorder.clone(), Duration::from_millis(200)));
        let context = attack_context(options, &place.base_url, api, corpus, &pacer, &verifier);
        Self { schedule, users, recorder, verifier, pacer, context }
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

/// The stage as the run records it: its profile (as launched, or read from the profile file
/// of a stage the user runs) and the profile's text with its passwords taken out.
pub(super) struct StageRecord {
    /// Reports quote the profile (profile.toml, index.html): never with its passwords.
    profile_text: Option<String>,
    launched: Option<LaunchedView>,
    profile: Option<service::config::Profile>,
}

impl StageRecord {
    pub async fn read(place: &RunPlace<'_>) -> Self {
        let profile_path = place.options.target.profile_path();
        let profile_text =
            profile_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).map(|t| crate::redact::secrets(&t));
        let launched = launched_view(place.target).await;
        let profile = match &launched {
            Some(v) => Some(v.profile.clone()),
            None => profile_path.as_ref().and_then(|p| service::config::Profile::load(p).ok()),
        };
        Self { profile_text, launched, profile }
    }
}

/// What sending the schedule leaves: Goose's outcome, the autoscaler's and the faults'
/// records, the generator's own CPU, and when sending ended.
pub(super) struct Sent {
    attacked: Result<Attacked, AttackError>,
    fleet: Option<crate::autoscale::FleetRecord>,
    faults: Vec<crate::faults::FaultRecord>,
    cpu: CpuUse,
    finished: tokio::time::Instant,
    goose_report: Option<std::path::PathBuf>,
}

/// Sends the schedule with Goose, with the stage's autoscaler and the scenario's faults
/// running beside it for at most `bound` seconds.
pub(super) async fn send(
    place: &RunPlace<'_>,
    engine: &Engine,
    stage: &StageRecord,
    bound: u64,
) -> Result<Sent, RunError> {
    let (scenario, target) = (&place.options.scenario, place.target);
    let goose_report = place.options.goose_report.then(|| place.dir.join(report::GOOSE_REPORT_FILE));
    let settings = AttackSettings {
        users: engine.users,
        send_threads: scenario.generator.send_threads,
        goose_report: goose_report.clone(),
    };
    let cpu_before = crate::cpu::generator_cpu_besides_sending();
    let attack_started = tokio::time::Instant::now();
    let autoscaler = match (&target.deployment, stage.launched.as_ref().and_then(|v| v.autoscaling.clone())) {
        (Some(d), Some(policy)) => Some(crate::autoscale::start(d.clone(), &policy, Duration::from_secs(bound))),
        _ => None,
    };
    let chaos =
        crate::faults::inject::start_for_run(scenario, target, &engine.pacer, place.client, &place.base_url, bound)?;
    let attacked = attack::run(engine.context.clone(), &settings).await;
    let fleet = match autoscaler {
        Some(a) => Some(a.finish().await),
        None => None,
    };
    let faults = match chaos {
        Some(c) => c.finish().await,
        None => Vec::new(),
    };
    let cpu_after = crate::cpu::generator_cpu_besides_sending();
    let finished = tokio::time::Instant::now();
    let others = cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a));
    let sending = attacked.as_ref().ok().and_then(|a| a.sending_cpu);
    let cpu = CpuUse {
        cpu: others.zip(sending).map(|(o, s)| o + s),
        sending,
        threads: scenario.generator.send_threads,
        wall: finished.saturating_duration_since(attack_started),
    };
    Ok(Sent { attacked, fleet, faults, cpu, finished, goose_report })
}

/// Turns the sent schedule into the run's summary, timeline and files.
pub(super) async fn conclude(
    place: &RunPlace<'_>,
    engine: &Engine,
    stage: StageRecord,
    sent: Sent,
    profiler: Option<ProfilerSession>,
    start_plan: Option<crate::distributed::start::StartPlan>,
    clock: Option<crate::distributed::ClockOffset>,
) -> Result<Summary, RunError> {
    let (options, scenario, dir) = (place.options, &place.options.scenario, place.dir);
    let Sent { attacked, fleet, mut faults, cpu, finished, goose_report } = sent;
    let attacked = attacked?;
    if options.goose_report {
        eprintln!("{}", attacked.goose_metrics);
    }
    let start = engine.pacer.start().unwrap_or(finished);
    let measured_start = start + scenario.warmup;
    let started_at = chrono::Utc::now()
        - chrono::Duration::from_std(tokio::time::Instant::now().saturating_duration_since(measured_start))
            .unwrap_or_default();
    let recorded = engine.recorder.snapshot();
    let facts = RunFacts {
        run_id: place.run_id.to_owned(),
        scenario,
        schedule: &engine.schedule,
        profile: place.target.profile.clone(),
        target_kind: place.target.kind.to_owned(),
        target_url: crate::redact::secrets(&place.base_url),
        started_at,
        measured_wall: finished.saturating_duration_since(measured_start),
        users: engine.users,
        max_in_flight: engine.context.in_flight.cap,
        peak_in_flight: engine.context.in_flight.peak(),
        unsent_at_cap: engine.context.in_flight.waiting.load(std::sync::atomic::Ordering::Relaxed),
        cpu,
        verification: engine.verifier.results(),
        goose_report: goose_report.as_ref().map(|_| report::GOOSE_REPORT_FILE.to_owned()),
    };
    let mut summary = report::build_summary(&facts, &recorded);
    let report_error = |source| RunError::Report { path: dir.to_owned(), source };
    let mut timeline = assemble_timeline(profiler, &mut faults, &recorded, &mut summary, measured_start).await;
    if let Some(fleet) = &fleet {
        crate::autoscale::add_to_timeline(&mut timeline, fleet, measured_start);
        let text = serde_json::to_string_pretty(&fleet.history).map_err(std::io::Error::other).map_err(report_error)?;
        std::fs::write(dir.join(crate::autoscale::FLEET_FILE), text).map_err(report_error)?;
    }
    if options.profile {
        add_capacity(&mut summary, &timeline, &scenario.load.curve(scenario.duration), stage.profile.as_ref());
    }
    if let Some(d) = place.distributed {
        crate::merge::workers::record_worker(&mut summary, d, start_plan.as_ref(), started_at, scenario, clock);
    }
    let profile_text = stage.profile_text.as_deref();
    write_run_files(dir, place.run_id, scenario, &summary, &timeline, profile_text, &recorded, started_at)
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
pub(super) async fn obtain_corpus(place: &RunPlace<'_>, api: &ApiUrls) -> Result<Vec<String>, RunError> {
    let (scenario, target, client, base_url) =
        (&place.options.scenario, place.target, place.client, place.base_url.as_str());
    let distributed = place.distributed;
    let shared_corpus = distributed.and_then(|d| d.corpus.as_deref().map(|path| (d, path)));
    Ok(match (shared_corpus, target.kept_corpus(scenario.seed, scenario.keys.preload)) {
        (Some((d, path)), _) => crate::distributed::corpus::obtain(d, path, scenario, client, api, base_url).await?,
        (None, Some(ids)) => ids,
        (None, None) => {
            let ids = preload(client, api, scenario).await?;
            target.keep(scenario.seed, scenario.keys.preload, &ids);
            wait_for_preload_jobs(client, base_url, MAX_DRAIN).await;
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
pub(super) async fn start_profiler(place: &RunPlace<'_>, stage: &StageRecord, bound: u64) -> ProfilerSession {
    let launched = stage.launched.as_ref();
    ProfilerSession::start(
        place.client.clone(),
        &place.base_url,
        place.target.kind == "embedded",
        stage.profile.as_ref(),
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
    profiler: Option<ProfilerSession>,
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
    summary.fleet = crate::capacity::fleet(timeline, summary.operations.all.answered_rate(), scaled, cores);
    let peak_achieved = summary.series.iter().map(|s| s.completed as f64).fold(0.0, f64::max);
    let peak_to_average = if curve.mean() > 0.0 { curve.peak() / curve.mean() } else { 1.0 };
    summary.seed_users =
        Some(crate::capacity::seed_users(summary.verdict.as_ref(), curve.peak(), peak_achieved, peak_to_average));
}
