//! Typed service configuration, read from a deployment profile (`profiles/*.toml`).
//!
//! A profile is one scaling stage. The service reads the backend sections; the harness also
//! reads the `[[boxes]]` topology of the same file. Every struct rejects unknown keys so a typo
//! in a profile is an error naming the field, never a silently ignored setting.
//! Precedence is CLI > environment > file > default; the CLI/env layer is applied by
//! [`ServiceConfig::apply_overrides`].

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

pub mod topology;
pub use topology::{AutoscalingConfig, ScalingMetric, SynchronousCommit, TopologyConfig};

/// Errors reading or validating a profile.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read profile {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid profile {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid profile {path}: {field}: {reason}")]
    Invalid { path: PathBuf, field: &'static str, reason: String },
}

/// A whole deployment profile: identity, the service's backends, and the topology of boxes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name, e.g. `single-box`.
    pub name: String,
    /// The seed's stage this profile realises (`start`, `users-plus`, …).
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub service: ServiceConfig,
    /// Boxes of the topology (used by the harness's launcher; the service ignores them).
    #[serde(default)]
    pub boxes: Vec<BoxSpec>,
    /// How the launcher lays the stage out (the service ignores it).
    #[serde(default)]
    pub topology: TopologyConfig,
}

/// One "box": a set of processes of one tier sharing a CPU quota.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoxSpec {
    /// Tier name: `app`, `db`, `cache`, `lb`, `worker`, …
    pub tier: String,
    /// How many such boxes.
    #[serde(default = "one")]
    pub count: u32,
    /// CPU quota in cores (e.g. 0.5 = half a core); absent = unconfined.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory limit in MiB; absent = unlimited.
    #[serde(default)]
    pub memory_mib: Option<u64>,
}

fn one() -> u32 {
    1
}

/// Everything the service process needs to run.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Directory that relative paths (SQLite file, local object store) resolve against.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub object_store: ObjectStoreConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    pub listen: SocketAddr,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Requests served concurrently before new ones are shed with 503. A request holds its
    /// place only while the handler works, not while its body is still arriving.
    pub max_in_flight: usize,
    /// Longest a request may take before it is answered 503 (the handler's work, once the
    /// request has arrived whole).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Open connections; past this a new connection is answered 503 and closed at once. Keep
    /// it above `max_in_flight`: slow clients then hold connections, not handler places.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head within this is closed (slow or
    /// stalled clients; also bounds how long an idle keep-alive connection stays open).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A request body not received whole within this is answered 408 and its connection closed.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Readiness is probed at most this often, however often `/healthz` and `/metrics` are
    /// asked (so they cannot tie up the backends' pools); also the breakers' cooldown floor.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// Test knob: CPU burnt per API request, to inject an app-tier bottleneck.
    #[serde(with = "humantime_serde")]
    pub extra_cpu_per_request: Duration,
    /// Test knob: extra database reads per GET (doubles query count when 1).
    pub extra_queries_per_read: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            max_in_flight: 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_millis(500),
            extra_cpu_per_request: Duration::ZERO,
            extra_queries_per_read: 0,
        }
    }
}

/// Database backend: embedded SQLite or PostgreSQL (primary + read replicas).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DatabaseConfig {
    Sqlite(SqliteConfig),
    Postgres(PostgresConfig),
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self::Sqlite(SqliteConfig::default())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// Database file, relative to the data directory.
    pub path: PathBuf,
    /// Reader connections (SQLite has one writer; writes use a dedicated connection).
    pub pool_size: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// `full` makes every acknowledged write survive power loss, `normal` only a process crash.
    pub synchronous: SqliteSync,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("scaleloop.db"),
            pool_size: 4,
            acquire_timeout: Duration::from_secs(5),
            synchronous: SqliteSync::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// The write primary.
    pub primary_url: String,
    /// Read replicas; reads go round-robin to these when present, else to the primary.
    pub replica_urls: Vec<String>,
    /// Connections per pool (primary and each replica).
    pub pool_size: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// `statement_timeout` set on every connection.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Shard primaries for `user_content`, routed by user_id (empty = not sharded).
    pub shard_urls: Vec<String>,
    /// A replica that failed gets no reads (they go to the primary) for this long, or until
    /// the readiness probe finds it answering again.
    #[serde(with = "humantime_serde")]
    pub replica_cooldown: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            primary_url: "postgres://postgres@127.0.0.1:5432/test".into(),
            replica_urls: Vec::new(),
            pool_size: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            shard_urls: Vec::new(),
            replica_cooldown: Duration::from_secs(5),
        }
    }
}

