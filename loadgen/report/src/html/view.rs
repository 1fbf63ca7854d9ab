//! The template's context: the summary, verdict and recommendation turned into display-ready
//! strings and rows, so the template only lays them out (and escapes them).

use serde::Serialize;

use super::stages::{self, StageView};
use loadgen_analysis::resource::cores_text;
use loadgen_model::summary::{OperationStats, SloCheck, Summary};
use loadgen_model::timeline::{Recommendation, Verdict};

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct Page {
    pub run_id: String,
    pub scenario_name: String,
    pub profile: String,
    pub target: String,
    pub started_at: String,
    pub duration: String,
    pub generated_at: String,
    pub verdict: VerdictView,
    pub trustworthy: bool,
    pub untrustworthy_reasons: Vec<String>,
    pub slo_passed: bool,
    pub charts: Vec<ChartView>,
    pub evidence: Vec<EvidenceRow>,
    /// Faults injected during the run (scenario `[[faults]]`), as the verdict names them.
    pub faults: Vec<FaultRow>,
    pub tiers: Vec<TierRow>,
    pub recommendation: Option<RecommendationView>,
    pub stages: Vec<StageView>,
    pub operations: Vec<OperationRow>,
    pub slo_checks: Vec<SloRow>,
    pub facts: Vec<Fact>,
    pub errors_by_kind: Vec<Fact>,
    pub scenario_text: Option<String>,
    pub profile_text: Option<String>,
    /// What the run's CloudWatch pull found (`--cloudwatch`), when there was one.
    pub cloudwatch: Option<loadgen_model::cloudwatch::CloudWatchInfo>,
    /// A distributed run's workers (one row for a worker's own run; N for a merged one).
    pub workers: Vec<crate::workers::WorkerRow>,
}

/// One chart: its SVG is the only markup the template does not escape.
#[derive(Debug, Serialize)]
pub struct ChartView {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: String,
}

#[derive(Debug, Serialize)]
pub struct VerdictView {
    pub present: bool,
    pub sentence: String,
    pub bottleneck: String,
    pub confidence: String,
    pub knee: Option<String>,
    pub headroom: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FaultRow {
    pub tier: String,
    pub fault: String,
    pub window: String,
    pub sentence: String,
}

#[derive(Debug, Serialize)]
pub struct EvidenceRow {
    pub tier: String,
    pub metric: String,
    pub value: String,
    pub threshold: String,
    pub window: String,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct TierRow {
    pub tier: String,
    pub capacity: String,
    pub utilization_p95: String,
    pub demand: String,
    pub ceiling: String,
    pub saturation: Vec<String>,
    pub bottleneck: bool,
}

#[derive(Debug, Serialize)]
pub struct RecommendationView {
    pub action: String,
    pub reason: String,
    pub expected_gain: String,
    pub expected_ceiling: Option<String>,
    pub current_stage: String,
    pub next_stage: String,
    pub next_profile: Option<String>,
    pub stay: bool,
}

#[derive(Debug, Serialize)]
pub struct OperationRow {
    pub name: &'static str,
    pub intended: u64,
    pub completed: u64,
    pub errors: u64,
    pub intended_rate: String,
    pub achieved_rate: String,
    pub p50: String,
    pub p90: String,
    pub p99: String,
    pub p999: String,
    pub max: String,
}

#[derive(Debug, Serialize)]
pub struct SloRow {
    pub name: String,
    pub limit: String,
    pub observed: String,
    pub passed: bool,
}

/// A labelled figure.
#[derive(Debug, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

fn fact(label: impl Into<String>, value: impl Into<String>) -> Fact {
    Fact { label: label.into(), value: value.into() }
}

/// A number with a precision that suits its size.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a == 0.0 || a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.2e}")
    }
}

/// Microseconds as milliseconds.
pub fn ms(us: f64) -> String {
    format!("{} ms", num(us / 1000.0))
}

fn percent(ratio: f64) -> String {
    format!("{}%", num(ratio * 100.0))
}

