//! The open-model pacer: a pure, deterministic schedule of intended send times, derived
//! from the rate curve by inverting its cumulative integral, shared between Goose users
//! through an atomic ticket counter.
//!
//! Send `k` (0-based) is intended at the time `t_k` where `∫₀^{t_k} r = k + ½`, so the
//! number of sends in any window `[a, b)` is `∫ₐᵇ r` rounded, within one, whatever the
//! shape, and the whole run sends `round(∫ r)` requests. Nothing here reads a clock:
//! times are offsets from the run's start instant, which the caller owns.
//!
//! **Shares.** Several generator processes split one schedule exactly: worker `I` of `N`
//! ([`Share`]) claims only the arrivals `k` with `k mod N == I`, and a ticket keeps the global
//! index `k`, so what a send does (read or write, key, payload: all seeded by `(seed, k)`) is
//! what the single process would have done for that arrival.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::shape::RateCurve;

/// One claimed send: its index and its intended offset from the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub index: u64,
    pub intended: Duration,
}

/// Which arrivals of the schedule one generator process sends: arrival `k` belongs to worker
/// `k mod count`. Round-robin rather than contiguous blocks, so every worker carries the same
/// shape at `1/count` of the rate and a ramp or spike reaches all of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// 0-based worker index, below `count`.
    pub index: u64,
    /// Workers the schedule is split over (at least 1).
    pub count: u64,
}

/// Why a share is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("the number of workers N must be at least 1 (got {0})")]
    NoWorkers(u64),
    #[error("worker index {index} is not below N = {count} (indices are 0-based: 0..={last})", last = count.saturating_sub(1))]
    IndexTooLarge { index: u64, count: u64 },
    #[error("`{0}` is not of the form I/N (e.g. 0/3)")]
    Syntax(String),
}

