//! One gate check and the gate's overall result: what every output (terminal, markdown,
//! JUnit XML, JSON) is rendered from.

use serde::{Deserialize, Serialize};

use crate::exit::Exit;

/// Which part of the gate a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// Deterministic per-request figures and the verdict, against the recorded baseline.
    Figures,
    /// Absolute SLOs of the candidate's run.
    Slo,
    /// Interleaved A/B of a wall-clock figure.
    Ab,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Self::Figures => "per-request figures",
            Self::Slo => "SLOs",
            Self::Ab => "interleaved A/B",
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The measurement could not decide (A/B interval straddling the threshold).
    Inconclusive,
    /// Shown for information, never gated.
    Info,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub group: Group,
    pub name: String,
    pub status: Status,
    /// What the candidate showed, with its unit.
    pub observed: String,
    /// The baseline or limit it was held to, with the tolerance.
    pub expected: String,
    /// One plain sentence: why it passed or failed.
    pub detail: String,
    /// The process exit code this check gives when it fails or is inconclusive.
    #[serde(skip)]
    pub exit: Exit,
}

impl Check {
    /// The exit code this check contributes (`Ok` when it passed or is informational).
    pub fn exit_contribution(&self) -> Exit {
        match self.status {
            Status::Pass | Status::Info => Exit::Ok,
            Status::Fail | Status::Inconclusive => self.exit,
        }
    }
}

/// Everything the gate found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// `pass`, or the name of the exit reason.
    pub outcome: String,
    pub exit_code: u8,
    pub checks: Vec<Check>,
    /// Plain lines about how the gate ran (targets, pairs, threshold source, durations).
    pub notes: Vec<String>,
    /// The A/B ratios and interval, when that part ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ab: Option<super::ab::AbOutcome>,
}

impl GateResult {
    pub fn new(checks: Vec<Check>, notes: Vec<String>, ab: Option<super::ab::AbOutcome>) -> Self {
        let exit = Exit::worst(checks.iter().map(Check::exit_contribution));
        Self { outcome: outcome_name(exit).to_owned(), exit_code: exit.code(), checks, notes, ab }
    }

    pub fn exit(&self) -> Exit {
        Exit::worst(self.checks.iter().map(Check::exit_contribution))
    }
}

/// A short name for an exit, as the outcome.
pub fn outcome_name(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "pass",
        Exit::Failure => "failure",
        Exit::BadInput => "bad-input",
        Exit::TargetUnreachable => "target-unreachable",
        Exit::SloBreached => "latency-slo-breached",
        Exit::GeneratorOverloaded => "generator-overloaded",
        Exit::FiguresChanged => "figures-changed",
        Exit::Regression => "regression",
        Exit::Inconclusive => "inconclusive",
        Exit::ErrorRate => "error-rate-breached",
        Exit::LostWrites => "lost-writes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status, exit: Exit) -> Check {
        Check {
            group: Group::Slo,
            name: "x".into(),
            status,
            observed: String::new(),
            expected: String::new(),
            detail: String::new(),
            exit,
        }
    }

    #[test]
    fn the_most_serious_failure_names_the_exit() {
        let r = GateResult::new(
            vec![
                check(Status::Fail, Exit::Regression),
                check(Status::Pass, Exit::LostWrites),
                check(Status::Fail, Exit::FiguresChanged),
                check(Status::Inconclusive, Exit::Inconclusive),
            ],
            vec![],
            None,
        );
        assert_eq!(r.exit(), Exit::FiguresChanged);
        assert_eq!((r.exit_code, r.outcome.as_str()), (6, "figures-changed"));
        let ok =
            GateResult::new(vec![check(Status::Pass, Exit::LostWrites), check(Status::Info, Exit::Ok)], vec![], None);
        assert_eq!((ok.exit_code, ok.outcome.as_str()), (0, "pass"));
        let unsure = GateResult::new(vec![check(Status::Inconclusive, Exit::Inconclusive)], vec![], None);
        assert_eq!(unsure.exit(), Exit::Inconclusive);
    }
}
