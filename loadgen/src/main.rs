//! `loadgen`: the command-line front door (see `loadgen --help`).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use loadgen::cli::{Cli, Command, RunArgs};
use loadgen::{Exit, RunError, RunOptions, Scenario, TargetChoice};

/// mimalloc instead of the system allocator: a request allocates a few dozen small blocks
/// (headers, buffers, futures) and glibc's malloc/free were ~7% of the sending thread's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::BadInput.code() } else { 0 });
        }
    };
    // A service instance logs what the `service` binary logs; the harness only warnings.
    let default_filter = if matches!(cli.command, Some(Command::ServeInternal(_))) { "info,sqlx=warn" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let exit = match cli.command {
        Some(Command::Schema) => {
            print!("{}", loadgen::summary::schema_json());
            Exit::Ok
        }
        Some(Command::Scenarios { scenarios_dir }) => {
            for name in loadgen::scenario::list_names(&scenarios_dir) {
                println!("{name}");
            }
            Exit::Ok
        }
        Some(Command::Merge(args)) => match loadgen::merge::merge(&args.inputs, &args.out) {
            Ok(summary) => {
                println!("{}", loadgen::report::terminal_text(&summary, &args.out));
                Exit::for_summary(&summary)
            }
            Err(e) => {
                eprintln!("loadgen merge: {e}");
                Exit::BadInput
            }
        },
        Some(Command::Report(args)) => loadgen::cli::report_command(&args),
        Some(Command::Preload(args)) => loadgen::preload::preload_command(&args),
        Some(Command::K8sJob(args)) => loadgen::distributed::k8s::k8s_job_command(&args),
        Some(Command::Evolve(args)) => evolve_command(args),
        Some(Command::Gate(args)) => gate_command(*args),
        Some(Command::Up(args)) => loadgen::up::up_command(&args),
        Some(Command::ServeInternal(cli)) => match serve_internal(cli) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                eprintln!("loadgen serve-internal: {e:#}");
                Exit::Failure
            }
        },
        None => run_command(cli.run),
    };
    ExitCode::from(exit.code())
}

