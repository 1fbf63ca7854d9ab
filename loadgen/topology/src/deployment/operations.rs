//! What can be done to a running topology: add or remove API instances behind the load
//! balancer (the autoscaler's levers), kill the primary and fail over to the standby.

use super::{extract, AppInstance, Deployment, Role, TopologyError, GRACE};

impl Deployment {
    /// How many API instances run now.
    pub fn instance_count(&self) -> usize {
        self.apps.len()
    }

    /// Starts one more API instance in a new box (sized like the profile's `app` box, or
    /// `app-read` when the pools are split) and adds it to the load balancer once healthy.
    pub async fn add_app_instance(&mut self) -> Result<String, TopologyError> {
        let role = if self.profile.topology.split_read_write { Role::ApiRead } else { Role::Api };
        self.add_instance(role).await
    }

    /// [`Self::add_app_instance`] for a given pool.
    pub async fn add_instance(&mut self, role: Role) -> Result<String, TopologyError> {
        if self.lb.is_none() || role == Role::Worker {
            return Err(TopologyError::Unsupported {
                profile: self.profile.name.clone(),
                reason: "adding API instances needs an `lb` box".into(),
            });
        }
        let name = self.start_instance(role).await?;
        let port = self.apps.last().and_then(|a| a.port).unwrap_or_default();
        let added = match &self.lb {
            Some(lb) => lb.node.add_server(role.tier(), &name, port).await,
            None => Ok(()),
        };
        if let Err(e) = added {
            self.stop_instance(&name);
            return Err(e);
        }
        Ok(name)
    }

    /// Takes API instance `name` out of the load balancer (draining it for up to 5 s), stops
    /// it and removes its box.
    pub async fn remove_app_instance(&mut self, name: &str) -> Result<(), TopologyError> {
        let Some(instance) = self.apps.iter().find(|a| a.name == name) else {
            return Err(TopologyError::Unsupported {
                profile: self.profile.name.clone(),
                reason: format!("no API instance named {name}"),
            });
        };
        let backend = instance.role.tier();
        if let Some(lb) = &self.lb {
            lb.node.drain_server(backend, name, GRACE).await?;
        }
        self.stop_instance(name);
        if let Some(lb) = &self.lb {
            lb.node.delete_server(backend, name).await?;
        }
        Ok(())
    }

    pub(super) fn stop_instance(&mut self, name: &str) {
        let taken: Vec<AppInstance> =
            extract(&mut self.apps, name).into_iter().chain(extract(&mut self.workers, name)).collect();
        for mut i in taken {
            i.process.stop(GRACE);
            if let Some(cg) = &i.cgroup {
                cg.remove();
            }
        }
    }

    /// Kills the primary's whole box at once (SIGKILL to every process: the machine died).
    pub fn kill_primary(&mut self) {
        if let Some(p) = self.primaries.first_mut() {
            p.node.process.kill();
        }
    }

    /// Fails over to the standby: promotes it, points the replicas at it, and replaces every
    /// service instance by one configured for the new primary (new instances join the load
    /// balancer before the old ones leave). The old primary's box is removed. The stage has
    /// no standby afterwards.
    pub async fn failover(&mut self) -> Result<(), TopologyError> {
        let Some(standby) = self.standby.take() else {
            return Err(TopologyError::Unsupported {
                profile: self.profile.name.clone(),
                reason: "no db-standby to fail over to".into(),
            });
        };
        standby.node.promote().await?;
        for r in &self.replicas {
            standby.node.create_slot_for(&r.node.name).await?;
            r.node.follow(standby.node.port).await?;
        }
        let old = std::mem::replace(&mut self.primaries, vec![standby]);
        for mut b in old {
            b.node.process.kill();
            if let Some(cg) = &b.cgroup {
                cg.remove();
            }
        }
        self.set_pg_endpoints();
        self.replace_instances().await?;
        // The replicas must stream from the new primary, through their slots on it.
        let names: Vec<String> = self.replicas.iter().map(|r| r.node.name.clone()).collect();
        match self.primaries.first() {
            Some(p) => crate::postgres::verify_streaming(&p.node, &names).await,
            None => Ok(()),
        }
    }

    /// Replaces every worker and API instance with a fresh one on the current endpoints.
    async fn replace_instances(&mut self) -> Result<(), TopologyError> {
        let old: Vec<(String, Role)> =
            self.workers.iter().chain(&self.apps).map(|i| (i.name.clone(), i.role)).collect();
        for (name, role) in old {
            if role == Role::Worker {
                self.start_instance(Role::Worker).await?;
                self.stop_instance(&name);
            } else if self.lb.is_some() {
                self.add_instance(role).await?;
                self.remove_app_instance(&name).await?;
            } else {
                // No load balancer: the single instance is the base URL; restart it.
                self.stop_instance(&name);
                self.start_instance(role).await?;
                self.base_url = self.apps.first().and_then(AppInstance::url).unwrap_or_default();
            }
        }
        Ok(())
    }
}
