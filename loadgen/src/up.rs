//! `loadgen up --profile NAME`: bring a stage up on real servers, say where it is and what
//! runs in which box, wait for Ctrl-C (or SIGTERM), tear it down.

use crate::cli::UpArgs;
use crate::topology::{Deployment, Topology, TopologyError, TopologyOptions};
use crate::Exit;

/// Runs `loadgen up`: 0 after a clean teardown, 2 for a bad profile, 3 when the stage could
/// not be brought up (a missing server program, a server that would not start).
pub fn up_command(args: &UpArgs) -> Exit {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen up: cannot start a runtime: {e}");
            return Exit::Failure;
        }
    };
    let temp = match &args.run_dir {
        Some(_) => None,
        None => match tempfile::Builder::new().prefix("loadgen-up-").tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("loadgen up: cannot create a run directory: {e}");
                return Exit::Failure;
            }
        },
    };
    let run_dir = args.run_dir.clone().unwrap_or_else(|| temp.as_ref().map(|t| t.path().to_owned()).unwrap_or_default());
    let exit = runtime.block_on(async {
        let options = match TopologyOptions::new(&run_dir) {
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
        eprintln!("bringing up {} in {} …", profile.name, run_dir.display());
        // Ctrl-C while servers are starting drops the half-built deployment: its teardown
        // stops whatever had started.
        let mut deployment = tokio::select! {
            d = Topology::up(profile, options) => match d {
                Ok(d) => d,
                Err(e) => return report_error(&e),
            },
            _ = stop_requested() => {
                eprintln!("interrupted during bring-up; stopped what had started");
                return Exit::Failure;
            }
        };
        print_deployment(&deployment);
        println!("press Ctrl-C to tear the stage down");
        stop_requested().await;
        eprintln!("tearing down …");
        let started = std::time::Instant::now();
        let _ = tokio::task::spawn_blocking(move || deployment.down()).await;
        eprintln!("stopped in {:.1} s", started.elapsed().as_secs_f64());
        Exit::Ok
    });
    if args.run_dir.is_some() {
        eprintln!("logs kept in {}", run_dir.join("logs").display());
    }
    drop(temp);
    exit
}

fn report_error(e: &TopologyError) -> Exit {
    eprintln!("loadgen up: {e}");
    match e {
        TopologyError::Profile(_) | TopologyError::Unsupported { .. } => Exit::BadInput,
        _ => Exit::TargetUnreachable,
    }
}

/// Prints the base URL and one line per box.
pub fn print_deployment(d: &Deployment) {
    println!("stage {} ({}) is up", d.profile.name, d.profile.stage);
    println!("base URL: {}", d.base_url);
    if let Some(lb) = d.haproxy() {
        println!("HAProxy stats: http://127.0.0.1:{}/stats  (CSV: /stats;csv)  admin socket {}", lb.stats_port, lb.socket.display());
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
        println!("  PostgreSQL {:<14} {}", node.name, node.url());
    }
    if let Some(url) = &d.endpoints().redis_url {
        println!("  Redis      {url}");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_requested() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    // Once installed, tokio's handler stays: a second Ctrl-C during teardown does not kill
    // this process half-way through stopping the servers.
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
