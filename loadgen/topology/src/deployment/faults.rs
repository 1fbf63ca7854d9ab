//! Faults done to a running topology — the levers of the chaos runner (`loadgen::faults`): kill
//! or pause one named server, and start a killed one again as it was (same port, same data,
//! same box), so that the service instances, the load balancer and the profiler find it
//! where they left it. A killed API instance is replaced instead: a new box joins the load
//! balancer and the dead one's server entry is deleted.

use nix::sys::signal::Signal;

use super::{BoxCgroup, Boxed, Deployment, Role, TopologyError};
use crate::{haproxy, postgres, redis};

/// A server of a launched stage that a fault can be done to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    Redis,
    Haproxy,
    /// The (first) primary.
    Primary,
    Standby,
    /// A read replica, by its index among the stage's replicas.
    Replica(usize),
    /// An API instance, by name (`app-3`).
    App(String),
}

impl Server {
    /// The tier the verdict names for it (`cache`, `lb`, `db_primary`, `db_replica`, `app`).
    pub fn tier(&self) -> &'static str {
        match self {
            Self::Redis => "cache",
            Self::Haproxy => "lb",
            Self::Primary | Self::Standby => "db_primary",
            Self::Replica(_) => "db_replica",
            Self::App(_) => "app",
        }
    }
}

impl Deployment {
    /// Resolves a fault's target: `redis`, `haproxy`, `primary`, `standby`, `replica` (the
    /// first), `app` (the first API instance), or a box's own name (`pg-replica-2`, `app-3`).
    /// Returns the server and its box's name.
    pub fn server(&self, target: &str) -> Result<(Server, String), TopologyError> {
        let missing = |what: &str| TopologyError::Unsupported {
            profile: self.profile.name.clone(),
            reason: format!("fault target `{target}`: {what}"),
        };
        let replica = |i: usize| self.replicas.get(i).map(|r| (Server::Replica(i), r.node.name.clone()));
        let found = match target {
            "redis" => self.redis.as_ref().map(|_| (Server::Redis, "redis".to_owned())),
            "haproxy" => self.lb.as_ref().map(|_| (Server::Haproxy, "haproxy".to_owned())),
            "primary" | "pg-primary" => self.primaries.first().map(|p| (Server::Primary, p.node.name.clone())),
            "standby" | "pg-standby" => self.standby.as_ref().map(|s| (Server::Standby, s.node.name.clone())),
            "replica" => replica(0),
            "app" => self.apps.first().map(|a| (Server::App(a.name.clone()), a.name.clone())),
            name => self.replicas.iter().position(|r| r.node.name == name).and_then(replica).or_else(|| {
                self.apps.iter().find(|a| a.name == name).map(|a| (Server::App(a.name.clone()), a.name.clone()))
            }),
        };
        found.ok_or_else(|| missing("this stage has no such server"))
    }

    /// SIGKILL to every process of the server's box (the machine died). Its box stays, so
    /// that it can be started again inside the same quota.
    pub fn kill_server(&mut self, server: &Server) {
        match server {
            Server::Redis => self.redis.iter_mut().for_each(|r| r.node.process.kill()),
            Server::Haproxy => self.lb.iter_mut().for_each(|l| l.node.process.kill()),
            Server::Primary => self.kill_primary(),
            Server::Standby => self.standby.iter_mut().for_each(|s| s.node.process.kill()),
            Server::Replica(i) => self.replicas.get_mut(*i).into_iter().for_each(|r| r.node.process.kill()),
            Server::App(name) => self.apps.iter_mut().filter(|a| &a.name == name).for_each(|a| a.process.kill()),
        }
    }

    /// SIGSTOP (`paused`) or SIGCONT to the server's process group: a paused server keeps its
    /// connections open and answers nothing, the way a hung machine looks to its callers.
    pub fn pause_server(&self, server: &Server, paused: bool) {
        let signal = if paused { Signal::SIGSTOP } else { Signal::SIGCONT };
        match server {
            Server::Redis => self.redis.iter().for_each(|r| r.node.process.signal_group(signal)),
            Server::Haproxy => self.lb.iter().for_each(|l| l.node.process.signal_group(signal)),
            Server::Primary => self.primaries.iter().take(1).for_each(|p| p.node.process.signal_group(signal)),
            Server::Standby => self.standby.iter().for_each(|s| s.node.process.signal_group(signal)),
            Server::Replica(i) => self.replicas.get(*i).into_iter().for_each(|r| r.node.process.signal_group(signal)),
            Server::App(name) => {
                self.apps.iter().filter(|a| &a.name == name).for_each(|a| a.process.signal_group(signal))
            }
        }
    }

    /// Starts a killed server again: Redis, HAProxy and PostgreSQL on their old port and data
    /// in their old box (PostgreSQL runs its crash recovery); an API instance is replaced by
    /// a new one behind the load balancer. Returns the name of what now serves.
    pub async fn start_server_again(&mut self, server: &Server) -> Result<String, TopologyError> {
        match server {
            Server::Redis => self.restart_redis().await.map(|()| "redis".to_owned()),
            Server::Haproxy => self.restart_lb().await.map(|()| "haproxy".to_owned()),
            Server::Primary => restart_pg(self, |d| d.primaries.first_mut()).await,
            Server::Standby => restart_pg(self, |d| d.standby.as_mut()).await,
            Server::Replica(i) => restart_pg(self, |d| d.replicas.get_mut(*i)).await,
            Server::App(name) => self.replace_app(name).await,
        }
    }

