//! Load shapes: the arrival rate over time, as named curves or piecewise-linear points,
//! turned into a [`RateCurve`] (points of seconds → requests per second).
//!
//! `peak-us` compresses a U.S. business day (Eastern time, 24 h) into the run's duration:
//! quiet night, a ramp from 8am ET, the midday peak, a shoulder while the West Coast still
//! works, and a fall after 6pm PT (9pm ET). Its shape is `night + (peak − night) · g(h)` with
//! a fixed day profile `g` in 0..=1; `night` is solved so that peak / average equals the
//! scenario's `peak_to_average`.

use std::time::Duration;

use serde::Deserialize;

/// Arrival rate over the measured part of a run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "curve", rename_all = "kebab-case")]
pub enum LoadShape {
    /// The same rate throughout.
    Constant { rate: f64 },
    /// Linear from `from` to `to` over the run.
    Ramp { from: f64, to: f64 },
    /// `base_rate`, multiplied by `factor` from `at` for `length` (a viral spike).
    Step {
        base_rate: f64,
        #[serde(default = "default_factor")]
        factor: f64,
        #[serde(with = "humantime_serde")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        length: Duration,
    },
    /// A U.S. business day compressed into the run.
    PeakUs {
        peak_rate: f64,
        #[serde(default = "default_peak_to_average")]
        peak_to_average: f64,
    },
    /// Piecewise-linear `[seconds, rate]` points; equal times make a vertical step; the
    /// edge rates hold before the first and after the last point.
    Points { points: Vec<[f64; 2]> },
}

fn default_factor() -> f64 {
    10.0
}
fn default_peak_to_average() -> f64 {
    2.0
}

impl LoadShape {
    /// `peak_to_average` of a `peak-us` curve that does not give one.
    pub fn default_peak_to_average() -> f64 {
        default_peak_to_average()
    }
}

/// The day profile of `peak-us`: (hour of the day, Eastern time; share of the peak).
pub const US_DAY_PROFILE: &[(f64, f64)] = &[
    (0.0, 0.0),
    (6.0, 0.0),
    (8.0, 0.05),
    (9.0, 0.45),
    (10.0, 0.75),
    (11.0, 0.9),
    (12.0, 1.0),
    (14.0, 1.0),
    (15.0, 0.95),
    (17.0, 0.85),
    (18.0, 0.7),
    (21.0, 0.6),
    (22.0, 0.3),
    (23.0, 0.1),
    (24.0, 0.0),
];

/// Mean of [`US_DAY_PROFILE`] over the day (trapezoid rule, exact for the linear profile).
pub fn us_day_profile_mean() -> f64 {
    let area: f64 = US_DAY_PROFILE.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum();
    area / 24.0
}

impl LoadShape {
    /// Checks the shape against the run's duration; returns (field, reason).
    pub fn validate(&self, duration: Duration) -> Result<(), (&'static str, String)> {
        let rate_ok = |field: &'static str, r: f64| {
            if r.is_finite() && r >= 0.0 {
                Ok(())
            } else {
                Err((field, format!("must be a finite rate >= 0, got {r}")))
            }
        };
        match self {
            Self::Constant { rate } => rate_ok("load.rate", *rate),
            Self::Ramp { from, to } => rate_ok("load.from", *from).and(rate_ok("load.to", *to)),
            Self::Step { base_rate, factor, at, length } => {
                rate_ok("load.base_rate", *base_rate)?;
                rate_ok("load.factor", *factor)?;
                if *at + *length > duration {
                    return Err((
                        "load.at",
                        format!("spike ends at {:?}, after the run's {duration:?}", *at + *length),
                    ));
                }
                Ok(())
            }
            Self::PeakUs { peak_rate, peak_to_average } => {
                rate_ok("load.peak_rate", *peak_rate)?;
                let max = 1.0 / us_day_profile_mean();
                if !(1.0..=max).contains(peak_to_average) {
                    return Err((
                        "load.peak_to_average",
                        format!("must be within 1..={max:.2}, got {peak_to_average}"),
                    ));
                }
                Ok(())
            }
            Self::Points { points } => {
                if points.is_empty() {
                    return Err(("load.points", "needs at least one [seconds, rate] point".into()));
                }
                for w in points.windows(2) {
                    if w[1][0] < w[0][0] {
                        return Err((
                            "load.points",
                            format!("times must not decrease ({} after {})", w[1][0], w[0][0]),
                        ));
                    }
                }
                for p in points {
                    rate_ok("load.points", p[1])?;
                    if !(p[0].is_finite() && p[0] >= 0.0) {
                        return Err(("load.points", format!("time must be >= 0 seconds, got {}", p[0])));
                    }
                }
                if points.iter().all(|p| p[1] == 0.0) {
                    return Err(("load.points", "every rate is 0".into()));
                }
                Ok(())
            }
        }
    }

    /// The curve over `[0, duration]` seconds.
    pub fn curve(&self, duration: Duration) -> RateCurve {
        let end = duration.as_secs_f64();
        let points = match self {
            Self::Constant { rate } => vec![(0.0, *rate), (end, *rate)],
            Self::Ramp { from, to } => vec![(0.0, *from), (end, *to)],
            Self::Step { base_rate, factor, at, length } => {
                let (a, b) = (at.as_secs_f64(), (*at + *length).as_secs_f64());
                let high = base_rate * factor;
                vec![(0.0, *base_rate), (a, *base_rate), (a, high), (b, high), (b, *base_rate), (end, *base_rate)]
            }
            Self::PeakUs { peak_rate, peak_to_average } => {
                let mean = us_day_profile_mean();
                let night = ((peak_rate / peak_to_average) - peak_rate * mean) / (1.0 - mean);
                let night = night.max(0.0);
                US_DAY_PROFILE.iter().map(|&(h, g)| (h / 24.0 * end, night + (peak_rate - night) * g)).collect()
            }
            Self::Points { points } => {
                let mut v: Vec<(f64, f64)> = points.iter().map(|p| (p[0], p[1])).collect();
                if v[0].0 > 0.0 {
                    v.insert(0, (0.0, v[0].1));
                }
                let last = v[v.len() - 1];
                if last.0 < end {
                    v.push((end, last.1));
                }
                v
            }
        };
        RateCurve::new(points).clipped(end)
    }
}

