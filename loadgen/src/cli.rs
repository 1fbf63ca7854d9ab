//! Command-line arguments (clap derive; the doc comments are the `--help` text).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::args::parse_duration;
pub use crate::args::{default_dir, CloudWatchArgs};
use crate::exit::EXIT_CODES_HELP;

/// scaleloop's load generator: open-model arrival rates on Goose, latency from the
/// intended send time (coordinated-omission corrected) into HdrHistogram, a self-check
/// that says when the generator itself was the limit, a profiler whose verdict names the
/// saturated tier and the next scaling stage, and a report in reports/<run-id>/
/// (summary.json, timeline.json, latency.hlog, index.html).
///
/// Without --target it starts the reference service itself (profile single-box, in a
/// temporary data directory), preloads it, runs the scenario and stops it.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, after_help = EXIT_CODES_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Merge the reports of several generator processes into one (the N workers of a
    /// distributed run into one full run directory: summary, SLOs, verdict, index.html).
    Merge(MergeArgs),
    /// Write a distributed run's corpus once, before its workers start: preload the
    /// scenario's items into the target and save their ids for every worker's --corpus;
    /// ends once the jobs those writes queued are done (at most 4 minutes).
    Preload(PreloadArgs),
    /// Render the Kubernetes manifests of a distributed run (an Indexed Job of N workers on a
    /// shared volume and the Job that merges their runs), with the start time filled in.
    #[command(name = "k8s-job")]
    K8sJob(crate::distributed::k8s::K8sJobArgs),
    /// Print the JSON Schema of summary.json.
    Schema,
    /// List the shipped scenarios.
    Scenarios {
        #[arg(long, default_value_os_t = default_dir("scenarios"))]
        scenarios_dir: PathBuf,
    },
    /// Rebuild a run directory's index.html from its summary.json and timeline.json.
    Report(ReportArgs),
    /// The benchmark → profile → fix loop: find each stage's sustainable rate, name its
    /// bottleneck, move to the stage that fixes it, until the target rate holds or the path ends.
    Evolve(EvolveArgs),
    /// CI performance regression gate: deterministic per-request figures against a recorded
    /// baseline, absolute SLOs, and interleaved A/B with a bootstrap interval
    /// (`loadgen gate --help`).
    Gate(Box<crate::gate::args::GateArgs>),
    /// Bring a profile's stage up on real servers (PostgreSQL, Redis, HAProxy and service
    /// instances, each box a cgroup with the profile's CPU quota), print its base URL and
    /// boxes, wait for Ctrl-C, and tear everything down.
    Up(UpArgs),
    /// Run the reference service (used by the topology launcher for its instances).
    #[command(name = "serve-internal", hide = true)]
    ServeInternal(service::cli::Cli),
}

