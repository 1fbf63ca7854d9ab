//! Service instances: the reference service run as child processes of the current `loadgen`
//! executable (`loadgen serve-internal …`, a hidden subcommand), so `cargo run -p loadgen`
//! needs no separately built `service` binary.
//!
//! Each instance gets its own profile file in the run directory: the stage's profile with the
//! private servers' URLs filled in and its own listen port. All instances share one data
//! directory, so the local object store is one store (as S3 would be on AWS). The profile
//! files carry the servers' passwords: they are mode 0600 in the 0700 run directory.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use service::config::{CacheConfig, DatabaseConfig, Profile, QueueKind};

use super::{
    cgroup::BoxCgroup,
    process::{self, Spec, Supervised},
    TopologyError,
};

/// How long an instance gets to connect its backends and answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What an instance does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The whole API (tier `app`, HAProxy backend `app`).
    Api,
    /// The read pool of a split deployment (`app-read`).
    ApiRead,
    /// The write pool of a split deployment (`app-write`).
    ApiWrite,
    /// Workers only, no HTTP (`worker`).
    Worker,
}

impl Role {
    /// Box tier, which is also the HAProxy backend name of the API roles.
    pub fn tier(self) -> &'static str {
        match self {
            Self::Api => "app",
            Self::ApiRead => "app-read",
            Self::ApiWrite => "app-write",
            Self::Worker => "worker",
        }
    }

    pub fn serves_http(self) -> bool {
        self != Self::Worker
    }
}

/// Where the private servers are (filled into every instance's profile). The URLs carry the
/// servers' passwords; `Debug` shows them redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub primary_url: Option<String>,
    pub replica_urls: Vec<String>,
    pub shard_urls: Vec<String>,
    pub redis_url: Option<String>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = loadgen_generator::redact::secrets;
        f.debug_struct("Endpoints")
            .field("primary_url", &self.primary_url.as_deref().map(r))
            .field("replica_urls", &self.replica_urls.iter().map(|u| r(u)).collect::<Vec<_>>())
            .field("shard_urls", &self.shard_urls.iter().map(|u| r(u)).collect::<Vec<_>>())
            .field("redis_url", &self.redis_url.as_deref().map(r))
            .finish()
    }
}

/// The instance's profile: the stage's, with the servers' URLs, the shared data directory,
/// the listen port and where its workers run.
pub fn instance_profile(
    stage: &Profile,
    endpoints: &Endpoints,
    data_dir: &Path,
    port: u16,
    in_process_worker: bool,
) -> Profile {
    let mut p = stage.clone();
    let s = &mut p.service;
    s.data_dir = Some(data_dir.to_owned());
    s.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    s.worker.in_process = in_process_worker;
    if let DatabaseConfig::Postgres(pg) = &mut s.database {
        if let Some(url) = &endpoints.primary_url {
            pg.primary_url = url.clone();
        }
        pg.replica_urls = endpoints.replica_urls.clone();
        pg.shard_urls = endpoints.shard_urls.clone();
    }
    if let Some(url) = &endpoints.redis_url {
        if let CacheConfig::Redis(r) = &mut s.cache {
            r.url = url.clone();
        }
        if s.queue.kind == QueueKind::RedisStreams {
            s.queue.url = url.clone();
        }
    }
    p
}

/// A running instance.
#[derive(Debug)]
pub struct AppInstance {
    /// `app-1`, `worker-1`, … (also the HAProxy server name).
    pub name: String,
    pub role: Role,
    /// HTTP port (API roles).
    pub port: Option<u16>,
    pub profile_path: PathBuf,
    pub process: Supervised,
    pub cgroup: Option<BoxCgroup>,
    pub cpus: Option<f64>,
    pub memory_mib: Option<u64>,
}

impl AppInstance {
    pub fn url(&self) -> Option<String> {
        self.port.map(|p| format!("http://127.0.0.1:{p}"))
    }
}

/// What [`start`] needs besides the instance's name and role.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The executable that has the `serve-internal` subcommand.
    pub exe: &'a Path,
    pub stage: &'a Profile,
    pub endpoints: &'a Endpoints,
    pub data_dir: &'a Path,
    pub logs: &'a Path,
    /// API instances run the workers in-process only when there is no worker fleet.
    pub worker_fleet: bool,
    pub client: &'a reqwest::Client,
}

