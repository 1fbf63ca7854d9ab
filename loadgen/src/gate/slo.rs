//! Absolute SLO checks of one run, like k6 thresholds: latency percentiles, error rate and
//! lost writes, each failing with its own exit code; plus the generator's self-check.
//!
//! A generator that fell behind (a neighbour's build starving it of CPU) does not void a
//! pass: latency is measured from the *intended* send time, so the generator's lag can only
//! add to it — latencies within their limits despite the lag are within them. It voids a
//! latency failure, which could be the generator's own: that is exit 5, not a breach.

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
        Slo { p99: self.p99.or(slo.p99), max_error_rate: self.max_error_rate.or(slo.max_error_rate), ..slo.clone() }
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
    let latency_failed = report.checks.iter().any(|c| !c.passed && c.name.ends_with("_us"));
    let (status, detail) = match (summary.trustworthy, latency_failed) {
        (true, _) => (Status::Pass, "the generator kept its schedule: the latencies below are the target's".to_owned()),
        (false, false) => (
            Status::Info,
            format!(
                "the generator fell behind ({}); that can only inflate the latencies, which held anyway",
                summary.generator.reasons.join("; ")
            ),
        ),
        (false, true) => (
            Status::Fail,
            format!(
                "the generator could not keep its schedule ({}), so the latency breach may be its own, not the target's",
                summary.generator.reasons.join("; ")
            ),
        ),
    };
    let mut out = vec![Check {
        group: Group::Slo,
        name: "generator_kept_schedule".into(),
        status,
        observed: format!("schedule lag p99 {:.2} ms", summary.schedule_lag.lag_us.p99 as f64 / 1000.0),
        expected: format!("≤ {:.2} ms", summary.schedule_lag.limit_p99_us as f64 / 1000.0),
        detail,
        exit: Exit::GeneratorOverloaded,
    }];
    // With the generator behind, a latency breach is not attributable: exit 5 says so.
    let latency_exit = if summary.trustworthy { Exit::SloBreached } else { Exit::GeneratorOverloaded };
    out.extend(report.checks.iter().map(|c| {
        let (observed, limit) = (show(&c.name, c.observed), show(&c.name, c.limit));
        Check {
            group: Group::Slo,
            name: c.name.clone(),
            status: if c.passed { Status::Pass } else { Status::Fail },
            detail: if c.passed {
                format!("{observed} within the limit {limit}")
            } else {
                format!("{observed} is over the limit {limit}")
            },
            observed,
            expected: format!("≤ {limit}"),
            exit: if c.name.ends_with("_us") { latency_exit } else { exit_for(&c.name) },
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
        let failed: Vec<(&str, Exit)> =
            c.iter().filter(|c| c.status == Status::Fail).map(|c| (c.name.as_str(), c.exit)).collect();
        assert_eq!(
            failed,
            [
                ("p99_us", Exit::SloBreached),
                ("error_rate", Exit::ErrorRate),
                ("lost_or_corrupted_writes", Exit::LostWrites)
            ]
        );
        assert!(c.iter().any(|c| c.detail == "5.00 ms is over the limit 4.00 ms"), "{c:?}");

        s.verification.lost = 0;
        s.operations.all.errors = 0;
        let relaxed = SloOverrides { p99: Some(Duration::from_millis(10)), max_error_rate: None }.apply(&slo);
        assert!(checks(&s, &relaxed).iter().all(|c| c.status == Status::Pass));
        // A generator that fell behind does not void latencies that held anyway...
        s.trustworthy = false;
        let behind = checks(&s, &relaxed);
        assert_eq!(behind[0].status, Status::Info);
        assert!(behind.iter().all(|c| c.status != Status::Fail));
        // ...but a latency breach with the generator behind is not the target's to own.
        let strict = checks(&s, &slo);
        assert_eq!(strict[0].status, Status::Fail);
        let exits: Vec<Exit> = strict.iter().filter(|c| c.status == Status::Fail).map(|c| c.exit).collect();
        assert_eq!(exits, [Exit::GeneratorOverloaded, Exit::GeneratorOverloaded]);
    }
}
