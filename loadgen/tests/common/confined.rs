//! A private `redis-server` on a free loopback port, placed in a cgroup with a small CPU
//! quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`): the cache tier made the bottleneck for real.
//! Dropping it kills the server and removes the cgroup.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ConfinedRedis {
    pub url: String,
    child: Child,
    cgroup: PathBuf,
    _dir: tempfile::TempDir,
}

/// Why a confined server could not be had (the caller skips locally, fails in CI).
pub fn unavailable(what: &str) -> Option<ConfinedRedis> {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{what} and CI=true: failing rather than skipping");
    eprintln!("SKIPPED: {what}");
    None
}

impl ConfinedRedis {
    /// Starts Redis limited to `cores` of CPU (e.g. 0.03).
    pub fn start(cores: f64) -> Option<Self> {
        let name = format!("scaleloop-test-redis-{}-{:08x}", std::process::id(), rand::random::<u32>());
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let cgroup = if v2 {
            PathBuf::from("/sys/fs/cgroup").join(&name)
        } else {
            PathBuf::from("/sys/fs/cgroup/cpu").join(&name)
        };
        if std::fs::create_dir(&cgroup).is_err() {
            return unavailable("cannot create a CPU cgroup (needs root and a writable /sys/fs/cgroup)");
        }
        let period = 100_000u64;
        let quota = ((cores * period as f64) as u64).max(1000);
        let limited = if v2 {
            std::fs::write(cgroup.join("cpu.max"), format!("{quota} {period}"))
        } else {
            std::fs::write(cgroup.join("cpu.cfs_period_us"), period.to_string())
                .and_then(|()| std::fs::write(cgroup.join("cpu.cfs_quota_us"), quota.to_string()))
        };
        if let Err(e) = limited {
            let _ = std::fs::remove_dir(&cgroup);
            return unavailable(&format!("cannot set a CPU quota: {e}"));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let dir = tempfile::tempdir().ok()?;
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir(&cgroup);
                return unavailable(&format!(
                    "redis-server cannot start ({e}); install the Debian package redis-server"
                ));
            }
        };
        let me = Self { url: format!("redis://127.0.0.1:{port}"), child, cgroup, _dir: dir };
        std::fs::write(me.cgroup.join("cgroup.procs"), me.child.id().to_string())
            .expect("moving redis-server into its cgroup");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(me)
    }
}

impl Drop for ConfinedRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The cgroup can be removed once it has no processes left.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
