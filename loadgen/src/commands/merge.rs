//! `loadgen merge`: several runs' (or a distributed run's workers') reports as one.

use crate::cli::MergeArgs;
use crate::Exit;

/// Runs `loadgen merge`: the merged summary's exit code, or 2 when the inputs cannot be merged.
pub fn merge_command(args: &MergeArgs) -> Exit {
    match crate::merge::merge(&args.inputs, &args.out) {
        Ok(summary) => {
            println!("{}", crate::report::terminal_text(&summary, &args.out));
            Exit::for_summary(&summary)
        }
        Err(e) => {
            eprintln!("loadgen merge: {e}");
            Exit::BadInput
        }
    }
}