fn operation(name: &'static str, s: &OperationStats) -> OperationRow {
    let l = &s.latency_us;
    OperationRow {
        name,
        intended: s.intended,
        completed: s.completed,
        errors: s.errors,
        intended_rate: num(s.intended_rate),
        achieved_rate: num(s.achieved_rate),
        p50: ms(l.p50 as f64),
        p90: ms(l.p90 as f64),
        p99: ms(l.p99 as f64),
        p999: ms(l.p999 as f64),
        max: ms(l.max as f64),
    }
}

fn slo(check: &SloCheck) -> SloRow {
    let show = |v: f64| {
        if check.name.ends_with("_us") {
            ms(v)
        } else if check.name.ends_with("_rate") {
            percent(v)
        } else {
            num(v)
        }
    };
    SloRow { name: check.name.clone(), limit: show(check.limit), observed: show(check.observed), passed: check.passed }
}

fn verdict_view(verdict: Option<&Verdict>) -> VerdictView {
    match verdict {
        Some(v) => VerdictView {
            present: true,
            sentence: v.sentence.clone(),
            bottleneck: v.bottleneck.clone(),
            confidence: v.confidence.clone(),
            knee: v.knee.as_ref().map(|k| {
                format!(
                    "knee at {} s: offered {} req/s, achieved {} req/s",
                    k.t,
                    num(k.offered_rate),
                    num(k.achieved_rate)
                )
            }),
            // The same figure as the verdict's sentence: a multiple of the run's peak rate.
            headroom: v.headroom.map(|h| {
                format!("room for about {:.1}x this run's peak rate before the tightest tier saturates", 1.0 + h)
            }),
        },
        None => VerdictView {
            present: false,
            sentence: "No verdict: this run has no profiler analysis.".into(),
            bottleneck: "unknown".into(),
            confidence: "none".into(),
            knee: None,
            headroom: None,
        },
    }
}

