//! The SDK side: a CloudWatch client from the default credential chain and region (or the
//! deployment file's region and endpoint), `GetMetricData` calls batched and paginated, and
//! the SDK's errors turned into messages that say what to do.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region};
use aws_sdk_cloudwatch::{
    config::ProvideCredentials,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    primitives::DateTime,
    types::ScanBy,
    Client,
};
use serde::{Deserialize, Serialize};

use super::{
    deployment::AwsDeployment,
    period::QueryWindow,
    query::{Query, MAX_QUERIES_PER_CALL},
    CloudWatchError,
};

/// Attempts per call, the first included; throttling and transient errors are retried with
/// the SDK's exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 4;

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulledSeries {
    pub id: String,
    pub tier: String,
    pub series: String,
    pub resource: String,
    /// `namespace metric dimension=value (stat)`.
    pub query: String,
    /// Unix seconds of each data point (its period's start), ascending.
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// CloudWatch's `StatusCode` of the last page (`Complete`, `PartialData`, …).
    pub status: String,
    pub messages: Vec<String>,
}

/// A connected CloudWatch client.
pub struct CloudWatchSource {
    client: Client,
    endpoint: String,
}

impl CloudWatchSource {
    /// Wraps a client built elsewhere (tests give one with a replaying HTTP client).
    pub fn from_client(client: Client, endpoint: impl Into<String>) -> Self {
        Self { client, endpoint: endpoint.into() }
    }

    /// A client from the SDK's default chain; the file's `region`/`endpoint_url` and then
    /// `endpoint_override` win over it. Fails early, with what to do, when there is no region
    /// or no credentials.
    pub async fn connect(
        deployment: &AwsDeployment,
        file: &str,
        endpoint_override: Option<&str>,
    ) -> Result<Self, CloudWatchError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            );
        if let Some(region) = &deployment.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let endpoint_url = endpoint_override.map(str::to_owned).or_else(|| deployment.endpoint_url.clone());
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(region) = config.region() else { return Err(CloudWatchError::NoRegion { file: file.to_owned() }) };
        let Some(credentials) = config.credentials_provider() else {
            return Err(CloudWatchError::NoCredentials { reason: "no credentials provider is configured".into() });
        };
        credentials
            .provide_credentials()
            .await
            .map_err(|e| CloudWatchError::NoCredentials { reason: DisplayErrorContext(&e).to_string() })?;
        let endpoint = endpoint_url.unwrap_or_else(|| format!("https://monitoring.{region}.amazonaws.com"));
        Ok(Self { client: Client::new(&config), endpoint })
    }

    /// Runs every query over `window`: at most 500 queries per call, every page of each call,
    /// pages of the same query joined. Queries CloudWatch has no data for come back with no
    /// points (the caller reports them; nothing is filled in).
    pub async fn fetch(&self, queries: &[Query], window: &QueryWindow) -> Result<Vec<PulledSeries>, CloudWatchError> {
        let mut by_id: BTreeMap<String, PulledSeries> = queries
            .iter()
            .map(|q| {
                let s = &q.signal;
                let empty = PulledSeries {
                    id: q.id.clone(),
                    tier: s.tier.clone(),
                    series: s.series.clone(),
                    resource: q.resource.clone(),
                    query: q.describe(),
                    timestamps: Vec::new(),
                    values: Vec::new(),
                    status: "NoAnswer".into(),
                    messages: Vec::new(),
                };
                (q.id.clone(), empty)
            })
            .collect();
        for batch in queries.chunks(MAX_QUERIES_PER_CALL) {
            let mut call = self
                .client
                .get_metric_data()
                .start_time(DateTime::from_secs(window.start))
                .end_time(DateTime::from_secs(window.end))
                .scan_by(ScanBy::TimestampAscending);
            for q in batch {
                call = call.metric_data_queries(q.to_sdk(window.period_s));
            }
            let mut pages = call.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify(e, &self.endpoint))?;
                for result in page.metric_data_results() {
                    let Some(pulled) = result.id().and_then(|id| by_id.get_mut(id)) else { continue };
                    for (at, value) in result.timestamps().iter().zip(result.values()) {
                        pulled.timestamps.push(at.secs());
                        pulled.values.push(*value);
                    }
                    pulled.status = result.status_code().map_or("Complete".into(), |s| s.as_str().to_owned());
                    pulled.messages.extend(result.messages().iter().filter_map(|m| m.value().map(str::to_owned)));
                }
            }
        }
        let mut out: Vec<PulledSeries> = queries.iter().filter_map(|q| by_id.remove(&q.id)).collect();
        for series in &mut out {
            sort_by_time(series);
        }
        Ok(out)
    }
}

/// Pages may come in any order; the timeline wants points ascending and each once.
fn sort_by_time(series: &mut PulledSeries) {
    let mut points: Vec<(i64, f64)> = series.timestamps.iter().copied().zip(series.values.iter().copied()).collect();
    points.sort_by_key(|p| p.0);
    points.dedup_by_key(|p| p.0);
    (series.timestamps, series.values) = points.into_iter().unzip();
}

fn classify<E, R>(error: SdkError<E, R>, endpoint: &str) -> CloudWatchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if matches!(error, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
        return CloudWatchError::Unreachable {
            endpoint: endpoint.to_owned(),
            reason: DisplayErrorContext(&error).to_string(),
        };
    }
    let code = error.code().unwrap_or_default().to_owned();
    let message = error.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "LimitExceededException" => CloudWatchError::Throttled { code },
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => CloudWatchError::BadCredentials { code, message },
        "AccessDenied" | "AccessDeniedException" => CloudWatchError::AccessDenied { code, message },
        "" => CloudWatchError::Service {
            code: "an unreadable answer".into(),
            message: DisplayErrorContext(&error).to_string(),
        },
        _ => CloudWatchError::Service { code, message },
    }
}
