//! An existing deployment of the content API, given with `--target URL`.

use std::time::Duration;

use super::TargetError;

/// Checks that `base_url` is a URL and answers `GET /healthz` with 200 within a few seconds.
pub async fn check(client: &reqwest::Client, base_url: &str) -> Result<(), TargetError> {
    let unreachable = |reason: String| TargetError::Unreachable { url: base_url.to_owned(), reason };
    let parsed = reqwest::Url::parse(base_url).map_err(|e| unreachable(format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(unreachable(format!("scheme must be http or https, got {}", parsed.scheme())));
    }
    crate::requests::wait_healthy(client, base_url, Duration::from_secs(5)).await.map_err(unreachable)
}
