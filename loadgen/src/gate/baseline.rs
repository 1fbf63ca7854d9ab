//! The committed baseline of deterministic figures (`bench/gate-baseline.json`), written by
//! `loadgen gate record` and read by `loadgen gate --figures`, and the checks against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::Exit;
use crate::scenario::Scenario;

use super::check::{Check, Group, Status};
use super::figures::{self, Comparison};
use super::runner::Measured;

pub const BASELINE_VERSION: u32 = 1;

/// The run the figures are of: a gate run must match it for the figures to be comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunShape {
    pub scenario: String,
    pub seed: u64,
    /// Intended sends of the measured part and the warm-up, from the schedule.
    pub intended_sends: u64,
    pub preload: u32,
}

impl RunShape {
    pub fn of(scenario: &Scenario, summary: &crate::summary::Summary) -> Self {
        let warmup_sends =
            (scenario.load.curve(scenario.duration).mean() * scenario.warmup.as_secs_f64()).round() as u64;
        Self {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            intended_sends: summary.operations.all.intended + warmup_sends,
            preload: scenario.keys.preload,
        }
    }
}

/// The verdict's part that must not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictFigures {
    pub bottleneck: String,
    pub next_stage: String,
    /// `high`, `medium` or `low`: a low-confidence verdict rests on one signal (often host
    /// load from a neighbour), so a change involving one is shown, not gated.
    pub confidence: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateBaseline {
    pub version: u32,
    pub created_at: String,
    /// The side the figures were recorded on (e.g. `profile profiles/single-box.toml`).
    pub target: String,
    pub run: RunShape,
    /// API requests the service answered (reads, writes), for the record.
    pub requests: BTreeMap<String, f64>,
    /// Per-request figures (see `gate::figures::FIGURES`).
    pub figures: BTreeMap<String, f64>,
    pub verdict: Option<VerdictFigures>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("baseline {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("baseline {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("baseline {path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl GateBaseline {
    /// The baseline of a measured (drained, profiled) run.
    pub fn record(target: String, scenario: &Scenario, run: &Measured) -> Option<Self> {
        Some(Self {
            version: BASELINE_VERSION,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            target,
            run: RunShape::of(scenario, &run.summary),
            requests: BTreeMap::from([("reads".into(), run.delta.reads), ("writes".into(), run.delta.writes)]),
            figures: figures::per_request(&run.delta)?,
            verdict: verdict_of(run),
        })
    }

    /// Reads a baseline; unknown fields are errors naming the field.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BaselineError::Read { path: path.to_owned(), source })?;
        let parsed: Self = serde_json::from_str(&text)
            .map_err(|e| BaselineError::Parse { path: path.to_owned(), message: e.to_string() })?;
        if parsed.version != BASELINE_VERSION {
            let message = format!("field `version`: {} is not the supported {BASELINE_VERSION}", parsed.version);
            return Err(BaselineError::Parse { path: path.to_owned(), message });
        }
        Ok(parsed)
    }

    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(|source| BaselineError::Write { path: path.to_owned(), source })
    }
}

fn verdict_of(run: &Measured) -> Option<VerdictFigures> {
    let v = run.summary.verdict.as_ref()?;
    let r = run.summary.recommendation.as_ref()?;
    Some(VerdictFigures {
        bottleneck: v.bottleneck.clone(),
        next_stage: r.next_stage.clone().unwrap_or_else(|| r.current_stage.clone()),
        confidence: v.confidence.clone(),
    })
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "missing".into(), |v| format!("{v}"))
}

fn figure_check(c: &Comparison) -> Check {
    let r = c.rule;
    let tolerance = if !r.gated {
        "not gated".to_owned()
    } else if r.relative > 0.0 {
        format!("±{:.0}%", r.relative * 100.0)
    } else {
        format!("±{}", r.absolute)
    };
    Check {
        group: Group::Figures,
        name: c.name.clone(),
        status: if !r.gated {
            Status::Info
        } else if c.changed {
            Status::Fail
        } else {
            Status::Pass
        },
        observed: show(c.candidate),
        expected: format!("{} ({tolerance})", show(c.baseline)),
        detail: if c.changed {
            format!("{} changed from {} to {} — {}", c.name, show(c.baseline), show(c.candidate), r.why)
        } else {
            r.why.to_owned()
        },
        exit: Exit::FiguresChanged,
    }
}

