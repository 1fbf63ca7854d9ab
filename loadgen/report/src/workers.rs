//! The workers of a distributed run as the page's table and the terminal's lines show them.

use serde::Serialize;

use loadgen_model::summary::Summary;
use loadgen_model::workers::WorkerInfo;

/// One worker as the report page shows it.
#[derive(Debug, Serialize)]
pub struct WorkerRow {
    pub share: String,
    pub count: u64,
    pub start: String,
    pub clock: String,
    pub intended: u64,
    pub completed: u64,
    pub achieved_rate: String,
    pub lag_p99: String,
    pub trustworthy: bool,
}

/// The report page's worker rows: the merged run's workers, or a worker run's own record.
pub fn worker_rows(summary: &Summary) -> Vec<WorkerRow> {
    summary
        .workers
        .iter()
        .chain(summary.worker.as_ref())
        .map(|w| WorkerRow {
            share: format!("{}/{}", w.index, w.count),
            count: w.count,
            start: match w.start_late_ms {
                Some(late) if w.started_late() => format!("LATE by {late:.1} ms"),
                Some(late) => format!("{late:+.1} ms"),
                None => format!("no --start-at (began {})", w.schedule_started_at),
            },
            clock: w.clock.as_ref().map_or_else(
                || "not measured".into(),
                |c| format!("{:+.1} ms ± {:.1} ms", c.offset_ms, c.uncertainty_ms),
            ),
            intended: w.intended,
            completed: w.completed,
            achieved_rate: format!("{:.1}", w.achieved_rate),
            lag_p99: format!("{:.2} ms", w.lag_p99_us as f64 / 1000.0),
            trustworthy: w.trustworthy,
        })
        .collect()
}

/// The summary's lines about the worker(s), for the terminal.
pub fn terminal_lines(summary: &Summary) -> String {
    let mut out = String::new();
    let describe = |w: &WorkerInfo| {
        let start = match (&w.start_at, w.start_late_ms) {
            (Some(at), Some(late)) if w.started_late() => format!("started LATE by {late:.1} ms after {at}"),
            (Some(at), Some(late)) => format!("started {late:+.1} ms from {at}"),
            _ => format!("started {}", w.schedule_started_at),
        };
        let clock = match &w.clock {
            Some(c) => format!("clock {:+.1} ms ± {:.1} ms against the target", c.offset_ms, c.uncertainty_ms),
            None => "clock offset not measured".to_owned(),
        };
        format!(
            "worker {}/{}: {start}; {clock}; {} of {} sent, {:.1}/s, lag p99 {:.2} ms{}",
            w.index,
            w.count,
            w.completed,
            w.intended,
            w.achieved_rate,
            w.lag_p99_us as f64 / 1000.0,
            if w.trustworthy { "" } else { " (did not keep its schedule)" }
        )
    };
    if let Some(w) = &summary.worker {
        out += &format!("  {}\n", describe(w));
    }
    for w in &summary.workers {
        out += &format!("  {}\n", describe(w));
    }
    out
}
