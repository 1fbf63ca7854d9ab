//! Private PostgreSQL clusters from the newest `/usr/lib/postgresql/*/bin`: a primary made
//! by `initdb`, standbys and read replicas by `pg_basebackup -R -X stream` with a replication
//! slot each, all listening on 127.0.0.1 on free ports with their data in the run directory.
//!
//! PostgreSQL refuses to run as root, so when we are root every PostgreSQL program runs as
//! the `postgres` user and the cluster directory is owned by it. `fsync` stays on: an
//! acknowledged write must survive a crash (the failover test checks it does).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use nix::sys::signal::Signal;
use sqlx::{Connection, Row};

use super::{
    process::{self, RunAs, Spec, Supervised},
    TopologyError,
};

/// The database the service uses inside every cluster.
pub const DATABASE: &str = "scaleloop";

/// How long a cluster gets to start or a replica to catch up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings every cluster of a run shares.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub bin: PathBuf,
    pub run_as: Option<RunAs>,
    pub synchronous_commit: &'static str,
    pub shared_buffers_mib: u32,
}

/// The newest installed PostgreSQL's `bin` directory.
pub fn find_bin() -> Result<PathBuf, TopologyError> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or(TopologyError::MissingBinary { program: "initdb (PostgreSQL)", package: "postgresql" })
}

/// A running cluster.
#[derive(Debug)]
pub struct PgNode {
    /// `pg-primary`, `pg-standby`, `pg-replica-1`, `pg-shard-0`, …
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub process: Supervised,
}

impl PgNode {
    /// URL of the service's database on this cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn connect(&self) -> Result<sqlx::PgConnection, TopologyError> {
        sqlx::PgConnection::connect(&self.admin_url()).await.map_err(|e| pg_error(&self.name, "connecting", e))
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub async fn promote(&self) -> Result<(), TopologyError> {
        let mut c = self.connect().await?;
        let promoted: bool = sqlx::query_scalar("SELECT pg_promote(true, 60)")
            .fetch_one(&mut c)
            .await
            .map_err(|e| pg_error(&self.name, "pg_promote()", e))?;
        if !promoted {
            return Err(TopologyError::Postgres { what: self.name.clone(), message: "pg_promote() did not finish within 60 s".into() });
        }
        Ok(())
    }

    /// Points a replica at a new upstream (after a failover); the replica follows the new
    /// timeline (`recovery_target_timeline = latest` is the default).
    pub async fn follow(&self, upstream_port: u16) -> Result<(), TopologyError> {
        let mut c = self.connect().await?;
        let info = conninfo(upstream_port, &self.name);
        for sql in [format!("ALTER SYSTEM SET primary_conninfo = '{info}'"), "SELECT pg_reload_conf()".to_owned()] {
            sqlx::query(&sql).execute(&mut c).await.map_err(|e| pg_error(&self.name, "re-pointing", e))?;
        }
        Ok(())
    }
}

fn pg_error(what: &str, action: &str, e: sqlx::Error) -> TopologyError {
    TopologyError::Postgres { what: what.to_owned(), message: format!("{action}: {e}") }
}

fn conninfo(port: u16, application_name: &str) -> String {
    format!("host=127.0.0.1 port={port} user=postgres application_name={application_name}")
}

fn tool(settings: &PgSettings, name: &str, program: &str, log: &Path) -> Spec {
    let mut spec = Spec::new(name, settings.bin.join(program), log.to_owned());
    spec.run_as = settings.run_as;
    spec
}

/// Makes `dir` (and the run directory above it) usable by the `postgres` user.
fn prepare_dir(dir: &Path, run_as: Option<RunAs>) -> Result<(), TopologyError> {
    std::fs::create_dir_all(dir).map_err(|e| TopologyError::io(format!("creating {}", dir.display()), e))?;
    if let Some(who) = run_as {
        std::os::unix::fs::chown(dir, Some(who.uid), Some(who.gid))
            .map_err(|e| TopologyError::io(format!("giving {} to the postgres user", dir.display()), e))?;
    }
    Ok(())
}

/// `initdb` a new primary in `dir` (which must not exist yet), with replication enabled.
pub fn init_primary(settings: &PgSettings, name: &str, dir: &Path, logs: &Path) -> Result<(), TopologyError> {
    prepare_dir(dir.parent().unwrap_or(dir), settings.run_as)?;
    let log = logs.join(format!("{name}.initdb.log"));
    // --no-sync: a scratch cluster; only initdb's own final flush is skipped, the server
    // itself runs with fsync on.
    let spec = tool(settings, &format!("{name} initdb"), "initdb", &log)
        .arg("-D")
        .arg(dir)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    process::run_to_end(&spec, Duration::from_secs(120))?;
    let conf = format!(
        "\n# scaleloop topology launcher\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
         wal_level = replica\nmax_wal_senders = 16\nmax_replication_slots = 16\nhot_standby = on\n\
         wal_keep_size = '64MB'\nfsync = on\nsynchronous_commit = {}\nshared_buffers = '{}MB'\n\
         max_connections = 300\nlogging_collector = off\n",
        settings.synchronous_commit, settings.shared_buffers_mib
    );
    append(&dir.join("postgresql.conf"), &conf)
}

