//! The system under test: the reference service started in-process on a profile
//! ([`embedded`]), or an existing deployment of the same API ([`remote`]).

pub mod embedded;
pub mod remote;

use std::path::PathBuf;
use std::time::Duration;

/// Which target a run drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// Start the reference service on profile `profile` (read from `profiles_dir`).
    Embedded { profile: String, profiles_dir: PathBuf },
    /// Drive an existing deployment at `url`.
    External { url: String },
}

/// Why the target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("profile `{name}`: {message}")]
    Profile { name: String, message: String },
    #[error("cannot start the embedded service: {0}")]
    Start(String),
    #[error("target {url} is not reachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("target {url} rejected the preload: {reason}")]
    Preload { url: String, reason: String },
}

impl TargetError {
    /// True for errors in the user's files or arguments rather than in the target.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Profile { .. })
    }
}

/// A target ready to take load.
#[derive(Debug)]
pub struct RunningTarget {
    pub base_url: String,
    /// `embedded` or `external`.
    pub kind: &'static str,
    pub profile: Option<String>,
    embedded: Option<embedded::EmbeddedService>,
}

/// How long a target gets to answer `/healthz`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

impl RunningTarget {
    /// Starts (embedded) or checks (external) the target until it answers `/healthz`.
    pub async fn start(choice: &TargetChoice, client: &reqwest::Client) -> Result<Self, TargetError> {
        match choice {
            TargetChoice::External { url } => {
                let base_url = url.trim_end_matches('/').to_owned();
                remote::check(client, &base_url).await?;
                Ok(Self { base_url, kind: "external", profile: None, embedded: None })
            }
            TargetChoice::Embedded { profile, profiles_dir } => {
                let service = embedded::EmbeddedService::start(profile, profiles_dir)?;
                let base_url = service.base_url.clone();
                if let Err(e) = crate::requests::wait_healthy(client, &base_url, HEALTH_TIMEOUT).await {
                    service.stop().await;
                    return Err(TargetError::Unreachable { url: base_url, reason: e });
                }
                Ok(Self { base_url, kind: "embedded", profile: Some(profile.clone()), embedded: Some(service) })
            }
        }
    }

    /// Stops an embedded service (an external target is left alone).
    pub async fn stop(self) {
        if let Some(service) = self.embedded {
            service.stop().await;
        }
    }
}
