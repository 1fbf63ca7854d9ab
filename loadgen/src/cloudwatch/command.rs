//! The command-line side of CloudWatch: `--cloudwatch FILE` on a run (checked before the load
//! starts, pulled after it) and on `loadgen report`, with what happened printed plainly.

use std::path::Path;

use super::{pull, CloudWatchError, CloudWatchOptions, CloudWatchSource};
use crate::args::CloudWatchArgs;

/// The options of `args`, or `None` without `--cloudwatch`. A bad deployment file is an error
/// before anything runs.
pub fn options(args: &CloudWatchArgs) -> Result<Option<CloudWatchOptions>, super::DeploymentError> {
    args.cloudwatch
        .as_deref()
        .map(|file| CloudWatchOptions::load(file, args.cloudwatch_endpoint_url.clone(), args.cloudwatch_wait))
        .transpose()
}

/// Before a run: says at once when region or credentials are missing (the run still goes on,
/// and the pull after it tries again and records why it failed).
pub async fn preflight(options: &CloudWatchOptions) {
    let file = options.file.display().to_string();
    if let Err(e) = CloudWatchSource::connect(&options.deployment, &file, options.endpoint_url.as_deref()).await {
        eprintln!("cloudwatch: {e}\ncloudwatch: the run goes on; its client-side results will be written");
    }
}

/// Pulls for the run in `dir` and prints what happened. `Err` only when the run's own files
/// could not be read or written; a failed pull is `Ok` with its error recorded.
pub async fn pull_and_print(dir: &Path, options: &CloudWatchOptions) -> Result<pull::PullOutcome, CloudWatchError> {
    let outcome = pull::refresh_run_dir(dir, options, None, chrono::Utc::now).await?;
    let info = &outcome.record.info;
    match &outcome.error {
        Some(e) => eprintln!("cloudwatch: not pulled: {e}\ncloudwatch: the run's client-side results are written; the verdict is drawn without CloudWatch"),
        None => {
            eprintln!(
                "cloudwatch: {} of {} series with data at {} s per point ({})",
                info.series_with_data,
                info.series_asked,
                info.period_s.unwrap_or_default(),
                dir.join(pull::CLOUDWATCH_FILE).display()
            );
            for m in &info.missing {
                eprintln!("cloudwatch: no data for {m}");
            }
        }
    }
    for n in &info.notes {
        eprintln!("cloudwatch: note: {n}");
    }
    Ok(outcome)
}
