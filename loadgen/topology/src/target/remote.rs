//! An existing deployment of the content API, given with `--target URL`.

use std::time::Duration;

use super::TargetError;

/// Checks that `base_url` is an http(s) URL the generator can drive and that it answers
/// `GET /healthz` with 200 within a few seconds.
pub async fn check(client: &reqwest::Client, base_url: &str) -> Result<(), TargetError> {
    let unreachable = |reason: String| TargetError::Unreachable { url: base_url.to_owned(), reason };
    loadgen_generator::requests::ApiUrls::new(base_url)
        .map_err(|reason| TargetError::BadUrl { url: base_url.to_owned(), reason })?;
    loadgen_generator::requests::wait_healthy(client, base_url, Duration::from_secs(5)).await.map_err(unreachable)
}
