//! Lambda (and STS): one retrying client, function selection and reads, verified image updates.

mod aliases;
mod function;
mod identity;
mod retry;
mod select;
mod update;

pub use aliases::routing_aliases;
pub use function::{
    architecture_of, read_function, read_functions, tag_of, Function, ImageRef, UpdateStatus,
    PARALLEL_READS,
};
#[cfg(test)]
pub use function::{PackageType, State};
pub use identity::{caller_identity, identify, Caller};
pub use retry::Lambda;
pub use select::select;
pub use update::{update_image, MoveError};
