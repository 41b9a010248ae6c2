//! The builder: how the user names it, the kind that choice means here, and the program that
//! runs it.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use imprint_context::BuilderKind;

use crate::registry::credentials::{docker_config_dir, extra_plugin_dirs};

/// `[image] unused`: what a build does about packages of the image that no handler imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnusedCheck {
    /// Nothing.
    Off,
    /// One line after the build (size, delta from the deployed image, unused packages) when
    /// the layers are at hand without an export (the native builder).
    #[default]
    Report,
    /// The line after every build, a warning when a package is unused.
    Warn,
    /// The line after every build; an unused package stops the build (exit 2).
    Fail,
}

/// The builder as the user names it; `docker` is resolved to BuildKit or the legacy builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuilderChoice {
    /// The docker CLI: BuildKit when `docker buildx` is installed, the legacy builder otherwise.
    Docker,
    /// The docker CLI with BuildKit (buildx).
    Buildkit,
    /// The docker CLI's legacy builder.
    DockerLegacy,
    /// podman build.
    Podman,
    /// buildah bud.
    Buildah,
    /// imprint's own builder: no daemon, reproducible layers (a Dockerfile of the subset it
    /// follows).
    Native,
}

impl std::fmt::Display for BuilderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().map(|v| v.get_name().to_string());
        f.write_str(value.as_deref().unwrap_or("docker"))
    }
}

impl BuilderChoice {
    /// The builder kind this choice means. `docker` is BuildKit when the CLI has its buildx
    /// plugin (and `DOCKER_BUILDKIT` does not turn it off) or there is no docker CLI here, the
    /// legacy builder otherwise; the two read different ignore files.
    pub fn kind(self) -> BuilderKind {
        match self {
            Self::Buildkit => BuilderKind::Buildkit,
            Self::DockerLegacy => BuilderKind::DockerLegacy,
            Self::Podman => BuilderKind::Podman,
            Self::Buildah => BuilderKind::Buildah,
            Self::Native => BuilderKind::Native,
            Self::Docker => docker_kind(),
        }
    }
}

fn docker_kind() -> BuilderKind {
    if matches!(
        std::env::var("DOCKER_BUILDKIT").as_deref(),
        Ok("0") | Ok("false")
    ) {
        return BuilderKind::DockerLegacy;
    }
    if let Some(plugin) = buildx_plugin() {
        tracing::debug!("docker buildx found at {}", plugin.display());
        return BuilderKind::Buildkit;
    }
    if find_program(&docker_program()).is_none() {
        tracing::info!("no docker CLI found; hashing as BuildKit would send the context");
        return BuilderKind::Buildkit;
    }
    BuilderKind::DockerLegacy
}

/// The docker CLI's plugin folders besides its config folder's `cli-plugins`, as the CLI
/// searches them on Linux and macOS.
const SYSTEM_PLUGIN_DIRS: [&str; 4] = [
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
];

/// The docker CLI's buildx plugin, found where the CLI finds its plugins: the folders its
/// config's `cliPluginsExtraDirs` names, its config folder's `cli-plugins`, then the system
/// folders. Looked up rather than run: `docker buildx version` starts two Go programs on
/// every `tag`, `status` and `preview` (bench/MEASUREMENTS.md).
fn buildx_plugin() -> Option<PathBuf> {
    // An unreadable config is the docker CLI's to report; its other folders still count.
    let mut dirs = extra_plugin_dirs().unwrap_or_else(|e| {
        tracing::warn!("{e}; its plugin folders are not searched for docker buildx");
        Vec::new()
    });
    dirs.extend(docker_config_dir().map(|dir| dir.join("cli-plugins")));
    dirs.extend(SYSTEM_PLUGIN_DIRS.iter().map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join("docker-buildx"))
        .find(|path| is_executable(path))
}

/// `program` as a shell would find it: the path itself when it has a `/`, else the first
/// executable of that name on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| is_executable(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

/// A file (through symlinks) someone may run.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The docker CLI to run: `IMPRINT_DOCKER`, else `docker` on PATH.
pub fn docker_program() -> String {
    std::env::var("IMPRINT_DOCKER").unwrap_or_else(|_| "docker".into())
}

/// The program behind a builder kind (`IMPRINT_DOCKER`, `IMPRINT_PODMAN`, `IMPRINT_BUILDAH`
/// override where each is found).
pub fn builder_program(kind: BuilderKind) -> String {
    match kind {
        // A native image is run (run-local) through docker.
        BuilderKind::Buildkit | BuilderKind::DockerLegacy | BuilderKind::Native => docker_program(),
        BuilderKind::Podman => std::env::var("IMPRINT_PODMAN").unwrap_or_else(|_| "podman".into()),
        BuilderKind::Buildah => {
            std::env::var("IMPRINT_BUILDAH").unwrap_or_else(|_| "buildah".into())
        }
    }
}

/// `[image.native]`: what the native builder cannot read from the base image's tag.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSection {
    /// The image's Python (`3.12`).
    pub python: Option<String>,
    /// Where an install without `--target` puts packages.
    pub site_packages: Option<String>,
}

impl NativeSection {
    /// `overlay`'s keys over `base`'s (an environment's over the file's).
    pub fn merge(base: Option<Self>, overlay: Option<Self>) -> Option<Self> {
        match (base, overlay) {
            (Some(b), Some(o)) => Some(Self {
                python: o.python.or(b.python),
                site_packages: o.site_packages.or(b.site_packages),
            }),
            (b, o) => o.or(b),
        }
    }
}
