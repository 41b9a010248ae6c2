//! imprint's own builder: a Dockerfile of the subset it follows built without a daemon into
//! a store under the cache folder, every layer a deterministic tar, the config and manifest
//! written by imprint; the base image's layers are never downloaded (the push brings them
//! from the base's repository).

mod config;
mod install;
mod reuse;
mod store;

use std::collections::BTreeMap;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use imprint_context::native::{layer, read_plan, ImagePlan, LayerStep, Plan, LAYER_FORMAT};
use imprint_context::{BaseImage, BuilderKind, ContextError};

use super::{BuildError, BuildRequest, Builder, ExportWay, LocalImage};
use crate::config::BuildSettings;
use crate::error::UsageError;
use crate::image::push::archive::{Borrowed, Image, LayerWatch};
use crate::registry::ImageName;
use crate::reporter::Reporter;
use crate::session::Session;
use install::{Found, Installed};

pub use config::{BaseImageData, Made};
pub use reuse::Deployed;
pub use store::Store;

/// The native builder of one project.
pub struct Native {
    settings: BuildSettings,
    /// A store of its own (`verify`'s rebuild), else the one in the cache folder.
    store_dir: Option<PathBuf>,
}

impl Native {
    /// The builder for these settings.
    pub fn new(settings: &BuildSettings) -> Self {
        Self {
            settings: settings.clone(),
            store_dir: None,
        }
    }

    /// The builder for these settings, with its store in `dir` (nothing reused from the
    /// cache folder's).
    pub fn with_store(settings: &BuildSettings, dir: &Path) -> Self {
        Self {
            settings: settings.clone(),
            store_dir: Some(dir.to_path_buf()),
        }
    }

    fn store(&self) -> io::Result<Store> {
        match &self.store_dir {
            Some(dir) => Store::open_at(dir),
            None => Store::open(),
        }
    }

    /// The Dockerfile read into the steps the native builder follows (exit 2 naming the line
    /// of anything else).
    pub fn plan(settings: &BuildSettings) -> Result<Plan, ContextError> {
        let params = &settings.params;
        let text = imprint_context::read_dockerfile(&params.dockerfile, &params.build_args)?;
        read_plan(&text, params)
    }

