//! The knee: the second from which achieved throughput stops following the offered rate while
//! latency rises (or errors start). Judged over 3-second windows and required to persist, so a
//! single noisy second is not a knee.

use super::stats::median;
use loadgen_model::{summary::Summary, timeline::Knee};

/// The run's own per-second figures, as the analysis needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSeries {
    pub t: Vec<u64>,
    pub offered: Vec<f64>,
    pub achieved: Vec<f64>,
    pub p99_ms: Vec<f64>,
    pub errors: Vec<f64>,
}

impl RunSeries {
    pub fn from_summary(summary: &Summary) -> Self {
        let mut r = Self::default();
        for s in &summary.series {
            r.t.push(s.t);
            r.offered.push(s.intended);
            r.achieved.push(s.completed.saturating_sub(s.errors) as f64);
            r.p99_ms.push(s.latency_us.p99 as f64 / 1000.0);
            r.errors.push(s.errors as f64);
        }
        r
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

const WINDOW: usize = 3;
/// Achieved below this share of offered = not keeping up.
const KEEP_UP: f64 = 0.9;
/// p99 above this multiple of the early baseline (and 5 ms more) = latency has risen.
const LATENCY_RISE: f64 = 3.0;
const ERROR_SHARE: f64 = 0.05;

/// Latency baseline: median p99 of the first quarter of the run (at least 3 s).
pub fn baseline_p99_ms(r: &RunSeries) -> f64 {
    let n = (r.len() / 4).max(WINDOW).min(r.len());
    median(&r.p99_ms[..n])
}

/// Whether the window starting at `i` is past the knee.
fn strained(r: &RunSeries, i: usize, baseline: f64) -> bool {
    let end = (i + WINDOW).min(r.len());
    let offered: f64 = r.offered[i..end].iter().sum();
    let achieved: f64 = r.achieved[i..end].iter().sum();
    let errors: f64 = r.errors[i..end].iter().sum();
    let p99 = median(&r.p99_ms[i..end]);
    let behind = offered > 0.0 && achieved / offered < KEEP_UP;
    let slow = p99 > baseline * LATENCY_RISE && p99 > baseline + 5.0;
    let failing = offered > 0.0 && errors / offered > ERROR_SHARE;
    (behind && slow) || failing || (slow && behind_or_flat(r, i, end))
}

/// Throughput no longer rising with the offered rate: achieved flat or falling while offered
/// grows — the other half of "latency rises while throughput flattens".
fn behind_or_flat(r: &RunSeries, start: usize, end: usize) -> bool {
    if start == 0 {
        return r.offered[..end].iter().sum::<f64>() > r.achieved[..end].iter().sum::<f64>() * 1.02;
    }
    let prev = start.saturating_sub(WINDOW);
    let offered_growth = r.offered[start..end].iter().sum::<f64>() - r.offered[prev..start].iter().sum::<f64>();
    let achieved_growth = r.achieved[start..end].iter().sum::<f64>() - r.achieved[prev..start].iter().sum::<f64>();
    achieved_growth < offered_growth * 0.5
        || r.offered[start..end].iter().sum::<f64>() > r.achieved[start..end].iter().sum::<f64>() * 1.02
}

/// The first window past the knee that stays strained in at least half of the windows after.
pub fn find_knee(r: &RunSeries) -> Option<Knee> {
    if r.len() < WINDOW * 2 {
        return None;
    }
    let baseline = baseline_p99_ms(r).max(0.1);
    let flags: Vec<bool> = (0..=r.len() - WINDOW).map(|i| strained(r, i, baseline)).collect();
    let at = (0..flags.len()).find(|&i| {
        let rest = &flags[i..];
        flags[i] && rest.iter().filter(|&&f| f).count() * 2 >= rest.len()
    })?;
    let end = at + WINDOW;
    Some(Knee {
        t: r.t[at],
        offered_rate: r.offered[at..end].iter().sum::<f64>() / WINDOW as f64,
        achieved_rate: r.achieved[at..end].iter().sum::<f64>() / WINDOW as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ramp from 100 to 100+10·n req/s against a server that tops out at `cap`.
    pub fn ramp_against(cap: f64, n: usize) -> RunSeries {
        let mut r = RunSeries::default();
        for i in 0..n {
            let offered = 100.0 + 10.0 * i as f64;
            let achieved = offered.min(cap);
            r.t.push(i as u64);
            r.offered.push(offered);
            r.achieved.push(achieved);
            // Queueing: once over capacity, latency grows with the backlog.
            let backlog: f64 = (0..=i).map(|j| (100.0 + 10.0 * j as f64 - cap).max(0.0)).sum();
            r.p99_ms.push(2.0 + backlog / cap * 1000.0);
            r.errors.push(0.0);
        }
        r
    }

    #[test]
    fn knee_where_the_ramp_meets_capacity() {
        let r = ramp_against(300.0, 60);
        let knee = find_knee(&r).expect("a knee");
        // Offered passes 300 at t = 20.
        assert!((19..=23).contains(&knee.t), "knee at {}", knee.t);
        assert!(knee.achieved_rate <= 300.0 + 1e-9);
    }

    #[test]
    fn no_knee_when_capacity_is_never_reached() {
        assert_eq!(find_knee(&ramp_against(10_000.0, 60)), None);
    }

    #[test]
    fn one_slow_second_is_not_a_knee() {
        let mut r = ramp_against(10_000.0, 60);
        r.p99_ms[30] = 500.0;
        assert_eq!(find_knee(&r), None);
    }

    #[test]
    fn errors_make_a_knee() {
        let mut r = ramp_against(10_000.0, 30);
        for e in &mut r.errors[15..] {
            *e = 50.0;
        }
        // The 3-second window that first takes in the errors marks the knee.
        assert!(find_knee(&r).is_some_and(|k| (13..=15).contains(&k.t)));
    }
}
