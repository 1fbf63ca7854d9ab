//! The evolve run's own outputs: `evolve.json` (the [`EvolveSummary`]) and `index.html`, one
//! self-contained page: per stage the sustainable rate, p99, the bottleneck with its evidence and
//! what the next stage changes, a chart of rate per stage, and the capacity projection.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::Environment;

use super::{EvolveError, EvolveSummary};

pub const EVOLVE_FILE: &str = "evolve.json";
const TEMPLATE: &str = include_str!("../../templates/evolve.html");

/// Renders the page.
pub fn render(summary: &EvolveSummary) -> Result<String, minijinja::Error> {
    let chart = crate::html::charts::stage_rates::draw_stage_rates(summary)
        .unwrap_or_else(|e| crate::html::charts::placeholder("Sustainable rate per stage", &format!("chart unavailable: {e}")));
    let mut env = Environment::new();
    env.add_template("evolve.html", TEMPLATE)?;
    let page = minijinja::context! { s => Serde(summary), chart => minijinja::Value::from_safe_string(chart) };
    env.get_template("evolve.html")?.render(page)
}

/// Writes `evolve.json` and `index.html` into `dir`.
pub fn write(dir: &Path, summary: &EvolveSummary) -> Result<(), EvolveError> {
    let fail = |message: String| EvolveError::Report { path: dir.to_owned(), message };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let json = serde_json::to_string_pretty(summary).map_err(|e| fail(e.to_string()))?;
    std::fs::write(dir.join(EVOLVE_FILE), json).map_err(|e| fail(e.to_string()))?;
    let html = render(summary).map_err(|e| fail(e.to_string()))?;
    std::fs::write(dir.join(crate::html::INDEX_FILE), html).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// The terminal's account of the loop.
pub fn terminal_text(summary: &EvolveSummary, dir: &Path) -> String {
    let mut out = format!("evolve {} (scenario {}, target {:.0} req/s)\n", summary.run_id, summary.scenario, summary.target_rate);
    for s in &summary.stages {
        let rate = s.sustainable_rate.map_or("none".to_owned(), |r| format!("{r:.0} req/s"));
        let p99 = s.p99_ms.map_or(String::new(), |p| format!(", p99 {p:.1} ms"));
        out += &format!("  {:<32} sustainable {rate}{p99}; bottleneck {} ({})", s.profile, s.bottleneck, s.confidence);
        if let Some(next) = &s.next_profile {
            if next != &s.profile {
                out += &format!(" → {next}");
            }
        }
        out.push('\n');
    }
    out += &format!("  {}\n", summary.stopped_because);
    if let Some(p) = &summary.projection {
        out += &format!(
            "  projection for {:.0} req/s ({}x peak): {} — about ${:.0}/month in {}\n",
            p.design_rate,
            p.peak_factor,
            p.tiers.iter().map(|t| format!("{} × {} ({})", t.instances, t.instance_type, t.tier)).collect::<Vec<_>>().join(", "),
            p.usd_per_month,
            p.region
        );
    }
    out += &format!("  report: {}", dir.join(crate::html::INDEX_FILE).display());
    out
}