/// Starts one instance in its box and waits until it is ready (`/healthz` 200 for the API,
/// the "workers running" line for a worker).
pub async fn start(
    launch: &Launch<'_>,
    name: &str,
    role: Role,
    cgroup: Option<BoxCgroup>,
    cpus: Option<f64>,
    memory_mib: Option<u64>,
) -> Result<AppInstance, TopologyError> {
    let port = if role.serves_http() { process::free_port()? } else { 0 };
    let in_process = role == Role::Worker || !launch.worker_fleet;
    let profile = instance_profile(launch.stage, launch.endpoints, launch.data_dir, port, in_process);
    let profile_path = launch.logs.parent().unwrap_or(launch.logs).join("profiles").join(format!("{name}.toml"));
    write_profile(&profile, &profile_path)?;
    let log = launch.logs.join(format!("{name}.log"));
    let mut spec = Spec::new(name, launch.exe, log).arg("serve-internal").arg("--profile").arg(&profile_path);
    spec = match role {
        Role::Worker => spec.arg("--workers-only"),
        _ if launch.worker_fleet => spec.arg("--no-worker"),
        _ => spec,
    };
    spec.cgroup_procs = cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
    // The profile file is the whole truth for the instance; the service's environment
    // overrides would win over it.
    spec.env_remove = ["SCALELOOP_PROFILE", "SCALELOOP_LISTEN", "SCALELOOP_DATA_DIR", "SCALELOOP_DATABASE_URL"]
        .map(String::from)
        .to_vec();
    // Log files, not terminals: no colour codes.
    spec.env.push(("NO_COLOR".into(), "1".into()));
    spec.env
        .push(("RUST_LOG".into(), std::env::var("SCALELOOP_SERVICE_LOG").unwrap_or_else(|_| "info,sqlx=warn".into())));
    let mut process = Supervised::spawn(&spec)?;
    if role.serves_http() {
        process::wait_tcp(&mut process, port, READY_TIMEOUT).await?;
        let url = format!("http://127.0.0.1:{port}");
        if let Err(reason) = loadgen_generator::requests::wait_healthy(launch.client, &url, READY_TIMEOUT).await {
            return Err(TopologyError::Start {
                what: format!("{name} never became healthy: {reason}"),
                log: process.log.clone(),
                tail: process::log_tail(&process.log, 15),
            });
        }
    } else {
        wait_for_line(&mut process, service::WORKERS_READY_LINE, READY_TIMEOUT).await?;
    }
    Ok(AppInstance {
        name: name.to_owned(),
        role,
        port: role.serves_http().then_some(port),
        profile_path,
        process,
        cgroup,
        cpus,
        memory_mib,
    })
}

fn write_profile(profile: &Profile, path: &Path) -> Result<(), TopologyError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TopologyError::io(format!("creating {}", dir.display()), e))?;
    }
    let text = toml::to_string(profile)
        .map_err(|e| TopologyError::io("writing an instance profile", std::io::Error::other(e)))?;
    let text = format!("# generated by scaleloop's topology launcher from profile {}\n{text}", profile.name);
    super::secure::replace_secret_file(path, &text)
}

/// Waits until the process's log holds `needle`; fails early if it exits.
async fn wait_for_line(process: &mut Supervised, needle: &str, timeout: Duration) -> Result<(), TopologyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if std::fs::read_to_string(&process.log).is_ok_and(|t| t.contains(needle)) {
            return Ok(());
        }
        if !process.is_running() {
            return Err(process.failure("exited before its workers ran"));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TopologyError::Timeout {
                what: format!("{} to start its workers", process.name),
                after: timeout,
                log: process.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_profiles_carry_the_private_servers_and_round_trip() {
        let stage = Profile::parse(
            "name = \"s\"\n[service.database]\nkind = \"postgres\"\n[service.cache]\nkind = \"redis\"\n[service.queue]\nkind = \"redis-streams\"\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let endpoints = Endpoints {
            primary_url: Some("postgres://postgres@127.0.0.1:5999/scaleloop".into()),
            replica_urls: vec!["postgres://postgres@127.0.0.1:6000/scaleloop".into()],
            shard_urls: vec![],
            redis_url: Some("redis://127.0.0.1:6001/0".into()),
        };
        let p = instance_profile(&stage, &endpoints, Path::new("/tmp/d"), 7000, false);
        let text = toml::to_string(&p).unwrap();
        let back = Profile::parse(&text, Path::new("back.toml")).unwrap();
        let DatabaseConfig::Postgres(pg) = &back.service.database else { panic!("not postgres") };
        assert_eq!(pg.primary_url, "postgres://postgres@127.0.0.1:5999/scaleloop");
        assert_eq!(pg.replica_urls.len(), 1);
        let CacheConfig::Redis(r) = &back.service.cache else { panic!("no redis cache") };
        assert_eq!(r.url, "redis://127.0.0.1:6001/0");
        assert_eq!(back.service.queue.url, "redis://127.0.0.1:6001/0");
        assert_eq!(back.service.http.listen.port(), 7000);
        assert!(!back.service.worker.in_process);
    }
}