/// Builds the page's context; `charts` are already drawn.
pub fn page(
    summary: &Summary,
    verdict: Option<&Verdict>,
    recommendation: Option<&Recommendation>,
    profile_text: Option<&str>,
    scenario_text: Option<&str>,
    charts: Vec<ChartView>,
) -> Page {
    let bottleneck = verdict.map(|v| v.bottleneck.as_str());
    let evidence = verdict
        .map(|v| &v.evidence[..])
        .unwrap_or_default()
        .iter()
        .map(|e| EvidenceRow {
            tier: e.tier.clone(),
            metric: e.metric.clone(),
            value: num(e.value),
            threshold: num(e.threshold),
            window: format!("{}–{} s", e.window[0], e.window[1]),
            note: e.note.clone(),
        })
        .collect();
    let tiers = verdict
        .map(|v| &v.tiers[..])
        .unwrap_or_default()
        .iter()
        .map(|t| TierRow {
            tier: t.tier.clone(),
            capacity: if t.unit == "cores" {
                format!("{} {}", cores_text(t.capacity), if t.capacity == 1.0 { "core" } else { "cores" })
            } else {
                format!("{} {}", num(t.capacity), t.unit)
            },
            utilization_p95: percent(t.utilization_p95),
            demand: ms(t.demand_s * 1e6),
            ceiling: t.ceiling_rps.map(|c| format!("{} req/s", num(c))).unwrap_or_else(|| "—".into()),
            saturation: t.saturation.clone(),
            bottleneck: bottleneck == Some(t.tier.as_str()),
        })
        .collect();
    let current = stages::current_stage(recommendation, profile_text, summary.profile.as_deref());
    let next = recommendation.and_then(|r| r.next_stage.as_deref());
    let g = &summary.generator;
    let v = &summary.verification;
    let lag = &summary.schedule_lag;
    let mut facts = vec![
        fact("generator CPU per request", format!("{} µs", num(g.cpu_us_per_request))),
        fact(
            "generator CPU",
            format!(
                "{} s; sending threads {} busy of {} (measured: {})",
                num(g.cpu_seconds),
                percent(g.cpu_share),
                g.threads,
                g.cpu_source
            ),
        ),
        fact("generator users / processes", format!("{} / {}", g.users, g.processes)),
        fact(
            "requests in flight: most at once (cap)",
            match g.held_at_cap {
                0 => format!("{} ({})", g.peak_in_flight, g.max_in_flight),
                n => format!(
                    "{} ({}): the target held every slot, {n} sends left late waiting for one ({} never left)",
                    g.peak_in_flight, g.max_in_flight, g.unsent_at_cap
                ),
            },
        ),
        fact("schedule lag p99 (limit)", format!("{} ({})", ms(lag.lag_us.p99 as f64), ms(lag.limit_p99_us as f64))),
        fact("writes read back", format!("{} sampled, {} verified, {} unchecked", v.sampled, v.verified, v.unchecked)),
        fact("lost writes", v.lost.to_string()),
        fact("corrupted writes", v.corrupted.to_string()),
        fact(
            "scenario",
            format!(
                "seed {}, {} s + {} s warm-up, read:write {}:{}, Zipf {}, preload {}",
                summary.scenario.seed,
                num(summary.scenario.duration_s),
                num(summary.scenario.warmup_s),
                summary.scenario.read_weight,
                summary.scenario.write_weight,
                summary.scenario.zipf_exponent,
                summary.scenario.preload
            ),
        ),
    ];
    if let Some(f) = &summary.fleet {
        let kind = if f.confined { "cores of boxes" } else { "cores, unconfined" };
        facts.push(fact(
            "rate per core of fleet",
            format!(
                "{} req/s per core ({} req/s answered without error on {} {kind})",
                num(f.rate_per_core),
                num(summary.operations.all.answered_rate()),
                cores_text(f.cores)
            ),
        ));
    }
    if let Some(u) = &summary.seed_users {
        let held = format!(
            "about {} ({} req/s at peak: {})",
            loadgen_model::capacity::about(u.held),
            num(u.held_rate),
            u.basis
        );
        facts.push(fact("this stage holds, in users of the seed's model", held));
        facts.push(fact(
            "users of the seed's model replayed",
            format!("about {}", loadgen_model::capacity::about(u.replayed)),
        ));
    }
    Page {
        run_id: summary.run_id.clone(),
        scenario_name: summary.scenario.name.clone(),
        profile: summary.profile.clone().unwrap_or_else(|| "external target".into()),
        target: format!("{} ({})", summary.target.url, summary.target.kind),
        started_at: summary.started_at.clone(),
        duration: format!("{} s", num(summary.duration_s)),
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        verdict: verdict_view(verdict),
        trustworthy: summary.trustworthy,
        untrustworthy_reasons: g.reasons.clone(),
        slo_passed: summary.slo.passed,
        charts,
        evidence,
        faults: verdict
            .map(|v| &v.faults[..])
            .unwrap_or_default()
            .iter()
            .map(|f| FaultRow {
                tier: f.tier.clone(),
                fault: f.fault.clone(),
                window: format!("{}–{} s", f.window[0], f.window[1]),
                sentence: f.sentence.clone(),
            })
            .collect(),
        tiers,
        recommendation: recommendation.map(|r| RecommendationView {
            action: r.action.clone(),
            reason: r.reason.clone(),
            expected_gain: r.expected_gain.clone(),
            expected_ceiling: r.expected_ceiling_rps.map(|c| format!("{} req/s", num(c))),
            current_stage: r.current_stage.clone(),
            next_stage: r.next_stage.clone().unwrap_or_default(),
            next_profile: r.next_profile.clone(),
            stay: r.next_stage.is_none(),
        }),
        stages: stages::stage_path(current.as_deref(), next),
        operations: vec![
            operation("read", &summary.operations.read),
            operation("write", &summary.operations.write),
            operation("all", &summary.operations.all),
        ],
        slo_checks: summary.slo.checks.iter().map(slo).collect(),
        facts,
        errors_by_kind: summary.errors_by_kind.iter().map(|(k, n)| fact(k.clone(), n.to_string())).collect(),
        scenario_text: scenario_text.map(str::to_string),
        profile_text: profile_text.map(str::to_string),
        cloudwatch: summary.cloudwatch.clone(),
        workers: crate::workers::worker_rows(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(0.123), "0.12");
        assert_eq!(num(0.0001), "1.00e-4");
        assert_eq!(ms(2500.0), "2.50 ms");
        assert_eq!(percent(0.5), "50.0%");
    }
}
