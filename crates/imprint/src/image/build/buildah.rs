//! buildah: `buildah bud`, images exported with `buildah push … oci-archive:`.

use std::path::{Path, PathBuf};

use imprint_context::BuilderKind;

use super::cli::Cli;
use super::{BuildError, BuildRequest, Builder, ExportWay, LocalImage};
use crate::config::BuildSettings;
use crate::image::push::archive::{Image, LayerWatch};
use crate::reporter::Reporter;

/// buildah.
pub(super) struct Buildah(Cli);

impl Buildah {
    pub fn new(settings: &BuildSettings) -> Self {
        Self(Cli::new(settings))
    }
}

impl Builder for Buildah {
    fn kind(&self) -> BuilderKind {
        BuilderKind::Buildah
    }

    /// buildah has no daemon: its own version.
    fn version(&self) -> Result<String, BuildError> {
        self.0.first_line(&["version"])
    }

    fn storage_dir(&self) -> Result<PathBuf, BuildError> {
        let dir = self
            .0
            .first_line(&["info", "--format", "{{.store.GraphRoot}}"])?;
        Ok(PathBuf::from(dir))
    }

    fn export_way(&self) -> ExportWay {
        ExportWay::ArchiveFile
    }

    fn find(&self, hash: &str) -> Result<Option<LocalImage>, BuildError> {
        self.0
            .find(hash, "{{.CreatedAtRaw}}|{{.Name}}:{{.Tag}}|{{.ID}}")
    }

    fn build(
        &self,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<LocalImage> {
        let mut cmd = self.0.command();
        cmd.arg("bud");
        self.0.build(cmd, request, reporter)
    }

    fn export(
        &self,
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        let args = ["push", "--quiet", &image.name, "oci-archive:{archive}"];
        self.0
            .export_through_file(&args, image, blobs, platform, watch)
    }
}
