//! A side of the gate (baseline or candidate): an embedded profile, a URL, or a command that
//! starts a service; and one started instance of it, whose `/metrics` and CPU can be read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::target::{RunningTarget, TargetChoice};

use super::cpu::{self, CpuReading};
use super::figures::ServiceCounters;
use super::spawn::ServiceProcess;
use super::GateError;

/// What to run the scenario against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The reference service started in this process on a profile: a name in
    /// `profiles_dir`, or a path to a `.toml` file.
    Profile { name: String, profiles_dir: PathBuf },
    /// An existing deployment; it is not restarted between runs and its CPU is not known.
    Url(String),
    /// A command that starts a service (see [`super::spawn`]); started afresh for each run.
    Command(String),
}

impl Side {
    /// From the three mutually exclusive options of one side; `default_profile` when none.
    pub fn from_options(
        profile: Option<&str>,
        url: Option<&str>,
        command: Option<&str>,
        default_profile: &str,
        profiles_dir: &Path,
    ) -> Result<Self, GateError> {
        match (profile, url, command) {
            (None, None, None) => Ok(Self::profile(default_profile, profiles_dir)),
            (Some(p), None, None) => Ok(Self::profile(p, profiles_dir)),
            (None, Some(u), None) => Ok(Self::Url(u.trim_end_matches('/').to_owned())),
            (None, None, Some(c)) => Ok(Self::Command(c.to_owned())),
            _ => Err(GateError::BadInput("give at most one of a side's profile, URL and command".into())),
        }
    }

    /// A profile name, or a path to a profile file (split into its directory and name, the
    /// way the embedded target loads profiles).
    pub fn profile(name: &str, profiles_dir: &Path) -> Self {
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            return Self::Profile { name: stem, profiles_dir: dir.to_owned() };
        }
        Self::Profile { name: name.to_owned(), profiles_dir: profiles_dir.to_owned() }
    }

    /// How the side is described in reports.
    pub fn label(&self) -> String {
        match self {
            Self::Profile { name, profiles_dir } => {
                format!("profile {}", profiles_dir.join(format!("{name}.toml")).display())
            }
            Self::Url(u) => format!("URL {u}"),
            Self::Command(c) => format!("command `{c}`"),
        }
    }

    /// Starts (or, for a URL, checks) the side.
    pub async fn start(&self, client: &reqwest::Client) -> Result<StartedSide, GateError> {
        match self {
            Self::Profile { name, profiles_dir } => {
                let choice = TargetChoice::Embedded { profile: name.clone(), profiles_dir: profiles_dir.clone() };
                let target = RunningTarget::start(&choice, client).await?;
                Ok(StartedSide { target, choice, process: None })
            }
            Self::Url(url) => {
                let choice = TargetChoice::External { url: url.clone() };
                let target = RunningTarget::start(&choice, client).await?;
                Ok(StartedSide { target, choice, process: None })
            }
            Self::Command(template) => {
                let process = ServiceProcess::start(template, client).await?;
                let choice = TargetChoice::External { url: process.url.clone() };
                let target = match RunningTarget::start(&choice, client).await {
                    Ok(t) => t,
                    Err(e) => {
                        let mut process = process;
                        process.stop().await;
                        return Err(e.into());
                    }
                };
                Ok(StartedSide { target, choice, process: Some(process) })
            }
        }
    }
}

/// One started instance of a side.
#[derive(Debug)]
pub struct StartedSide {
    pub target: RunningTarget,
    /// What a run against it is told the target is.
    pub choice: TargetChoice,
    process: Option<ServiceProcess>,
}

impl StartedSide {
    /// The service's CPU so far, per thread or process (`None` for a URL or without `/proc`).
    pub fn cpu(&self) -> Option<CpuReading> {
        match (&self.process, self.target.kind) {
            (Some(p), _) => cpu::process_group(p.pgid),
            (None, "embedded") => cpu::embedded_service(),
            _ => None,
        }
    }

    /// The service's counters now.
    pub async fn counters(&self, client: &reqwest::Client) -> Result<ServiceCounters, GateError> {
        let url = format!("{}/metrics", self.target.base_url);
        let text = async { client.get(&url).send().await?.error_for_status()?.text().await }
            .await
            .map_err(|e| GateError::Metrics { url: url.clone(), reason: e.to_string() })?;
        let mut counters = ServiceCounters::default();
        counters.add_scrape(&text);
        Ok(counters)
    }

    /// Waits until every write since `before` has had its job finished (or `limit` passes),
    /// so jobs-per-write and the worker's queries are whole; returns the counters then.
    pub async fn drained(
        &self,
        client: &reqwest::Client,
        before: &ServiceCounters,
        limit: Duration,
    ) -> Result<ServiceCounters, GateError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let now = self.counters(client).await?;
            let delta = now.since(before);
            if delta.jobs_finished >= delta.writes || tokio::time::Instant::now() >= deadline {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.target.stop().await;
        if let Some(mut p) = self.process {
            p.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_from_options() {
        let dir = Path::new("profiles");
        assert_eq!(
            Side::from_options(None, None, None, "single-box", dir).unwrap(),
            Side::Profile { name: "single-box".into(), profiles_dir: dir.into() }
        );
        assert_eq!(
            Side::from_options(Some("bench/gate-2x-cpu.toml"), None, None, "single-box", dir).unwrap(),
            Side::Profile { name: "gate-2x-cpu".into(), profiles_dir: "bench".into() }
        );
        assert_eq!(
            Side::from_options(None, Some("http://h:1/"), None, "x", dir).unwrap(),
            Side::Url("http://h:1".into())
        );
        assert!(Side::from_options(Some("a"), Some("b"), None, "x", dir).is_err());
    }
}
