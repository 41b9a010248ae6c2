//! The builder: how the user names it, the kind that choice means here, and the program that
//! runs it.

use std::process::{Command, Stdio};

use clap::ValueEnum;
use imprint_context::BuilderKind;

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
}

impl std::fmt::Display for BuilderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().map(|v| v.get_name().to_string());
        f.write_str(value.as_deref().unwrap_or("docker"))
    }
}

impl BuilderChoice {
    /// The builder kind this choice means. `docker` is BuildKit when the CLI has buildx (and
    /// `DOCKER_BUILDKIT` does not turn it off), the legacy builder otherwise; the two read
    /// different ignore files.
    pub fn kind(self) -> BuilderKind {
        match self {
            Self::Buildkit => BuilderKind::Buildkit,
            Self::DockerLegacy => BuilderKind::DockerLegacy,
            Self::Podman => BuilderKind::Podman,
            Self::Buildah => BuilderKind::Buildah,
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
    let buildx = Command::new(docker_program())
        .args(["buildx", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match buildx {
        Ok(status) if status.success() => BuilderKind::Buildkit,
        Ok(_) => BuilderKind::DockerLegacy,
        Err(e) => {
            tracing::info!(
                "docker CLI not runnable ({e}); hashing as BuildKit would send the context"
            );
            BuilderKind::Buildkit
        }
    }
}

/// The docker CLI to run: `IMPRINT_DOCKER`, else `docker` on PATH.
pub fn docker_program() -> String {
    std::env::var("IMPRINT_DOCKER").unwrap_or_else(|_| "docker".into())
}

/// The program behind a builder kind (`IMPRINT_DOCKER`, `IMPRINT_PODMAN`, `IMPRINT_BUILDAH`
/// override where each is found).
pub fn builder_program(kind: BuilderKind) -> String {
    match kind {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => docker_program(),
        BuilderKind::Podman => std::env::var("IMPRINT_PODMAN").unwrap_or_else(|_| "podman".into()),
        BuilderKind::Buildah => {
            std::env::var("IMPRINT_BUILDAH").unwrap_or_else(|_| "buildah".into())
        }
    }
}
