//! The deploy journal: begin and end records kept as OCI artifacts in the image repository.

mod gc;
mod lease;
pub(crate) mod record;
mod rollback;
mod store;

pub(crate) use gc::{write_gc, ARTIFACT_TYPE as GC_ARTIFACT_TYPE};
pub use gc::{DeletedImage, GcRecord};
pub(crate) use lease::{acquire, force_release, next_free, release, Holder, Lease};
pub(crate) use lease::{ARTIFACT_TYPE as LEASE_ARTIFACT_TYPE, LEASE_PREFIX, LEASE_SETTLE};
pub(crate) use record::{
    new_id, now_rfc3339, unix_now, Liveness, ARTIFACT_TYPE, JOURNAL_FORMAT, TAG_PREFIX,
};
pub use record::{
    Action, AliasDeploy, Caller, Checkout, DeploymentOutcome, Finished, Firing, FunctionImage,
    Kind, Outcome, Planned, Record, Runner, Shift, SmokeResult,
};
pub(crate) use rollback::{previous, RollbackTo};
pub use store::{entries, Deployment};
pub(crate) use store::{newest_succeeded, succeeded, successful, unfinished, write};
