//! Where `inspect`'s facts come from: the image (a pushed tag's manifest and config, or the
//! local build's export), its layers streamed into the tree one at a time (a registry's
//! through a bounded channel to a reading thread), the handlers (the image's `CMD`, each
//! configured function's command from Lambda), and the base image's layers (imprint.lock).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context as _;
use bytes::{Buf as _, Bytes};

use super::report::ReadFrom;
use super::scan::{scan_layer, LayerScan, Tree};
use crate::error::UsageError;
use crate::image::build::{self, BuilderImage, LocalImage};
use crate::image::lock::{self, Lockfile};
use crate::image::push::archive::ImageSource as _;
use crate::image::Unwatched;
use crate::lambda::stack;
use crate::registry::{BlobSink, ImageName, Registry};
use crate::session::Session;
use imprint_context::BaseImage;

/// Chunks of a streamed layer in flight between the download and the reader: what bounds the
/// memory a layer takes however large it is.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Which image `inspect` reads.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A pushed tag of the repository (its bases: imprint.lock's).
    Tag(&'a str),
    /// The local tree's image, which the registry holds under `tag`.
    Pushed {
        /// Its tag.
        tag: &'a str,
        /// The tree's pinned base images.
        bases: &'a [BaseImage],
    },
    /// The local tree's image, built on this machine.
    Built {
        /// The image.
        image: &'a LocalImage,
        /// The tree's pinned base images.
        bases: &'a [BaseImage],
    },
}

/// Where the configured functions' commands may be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commands {
    /// Lambda, else the Pulumi stack (`pulumi stack export`): `imprint inspect`.
    LambdaOrPulumi,
    /// Lambda alone: a build's line runs no other program.
    Lambda,
}

/// Where a layer's bytes are.
#[derive(Debug, Clone)]
pub enum At {
    /// A compressed file on this machine (the export, the native store).
    File(PathBuf),
    /// The registry of this image (`None`) or of the image it is borrowed from.
    Registry(Option<String>),
}

/// The image found.
#[derive(Debug)]
pub struct Found {
    /// Its name (URI, or the local `name:tag`).
    pub name: String,
    /// Its manifest digest.
    pub digest: String,
    /// Where it was read from.
    pub read_from: ReadFrom,
    /// Its config's bytes.
    pub config: Vec<u8>,
    /// Its layers: digest and compressed size, bottom first.
    pub layers: Vec<(String, u64)>,
    /// Where each layer is.
    pub at: Vec<At>,
    /// The base images its Dockerfile names, pinned (the tag's hash, or imprint.lock).
    pub bases: Vec<BaseImage>,
    /// The export's folder, removed when this is dropped.
    _scratch: Option<tempfile::TempDir>,
}

/// The image `subject` names, with the base images it is built on (pinned).
pub async fn find(session: &Session, subject: Subject<'_>) -> anyhow::Result<Found> {
    match subject {
        Subject::Tag(tag) => {
            let settings = &session.settings;
            let bases = Lockfile::load(&lock::path(settings))?
                .pins(&settings.build.params.platform)
                .map(|pin| BaseImage {
                    reference: pin.reference.clone(),
                    digest: pin.digest.clone(),
                })
                .collect();
            pushed_image(session, tag, bases).await
        }
        Subject::Pushed { tag, bases } => pushed_image(session, tag, bases.to_vec()).await,
        Subject::Built { image, bases } => export(session, image.clone(), bases.to_vec()).await,
    }
}

/// A pushed tag's manifest and config.
async fn pushed_image(
    session: &Session,
    tag: &str,
    bases: Vec<BaseImage>,
) -> anyhow::Result<Found> {
    let registry = session.registry().await?;
    let name = registry.repository.uri(tag);
    let manifest = registry.get_manifest(tag).await?.ok_or_else(|| {
        UsageError::new(
            format!("{name} does not exist"),
            "name a pushed tag (`imprint history` lists the deployed ones), or leave it out to inspect the local tree's image",
        )
    })?;
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("the manifest of {name} is not JSON"))?;
    let config_digest = parsed["config"]["digest"].as_str().ok_or_else(|| {
        UsageError::new(
            format!("{name} is not a single-platform image (its manifest names no config)"),
            "name an image tag, not an index or one of imprint's artifacts",
        )
    })?;
    let config = registry
        .get_blob(config_digest)
        .await?
        .with_context(|| format!("the config of {name} is not in the registry"))?;
    let layers = manifest.layers().unwrap_or_default();
    Ok(Found {
        name,
        digest: manifest.digest,
        read_from: ReadFrom::Registry,
        config,
        at: vec![At::Registry(None); layers.len()],
        layers,
        bases,
        _scratch: None,
    })
}

