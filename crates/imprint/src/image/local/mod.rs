//! Running an image on this machine: the container (`container`) and the Lambda Runtime API
//! imprint serves it for one invocation (`runtime_api`).

pub(crate) mod container;
mod runtime_api;
