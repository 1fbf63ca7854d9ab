//! The statistics of the interleaved A/B gate: the median of paired ratios, its seeded
//! percentile-bootstrap confidence interval, and the decision rule. Pure and synchronous.
//!
//! Ratios are `candidate / baseline` of a figure where higher is worse (CPU per request,
//! p99). They are handled as logarithms: a ratio of 2 and one of 1/2 are the same distance
//! from 1, and the median commutes with the logarithm (with an even count the two middle
//! ratios are combined by their geometric mean, which is what averaging the logarithms means).
//!
//! Why a bootstrap of the median: on these shared machines a pair now and then lands on a
//! neighbour's build and gives an outlying ratio; the median ignores it where a mean would
//! move, and the bootstrap needs no assumption about the ratios' distribution.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Median of the paired ratios.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// Two-sided confidence level, e.g. 0.95.
    pub confidence: f64,
}

/// What the gate concludes from an interval and a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The whole interval is at or below the threshold.
    Pass,
    /// The whole interval is above the threshold: a regression, beyond the machine's noise.
    Regression,
    /// The interval straddles the threshold: these runs cannot tell.
    Inconclusive,
}

/// Why the statistics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("no ratios to summarise")]
    Empty,
    #[error("ratio {0} is not a positive finite number")]
    BadRatio(f64),
    #[error("confidence {0} must be strictly between 0 and 1")]
    BadConfidence(f64),
}

/// The decision rule: fail only when the whole interval is past the threshold.
pub fn decide(interval: &Interval, threshold: f64) -> Decision {
    if interval.low > threshold {
        Decision::Regression
    } else if interval.high <= threshold {
        Decision::Pass
    } else {
        Decision::Inconclusive
    }
}

/// Quantile `q` (0..=1) of sorted values, linearly interpolated between order statistics
/// (Hyndman–Fan type 7, the default of R and NumPy). `sorted` must be non-empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let below = h.floor() as usize;
    let above = (below + 1).min(n - 1);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

/// Median of `values` (any order); the mean of the two middle values for an even count.
/// Reorders `values`. `values` must be non-empty.
fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    // The lower middle value is the largest of the left part after the selection.
    let lower = values[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

fn logs(ratios: &[f64]) -> Result<Vec<f64>, StatsError> {
    if ratios.is_empty() {
        return Err(StatsError::Empty);
    }
    ratios.iter().map(|&r| if r.is_finite() && r > 0.0 { Ok(r.ln()) } else { Err(StatsError::BadRatio(r)) }).collect()
}

/// Median ratio (geometric mean of the two middle ratios for an even count).
pub fn median_ratio(ratios: &[f64]) -> Result<f64, StatsError> {
    let mut l = logs(ratios)?;
    Ok(median_in_place(&mut l).exp())
}

/// The median of `ratios` with a percentile-bootstrap confidence interval: `resamples`
/// resamples with replacement (drawn from a generator seeded with `seed`, so the same
/// ratios always give the same interval), the median of each, and the
/// `(1 − confidence) / 2` and `(1 + confidence) / 2` quantiles of those medians.
pub fn bootstrap_median(ratios: &[f64], resamples: usize, confidence: f64, seed: u64) -> Result<Interval, StatsError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::BadConfidence(confidence));
    }
    let l = logs(ratios)?;
    let estimate = median_in_place(&mut l.clone()).exp();
    let medians = bootstrap_log_medians(&l, resamples.max(1), seed);
    let tail = (1.0 - confidence) / 2.0;
    Ok(Interval {
        estimate,
        low: quantile_sorted(&medians, tail).exp(),
        high: quantile_sorted(&medians, 1.0 - tail).exp(),
        confidence,
    })
}

