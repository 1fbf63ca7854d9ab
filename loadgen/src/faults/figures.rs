//! The load's figures over each fault's window, from the run's own per-second histograms
//! (requests served, errors, p99 of reads and writes), the longest stretch without an
//! acknowledged write, and how long the service took to answer cleanly again.

use super::FaultRecord;
use crate::profiler::Timeline;
use crate::recorder::{new_histogram, RecordedRun};
pub use loadgen_model::faults::FaultFigures;
use loadgen_model::series;

/// Seconds past a fault's window still searched for its recovery.
const RECOVERY_SEARCH_S: u64 = 60;
/// Clean seconds in a row that count as recovered.
const CLEAN_RUN_S: u64 = 3;

fn count_in(run: &RecordedRun, tag: usize, s: u64) -> u64 {
    run.tags[tag].per_second.get(s as usize).map_or(0, |h| h.len())
}

/// Fills in each record's figures and adds a `fault.<tier>` series (1 while a fault of that
/// tier lasts, else 0) to the timeline, beside its `faults`.
pub fn attach(records: &mut [FaultRecord], run: &RecordedRun, timeline: &mut Timeline) {
    let seconds = run.seconds() as u64;
    let run_end = seconds as f64;
    for r in records.iter_mut() {
        if r.tier.is_empty() {
            continue; // never done: nothing to measure
        }
        r.figures = Some(figures_of(r, run, timeline, run_end));
    }
    for r in records.iter().filter(|r| !r.tier.is_empty()) {
        let [a, b] = r.window(run_end);
        let name = format!("fault.{}", r.tier);
        let values: Vec<Option<f64>> =
            timeline.t.iter().map(|&t| Some(if (a..=b).contains(&t) { 1.0 } else { 0.0 })).collect();
        let column = timeline.series.entry(name).or_insert_with(|| vec![Some(0.0); values.len()]);
        for (c, v) in column.iter_mut().zip(values) {
            if v == Some(1.0) {
                *c = v;
            }
        }
    }
    timeline.faults = records.to_vec();
}

fn figures_of(r: &FaultRecord, run: &RecordedRun, timeline: &Timeline, run_end: f64) -> FaultFigures {
    let seconds = run_end as u64;
    let [a, b] = r.window(run_end);
    let b = b.min(seconds.saturating_sub(1));
    let (mut reads, mut writes) = (new_histogram(), new_histogram());
    let mut errors = 0;
    for s in a..=b {
        if let Some(h) = run.tags[0].per_second.get(s as usize) {
            let _ = reads.add(h);
        }
        if let Some(h) = run.tags[1].per_second.get(s as usize) {
            let _ = writes.add(h);
        }
        errors += count_in(run, 2, s);
    }
    let quantile = |h: &hdrhistogram::Histogram<u64>| (!h.is_empty()).then(|| h.value_at_quantile(0.99));
    let search_end = (b + RECOVERY_SEARCH_S).min(seconds.saturating_sub(1));
    // Writes unavailable: the longest run of seconds without an acknowledged write.
    let (mut gap, mut longest) = (0, 0);
    for s in a..=search_end {
        gap = if count_in(run, 1, s) == 0 { gap + 1 } else { 0 };
        longest = longest.max(gap);
        if s > b && gap == 0 && longest > 0 {
            break;
        }
    }
    let failed_writes = |s: u64| run.failed_writes.get(s as usize).copied().unwrap_or(0);
    let failing: Vec<u64> = (a..=search_end).filter(|&s| failed_writes(s) > 0).collect();
    let writes_failing_s = match (failing.first(), failing.last()) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    let clean = |s: u64| count_in(run, 2, s) == 0 && count_in(run, 0, s) + count_in(run, 1, s) > 0;
    let recovered_after_s =
        (a..=search_end.saturating_sub(CLEAN_RUN_S - 1)).find(|&s| (s..s + CLEAN_RUN_S).all(clean)).map(|s| s - a);
    let cache_hits_after_s = match (r.tier.as_str(), r.ended_s) {
        ("cache", Some(end)) => {
            let from = end.ceil() as u64;
            let hits = timeline.series.get(series::SERVICE_CACHE_HITS);
            timeline
                .t
                .iter()
                .zip(hits.into_iter().flatten())
                .find(|(t, h)| **t >= from && matches!(**h, Some(v) if v > 0.0))
                .map(|(t, _)| t - from)
        }
        _ => None,
    };
    FaultFigures {
        window: [a, b],
        reads_ok: reads.len(),
        writes_ok: writes.len(),
        errors,
        read_p99_us: quantile(&reads),
        read_max_us: (!reads.is_empty()).then(|| reads.max()),
        write_p99_us: quantile(&writes),
        write_gap_s: longest,
        write_errors: (a..=search_end).map(failed_writes).sum(),
        writes_failing_s,
        recovered_after_s,
        cache_hits_after_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Operation;
    use crate::recorder::{Outcome, Recorder};
    use std::time::Duration;

    #[test]
    fn window_figures_count_what_the_load_saw() {
        let rec = Recorder::new(Duration::ZERO);
        for s in 0..20u64 {
            let at = Duration::from_secs(s) + Duration::from_millis(100);
            // Seconds 5..=7: every request fails; otherwise 10 reads + 1 write answered.
            let failing = (5..=7).contains(&s);
            for i in 0..10 {
                let outcome = if failing { Outcome::Failed("http_503".into()) } else { Outcome::Ok };
                rec.record(Operation::Read, at, Duration::from_millis(2 + i), outcome);
            }
            let outcome = if failing { Outcome::Failed("http_503".into()) } else { Outcome::Ok };
            rec.record(Operation::Write, at, Duration::from_millis(5), outcome);
        }
        let mut records =
            vec![FaultRecord { tier: "app".into(), started_s: 5.0, ended_s: Some(8.0), ..Default::default() }];
        let mut tl = Timeline { t: (0..20).collect(), ..Default::default() };
        attach(&mut records, &rec.snapshot(), &mut tl);
        let f = tl.faults[0].figures.clone().unwrap();
        assert_eq!(f.window, [5, 7]);
        assert_eq!((f.reads_ok, f.writes_ok, f.errors), (0, 0, 33));
        assert_eq!(f.write_gap_s, 3);
        assert_eq!((f.write_errors, f.writes_failing_s), (3, 3));
        assert_eq!(f.recovered_after_s, Some(3));
        assert_eq!(tl.values("fault.app").iter().sum::<f64>(), 3.0);
    }
}
