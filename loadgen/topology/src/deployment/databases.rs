//! Bringing up a stage's PostgreSQL: the clusters' directory, password and pgpass file, the
//! primary (or shards), then the standby and the read replicas streaming from it.

use nix::unistd::{geteuid, User};

use super::{BoxCgroup, Boxed, Deployment, Plan, RunAs, TopologyError};
use crate::{
    port_clash,
    postgres::{self, PgNode, PgSettings},
    process::free_port,
    secure::{self, Secret},
};

impl Deployment {
    /// The clusters' settings, with their directory made and the run's pgpass file in it.
    pub(super) fn pg_settings(&mut self) -> Result<PgSettings, TopologyError> {
        let run_as = if geteuid().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(TopologyError::MissingBinary { program: "the postgres user", package: "postgresql" })?;
            Some(RunAs { uid: user.uid.as_raw(), gid: user.gid.as_raw() })
        } else {
            None
        };
        let root = if run_as.is_some() {
            // The postgres user cannot enter the 0700 run directory: its own directory.
            let root = secure::fresh_temp_dir("scaleloop-pg-")?;
            self.scratch_dirs.push(root.clone());
            secure::chown(&root, run_as)?;
            root
        } else {
            let root = self.run_dir.join("pg");
            secure::create_fresh_dir(&root)?;
            root
        };
        let settings = PgSettings {
            bin: self.bins.pg_bin.clone().unwrap_or_default(),
            run_as,
            synchronous_commit: self.profile.topology.synchronous_commit.as_pg(),
            shared_buffers_mib: self.profile.topology.pg_shared_buffers_mib,
            root,
            password: Secret::generate(),
        };
        postgres::write_passfile(&settings)?;
        Ok(settings)
    }

    async fn start_pg_node(
        &self,
        settings: &PgSettings,
        tier: &'static str,
        name: &str,
        upstream: Option<u16>,
    ) -> Result<Boxed<PgNode>, TopologyError> {
        let dir = settings.root.join(name);
        let logs = self.logs();
        let (s, n, d) = (settings.clone(), name.to_owned(), dir.clone());
        // initdb and pg_basebackup take seconds; keep them off the async threads.
        tokio::task::spawn_blocking(move || match upstream {
            None => postgres::init_primary(&s, &n, &d, &logs),
            Some(port) => postgres::base_backup(&s, &n, port, &d, &logs),
        })
        .await
        .map_err(|e| TopologyError::io("joining a setup task", std::io::Error::other(e)))??;
        let (cgroup, cpus, memory_mib) = self.make_box(tier, name)?;
        let procs = cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
        let mut attempt = 0;
        let node = loop {
            attempt += 1;
            match postgres::start(settings, name, &dir, free_port()?, procs.clone(), &self.logs()).await {
                Err(e) if attempt < 3 && port_clash(&e) => continue,
                other => break other?,
            }
        };
        Ok(Boxed { tier, cgroup, cpus, memory_mib, node })
    }

    pub(super) async fn start_postgres(&mut self, plan: &Plan) -> Result<(), TopologyError> {
        let Some(settings) = self.pg.clone() else { return Ok(()) };
        for i in 0..plan.db {
            let name = if plan.db > 1 { format!("pg-shard-{i}") } else { "pg-primary".to_owned() };
            let node = self.start_pg_node(&settings, "db", &name, None).await?;
            postgres::create_database(&node.node).await?;
            self.primaries.push(node);
        }
        let primary_port = self.primaries[0].node.port;
        let mut followers = Vec::new();
        if plan.standby {
            self.standby = Some(self.start_pg_node(&settings, "db-standby", "pg-standby", Some(primary_port)).await?);
            followers.push("pg-standby".to_owned());
        }
        for i in 1..=plan.replicas {
            let name = format!("pg-replica-{i}");
            let node = self.start_pg_node(&settings, "db-replica", &name, Some(primary_port)).await?;
            self.replicas.push(node);
            followers.push(name);
        }
        postgres::verify_streaming(&self.primaries[0].node, &followers).await?;
        if self.profile.topology.synchronous_standby {
            postgres::make_synchronous(&self.primaries[0].node, "pg-standby").await?;
        }
        self.set_pg_endpoints();
        Ok(())
    }

    pub(super) fn set_pg_endpoints(&mut self) {
        self.endpoints.primary_url = self.primaries.first().map(|p| p.node.url());
        self.endpoints.replica_urls = self.replicas.iter().map(|r| r.node.url()).collect();
        self.endpoints.shard_urls =
            if self.primaries.len() > 1 { self.primaries.iter().map(|p| p.node.url()).collect() } else { Vec::new() };
    }
}
