//! The query window and period for a run, from CloudWatch's resolution and retention rules:
//! data points finer than 60 s live 3 hours, 60 s points 15 days, 5-minute points 63 days,
//! 1-hour points 455 days. AWS service metrics here are standard resolution (60 s at best; EC2
//! without detailed monitoring 300 s). The window is widened to whole periods so the run's
//! edges are covered, and long runs get a coarser period to keep each series short.

/// What to ask CloudWatch for.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryWindow {
    /// Seconds per data point.
    pub period_s: i64,
    /// Unix seconds, a multiple of `period_s` at or before the run's start.
    pub start: i64,
    /// Unix seconds, a multiple of `period_s` at or after the run's end.
    pub end: i64,
    /// Things a reader of the figures should know (coarse periods, short runs).
    pub notes: Vec<String>,
}

/// The run is older than CloudWatch keeps data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the run started {age_days:.0} days ago: CloudWatch keeps data points for 455 days at most")]
pub struct Expired {
    pub age_days: f64,
}

/// Data points per series beyond which a coarser period is chosen.
pub const MAX_POINTS_PER_SERIES: i64 = 1440;

const DAY: i64 = 86_400;

/// Chooses the period and window for a run from `run_start` to `run_end` (unix seconds), asked
/// at `now`, for metrics published every `native_period_s`.
pub fn choose(run_start: i64, run_end: i64, now: i64, native_period_s: i64) -> Result<QueryWindow, Expired> {
    let run_end = run_end.max(run_start);
    let age = now - run_start;
    let retained = match age {
        a if a <= 15 * DAY => 60,
        a if a <= 63 * DAY => 300,
        a if a <= 455 * DAY => 3600,
        a => return Err(Expired { age_days: a as f64 / DAY as f64 }),
    };
    let mut notes = Vec::new();
    let base = native_period_s.max(retained).max(60);
    if retained > 60 {
        notes.push(format!(
            "the run is {} days old: CloudWatch now keeps only {retained}-second points for it",
            age / DAY
        ));
    }
    let length = run_end - run_start;
    let mut period = base;
    if length / period > MAX_POINTS_PER_SERIES {
        let wanted = (length + MAX_POINTS_PER_SERIES - 1) / MAX_POINTS_PER_SERIES;
        period = (wanted + base - 1) / base * base;
        notes.push(format!("a {length}-second run is read at {period}-second points to keep each series under {MAX_POINTS_PER_SERIES} points"));
    }
    if length < 3 * period {
        notes.push(format!(
            "the run spans fewer than 3 CloudWatch periods of {period} s: its CloudWatch figures are averages over more than the run's phases (run at least {} minutes for a finer picture)",
            5 * period / 60
        ));
    }
    let start = run_start.div_euclid(period) * period;
    let end = (run_end + period - 1).div_euclid(period) * period;
    Ok(QueryWindow { period_s: period, start, end: end.max(start + period), notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_fresh_ten_minute_run_uses_one_minute_points() {
        let w = choose(NOW - 700, NOW - 100, NOW, 60).unwrap();
        assert_eq!(w.period_s, 60);
        assert!(w.notes.is_empty(), "{:?}", w.notes);
        assert!(w.start <= NOW - 700 && w.end >= NOW - 100);
    }

    #[test]
    fn basic_monitoring_old_runs_and_long_runs_get_coarser_points() {
        assert_eq!(choose(NOW - 3600, NOW - 600, NOW, 300).unwrap().period_s, 300);
        let old = choose(NOW - 20 * DAY, NOW - 20 * DAY + 600, NOW, 60).unwrap();
        assert_eq!(old.period_s, 300);
        assert!(old.notes.iter().any(|n| n.contains("days old")));
        assert_eq!(choose(NOW - 100 * DAY, NOW - 100 * DAY + 600, NOW, 60).unwrap().period_s, 3600);
        assert!(choose(NOW - 500 * DAY, NOW - 500 * DAY + 600, NOW, 60).is_err());
        let soak = choose(NOW - 3 * DAY, NOW - DAY, NOW, 60).unwrap();
        assert_eq!(soak.period_s, 60 * 2);
    }

    #[test]
    fn short_runs_are_stated() {
        let w = choose(NOW - 200, NOW - 100, NOW, 60).unwrap();
        assert!(w.notes.iter().any(|n| n.contains("fewer than 3")), "{:?}", w.notes);
    }

    proptest! {
        #[test]
        fn the_window_covers_the_run_in_whole_periods(
            start in NOW - 400 * DAY..NOW, length in 0i64..3 * DAY, native in prop::sample::select(vec![60i64, 300]),
        ) {
            let end = (start + length).min(NOW);
            let w = choose(start, end, NOW, native).unwrap();
            prop_assert!(w.period_s >= native && w.period_s % 60 == 0);
            prop_assert_eq!(w.start % w.period_s, 0);
            prop_assert_eq!(w.end % w.period_s, 0);
            prop_assert!(w.start <= start && w.end >= end && w.end > w.start);
            prop_assert!((w.end - w.start) / w.period_s <= MAX_POINTS_PER_SERIES + 2);
        }
    }
}
