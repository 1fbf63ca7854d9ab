//! A CloudWatch pull for a run directory, used after a run with `--cloudwatch FILE` and by
//! `loadgen report <run-dir> --cloudwatch FILE`: wait out CloudWatch's ingestion delay (or say
//! it was not), query the run's window, record every answer and every missing series in
//! `cloudwatch.json`, merge the series into `timeline.json`, and draw the verdict again.
//! A failed pull leaves the run's own files as they were and is recorded, never fatal to them.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{align, query, signals, source::PulledSeries, CloudWatchError, CloudWatchSource};
use crate::profiler::collect::{cloudwatch::CloudWatchCollector, Backfill, CollectError, Collector};
use crate::{profiler::Timeline, summary::Summary};

/// Written next to `summary.json`.
pub use super::CloudWatchOptions;
pub use loadgen_model::cloudwatch::CloudWatchInfo;
pub use loadgen_model::run_dir::CLOUDWATCH_FILE;

/// `cloudwatch.json`: every answer as CloudWatch gave it, and what was missing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PullRecord {
    pub info: CloudWatchInfo,
    pub pulled_at: String,
    /// The window asked for, RFC 3339, and its period.
    pub window: Option<[String; 2]>,
    /// Optional signals with no data (e.g. CPU credits of non-burstable instances).
    pub not_reported: Vec<String>,
    pub series: Vec<PulledSeries>,
}

/// The pull's result for the caller.
#[derive(Debug)]
pub struct PullOutcome {
    pub record: PullRecord,
    /// Set when the pull failed (the record says why too).
    pub error: Option<CloudWatchError>,
}

/// Pulls CloudWatch for the run in `dir` and updates its files. `source`: a client built by
/// the caller (tests), else one from the SDK's default chain. `now` is the clock the period
/// rules are judged against. Returns what happened; the run's files stay valid either way.
pub async fn refresh_run_dir(
    dir: &Path,
    options: &CloudWatchOptions,
    source: Option<CloudWatchSource>,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<PullOutcome, CloudWatchError> {
    let (mut summary, mut timeline) = read_run(dir)?;
    let started_at = DateTime::parse_from_rfc3339(&summary.started_at)
        .map_err(|e| CloudWatchError::RunFiles { what: "summary's started_at", reason: e.to_string() })?
        .with_timezone(&Utc);
    let run_end = started_at + chrono::Duration::milliseconds((summary.duration_s * 1000.0) as i64);
    let mut notes = Vec::new();
    let ready_at = run_end + chrono::Duration::from_std(options.ingestion_wait()).unwrap_or_default();
    let wait = (ready_at - now()).to_std().unwrap_or_default();
    if !wait.is_zero() {
        eprintln!(
            "cloudwatch: waiting {}s for CloudWatch to ingest the run's last data points (--cloudwatch-wait to change)",
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
    }
    let pulled_at = now();
    let behind = (pulled_at - run_end).num_seconds();
    if behind < options.deployment.ingestion_delay.as_secs() as i64 {
        notes.push(format!(
            "pulled {behind} s after the run ended, sooner than CloudWatch's ingestion delay ({} s): the last minutes may be missing; re-pull with `loadgen report <run-dir> --cloudwatch {}`",
            options.deployment.ingestion_delay.as_secs(),
            options.file.display()
        ));
    }
    let file_name = options
        .file
        .file_name()
        .map_or_else(|| options.file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let signals = signals::shipped();
    let queries = query::plan(&options.deployment, &signals);
    let end_s = (run_end.timestamp_millis() + 999).div_euclid(1000);
    let mut collector: Box<dyn Collector> =
        Box::new(CloudWatchCollector::new(options.clone(), queries.clone(), source));
    let attempt = async {
        match collector.backfill(started_at.timestamp(), end_s, pulled_at.timestamp()).await {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(CloudWatchError::Service {
                code: "collector".into(),
                message: "the CloudWatch collector answered nothing".into(),
            }),
            Err(CollectError::Backfill(e)) => Err(match e.downcast::<CloudWatchError>() {
                Ok(e) => *e,
                Err(e) => CloudWatchError::Service { code: "collector".into(), message: e.to_string() },
            }),
            Err(e) => Err(CloudWatchError::Service { code: "collector".into(), message: e.to_string() }),
        }
    };
    let mut info = CloudWatchInfo {
        deployment: file_name,
        period_s: None,
        series_with_data: 0,
        series_asked: queries.len(),
        missing: Vec::new(),
        error: None,
        notes,
    };
    let (record, error) = match attempt.await {
        Ok(Backfill { period_s, window, notes: window_notes, series: pulled }) => {
            let mut not_reported = Vec::new();
            for (series, q) in pulled.iter().zip(&queries) {
                if series.values.is_empty() {
                    if q.signal.optional {
                        not_reported.push(series.query.clone())
                    } else {
                        info.missing.push(series.query.clone())
                    }
                }
            }
            info.series_with_data = pulled.iter().filter(|s| !s.values.is_empty()).count();
            info.period_s = Some(period_s);
            info.notes.extend(window_notes);
            let pairs: Vec<(PulledSeries, signals::Signal)> =
                pulled.iter().cloned().zip(queries.iter().map(|q| q.signal.clone())).collect();
            let started = started_at.timestamp_millis() as f64 / 1000.0;
            align::merge_into(&mut timeline, &pairs, period_s, started, summary.duration_s);
            let rfc = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default().to_rfc3339();
            let record = PullRecord {
                info: info.clone(),
                pulled_at: pulled_at.to_rfc3339(),
                window: Some([rfc(window[0]), rfc(window[1])]),
                not_reported,
                series: pulled,
            };
            (record, None)
        }
        Err(e) => {
            info.error = Some(e.to_string());
            (
                PullRecord {
                    info: info.clone(),
                    pulled_at: pulled_at.to_rfc3339(),
                    window: None,
                    not_reported: Vec::new(),
                    series: Vec::new(),
                },
                Some(e),
            )
        }
    };
    summary.cloudwatch = Some(info);
    if error.is_none() {
        let stage = options.deployment.stage.clone();
        crate::profiler::session::conclude(&mut summary, &timeline, &stage);
        write(dir, crate::html::TIMELINE_FILE, serde_json::to_string(&timeline))?;
    }
    write(dir, CLOUDWATCH_FILE, serde_json::to_string_pretty(&record))?;
    crate::report::write_summary(dir, &summary)
        .map_err(|source| CloudWatchError::Write { path: dir.join(crate::report::SUMMARY_FILE), source })?;
    if let Err(e) = crate::html::rebuild_report(dir) {
        tracing::warn!(error = %e, "the HTML report could not be rebuilt after the CloudWatch pull");
    }
    Ok(PullOutcome { record, error })
}

fn read_run(dir: &Path) -> Result<(Summary, Timeline), CloudWatchError> {
    let run = loadgen_model::RunDir::new(dir);
    let summary =
        run.read_summary().map_err(|e| CloudWatchError::RunFiles { what: "summary.json", reason: e.to_string() })?;
    let timeline = run
        .read_timeline()
        .map_err(|e| CloudWatchError::RunFiles { what: "timeline.json", reason: e.to_string() })?
        .unwrap_or_default();
    Ok((summary, timeline))
}

fn write(dir: &Path, name: &str, text: serde_json::Result<String>) -> Result<(), CloudWatchError> {
    let path = dir.join(name);
    text.map_err(std::io::Error::other)
        .and_then(|text| std::fs::write(&path, text))
        .map_err(|source| CloudWatchError::Write { path, source })
}
