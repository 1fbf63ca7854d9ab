//! CloudWatch in a run's files: what `summary.json` says of a pull (`cloudwatch.json` holds the
//! answers), and the shipped table of [`signals`] that maps CloudWatch metrics to tiers.

pub mod signals;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `summary.json` says of the pull (the details are in `cloudwatch.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchInfo {
    /// The deployment file's name.
    pub deployment: String,
    /// Seconds per CloudWatch data point; `null` when nothing was pulled.
    pub period_s: Option<i64>,
    /// Series with data, of those asked for.
    pub series_with_data: usize,
    pub series_asked: usize,
    /// Queries CloudWatch had no data for (`namespace metric dimension=value (stat)`).
    pub missing: Vec<String>,
    /// Why nothing was pulled, when so.
    pub error: Option<String>,
    /// What a reader should know: short run, coarse period, data possibly not yet ingested.
    pub notes: Vec<String>,
}
