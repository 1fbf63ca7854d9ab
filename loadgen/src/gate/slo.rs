//! Absolute SLO checks of one run, like k6 thresholds: latency percentiles, error rate and
//! lost writes, each failing with its own exit code; plus the generator's self-check, since
//! a run that could not keep its schedule cannot vouch for any of them.

use std::time::Duration;

use crate::exit::Exit;
use crate::scenario::Slo;
use crate::summary::Summary;

use super::check::{Check, Group, Status};

/// Limits given on the gate's command line; each replaces the scenario's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloOverrides {
    pub p99: Option<Duration>,
    pub max_error_rate: Option<f64>,
}

impl SloOverrides {
    /// The scenario's SLO with these overrides applied.
    pub fn apply(&self, slo: &Slo) -> Slo {
        Slo {
            p99: self.p99.or(slo.p99),
            max_error_rate: self.max_error_rate.or(slo.max_error_rate),
            ..slo.clone()
        }
    }
}

fn exit_for(name: &str) -> Exit {
    match name {
        "error_rate" => Exit::ErrorRate,
        "lost_or_corrupted_writes" => Exit::LostWrites,
        _ => Exit::SloBreached,
    }
}

fn show(name: &str, v: f64) -> String {
    if name.ends_with("_us") {
        format!("{:.2} ms", v / 1000.0)
    } else if name == "error_rate" {
        format!("{:.3}%", v * 100.0)
    } else {
        format!("{v}")
    }
}

/// The checks of `summary` against `slo` (lost or corrupted writes must always be zero).
pub fn checks(summary: &Summary, slo: &Slo) -> Vec<Check> {
    let report = crate::report::slo_checks(slo, &summary.operations.all, &summary.verification);
    let mut out = vec![Check {
        group: Group::Slo,
        name: "generator_kept_schedule".into(),
        status: if summary.trustworthy { Status::Pass } else { Status::Fail },
        observed: format!("schedule lag p99 {:.2} ms", summary.schedule_lag.lag_us.p99 as f64 / 1000.0),
        expected: format!("≤ {:.2} ms", summary.schedule_lag.limit_p99_us as f64 / 1000.0),
        detail: if summary.trustworthy {
            "the generator kept its schedule: the latencies below are the target's".into()
        } else {
            format!("the generator could not keep its schedule ({}); no SLO can be judged", summary.generator.reasons.join("; "))
        },
        exit: Exit::GeneratorOverloaded,
    }];
    out.extend(report.checks.iter().map(|c| {
        let (observed, limit) = (show(&c.name, c.observed), show(&c.name, c.limit));
        Check {
            group: Group::Slo,
            name: c.name.clone(),
            status: if c.passed { Status::Pass } else { Status::Fail },
            detail: if c.passed { format!("{observed} within the limit {limit}") } else { format!("{observed} is over the limit {limit}") },
            observed,
            expected: format!("≤ {limit}"),
            exit: exit_for(&c.name),
        }
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-smoke.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn each_slo_fails_with_its_own_code() {
        let mut s = summary();
        s.trustworthy = true;
        s.operations.all.latency_us.p99 = 5_000;
        s.operations.all.completed = 1000;
        s.operations.all.errors = 2;
        s.verification.lost = 1;
        let slo = Slo { p99: Some(Duration::from_millis(4)), max_error_rate: Some(0.001), ..Slo::default() };
        let c = checks(&s, &slo);
        let failed: Vec<(&str, Exit)> = c.iter().filter(|c| c.status == Status::Fail).map(|c| (c.name.as_str(), c.exit)).collect();
        assert_eq!(failed, [("p99_us", Exit::SloBreached), ("error_rate", Exit::ErrorRate), ("lost_or_corrupted_writes", Exit::LostWrites)]);
        assert!(c.iter().any(|c| c.detail == "5.00 ms is over the limit 4.00 ms"), "{c:?}");

        s.verification.lost = 0;
        s.operations.all.errors = 0;
        let relaxed = SloOverrides { p99: Some(Duration::from_millis(10)), max_error_rate: None }.apply(&slo);
        assert!(checks(&s, &relaxed).iter().all(|c| c.status == Status::Pass));
        s.trustworthy = false;
        let untrusted = checks(&s, &relaxed);
        assert_eq!(untrusted[0].status, Status::Fail);
        assert_eq!(untrusted[0].exit, Exit::GeneratorOverloaded);
    }
}
