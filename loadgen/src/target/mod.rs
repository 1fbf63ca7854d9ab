//! The system under test: the reference service started in-process on a profile
//! ([`embedded`]), a profile's stage brought up on real servers by the topology launcher
//! ([`crate::topology`]), or an existing deployment of the same API ([`remote`]).

pub mod embedded;
pub mod remote;

use std::path::PathBuf;
use std::time::Duration;

/// Which target a run drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// Start the reference service on profile `profile` (read from `profiles_dir`).
    Embedded { profile: String, profiles_dir: PathBuf },
    /// Bring profile `profile`'s stage up on real servers for the run, then tear it down.
    Topology { profile: String, profiles_dir: PathBuf },
    /// Drive an existing deployment at `url`.
    External { url: String },
}

impl TargetChoice {
    /// The profile file the target runs, when it is one of ours.
    pub fn profile_path(&self) -> Option<PathBuf> {
        match self {
            Self::Embedded { profile, profiles_dir } | Self::Topology { profile, profiles_dir } => {
                Some(crate::topology::profile_path(profile, profiles_dir))
            }
            Self::External { .. } => None,
        }
    }

    /// Embedded for single-box (and with `force_embedded`), the topology launcher for a
    /// profile whose boxes include servers (db, cache, lb, worker, …).
    pub fn for_profile(profile: String, profiles_dir: PathBuf, force_embedded: bool) -> Self {
        let path = crate::topology::profile_path(&profile, &profiles_dir);
        let has_servers = service::config::Profile::load(&path)
            .map(|p| p.boxes.iter().any(|b| b.tier != "app" && b.count > 0) || p.boxes.iter().any(|b| b.tier == "app" && b.count > 1))
            .unwrap_or(false);
        if has_servers && !force_embedded {
            Self::Topology { profile, profiles_dir }
        } else {
            Self::Embedded { profile, profiles_dir }
        }
    }
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
    #[error("--target {url}: {reason}")]
    BadUrl { url: String, reason: crate::requests::ApiUrlError },
    #[error("target {url} rejected the preload: {reason}")]
    Preload { url: String, reason: String },
    #[error("cannot bring the stage up: {0}")]
    Topology(#[from] crate::topology::TopologyError),
}

impl TargetError {
    /// True for errors in the user's files or arguments rather than in the target.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Profile { .. } | Self::BadUrl { .. } | Self::Topology(crate::topology::TopologyError::Profile(_))
        )
    }
}

/// A target ready to take load.
#[derive(Debug)]
pub struct RunningTarget {
    pub base_url: String,
    /// `embedded`, `topology` or `external`.
    pub kind: &'static str,
    pub profile: Option<String>,
    embedded: Option<embedded::EmbeddedService>,
    /// The stage on real servers (its boxes feed the profiler; the autoscaler adds and
    /// removes its instances while the run goes on, hence the lock).
    pub deployment: Option<std::sync::Arc<tokio::sync::Mutex<crate::topology::Deployment>>>,
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
                Ok(Self { base_url, kind: "external", profile: None, embedded: None, deployment: None })
            }
            TargetChoice::Embedded { profile, profiles_dir } => {
                let service = embedded::EmbeddedService::start(profile, profiles_dir)?;
                let base_url = service.base_url.clone();
                if let Err(e) = crate::requests::wait_healthy(client, &base_url, HEALTH_TIMEOUT).await {
                    service.stop().await;
                    return Err(TargetError::Unreachable { url: base_url, reason: e });
                }
                Ok(Self { base_url, kind: "embedded", profile: Some(profile.clone()), embedded: Some(service), deployment: None })
            }
            TargetChoice::Topology { profile, profiles_dir } => {
                let loaded = service::config::Profile::load(&crate::topology::profile_path(profile, profiles_dir))
                    .map_err(|e| TargetError::Profile { name: profile.clone(), message: e.to_string() })?;
                let run_dir = std::env::temp_dir().join(format!("loadgen-topology-{}", crate::topology::new_run_id(profile)));
                let mut options = crate::topology::TopologyOptions::new(run_dir)?;
                options.keep_run_dir = false;
                let deployment = crate::topology::Topology::up(loaded, options).await?;
                let base_url = deployment.base_url.clone();
                Ok(Self { base_url, kind: "topology", profile: Some(profile.clone()), embedded: None, deployment: Some(std::sync::Arc::new(tokio::sync::Mutex::new(deployment))) })
            }
        }
    }

    /// Stops an embedded service or a launched stage (an external target is left alone).
    pub async fn stop(self) {
        if let Some(service) = self.embedded {
            service.stop().await;
        }
        if let Some(deployment) = self.deployment {
            let mut deployment = match std::sync::Arc::try_unwrap(deployment) {
                Ok(owned) => owned.into_inner(),
                // Still shared (an autoscaler that did not stop): take it down through the lock.
                Err(shared) => {
                    shared.lock().await.down();
                    return;
                }
            };
            let _ = tokio::task::spawn_blocking(move || deployment.down()).await;
        }
    }
}
