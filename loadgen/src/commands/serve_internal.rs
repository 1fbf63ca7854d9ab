//! `loadgen serve-internal`: one service instance of a launched stage (the launcher starts
//! the harness's own binary, so a stage needs no second program installed).

use anyhow::Context;

use super::runtime;

/// `loadgen serve-internal`: one service instance of a launched stage.
pub fn serve_internal(cli: service::cli::Cli) -> anyhow::Result<()> {
    let runtime = runtime::plain().context("starting the service's runtime")?;
    runtime.block_on(service::cli::main(cli))
}
