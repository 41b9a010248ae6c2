//! Building: the `Builder` trait every builder implements (find the local image of a content
//! hash, build it, export it as layers, say its version), one file per builder. imprint
//! pushes; a builder only builds.

mod buildah;
mod cli;
mod docker;
mod engine;
pub mod native;
mod podman;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imprint_context::{BaseImage, BuilderKind, Input};

use super::push::archive::{Borrowed, Image, ImageSource, Layer, LayerWatch};
use crate::config::BuildSettings;
use crate::reporter::Reporter;

/// The label that ties an image to its content hash.
pub const HASH_LABEL: &str = "dev.imprint.content-hash";
/// The label with the hash format version.
pub const FORMAT_LABEL: &str = "dev.imprint.format";

/// The builder failed or could not be run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The program is not installed.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("`{command}` failed ({status}); its last lines:\n{tail}")]
    Failed {
        /// What ran (no secrets: build-arg values travel in the environment).
        command: String,
        /// Exit status.
        status: String,
        /// The last lines it printed.
        tail: String,
    },
}

/// An image a builder holds on this machine, built from one content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// The builder that holds it.
    pub builder: BuilderKind,
    /// `name:tag`.
    pub name: String,
    /// The builder's id of it (`sha256:…`).
    pub id: String,
}

impl LocalImage {
    /// Its tag.
    pub fn tag(&self) -> &str {
        self.name.rsplit_once(':').map_or(&self.name, |(_, t)| t)
    }
}

impl fmt::Display for LocalImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct BuildRequest<'a> {
    /// `name:tag`.
    pub name: &'a str,
    /// The content hash (the image's label).
    pub hash: &'a str,
    /// `--rebuild`: nothing reused from the builder's cache.
    pub fresh: bool,
    /// The base images, each pinned to its digest when it has one.
    pub bases: &'a [BaseImage],
    /// More labels (the OCI labels of the source).
    pub labels: &'a [(&'static str, String)],
    /// What the hash read of the context (a builder that writes layers itself copies it).
    pub inputs: &'a [Input],
    /// The base image's manifest and config, for a builder that writes the image on top of
    /// it itself ([`Builder::reads_base`]).
    pub base: Option<&'a native::BaseImageData>,
    /// Layers the registry already holds, which the native builder takes instead of making
    /// them again (none for `verify`'s rebuild, which must make everything).
    pub known: Option<&'a dyn KnownLayers>,
}

/// Layers a registry already holds, found by what decided their bytes (the native builder's
/// dependency layers): a build that finds one does not make it again.
pub trait KnownLayers: fmt::Debug + Sync {
    /// The layer made under `key` and the image that holds it, where the image's repository
    /// has it; `None` when none is known or the registry cannot say (the layer is made here).
    fn find(&self, key: &str) -> Option<(Layer, Borrowed)>;
}

/// A program that walks the build context by older ignore rules than imprint hashes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OlderWalk {
    /// What it is (`the docker CLI`, `docker buildx`).
    pub program: String,
    /// Its version.
    pub version: String,
}

/// How a builder's image is read out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportWay {
    /// From the docker daemon's socket (the Engine API).
    Socket(PathBuf),
    /// Through `docker save`: imprint reaches no local daemon socket.
    DockerSave,
    /// From an OCI archive file the builder writes (podman, buildah).
    ArchiveFile,
    /// imprint wrote the layers itself (the native builder): nothing to export.
    Written,
}

impl fmt::Display for ExportWay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(socket) => {
                write!(f, "exports are read from its socket {}", socket.display())
            }
            Self::DockerSave => f.write_str(
                "exports go through `docker save` (imprint reaches no local daemon socket)",
            ),
            Self::ArchiveFile => f.write_str("exports go through an OCI archive file"),
            Self::Written => f.write_str("imprint writes the layers itself, nothing is exported"),
        }
    }
}

/// A builder: what imprint asks of docker, podman or buildah. A new builder is one file
/// implementing this and a line in [`for_settings`].
pub trait Builder: Send + Sync {
    /// Which kind it is (whose ignore rules the hash follows).
    fn kind(&self) -> BuilderKind;
    /// Its engine's version: asking it fails when the engine (a daemon) does not answer.
    fn version(&self) -> Result<String, BuildError>;
    /// The program walking the build context, when it is older than the ignore rules imprint
    /// hashes by.
    fn older_context_walk(&self) -> Result<Option<OlderWalk>, BuildError> {
        Ok(None)
    }
    /// Where it keeps images and layers, as it reports it (on the machine it runs on, which
    /// may be another one).
    fn storage_dir(&self) -> Result<PathBuf, BuildError>;
    /// How its images would be exported now.
    fn export_way(&self) -> ExportWay;
    /// It writes the image on top of the base's manifest and config itself, so a build needs
    /// them ([`BuildRequest::base`]).
    fn reads_base(&self) -> bool {
        false
    }
    /// The newest image it holds built from this content hash.
    fn find(&self, hash: &str) -> Result<Option<LocalImage>, BuildError>;
    /// Builds the context as `request` says.
    fn build(
        &self,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<LocalImage>;
    /// Exports `image` as registry blobs written into `blobs` (each layer told to `watch` as
    /// it is made) and the manifest imprint pushes; the image must be for `platform`.
    fn export(
        &self,
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image>;
}

/// The configured builder.
pub fn for_settings(settings: &BuildSettings) -> Arc<dyn Builder> {
    match settings.params.builder {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => {
            Arc::new(docker::Docker::new(settings))
        }
        BuilderKind::Podman => Arc::new(podman::Podman::new(settings)),
        BuilderKind::Buildah => Arc::new(buildah::Buildah::new(settings)),
        BuilderKind::Native => Arc::new(native::Native::new(settings)),
    }
}

/// A local image with the builder that holds it: what a push reads the layers and the config
/// from.
pub struct BuilderImage {
    /// The builder.
    pub builder: Arc<dyn Builder>,
    /// The image.
    pub image: LocalImage,
}

impl ImageSource for BuilderImage {
    fn name(&self) -> &str {
        &self.image.name
    }

    fn export(
        &self,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        self.builder.export(&self.image, blobs, platform, watch)
    }
}
