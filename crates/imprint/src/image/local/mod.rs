//! Running an image on this machine: the container (`container`), the Lambda Runtime API
//! imprint serves it for one invocation (`runtime_api`), and a native image put into the
//! local engine (`load`).

pub(crate) mod container;
pub(crate) mod load;
mod runtime_api;
