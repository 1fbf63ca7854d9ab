//! Every library error a command can end in, mapped to the exit code it means (the codes
//! and their meaning are `crate::exit`'s; `loadgen --help` lists them).

use crate::cloudwatch::CloudWatchError;
use crate::gate::GateError;
use crate::html::HtmlError;
use crate::run::RunError;
use crate::Exit;

/// A run that could not be made: the caller's mistake (2), the target (3), or anything else.
pub fn for_run(error: &RunError) -> Exit {
    match error {
        e if e.is_bad_input() => Exit::BadInput,
        RunError::Target(_) => Exit::TargetUnreachable,
        _ => Exit::Failure,
    }
}

/// The gate's errors: its inputs (2), the target it drives (3), the rest (1).
pub fn for_gate(error: &GateError) -> Exit {
    use crate::gate::{baseline::BaselineError, calibration::CalibrationError as C};
    match error {
        GateError::BadInput(_) | GateError::Baseline(BaselineError::Read { .. } | BaselineError::Parse { .. }) => {
            Exit::BadInput
        }
        GateError::Calibration(C::Read { .. } | C::Parse { .. }) => Exit::BadInput,
        GateError::Run(RunError::Target(t)) | GateError::Target(t) if t.is_bad_input() => Exit::BadInput,
        GateError::Run(RunError::Target(_))
        | GateError::Target(_)
        | GateError::Command { .. }
        | GateError::Metrics { .. } => Exit::TargetUnreachable,
        _ => Exit::Failure,
    }
}

/// The exit code for a pull that failed.
pub fn for_cloudwatch(error: &CloudWatchError) -> Exit {
    match error {
        CloudWatchError::Deployment(_)
        | CloudWatchError::NoRegion { .. }
        | CloudWatchError::NoCredentials { .. }
        | CloudWatchError::BadCredentials { .. }
        | CloudWatchError::AccessDenied { .. }
        | CloudWatchError::RunFiles { .. }
        | CloudWatchError::Expired(_) => Exit::BadInput,
        CloudWatchError::Unreachable { .. } | CloudWatchError::Throttled { .. } => Exit::TargetUnreachable,
        CloudWatchError::Service { .. } | CloudWatchError::Write { .. } => Exit::Failure,
    }
}

/// A report that could not be drawn again: the run's files missing or unreadable (2), else 1.
pub fn for_report(error: &HtmlError) -> Exit {
    match error {
        HtmlError::Json { .. } | HtmlError::Io { action: "reading", .. } => Exit::BadInput,
        _ => Exit::Failure,
    }
}
