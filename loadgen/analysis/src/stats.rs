//! Small robust statistics the analysis is built from: percentiles, medians, slopes.

/// The `q`-quantile (0..=1) of `values` by nearest rank; 0 when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Least-squares slope of `ys` against their index (per second); 0 with fewer than 2 points.
pub fn slope(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    if ys.len() < 2 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = mean(ys);
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f64 - mx;
        num += dx * (y - my);
        den += dx * dx;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    proptest! {
        #[test]
        fn slope_recovers_a_line(a in -100.0f64..100.0, b in -10.0f64..10.0, n in 2usize..200) {
            let ys: Vec<f64> = (0..n).map(|i| a + b * i as f64).collect();
            prop_assert!((slope(&ys) - b).abs() < 1e-6);
        }

        #[test]
        fn percentile_is_within_range(v in proptest::collection::vec(-1e6f64..1e6, 1..100), q in 0.0f64..1.0) {
            let p = percentile(&v, q);
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(p >= lo && p <= hi);
        }
    }
}
