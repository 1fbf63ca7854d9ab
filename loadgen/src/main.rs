//! `loadgen`: the command-line front door (see `loadgen --help`).

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::Exit;

/// mimalloc instead of the system allocator: a request allocates a few dozen small blocks
/// (headers, buffers, futures) and glibc's malloc/free were ~7% of the sending thread's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::BadInput.code() } else { 0 });
        }
    };
    // A service instance logs what the `service` binary logs; the harness only warnings.
    let default_filter = if matches!(cli.command, Some(Command::ServeInternal(_))) { "info,sqlx=warn" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let exit = loadgen::commands::dispatch(cli);
    ExitCode::from(exit.code())
}