/// The verdict's bottleneck and recommended stage must stay the same. A verdict that differs
/// with low confidence on either side is shown, not gated: on a shared machine a neighbour's
/// build raises the host load, and a low-confidence verdict rests on that one signal.
pub fn verdict_checks(expected: &VerdictFigures, got: Option<&VerdictFigures>) -> Vec<Check> {
    let low = expected.confidence == "low" || got.is_some_and(|g| g.confidence == "low");
    [
        ("verdict_bottleneck", &expected.bottleneck, got.map(|v| &v.bottleneck)),
        ("recommended_stage", &expected.next_stage, got.map(|v| &v.next_stage)),
    ]
    .into_iter()
    .map(|(name, want, have)| {
        let same = have == Some(want);
        let observed = have.cloned().unwrap_or_else(|| "none (run not profiled)".into());
        let confidence = got.map_or("none", |g| g.confidence.as_str());
        let (status, detail) = match (same, low && have.is_some()) {
            (true, _) => (Status::Pass, "same as the baseline".to_owned()),
            (false, true) => (
                Status::Info,
                format!("{name} was `{want}`, now `{observed}`, with low confidence (baseline {}, now {confidence}): not gated", expected.confidence),
            ),
            (false, false) => (Status::Fail, format!("{name} was `{want}`, now `{observed}` ({confidence} confidence)")),
        };
        Check { group: Group::Figures, name: name.into(), status, detail, observed, expected: want.clone(), exit: Exit::FiguresChanged }
    })
    .collect()
}

/// The checks of a candidate run against `baseline`.
pub fn checks(baseline: &GateBaseline, run: &Measured) -> Vec<Check> {
    let candidate = figures::per_request(&run.delta).unwrap_or_default();
    let mut out: Vec<Check> = figures::compare(&baseline.figures, &candidate).iter().map(figure_check).collect();
    if let Some(expected) = &baseline.verdict {
        out.extend(verdict_checks(expected, verdict_of(run).as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rejects_unknown_fields_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        let b = GateBaseline {
            version: BASELINE_VERSION,
            created_at: "2026-11-23T00:00:00Z".into(),
            target: "profile single-box".into(),
            run: RunShape { scenario: "smoke".into(), seed: 1, intended_sends: 300, preload: 50 },
            requests: BTreeMap::from([("reads".into(), 300.0)]),
            figures: BTreeMap::from([("db_primary_queries_per_request".into(), 1.3)]),
            verdict: Some(VerdictFigures {
                bottleneck: "none".into(),
                next_stage: "start".into(),
                confidence: "high".into(),
            }),
        };
        b.save(&path).unwrap();
        assert_eq!(GateBaseline::load(&path).unwrap(), b);
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace("\"preload\"", "\"preloaded\"")).unwrap();
        let e = GateBaseline::load(&path).unwrap_err().to_string();
        assert!(e.contains("preloaded"), "{e}");
    }

    #[test]
    fn a_changed_verdict_fails_unless_it_is_low_confidence() {
        let v = |b: &str, stage: &str, c: &str| VerdictFigures {
            bottleneck: b.into(),
            next_stage: stage.into(),
            confidence: c.into(),
        };
        let base = v("none", "start", "high");
        let statuses =
            |got: Option<&VerdictFigures>| verdict_checks(&base, got).iter().map(|c| c.status).collect::<Vec<_>>();
        assert_eq!(statuses(Some(&v("none", "start", "high"))), [Status::Pass, Status::Pass]);
        assert_eq!(statuses(Some(&v("db_primary", "users-plus", "high"))), [Status::Fail, Status::Fail]);
        assert_eq!(statuses(Some(&v("app", "users-plus", "low"))), [Status::Info, Status::Info]);
        assert_eq!(statuses(None), [Status::Fail, Status::Fail]);
    }
}
