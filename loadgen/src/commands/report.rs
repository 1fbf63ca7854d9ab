//! `loadgen report <run-dir>`: the run's page drawn again from its files, optionally after
//! pulling (again) its CloudWatch metrics.

use std::path::Path;

use super::{errors, runtime};
use crate::args::CloudWatchArgs;
use crate::cli::ReportArgs;
use crate::Exit;

/// `loadgen report <run-dir>`: 0 when written, 2 when the run's files are missing or
/// unreadable, 1 otherwise. With `--cloudwatch`: 2 for a bad deployment file, no region or
/// credentials, 3 when CloudWatch cannot be reached or throttles, 1 for its other errors.
pub fn report_command(args: &ReportArgs) -> Exit {
    if args.cloudwatch.cloudwatch.is_some() {
        return report_with_cloudwatch(&args.run_dir, &args.cloudwatch);
    }
    match crate::html::rebuild_report(&args.run_dir) {
        Ok(path) => {
            println!("report: {}", path.display());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("loadgen report: {e}");
            errors::for_report(&e)
        }
    }
}

/// `loadgen report <run-dir> --cloudwatch FILE`.
fn report_with_cloudwatch(dir: &Path, args: &CloudWatchArgs) -> Exit {
    let options = match crate::cloudwatch::command::options(args) {
        Ok(Some(o)) => o,
        Ok(None) => return Exit::BadInput,
        Err(e) => {
            eprintln!("loadgen report: {e}");
            return Exit::BadInput;
        }
    };
    let runtime = match runtime::plain() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen report: starting the runtime: {e}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(crate::cloudwatch::command::pull_and_print(dir, &options)) {
        Ok(outcome) => match outcome.error {
            Some(e) => errors::for_cloudwatch(&e),
            None => {
                println!("report: {}", dir.join(crate::html::INDEX_FILE).display());
                Exit::Ok
            }
        },
        Err(e) => {
            eprintln!("loadgen report: {e}");
            errors::for_cloudwatch(&e)
        }
    }
}