    /// Writes the layers of `image`'s steps into the store, bottom first (on `base`, for a
    /// dependency step's platform and Python); each layer, and the scripts a dependency step
    /// left out.
    fn write_layers(
        &self,
        store: &Store,
        image: &ImagePlan,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<Vec<Made>> {
        let params = &self.settings.params;
        let root = &self.settings.context;
        let mut layers = Vec::new();
        for step in &image.layers {
            let layer = match step {
                LayerStep::Copy(copy) => {
                    let entries = layer::entries(root, request.inputs, copy, &params.dockerfile)?;
                    let tar = store.scratch_file()?;
                    layer::write_tar(&entries, BufWriter::new(tar.as_file()))?;
                    Made::here(store.put_layer(tar.path())?)
                }
                LayerStep::Install(step) => {
                    // What the COPYs before it in its stage put there: where it finds its files.
                    let mut earlier = BTreeMap::new();
                    for copy in &step.copies {
                        let entries =
                            layer::entries(root, request.inputs, copy, &params.dockerfile)?;
                        earlier.extend(entries);
                    }
                    let base = request.base.map_or("scratch", |b| b.reference.as_str());
                    let python = params.native.python.clone().or_else(|| python_of(base)).ok_or_else(|| {
                        UsageError::new(
                            format!("{}:{}: the native builder cannot tell the Python of the base image {base} (for the packages it installs)", params.dockerfile.display(), step.line),
                            "name it in imprint.toml ([image.native] python = \"3.12\"), or use a base tagged with its Python version (public.ecr.aws/lambda/python:3.13, python:3.12-slim)",
                        )
                    })?;
                    let target = install::Target {
                        platform: &params.platform,
                        python: &python,
                        base,
                        site_packages: params.native.site_packages.as_deref(),
                    };
                    let reuse = install::Reuse {
                        fresh: request.fresh,
                        known: request.known,
                    };
                    let installed = install::install(
                        store,
                        step,
                        &earlier,
                        &target,
                        &params.dockerfile,
                        reuse,
                    )?;
                    report_dependencies(reporter, &params.dockerfile, step.line, &installed);
                    Made {
                        borrowed: match installed.found {
                            Found::Deployed(borrowed) => Some(borrowed),
                            Found::Installed | Found::Kept => None,
                        },
                        layer: installed.layer,
                        key: Some(installed.key),
                    }
                }
            };
            layers.push(layer);
        }
        Ok(layers)
    }
}

/// Says where a dependency step's layer came from, and what it left out.
fn report_dependencies(
    reporter: &dyn Reporter,
    dockerfile: &Path,
    line: usize,
    installed: &Installed,
) {
    let how = match &installed.found {
        Found::Installed => "installed by uv".to_string(),
        Found::Kept => "unchanged, reused".to_string(),
        Found::Deployed(borrowed) => format!(
            "unchanged, reused from the deployed image {} (uv did not run)",
            borrowed.reference
        ),
    };
    reporter.step(&format!(
        "{}:{line}: dependencies {how} ({} bytes)",
        dockerfile.display(),
        installed.layer.size
    ));
    if !installed.left_out.is_empty() {
        reporter.note(&format!(
            "left out of the dependency layer (their #! names this machine's Python): {}",
            installed.left_out.join(", ")
        ));
    }
}

/// The Python version a base image's tag names (`python:3.13`, `python:3.12-slim`).
fn python_of(reference: &str) -> Option<String> {
    let name = reference.split('@').next()?;
    let tag = name.rsplit('/').next()?.split_once(':')?.1;
    let rest = tag.strip_prefix("3.")?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!minor.is_empty()).then(|| format!("3.{minor}"))
}

impl Builder for Native {
    fn kind(&self) -> BuilderKind {
        BuilderKind::Native
    }

    /// imprint's and its layer format's, and uv's (which dependency steps run).
    fn version(&self) -> Result<String, BuildError> {
        let uv = install::uv_version().unwrap_or_else(|_| {
            format!(
                "no uv (`{}` does not run; dependency steps need it, IMPRINT_UV names it)",
                install::uv_program()
            )
        });
        Ok(format!(
            "imprint {} (layer format {LAYER_FORMAT}), {uv}",
            env!("CARGO_PKG_VERSION")
        ))
    }

    fn storage_dir(&self) -> Result<PathBuf, BuildError> {
        Store::dir().map_err(|source| BuildError::Spawn {
            program: "imprint's native store".into(),
            source,
        })
    }

    fn export_way(&self) -> ExportWay {
        ExportWay::Written
    }

    fn reads_base(&self) -> bool {
        true
    }

    fn find(&self, hash: &str) -> Result<Option<LocalImage>, BuildError> {
        let store = self.store().map_err(|source| BuildError::Spawn {
            program: "imprint's native store".into(),
            source,
        })?;
        Ok(store.record(hash).map(|record| LocalImage {
            builder: BuilderKind::Native,
            name: record.name,
            id: record.digest,
        }))
    }

