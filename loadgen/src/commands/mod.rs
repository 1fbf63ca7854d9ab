//! The subcommands, one file each, behind one [`dispatch`]: each parses nothing (clap did),
//! runs its job on the one runtime builder ([`runtime`]) and answers an [`Exit`]; the library
//! errors map to exit codes in one place ([`errors`]).

pub mod errors;
pub mod evolve;
pub mod gate;
pub mod k8s_job;
pub mod merge;
pub mod preload;
pub mod report;
pub mod run;
pub mod runtime;
pub mod serve_internal;
pub mod up;

use crate::cli::{Cli, Command};
use crate::Exit;

/// Runs what the command line asked for.
pub fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", crate::summary::schema_json());
            Exit::Ok
        }
        Some(Command::Scenarios { scenarios_dir }) => {
            for name in crate::scenario::list_names(&scenarios_dir) {
                println!("{name}");
            }
            Exit::Ok
        }
        Some(Command::Merge(args)) => merge::merge_command(&args),
        Some(Command::Report(args)) => report::report_command(&args),
        Some(Command::Preload(args)) => preload::preload_command(&args),
        Some(Command::K8sJob(args)) => k8s_job::k8s_job_command(&args),
        Some(Command::Evolve(args)) => evolve::evolve_command(args),
        Some(Command::Gate(args)) => gate::gate_command(*args),
        Some(Command::Up(args)) => up::up_command(&args),
        Some(Command::ServeInternal(cli)) => match serve_internal::serve_internal(cli) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                eprintln!("loadgen serve-internal: {e:#}");
                Exit::Failure
            }
        },
        None => run::run_command(cli.run),
    }
}
