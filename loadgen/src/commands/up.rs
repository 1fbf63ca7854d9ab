//! `loadgen up --profile NAME`: bring a stage up on real servers, say where it is and what
//! runs in which box, wait for Ctrl-C (or SIGTERM), tear it down.

use crate::cli::UpArgs;
use crate::topology::{Deployment, Topology, TopologyError, TopologyOptions};
use crate::Exit;

/// Runs `loadgen up`: 0 after a clean teardown, 2 for a bad profile, 3 when the stage could
/// not be brought up (a missing server program, a server that would not start).
pub fn up_command(args: &UpArgs) -> Exit {
    let runtime = match super::runtime::plain() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen up: cannot start a runtime: {e}");
            return Exit::Failure;
        }
    };
    let exit = runtime.block_on(async {
        let mut stop = StopSignals::new();
        // `--run-dir` is created fresh and kept (a path that exists is refused); without it
        // the launcher makes a private temporary one and removes it at teardown.
        let options = match &args.run_dir {
            Some(dir) => TopologyOptions::new(dir),
            None => TopologyOptions::temporary(),
        };
        let options = match options {
            Ok(o) => o,
            Err(e) => return report_error(&e),
        };
        let path = crate::topology::profile_path(&args.profile, &args.profiles_dir);
        let profile = match service::config::Profile::load(&path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("loadgen up: {e}");
                return Exit::BadInput;
            }
        };
        eprintln!("bringing up {} …", profile.name);
        // Ctrl-C while servers are starting drops the half-built deployment: its teardown
        // stops whatever had started.
        let mut deployment = tokio::select! {
            d = Topology::up(profile, options) => match d {
                Ok(d) => d,
                Err(e) => return report_error(&e),
            },
            () = stop.recv() => {
                eprintln!("interrupted during bring-up; stopped what had started");
                return Exit::Failure;
            }
        };
        print_deployment(&deployment);
        println!("press Ctrl-C to tear the stage down");
        stop.recv().await;
        eprintln!("tearing down …");
        let started = std::time::Instant::now();
        let _ = tokio::task::spawn_blocking(move || deployment.down()).await;
        eprintln!("stopped in {:.1} s", started.elapsed().as_secs_f64());
        Exit::Ok
    });
    if let Some(dir) = &args.run_dir {
        // Not for bad input: a refused --run-dir is someone else's directory, not our logs.
        if exit != Exit::BadInput {
            eprintln!("logs kept in {}", dir.join("logs").display());
        }
    }
    exit
}

fn report_error(e: &TopologyError) -> Exit {
    eprintln!("loadgen up: {}", crate::redact::secrets(&e.to_string()));
    match e {
        TopologyError::Profile(_) | TopologyError::Unsupported { .. } | TopologyError::RunDirExists { .. } => {
            Exit::BadInput
        }
        _ => Exit::TargetUnreachable,
    }
}

/// Prints the base URL, the run directory and one line per box; the servers' URLs with their
/// passwords redacted (they are in the instance profiles under the run directory).
pub fn print_deployment(d: &Deployment) {
    println!("stage {} ({}) is up", d.profile.name, d.profile.stage);
    println!("base URL: {}", d.base_url);
    println!("run directory: {}", d.run_dir.display());
    if let Some(lb) = d.haproxy() {
        println!(
            "HAProxy stats: http://127.0.0.1:{}/stats  (CSV: /stats;csv)  admin socket {}",
            lb.stats_port,
            lb.socket.display()
        );
    }
    match d.cgroup_dir() {
        Some(dir) => println!("boxes (cgroups under {}):", dir.display()),
        None => println!("boxes (unconfined):"),
    }
    for b in d.boxes() {
        let cpus = b.cpus.map_or_else(|| "no CPU quota".to_owned(), |c| format!("{c} CPU"));
        let mem = b.memory_mib.map_or_else(String::new, |m| format!(", {m} MiB"));
        println!("  {:<11} {:<14} {cpus}{mem}  pids {:?}", b.tier, b.name, b.pids);
    }
    for node in d.pg_nodes() {
        println!("  PostgreSQL {:<14} {}", node.name, crate::redact::secrets(&node.url()));
    }
    if let Some(url) = &d.endpoints().redis_url {
        println!("  Redis      {}", crate::redact::secrets(url));
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from creation on: a signal that arrives while
/// nothing awaits it (between the bring-up and the "press Ctrl-C" wait) is kept for the next
/// [`Self::recv`], not lost. Once installed, tokio's handler stays: a second Ctrl-C during
/// teardown does not kill this process half-way through stopping the servers.
struct StopSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Self { interrupt: signal(SignalKind::interrupt()).ok(), terminate: signal(SignalKind::terminate()).ok() }
    }

    /// Resolves on the next Ctrl-C or SIGTERM (never, for one that could not be listened to).
    async fn recv(&mut self) {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = next(&mut self.interrupt) => {}
            () = next(&mut self.terminate) => {}
        }
    }
}
