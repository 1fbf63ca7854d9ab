//! CloudWatch: the figures of a real AWS deployment (EC2/Auto Scaling, ALB, RDS, ElastiCache,
//! SQS) pulled onto a run's timeline with `GetMetricData`, so the same analysis names the
//! saturated tier of a deployment the host sampler cannot see.
//!
//! `deployment` reads the description of the deployment (which resources make up each tier),
//! `signals` the tier-to-metric mapping (data), `period` the window and period CloudWatch's
//! rules allow, `query` the queries, `source` the SDK calls, `align` puts the answers on the
//! run's seconds (`loadgen`'s `cloudwatch::pull` ties them together for a run and for
//! `loadgen report`). The
//! profiler reads CloudWatch through its collector trait
//! (`profiler::collect::cloudwatch`), by backfill after the run, since CloudWatch's points
//! arrive minutes after the seconds they describe.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod align;
pub mod deployment;
pub mod period;
pub mod query;
pub use loadgen_model::cloudwatch::signals;
pub mod source;

pub use deployment::{AwsDeployment, DeploymentError};
pub use loadgen_model::run_dir::CLOUDWATCH_FILE;
pub use source::CloudWatchSource;

/// `--cloudwatch FILE` and its companions.
#[derive(Debug, Clone)]
pub struct CloudWatchOptions {
    pub file: PathBuf,
    pub deployment: AwsDeployment,
    /// `--cloudwatch-endpoint-url`: wins over the file's `endpoint_url`.
    pub endpoint_url: Option<String>,
    /// `--cloudwatch-wait`: how long after the run's end to wait before pulling (default: the
    /// file's `ingestion_delay`).
    pub wait: Option<Duration>,
}

impl CloudWatchOptions {
    pub fn load(file: &Path, endpoint_url: Option<String>, wait: Option<Duration>) -> Result<Self, DeploymentError> {
        Ok(Self { file: file.to_owned(), deployment: AwsDeployment::load(file)?, endpoint_url, wait })
    }

    pub fn ingestion_wait(&self) -> Duration {
        self.wait.unwrap_or(self.deployment.ingestion_delay)
    }
}

/// Why CloudWatch's figures could not be had. The run's own results are written regardless.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    #[error("no AWS region: set `region` in {file}, or AWS_REGION, or a region in the AWS profile (~/.aws/config)")]
    NoRegion { file: String },
    #[error("no AWS credentials found ({reason}); the SDK's default chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, SSO, and container or instance roles")]
    NoCredentials { reason: String },
    #[error("AWS rejected the credentials ({code}: {message}); check AWS_ACCESS_KEY_ID / AWS_PROFILE, that the key is active, and the clock")]
    BadCredentials { code: String, message: String },
    #[error("access denied ({code}: {message}); the identity needs cloudwatch:GetMetricData")]
    AccessDenied { code: String, message: String },
    #[error("CloudWatch throttled the requests ({code}) and the SDK's retries ran out; re-pull later with `loadgen report <run-dir> --cloudwatch <file>`, or ask for a higher GetMetricData quota")]
    Throttled { code: String },
    #[error("cannot reach CloudWatch at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("CloudWatch answered {code}: {message}")]
    Service { code: String, message: String },
    #[error(transparent)]
    Expired(#[from] period::Expired),
    #[error("the run's {what} cannot be read: {reason}")]
    RunFiles { what: &'static str, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
}
