//! The deploy journal: begin and end records kept as OCI artifacts in the image repository.

mod lease;
pub(crate) mod record;
mod rollback;
mod store;

pub(crate) use lease::{acquire, force_release, release, Holder, Lease};
pub(crate) use record::{new_id, now_rfc3339, unix_now, Liveness, JOURNAL_FORMAT};
pub use record::{
    Action, AliasDeploy, Caller, DeploymentOutcome, Finished, Firing, ImageRef, Kind, Outcome,
    Planned, Record, Runner, Shift, SmokeResult,
};
pub(crate) use rollback::{previous, succeeded, Back};
pub use store::{entries, Deployment};
pub(crate) use store::{unfinished, write};
