//! Settings: imprint.toml with its `[env.NAME]` overlays, merged once with flags and `IMPRINT_*`.

mod aws;
mod builder;
pub(crate) mod file;
mod gc;
pub(crate) mod init;
mod network;
mod rollout;
mod settings;
mod smoke;
mod strategy;
mod traffic;

pub use aws::AwsSection;
pub use builder::{builder_program, docker_program, BuilderChoice, UnusedCheck};
pub use file::{ConfigError, DeploySection, Owner, Selector};
pub use gc::{GcPolicy, GcSection};
pub use network::{parse_duration, NetworkArgs};
pub use rollout::{RolloutFlags, RolloutSettings};
pub use settings::{BuildInputArgs, BuildSettings, RegistryArgs, Settings};
pub use smoke::Smoke;
pub use strategy::Strategy;
pub use traffic::Traffic;
