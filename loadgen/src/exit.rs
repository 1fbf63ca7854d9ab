//! Process exit codes, documented in `--help` and the README. Codes 6–10 are the CI gate's
//! (`loadgen gate`), one per kind of failed check, so a CI job can tell them apart.

use crate::summary::Summary;

/// How a `loadgen` invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The run completed, the generator kept its schedule and every SLO held.
    Ok = 0,
    /// Unexpected internal failure.
    Failure = 1,
    /// Bad arguments, or a scenario/profile file that does not parse or validate.
    BadInput = 2,
    /// The target could not be started, reached, or preloaded.
    TargetUnreachable = 3,
    /// The run completed but an SLO (latency, error rate, lost writes) was breached.
    SloBreached = 4,
    /// The generator could not keep its schedule; the numbers are not trustworthy.
    GeneratorOverloaded = 5,
    /// Gate: a deterministic per-request figure (queries, cache, object store, jobs per
    /// request) or the verdict changed from the baseline.
    FiguresChanged = 6,
    /// Gate: interleaved A/B found a wall-clock regression (the whole confidence interval of
    /// the candidate/baseline ratio is past the threshold).
    Regression = 7,
    /// Gate: interleaved A/B was inconclusive (the interval straddles the threshold).
    Inconclusive = 8,
    /// Gate: the error-rate SLO was breached (latency SLOs keep code 4).
    ErrorRate = 9,
    /// Gate: acknowledged writes were lost or corrupted.
    LostWrites = 10,
}

impl Exit {
    /// The code a finished run ends with. An overloaded generator wins over an SLO breach:
    /// its latencies cannot be trusted either way.
    pub fn for_summary(summary: &Summary) -> Self {
        if !summary.trustworthy {
            Self::GeneratorOverloaded
        } else if !summary.slo.passed {
            Self::SloBreached
        } else {
            Self::Ok
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// Precedence when several gate checks fail: the most serious first (lost data, then
    /// errors, then changed per-request costs, then latency, then wall-clock), so the code
    /// names the worst problem. `Ok` is the weakest.
    pub fn severity(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Inconclusive => 1,
            Self::Regression => 2,
            Self::SloBreached => 3,
            Self::FiguresChanged => 4,
            Self::ErrorRate => 5,
            Self::LostWrites => 6,
            Self::GeneratorOverloaded => 7,
            Self::TargetUnreachable => 8,
            Self::BadInput => 9,
            Self::Failure => 10,
        }
    }

    /// The most severe of `exits` (`Ok` when empty).
    pub fn worst(exits: impl IntoIterator<Item = Self>) -> Self {
        exits.into_iter().max_by_key(|e| e.severity()).unwrap_or(Self::Ok)
    }
}

/// The exit-code table as printed after `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  ran fine: schedule kept, SLOs met, no lost writes
  2  bad arguments or scenario/profile file
  3  target unreachable (could not start, reach or preload it)
  4  SLO breached (latency, error rate, lost or corrupted writes)
  5  generator overloaded: it could not keep the schedule, results not trustworthy
  loadgen gate only (when several checks fail, the most serious one's code):
  4  a latency SLO (p50/p99/p99.9) breached
  6  a deterministic per-request figure or the verdict changed from the baseline
  7  wall-clock regression: the whole A/B confidence interval is past the threshold
  8  wall-clock inconclusive: the A/B interval straddles the threshold
  9  the error-rate SLO breached
  10 acknowledged writes lost or corrupted";
