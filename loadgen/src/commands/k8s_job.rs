//! `loadgen k8s-job`: a distributed run's Kubernetes manifests, rendered with the start time
//! filled in (see `crate::distributed::k8s`).

use crate::distributed::k8s::{render, K8sJobArgs};
use crate::Exit;

/// Runs `loadgen k8s-job`: 0 rendered, 2 bad input, 1 the file could not be written.
pub fn k8s_job_command(args: &K8sJobArgs) -> Exit {
    let text = match render(args, chrono::Utc::now()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("loadgen k8s-job: {e}");
            return Exit::BadInput;
        }
    };
    match &args.out {
        None => print!("{text}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("loadgen k8s-job: writing {}: {e}", path.display());
                return Exit::Failure;
            }
            eprintln!("manifests written: {}", path.display());
        }
    }
    Exit::Ok
}