/// A piecewise-linear arrival rate: (seconds, requests per second) points, times increasing.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    points: Vec<(f64, f64)>,
    /// Arrivals expected before each point: `cumulative[i] = ∫₀^{t_i} r`.
    cumulative: Vec<f64>,
}

impl RateCurve {
    /// Builds a curve; `points` must be non-empty with non-decreasing times starting at 0.
    pub fn new(points: Vec<(f64, f64)>) -> Self {
        let mut cumulative = Vec::with_capacity(points.len());
        let mut acc = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                let q = points[i - 1];
                acc += (p.0 - q.0) * (p.1 + q.1) / 2.0;
            }
            cumulative.push(acc);
        }
        Self { points, cumulative }
    }

    /// This curve cut (or extended at its last rate) to end at `end` seconds.
    pub fn clipped(self, end: f64) -> Self {
        let mut pts: Vec<(f64, f64)> = self.points.iter().copied().filter(|p| p.0 < end).collect();
        pts.push((end, self.rate_at(end)));
        Self::new(pts)
    }

    /// This curve preceded by `warmup` seconds at `rate`.
    pub fn after_warmup(&self, warmup: f64, rate: f64) -> Self {
        if warmup <= 0.0 {
            return self.clone();
        }
        let mut pts = vec![(0.0, rate), (warmup, rate)];
        pts.extend(self.points.iter().map(|&(t, r)| (t + warmup, r)));
        Self::new(pts)
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// Length in seconds.
    pub fn end(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// Highest rate anywhere on the curve.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// Mean rate over the curve.
    pub fn mean(&self) -> f64 {
        let end = self.end();
        if end > 0.0 {
            self.total() / end
        } else {
            0.0
        }
    }

    /// Expected arrivals over the whole curve.
    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The rate at `t` seconds (after the last point of a step, the later value).
    pub fn rate_at(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return self.points.first().map_or(0.0, |p| p.1);
        }
        if i == self.points.len() {
            return self.points[i - 1].1;
        }
        let (a, b) = (self.points[i - 1], self.points[i]);
        if b.0 == a.0 {
            b.1
        } else {
            a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0)
        }
    }

    /// Expected arrivals in `[0, t]`: the integral of the rate.
    pub fn cumulative_at(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.end());
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return 0.0;
        }
        let a = self.points[i - 1];
        let x = t - a.0;
        self.cumulative[i - 1] + x * (a.1 + self.rate_at(t)) / 2.0
    }

    /// The time `t` at which `cumulative_at(t) == target`, or `None` past the curve's end.
    pub fn time_of(&self, target: f64) -> Option<f64> {
        if target > self.total() || target < 0.0 {
            return None;
        }
        // First point whose cumulative count reaches the target; the segment ends there.
        let j = self.cumulative.partition_point(|&c| c < target);
        if j == 0 {
            return Some(0.0);
        }
        let (a, b) = (self.points[j - 1], self.points[j]);
        let delta = target - self.cumulative[j - 1];
        let slope = if b.0 > a.0 { (b.1 - a.1) / (b.0 - a.0) } else { 0.0 };
        // Solve a.1·x + slope·x²/2 = delta in a cancellation-free form.
        let disc = (a.1 * a.1 + 2.0 * slope * delta).max(0.0);
        let denom = a.1 + disc.sqrt();
        let x = if denom > 0.0 { 2.0 * delta / denom } else { 0.0 };
        Some((a.0 + x).min(b.0))
    }
}
