//! Settings: imprint.toml with its `[env.NAME]` overlays, merged once with flags and `IMPRINT_*`.

mod aws;
mod builder;
pub(crate) mod file;
mod gc;
pub(crate) mod init;
mod network;
mod settings;
mod smoke;
mod strategy;
mod traffic;

pub use aws::AwsSection;
pub use builder::{builder_program, docker_program, BuilderChoice};
pub use file::{Config, ConfigError, DeploySection, Owner, Sections, Selector};
pub use gc::{GcPolicy, GcSection};
pub use network::{parse_duration, NetworkArgs};
pub use settings::{BuildInputArgs, BuildSettings, RegistryArgs, Settings};
pub use smoke::{load as load_smoke, Smoke};
pub use strategy::Strategy;
pub use traffic::Traffic;
