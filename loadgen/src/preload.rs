//! `loadgen preload`: a distributed run's corpus, written once as a step of its own (a Job
//! that runs before the workers, or the first command on one of N hosts): the scenario's
//! preload items written to the target as a single run writes them, and their ids saved for
//! every worker's `--corpus FILE`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::default_dir;
use crate::distributed::corpus::CorpusFile;
use crate::requests::ApiUrls;
use crate::{Exit, Scenario};

#[derive(Debug, Args)]
pub struct PreloadArgs {
    /// Scenario (name or .toml path): its seed and `keys.preload` say what is written.
    #[arg(long, short = 's')]
    pub scenario: String,
    #[arg(long, default_value_os_t = default_dir("scenarios"))]
    pub scenarios_dir: PathBuf,
    /// Override the scenario's seed (as the workers' --seed must, then).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Base URL of the target the workers will drive.
    #[arg(long, short = 't', value_name = "URL")]
    pub target: String,
    /// Where to write the corpus file (must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub corpus: PathBuf,
}

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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen preload: starting the runtime: {e}");
            return Exit::Failure;
        }
    };
    let written = runtime.block_on(async {
        let client = crate::run::http_client().map_err(|e| (Exit::Failure, e.to_string()))?;
        crate::run::preload(&client, &api, &scenario).await.map_err(|e| (Exit::TargetUnreachable, e.to_string()))
    });
    let ids = match written {
        Ok(ids) => ids,
        Err((exit, e)) => {
            eprintln!("loadgen preload: {}", crate::redact::secrets(&e));
            return exit;
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
    Exit::Ok
}
