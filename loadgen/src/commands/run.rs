//! `loadgen --scenario NAME` (no subcommand): one run on the embedded single box, a launched
//! stage or a target URL, then (with `--cloudwatch`) the pull of its CloudWatch metrics.

use std::io::IsTerminal;

use anyhow::Context;

use super::{errors, runtime};
use crate::cli::RunArgs;
use crate::{Exit, RunOptions, Scenario, TargetChoice};

pub fn run_command(args: RunArgs) -> Exit {
    let Some(name) = args.scenario.as_deref() else {
        eprintln!(
            "loadgen: --scenario is required (one of: {})",
            crate::scenario::list_names(&args.scenarios_dir).join(", ")
        );
        return Exit::BadInput;
    };
    let scenario = match Scenario::find(name, &args.scenarios_dir) {
        Ok(mut s) => {
            if let Some(threads) = args.send_threads {
                s.generator.send_threads = threads;
            }
            s.with_overrides(args.rate, args.duration, args.seed)
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            return Exit::BadInput;
        }
    };
    if let Err((field, reason)) = scenario.validate() {
        eprintln!("loadgen: scenario {}: field `{field}`: {reason} (after command-line overrides)", scenario.name);
        return Exit::BadInput;
    }
    let cloudwatch = match crate::cloudwatch::command::options(&args.cloudwatch) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: --cloudwatch {e}");
            return Exit::BadInput;
        }
    };
    if cloudwatch.is_some() && args.target.is_none() {
        eprintln!("loadgen: --cloudwatch needs --target URL: the AWS deployment whose CloudWatch metrics it names");
        return Exit::BadInput;
    }
    let distributed = match args.distributed.resolve(scenario.keys.preload) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return Exit::BadInput;
        }
    };
    if distributed.as_ref().is_some_and(|d| !d.share.is_whole()) && args.target.is_none() {
        eprintln!("loadgen: --worker needs --target URL: the workers of one run share one target");
        return Exit::BadInput;
    }
    let target = match args.target {
        Some(url) => TargetChoice::External { url },
        None => TargetChoice::for_profile(args.profile, args.profiles_dir, args.embedded),
    };
    let options = RunOptions {
        scenario,
        target,
        reports_dir: args.reports_dir,
        run_id: args.run_id,
        goose_report: args.goose_report,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        users: args.users,
        profile: !args.no_profile,
    };
    // A stage on launched boxes: the generator takes its reserved share of the machine.
    let _generator_box = match &options.target {
        TargetChoice::Topology { .. } => options.target.profile_path().and_then(|p| enter_generator_box(&p)),
        _ => None,
    };
    match run_blocking(options, cloudwatch.as_ref(), distributed.as_ref()) {
        Ok(report) => {
            println!("{}", crate::report::terminal_text(&report.summary, &report.dir));
            Exit::for_summary(&report.summary)
        }
        Err(e) => {
            eprintln!("loadgen: {}", crate::redact::secrets(&format!("{e:#}")));
            e.downcast_ref::<crate::RunError>().map_or(Exit::Failure, errors::for_run)
        }
    }
}

/// One run, then (with `--cloudwatch`) the pull of its CloudWatch metrics, which rewrites
/// the run's files with the verdict drawn again; the returned summary is the final one.
fn run_blocking(
    options: RunOptions,
    cloudwatch: Option<&crate::cloudwatch::CloudWatchOptions>,
    distributed: Option<&crate::distributed::Distributed>,
) -> anyhow::Result<crate::RunReport> {
    let runtime = runtime::generator().context("starting the generator's runtime")?;
    let scenario = options.scenario.name.clone();
    let stage = matches!(options.target, TargetChoice::Topology { .. });
    runtime.block_on(async move {
        if let Some(cw) = cloudwatch {
            crate::cloudwatch::command::preflight(cw).await;
            let run = match distributed {
                Some(d) => crate::run::run_distributed(options, d).await,
                None => crate::run(options).await,
            };
            let mut report = run.with_context(|| format!("run of scenario {scenario}"))?;
            let outcome =
                crate::cloudwatch::command::pull_and_print(&report.dir, cw).await.context("CloudWatch pull")?;
            if outcome.error.is_none() {
                report.summary =
                    loadgen_model::RunDir::new(&report.dir).read_summary().context("re-reading summary.json")?;
            }
            return Ok(report);
        }
        if let Some(d) = distributed {
            let run = crate::run::run_distributed(options, d).await;
            return run.with_context(|| format!("worker {} of a run of scenario {scenario}", d.share));
        }
        if !stage {
            return crate::run(options).await.with_context(|| format!("run of scenario {scenario}"));
        }
        // Ctrl-C during a run on launched servers: dropping the run drops the deployment,
        // whose teardown stops every server it started.
        tokio::select! {
            r = crate::run(options) => r.with_context(|| format!("run of scenario {scenario}")),
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; the stage's servers were stopped"),
        }
    })
}

/// Moves this process into the generator's box of the share `profile` reserves (its
/// `generator` box); `None` when it reserves none or cgroups are not writable.
pub(super) fn enter_generator_box(profile: &std::path::Path) -> Option<crate::topology::generator_box::GeneratorBox> {
    let loaded = service::config::Profile::load(profile).ok()?;
    let share = crate::topology::budget::generator_share(&loaded)?;
    if matches!(crate::topology::cgroup::detect(), crate::topology::cgroup::Mode::Unconfined { .. }) {
        return None;
    }
    crate::topology::generator_box::GeneratorBox::enter(share)
}