    fn build(
        &self,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<LocalImage> {
        let plan = Self::plan(&self.settings)?;
        let base = match (&plan.base, request.base) {
            (None, _) => None,
            (Some(_), Some(base)) => Some(base),
            (Some(reference), None) => anyhow::bail!(
                "the native builder was not given the manifest and config of {reference}"
            ),
        };
        let empty = BaseImageData::scratch(&self.settings.params.platform)?;
        let base_data = base.unwrap_or(&empty);
        base_data.check_platform(&self.settings.params.platform)?;
        let params = &self.settings.params;
        let (env, workdir) = base_data.env_and_workdir()?;
        let image_plan = plan
            .resolve(&env, &workdir, &params.build_args)
            .map_err(|refusal| refusal.in_file(&params.dockerfile))?;
        let store = self.store()?;
        let ours = self.write_layers(&store, &image_plan, request, reporter)?;
        let format = imprint_context::FORMAT_VERSION.to_string();
        let labels: Vec<(&str, &str)> = request
            .labels
            .iter()
            .filter(|(key, _)| *key != "org.opencontainers.image.created")
            .map(|(key, value)| (*key, value.as_str()))
            .chain([
                (super::HASH_LABEL, request.hash),
                (super::FORMAT_LABEL, format.as_str()),
            ])
            .collect();
        let config = base_data.config_for(&image_plan, &ours, &labels)?;
        let mut layers = base_data.layers()?;
        let mut borrowed: Vec<Borrowed> = base
            .map(|base| base.borrowed(&layers))
            .transpose()?
            .into_iter()
            .collect();
        for made in ours {
            borrowed.extend(made.borrowed);
            layers.push(made.layer);
        }
        let mut image = Image::new(config, layers);
        image.borrowed = borrowed;
        store.put_image(request.hash, request.name, &image)?;
        Ok(LocalImage {
            builder: BuilderKind::Native,
            name: request.name.to_string(),
            id: image.digest,
        })
    }

    fn export(
        &self,
        image: &LocalImage,
        _blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        anyhow::ensure!(
            platform == self.settings.params.platform,
            "the native image {image} is for {}, not {platform}",
            self.settings.params.platform
        );
        let store = self.store()?;
        let stored = store
            .image(&image.id)
            .with_context(|| format!("the native store has no image {image} ({})", image.id))?;
        for layer in &stored.layers {
            let Some(path) = &layer.path else { continue };
            let name = layer.digest.clone();
            if let Some(mut tee) = watch.begins(&name, layer.size) {
                let mut file = std::fs::File::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                io::copy(&mut file, &mut tee)
                    .with_context(|| format!("cannot send {}", path.display()))?;
                tee.finish(layer);
            }
            watch.done(&name, layer.size, layer);
        }
        Ok(stored)
    }
}

/// The manifest and config of the base the Dockerfile names (`None` for `scratch`), read
/// at its locked digest from its registry; never its layers.
pub async fn fetch_base(
    session: &Session,
    bases: &[BaseImage],
) -> anyhow::Result<Option<BaseImageData>> {
    let plan = Native::plan(&session.settings.build)?;
    let Some(reference) = plan.base else {
        return Ok(None);
    };
    let digest = bases
        .iter()
        .find(|base| base.reference == reference)
        .map(|base| base.digest.as_str())
        .filter(|digest| digest.starts_with("sha256:"))
        .ok_or_else(|| {
            UsageError::new(
                format!("the native builder needs the locked digest of {reference}"),
                "run `imprint lock` (with the registry reachable) and commit imprint.lock",
            )
        })?;
    read_base(session, &reference, digest).await.map(Some)
}

/// The manifest and config of the image `reference` at `digest`, from its registry (the
/// manifest checked against the digest).
pub async fn read_base(
    session: &Session,
    reference: &str,
    digest: &str,
) -> anyhow::Result<BaseImageData> {
    let name = ImageName::parse(reference)?;
    let registry = session.registry_for(&name.repository, None).await?;
    let manifest = registry
        .get_manifest(digest)
        .await?
        .with_context(|| format!("{reference}@{digest} is not in its registry"))?;
    anyhow::ensure!(
        manifest.digest == digest,
        "{reference}: the registry answered {} for {digest}",
        manifest.digest
    );
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("the manifest of {reference} is not JSON"))?;
    let config_digest = parsed["config"]["digest"]
        .as_str()
        .with_context(|| format!("the manifest of {reference}@{digest} names no config"))?;
    let config = registry.get_blob(config_digest).await?.with_context(|| {
        format!("the config {config_digest} of {reference} is not in its registry")
    })?;
    BaseImageData::new(reference, &manifest.bytes, &config)
}
