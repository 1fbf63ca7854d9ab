//! A private `redis-server` on a free loopback port: the cache, and the Redis Streams job
//! queue in the stages that use one.
//!
//! Persistence is off (`--save "" --appendonly no`). For the cache that is the point of a
//! cache; for the queue it is safe because the job table in PostgreSQL is the durable outbox
//! (`service/src/queue/redis_streams.rs`): a job whose stream entry was lost is re-published
//! when its lease runs out.
//!
//! Access: bound to 127.0.0.1 with `protected-mode yes` and a generated `requirepass`. The
//! password is in the config file (mode 0600 in the 0700 run directory) that redis-server
//! reads first, not on its command line, where any local user could read it.

use std::{path::Path, path::PathBuf, time::Duration};

use super::{
    process::{self, Spec, Supervised},
    secure::{self, Secret},
    TopologyError,
};

/// A running Redis.
#[derive(Debug)]
pub struct RedisNode {
    pub port: u16,
    pub process: Supervised,
    password: Secret,
}

impl RedisNode {
    /// The URL with the password (`redis://:PASSWORD@127.0.0.1:PORT/0`).
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/0", self.password.expose(), self.port)
    }

    /// The password it requires (to start it again with the same one).
    pub(crate) fn password(&self) -> &Secret {
        &self.password
    }
}

/// The `redis-server` program, or the message naming its package.
pub fn find_bin() -> Result<PathBuf, TopologyError> {
    super::which("redis-server")
        .ok_or(TopologyError::MissingBinary { program: "redis-server", package: "redis-server" })
}

/// Starts Redis in `dir` (its working directory) inside the box's cgroup, requiring
/// `password`; waits for PONG.
pub async fn start(
    bin: &Path,
    dir: &Path,
    password: &Secret,
    cgroup_procs: Vec<PathBuf>,
    logs: &Path,
    max_memory_mib: Option<u64>,
) -> Result<RedisNode, TopologyError> {
    start_on(bin, dir, password, cgroup_procs, logs, max_memory_mib, process::free_port()?).await
}

/// [`start`] on a given port: a Redis started again after a fault takes its old port, which
/// every service instance's URL names.
pub async fn start_on(
    bin: &Path,
    dir: &Path,
    password: &Secret,
    cgroup_procs: Vec<PathBuf>,
    logs: &Path,
    max_memory_mib: Option<u64>,
    port: u16,
) -> Result<RedisNode, TopologyError> {
    std::fs::create_dir_all(dir).map_err(|e| TopologyError::io(format!("creating {}", dir.display()), e))?;
    let conf = dir.join("redis.conf");
    secure::replace_secret_file(
        &conf,
        &format!("# scaleloop topology launcher\nrequirepass {}\nprotected-mode yes\n", password.expose()),
    )?;
    let mut spec = Spec::new("redis", bin, logs.join("redis.log"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--dir"])
        .arg(dir);
    if let Some(mib) = max_memory_mib {
        // Evict before the box's memory limit is reached (keys carry TTLs; the queue's
        // stream has none and is never evicted by volatile-lru).
        let max = mib.saturating_mul(3) / 4;
        spec = spec.args(["--maxmemory", &format!("{max}mb"), "--maxmemory-policy", "volatile-lru"]);
    }
    spec.cgroup_procs = cgroup_procs;
    let mut process = Supervised::spawn(&spec)?;
    process::wait_tcp(&mut process, port, Duration::from_secs(20)).await?;
    let node = RedisNode { port, process, password: password.clone() };
    let client = redis::Client::open(node.url().as_str()).map_err(|e| TopologyError::Redis(e.to_string()))?;
    let mut conn = client.get_multiplexed_async_connection().await.map_err(|e| TopologyError::Redis(e.to_string()))?;
    let pong: String =
        redis::cmd("PING").query_async(&mut conn).await.map_err(|e| TopologyError::Redis(e.to_string()))?;
    if pong != "PONG" {
        return Err(TopologyError::Redis(format!("PING answered {pong:?}")));
    }
    Ok(node)
}
