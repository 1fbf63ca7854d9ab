//! Autoscaling of the app boxes for the Users++++ stage: a target-tracking policy
//! ([`policy`]) and the controller that applies it to a running deployment.

pub mod policy;
pub mod controller;
