//! Argument pieces several subcommands share (clap derive): the default directories and the
//! CloudWatch flags. A leaf, so each subcommand's own arguments can live beside its handler.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Pulling a real AWS deployment's CloudWatch metrics onto the run's timeline.
#[derive(Debug, Args, Default)]
pub struct CloudWatchArgs {
    /// AWS deployment description (e.g. deployments/aws-example.toml): which CloudWatch
    /// resources make up each tier. After the run (with --target) its metrics are pulled
    /// with GetMetricData, merged into timeline.json and cloudwatch.json, and the verdict is
    /// drawn again with them. Credentials and region come from the AWS SDK's default chain.
    #[arg(long, value_name = "FILE")]
    pub cloudwatch: Option<PathBuf>,
    /// CloudWatch endpoint (overrides the file's endpoint_url and the SDK's default).
    #[arg(long, value_name = "URL", requires = "cloudwatch")]
    pub cloudwatch_endpoint_url: Option<String>,
    /// How long after the run to wait for CloudWatch to ingest its last data points before
    /// pulling (default: the file's ingestion_delay, 3m); e.g. 0s to pull at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "cloudwatch")]
    pub cloudwatch_wait: Option<Duration>,
}

/// `name` in the current directory if it exists there, else in the source checkout.
pub fn default_dir(name: &str) -> PathBuf {
    let here = PathBuf::from(name);
    if here.is_dir() {
        return here;
    }
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    if checkout.is_dir() {
        checkout
    } else {
        here
    }
}

/// A `--flag 10s` duration (humantime: `500ms`, `2m`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|e| e.to_string())
}
