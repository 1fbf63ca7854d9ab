//! The one place a Tokio runtime is built for a command.

use tokio::runtime::{Builder, Runtime};

/// A runtime whose threads are the generator's (named so the CPU split counts them as
/// the generator's, apart from an embedded service's `svc-` threads).
pub fn generator() -> std::io::Result<Runtime> {
    Builder::new_multi_thread().thread_name(crate::cpu::RUNTIME_THREAD_NAME).enable_all().build()
}

/// A runtime for a command that sends no load (a service instance, `up`, a CloudWatch pull,
/// a preload): tokio's default thread names.
pub fn plain() -> std::io::Result<Runtime> {
    Builder::new_multi_thread().enable_all().build()
}