#[derive(Debug, Args)]
pub struct EvolveArgs {
    /// Scenario whose SLO each step must meet (its rate curve is replaced by constant steps).
    #[arg(long, short = 's')]
    pub scenario: String,
    #[arg(long, default_value_os_t = default_dir("scenarios"))]
    pub scenarios_dir: PathBuf,
    /// Profile of the first stage.
    #[arg(long, default_value = "single-box")]
    pub from: String,
    #[arg(long, default_value_os_t = default_dir("profiles"))]
    pub profiles_dir: PathBuf,
    /// Rate to reach, requests per second (default: the seed's ten million users, 40,400
    /// req/s on average, times the scenario's peak/average).
    #[arg(long)]
    pub target_rate: Option<f64>,
    /// First rate of the first stage's capacity search (it doubles until the SLO breaks or
    /// the generator's share is spent, then bisects); a later stage starts where the stage
    /// before held.
    #[arg(long, default_value_t = 100.0)]
    pub start_rate: f64,
    /// Length of each step after the scenario's warm-up, e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub step: Duration,
    /// Steps per stage at most: a safety limit (a search ends where the SLO breaks).
    #[arg(long, default_value_t = 12)]
    pub max_steps: u32,
    /// Stages at most.
    #[arg(long, default_value_t = 6)]
    pub max_stages: usize,
    #[arg(long, default_value = "reports")]
    pub reports_dir: PathBuf,
    /// Name of the run directory (default: <UTC timestamp>-<scenario>-evolve).
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Profile: a name from the profiles directory (single-box, users-plus, …) or a path to
    /// a .toml file.
    #[arg(long, short = 'p')]
    pub profile: String,
    /// Directory of profile files.
    #[arg(long, default_value_os_t = default_dir("profiles"))]
    pub profiles_dir: PathBuf,
    /// Run directory for the servers' data, logs and generated configs (kept afterwards);
    /// created new with mode 0700, so it must not exist yet. Default: a private temporary
    /// directory, removed at exit.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

/// Running a scenario (the default command).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario: a name from the scenarios directory (peak-us, steady, viral-spike,
    /// write-burst, soak, smoke; chaos-cache-replica, chaos-failover and chaos-lb-app inject
    /// faults and need a launched --profile) or a path to a .toml file.
    #[arg(long, short = 's')]
    pub scenario: Option<String>,
    /// Directory of scenario files.
    #[arg(long, default_value_os_t = default_dir("scenarios"))]
    pub scenarios_dir: PathBuf,
    /// Deployment profile (ignored with --target). A profile with server boxes (db, cache,
    /// lb, …) is brought up on real servers by the topology launcher for the run (see
    /// `loadgen up`); single-box runs the service inside this process.
    #[arg(long, short = 'p', default_value = "single-box")]
    pub profile: String,
    /// Run the service inside this process even for a profile with server boxes, against
    /// the servers its file names (e.g. PostgreSQL and Redis already on 127.0.0.1).
    #[arg(long)]
    pub embedded: bool,
    /// Directory of profile files.
    #[arg(long, default_value_os_t = default_dir("profiles"))]
    pub profiles_dir: PathBuf,
    /// Drive an existing deployment of the content API at this base URL instead of
    /// starting the embedded service.
    #[arg(long, short = 't', value_name = "URL")]
    pub target: Option<String>,
    /// Override the scenario's load shape with this constant rate (requests per second).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override the scenario's duration, e.g. 10s or 2m.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override the scenario's random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Goose users to start; they only dispatch sends (default: one per 2,000 req/s of the peak, at least two).
    #[arg(long)]
    pub users: Option<usize>,
    /// Threads that send requests (default: the scenario's `generator.send_threads`, 1).
    /// One thread keeps each request cheapest; raise it when one core cannot send the rate
    /// (the summary says when the generator was the limit).
    #[arg(long)]
    pub send_threads: Option<usize>,
    /// Do not profile (no collectors, no verdict): for measuring the profiler's overhead.
    #[arg(long)]
    pub no_profile: bool,
    /// Where run directories are written.
    #[arg(long, default_value = "reports")]
    pub reports_dir: PathBuf,
    /// Name of the run directory (default: <UTC timestamp>-<scenario>).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Also print Goose's own metrics and write its HTML report (goose-report.html).
    #[arg(long)]
    pub goose_report: bool,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,
    #[command(flatten)]
    pub distributed: crate::distributed::args::DistributedArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Report directories (each with summary.json and latency.hlog) to merge: runs of one
    /// scenario and seed; for a distributed run, its workers' (one each, one N).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory to write the merged summary.json and latency.hlog into (for workers also
    /// timeline.json, scenario.toml and index.html).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directory (reports/<run-id>) holding summary.json and, optionally, timeline.json,
    /// scenario.toml and profile.toml.
    pub run_dir: PathBuf,
    /// With --cloudwatch FILE: pull (again) the run's CloudWatch metrics first, e.g. once
    /// CloudWatch has ingested the run's last minutes, and draw the verdict with them.
    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,
}

// `loadgen preload`'s arguments (its handler is `commands::preload`).
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
