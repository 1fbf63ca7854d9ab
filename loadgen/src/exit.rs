//! Process exit codes, documented in `--help` and the README.

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
}

/// The exit-code table as printed after `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  ran fine: schedule kept, SLOs met, no lost writes
  2  bad arguments or scenario/profile file
  3  target unreachable (could not start, reach or preload it)
  4  SLO breached (latency, error rate, lost or corrupted writes)
  5  generator overloaded: it could not keep the schedule, results not trustworthy";
