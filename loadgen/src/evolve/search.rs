//! The capacity search of one stage: the highest constant arrival rate at which the scenario's
//! SLO holds. It doubles the rate from a start until a step fails (or the target is met), then
//! bisects between the last passing and the first failing rate until they are within a
//! tolerance. Pure: the caller runs each step and reports whether it passed, so the search is
//! tested without servers.

/// A search in progress.
#[derive(Debug, Clone)]
pub struct CapacitySearch {
    /// Highest rate that passed.
    passed: Option<f64>,
    /// Lowest rate that failed.
    failed: Option<f64>,
    next: f64,
    /// Rates above this are not tried (the target rate: meeting it ends the search).
    ceiling: f64,
    /// Bisect until failed / passed ≤ 1 + tolerance.
    tolerance: f64,
    steps_left: u32,
    /// Every step so far: (rate, passed).
    pub history: Vec<(f64, bool)>,
}

impl CapacitySearch {
    /// `start` > 0 is the first rate tried; at most `max_steps` steps are run.
    pub fn new(start: f64, ceiling: f64, tolerance: f64, max_steps: u32) -> Self {
        let ceiling = ceiling.max(start);
        Self {
            passed: None,
            failed: None,
            next: start.min(ceiling),
            ceiling,
            tolerance: tolerance.max(0.01),
            steps_left: max_steps,
            history: Vec::new(),
        }
    }

    /// The next rate to run, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        if self.steps_left == 0 {
            return None;
        }
        match (self.passed, self.failed) {
            (Some(p), _) if p >= self.ceiling => None,
            (Some(p), Some(f)) if f <= p * (1.0 + self.tolerance) => None,
            _ => Some(self.next),
        }
    }

    /// Reports the outcome of the step at `rate`.
    pub fn record(&mut self, rate: f64, passed: bool) {
        self.steps_left = self.steps_left.saturating_sub(1);
        self.history.push((rate, passed));
        if passed {
            self.passed = Some(self.passed.map_or(rate, |p| p.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
        }
        self.next = match (self.passed, self.failed) {
            (Some(p), None) => (p * 2.0).min(self.ceiling),
            (Some(p), Some(f)) => (p * f).sqrt(),
            // Nothing passed yet: halve below the lowest failure.
            (None, Some(f)) => f / 2.0,
            (None, None) => self.next,
        };
    }

    /// Caps the next rate of the doubling phase at `rate` (never below the tolerance's step
    /// above the highest pass): a step that passed with a box near its quota says doubling
    /// would overshoot far past the stage's limit, and an overload that deep leaves a backlog
    /// (or kills a server) that spoils the steps after it.
    pub fn limit_next(&mut self, rate: f64) {
        if let (Some(p), None) = (self.passed, self.failed) {
            self.next = self.next.min(rate.max(p * (1.0 + self.tolerance)));
        }
    }

    /// The highest rate that met the SLO.
    pub fn sustainable(&self) -> Option<f64> {
        self.passed
    }

    /// Whether the target (ceiling) was met.
    pub fn met_ceiling(&self) -> bool {
        self.passed.is_some_and(|p| p >= self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(threshold: f64, start: f64, ceiling: f64, steps: u32) -> CapacitySearch {
        let mut s = CapacitySearch::new(start, ceiling, 0.15, steps);
        while let Some(rate) = s.next_rate() {
            s.record(rate, rate <= threshold);
        }
        s
    }

    #[test]
    fn doubles_then_bisects() {
        let s = run(700.0, 100.0, 100_000.0, 20);
        let rates: Vec<f64> = s.history.iter().map(|(r, _)| *r).collect();
        assert_eq!(&rates[..5], &[100.0, 200.0, 400.0, 800.0, (400.0f64 * 800.0).sqrt()]);
        let found = s.sustainable().unwrap();
        assert!((700.0 / 1.15..=700.0).contains(&found), "{found}");
    }

    #[test]
    fn stops_at_the_target() {
        let s = run(1e9, 100.0, 1000.0, 20);
        assert!(s.met_ceiling());
        assert_eq!(s.history.last().unwrap().0, 1000.0);
    }

    #[test]
    fn nothing_passes() {
        let s = run(1.0, 100.0, 1000.0, 5);
        assert_eq!(s.sustainable(), None);
        assert_eq!(s.history.len(), 5);
    }

    #[test]
    fn a_hint_caps_the_doubling_but_not_below_one_tolerance_step() {
        let mut s = CapacitySearch::new(1000.0, 80_000.0, 0.2, 20);
        s.record(1000.0, true);
        s.limit_next(1300.0);
        assert_eq!(s.next_rate(), Some(1300.0));
        s.record(1300.0, true);
        s.limit_next(1000.0);
        assert_eq!(s.next_rate(), Some(1560.0), "at least one tolerance step up");
        s.record(4000.0, false);
        s.limit_next(100.0);
        assert_eq!(s.next_rate(), Some((1300.0f64 * 4000.0).sqrt()), "bisection ignores hints");
    }

    proptest! {
        #[test]
        fn finds_a_monotone_threshold_within_tolerance(threshold in 100.0f64..50_000.0, start in 10.0f64..100.0) {
            let s = run(threshold, start, 1e6, 30);
            let found = s.sustainable().unwrap();
            prop_assert!(found <= threshold);
            prop_assert!(found * 1.15 >= threshold * 0.999, "found {} for {}", found, threshold);
            prop_assert!(s.history.len() <= 30);
        }
    }
}
