//! The `service` command line: which profile, where to listen, and the overrides that win over
//! the profile file (CLI > environment > file > default).

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::Parser;

use crate::config::{Overrides, Profile};

/// scaleloop's reference content service: the seed's content API on the backends a profile
/// names (SQLite or PostgreSQL with replicas; no cache, in-process or Redis; local or S3 object
/// store; job table or Redis Streams queue).
#[derive(Debug, Parser)]
#[command(name = "service", version)]
pub struct Cli {
    /// Deployment profile (TOML). Without one, the embedded single-box defaults are used.
    #[arg(long, env = "SCALELOOP_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "SCALELOOP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite file and the local object store.
    #[arg(long, env = "SCALELOOP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL primary URL (PostgreSQL profiles only).
    #[arg(long, env = "SCALELOOP_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Do not run workers in this process (a separate worker fleet takes the jobs).
    #[arg(long, conflicts_with = "workers_only")]
    pub no_worker: bool,
    /// Run only the workers: no HTTP listener.
    #[arg(long)]
    pub workers_only: bool,
}

impl Cli {
    /// The profile with every override applied.
    pub fn resolved_profile(&self) -> anyhow::Result<Profile> {
        let mut profile = match &self.profile {
            Some(path) => Profile::load(path)?,
            None => Profile::parse("name = \"single-box\"\nstage = \"start\"", "<built-in>".as_ref())
                .context("built-in profile")?,
        };
        profile.service.apply_overrides(&Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            in_process_worker: (self.no_worker || self.workers_only).then_some(!self.no_worker),
        });
        Ok(profile)
    }
}

/// Entry point of the binary.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    let profile = cli.resolved_profile()?;
    if cli.workers_only {
        tracing::info!(profile = %profile.name, "running workers only");
        return crate::run_workers(profile, crate::shutdown_signal()).await.context("worker fleet");
    }
    let addr = profile.service.http.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let name = profile.name.clone();
    let app = crate::App::build(profile.service).await.context("connecting the profile's backends")?;
    // Printed on stdout (not the log) so scripts and the harness can read the address.
    println!("scaleloop service ({name}) listening on http://{bound}");
    app.serve(listener, crate::shutdown_signal()).await.context("serving")?;
    tracing::info!("drained; bye");
    Ok(())
}
