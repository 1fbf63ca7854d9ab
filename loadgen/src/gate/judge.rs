//! `loadgen gate --run DIR`: judges a run the gate did not make — a merged distributed run
//! above all — on its `summary.json` as a whole: the SLOs of its own `scenario.toml` (or
//! --scenario's, with the --slo-* overrides) against the merged figures, never a worker's,
//! and whether every worker kept its schedule. The per-request figures and A/B need runs the
//! gate makes itself against a target it counts, so they are not offered here.

use std::path::Path;

use super::args::CheckArgs;
use super::check::GateResult;
use super::slo::{self, SloOverrides};
use super::{output, GateError};
use crate::exit::Exit;
use crate::scenario::Scenario;
use crate::summary::Summary;

/// Runs the check of `dir`; the exit code to end with.
pub fn judge_run(dir: &Path, args: &CheckArgs) -> Result<Exit, GateError> {
    let summary: Summary =
        loadgen_model::RunDir::new(dir).read_summary().map_err(|e| GateError::BadInput(format!("--run: {e}")))?;
    let scenario_path = dir.join(crate::html::SCENARIO_FILE);
    let scenario = if scenario_path.is_file() {
        let text = std::fs::read_to_string(&scenario_path)
            .map_err(|e| GateError::BadInput(format!("{}: {e}", scenario_path.display())))?;
        Scenario::parse(&text, &scenario_path).map_err(|e| GateError::BadInput(e.to_string()))?
    } else {
        Scenario::find(&args.shape.scenario, &args.shape.scenarios_dir)
            .map_err(|e| GateError::BadInput(e.to_string()))?
    };
    if scenario.name != summary.scenario.name {
        return Err(GateError::BadInput(format!(
            "--run {}: the run is of scenario {}, its SLOs were asked of {}",
            dir.display(),
            summary.scenario.name,
            scenario.name
        )));
    }
    let slo = SloOverrides { p99: args.slo_p99, max_error_rate: args.slo_error_rate }.apply(&scenario.slo);
    let checks = slo::checks(&summary, &slo);
    let whole = match summary.workers.len() {
        0 => "one generator process".to_owned(),
        n => format!("the merge of {n} workers, judged as one run"),
    };
    let notes = vec![format!("run {} ({whole}); scenario {} (seed {})", summary.run_id, scenario.name, scenario.seed)];
    let result = GateResult::new(checks, notes, None);
    let written = output::write_all(&args.shape.out, &result)?;
    println!("{}", output::terminal(&result));
    println!("written: {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(result.exit())
}