/// The local build's export: its layers in a scratch folder (or the native store), the
/// borrowed ones where they live.
async fn export(
    session: &Session,
    local: build::LocalImage,
    bases: Vec<BaseImage>,
) -> anyhow::Result<Found> {
    let settings = &session.settings;
    let scratch = crate::state::scratch_dir("inspect")
        .context("failed to make a folder for the export in imprint's cache")?;
    let source = BuilderImage {
        builder: build::for_settings(&settings.build),
        image: local.clone(),
    };
    let (blobs, platform) = (
        scratch.path().to_path_buf(),
        settings.build.params.platform.clone(),
    );
    session
        .reporter()
        .detail(&format!("reading {local} from its builder"));
    let image =
        tokio::task::spawn_blocking(move || source.export(&blobs, &platform, &mut Unwatched))
            .await
            .with_context(|| format!("the export reader of {local} stopped"))??;
    let at = image
        .layers
        .iter()
        .map(|layer| match (&layer.path, image.lender(&layer.digest)) {
            (Some(path), _) => Ok(At::File(path.clone())),
            (None, Some(lender)) => Ok(At::Registry(Some(lender.reference.clone()))),
            (None, None) => anyhow::bail!("the layer {} of {local} is nowhere", layer.digest),
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Found {
        name: local.name.clone(),
        digest: image.digest.clone(),
        read_from: ReadFrom::Local,
        config: image.config.clone(),
        layers: image
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect(),
        at,
        bases,
        _scratch: Some(scratch),
    })
}

/// Every layer of `image` read into one tree, bottom first: each layer's scan from the cache
/// when it was read before, else read (from its file, or streamed from its registry) and kept.
pub async fn layers(session: &Session, image: &Found) -> anyhow::Result<Tree> {
    let mut tree = Tree::default();
    let mut lenders: HashMap<String, Registry> = HashMap::new();
    let cache = scan_cache();
    let meter = session
        .reporter()
        .count("layers read", image.layers.len() as u64);
    for ((digest, size), at) in image.layers.iter().zip(&image.at) {
        let kept = cache.as_ref().and_then(|dir| cached(dir, digest));
        let scan = match (kept, at) {
            (Some(scan), _) => scan,
            (None, At::File(path)) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    scan_layer(file)
                        .with_context(|| format!("cannot read the layer {}", path.display()))
                })
                .await
                .context("the layer reader stopped")??
            }
            (None, At::Registry(None)) => {
                streamed(session.registry().await?, digest, *size).await?
            }
            (None, At::Registry(Some(reference))) => {
                if !lenders.contains_key(reference) {
                    let name = ImageName::parse(reference)?;
                    let registry = session.registry_for(&name.repository, None).await?;
                    lenders.insert(reference.clone(), registry);
                }
                streamed(&lenders[reference], digest, *size).await?
            }
        };
        if let Some(dir) = &cache {
            keep(dir, digest, &scan);
        }
        tree.apply(scan);
        meter.advance(1);
    }
    meter.finish();
    Ok(tree)
}

/// What the scans of layers are kept as: the digest they were read from, in a format.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    format: u32,
    digest: String,
    scan: LayerScan,
}

/// The format of kept scans: a change of what a scan holds bumps it.
const SCAN_FORMAT: u32 = 1;
/// Kept scans not used for this long are swept.
const SCAN_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// `<cache>/inspect`, swept of old scans; `None` when there is no cache folder.
fn scan_cache() -> Option<PathBuf> {
    let dir = crate::state::cache_dir().ok()?.join("inspect");
    crate::state::sweep(&dir, SCAN_AGE);
    Some(dir)
}

fn scan_file(dir: &std::path::Path, digest: &str) -> PathBuf {
    dir.join(format!("{}.json", digest.replace(':', "-")))
}

/// The scan kept for `digest`, when one is and it says so.
fn cached(dir: &std::path::Path, digest: &str) -> Option<LayerScan> {
    let bytes = std::fs::read(scan_file(dir, digest)).ok()?;
    let kept: Kept = serde_json::from_slice(&bytes).ok()?;
    (kept.format == SCAN_FORMAT && kept.digest == digest).then_some(kept.scan)
}

/// Keeps the scan of `digest` (a failure only costs a read next time).
fn keep(dir: &std::path::Path, digest: &str, scan: &LayerScan) {
    let kept = Kept {
        format: SCAN_FORMAT,
        digest: digest.to_string(),
        scan: scan.clone(),
    };
    let written = serde_json::to_vec(&kept)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::state::write_cache(&scan_file(dir, digest), &bytes));
    if let Err(e) = written {
        tracing::debug!("cannot keep the scan of {digest}: {e}");
    }
}

