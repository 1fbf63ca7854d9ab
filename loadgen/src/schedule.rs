//! The open-model pacer: a pure, deterministic schedule of intended send times, derived
//! from the rate curve by inverting its cumulative integral, shared between Goose users
//! through an atomic ticket counter.
//!
//! Send `k` (0-based) is intended at the time `t_k` where `∫₀^{t_k} r = k + ½`, so the
//! number of sends in any window `[a, b)` is `∫ₐᵇ r` rounded, within one, whatever the
//! shape, and the whole run sends `round(∫ r)` requests. Nothing here reads a clock:
//! times are offsets from the run's start instant, which the caller owns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::shape::RateCurve;

/// One claimed send: its index and its intended offset from the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub index: u64,
    pub intended: Duration,
}

/// The schedule of every intended send of a run.
#[derive(Debug)]
pub struct Schedule {
    curve: RateCurve,
    total: u64,
    next: AtomicU64,
}

impl Schedule {
    pub fn new(curve: RateCurve) -> Self {
        let total = (curve.total() + 0.5).floor().max(0.0) as u64;
        Self { curve, total, next: AtomicU64::new(0) }
    }

    /// Number of sends the whole schedule holds.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn curve(&self) -> &RateCurve {
        &self.curve
    }

    /// Length of the schedule.
    pub fn length(&self) -> Duration {
        Duration::from_secs_f64(self.curve.end())
    }

    /// The intended offset of send `k`, or `None` past the end.
    pub fn intended(&self, k: u64) -> Option<Duration> {
        if k >= self.total {
            return None;
        }
        let t = self.curve.time_of(k as f64 + 0.5)?;
        Some(Duration::from_secs_f64(t.max(0.0)))
    }

    /// Takes the next unclaimed send, or `None` once every send has been handed out.
    pub fn claim(&self) -> Option<Ticket> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        self.intended(index).map(|intended| Ticket { index, intended })
    }

    /// How many sends have been handed out so far.
    pub fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.total)
    }

    /// Sends intended in `[from, to)`, counted from the curve (what the target rate is).
    pub fn intended_between(&self, from: Duration, to: Duration) -> f64 {
        self.curve.cumulative_at(to.as_secs_f64()) - self.curve.cumulative_at(from.as_secs_f64())
    }
}

/// Users to start so that `peak_rate` can be kept when each request takes
/// `expected_latency` (Little's law, with 2× headroom), clamped to `1..=max_users`.
pub fn users_for(peak_rate: f64, expected_latency: Duration, max_users: usize) -> usize {
    let in_flight = peak_rate * expected_latency.as_secs_f64();
    let wanted = (in_flight * 2.0).ceil() as usize + 4;
    wanted.clamp(1, max_users.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::LoadShape;
    use proptest::prelude::*;

    /// Counts the sends whose intended time falls in each one-second window.
    fn per_second(schedule: &Schedule) -> Vec<u64> {
        let mut counts = vec![0u64; schedule.length().as_secs_f64().ceil() as usize + 1];
        while let Some(t) = schedule.claim() {
            counts[t.intended.as_secs() as usize] += 1;
        }
        counts
    }

    fn assert_matches_curve(schedule: &Schedule, window: f64) {
        let curve = schedule.curve().clone();
        let counts = per_second(schedule);
        let mut t = 0.0;
        while t + window <= curve.end() {
            let expected = curve.cumulative_at(t + window) - curve.cumulative_at(t);
            let got: u64 = counts[t as usize..(t + window) as usize].iter().sum();
            let tolerance = (expected * 0.01).max(1.0);
            assert!(
                (got as f64 - expected).abs() <= tolerance,
                "window [{t}, {}): got {got}, curve says {expected:.1}",
                t + window
            );
            t += window;
        }
    }

    #[test]
    fn constant_rate_is_exact() {
        let s = Schedule::new(LoadShape::Constant { rate: 250.0 }.curve(Duration::from_secs(8)));
        assert_eq!(s.total(), 2000);
        let counts = per_second(&s);
        assert!(counts[..8].iter().all(|&c| c == 250), "{counts:?}");
        assert_eq!(s.intended(0), Some(Duration::from_millis(2)));
        assert_eq!(s.intended(2000), None);
    }

    #[test]
    fn peak_us_schedule_follows_the_curve() {
        let shape = LoadShape::PeakUs { peak_rate: 2000.0, peak_to_average: 2.0 };
        let s = Schedule::new(shape.curve(Duration::from_secs(240)));
        assert!((s.curve().peak() / s.curve().mean() - 2.0).abs() < 0.01);
        assert_matches_curve(&s, 10.0);
    }

    #[test]
    fn step_spike_is_ten_times_the_base() {
        let shape = LoadShape::Step {
            base_rate: 100.0,
            factor: 10.0,
            at: Duration::from_secs(10),
            length: Duration::from_secs(5),
        };
        let s = Schedule::new(shape.curve(Duration::from_secs(30)));
        let counts = per_second(&s);
        assert_eq!(counts[5], 100);
        assert_eq!(counts[12], 1000);
        assert_eq!(counts[20], 100);
    }

    #[test]
    fn warmup_shifts_the_curve() {
        let curve = LoadShape::Constant { rate: 10.0 }.curve(Duration::from_secs(5)).after_warmup(2.0, 50.0);
        let s = Schedule::new(curve);
        assert_eq!(s.total(), 150);
        assert!(s.intended(99).unwrap() < Duration::from_secs(2));
        assert!(s.intended(100).unwrap() >= Duration::from_secs(2));
    }

    #[test]
    fn users_follow_littles_law() {
        assert_eq!(users_for(1000.0, Duration::from_millis(50), 1024), 104);
        assert_eq!(users_for(1e6, Duration::from_millis(50), 64), 64);
    }

    proptest! {
        #[test]
        fn any_piecewise_curve_is_kept_within_one_percent(
            rates in proptest::collection::vec(0.0f64..800.0, 2..8),
            seconds in 10u64..60,
        ) {
            let n = rates.len();
            let end = seconds as f64;
            let points: Vec<[f64; 2]> = rates
                .iter()
                .enumerate()
                .map(|(i, &r)| [end * i as f64 / (n - 1) as f64, r])
                .collect();
            prop_assume!(rates.iter().any(|&r| r > 0.0));
            let s = Schedule::new(LoadShape::Points { points }.curve(Duration::from_secs(seconds)));
            assert_matches_curve(&s, 5.0);
            // Intended times never go backwards.
            let times: Vec<Duration> = (0..s.total()).filter_map(|k| s.intended(k)).collect();
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
