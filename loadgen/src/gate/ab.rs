//! Interleaved A/B of a wall-clock figure: short runs of baseline and candidate alternate
//! (AB, BA, AB, … so a drift of the machine during the gate hits both sides alike), each pair
//! gives a ratio candidate/baseline, and the median ratio's bootstrap interval is held to the
//! threshold (see [`super::stats`]).
//!
//! The default figure is the service's CPU time per request, which a neighbour's build
//! slows far less than it slows throughput or latency; p99 at the fixed rate is the other
//! choice, for a URL whose CPU cannot be read.

use serde::Serialize;

use super::runner::{measured_run, Measured, RunPlan};
use super::side::Side;
use super::stats::{self, Decision, Interval};
use super::GateError;

/// The wall-clock figure compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// The service's CPU time per API request (from /proc; not for a plain URL).
    CpuPerRequest,
    /// The p99 latency of the run at the scenario's fixed rate.
    P99,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::CpuPerRequest => "cpu-per-request",
            Self::P99 => "p99",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::CpuPerRequest => "µs CPU/request",
            Self::P99 => "µs",
        }
    }

    /// The figure of one run (higher is worse).
    pub fn of(self, run: &Measured) -> Result<f64, GateError> {
        let value = match self {
            Self::CpuPerRequest => run.cpu_us_per_request().ok_or_else(|| {
                GateError::BadInput(
                    "the service's CPU cannot be read for this side (a plain URL?); use --metric p99".into(),
                )
            })?,
            Self::P99 => run.summary.operations.all.latency_us.p99 as f64,
        };
        if value > 0.0 && value.is_finite() {
            Ok(value)
        } else {
            Err(GateError::Measurement(format!("{} came out as {value} (no requests measured?)", self.name())))
        }
    }
}

/// One pair of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// `AB` when the baseline ran first.
    pub order: String,
    pub baseline: f64,
    pub candidate: f64,
    pub ratio: f64,
}

/// Settings of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct AbSettings {
    pub metric: Metric,
    pub pairs: usize,
    pub threshold: f64,
    /// Where the threshold came from, for the report (a calibration file, or the default).
    pub threshold_source: String,
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// The comparison's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbOutcome {
    pub metric: Metric,
    pub pairs: Vec<Pair>,
    pub interval: Interval,
    pub threshold: f64,
    pub threshold_source: String,
    pub decision: Decision,
}

/// The interval and decision for measured pairs (pure).
pub fn summarise(pairs: Vec<Pair>, settings: &AbSettings) -> Result<AbOutcome, GateError> {
    let ratios: Vec<f64> = pairs.iter().map(|p| p.ratio).collect();
    let interval = stats::bootstrap_median(&ratios, settings.resamples, settings.confidence, settings.seed)?;
    Ok(AbOutcome {
        metric: settings.metric,
        decision: stats::decide(&interval, settings.threshold),
        pairs,
        interval,
        threshold: settings.threshold,
        threshold_source: settings.threshold_source.clone(),
    })
}

/// Runs `pairs` interleaved pairs and returns them. `plan.run_id` is used as a prefix.
pub async fn run_pairs(
    baseline: &Side,
    candidate: &Side,
    metric: Metric,
    pairs: usize,
    plan: &RunPlan,
) -> Result<Vec<Pair>, GateError> {
    let mut out = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let baseline_first = i % 2 == 0;
        let one = |label: &str| RunPlan { run_id: format!("{}-{}-{label}", plan.run_id, i + 1), ..plan.clone() };
        let (b, c) = if baseline_first {
            let b = measured_run(baseline, &one("a")).await?;
            (b, measured_run(candidate, &one("b")).await?)
        } else {
            let c = measured_run(candidate, &one("b")).await?;
            (measured_run(baseline, &one("a")).await?, c)
        };
        let (b, c) = (metric.of(&b)?, metric.of(&c)?);
        let pair = Pair {
            order: if baseline_first { "AB" } else { "BA" }.into(),
            baseline: round(b),
            candidate: round(c),
            ratio: c / b,
        };
        tracing::info!(pair = i + 1, order = %pair.order, baseline = b, candidate = c, ratio = pair.ratio, "A/B pair");
        eprintln!(
            "  pair {:>2} {}: baseline {:>9.1}  candidate {:>9.1}  ratio {:.3}",
            i + 1,
            pair.order,
            b,
            c,
            pair.ratio
        );
        out.push(pair);
    }
    Ok(out)
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AbSettings {
        AbSettings {
            metric: Metric::CpuPerRequest,
            pairs: 6,
            threshold: 1.2,
            threshold_source: "test".into(),
            confidence: 0.95,
            resamples: 2000,
            seed: 1,
        }
    }

    fn pairs(ratios: &[f64]) -> Vec<Pair> {
        ratios.iter().map(|&r| Pair { order: "AB".into(), baseline: 100.0, candidate: 100.0 * r, ratio: r }).collect()
    }

    #[test]
    fn doubled_cpu_is_a_regression_and_noise_is_not() {
        let same = summarise(pairs(&[0.97, 1.04, 1.01, 0.95, 1.08, 1.00]), &settings()).unwrap();
        assert_eq!(same.decision, Decision::Pass, "{same:?}");
        let doubled = summarise(pairs(&[1.9, 2.1, 1.95, 2.05, 1.7, 2.2]), &settings()).unwrap();
        assert_eq!(doubled.decision, Decision::Regression, "{doubled:?}");
        let unsure = summarise(pairs(&[1.0, 1.3, 1.1, 1.35, 1.05, 1.4]), &settings()).unwrap();
        assert_eq!(unsure.decision, Decision::Inconclusive, "{unsure:?}");
    }
}