/// The chunks of a download as one reader.
struct Chunks {
    from: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.from.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// One layer read as the registry sends it: never stored, at most [`CHUNKS_IN_FLIGHT`]
/// chunks in memory; its scan kept only when its digest checks out.
async fn streamed(registry: &Registry, digest: &str, size: u64) -> anyhow::Result<LayerScan> {
    let (sender, from) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks {
            from,
            current: Bytes::new(),
        };
        let scan = scan_layer(&mut chunks);
        // What follows the archive's end (padding) is read too, so the digest is checked.
        let _ = std::io::copy(&mut chunks, &mut std::io::sink());
        scan
    });
    let sent = registry
        .read_blob(digest, size, BlobSink::Channel(&sender))
        .await;
    drop(sender);
    let scan = reader.await.context("the layer reader stopped")?;
    sent.with_context(|| {
        format!(
            "failed to read the layer {digest} of {}",
            registry.repository
        )
    })?;
    scan.with_context(|| format!("cannot read the layer {digest} of {}", registry.repository))
}

/// The handlers to follow: the image's `CMD`, and each configured function's own command
/// from Lambda (when functions are configured; when Lambda cannot be read, a note says so).
pub async fn handlers(
    session: &Session,
    config: &serde_json::Value,
    commands: Commands,
    notes: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(cmd) = config["config"]["Cmd"][0].as_str() {
        out.push(("the image's CMD".to_string(), cmd.to_string()));
    }
    let deploy = session.settings.deploy();
    if deploy.functions.is_none() && deploy.select.is_none() {
        return out;
    }
    let functions = async {
        let client = session.lambda().await?;
        let names = crate::lambda::select(client, deploy, &[]).await?;
        crate::lambda::read_functions(client, &names).await
    };
    match functions.await {
        Ok(functions) => {
            for function in functions {
                if let Some(command) = function.command.first() {
                    out.push((format!("function {}", function.name), command.clone()));
                }
            }
        }
        Err(e) if commands == Commands::Lambda => notes.push(format!(
            "cannot read the functions' commands from Lambda ({e:#}); only the image's CMD is followed"
        )),
        Err(e) => match from_pulumi(session).await {
            Ok(Some(found)) => {
                notes.push(format!(
                    "cannot read the functions from Lambda ({e:#}); their commands are the Pulumi stack's (`pulumi stack export`)"
                ));
                out.extend(found);
            }
            Ok(None) => notes.push(format!(
                "cannot read the functions' commands from Lambda ({e:#}), and no Pulumi stack says them; only the image's CMD is followed"
            )),
            Err(p) => notes.push(format!(
                "cannot read the functions' commands from Lambda ({e:#}) nor from the Pulumi stack ({p:#}); only the image's CMD is followed"
            )),
        },
    }
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

/// The configured functions' commands as the Pulumi stack's state holds them (all its image
/// functions when they are selected by tag); `None` without a Pulumi program or CLI.
async fn from_pulumi(session: &Session) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let deploy = session.settings.deploy();
    let Some(dir) = stack::program_dir(&session.settings) else {
        return Ok(None);
    };
    let stack = deploy.pulumi_stack.as_deref();
    let Some(functions) = stack::stack_functions(&dir, stack).await? else {
        return Ok(None);
    };
    let configured = |name: &String| deploy.functions.as_ref().is_none_or(|l| l.contains(name));
    Ok(Some(
        functions
            .into_iter()
            .filter(|(name, _)| configured(name))
            .filter_map(|(name, command)| {
                let handler = command.into_iter().next()?;
                Some((
                    format!("function {name}, as the Pulumi stack says"),
                    handler,
                ))
            })
            .collect(),
    ))
}

/// How many bottom layers are the base image's (its diff IDs, read at the pinned digest,
/// beginning the image's), and which base that is.
pub async fn base_layers(
    session: &Session,
    image: &Found,
    config: &serde_json::Value,
    notes: &mut Vec<String>,
) -> (usize, Option<String>) {
    let ours = diff_ids(config);
    let mut best = (0, None);
    for base in &image.bases {
        match base_diff_ids(session, &base.reference, &base.digest).await {
            Ok(theirs) => {
                let common = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
                if common == theirs.len() && common > best.0 {
                    best = (common, Some(base.reference.clone()));
                }
            }
            Err(e) => notes.push(format!(
                "cannot read the base image {} ({e:#})",
                base.reference
            )),
        }
    }
    if best.1.is_none() {
        notes.push(
            "no pinned base image (imprint.lock) begins this image, so its packages are judged as the project's".into(),
        );
    }
    best
}

fn diff_ids(config: &serde_json::Value) -> Vec<String> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect()
}

/// The diff IDs of the base `reference` at `digest`.
async fn base_diff_ids(
    session: &Session,
    reference: &str,
    digest: &str,
) -> anyhow::Result<Vec<String>> {
    let base = build::native::read_base(session, reference, digest).await?;
    Ok(diff_ids(&base.config))
}
