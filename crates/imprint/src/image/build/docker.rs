//! The docker CLI, with BuildKit (`docker buildx build --load`) or its legacy builder; its
//! images are exported from the daemon's socket when that is a local one (`engine`), else
//! through `docker save`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use imprint_context::BuilderKind;

use super::cli::Cli;
use super::{engine, BuildError, BuildRequest, Builder, ExportWay, LocalImage, OlderWalk};
use crate::config::BuildSettings;
use crate::image::push::archive::{self, Image, LayerWatch};
use crate::reporter::Reporter;

/// The docker CLI as BuildKit or the legacy builder (the settings' kind).
pub(super) struct Docker(Cli);

impl Docker {
    pub fn new(settings: &BuildSettings) -> Self {
        Self(Cli::new(settings))
    }

    /// The export of `image` through `docker save`'s pipe.
    fn save(
        &self,
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        let program = &self.0.program;
        let mut child = self
            .0
            .command()
            .args(["save", &image.name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| BuildError::Spawn {
                program: program.clone(),
                source,
            })?;
        let stdout = child.stdout.take().context("docker save has no stdout")?;
        let label = PathBuf::from(format!("`{program} save {image}`"));
        let read = archive::from_stream(stdout, &label, blobs, platform, watch);
        let out = child
            .wait_with_output()
            .context("docker save did not finish")?;
        if !out.status.success() {
            return Err(BuildError::Failed {
                command: format!("{program} save {image}"),
                status: out.status.to_string(),
                tail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }
            .into());
        }
        read.with_context(|| format!("failed to read the export of {image}"))
    }
}

impl Builder for Docker {
    fn kind(&self) -> BuilderKind {
        self.0.kind
    }

    /// The daemon's version, so an unreachable daemon fails here rather than mid-build.
    fn version(&self) -> Result<String, BuildError> {
        self.0
            .first_line(&["version", "--format", "{{.Server.Version}}"])
    }

    /// The docker CLI walks the context for the legacy builder (Docker 23 changed its
    /// rules), buildx for BuildKit (0.8 did).
    fn older_context_walk(&self) -> Result<Option<OlderWalk>, BuildError> {
        let (args, oldest, program): (&[&str], (u64, u64), &str) = match self.0.kind {
            BuilderKind::DockerLegacy => (
                &["version", "--format", "{{.Client.Version}}"],
                (23, 0),
                "the docker CLI",
            ),
            _ => (&["buildx", "version"], (0, 8), "docker buildx"),
        };
        let version = version_in(&self.0.capture(args)?);
        Ok((major_minor(&version) < oldest).then(|| OlderWalk {
            program: program.to_string(),
            version,
        }))
    }

    fn storage_dir(&self) -> Result<PathBuf, BuildError> {
        let dir = self
            .0
            .first_line(&["info", "--format", "{{.DockerRootDir}}"])?;
        Ok(PathBuf::from(dir))
    }

    fn export_way(&self) -> ExportWay {
        engine::reachable_socket().map_or(ExportWay::DockerSave, ExportWay::Socket)
    }

    fn find(&self, hash: &str) -> Result<Option<LocalImage>, BuildError> {
        self.0
            .find(hash, "{{.CreatedAt}}|{{.Repository}}:{{.Tag}}|{{.ID}}")
    }

    fn build(
        &self,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<LocalImage> {
        let mut cmd = self.0.command();
        match self.0.kind {
            BuilderKind::DockerLegacy => {
                cmd.arg("build").env("DOCKER_BUILDKIT", "0");
            }
            _ => {
                cmd.args([
                    "buildx",
                    "build",
                    "--load",
                    "--provenance=false",
                    "--sbom=false",
                ]);
            }
        }
        self.0.build(cmd, request, reporter)
    }

    /// Read from the daemon's local socket when there is one and it answers; else from
    /// `docker save` (the CLI may reach a daemon imprint cannot: a wrapper, a sudo rule; when
    /// it cannot either, it says why).
    fn export(
        &self,
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        let Some(socket) = engine::local_socket() else {
            return self.save(image, blobs, platform, watch);
        };
        match engine::save(&socket, &image.name) {
            Ok(body) => {
                let label =
                    PathBuf::from(format!("the export of {image} from {}", socket.display()));
                archive::from_stream(body, &label, blobs, platform, watch)
                    .with_context(|| format!("failed to read the export of {image}"))
            }
            Err(e) => {
                tracing::info!(
                    "the daemon at {} did not export {image} ({e}); asking the docker CLI",
                    socket.display()
                );
                self.save(image, blobs, platform, watch)
            }
        }
    }
}

/// The version in a program's answer: `20.10.24+dfsg1`, or `github.com/docker/buildx
/// v0.13.1 …`.
fn version_in(answer: &str) -> String {
    answer
        .split_whitespace()
        .map(|word| word.trim_start_matches('v'))
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default()
        .to_string()
}

/// A version's first two numbers (0 for what is not a number).
fn major_minor(version: &str) -> (u64, u64) {
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_either_answer() {
        assert_eq!(version_in("20.10.24+dfsg1\n"), "20.10.24+dfsg1");
        assert_eq!(
            version_in("github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dcf61e6f8cd0a"),
            "0.13.1"
        );
        assert_eq!(major_minor("20.10.24+dfsg1"), (20, 10));
        assert_eq!(major_minor("0.13.1"), (0, 13));
        assert_eq!(major_minor(""), (0, 0));
    }
}
