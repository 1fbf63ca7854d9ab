//! The evolve run's own outputs: `evolve.json` (the [`EvolveSummary`]) and `index.html`, one
//! self-contained page: per stage the sustainable rate beside its rate per core of fleet and
//! the users of the seed's model it holds, p99, the bottleneck with its evidence, a regression
//! flag with its cause, what the next stage changes, a chart of rate per stage, and at the end
//! the projection for ten million users and its cost.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::Environment;

use super::{EvolveError, EvolveSummary};

pub use loadgen_model::run_dir::EVOLVE_FILE;
const TEMPLATE: &str = include_str!("../../templates/evolve.html");

/// Renders the page.
pub fn render(summary: &EvolveSummary) -> Result<String, minijinja::Error> {
    let chart = crate::html::charts::stage_rates::draw_stage_rates(&summary.stages, summary.target_rate)
        .unwrap_or_else(|e| {
            crate::html::charts::placeholder("Sustainable rate per stage", &format!("chart unavailable: {e}"))
        });
    let mut env = Environment::new();
    env.add_filter("about", |users: f64| crate::capacity::about(users));
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
    let mut out =
        format!("evolve {} (scenario {}, target {:.0} req/s)\n", summary.run_id, summary.scenario, summary.target_rate);
    for s in &summary.stages {
        let rate = s.sustainable_rate.map_or("none".to_owned(), |r| format!("{r:.0} req/s"));
        let p99 = s.p99_ms.map_or(String::new(), |p| format!(", p99 {p:.1} ms"));
        let per_core = match (s.rate_per_core, s.fleet_cores) {
            (Some(r), Some(c)) => format!(", {r:.0} req/s per core of {c:.3}"),
            _ => String::new(),
        };
        let users = s.users_held.map_or(String::new(), |u| format!(", ~{} users", crate::capacity::about(u)));
        out += &format!(
            "  {:<32} sustainable {rate}{p99}{per_core}{users}; bottleneck {} ({})",
            s.profile, s.bottleneck, s.confidence
        );
        if let Some(next) = &s.next_profile {
            if next != &s.profile {
                out += &format!(" → {next}");
            }
        }
        out.push('\n');
        if let Some(r) = &s.regression {
            out += &format!("    REGRESSION: {r}\n");
        }
    }
    out += &format!("  {}\n", summary.stopped_because);
    if let Some(p) = &summary.projection {
        out += &format!(
            "  projection for {:.0} req/s ({:.2}x peak): {} — about ${:.0}/month in {}\n",
            p.design_rate,
            p.peak_factor,
            p.tiers
                .iter()
                .map(|t| format!("{} × {} ({})", t.instances, t.instance_type, t.tier))
                .collect::<Vec<_>>()
                .join(", "),
            p.usd_per_month,
            p.region
        );
        for note in &p.notes {
            out += &format!("    note: {note}\n");
        }
    }
    out += &format!("  report: {}", dir.join(crate::html::INDEX_FILE).display());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evolve::{StageResult, StepResult};

    fn stage(profile: &str, rate: Option<f64>, bottleneck: &str, next: &str) -> StageResult {
        StageResult {
            profile: profile.into(),
            stage: profile.into(),
            sustainable_rate: rate,
            p99_ms: rate.map(|_| 12.5),
            fleet_cores: Some(0.5),
            rate_per_core: rate.map(|r| r / 0.5),
            users_held: rate.map(|r| crate::capacity::users_at_peak(r, 2.0)),
            generator_limited: false,
            regression: None,
            bottleneck: bottleneck.into(),
            confidence: "high".into(),
            sentence: format!("Bottleneck: {bottleneck} <b>"),
            evidence: vec!["db_primary: pool waiting p95 = 5".into()],
            box_utilization: vec![("app".into(), 0.97)],
            next_profile: Some(next.into()),
            action: "add replicas".into(),
            reason: "reads dominate".into(),
            expected_gain: "2x".into(),
            steps: vec![StepResult {
                rate: 100.0,
                achieved_rate: 99.0,
                p99_ms: 3.0,
                error_rate: 0.0,
                passed: true,
                failed_because: vec![],
                report: format!("{profile}/1-100rps"),
                fleet_cores: Some(0.5),
                host_steal_share: Some(0.1),
            }],
            demands: vec![("app".into(), 2e-4)],
        }
    }

    #[test]
    fn the_page_shows_every_stage_escaped_with_its_chart() {
        let summary = EvolveSummary {
            run_id: "r".into(),
            scenario: "smoke".into(),
            target_rate: 5000.0,
            peak_to_average: 2.0,
            started_at: "2026-01-01T00:00:00Z".into(),
            stages: vec![stage("single-box", Some(1200.0), "app", "users-plus"), {
                let mut worse = stage("users-plus", None, "db_primary", "users-plus-plus-plus");
                worse.regression = Some("sustains 0 req/s, 100% less than single-box's 1200 req/s".into());
                worse
            }],
            target_met: false,
            stopped_because: "the path ends".into(),
            projection: Some(crate::evolve::projection::project(
                &[("app".into(), 2e-4)],
                2.0,
                &crate::evolve::projection::PriceTable::shipped(),
            )),
        };
        let html = render(&summary).unwrap();
        assert!(html.contains("single-box (single-box)") && html.contains("users-plus (users-plus)"));
        assert!(html.contains("1200 req/s"), "rates shown as whole numbers");
        assert!(html.contains("Bottleneck: app &lt;b&gt;"), "verdict text is escaped");
        assert!(html.contains("<svg"), "the chart is inline");
        assert!(html.contains("c5.large") && html.contains("Target not met"));
        assert!(html.contains("2400 req/s per core"), "the rate per core of fleet beside the rate");
        assert!(html.contains("150,000"), "users of the seed's model held");
        assert!(
            html.contains("class=\"regression\"") && html.contains("100% less than single-box"),
            "the regression is flagged"
        );
        let text = terminal_text(&summary, Path::new("reports/r"));
        assert!(
            text.contains("single-box") && text.contains("sustainable 1200 req/s") && text.contains("→ users-plus"),
            "{text}"
        );
        assert!(text.contains("2400 req/s per core") && text.contains("REGRESSION"), "{text}");
    }
}