fn append(path: &Path, text: &str) -> Result<(), TopologyError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| TopologyError::io(format!("writing {}", path.display()), e))
}

/// Copies the primary on `primary_port` into `dir` as a streaming standby named `name`,
/// with its own replication slot (so the primary keeps the WAL it has not received yet).
pub fn base_backup(settings: &PgSettings, name: &str, primary_port: u16, dir: &Path, logs: &Path) -> Result<(), TopologyError> {
    prepare_dir(dir.parent().unwrap_or(dir), settings.run_as)?;
    let slot = name.replace('-', "_");
    let log = logs.join(format!("{name}.basebackup.log"));
    let spec = tool(settings, &format!("{name} pg_basebackup"), "pg_basebackup", &log)
        .args(["-h", "127.0.0.1", "-p", &primary_port.to_string(), "-U", "postgres", "-D"])
        .arg(dir)
        .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync", "-C", "-S", &slot]);
    process::run_to_end(&spec, Duration::from_secs(120))?;
    // -R wrote standby.signal and a primary_conninfo; this one names the standby so that
    // pg_stat_replication on the primary can be matched to it.
    append(&dir.join("postgresql.auto.conf"), &format!("primary_conninfo = '{}'\n", conninfo(primary_port, name)))
}

/// Starts the cluster in `dir` on `port` inside the box's cgroup; waits until it answers.
pub async fn start(
    settings: &PgSettings,
    name: &str,
    dir: &Path,
    port: u16,
    cgroup_procs: Vec<PathBuf>,
    logs: &Path,
) -> Result<PgNode, TopologyError> {
    let mut spec = tool(settings, name, "postgres", &logs.join(format!("{name}.log")))
        .arg("-D")
        .arg(dir)
        .args(["-p", &port.to_string(), "-c", &format!("cluster_name={name}")]);
    spec.cgroup_procs = cgroup_procs;
    // SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit.
    spec.stop_signal = Signal::SIGINT;
    let mut process = Supervised::spawn(&spec)?;
    process::wait_tcp(&mut process, port, START_TIMEOUT).await?;
    let node = PgNode { name: name.to_owned(), port, data_dir: dir.to_owned(), process };
    // Accepting TCP is not accepting queries yet ("the database system is starting up").
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        match node.connect().await {
            Ok(c) => {
                let _ = c.close().await;
                return Ok(node);
            }
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates the service's database on a primary.
pub async fn create_database(node: &PgNode) -> Result<(), TopologyError> {
    let mut c = node.connect().await?;
    sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut c)
        .await
        .map_err(|e| pg_error(&node.name, "creating the database", e))?;
    Ok(())
}

/// Makes `standby` the primary's synchronous standby. Set with ALTER SYSTEM on the primary
/// only, after the base backups: a copied setting would make a promoted standby wait for a
/// synchronous standby it does not have.
pub async fn make_synchronous(primary: &PgNode, standby: &str) -> Result<(), TopologyError> {
    let mut c = primary.connect().await?;
    for sql in [format!("ALTER SYSTEM SET synchronous_standby_names = '\"{standby}\"'"), "SELECT pg_reload_conf()".to_owned()] {
        sqlx::query(&sql).execute(&mut c).await.map_err(|e| pg_error(&primary.name, "setting the synchronous standby", e))?;
    }
    // Wait until the primary counts it as synchronous.
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let state: Option<String> = sqlx::query_scalar("SELECT sync_state FROM pg_stat_replication WHERE application_name = $1")
            .bind(standby)
            .fetch_optional(&mut c)
            .await
            .map_err(|e| pg_error(&primary.name, "reading sync_state", e))?;
        if state.as_deref() == Some("sync") {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TopologyError::Postgres { what: primary.name.clone(), message: format!("{standby} is not synchronous (sync_state {state:?})") });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `primary`'s `pg_stat_replication` shows every one of `names` streaming.
pub async fn verify_streaming(primary: &PgNode, names: &[String]) -> Result<(), TopologyError> {
    if names.is_empty() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut c = primary.connect().await?;
    loop {
        let rows = sqlx::query("SELECT application_name, state FROM pg_stat_replication")
            .fetch_all(&mut c)
            .await
            .map_err(|e| pg_error(&primary.name, "reading pg_stat_replication", e))?;
        let streaming: Vec<String> =
            rows.iter().filter(|r| r.get::<Option<String>, _>(1).as_deref() == Some("streaming")).map(|r| r.get(0)).collect();
        let missing: Vec<&String> = names.iter().filter(|n| !streaming.contains(n)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TopologyError::Postgres {
                what: primary.name.clone(),
                message: format!("not streaming to {missing:?} after {START_TIMEOUT:?} (streaming: {streaming:?})"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
