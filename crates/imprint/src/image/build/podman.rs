//! podman: `podman build`, images exported with `podman save --format oci-archive`.

use std::path::{Path, PathBuf};

use imprint_context::BuilderKind;

use super::cli::Cli;
use super::{BuildError, BuildRequest, Builder, ExportWay, LocalImage};
use crate::config::BuildSettings;
use crate::image::push::archive::{Image, LayerWatch};
use crate::reporter::Reporter;

/// podman.
pub(super) struct Podman(Cli);

impl Podman {
    pub fn new(settings: &BuildSettings) -> Self {
        Self(Cli::new(settings))
    }
}

impl Builder for Podman {
    fn kind(&self) -> BuilderKind {
        BuilderKind::Podman
    }

    /// The engine's version (a remote podman's service must answer).
    fn version(&self) -> Result<String, BuildError> {
        self.0.first_line(&["version", "--format", "{{.Version}}"])
    }

    fn storage_dir(&self) -> Result<PathBuf, BuildError> {
        let dir = self
            .0
            .first_line(&["info", "--format", "{{.Store.GraphRoot}}"])?;
        Ok(PathBuf::from(dir))
    }

    fn export_way(&self) -> ExportWay {
        ExportWay::ArchiveFile
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
        cmd.arg("build");
        self.0.build(cmd, request, reporter)
    }

    fn export(
        &self,
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        let args = ["save", "--format", "oci-archive", "--output", "{archive}"];
        let args = [&args[..], &[image.name.as_str()]].concat();
        self.0
            .export_through_file(&args, image, blobs, platform, watch)
    }
}
