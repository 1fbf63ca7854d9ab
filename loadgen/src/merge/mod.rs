//! `loadgen merge`: combines the reports of several generator processes that drove one
//! target at the same time (e.g. on several machines) into one report.
//!
//! Interval logs are merged exactly: intervals are placed on absolute time (BaseTime +
//! offset), bucketed by whole second from the earliest input, and added per tag. Counts,
//! errors, CPU and read-backs are summed; latency percentiles are recomputed from the
//! merged histograms. Schedule-lag percentiles are not in the logs, so the merged summary
//! keeps the worst input's. The result is trustworthy only if every input was.
//!
//! Workers of one distributed run (`--worker I/N`) merge into a full run directory: the
//! inputs must be one scenario and seed with no worker index twice; the merged run is
//! trustworthy only when every worker kept its schedule and started on time, all N are there
//! and their clocks agree; its SLOs are judged on the whole, and `index.html`, the timeline
//! and the verdict are written beside it (see [`workers`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::recorder::{new_histogram, write_interval_log, TAGS};
use crate::report::INTERVAL_LOG_FILE;
use crate::summary::{Percentiles, SecondSample, Summary};
use loadgen_model::run_dir::{RunDir, RunDirError};

pub mod workers;

/// Why inputs could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid interval log: {reason}")]
    Log { path: PathBuf, reason: String },
    #[error("{path}: not a valid summary: {reason}")]
    Summary { path: PathBuf, reason: String },
    #[error("nothing to merge: give at least one report directory")]
    NoInputs,
    #[error("{path}: cannot be merged with the others: {reason}")]
    Incompatible { path: PathBuf, reason: String },
}

/// One tagged interval of a log, on absolute time.
#[derive(Debug)]
pub struct LoggedInterval {
    /// Seconds since the Unix epoch the interval started.
    pub start: Duration,
    pub tag: Option<String>,
    pub histogram: Histogram<u64>,
}

/// Reads every interval of an interval log (BaseTime-relative or absolute timestamps).
pub fn read_interval_log(path: &Path) -> Result<Vec<LoggedInterval>, MergeError> {
    let bytes = std::fs::read(path).map_err(|source| MergeError::Io { path: path.to_owned(), source })?;
    let bad = |reason: String| MergeError::Log { path: path.to_owned(), reason };
    let mut base = Duration::ZERO;
    let mut out = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| bad(format!("{e:?}")))? {
            LogEntry::BaseTime(t) => base = t,
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(i) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| bad(e.to_string()))?;
                let histogram: Histogram<u64> =
                    deserializer.deserialize(&mut raw.as_slice()).map_err(|e| bad(format!("{e:?}")))?;
                out.push(LoggedInterval {
                    start: base + i.start_timestamp(),
                    tag: i.tag().map(|t| t.as_str().to_owned()),
                    histogram,
                });
            }
        }
    }
    Ok(out)
}

impl From<RunDirError> for MergeError {
    fn from(e: RunDirError) -> Self {
        match e {
            RunDirError::Read { path, source } | RunDirError::Write { path, source } => MergeError::Io { path, source },
            RunDirError::Parse { path, reason, .. } => MergeError::Summary { path, reason },
        }
    }
}

