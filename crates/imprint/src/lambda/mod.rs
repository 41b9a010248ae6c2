//! Lambda (with STS and CloudWatch): the SDK's configuration (region, profile, assumed role),
//! one retrying client paced to Lambda's quotas, function selection and reads,
//! verified image updates, versions and aliases, the alarms watched while traffic shifts, and
//! the image functions a Pulumi stack declares.

mod alarms;
mod aliases;
mod function;
mod identity;
mod image;
mod inventory;
mod invoke;
mod pace;
mod retry;
mod sdk;
mod select;
pub(crate) mod stack;
mod update;
mod versions;

pub use alarms::{Alarms, Firing};
pub use aliases::routing_aliases;
pub use function::{
    architecture_of, attach_aliases, read_alias_views, read_function, read_functions, Function,
    UpdateStatus,
};
#[cfg(test)]
pub use function::{PackageType, State};
pub use identity::{caller_identity, identify, Caller};
pub use image::{repository_of, tag_of, FunctionImage};
pub use inventory::{
    delete_version, read_images, region_image_versions, FunctionImages, RegionVersion,
};
pub use invoke::invoke;
pub use pace::{Pace, CONTROL_PLANE_RATE};
pub use retry::{Lambda, PARALLEL_READS};
pub use sdk::load as load_sdk_config;
pub use select::{image_functions, select};
pub use update::{update_image, MoveError};
pub use versions::{
    percent_of, publish_version, read_alias_route, read_version_code, set_route, version_image,
    AliasView, Route, VersionCode,
};
