//! scaleloop's stages on this machine: the launcher that brings a profile's topology up as
//! real servers in CPU-confined boxes ([`Topology`], with [`budget`], [`cgroup`], [`postgres`],
//! [`redis`], [`haproxy`], [`app`], [`secure`], [`sweep`]), the targets a run can aim at
//! ([`target`]: embedded, launched or remote) and the autoscaler that grows and shrinks a
//! launched app pool ([`autoscale`]).
//!
//! Depends on the data model and the generator (for its request helpers and CPU readings),
//! never on profiling, analysis or reports.
//!
//! The topology launcher: brings a profile's scaling stage up on this machine as real servers
//! — PostgreSQL primary, standby, streaming read replicas or shards; Redis; HAProxy over N
//! service instances; a worker fleet — each box a cgroup with the profile's CPU quota and
//! memory limit, all on loopback ports in one run directory; and tears it all down again.
//! The servers are the run's own: PostgreSQL and Redis require passwords generated per run,
//! the run directory is new and 0700 (`secure.rs`), and what a killed harness left is swept
//! by the next launch (`sweep.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), loadgen_topology::TopologyError> {
//! use loadgen_topology::{Topology, TopologyOptions};
//! let profile = service::config::Profile::load("profiles/users-plus-plus.toml".as_ref())?;
//! let mut d = Topology::up(profile, TopologyOptions::new("/tmp/run-1")?).await?;
//! println!("{}", d.base_url);            // HAProxy's frontend (or the only instance)
//! let name = d.add_app_instance().await?;  // one more app box behind the load balancer
//! d.remove_app_instance(&name).await?;
//! for b in d.boxes() { println!("{} {} {:?} {:?}", b.tier, b.name, b.pids, b.cgroup); }
//! d.down();                                // also done on drop
//! # Ok(()) }
//! ```
//!
//! Bring-up order: binaries are located first (a missing one is one message naming its
//! Debian package, before anything starts), then PostgreSQL, Redis, workers, API instances
//! and HAProxy. The [`Deployment`] under construction owns everything started so far, so a
//! failed start drops it and tears the partial bring-up down.

pub mod app;
pub mod autoscale;
pub mod budget;
pub mod cgroup;
mod deployment;
pub mod generator_box;
pub mod haproxy;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod secure;
pub mod sweep;
pub mod target;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use service::config::{BoxSpec, CacheConfig, ConfigError, DatabaseConfig, Profile, QueueKind};

pub use deployment::{BoxInfo, Deployment, Server};

/// Why a topology could not be brought up or changed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("{program} is not installed: install the Debian package `{package}` (apt-get install -y {package})")]
    MissingBinary { program: &'static str, package: &'static str },
    #[error(transparent)]
    Profile(#[from] ConfigError),
    #[error("profile {profile}: {reason}")]
    Unsupported { profile: String, reason: String },
    #[error("{action}: {source}")]
    Io { action: String, source: std::io::Error },
    #[error("{what} (log {log}):\n{tail}")]
    Start { what: String, log: PathBuf, tail: String },
    #[error("timed out after {after:?} waiting for {what} (log {log})")]
    Timeout { what: String, after: Duration, log: PathBuf },
    #[error("PostgreSQL {what}: {message}")]
    Postgres { what: String, message: String },
    #[error("Redis: {0}")]
    Redis(String),
    #[error("HAProxy `{command}`: {reply}")]
    HaProxy { command: String, reply: String },
    #[error("refusing run directory {path}: something already exists there (run directories are created new; remove it or name another)")]
    RunDirExists { path: PathBuf },
    #[error("refusing {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
}

impl TopologyError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { action: action.into(), source }
    }

    /// True when a server program is missing (tests skip on it outside CI).
    pub fn is_missing_binary(&self) -> bool {
        matches!(self, Self::MissingBinary { .. })
    }
}

/// Environment variable naming the executable whose `serve-internal` runs the service
/// instances, when it is not the current one.
pub const EXE_ENV: &str = "SCALELOOP_LOADGEN_EXE";