/// Cache tier for content by id (cache-aside).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CacheConfig {
    #[default]
    None,
    Memory(MemoryCacheConfig),
    Redis(RedisCacheConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryCacheConfig {
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Upper bound on cached bytes (entries are weighed by body size).
    pub max_bytes: u64,
}

impl Default for MemoryCacheConfig {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(300), max_bytes: 64 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisCacheConfig {
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Prefix of every key, so several deployments can share one server.
    pub key_prefix: String,
    /// Bodies larger than this are not cached.
    pub max_entry_bytes: usize,
    /// A cache call slower than this counts as a miss (the database answers instead).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// After a failed or timed-out call the cache is skipped (every read a miss) for this
    /// long, or until the readiness probe's PING succeeds: one timeout per cooldown, not per
    /// request.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
}

impl Default for RedisCacheConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".into(),
            ttl: Duration::from_secs(300),
            key_prefix: "scaleloop:content:".into(),
            max_entry_bytes: 256 * 1024,
            timeout: Duration::from_millis(250),
            breaker_cooldown: Duration::from_secs(1),
        }
    }
}

/// Where payloads live; rows only point at them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ObjectStoreConfig {
    Local(LocalStoreConfig),
    S3(S3StoreConfig),
}

impl Default for ObjectStoreConfig {
    fn default() -> Self {
        Self::Local(LocalStoreConfig::default())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalStoreConfig {
    /// Directory, relative to the data directory.
    pub path: PathBuf,
    /// Test knob: latency added to every object-store call (an injected slow store).
    #[serde(with = "humantime_serde")]
    pub extra_latency: Duration,
}

impl Default for LocalStoreConfig {
    fn default() -> Self {
        Self { path: PathBuf::from("objects"), extra_latency: Duration::ZERO }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct S3StoreConfig {
    pub bucket: String,
    /// Custom endpoint for S3-compatible stores (MinIO, moto); empty = AWS.
    pub endpoint: String,
    pub region: String,
    /// Allow plain-HTTP endpoints (local S3-compatible servers).
    pub allow_http: bool,
    /// Credentials come from the standard AWS environment variables.
    pub prefix: String,
}

/// Job queue carrying write post-processing to the workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub kind: QueueKind,
    /// Redis URL for `redis-streams`.
    pub url: String,
    pub stream: String,
    pub group: String,
    /// A taken job not finished within this is offered again.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            kind: QueueKind::Table,
            url: "redis://127.0.0.1:6379/0".into(),
            stream: "scaleloop:jobs".into(),
            group: "workers".into(),
            lease: Duration::from_secs(30),
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum QueueKind {
    /// The database job table is the queue (workers claim rows).
    Table,
    /// Redis Streams deliver jobs (consumer group, acks, pending re-claim); the job table
    /// stays the durable outbox so a lost message is re-published.
    RedisStreams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Run workers inside the API process.
    pub in_process: bool,
    /// Jobs processed concurrently per process.
    pub concurrency: usize,
    /// How long an idle worker waits before looking for jobs again.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Test knob: CPU burnt per job (a slow worker fleet).
    #[serde(with = "humantime_serde")]
    pub extra_cpu_per_job: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            in_process: true,
            concurrency: 2,
            poll_interval: Duration::from_millis(50),
            extra_cpu_per_job: Duration::ZERO,
        }
    }
}

impl Profile {
    /// Reads and validates a profile file; errors name the file, the field and the reason.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses profile text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        profile.service.validate(path)?;
        topology::validate(&profile.topology, &profile.boxes).map_err(|(field, reason)| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            reason,
        })?;
        Ok(profile)
    }
}

