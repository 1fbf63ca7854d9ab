//! `loadgen gate`: the CI performance regression gate (see [`crate::gate`]).

use anyhow::Context;

use super::{errors, runtime};
use crate::gate::args::GateArgs;
use crate::Exit;

pub fn gate_command(args: GateArgs) -> Exit {
    let runtime = runtime::generator().context("starting the gate's runtime");
    let result = runtime.and_then(|r| r.block_on(crate::gate::command::execute(args)).map_err(anyhow::Error::from));
    match result {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("loadgen gate: {e:#}");
            e.downcast_ref::<crate::gate::GateError>().map_or(Exit::Failure, errors::for_gate)
        }
    }
}
