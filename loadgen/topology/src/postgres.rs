//! Private PostgreSQL clusters from the newest `/usr/lib/postgresql/*/bin`: a primary made
//! by `initdb`, standbys and read replicas by `pg_basebackup -R -X stream` with a replication
//! slot each, all listening on 127.0.0.1 on free ports with their data in the run directory.
//!
//! PostgreSQL refuses to run as root, so when we are root every PostgreSQL program runs as
//! the `postgres` user and the cluster directory is owned by it. `fsync` stays on: an
//! acknowledged write must survive a crash (the failover test checks it does).
//!
//! Authentication: every TCP connection, replication included, needs the run's generated
//! password (`scram-sha-256` in `pg_hba.conf`, no `trust` line). initdb reads it from a
//! `--pwfile`, removed once it ran; pg_basebackup and the standbys' WAL receivers read it
//! from the run's pgpass file (`passfile=` in `primary_conninfo`), so it is in no command
//! line and no replication setting. Both files are mode 0600 in the clusters' 0700
//! directory. The Unix socket is off (`unix_socket_directories = ''`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use nix::sys::signal::Signal;
use sqlx::{Connection, Row};

use super::{
    process::{self, RunAs, Spec, Supervised},
    secure::{self, Secret},
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
    /// Where the clusters live: mode 0700, owned by the user they run as.
    pub root: PathBuf,
    /// The `postgres` superuser's password, which the standbys replicate with too.
    pub password: Secret,
}

impl PgSettings {
    /// The run's pgpass file.
    pub fn passfile(&self) -> PathBuf {
        self.root.join("pgpass")
    }
}

/// The client authentication of every cluster: the password over TCP, for sessions and
/// replication alike; the (disabled) Unix socket as the OS user, for completeness.
const PG_HBA: &str = "# scaleloop topology launcher: a password for every TCP connection, no trust\n\
    local all all peer\n\
    host all all 127.0.0.1/32 scram-sha-256\n\
    host all all ::1/128 scram-sha-256\n\
    host replication all 127.0.0.1/32 scram-sha-256\n\
    host replication all ::1/128 scram-sha-256\n";

/// Writes the run's pgpass file (see the module comment); once per run, before any cluster.
pub fn write_passfile(settings: &PgSettings) -> Result<(), TopologyError> {
    let line = format!("127.0.0.1:*:*:postgres:{}\n", settings.password.expose());
    secure::write_secret_file(&settings.passfile(), &line, settings.run_as)
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
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(TopologyError::MissingBinary { program: "initdb (PostgreSQL)", package: "postgresql" })
}

/// A running cluster.
#[derive(Debug)]
pub struct PgNode {
    /// `pg-primary`, `pg-standby`, `pg-replica-1`, `pg-shard-0`, …
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub process: Supervised,
    password: Secret,
    passfile: PathBuf,
}

impl PgNode {
    /// URL of the service's database on this cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres:{}@127.0.0.1:{}/{DATABASE}", self.password.expose(), self.port)
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres:{}@127.0.0.1:{}/postgres", self.password.expose(), self.port)
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
            return Err(TopologyError::Postgres {
                what: self.name.clone(),
                message: "pg_promote() did not finish within 60 s".into(),
            });
        }
        Ok(())
    }

    /// Creates on this (new) primary the replication slot `follower` streams through: slots
    /// are not copied to a standby, so after a failover a replica's `primary_slot_name`
    /// names a slot the promoted standby does not have, and it would not stream at all. An
    /// existing slot of that name is kept.
    pub async fn create_slot_for(&self, follower: &str) -> Result<(), TopologyError> {
        let mut c = self.connect().await?;
        sqlx::query("SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)")
            .bind(slot_name(follower))
            .execute(&mut c)
            .await
            .map_err(|e| pg_error(&self.name, "creating a replication slot", e))?;
        Ok(())
    }

    /// Points a replica at a new upstream (after a failover); the replica follows the new
    /// timeline (`recovery_target_timeline = latest` is the default).
    pub async fn follow(&self, upstream_port: u16) -> Result<(), TopologyError> {
        let mut c = self.connect().await?;
        let info = conninfo(upstream_port, &self.name, &self.passfile);
        for sql in
            [format!("ALTER SYSTEM SET primary_conninfo = {}", quote(&info)), "SELECT pg_reload_conf()".to_owned()]
        {
            sqlx::query(&sql).execute(&mut c).await.map_err(|e| pg_error(&self.name, "re-pointing", e))?;
        }
        Ok(())
    }
}

fn pg_error(what: &str, action: &str, e: sqlx::Error) -> TopologyError {
    TopologyError::Postgres { what: what.to_owned(), message: format!("{action}: {e}") }
}

