//! `loadgen k8s-job`: renders the Kubernetes manifests of a distributed run from the template
//! `loadgen/templates/k8s-job.yaml` (compiled in; plain YAML with a few placeholders, readable
//! as it is): a shared volume, an Indexed Job of N workers and the Job that merges their runs,
//! with the start instant resolved once here so every pod starts at the same one.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::DistributedError;
use crate::args::default_dir;
use crate::args::parse_duration;
use crate::Scenario;

const TEMPLATE: &str = include_str!("../../templates/k8s-job.yaml");

/// Time a worker gets besides waiting for the start and its schedule: the preload and the
/// report (a run still going then is stopped by Kubernetes and fails).
const WORKER_SLACK: Duration = Duration::from_secs(600);
/// Time the merge Job gets after the workers' deadline.
const MERGE_SLACK: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct K8sJobArgs {
    /// Scenario shipped in the image (a name from the scenarios directory).
    #[arg(long, short = 's')]
    pub scenario: String,
    #[arg(long, default_value_os_t = default_dir("scenarios"))]
    pub scenarios_dir: PathBuf,
    /// Base URL of the target every worker drives.
    #[arg(long, short = 't', value_name = "URL")]
    pub target: String,
    /// Number of workers N (pods of the Indexed Job).
    #[arg(long)]
    pub workers: u64,
    /// Container image with loadgen and the scenarios (built from the repository's Dockerfile).
    #[arg(long)]
    pub image: String,
    /// Start instant of every worker (RFC 3339); default: --start-in from now.
    #[arg(long, value_name = "TIME", conflicts_with = "start_in")]
    pub start_at: Option<String>,
    /// How long from now the workers start (time to schedule pods and pull the image).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2m")]
    pub start_in: Duration,
    /// Name of the Jobs and the volume claim (a DNS label; default loadgen-<scenario>).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Size of the shared volume.
    #[arg(long, default_value = "1Gi")]
    pub storage: String,
    /// Storage class of the shared volume (it must offer ReadWriteMany).
    #[arg(long)]
    pub storage_class: Option<String>,
    /// CPU request of each worker (one sending thread uses up to a core).
    #[arg(long, default_value = "1")]
    pub cpu: String,
    /// Memory request and limit of each worker.
    #[arg(long, default_value = "512Mi")]
    pub memory: String,
    /// Write the manifests to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The template's values.
#[derive(Debug, Serialize)]
struct Values {
    name: String,
    namespace: String,
    scenario: String,
    target: String,
    workers: u64,
    image: String,
    start_at: String,
    storage: String,
    storage_class: Option<String>,
    cpu: String,
    memory: String,
    worker_deadline_s: u64,
    merge_deadline_s: u64,
}

fn bad(flag: &'static str, reason: impl Into<String>) -> DistributedError {
    DistributedError::BadFlag { flag, reason: reason.into() }
}

/// A DNS-1123 label short enough for the `-merge` and `-runs` suffixes.
fn check_name(flag: &'static str, name: &str) -> Result<(), DistributedError> {
    let ok = !name.is_empty()
        && name.len() <= 57
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(bad(flag, format!("`{name}` is not a DNS label of at most 57 characters (a-z, 0-9, '-')")))
    }
}

fn values(args: &K8sJobArgs, now: chrono::DateTime<chrono::Utc>) -> Result<Values, DistributedError> {
    let scenario = Scenario::find(&args.scenario, &args.scenarios_dir).map_err(|e| bad("--scenario", e.to_string()))?;
    if args.workers == 0 {
        return Err(bad("--workers", "N must be at least 1"));
    }
    let url = url::Url::parse(&args.target).map_err(|e| bad("--target", format!("`{}`: {e}", args.target)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("--target", format!("`{}` is not an http:// or https:// URL", args.target)));
    }
    if args.image.trim().is_empty() || args.image.contains(char::is_whitespace) {
        return Err(bad("--image", format!("`{}` is not an image reference", args.image)));
    }
    let name = args.name.clone().unwrap_or_else(|| format!("loadgen-{}", scenario.name));
    check_name("--name", &name)?;
    check_name("--namespace", &args.namespace)?;
    let start_in = if args.start_at.is_some() { None } else { Some(args.start_in) };
    let start_at = super::start::resolve(args.start_at.as_deref(), start_in, now)?.unwrap_or(now);
    let wait = (start_at - now).to_std().unwrap_or_default();
    let worker_deadline = wait + scenario.warmup + scenario.duration + WORKER_SLACK;
    Ok(Values {
        name,
        namespace: args.namespace.clone(),
        scenario: scenario.name.clone(),
        target: args.target.clone(),
        workers: args.workers,
        image: args.image.clone(),
        start_at: start_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        storage: args.storage.clone(),
        storage_class: args.storage_class.clone(),
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        worker_deadline_s: worker_deadline.as_secs().max(1),
        merge_deadline_s: (worker_deadline + MERGE_SLACK).as_secs(),
    })
}

/// The manifests for `args`, with the start resolved against `now`.
pub fn render(args: &K8sJobArgs, now: chrono::DateTime<chrono::Utc>) -> Result<String, DistributedError> {
    let values = values(args, now)?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // A JSON string is a YAML double-quoted scalar: values land in the YAML as data, never
    // as syntax, whatever they hold.
    env.add_filter("quoted", |text: String| serde_json::to_string(&text).unwrap_or_default());
    let template_error = |e: minijinja::Error| bad("template", e.to_string());
    env.add_template("k8s-job.yaml", TEMPLATE).map_err(template_error)?;
    let template = env.get_template("k8s-job.yaml").map_err(template_error)?;
    let mut text = template.render(minijinja::Value::from(minijinja::value::Serde(&values))).map_err(template_error)?;
    text.push('\n');
    Ok(text)
}
