//! The system under test: the reference service started in-process on a profile
//! ([`embedded`]), a profile's stage brought up on real servers by the topology launcher
//! ([`crate`], the launcher), or an existing deployment of the same API ([`remote`]); the
//! corpus a run reads ([`corpus`]) and the wait for the jobs its writes queued ([`drain`]).

pub mod corpus;
pub mod drain;
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
                Some(crate::profile_path(profile, profiles_dir))
            }
            Self::External { .. } => None,
        }
    }

    /// The topology launcher for a profile whose boxes include servers (db, cache, lb,
    /// worker, …), and for a one-box profile too when boxes can be confined: the single box is
    /// then one app process in a cgroup with its quota, like every later stage's boxes, so
    /// stages compare on the same machine budget (it needs no server installed: SQLite and a
    /// local object store). Embedded (in this process, unconfined) with `force_embedded`, or
    /// for a one-box profile when cgroups are not writable — today's behaviour, with the
    /// launcher's warning that boxes are unconfined.
    pub fn for_profile(profile: String, profiles_dir: PathBuf, force_embedded: bool) -> Self {
        let path = crate::profile_path(&profile, &profiles_dir);
        let service_boxes = |p: &service::config::Profile| -> Vec<(String, u32)> {
            p.boxes
                .iter()
                .filter(|b| b.tier != crate::budget::GENERATOR_TIER)
                .map(|b| (b.tier.clone(), b.count))
                .collect()
        };
        let boxes = service::config::Profile::load(&path).map(|p| service_boxes(&p)).unwrap_or_default();
        let has_servers =
            boxes.iter().any(|(t, n)| t != "app" && *n > 0) || boxes.iter().any(|(t, n)| t == "app" && *n > 1);
        let confinable =
            !boxes.is_empty() && !matches!(crate::cgroup::detect(), crate::cgroup::Mode::Unconfined { .. });
        if force_embedded || !(has_servers || confinable) {
            if !force_embedded && !boxes.is_empty() {
                if let crate::cgroup::Mode::Unconfined { reason } = crate::cgroup::detect() {
                    eprintln!(
                        "warning: the single box runs inside the generator's process, WITHOUT its CPU quota: {reason}"
                    );
                }
            }
            Self::Embedded { profile, profiles_dir }
        } else {
            Self::Topology { profile, profiles_dir }
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
    BadUrl { url: String, reason: loadgen_generator::requests::ApiUrlError },
    #[error("target {url} rejected the preload: {reason}")]
    Preload { url: String, reason: String },
    #[error("cannot bring the stage up: {0}")]
    Topology(#[from] crate::TopologyError),
}

impl TargetError {
    /// True for errors in the user's files or arguments rather than in the target.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Profile { .. } | Self::BadUrl { .. } | Self::Topology(crate::TopologyError::Profile(_)))
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
    pub deployment: Option<std::sync::Arc<tokio::sync::Mutex<crate::Deployment>>>,
    /// Keep the corpus the first run preloaded and hand it to later runs on this target
    /// (evolve's steps on one stage), instead of writing it again each run. Off by default:
    /// the gate counts what a run's preload writes.
    pub keep_corpus: bool,
    /// The kept corpus: (scenario seed, preload size, ids).
    corpus: std::sync::Mutex<Option<(u64, u32, Vec<String>)>>,
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
                Ok(Self {
                    base_url,
                    kind: "external",
                    profile: None,
                    embedded: None,
                    deployment: None,
                    keep_corpus: false,
                    corpus: Default::default(),
                })
            }
            TargetChoice::Embedded { profile, profiles_dir } => {
                let service = embedded::EmbeddedService::start(profile, profiles_dir)?;
                let base_url = service.base_url.clone();
                if let Err(e) = loadgen_generator::requests::wait_healthy(client, &base_url, HEALTH_TIMEOUT).await {
                    service.stop().await;
                    return Err(TargetError::Unreachable { url: base_url, reason: e });
                }
                Ok(Self {
                    base_url,
                    kind: "embedded",
                    profile: Some(profile.clone()),
                    embedded: Some(service),
                    deployment: None,
                    keep_corpus: false,
                    corpus: Default::default(),
                })
            }
            TargetChoice::Topology { profile, profiles_dir } => {
                let loaded = service::config::Profile::load(&crate::profile_path(profile, profiles_dir))
                    .map_err(|e| TargetError::Profile { name: profile.clone(), message: e.to_string() })?;
                // A fresh 0700 directory of unpredictable name, removed at teardown.
                let options = crate::TopologyOptions::temporary()?;
                let deployment = crate::Topology::up(loaded, options).await?;
                let base_url = deployment.base_url.clone();
                let deployment = Some(std::sync::Arc::new(tokio::sync::Mutex::new(deployment)));
                Ok(Self {
                    base_url,
                    kind: "topology",
                    profile: Some(profile.clone()),
                    embedded: None,
                    deployment,
                    keep_corpus: false,
                    corpus: Default::default(),
                })
            }
        }
    }

    /// A stage the caller brought up itself (its boxes feed the profiler as if the run had
    /// launched it); `stop` tears it down.
    pub fn launched(deployment: crate::Deployment) -> Self {
        let base_url = deployment.base_url.clone();
        let profile = Some(deployment.profile.name.clone());
        let deployment = Some(std::sync::Arc::new(tokio::sync::Mutex::new(deployment)));
        Self {
            base_url,
            kind: "topology",
            profile,
            embedded: None,
            deployment,
            keep_corpus: false,
            corpus: Default::default(),
        }
    }

    /// The corpus an earlier run on this target preloaded for the same seed and size.
    pub fn kept_corpus(&self, seed: u64, preload: u32) -> Option<Vec<String>> {
        let kept = self.corpus.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.as_ref().filter(|(s, n, _)| *s == seed && *n == preload).map(|(_, _, ids)| ids.clone())
    }

    /// Keeps `ids` for later runs when [`Self::keep_corpus`] is on.
    pub fn keep(&self, seed: u64, preload: u32, ids: &[String]) {
        if self.keep_corpus {
            *self.corpus.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((seed, preload, ids.to_vec()));
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