/// Merges report directories into `out` (its `summary.json` and `latency.hlog`).
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Summary, MergeError> {
    let first = inputs.first().ok_or(MergeError::NoInputs)?;
    let mut summaries = Vec::new();
    let mut intervals = Vec::new();
    for dir in inputs {
        summaries.push(RunDir::new(dir).read_summary()?);
        intervals.extend(read_interval_log(&dir.join(INTERVAL_LOG_FILE))?);
    }
    let labelled: Vec<(PathBuf, Summary)> = inputs.iter().cloned().zip(summaries.iter().cloned()).collect();
    let workers = crate::merge::workers::check_inputs(&labelled)?;
    let origin = intervals.iter().map(|i| i.start).min().unwrap_or_default();
    // (second, tag index) → merged histogram.
    let mut merged: BTreeMap<(usize, usize), Histogram<u64>> = BTreeMap::new();
    for i in &intervals {
        let Some(tag) = TAGS.iter().position(|t| Some(*t) == i.tag.as_deref()) else { continue };
        let second = (i.start.saturating_sub(origin)).as_secs() as usize;
        let _ = merged.entry((second, tag)).or_insert_with(new_histogram).add(&i.histogram);
    }
    let seconds = merged.keys().map(|k| k.0 + 1).max().unwrap_or(0);
    let mut totals: [Histogram<u64>; 3] = [new_histogram(), new_histogram(), new_histogram()];
    for ((_, tag), h) in &merged {
        let _ = totals[*tag].add(h);
    }

    let mut s = summaries[0].clone();
    s.run_id = format!("merged-{}", s.run_id);
    let sum = |f: &dyn Fn(&Summary) -> u64| summaries.iter().map(f).sum::<u64>();
    let sumf = |f: &dyn Fn(&Summary) -> f64| summaries.iter().map(f).sum::<f64>();
    for (op, tag) in [("read", 0usize), ("write", 1)] {
        let pick = |x: &Summary| if op == "read" { x.operations.read.clone() } else { x.operations.write.clone() };
        let stats = if op == "read" { &mut s.operations.read } else { &mut s.operations.write };
        stats.intended = sum(&|x| pick(x).intended);
        stats.completed = sum(&|x| pick(x).completed);
        stats.errors = sum(&|x| pick(x).errors);
        stats.intended_rate = sumf(&|x| pick(x).intended_rate);
        stats.achieved_rate = sumf(&|x| pick(x).achieved_rate);
        stats.latency_us = Percentiles::of(&totals[tag]);
    }
    let mut both = totals[0].clone();
    let _ = both.add(&totals[1]);
    let all = &mut s.operations.all;
    all.intended = sum(&|x| x.operations.all.intended);
    all.completed = sum(&|x| x.operations.all.completed);
    all.errors = sum(&|x| x.operations.all.errors);
    all.intended_rate = sumf(&|x| x.operations.all.intended_rate);
    all.achieved_rate = sumf(&|x| x.operations.all.achieved_rate);
    all.latency_us = Percentiles::of(&both);

    s.errors_by_kind = BTreeMap::new();
    for x in &summaries {
        for (k, v) in &x.errors_by_kind {
            *s.errors_by_kind.entry(k.clone()).or_default() += v;
        }
    }
    s.series = (0..seconds)
        .map(|t| {
            let mut h = new_histogram();
            for tag in 0..3 {
                if let Some(x) = merged.get(&(t, tag)) {
                    let _ = h.add(x);
                }
            }
            SecondSample {
                t: t as u64,
                intended: summaries.iter().filter_map(|x| x.series.get(t)).map(|p| p.intended).sum(),
                sent: summaries.iter().filter_map(|x| x.series.get(t)).map(|p| p.sent).sum(),
                lag_p99_us: summaries.iter().filter_map(|x| x.series.get(t)).map(|p| p.lag_p99_us).max().unwrap_or(0),
                completed: h.len(),
                errors: merged.get(&(t, 2)).map_or(0, |e| e.len()),
                latency_us: Percentiles::of(&h),
            }
        })
        .collect();
    let worst = |f: &dyn Fn(&Summary) -> u64| summaries.iter().map(f).max().unwrap_or(0);
    let lag = &mut s.schedule_lag.lag_us;
    lag.count = sum(&|x| x.schedule_lag.lag_us.count);
    lag.p50 = worst(&|x| x.schedule_lag.lag_us.p50);
    lag.p90 = worst(&|x| x.schedule_lag.lag_us.p90);
    lag.p99 = worst(&|x| x.schedule_lag.lag_us.p99);
    lag.p999 = worst(&|x| x.schedule_lag.lag_us.p999);
    lag.max = worst(&|x| x.schedule_lag.lag_us.max);

    let g = &mut s.generator;
    g.users = summaries.iter().map(|x| x.generator.users).sum();
    g.processes = summaries.iter().map(|x| x.generator.processes).sum();
    g.threads = summaries.iter().map(|x| x.generator.threads).sum();
    g.cpu_seconds = sumf(&|x| x.generator.cpu_seconds);
    // Each input's CPU covers its warm-up too, and so does its figure's denominator: the
    // requests behind each figure, not the measured part's completions, divide the sum.
    let requests: f64 = summaries
        .iter()
        .filter(|x| x.generator.cpu_us_per_request > 0.0)
        .map(|x| x.generator.cpu_seconds * 1e6 / x.generator.cpu_us_per_request)
        .sum();
    g.cpu_us_per_request = if requests > 0.0 { (g.cpu_seconds * 1e6 / requests * 10.0).round() / 10.0 } else { 0.0 };
    g.cpu_share = summaries.iter().map(|x| x.generator.cpu_share).fold(0.0, f64::max);
    g.reasons =
        summaries.iter().flat_map(|x| x.generator.reasons.iter().map(move |r| format!("{}: {r}", x.run_id))).collect();
    g.overloaded = summaries.iter().any(|x| x.generator.overloaded);
    g.waived =
        summaries.iter().flat_map(|x| x.generator.waived.iter().map(move |r| format!("{}: {r}", x.run_id))).collect();
    // Each process had its own in-flight slots; the target held at most their sum at once.
    g.max_in_flight = summaries.iter().map(|x| x.generator.max_in_flight).sum();
    g.peak_in_flight = summaries.iter().map(|x| x.generator.peak_in_flight).sum();
    g.held_at_cap = sum(&|x| x.generator.held_at_cap);
    g.unsent_at_cap = sum(&|x| x.generator.unsent_at_cap);
    s.trustworthy = summaries.iter().all(|x| x.trustworthy);

    let v = &mut s.verification;
    v.sampled = sum(&|x| x.verification.sampled);
    v.verified = sum(&|x| x.verification.verified);
    v.lost = sum(&|x| x.verification.lost);
    v.corrupted = sum(&|x| x.verification.corrupted);
    v.unchecked = sum(&|x| x.verification.unchecked);
    let all = s.operations.all.clone();
    let bad_writes = (s.verification.lost + s.verification.corrupted) as f64;
    for check in &mut s.slo.checks {
        check.observed = match check.name.as_str() {
            "p50_us" => all.latency_us.p50 as f64,
            "p99_us" => all.latency_us.p99 as f64,
            "p999_us" => all.latency_us.p999 as f64,
            "error_rate" if all.completed > 0 => all.errors as f64 / all.completed as f64,
            "lost_or_corrupted_writes" => bad_writes,
            _ => check.observed,
        };
        check.passed = check.observed <= check.limit;
    }
    s.slo.passed = s.slo.checks.iter().all(|c| c.passed);
    s.duration_s = summaries.iter().map(|x| x.duration_s).fold(0.0, f64::max);
    s.files.goose_report = None;
    s.started_at = summaries.iter().map(|x| x.started_at.clone()).min().unwrap_or_default();
    s.run_id = out.file_name().map_or_else(|| s.run_id.clone(), |n| n.to_string_lossy().into_owned());
    s.worker = None;
    let incomplete = crate::merge::workers::judge(&workers);
    s.trustworthy &= incomplete.is_empty();
    s.generator.reasons.extend(incomplete);
    s.workers = workers;

    std::fs::create_dir_all(out).map_err(|source| MergeError::Io { path: out.to_owned(), source })?;
    let io = |source| MergeError::Io { path: out.to_owned(), source };
    let mut log = std::fs::File::create(out.join(INTERVAL_LOG_FILE)).map_err(io)?;
    let base = std::time::UNIX_EPOCH + origin;
    let comment = format!("loadgen merge of {} runs, first {}", inputs.len(), first.display());
    write_interval_log(
        &mut log,
        base,
        &comment,
        |t| (0..3).filter_map(|tag| Some((TAGS[tag], merged.get(&(t, tag))?.clone()))).collect(),
        seconds,
    )
    .map_err(io)?;
    if !s.workers.is_empty() {
        crate::merge::workers::complete_run_dir(out, &mut s, &labelled)?;
    }
    crate::report::write_summary(out, &s).map_err(io)?;
    Ok(s)
}
