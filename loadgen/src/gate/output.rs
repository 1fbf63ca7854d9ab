//! The gate's outputs: a short plain explanation for the terminal, a markdown summary for a
//! CI job summary (`$GITHUB_STEP_SUMMARY`), JUnit XML with one testcase per check, and JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::check::{Check, GateResult, Group, Status};
use super::stats::Decision;
use super::GateError;

pub use loadgen_model::run_dir::GATE_JSON_FILE as JSON_FILE;
pub use loadgen_model::run_dir::GATE_JUNIT_FILE as JUNIT_FILE;
/// File names inside the gate's output directory.
pub use loadgen_model::run_dir::GATE_MARKDOWN_FILE as MARKDOWN_FILE;

const GROUPS: [Group; 3] = [Group::Figures, Group::Slo, Group::Ab];

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "ok",
        Status::Fail => "FAIL",
        Status::Inconclusive => "INCONCLUSIVE",
        Status::Info => "info",
    }
}

/// The terminal text: one line per gated check, failures explained, then the outcome.
pub fn terminal(result: &GateResult) -> String {
    let mut out = String::new();
    for note in &result.notes {
        let _ = writeln!(out, "  {note}");
    }
    for group in GROUPS {
        let checks: Vec<&Check> = result.checks.iter().filter(|c| c.group == group).collect();
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}:", group.title());
        for c in checks {
            let _ = writeln!(out, "  {:<13} {:<34} {} (expected {})", mark(c.status), c.name, c.observed, c.expected);
            if matches!(c.status, Status::Fail | Status::Inconclusive) {
                let _ = writeln!(out, "                {}", c.detail);
            }
        }
    }
    let failing: Vec<&str> = result
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Inconclusive))
        .map(|c| c.name.as_str())
        .collect();
    if failing.is_empty() {
        let _ = write!(out, "gate: PASS — every check held");
    } else {
        let _ =
            write!(out, "gate: {} (exit {}) — {}", result.outcome.to_uppercase(), result.exit_code, failing.join(", "));
    }
    out
}

/// The markdown summary.
pub fn markdown(result: &GateResult) -> String {
    let mut out = String::new();
    let headline = if result.exit_code == 0 {
        "✅ pass".to_owned()
    } else {
        format!("❌ {} (exit {})", result.outcome, result.exit_code)
    };
    let _ = writeln!(out, "## Performance gate: {headline}\n");
    for note in &result.notes {
        let _ = writeln!(out, "- {note}");
    }
    for group in GROUPS {
        let checks: Vec<&Check> = result.checks.iter().filter(|c| c.group == group).collect();
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n### {}\n\n| check | result | observed | expected | why |\n|---|---|---|---|---|",
            group.title()
        );
        for c in checks {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                c.name,
                mark(c.status),
                c.observed,
                c.expected,
                c.detail.replace('|', "\\|")
            );
        }
    }
    if let Some(ab) = &result.ab {
        let _ = writeln!(out, "\n<details><summary>A/B pairs ({}, {})</summary>\n", ab.metric.name(), ab.metric.unit());
        let _ = writeln!(out, "| pair | order | baseline | candidate | ratio |\n|---|---|---|---|---|");
        for (i, p) in ab.pairs.iter().enumerate() {
            let _ = writeln!(out, "| {} | {} | {} | {} | {:.3} |", i + 1, p.order, p.baseline, p.candidate, p.ratio);
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

/// JUnit XML: one test suite per group, one testcase per check; inconclusive is an error
/// (not a failure), informational figures are skipped testcases with their value.
pub fn junit(result: &GateResult) -> Result<String, GateError> {
    let mut report = Report::new("loadgen gate");
    for group in GROUPS {
        let checks: Vec<&Check> = result.checks.iter().filter(|c| c.group == group).collect();
        if checks.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(format!("gate.{}", group.title().replace(' ', "-")));
        for c in checks {
            let message = format!("{}: observed {}, expected {}", c.detail, c.observed, c.expected);
            let mut status = match c.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Info => TestCaseStatus::skipped(),
                Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Inconclusive => TestCaseStatus::non_success(NonSuccessKind::Error),
            };
            if c.status != Status::Pass {
                status.set_message(message.clone());
            }
            let mut case = TestCase::new(c.name.clone(), status);
            case.set_classname(format!("loadgen.gate.{}", group.title().replace(' ', "_")));
            case.set_system_out(message);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| GateError::Measurement(format!("JUnit XML: {e}")))
}

/// Writes the markdown, JUnit XML and JSON into `dir`; returns the paths written.
pub fn write_all(dir: &Path, result: &GateResult) -> Result<Vec<PathBuf>, GateError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map(|()| path.clone()).map_err(|source| GateError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| GateError::Write { path: dir.to_owned(), source })?;
    let json = serde_json::to_string_pretty(result).expect("a gate result serializes") + "\n";
    Ok(vec![write(MARKDOWN_FILE, markdown(result))?, write(JUNIT_FILE, junit(result)?)?, write(JSON_FILE, json)?])
}

/// The A/B decision as a check.
pub fn ab_check(ab: &super::ab::AbOutcome) -> Check {
    let i = &ab.interval;
    let observed =
        format!("median ratio {:.3}, {:.0}% CI [{:.3}, {:.3}]", i.estimate, i.confidence * 100.0, i.low, i.high);
    let (status, exit, detail) = match ab.decision {
        Decision::Pass => (Status::Pass, crate::Exit::Ok, format!("the whole interval is at or below the threshold {:.3}", ab.threshold)),
        Decision::Regression => (
            Status::Fail,
            crate::Exit::Regression,
            format!("the whole interval is above the threshold {:.3}: the candidate costs more, beyond this machine's noise", ab.threshold),
        ),
        Decision::Inconclusive => (
            Status::Inconclusive,
            crate::Exit::Inconclusive,
            format!("the interval straddles the threshold {:.3}: more pairs or a quieter machine are needed to tell", ab.threshold),
        ),
    };
    Check {
        group: Group::Ab,
        name: format!("{}_ratio", ab.metric.name().replace('-', "_")),
        status,
        observed,
        expected: format!("≤ {:.3} ({})", ab.threshold, ab.threshold_source),
        detail,
        exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;

    fn result() -> GateResult {
        let check = |name: &str, status, exit| Check {
            group: Group::Figures,
            name: name.into(),
            status,
            observed: "2.1".into(),
            expected: "1.3 (±1%)".into(),
            detail: "a | b".into(),
            exit,
        };
        GateResult::new(
            vec![
                check("db_primary_queries_per_request", Status::Fail, Exit::FiguresChanged),
                check("queue_calls", Status::Info, Exit::Ok),
            ],
            vec!["note".into()],
            None,
        )
    }

    #[test]
    fn outputs_name_the_failure() {
        let r = result();
        let text = terminal(&r);
        assert!(
            text.contains("FAIL") && text.ends_with("gate: FIGURES-CHANGED (exit 6) — db_primary_queries_per_request"),
            "{text}"
        );
        let md = markdown(&r);
        assert!(md.contains("## Performance gate: ❌ figures-changed (exit 6)") && md.contains("a \\| b"), "{md}");
        let xml = junit(&r).unwrap();
        assert!(
            xml.contains("tests=\"2\"") && xml.contains("failures=\"1\"") && xml.contains("skipped=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"db_primary_queries_per_request\""), "{xml}");
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path(), &r).unwrap();
        assert_eq!(written.len(), 3);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(JSON_FILE)).unwrap()).unwrap();
        assert_eq!(json["exit_code"], 6);
    }
}