/// A standby's connection to its upstream: the password comes from the pgpass file.
fn conninfo(port: u16, application_name: &str, passfile: &Path) -> String {
    // libpq quotes a conninfo value in single quotes, escaping `\` and `'` with `\`.
    let file = passfile.to_string_lossy().replace('\\', "\\\\").replace('\'', "\\'");
    format!("host=127.0.0.1 port={port} user=postgres passfile='{file}' application_name={application_name}")
}

/// `text` as a single-quoted string of the configuration files and of SQL (quotes doubled).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn tool(settings: &PgSettings, name: &str, program: &str, log: &Path) -> Spec {
    let mut spec = Spec::new(name, settings.bin.join(program), log.to_owned());
    spec.run_as = settings.run_as;
    spec
}

/// `initdb` a new primary in `dir` (inside `settings.root`; must not exist yet), with
/// replication enabled and password authentication.
pub fn init_primary(settings: &PgSettings, name: &str, dir: &Path, logs: &Path) -> Result<(), TopologyError> {
    let log = logs.join(format!("{name}.initdb.log"));
    let pwfile = settings.root.join(format!(".{name}.pwfile"));
    secure::write_secret_file(&pwfile, &format!("{}\n", settings.password.expose()), settings.run_as)?;
    // --no-sync: a scratch cluster; only initdb's own final flush is skipped, the server
    // itself runs with fsync on.
    let spec = tool(settings, &format!("{name} initdb"), "initdb", &log)
        .arg("-D")
        .arg(dir)
        .args([
            "-U",
            "postgres",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    let ran = process::run_to_end(&spec, Duration::from_secs(120));
    let _ = std::fs::remove_file(&pwfile);
    ran?;
    // initdb's own file has `trust` lines for replication over TCP; this one has none. The
    // standbys get it with their base backup.
    let hba = dir.join("pg_hba.conf");
    std::fs::write(&hba, PG_HBA).map_err(|e| TopologyError::io(format!("writing {}", hba.display()), e))?;
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
pub fn base_backup(
    settings: &PgSettings,
    name: &str,
    primary_port: u16,
    dir: &Path,
    logs: &Path,
) -> Result<(), TopologyError> {
    let slot = slot_name(name);
    let log = logs.join(format!("{name}.basebackup.log"));
    let mut spec = tool(settings, &format!("{name} pg_basebackup"), "pg_basebackup", &log)
        .args(["-h", "127.0.0.1", "-p", &primary_port.to_string(), "-U", "postgres", "--no-password", "-D"])
        .arg(dir)
        .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync", "-C", "-S", &slot]);
    spec.env.push(("PGPASSFILE".into(), settings.passfile().to_string_lossy().into_owned()));
    process::run_to_end(&spec, Duration::from_secs(120))?;
    // -R wrote standby.signal and a primary_conninfo; this one names the standby so that
    // pg_stat_replication on the primary can be matched to it (the last setting wins).
    let info = conninfo(primary_port, name, &settings.passfile());
    append(&dir.join("postgresql.auto.conf"), &format!("primary_conninfo = {}\n", quote(&info)))
}

/// The replication slot of follower `name` (slot names take no `-`).
fn slot_name(name: &str) -> String {
    name.replace('-', "_")
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
    let mut spec = tool(settings, name, "postgres", &logs.join(format!("{name}.log"))).arg("-D").arg(dir).args([
        "-p",
        &port.to_string(),
        "-c",
        &format!("cluster_name={name}"),
    ]);
    spec.cgroup_procs = cgroup_procs;
    // SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit.
    spec.stop_signal = Signal::SIGINT;
    let mut process = Supervised::spawn(&spec)?;
    process::wait_tcp(&mut process, port, START_TIMEOUT).await?;
    let node = PgNode {
        name: name.to_owned(),
        port,
        data_dir: dir.to_owned(),
        process,
        password: settings.password.clone(),
        passfile: settings.passfile(),
    };
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
    for sql in
        [format!("ALTER SYSTEM SET synchronous_standby_names = '\"{standby}\"'"), "SELECT pg_reload_conf()".to_owned()]
    {
        sqlx::query(&sql)
            .execute(&mut c)
            .await
            .map_err(|e| pg_error(&primary.name, "setting the synchronous standby", e))?;
    }
    // Wait until the primary counts it as synchronous.
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let state: Option<String> =
            sqlx::query_scalar("SELECT sync_state FROM pg_stat_replication WHERE application_name = $1")
                .bind(standby)
                .fetch_optional(&mut c)
                .await
                .map_err(|e| pg_error(&primary.name, "reading sync_state", e))?;
        if state.as_deref() == Some("sync") {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TopologyError::Postgres {
                what: primary.name.clone(),
                message: format!("{standby} is not synchronous (sync_state {state:?})"),
            });
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
        let streaming: Vec<String> = rows
            .iter()
            .filter(|r| r.get::<Option<String>, _>(1).as_deref() == Some("streaming"))
            .map(|r| r.get(0))
            .collect();
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
