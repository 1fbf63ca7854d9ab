//! Supervised child processes: each server of a topology runs in its own process group with
//! its output in a log file of the run directory, joins its box's cgroup before it execs (so
//! even its first fork is confined), and gets SIGKILL if this process dies (`setpriv
//! --pdeathsig`). Teardown sends the polite signal to the whole group, waits, then SIGKILLs
//! and waits again; [`Supervised`] does that on Drop too, so nothing outlives its owner.
//!
//! All spawns go through one long-lived thread: a parent-death signal fires when the *thread*
//! that forked the child exits, and runtime threads come and go.
//!
//! Every child carries its run's log directory in its environment ([`RUN_MARK`]), which its
//! own children inherit: how the sweep of a killed harness's run (`sweep.rs`) tells the run's
//! processes from anyone else's that merely name a file of it.

use std::{
    collections::HashSet,
    ffi::OsString,
    fs::File,
    io::{Read, Seek, SeekFrom},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, killpg, Signal},
    unistd::Pid,
};

use super::TopologyError;

/// The environment variable naming the log directory of the run a server belongs to.
pub const RUN_MARK: &str = "SCALELOOP_RUN_LOGS";

/// Run a child as another user (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Short name for messages (`pg-primary`, `app-2`, …).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// stdout and stderr go here (appended).
    pub log: PathBuf,
    pub run_as: Option<RunAs>,
    /// `cgroup.procs` files the child writes itself into before exec.
    pub cgroup_procs: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Variables not to pass on (e.g. the service's `SCALELOOP_*` overrides).
    pub env_remove: Vec<String>,
    /// Signal that asks the server to stop cleanly (PostgreSQL: SIGINT = fast shutdown).
    pub stop_signal: Signal,
}