/// Where and how to bring a topology up.
#[derive(Debug, Clone)]
pub struct TopologyOptions {
    /// Logs, data, generated configs: created fresh with mode 0700, and refused when the
    /// path already exists. `None`: a new directory with an unpredictable name in the
    /// system's temporary directory.
    pub run_dir: Option<PathBuf>,
    /// Keep the run directory after teardown (logs to read); else it is removed.
    pub keep_run_dir: bool,
    /// Executable with the hidden `serve-internal` subcommand (the `loadgen` binary).
    pub exe: PathBuf,
}

impl TopologyOptions {
    /// Options for `run_dir`, running service instances from the current executable (or the
    /// one [`EXE_ENV`] names: a test binary embedding the library has no `serve-internal`) and
    /// keeping the run directory.
    pub fn new(run_dir: impl Into<PathBuf>) -> Result<Self, TopologyError> {
        Ok(Self { run_dir: Some(run_dir.into()), keep_run_dir: true, exe: Self::default_exe()? })
    }

    /// Options for a run directory of its own in the system's temporary directory, removed
    /// at teardown.
    pub fn temporary() -> Result<Self, TopologyError> {
        Ok(Self { run_dir: None, keep_run_dir: false, exe: Self::default_exe()? })
    }

    fn default_exe() -> Result<PathBuf, TopologyError> {
        match std::env::var_os(EXE_ENV) {
            Some(exe) => Ok(PathBuf::from(exe)),
            None => std::env::current_exe().map_err(|e| TopologyError::io("locating the loadgen executable", e)),
        }
    }
}

/// Entry point: [`Topology::up`].
#[derive(Debug)]
pub struct Topology;

impl Topology {
    /// Loads `profiles_dir/<name>.toml` and brings it up.
    pub async fn up_named(
        name: &str,
        profiles_dir: &Path,
        options: TopologyOptions,
    ) -> Result<Deployment, TopologyError> {
        let profile = Profile::load(&profile_path(name, profiles_dir))?;
        Self::up(profile, options).await
    }

    /// Brings `profile` up; returns when every server is ready, replicas are streaming and
    /// every instance answers `/healthz` through the load balancer. A stage whose boxes and
    /// generator share add up to more than this machine's cores is scaled down to fit first
    /// (see [`budget::fit`]); what killed harnesses left behind is swept first (see [`sweep`]).
    pub async fn up(profile: Profile, options: TopologyOptions) -> Result<Deployment, TopologyError> {
        let (profile, note) = budget::fit(profile, budget::machine_cores());
        if let Some(note) = note {
            eprintln!("warning: {note}");
        }
        let plan = Plan::of(&profile)?;
        let bins = Binaries::locate(&plan)?;
        // What a killed harness left (its servers, cgroups, run directories) goes first: it
        // holds cores and memory this stage's boxes were promised.
        for line in sweep::leftovers() {
            eprintln!("{line}");
        }
        Deployment::start(profile, plan, bins, options).await
    }
}

/// The counts a profile asks for, checked against its backends.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub db: u32,
    pub standby: bool,
    pub replicas: u32,
    pub cache: bool,
    pub lb: bool,
    pub api: Vec<(app::Role, u32)>,
    pub workers: u32,
}

impl Plan {
    fn of(p: &Profile) -> Result<Self, TopologyError> {
        let count = |tier: &str| p.boxes.iter().filter(|b| b.tier == tier).map(|b| b.count).sum::<u32>();
        let unsupported =
            |reason: &str| Err(TopologyError::Unsupported { profile: p.name.clone(), reason: reason.to_owned() });
        let api = if p.topology.split_read_write {
            vec![(app::Role::ApiRead, count("app-read")), (app::Role::ApiWrite, count("app-write"))]
        } else {
            vec![(app::Role::Api, count("app").max(1))]
        };
        let plan = Self {
            db: count("db"),
            standby: count("db-standby") > 0,
            replicas: count("db-replica"),
            cache: count("cache") > 0,
            lb: count("lb") > 0,
            api,
            workers: count("worker"),
        };
        let postgres = matches!(p.service.database, DatabaseConfig::Postgres(_));
        let redis = matches!(p.service.cache, CacheConfig::Redis(_)) || p.service.queue.kind == QueueKind::RedisStreams;
        if postgres != (plan.db > 0) {
            return unsupported("the database is PostgreSQL exactly when there is a `db` box");
        }
        if redis != plan.cache {
            return unsupported(
                "a Redis cache or Redis Streams queue needs a `cache` box, and a `cache` box needs one of them",
            );
        }
        if plan.db > 1 && p.service.queue.kind == QueueKind::RedisStreams {
            return unsupported(
                "the service does not support Redis Streams with a sharded database; use the table queue",
            );
        }
        if !plan.lb && plan.api.iter().map(|(_, n)| n).sum::<u32>() > 1 {
            return unsupported("several API instances need an `lb` box in front of them");
        }
        if plan.workers == 0 && !p.service.worker.in_process {
            return unsupported("service.worker.in_process = false needs `worker` boxes");
        }
        Ok(plan)
    }
}

