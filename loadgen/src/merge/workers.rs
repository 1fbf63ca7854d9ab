//! The worker side and the merge side of a distributed run's records: what a worker writes
//! about its share and start ([`record_worker`]), and what `loadgen merge` checks and
//! concludes from the workers' summaries ([`check_inputs`], [`judge`]).

use std::path::{Path, PathBuf};

use super::MergeError;
use crate::distributed::{ClockOffset, Distributed, WorkerInfo};
use crate::scenario::Scenario;
use crate::summary::Summary;

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Adds the worker's record to its summary; a worker that began later than its tolerance
/// after `--start-at` is not trustworthy, and says why.
pub fn record_worker(
    summary: &mut Summary,
    d: &Distributed,
    plan: Option<&crate::distributed::start::StartPlan>,
    measured_started_at: chrono::DateTime<chrono::Utc>,
    scenario: &Scenario,
    clock: Option<ClockOffset>,
) {
    let warmup = chrono::Duration::from_std(scenario.warmup).unwrap_or_default();
    let zero_wall = plan.map_or(measured_started_at - warmup, |p| p.zero_wall);
    let tolerance_ms = scenario.generator.max_lag_p99.as_secs_f64() * 1000.0;
    let mut info = WorkerInfo {
        index: d.share.index,
        count: d.share.count,
        run_id: summary.run_id.clone(),
        start_at: d.start_at.map(rfc3339),
        schedule_started_at: rfc3339(zero_wall),
        start_late_ms: plan.map(|p| (p.late_ms * 10.0).round() / 10.0),
        start_tolerance_ms: tolerance_ms,
        clock,
        intended: summary.operations.all.intended,
        completed: summary.operations.all.completed,
        achieved_rate: summary.operations.all.achieved_rate,
        lag_p99_us: summary.schedule_lag.lag_us.p99,
        trustworthy: summary.trustworthy,
    };
    if info.started_late() {
        summary.trustworthy = false;
        summary.generator.reasons.push(format!(
            "worker {} started {:.3} s after --start-at {} (tolerance {tolerance_ms:.0} ms): its share of the schedule ran late against the other workers'",
            d.share,
            info.start_late_ms.unwrap_or_default() / 1000.0,
            info.start_at.as_deref().unwrap_or("-"),
        ));
        info.trustworthy = false;
    }
    summary.worker = Some(info);
}

/// Checks the inputs belong to one run: the same scenario and seed, and — when they are
/// workers — the same N and no index twice. Returns the workers, by index.
pub fn check_inputs(inputs: &[(PathBuf, Summary)]) -> Result<Vec<WorkerInfo>, MergeError> {
    let Some((first_path, first)) = inputs.first() else { return Err(MergeError::NoInputs) };
    let incompatible =
        |path: &Path, reason: String| MergeError::Incompatible { path: path.join(crate::report::SUMMARY_FILE), reason };
    let mut workers: Vec<(WorkerInfo, &Path)> = Vec::new();
    for (path, s) in inputs {
        let (a, b) = (&first.scenario, &s.scenario);
        if (a.name.as_str(), a.seed) != (b.name.as_str(), b.seed) {
            return Err(incompatible(
                path,
                format!(
                    "scenario {} seed {}, but {} is scenario {} seed {}: only workers of one run merge",
                    b.name,
                    b.seed,
                    first_path.display(),
                    a.name,
                    a.seed
                ),
            ));
        }
        match (&s.worker, &first.worker) {
            (Some(w), Some(f)) if w.count != f.count => {
                return Err(incompatible(
                    path,
                    format!(
                        "worker {}/{}, but {} is worker {}/{}: N differs",
                        w.index,
                        w.count,
                        first_path.display(),
                        f.index,
                        f.count
                    ),
                ));
            }
            (Some(w), Some(_)) => {
                if let Some((_, other)) = workers.iter().find(|(o, _)| o.index == w.index) {
                    return Err(incompatible(
                        path,
                        format!(
                            "worker index {} overlaps {} (each worker's share may be merged once)",
                            w.index,
                            other.display()
                        ),
                    ));
                }
                workers.push((w.clone(), path));
            }
            (None, None) => {}
            _ => {
                return Err(incompatible(
                    path,
                    "a worker's run and a single-process run cannot be merged together".into(),
                ))
            }
        }
        if (a.duration_s, a.warmup_s, &a.rate_curve) != (b.duration_s, b.warmup_s, &b.rate_curve) {
            return Err(incompatible(
                path,
                format!("its rate curve or duration differs from {}'s", first_path.display()),
            ));
        }
    }
    let mut workers: Vec<WorkerInfo> = workers.into_iter().map(|(w, _)| w).collect();
    workers.sort_by_key(|w| w.index);
    Ok(workers)
}

