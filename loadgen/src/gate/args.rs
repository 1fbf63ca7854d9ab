//! `loadgen gate` command-line arguments (clap derive; the doc comments are the `--help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::ab::Metric;
use crate::args::default_dir;
use crate::args::parse_duration;
use crate::exit::EXIT_CODES_HELP;

/// CI performance regression gate. Runs a seeded scenario against the candidate and checks,
/// each as its own JUnit testcase:
///
/// 1. deterministic per-request figures (database queries, cache hits/misses, object-store
///    calls and bytes per request, jobs per write) and the verdict, against a baseline file
///    recorded with `loadgen gate record` (--figures);
///
/// 2. absolute SLOs of that run: p99, error rate, lost writes (each its own exit code);
///
/// 3. with --ab: interleaved A/B of a wall-clock figure (the service's CPU per request, or
///    p99) between a baseline side and the candidate: short runs ABBA…, the median of the
///    paired ratios candidate/baseline and its bootstrap confidence interval; it fails only
///    when the whole interval is above the threshold (from --calibration, see
///    `loadgen gate calibrate`), and says "inconclusive" when the interval straddles it.
///
/// With --run DIR it makes no run: it judges that run directory (e.g. a merged distributed
/// run) on its SLOs as a whole.
///
/// Writes gate-summary.md (for $GITHUB_STEP_SUMMARY), gate-junit.xml and gate-result.json
/// into --out. Loads are on loopback targets you give it; every run is bounded in time.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXIT_CODES_HELP)]
pub struct GateArgs {
    #[command(subcommand)]
    pub command: Option<GateCommand>,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Run the scenario against the candidate and write its deterministic figures as the
    /// baseline file (commit it; re-record when a change in per-request cost is intended).
    Record(RecordArgs),
    /// Run A/A pairs (the same side twice) on this machine and print the A/B threshold that
    /// keeps the gate's false-positive rate at --fpr; --write saves it for --calibration.
    Calibrate(CalibrateArgs),
}

/// The scenario and where runs are written.
#[derive(Debug, Clone, Args)]
pub struct ShapeArgs {
    /// Scenario name or .toml path; its seed and fixed rate make the figures reproducible.
    #[arg(long, short = 's', default_value = "smoke")]
    pub scenario: String,
    #[arg(long, default_value_os_t = default_dir("scenarios"))]
    pub scenarios_dir: PathBuf,
    #[arg(long, default_value_os_t = default_dir("profiles"))]
    pub profiles_dir: PathBuf,
    /// Override the scenario's rate for the figures/SLO run (must match the baseline's).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override the scenario's duration for the figures/SLO run, e.g. 3s.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory for the gate's outputs (gate-summary.md, gate-junit.xml, gate-result.json)
    /// and its runs' reports (runs/).
    #[arg(long, short = 'o', default_value = "reports/gate")]
    pub out: PathBuf,
}

/// The candidate side (default: the embedded service on profile single-box).
#[derive(Debug, Clone, Args)]
pub struct CandidateArgs {
    /// Candidate: embedded service on this profile (name in --profiles-dir, or a .toml path).
    #[arg(long, value_name = "PROFILE")]
    pub candidate_profile: Option<String>,
    /// Candidate: an already running service at this URL.
    #[arg(long, value_name = "URL")]
    pub candidate_url: Option<String>,
    /// Candidate: a command that starts a service; `{port}` becomes a free port (URL
    /// http://127.0.0.1:{port}), `{dir}` a fresh temporary directory; without `{port}` the
    /// first http:// URL it prints is used. Started afresh for every run.
    #[arg(long, value_name = "COMMAND")]
    pub candidate_cmd: Option<String>,
}

/// The baseline side of the A/B comparison (default: the same as the candidate: A/A).
#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    /// Baseline: embedded service on this profile.
    #[arg(long, value_name = "PROFILE")]
    pub baseline_profile: Option<String>,
    /// Baseline: an already running service at this URL.
    #[arg(long, value_name = "URL")]
    pub baseline_url: Option<String>,
    /// Baseline: a command that starts a service (placeholders as for --candidate-cmd).
    #[arg(long, value_name = "COMMAND")]
    pub baseline_cmd: Option<String>,
}

/// How the interleaved A/B runs are made.
#[derive(Debug, Clone, Args)]
pub struct AbRunArgs {
    /// Wall-clock figure compared.
    #[arg(long, value_enum, default_value = "cpu-per-request")]
    pub metric: Metric,
    /// Fixed arrival rate of each A/B run, requests/s.
    #[arg(long, default_value_t = 500.0)]
    pub ab_rate: f64,
    /// Measured length of each A/B run.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub ab_duration: Duration,
    /// Warm-up of each A/B run (not measured by the latency figures; its CPU counts).
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    pub ab_warmup: Duration,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 0x5ca1e)]
    pub bootstrap_seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub candidate: CandidateArgs,
    /// Baseline of the deterministic figures (from `loadgen gate record`), e.g.
    /// bench/gate-baseline.json. Without it only the SLOs (and A/B) are checked.
    #[arg(long, value_name = "FILE")]
    pub figures: Option<PathBuf>,
    /// p99 limit of the run (default: the scenario's `slo.p99`).
    #[arg(long, value_parser = parse_duration)]
    pub slo_p99: Option<Duration>,
    /// Largest acceptable error rate, 0..=1 (default: the scenario's `slo.max_error_rate`).
    #[arg(long)]
    pub slo_error_rate: Option<f64>,
    /// Judge this existing run directory instead of making a run (e.g. the merged run of a
    /// distributed load, `loadgen merge -o DIR`): its SLOs on the whole run, from its
    /// scenario.toml (or --scenario) with --slo-p99/--slo-error-rate, and whether every
    /// worker kept its schedule. No figures or A/B: those need runs the gate makes itself.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["figures", "ab", "baseline_profile", "baseline_url", "baseline_cmd"])]
    pub run: Option<PathBuf>,
    /// Also run the interleaved A/B comparison (implied by any --baseline-* option).
    #[arg(long)]
    pub ab: bool,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub ab_runs: AbRunArgs,
    /// A/B pairs (each pair = one baseline run + one candidate run).
    #[arg(long, default_value_t = 6)]
    pub pairs: usize,
    /// Threshold of the candidate/baseline ratio (overrides --calibration).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Calibration file from `loadgen gate calibrate --write`; its threshold is used (and
    /// recomputed from its A/A ratios when --pairs or --fpr differ from it).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// False-positive rate the calibrated threshold is for.
    #[arg(long, default_value_t = 0.05)]
    pub fpr: f64,
    /// Confidence of the A/B interval.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Retries of the figures/SLO run when the generator could not keep its schedule (a busy
    /// machine), before that is reported as exit 5.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub candidate: CandidateArgs,
    /// Where to write the baseline.
    #[arg(long, default_value = "bench/gate-baseline.json")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// The side run on both halves of each A/A pair (default: profile single-box).
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub ab_runs: AbRunArgs,
    /// A/A pairs to measure.
    #[arg(long, default_value_t = 20)]
    pub aa_pairs: usize,
    /// Pairs per gate run the threshold is for (the gate's --pairs).
    #[arg(long, default_value_t = 6)]
    pub pairs: usize,
    /// Largest acceptable share of A/A gate runs that do not pass.
    #[arg(long, default_value_t = 0.05)]
    pub fpr: f64,
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Smallest effect worth failing for: the threshold is at least 1 + this.
    #[arg(long, default_value_t = 0.05)]
    pub min_effect: f64,
    /// Write the calibration (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}