/// Sorted medians of `resamples` bootstrap resamples of `logs` (non-empty).
fn bootstrap_log_medians(logs: &[f64], resamples: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = logs.len();
    let mut sample = vec![0.0; n];
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in sample.iter_mut() {
                *slot = logs[rng.random_range(0..n)];
            }
            median_in_place(&mut sample)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    medians
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_distr::{Distribution, LogNormal};

    fn interval(low: f64, high: f64) -> Interval {
        Interval { estimate: (low + high) / 2.0, low, high, confidence: 0.95 }
    }

    #[test]
    fn decision_rule_fails_only_when_the_whole_interval_is_past_the_threshold() {
        assert_eq!(decide(&interval(1.21, 1.5), 1.2), Decision::Regression);
        assert_eq!(decide(&interval(1.2, 1.5), 1.2), Decision::Inconclusive);
        assert_eq!(decide(&interval(1.1, 1.25), 1.2), Decision::Inconclusive);
        assert_eq!(decide(&interval(0.9, 1.2), 1.2), Decision::Pass);
        assert_eq!(decide(&interval(0.8, 0.9), 1.2), Decision::Pass);
    }

    #[test]
    fn medians_and_quantiles() {
        assert_eq!(median_ratio(&[1.0, 4.0, 2.0]).unwrap(), 2.0);
        // Even count: geometric mean of the middle two.
        assert!((median_ratio(&[1.0, 4.0]).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile_sorted(&[1.0, 2.0], 0.25), 1.25);
        assert_eq!(quantile_sorted(&[7.0], 0.9), 7.0);
        assert_eq!(median_ratio(&[]), Err(StatsError::Empty));
        assert_eq!(median_ratio(&[1.0, 0.0]), Err(StatsError::BadRatio(0.0)));
        assert_eq!(median_ratio(&[f64::NAN]).unwrap_err().to_string(), "ratio NaN is not a positive finite number");
        assert!(bootstrap_median(&[1.0], 10, 1.0, 1).is_err());
    }

    #[test]
    fn the_interval_is_reproducible_and_brackets_the_median() {
        let r = [0.97, 1.02, 1.05, 0.99, 1.01, 1.10, 0.95, 1.00];
        let a = bootstrap_median(&r, 2000, 0.95, 7).unwrap();
        assert_eq!(a, bootstrap_median(&r, 2000, 0.95, 7).unwrap());
        assert!(a.low <= a.estimate && a.estimate <= a.high, "{a:?}");
        assert!(a.low >= 0.95 && a.high <= 1.10, "{a:?}");
        // A single ratio: nothing to resample, the interval is that ratio.
        let one = bootstrap_median(&[1.3], 100, 0.95, 1).unwrap();
        assert!((one.low - 1.3).abs() < 1e-12 && (one.high - 1.3).abs() < 1e-12);
    }

    /// Coverage on synthetic data: lognormal ratios with a known median; the 95% interval
    /// must contain it in about 95% of seeded trials. The percentile bootstrap of a median is
    /// known to under-cover slightly at small n, hence the tolerance (and n = 25).
    #[test]
    fn the_95_percent_interval_covers_a_known_median_about_95_percent_of_the_time() {
        let trials = 300;
        for (true_median, sigma) in [(1.0_f64, 0.1_f64), (1.7, 0.3)] {
            let dist = LogNormal::new(true_median.ln(), sigma).unwrap();
            let mut rng = StdRng::seed_from_u64(42 + (sigma * 100.0) as u64);
            let covered = (0..trials)
                .filter(|&t| {
                    let ratios: Vec<f64> = (0..25).map(|_| dist.sample(&mut rng)).collect();
                    let ci = bootstrap_median(&ratios, 1000, 0.95, t as u64).unwrap();
                    ci.low <= true_median && true_median <= ci.high
                })
                .count();
            let share = covered as f64 / trials as f64;
            eprintln!("95% bootstrap interval: coverage {share:.3} over {trials} trials (median {true_median}, sigma {sigma})");
            assert!((0.90..=0.99).contains(&share), "coverage {share} for median {true_median}, sigma {sigma}");
        }
    }

    fn ratios() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(0.2f64..5.0, 1..30)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_interval_contains_the_estimate_and_stays_within_the_data(r in ratios(), seed in any::<u64>()) {
            let ci = bootstrap_median(&r, 300, 0.9, seed).unwrap();
            let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(ci.low <= ci.high);
            prop_assert!(ci.low >= lo * (1.0 - 1e-12) && ci.high <= hi * (1.0 + 1e-12));
            let est = median_ratio(&r).unwrap();
            prop_assert!((ci.estimate - est).abs() <= 1e-12 * est);
        }

        /// Scaling every ratio by c scales the median and both bounds by c (same seed).
        #[test]
        fn the_interval_is_equivariant_under_scaling(r in ratios(), c in 0.5f64..3.0, seed in any::<u64>()) {
            let a = bootstrap_median(&r, 300, 0.95, seed).unwrap();
            let scaled: Vec<f64> = r.iter().map(|x| x * c).collect();
            let b = bootstrap_median(&scaled, 300, 0.95, seed).unwrap();
            for (x, y) in [(a.estimate, b.estimate), (a.low, b.low), (a.high, b.high)] {
                prop_assert!((x * c - y).abs() <= 1e-9 * y, "{x} * {c} vs {y}");
            }
        }

        /// Monotonicity: making any ratios worse never lowers the bounds (same seed), so a
        /// worse candidate can only move the decision from pass towards regression.
        #[test]
        fn worse_ratios_never_lower_the_interval(
            r in ratios(), bumps in prop::collection::vec(1.0f64..2.0, 30), seed in any::<u64>(), threshold in 0.8f64..1.5,
        ) {
            let worse: Vec<f64> = r.iter().zip(&bumps).map(|(x, b)| x * b).collect();
            let a = bootstrap_median(&r, 300, 0.95, seed).unwrap();
            let b = bootstrap_median(&worse, 300, 0.95, seed).unwrap();
            prop_assert!(b.low >= a.low * (1.0 - 1e-12) && b.high >= a.high * (1.0 - 1e-12));
            let rank = |d| match d { Decision::Pass => 0, Decision::Inconclusive => 1, Decision::Regression => 2 };
            prop_assert!(rank(decide(&b, threshold)) >= rank(decide(&a, threshold)));
        }

        /// The rule itself: regression exactly when low > threshold, pass exactly when
        /// high ≤ threshold.
        #[test]
        fn the_decision_matches_the_interval(low in 0.5f64..2.0, width in 0.0f64..1.0, threshold in 0.5f64..2.5) {
            let d = decide(&interval(low, low + width), threshold);
            prop_assert_eq!(d == Decision::Regression, low > threshold);
            prop_assert_eq!(d == Decision::Pass, low + width <= threshold);
        }
    }
}