/// Why the merged run of `workers` is not trustworthy beyond its inputs' own reasons (their
/// lateness included): workers missing from it, or clocks too far apart for their starts to
/// have been together.
pub fn judge(workers: &[WorkerInfo]) -> Vec<String> {
    let mut reasons = Vec::new();
    let Some(first) = workers.first() else { return reasons };
    if (workers.len() as u64) < first.count {
        let missing: Vec<String> =
            (0..first.count).filter(|i| !workers.iter().any(|w| w.index == *i)).map(|i| i.to_string()).collect();
        reasons.push(format!(
            "only {} of {} workers' runs were merged (missing: {}): the schedule is incomplete",
            workers.len(),
            first.count,
            missing.join(", ")
        ));
    }
    // A late start is already among that worker's own reasons (see `record_worker`).
    // Offsets measured against one target clock: their spread, less what each is uncertain
    // by, is how far apart the workers' clocks (and so their "common" start) certainly were.
    let clocks: Vec<(&WorkerInfo, &ClockOffset)> =
        workers.iter().filter_map(|w| w.clock.as_ref().map(|c| (w, c))).collect();
    if let (Some(lo), Some(hi)) = (
        clocks.iter().min_by(|a, b| a.1.offset_ms.total_cmp(&b.1.offset_ms)),
        clocks.iter().max_by(|a, b| a.1.offset_ms.total_cmp(&b.1.offset_ms)),
    ) {
        let apart = hi.1.offset_ms - lo.1.offset_ms - hi.1.uncertainty_ms - lo.1.uncertainty_ms;
        if apart > first.start_tolerance_ms {
            reasons.push(format!(
                "the clocks of workers {} and {} are at least {apart:.1} ms apart against the target's (tolerance {:.0} ms): their common start was not common",
                lo.0.index, hi.0.index, first.start_tolerance_ms
            ));
        }
    }
    reasons
}

/// Makes a merged workers' run a full run directory: the scenario and profile files, the
/// timeline of the lowest-index worker that profiled (the target's own series — its
/// `/metrics`, servers and boxes — are the target's whole load whichever worker sampled
/// them; its generator box is that worker's), the verdict drawn again on the merged load,
/// and `index.html` with the per-worker table.
pub fn complete_run_dir(out: &Path, s: &mut Summary, inputs: &[(PathBuf, Summary)]) -> Result<(), MergeError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MergeError::Io { path, source }
    };
    let mut by_index: Vec<&(PathBuf, Summary)> = inputs.iter().collect();
    by_index.sort_by_key(|(_, x)| x.worker.as_ref().map(|w| w.index));
    let mut texts = [None, None];
    for (slot, name) in texts.iter_mut().zip([crate::html::SCENARIO_FILE, crate::html::PROFILE_FILE]) {
        if let Some((dir, _)) = by_index.iter().find(|(dir, _)| dir.join(name).is_file()) {
            let text = std::fs::read_to_string(dir.join(name)).map_err(io(&dir.join(name)))?;
            std::fs::write(out.join(name), &text).map_err(io(&out.join(name)))?;
            *slot = Some(text);
        }
    }
    let timeline_source = by_index.iter().find(|(dir, _)| dir.join(crate::html::TIMELINE_FILE).is_file());
    let timeline: crate::profiler::Timeline = match timeline_source {
        Some((dir, _)) => loadgen_model::RunDir::new(dir).read_timeline()?.unwrap_or_default(),
        None => crate::profiler::Timeline::default(),
    };
    // A worker's verdict, fleet and capacity were drawn on its share: never carried over.
    let stage = s.recommendation.as_ref().map_or_else(|| "start".to_owned(), |r| r.current_stage.clone());
    (s.verdict, s.recommendation, s.fleet, s.seed_users) = (None, None, None, None);
    if timeline_source.is_some() {
        let (generator, trustworthy) = (s.generator.clone(), s.trustworthy);
        crate::profiler::session::conclude(s, &timeline, &stage);
        // The verdict may waive one worker's lateness on its own machine, never the merge's.
        (s.generator, s.trustworthy) = (generator, trustworthy);
    }
    crate::profiler::session::write_timeline(out, &timeline).map_err(io(out))?;
    crate::html::write_report(
        out,
        s,
        &timeline,
        s.verdict.as_ref(),
        s.recommendation.as_ref(),
        texts[1].as_deref(),
        texts[0].as_deref(),
    )
    .map_err(|e| MergeError::Io {
        path: out.join(crate::html::INDEX_FILE),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(index: u64, count: u64, offset_ms: f64, uncertainty_ms: f64) -> WorkerInfo {
        WorkerInfo {
            index,
            count,
            run_id: format!("w{index}"),
            start_at: Some("2026-12-02T06:00:00.000Z".into()),
            schedule_started_at: "2026-12-02T06:00:00.000Z".into(),
            start_late_ms: Some(0.0),
            start_tolerance_ms: 20.0,
            clock: Some(ClockOffset { offset_ms, uncertainty_ms, source: "test".into(), probes: 30 }),
            intended: 10,
            completed: 10,
            achieved_rate: 1.0,
            lag_p99_us: 100,
            trustworthy: true,
        }
    }

    #[test]
    fn missing_workers_and_clocks_apart_spoil_the_merge() {
        assert!(judge(&[worker(0, 2, 0.5, 1.0), worker(1, 2, -0.5, 1.0)]).is_empty());
        let missing = judge(&[worker(0, 3, 0.0, 1.0), worker(2, 3, 0.0, 1.0)]);
        assert!(
            missing.len() == 1 && missing[0].contains("only 2 of 3") && missing[0].contains("missing: 1"),
            "{missing:?}"
        );
        // 40 ms apart, each known within 5 ms: at least 30 ms apart, past the 20 ms tolerance.
        let apart = judge(&[worker(0, 2, 20.0, 5.0), worker(1, 2, -20.0, 5.0)]);
        assert!(apart.len() == 1 && apart[0].contains("at least 30.0 ms apart"), "{apart:?}");
        // As far apart, but each only known within 15 ms: not certainly apart.
        assert!(judge(&[worker(0, 2, 20.0, 15.0), worker(1, 2, -20.0, 15.0)]).is_empty());
    }
}
