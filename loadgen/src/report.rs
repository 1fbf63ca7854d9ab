//! The run's summary as the terminal prints it, and `summary.json` written into the run
//! directory.

use std::path::Path;

use crate::summary::Summary;
pub use loadgen_generator::summarize::*;
pub use loadgen_model::run_dir::{GOOSE_REPORT_FILE, INTERVAL_LOG_FILE, SUMMARY_FILE};
pub use loadgen_report::terminal::terminal_text;

/// Writes `summary.json` whole or not at all (a temporary file renamed into place): it is the
/// last file of a run, and what a merge step waiting on a shared volume looks for.
pub fn write_summary(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    loadgen_model::RunDir::new(dir).write_summary(summary).map_err(std::io::Error::other)
}
