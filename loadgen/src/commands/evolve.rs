//! `loadgen evolve`: the scaling loop, stage after stage, on launched stages.

use super::runtime;
use crate::cli::EvolveArgs;
use crate::{Exit, Scenario};

pub fn evolve_command(args: EvolveArgs) -> Exit {
    let scenario = match Scenario::find(&args.scenario, &args.scenarios_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loadgen evolve: {e}");
            return Exit::BadInput;
        }
    };
    // The seed's ten million users (40,400 req/s on average) at the scenario's peak.
    let target_rate = args.target_rate.unwrap_or_else(|| crate::evolve::seed_target_rate(&scenario));
    if !(target_rate > 0.0 && args.start_rate > 0.0) {
        eprintln!("loadgen evolve: --target-rate and --start-rate must be positive");
        return Exit::BadInput;
    }
    let options = crate::evolve::EvolveOptions {
        scenario,
        from: args.from,
        profiles_dir: args.profiles_dir,
        target_rate,
        start_rate: args.start_rate,
        step: args.step,
        max_steps: args.max_steps,
        max_stages: args.max_stages,
        reports_dir: args.reports_dir,
        run_id: args.run_id,
    };
    let runtime = match runtime::generator() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen evolve: starting the runtime: {e}");
            return Exit::Failure;
        }
    };
    // Every stage of the loop shares the same generator box (the first stage's share; the
    // budget test holds every profile to the same one).
    let _generator_box =
        super::run::enter_generator_box(&crate::topology::profile_path(&options.from, &options.profiles_dir));
    // Ctrl-C drops the loop, and with it the stage that is up: its teardown stops every
    // server and removes every box.
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = crate::evolve::evolve(options) => Some(r),
            () = interrupted => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!("loadgen evolve: interrupted; the stage's servers were stopped");
        return Exit::Failure;
    };
    match outcome {
        Ok(report) => {
            println!("{}", crate::evolve::report::terminal_text(&report.summary, &report.dir));
            if report.summary.target_met {
                Exit::Ok
            } else {
                Exit::SloBreached
            }
        }
        Err(e) => {
            eprintln!("loadgen evolve: {e}");
            Exit::Failure
        }
    }
}