impl ServiceConfig {
    /// Checks the values serde cannot.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid =
            |field, reason: &str| ConfigError::Invalid { path: path.to_owned(), field, reason: reason.to_owned() };
        if self.http.max_in_flight == 0 {
            return Err(invalid("service.http.max_in_flight", "must be at least 1"));
        }
        if self.http.max_connections == 0 {
            return Err(invalid("service.http.max_connections", "must be at least 1"));
        }
        for (field, d) in [
            ("service.http.header_read_timeout", self.http.header_read_timeout),
            ("service.http.body_read_timeout", self.http.body_read_timeout),
            ("service.http.request_timeout", self.http.request_timeout),
            ("service.http.probe_interval", self.http.probe_interval),
        ] {
            if d.is_zero() {
                return Err(invalid(field, "must be more than zero"));
            }
        }
        if self.http.max_body_bytes < 64 {
            return Err(invalid("service.http.max_body_bytes", "must be at least 64"));
        }
        if self.worker.concurrency == 0 && self.worker.in_process {
            return Err(invalid("service.worker.concurrency", "must be at least 1"));
        }
        if self.queue.max_attempts == 0 {
            return Err(invalid("service.queue.max_attempts", "must be at least 1"));
        }
        match &self.database {
            DatabaseConfig::Sqlite(c) if c.pool_size == 0 => {
                return Err(invalid("service.database.pool_size", "must be at least 1"))
            }
            DatabaseConfig::Postgres(c) if c.pool_size == 0 => {
                return Err(invalid("service.database.pool_size", "must be at least 1"))
            }
            DatabaseConfig::Postgres(c) if c.primary_url.is_empty() => {
                return Err(invalid("service.database.primary_url", "must not be empty"))
            }
            _ => {}
        }
        if self.queue.kind == QueueKind::RedisStreams && self.database_is_sharded() {
            return Err(invalid(
                "service.queue.kind",
                "redis-streams with a sharded database is not supported; use table",
            ));
        }
        Ok(())
    }

    fn database_is_sharded(&self) -> bool {
        matches!(&self.database, DatabaseConfig::Postgres(c) if !c.shard_urls.is_empty())
    }

    /// The data directory (default `./data`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from("data"))
    }

    /// Resolves a profile path against the data directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.data_dir().join(path)
        }
    }

    /// Applies CLI/environment overrides (they win over the file).
    pub fn apply_overrides(&mut self, overrides: &Overrides) {
        if let Some(listen) = overrides.listen {
            self.http.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            self.data_dir = Some(dir.clone());
        }
        if let Some(url) = &overrides.database_url {
            if let DatabaseConfig::Postgres(pg) = &mut self.database {
                pg.primary_url = url.clone();
            }
        }
        if let Some(in_process) = overrides.in_process_worker {
            self.worker.in_process = in_process;
        }
    }
}

/// Values given on the command line or in the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub in_process_worker: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_profile_is_the_embedded_default() {
        let p = Profile::parse("name = \"x\"", Path::new("x.toml")).unwrap();
        assert!(matches!(p.service.database, DatabaseConfig::Sqlite(_)));
        assert!(matches!(p.service.cache, CacheConfig::None));
        assert!(matches!(p.service.object_store, ObjectStoreConfig::Local(_)));
        assert_eq!(p.service.queue.kind, QueueKind::Table);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let text = "name = \"x\"\n[service.http]\nmax_in_flite = 3\n";
        let err = Profile::parse(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(err.contains("p.toml"), "{err}");
        assert!(err.contains("max_in_flite"), "{err}");
    }

    #[test]
    fn unknown_keys_inside_tagged_backends_are_rejected() {
        let text = "name = \"x\"\n[service.cache]\nkind = \"memory\"\nttl = \"5s\"\nmax_byts = 3\n";
        let err = Profile::parse(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(err.contains("max_byts"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_field() {
        let text = "name = \"x\"\n[service.http]\nmax_in_flight = 0\n";
        let err = Profile::parse(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(err.contains("service.http.max_in_flight"), "{err}");
    }

    #[test]
    fn durations_are_human_readable() {
        let text = "name = \"x\"\n[service.cache]\nkind = \"redis\"\nttl = \"90s\"\n";
        let p = Profile::parse(text, Path::new("p.toml")).unwrap();
        match p.service.cache {
            CacheConfig::Redis(r) => assert_eq!(r.ttl, Duration::from_secs(90)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