impl Spec {
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>, log: PathBuf) -> Self {
        let mark = log.parent().map(|d| (RUN_MARK.to_owned(), d.to_string_lossy().into_owned()));
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            log,
            run_as: None,
            cgroup_procs: Vec::new(),
            env: mark.into_iter().collect(),
            env_remove: Vec::new(),
            stop_signal: Signal::SIGTERM,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command: `sh` joins the cgroups and execs `setpriv`, which sets the parent-death
    /// signal (and the user) and execs the program — all in one pid.
    fn command(&self) -> Command {
        const JOIN: &str =
            r#"n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@""#;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(JOIN).arg("sh").arg(self.cgroup_procs.len().to_string());
        cmd.args(&self.cgroup_procs);
        cmd.arg("setpriv").arg("--pdeathsig").arg("KILL");
        if let Some(who) = self.run_as {
            cmd.arg(format!("--reuid={}", who.uid)).arg(format!("--regid={}", who.gid)).arg("--init-groups");
        }
        cmd.arg("--").arg(&self.program).args(&self.args);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

type Request = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from the long-lived spawner thread (see the module comment).
fn spawn_from_stable_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("topology-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the topology spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    rx.recv().map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// A running child in its own process group.
#[derive(Debug)]
pub struct Supervised {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    stop_signal: Signal,
    done: bool,
}

impl Supervised {
    pub fn spawn(spec: &Spec) -> Result<Self, TopologyError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(|e| TopologyError::io(format!("opening log {}", spec.log.display()), e))?;
        let err_log = log.try_clone().map_err(|e| TopologyError::io("duplicating a log handle", e))?;
        let mut cmd = spec.command();
        cmd.stdin(Stdio::null()).stdout(log).stderr(err_log).process_group(0);
        let child = spawn_from_stable_thread(cmd)
            .map_err(|e| TopologyError::io(format!("starting {} ({})", spec.name, spec.program.display()), e))?;
        Ok(Self { name: spec.name.clone(), log: spec.log.clone(), child, stop_signal: spec.stop_signal, done: false })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Whether the leader is still running (reaps it when it has exited).
    pub fn is_running(&mut self) -> bool {
        !self.done && matches!(self.child.try_wait(), Ok(None))
    }

    /// The error for a child that died or never became ready, with the end of its log.
    pub fn failure(&self, what: &str) -> TopologyError {
        TopologyError::Start {
            what: format!("{} {what}", self.name),
            log: self.log.clone(),
            tail: log_tail(&self.log, 15),
        }
    }

    /// Polite signal to the group, up to `grace` to exit, then SIGKILL; always reaped.
    pub fn stop(&mut self, grace: Duration) {
        if self.done {
            return;
        }
        let _ = killpg(self.pgid(), self.stop_signal);
        // A paused server (the fault injector's SIGSTOP) acts on its signal only once resumed.
        let _ = killpg(self.pgid(), Signal::SIGCONT);
        if !self.wait_group(grace) {
            tracing::warn!(name = %self.name, "did not stop within {grace:?}; killing it");
            self.kill();
        }
        self.done = true;
    }

    /// Sends `signal` to the whole group without waiting (the fault injector's SIGSTOP and
    /// SIGCONT: a paused server keeps its sockets open and answers nothing).
    pub fn signal_group(&self, signal: Signal) {
        if !self.done {
            let _ = killpg(self.pgid(), signal);
        }
    }

    /// SIGKILL to the whole group (a box dying), then reap.
    pub fn kill(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        let _ = kill(self.pgid(), Signal::SIGKILL);
        let _ = self.wait_group(Duration::from_secs(10));
        self.done = true;
    }

    /// Waits for the leader to be reaped and the group to be empty.
    fn wait_group(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let leader_gone = !matches!(self.child.try_wait(), Ok(None));
            // ESRCH: no process left in the group (the leader was reaped above).
            if leader_gone && killpg(self.pgid(), None::<Signal>).is_err() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// The last `lines` lines of a log file (for error messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(8192)));
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a short command (initdb, pg_basebackup) to the end within `timeout`; output to `log`.
pub fn run_to_end(spec: &Spec, timeout: Duration) -> Result<(), TopologyError> {
    let mut child = Supervised::spawn(spec)?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.child.try_wait() {
            Ok(Some(status)) => {
                child.done = true;
                if status.success() {
                    return Ok(());
                }
                return Err(child.failure(&format!("exited with {status}")));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            _ => {
                child.kill();
                return Err(TopologyError::Timeout { what: spec.name.clone(), after: timeout, log: spec.log.clone() });
            }
        }
    }
}

/// A free loopback TCP port, never one already handed out by this process (tests run
/// topologies in parallel; the kernel may offer a just-released port again).
pub fn free_port() -> Result<u16, TopologyError> {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..64 {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| TopologyError::io("picking a free port", e))?;
        let port = listener.local_addr().map_err(|e| TopologyError::io("picking a free port", e))?.port();
        if handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(port) {
            return Ok(port);
        }
    }
    Err(TopologyError::io("picking a free port", std::io::Error::other("no fresh port after 64 tries")))
}

/// Waits until `127.0.0.1:port` accepts TCP connections; fails early if `proc` exits.
pub async fn wait_tcp(proc: &mut Supervised, port: u16, timeout: Duration) -> Result<(), TopologyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if !proc.is_running() {
            return Err(proc.failure("exited before accepting connections"));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TopologyError::Timeout {
                what: format!("{} to listen on port {port}", proc.name),
                after: timeout,
                log: proc.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether any live process's command line mentions `needle` (tests: nothing of a run's
/// directory may survive its teardown). Returns the matching pids and command lines.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && !is_zombie(pid) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Live processes whose environment has `RUN_MARK=logs` (reading another user's environment
/// takes root, as confining the boxes does).
pub fn processes_marked(logs: &Path) -> Vec<u32> {
    let wanted = format!("{RUN_MARK}={}", logs.display());
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id())
        .filter(|&pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|&b| b == 0).any(|var| var == wanted.as_bytes()) && !is_zombie(pid)
        })
        .collect()
}

/// Whether `pid` is alive (a zombie counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// When `pid` started, in clock ticks since boot (`/proc/<pid>/stat` field 22): with the
/// pid, it names one process for good, since a pid is reused only by a later process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}
