//! `loadgen preload`: a distributed run's corpus, written once as a step of its own (a Job
//! that runs before the workers, or the first command on one of N hosts): the scenario's
//! preload items written to the target as a single run writes them, and their ids saved for
//! every worker's `--corpus FILE`; it ends once the jobs those writes queued are done (at most
//! four minutes), so the workers' measured part does not start on them.

use crate::cli::PreloadArgs;
use crate::distributed::corpus::CorpusFile;
use crate::requests::ApiUrls;
use crate::target::drain::{wait_for_preload_jobs, MAX_DRAIN};
use crate::{Exit, Scenario};

/// Runs `loadgen preload`: 0 written, 2 bad input, 3 the target could not be preloaded.
pub fn preload_command(args: &PreloadArgs) -> Exit {
    let scenario = match Scenario::find(&args.scenario, &args.scenarios_dir) {
        Ok(s) => s.with_overrides(None, None, args.seed),
        Err(e) => {
            eprintln!("loadgen preload: {e}");
            return Exit::BadInput;
        }
    };
    if args.corpus.exists() {
        eprintln!(
            "loadgen preload: --corpus {} already exists: remove it, or let the workers use it as it is",
            args.corpus.display()
        );
        return Exit::BadInput;
    }
    let api = match ApiUrls::new(&args.target) {
        Ok(api) => api.with_max_response_bytes(scenario.generator.max_response_bytes),
        Err(e) => {
            eprintln!("loadgen preload: --target {}: {e}", crate::redact::secrets(&args.target));
            return Exit::BadInput;
        }
    };
    let runtime = match super::runtime::plain() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen preload: starting the runtime: {e}");
            return Exit::Failure;
        }
    };
    let client = match crate::run::http_client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen preload: {e}");
            return Exit::Failure;
        }
    };
    let written = runtime.block_on(crate::target::corpus::preload(&client, &api, &scenario));
    let ids = match written {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("loadgen preload: {}", crate::redact::secrets(&e.to_string()));
            return Exit::TargetUnreachable;
        }
    };
    let file = CorpusFile::new(&scenario, &crate::redact::secrets(&args.target), ids);
    if let Err(e) = file.write(&args.corpus) {
        eprintln!("loadgen preload: {e}");
        return Exit::Failure;
    }
    println!(
        "corpus of {} ({} ids, seed {}) written to {}",
        scenario.name,
        file.ids.len(),
        scenario.seed,
        args.corpus.display()
    );
    // The workers start after this step: the jobs the preload queued are done before they do.
    runtime.block_on(wait_for_preload_jobs(&client, &args.target, MAX_DRAIN));
    Exit::Ok
}
