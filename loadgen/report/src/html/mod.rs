//! The self-contained HTML report of a run, `reports/<run-id>/index.html`: the verdict in one
//! sentence, the charts (inline SVG drawn with plotters), the evidence and per-tier figures, the
//! recommendation on the seed's stage path, the scenario and profile used, and the run's key
//! numbers. One file with inline CSS and no JavaScript, no external resource: it opens offline.
//!
//! The page is a minijinja template (`loadgen/templates/report.html`, compiled in) rendered with
//! HTML autoescaping; only the chart SVGs, which plotters escapes itself, are inserted as is.
//! [`rebuild_report`] redraws a saved run directory (`loadgen report <run-dir>`).

use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{Environment, Value};

use loadgen_model::run_dir::{RunDir, SUMMARY_FILE};
use loadgen_model::summary::Summary;
use loadgen_model::timeline::{Recommendation, Timeline, Verdict};

pub mod charts;
pub mod stages;
mod view;

/// The report's file name inside a run directory.
pub use loadgen_model::run_dir::INDEX_FILE;
pub use loadgen_model::run_dir::PROFILE_FILE;
/// Optional copies of the scenario and profile used, shown on the page when present.
pub use loadgen_model::run_dir::SCENARIO_FILE;
/// The profiler's timeline, serialized with serde_json.
pub use loadgen_model::run_dir::TIMELINE_FILE;

const TEMPLATE_NAME: &str = "report.html";
const TEMPLATE: &str = include_str!("../../../templates/report.html");

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("drawing the {chart} chart: {message}")]
    Chart { chart: &'static str, message: String },
    #[error("rendering the report template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    RunDir(#[from] loadgen_model::run_dir::RunDirError),
}

/// The charts in page order: `(id, title, drawing)`.
fn chart_list(summary: &Summary, timeline: &Timeline, verdict: Option<&Verdict>) -> Vec<view::ChartView> {
    let drawn: [(&'static str, &'static str, Result<String, HtmlError>); 7] = [
        (
            "rate",
            "Offered vs achieved rate",
            charts::rate::draw_rate(&summary.series, verdict.and_then(|v| v.knee.as_ref())),
        ),
        ("latency", "Latency percentiles", charts::latency::draw_latency(&summary.series)),
        ("errors", "Errors per second", charts::errors::draw_errors(&summary.series, timeline)),
        ("cpu", "CPU per box", charts::cpu::draw_cpu(timeline)),
        ("tier_busy", "Busy time per tier", charts::tier_busy::draw_tier_busy(timeline)),
        ("saturation", "Saturation: pools and queue", charts::saturation::draw_saturation(timeline)),
        ("cache", "Cache hit ratio", charts::cache::draw_cache(timeline)),
    ];
    let fleet = charts::fleet::draw_fleet(timeline).map(|svg| ("fleet", "Autoscaling: instances over time", svg));
    let cloudwatch = charts::cloudwatch::draw_cloudwatch(timeline)
        .map(|svg| ("cloudwatch", "CloudWatch: utilization per tier", svg));
    let faults = charts::faults::draw_faults(&summary.series, timeline).map(|svg| ("faults", "Faults injected", svg));
    drawn
        .into_iter()
        .chain(faults)
        .chain(fleet)
        .chain(cloudwatch)
        .map(|(id, title, svg)| {
            // One chart failing must not cost the whole report: say so in its place.
            let svg = svg.unwrap_or_else(|e| {
                tracing::warn!("report: {e}");
                charts::placeholder(title, &format!("chart unavailable: {e}"))
            });
            view::ChartView { id, title, svg }
        })
        .collect()
}

/// Renders the report page.
///
/// `verdict` and `recommendation` come from the profiler (the page says "no verdict" without
/// them); `profile_text` and `scenario_text` are the TOML files used, shown verbatim. Missing
/// timeline series make their charts say "no data".
pub fn render_report(
    summary: &Summary,
    timeline: &Timeline,
    verdict: Option<&Verdict>,
    recommendation: Option<&Recommendation>,
    profile_text: Option<&str>,
    scenario_text: Option<&str>,
) -> Result<String, HtmlError> {
    let charts = chart_list(summary, timeline, verdict);
    let page = view::page(summary, verdict, recommendation, profile_text, scenario_text, charts);
    let mut env = Environment::new();
    // The `.html` name turns HTML autoescaping on.
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    Ok(env.get_template(TEMPLATE_NAME)?.render(Value::from(Serde(&page)))?)
}

/// Renders the report and writes it to `dir/index.html` (creating `dir`); returns the path.
pub fn write_report(
    dir: &Path,
    summary: &Summary,
    timeline: &Timeline,
    verdict: Option<&Verdict>,
    recommendation: Option<&Recommendation>,
    profile_text: Option<&str>,
    scenario_text: Option<&str>,
) -> Result<PathBuf, HtmlError> {
    let html = render_report(summary, timeline, verdict, recommendation, profile_text, scenario_text)?;
    std::fs::create_dir_all(dir).map_err(|source| HtmlError::Io {
        action: "creating",
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(INDEX_FILE);
    std::fs::write(&path, html).map_err(|source| HtmlError::Io { action: "writing", path: path.clone(), source })?;
    Ok(path)
}

/// A saved run: the summary and, when `summary.json` carries them, the verdict and
/// recommendation.
#[derive(Debug, Clone)]
pub struct SavedRun {
    pub summary: Summary,
    pub verdict: Option<Verdict>,
    pub recommendation: Option<Recommendation>,
}

/// Parses `summary.json`, taking `verdict` and `recommendation` out leniently: they are
/// read when present and well-formed, ignored (with a warning) otherwise, so this works with
/// summaries written before and after those fields existed.
pub fn parse_summary(text: &str, path: &Path) -> Result<SavedRun, HtmlError> {
    let json_error = |source| HtmlError::Json { path: path.to_owned(), source };
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
    let mut take = |key: &str| value.as_object_mut().and_then(|o| o.remove(key)).filter(|v| !v.is_null());
    let verdict = take("verdict");
    let recommendation = take("recommendation");
    fn lenient<T: serde::de::DeserializeOwned>(key: &str, value: Option<serde_json::Value>) -> Option<T> {
        serde_json::from_value(value?)
            .map_err(|e| tracing::warn!("summary.json: ignoring `{key}`, not readable: {e}"))
            .ok()
    }
    Ok(SavedRun {
        verdict: lenient("verdict", verdict),
        recommendation: lenient("recommendation", recommendation),
        summary: serde_json::from_value(value).map_err(json_error)?,
    })
}

/// Rebuilds `dir/index.html` from the saved `summary.json` and `timeline.json` (an empty
/// timeline when that file is missing), with `scenario.toml` / `profile.toml` when present.
pub fn rebuild_report(dir: &Path) -> Result<PathBuf, HtmlError> {
    let run_dir = RunDir::new(dir);
    let summary_path = run_dir.file(SUMMARY_FILE);
    let text = run_dir.read_text(SUMMARY_FILE)?.ok_or_else(|| HtmlError::Io {
        action: "reading",
        path: summary_path.clone(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    let run = parse_summary(&text, &summary_path)?;
    let timeline = run_dir.read_timeline()?.unwrap_or_default();
    let scenario_text = run_dir.read_text(SCENARIO_FILE)?;
    let profile_text = run_dir.read_text(PROFILE_FILE)?;
    write_report(
        dir,
        &run.summary,
        &timeline,
        run.verdict.as_ref(),
        run.recommendation.as_ref(),
        profile_text.as_deref(),
        scenario_text.as_deref(),
    )
}