/// The server programs a plan needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Binaries {
    pub pg_bin: Option<PathBuf>,
    pub redis: Option<PathBuf>,
    pub haproxy: Option<PathBuf>,
}

impl Binaries {
    fn locate(plan: &Plan) -> Result<Self, TopologyError> {
        Ok(Self {
            pg_bin: (plan.db > 0).then(postgres::find_bin).transpose()?,
            redis: plan.cache.then(redis::find_bin).transpose()?,
            haproxy: plan.lb.then(haproxy::find_bin).transpose()?,
        })
    }
}

/// `program` on `PATH` or in the sbin directories (HAProxy installs into /usr/sbin, which
/// is not on every user's PATH).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether a server failed because its port was taken between our pick and its bind (the
/// picked port is free when picked, but anything may bind it a moment later); the launcher
/// then starts it again on another port.
pub(crate) fn port_clash(e: &TopologyError) -> bool {
    matches!(e, TopologyError::Start { tail, .. } if tail.contains("already in use"))
}

/// `profiles_dir/<name>.toml`, or `name` itself when it is a path to a `.toml` file.
pub fn profile_path(name: &str, profiles_dir: &Path) -> PathBuf {
    if name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        profiles_dir.join(format!("{name}.toml"))
    }
}

/// A run id unique across processes and parallel topologies of one process.
pub fn new_run_id(profile: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{profile}-{}-{}-{:04x}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), rand::random::<u16>())
}

/// The box spec of `tier` (the first, if several entries name it).
pub(crate) fn box_spec<'a>(profile: &'a Profile, tier: &str) -> Option<&'a BoxSpec> {
    profile.boxes.iter().find(|b| b.tier == tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan, TopologyError> {
        Plan::of(&Profile::parse(&format!("name = \"p\"\n{text}"), Path::new("p.toml")).unwrap())
    }

    #[test]
    fn a_missing_program_names_its_debian_package() {
        let e = TopologyError::MissingBinary { program: "haproxy", package: "haproxy" };
        assert!(e.to_string().contains("apt-get install -y haproxy"), "{e}");
        assert!(e.is_missing_binary());
    }

    #[test]
    fn backends_and_boxes_must_agree() {
        let pg = "[service.database]\nkind = \"postgres\"\n";
        assert!(matches!(plan(pg), Err(TopologyError::Unsupported { .. })), "postgres without a db box");
        assert!(
            matches!(plan("[[boxes]]\ntier = \"db\"\n"), Err(TopologyError::Unsupported { .. })),
            "db box with SQLite"
        );
        let two_apps = format!("{pg}[[boxes]]\ntier = \"db\"\n[[boxes]]\ntier = \"app\"\ncount = 2\n");
        assert!(matches!(plan(&two_apps), Err(TopologyError::Unsupported { .. })), "two instances need an lb");
        let ok = plan(&format!("{two_apps}[[boxes]]\ntier = \"lb\"\n[[boxes]]\ntier = \"db-replica\"\ncount = 2\n"))
            .unwrap();
        assert_eq!((ok.db, ok.replicas, ok.lb, ok.api.clone()), (1, 2, true, vec![(app::Role::Api, 2)]));
    }

    #[test]
    fn profile_names_and_paths_resolve() {
        assert_eq!(profile_path("users-plus", Path::new("profiles")), PathBuf::from("profiles/users-plus.toml"));
        assert_eq!(profile_path("/x/y.toml", Path::new("profiles")), PathBuf::from("/x/y.toml"));
    }
}