    /// Stops a server cleanly and starts it again at once (`restart`: a deploy, a config
    /// reload gone wrong). API instances are drained out of the load balancer first.
    pub async fn restart_server(&mut self, server: &Server) -> Result<String, TopologyError> {
        match server {
            Server::App(name) => {
                let role = self.apps.iter().find(|a| &a.name == name).map_or(Role::Api, |a| a.role);
                let new = self.add_instance(role).await?;
                self.remove_app_instance(name).await?;
                Ok(new)
            }
            _ => {
                self.stop_server(server);
                self.start_server_again(server).await
            }
        }
    }

    fn stop_server(&mut self, server: &Server) {
        let grace = super::GRACE;
        match server {
            Server::Redis => self.redis.iter_mut().for_each(|r| r.node.process.stop(grace)),
            Server::Haproxy => self.lb.iter_mut().for_each(|l| l.node.process.stop(grace)),
            Server::Primary => self.primaries.iter_mut().take(1).for_each(|p| p.node.process.stop(grace)),
            Server::Standby => self.standby.iter_mut().for_each(|s| s.node.process.stop(grace)),
            Server::Replica(i) => self.replicas.get_mut(*i).into_iter().for_each(|r| r.node.process.stop(grace)),
            Server::App(name) => self.apps.iter_mut().filter(|a| &a.name == name).for_each(|a| a.process.stop(grace)),
        }
    }

    async fn restart_redis(&mut self) -> Result<(), TopologyError> {
        let Some(old) = &self.redis else { return Ok(()) };
        let procs = old.cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
        let bin = self.bins.redis.clone().unwrap_or_default();
        let (password, port, memory) = (old.node.password().clone(), old.node.port, old.memory_mib);
        let node =
            redis::start_on(&bin, &self.run_dir.join("redis"), &password, procs, &self.logs(), memory, port).await?;
        if let Some(r) = &mut self.redis {
            r.node = node;
        }
        Ok(())
    }

    /// HAProxy again on its old ports, its configuration written anew from the instances
    /// that serve now (servers added at run time are in no file).
    async fn restart_lb(&mut self) -> Result<(), TopologyError> {
        let pools = self.lb_pools();
        let Some(old) = &self.lb else { return Ok(()) };
        let procs = old.cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
        let bin = self.bins.haproxy.clone().unwrap_or_default();
        let ports = (old.node.port, old.node.stats_port);
        let layout = haproxy::LbLayout::new(self.profile.topology.split_read_write, old.cpus);
        let node =
            haproxy::start_on(&bin, &self.run_dir.join("lb"), &pools, layout, procs, &self.logs(), ports).await?;
        if let Some(l) = &mut self.lb {
            l.node = node;
        }
        Ok(())
    }

    /// A new API instance in place of the dead `name`: it joins the load balancer, then the
    /// dead one's box and server entry go.
    async fn replace_app(&mut self, name: &str) -> Result<String, TopologyError> {
        let Some(role) = self.apps.iter().find(|a| a.name == name).map(|a| a.role) else {
            return Err(TopologyError::Unsupported {
                profile: self.profile.name.clone(),
                reason: format!("no API instance named {name}"),
            });
        };
        if self.lb.is_none() {
            return Err(TopologyError::Unsupported {
                profile: self.profile.name.clone(),
                reason: "replacing an API instance needs an `lb` box".into(),
            });
        }
        let new = self.add_instance(role).await?;
        // HAProxy deletes only a server in maintenance; the dead one has no session to wait for.
        if let Some(lb) = &self.lb {
            lb.node.drain_server(role.tier(), name, std::time::Duration::from_millis(500)).await?;
        }
        self.stop_instance(name);
        if let Some(lb) = &self.lb {
            lb.node.delete_server(role.tier(), name).await?;
        }
        Ok(new)
    }
}

/// Starts the PostgreSQL node `pick` chooses again on its port and data directory.
async fn restart_pg(
    d: &mut Deployment,
    pick: impl Fn(&mut Deployment) -> Option<&mut Boxed<postgres::PgNode>>,
) -> Result<String, TopologyError> {
    let profile = d.profile.name.clone();
    let Some(settings) = d.pg.clone() else {
        return Err(TopologyError::Unsupported { profile, reason: "no PostgreSQL".into() });
    };
    let logs = d.logs();
    let Some(b) = pick(d) else {
        return Err(TopologyError::Unsupported { profile, reason: "that server is gone (failed over?)".into() });
    };
    let procs = b.cgroup.as_ref().map(BoxCgroup::procs_files).unwrap_or_default();
    let (name, dir, port) = (b.node.name.clone(), b.node.data_dir.clone(), b.node.port);
    b.node = postgres::start(&settings, &name, &dir, port, procs, &logs).await?;
    Ok(name)
}