impl Share {
    /// The whole schedule: one process sends every arrival.
    pub const WHOLE: Share = Share { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Self, ShareError> {
        if count == 0 {
            return Err(ShareError::NoWorkers(count));
        }
        if index >= count {
            return Err(ShareError::IndexTooLarge { index, count });
        }
        Ok(Self { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let syntax = || ShareError::Syntax(text.to_owned());
        let (i, n) = text.split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse().map_err(|_| syntax())?;
        let count = n.trim().parse().map_err(|_| syntax())?;
        Self::new(index, count)
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether arrival `k` is this worker's.
    pub fn owns(&self, k: u64) -> bool {
        k % self.count == self.index
    }

    /// This worker's arrivals among arrivals `0..end`.
    pub fn count_below(&self, end: u64) -> u64 {
        if end > self.index {
            (end - self.index - 1) / self.count + 1
        } else {
            0
        }
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The schedule of every intended send of a run (or of one worker's share of it).
#[derive(Debug)]
pub struct Schedule {
    curve: RateCurve,
    /// Arrivals of the whole schedule.
    whole: u64,
    share: Share,
    /// Tickets of this share handed out so far.
    next: AtomicU64,
}

impl Schedule {
    pub fn new(curve: RateCurve) -> Self {
        Self::for_share(curve, Share::WHOLE)
    }

    /// Only `share`'s arrivals of the schedule `curve` makes.
    pub fn for_share(curve: RateCurve, share: Share) -> Self {
        let whole = (curve.total() + 0.5).floor().max(0.0) as u64;
        Self { curve, whole, share, next: AtomicU64::new(0) }
    }

    pub fn share(&self) -> Share {
        self.share
    }

    /// Number of sends this schedule (its share) holds.
    pub fn total(&self) -> u64 {
        self.share.count_below(self.whole)
    }

    /// Number of sends the whole schedule holds, every share together.
    pub fn whole_total(&self) -> u64 {
        self.whole
    }

    /// The global indices of this share's sends, in order.
    pub fn indices(&self) -> impl Iterator<Item = u64> {
        (self.share.index..self.whole).step_by(self.share.count as usize)
    }

    pub fn curve(&self) -> &RateCurve {
        &self.curve
    }

    /// Length of the schedule.
    pub fn length(&self) -> Duration {
        Duration::from_secs_f64(self.curve.end())
    }

    /// The intended offset of send `k` (a global index), or `None` past the end.
    pub fn intended(&self, k: u64) -> Option<Duration> {
        if k >= self.whole {
            return None;
        }
        let t = self.curve.time_of(k as f64 + 0.5)?;
        Some(Duration::from_secs_f64(t.max(0.0)))
    }

    /// Takes the next unclaimed send of this share, or `None` once every one has been handed
    /// out. The ticket carries the send's global index.
    pub fn claim(&self) -> Option<Ticket> {
        let nth = self.next.fetch_add(1, Ordering::Relaxed);
        let index = nth.checked_mul(self.share.count)?.checked_add(self.share.index)?;
        self.intended(index).map(|intended| Ticket { index, intended })
    }

    /// How many sends have been handed out so far.
    pub fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.total())
    }

    /// Sends intended in `[from, to)`: for the whole schedule counted from the curve (what the
    /// target rate is); for a share, its arrivals whose intended time falls there.
    pub fn intended_between(&self, from: Duration, to: Duration) -> f64 {
        let (a, b) = (self.curve.cumulative_at(from.as_secs_f64()), self.curve.cumulative_at(to.as_secs_f64()));
        if self.share.is_whole() {
            return b - a;
        }
        // t_k is where the integral reaches k + ½: t_k in [from, to) ⟺ k in [⌈a − ½⌉, ⌈b − ½⌉).
        let first = ((a - 0.5).ceil().max(0.0) as u64).min(self.whole);
        let end = ((b - 0.5).ceil().max(0.0) as u64).min(self.whole);
        (self.share.count_below(end) - self.share.count_below(first)) as f64
    }
}

/// Sends one dispatching user carries per second (a pass costs microseconds; this leaves
/// room for the OS to wake a user late without the schedule slipping).
const SENDS_PER_USER: f64 = 2_000.0;

/// Users to start for `peak_rate`: users only dispatch sends, so one per
/// [`SENDS_PER_USER`] of the peak, at least two, clamped to `max_users`.
pub fn users_for(peak_rate: f64, max_users: usize) -> usize {
    let wanted = (peak_rate / SENDS_PER_USER).ceil() as usize + 1;
    wanted.clamp(2, 64).min(max_users.max(1))
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
    fn users_follow_the_peak_rate() {
        assert_eq!(users_for(1000.0, 1024), 2);
        assert_eq!(users_for(40_400.0, 1024), 22);
        assert_eq!(users_for(1e6, 1024), 64);
        assert_eq!(users_for(1e6, 8), 8);
    }

    /// Every ticket `schedule` hands out: (global index, intended offset).
    fn claim_all(schedule: &Schedule) -> Vec<(u64, Duration)> {
        std::iter::from_fn(|| schedule.claim()).map(|t| (t.index, t.intended)).collect()
    }

    #[test]
    fn shares_parse_and_refuse_the_impossible() {
        assert_eq!(Share::parse("2/3"), Ok(Share { index: 2, count: 3 }));
        assert_eq!(Share::parse("0/0"), Err(ShareError::NoWorkers(0)));
        assert_eq!(Share::parse("3/3"), Err(ShareError::IndexTooLarge { index: 3, count: 3 }));
        assert!(matches!(Share::parse("1-3"), Err(ShareError::Syntax(_))));
        assert!(matches!(Share::parse("a/3"), Err(ShareError::Syntax(_))));
        assert!(ShareError::IndexTooLarge { index: 3, count: 3 }.to_string().contains("0..=2"));
    }

    #[test]
    fn a_share_counts_its_own_arrivals_per_second() {
        let curve = LoadShape::Constant { rate: 100.0 }.curve(Duration::from_secs(4));
        let s = Schedule::for_share(curve, Share::new(1, 3).unwrap());
        assert_eq!((s.whole_total(), s.total()), (400, 133));
        let per_second: f64 =
            (0..4).map(|t| s.intended_between(Duration::from_secs(t), Duration::from_secs(t + 1))).sum();
        assert_eq!(per_second, 133.0);
        assert_eq!(claim_all(&s).len(), 133);
        assert_eq!(s.claimed(), 133);
    }

    proptest! {
        /// N shares of any curve: disjoint, every ticket the shared one's, their union the
        /// single schedule ticket for ticket, and their per-second intended counts add up to
        /// the single schedule's arrivals in that second.
        #[test]
        fn shares_partition_any_curve_exactly(
            rates in proptest::collection::vec(0.0f64..600.0, 2..6),
            seconds in 5u64..30,
            count in 1u64..9,
        ) {
            let n = rates.len();
            let end = seconds as f64;
            let points: Vec<[f64; 2]> =
                rates.iter().enumerate().map(|(i, &r)| [end * i as f64 / (n - 1) as f64, r]).collect();
            let curve = LoadShape::Points { points }.curve(Duration::from_secs(seconds));
            let single = claim_all(&Schedule::new(curve.clone()));
            let mut union = Vec::new();
            let mut per_second = vec![0.0; seconds as usize + 1];
            for index in 0..count {
                let share = Schedule::for_share(curve.clone(), Share::new(index, count).unwrap());
                let tickets = claim_all(&share);
                prop_assert_eq!(tickets.len() as u64, share.total());
                prop_assert!(tickets.iter().all(|(k, _)| k % count == index));
                for (t, slot) in per_second.iter_mut().enumerate() {
                    let from = Duration::from_secs(t as u64);
                    *slot += share.intended_between(from, from + Duration::from_secs(1));
                }
                union.extend(tickets);
            }
            union.sort();
            prop_assert_eq!(&union, &single);
            let mut single_per_second = vec![0.0; seconds as usize + 1];
            for (_, t) in &single {
                single_per_second[t.as_secs() as usize] += 1.0;
            }
            // Shares count their arrivals (equal but where an intended time sits within float
            // error of a second boundary); the whole schedule states the curve's fractional count.
            for (a, b) in per_second.iter().zip(&single_per_second) {
                prop_assert!((a - b).abs() <= 1.0 + 1e-9, "{per_second:?} vs {single_per_second:?}");
            }
            if count > 1 {
                prop_assert_eq!(per_second.iter().sum::<f64>(), single.len() as f64);
            }
        }

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