fn run_command(args: RunArgs) -> Exit {
    let Some(name) = args.scenario.as_deref() else {
        eprintln!(
            "loadgen: --scenario is required (one of: {})",
            loadgen::scenario::list_names(&args.scenarios_dir).join(", ")
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
    let cloudwatch = match loadgen::cloudwatch::command::options(&args.cloudwatch) {
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
            println!("{}", loadgen::report::terminal_text(&report.summary, &report.dir));
            Exit::for_summary(&report.summary)
        }
        Err(e) => {
            eprintln!("loadgen: {}", loadgen::redact::secrets(&format!("{e:#}")));
            match e.downcast_ref::<RunError>() {
                Some(e) if e.is_bad_input() => Exit::BadInput,
                Some(RunError::Target(_)) => Exit::TargetUnreachable,
                _ => Exit::Failure,
            }
        }
    }
}

fn evolve_command(args: loadgen::cli::EvolveArgs) -> Exit {
    let scenario = match Scenario::find(&args.scenario, &args.scenarios_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loadgen evolve: {e}");
            return Exit::BadInput;
        }
    };
    // The seed's ten million users (40,400 req/s on average) at the scenario's peak.
    let target_rate = args.target_rate.unwrap_or_else(|| loadgen::evolve::seed_target_rate(&scenario));
    if !(target_rate > 0.0 && args.start_rate > 0.0) {
        eprintln!("loadgen evolve: --target-rate and --start-rate must be positive");
        return Exit::BadInput;
    }
    let options = loadgen::evolve::EvolveOptions {
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name(loadgen::cpu::RUNTIME_THREAD_NAME)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen evolve: starting the runtime: {e}");
            return Exit::Failure;
        }
    };
    // Every stage of the loop shares the same generator box (the first stage's share; the
    // budget test holds every profile to the same one).
    let _generator_box = enter_generator_box(&loadgen::topology::profile_path(&options.from, &options.profiles_dir));
    // Ctrl-C drops the loop, and with it the stage that is up: its teardown stops every
    // server and removes every box.
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = loadgen::evolve::evolve(options) => Some(r),
            () = interrupted => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!("loadgen evolve: interrupted; the stage's servers were stopped");
        return Exit::Failure;
    };
    match outcome {
        Ok(report) => {
            println!("{}", loadgen::evolve::report::terminal_text(&report.summary, &report.dir));
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

fn gate_command(args: loadgen::gate::args::GateArgs) -> Exit {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(loadgen::cpu::RUNTIME_THREAD_NAME)
        .enable_all()
        .build()
        .context("starting the gate's runtime");
    let result = runtime.and_then(|r| r.block_on(loadgen::gate::command::execute(args)).map_err(anyhow::Error::from));
    match result {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("loadgen gate: {e:#}");
            e.downcast_ref::<loadgen::gate::GateError>().map_or(Exit::Failure, loadgen::gate::GateError::exit)
        }
    }
}

/// One run, then (with `--cloudwatch`) the pull of its CloudWatch metrics, which rewrites
/// the run's files with the verdict drawn again; the returned summary is the final one.
fn run_blocking(
    options: RunOptions,
    cloudwatch: Option<&loadgen::cloudwatch::CloudWatchOptions>,
    distributed: Option<&loadgen::distributed::Distributed>,
) -> anyhow::Result<loadgen::RunReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(loadgen::cpu::RUNTIME_THREAD_NAME)
        .enable_all()
        .build()
        .context("starting the generator's runtime")?;
    let scenario = options.scenario.name.clone();
    let stage = matches!(options.target, TargetChoice::Topology { .. });
    runtime.block_on(async move {
        if let Some(cw) = cloudwatch {
            loadgen::cloudwatch::command::preflight(cw).await;
            let run = match distributed {
                Some(d) => loadgen::run::run_distributed(options, d).await,
                None => loadgen::run(options).await,
            };
            let mut report = run.with_context(|| format!("run of scenario {scenario}"))?;
            let outcome =
                loadgen::cloudwatch::command::pull_and_print(&report.dir, cw).await.context("CloudWatch pull")?;
            if outcome.error.is_none() {
                let text = std::fs::read_to_string(report.dir.join(loadgen::report::SUMMARY_FILE))
                    .context("re-reading summary.json")?;
                report.summary = serde_json::from_str(&text).context("re-reading summary.json")?;
            }
            return Ok(report);
        }
        if let Some(d) = distributed {
            let run = loadgen::run::run_distributed(options, d).await;
            return run.with_context(|| format!("worker {} of a run of scenario {scenario}", d.share));
        }
        if !stage {
            return loadgen::run(options).await.with_context(|| format!("run of scenario {scenario}"));
        }
        // Ctrl-C during a run on launched servers: dropping the run drops the deployment,
        // whose teardown stops every server it started.
        tokio::select! {
            r = loadgen::run(options) => r.with_context(|| format!("run of scenario {scenario}")),
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; the stage's servers were stopped"),
        }
    })
}

/// Moves this process into the generator's box of the share `profile` reserves (its
/// `generator` box); `None` when it reserves none or cgroups are not writable.
fn enter_generator_box(profile: &std::path::Path) -> Option<loadgen::topology::generator_box::GeneratorBox> {
    let loaded = service::config::Profile::load(profile).ok()?;
    let share = loadgen::topology::budget::generator_share(&loaded)?;
    if matches!(loadgen::topology::cgroup::detect(), loadgen::topology::cgroup::Mode::Unconfined { .. }) {
        return None;
    }
    loadgen::topology::generator_box::GeneratorBox::enter(share)
}

/// `loadgen serve-internal`: one service instance of a launched stage.
fn serve_internal(cli: service::cli::Cli) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the service's runtime")?;
    runtime.block_on(service::cli::main(cli))
}
