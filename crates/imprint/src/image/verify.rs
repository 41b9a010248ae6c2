//! `verify`: the image for the checkout rebuilt natively from nothing cached (a store of its
//! own) and compared with the pushed one: identical, or which parts differ (the config's
//! keys, each layer, and in a layer each file: added, removed or changed).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use imprint_context::BuilderKind;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::build::native::{Native, Store};
use super::built;
use super::push::index;
use super::tag_checkout;
use crate::error::UsageError;
use crate::journal;
use crate::registry::Registry;
use crate::session::Session;

/// Whether the rebuilt image is the pushed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same manifest digest.
    Identical,
    /// Another image.
    Differs,
}

/// One layer that is not the same on both sides.
#[derive(Debug, Serialize)]
pub struct LayerDifference {
    /// Its place, bottom first.
    pub index: usize,
    /// The pushed layer's digest (none when the rebuilt image has more layers).
    pub pushed: Option<String>,
    /// The rebuilt layer's digest.
    pub rebuilt: Option<String>,
    /// The files that differ (`added`: only in the rebuilt layer).
    pub files: Vec<FileDifference>,
}

/// A file that differs between the two sides of a layer.
#[derive(Debug, Serialize)]
pub struct FileDifference {
    /// Its path in the image.
    pub path: String,
    /// `added`, `removed` or `changed` (kind, mode, size or bytes).
    pub change: &'static str,
}

/// `verify --json`.
#[derive(Debug, Serialize)]
pub struct Verification {
    /// The pushed image's tag.
    pub tag: String,
    /// `host/path:tag`.
    pub image_uri: String,
    /// Its manifest digest.
    pub pushed: String,
    /// The rebuilt image's manifest digest.
    pub rebuilt: String,
    /// Identical or not.
    pub outcome: Verdict,
    /// The image config's keys (and `config.` keys) that differ.
    pub config: Vec<String>,
    /// The layers that differ.
    pub layers: Vec<LayerDifference>,
}

impl Verification {
    /// Whether the images differ only in compiled bytecode: the same sources, compiled by
    /// another CPython release than this machine's (whose full version is part of what the
    /// history says decided the dependency layer).
    pub fn only_bytecode_differs(&self) -> bool {
        self.outcome == Verdict::Differs
            && self
                .config
                .iter()
                .all(|key| key == "rootfs" || key == "history.comment")
            && !self.layers.is_empty()
            && self.layers.iter().all(|layer| {
                !layer.files.is_empty()
                    && layer
                        .files
                        .iter()
                        .all(|file| file.change == "changed" && file.path.ends_with(".pyc"))
            })
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.outcome {
            Verdict::Identical => {
                return write!(
                    f,
                    "identical: {} ({}) is what this checkout builds",
                    self.image_uri, self.pushed
                )
            }
            Verdict::Differs => writeln!(
                f,
                "differs: {} is {}, this checkout builds {}",
                self.image_uri, self.pushed, self.rebuilt
            )?,
        }
        if !self.config.is_empty() {
            writeln!(f, "  config: {}", self.config.join(", "))?;
        }
        for layer in &self.layers {
            let short = |d: &Option<String>| {
                d.as_deref()
                    .map_or("none".into(), |d| d.chars().take(19).collect::<String>())
            };
            writeln!(
                f,
                "  layer {}: pushed {}, rebuilt {}",
                layer.index,
                short(&layer.pushed),
                short(&layer.rebuilt)
            )?;
            for file in layer.files.iter().take(20) {
                writeln!(f, "    {} {}", file.change, file.path)?;
            }
            if layer.files.len() > 20 {
                writeln!(f, "    … and {} more", layer.files.len() - 20)?;
            }
        }
        Ok(())
    }
}

/// What `verify` compares the rebuilt image with.
#[derive(Debug, Clone, Copy)]
pub enum Against<'a> {
    /// The image the registry holds for this content.
    Content,
    /// A pushed tag.
    Tag(&'a str),
    /// The image of the newest successful deployment in the journal.
    Deployed,
}

/// Rebuilds the image for the checkout natively (nothing reused) and compares it with the
/// pushed image `against` names.
pub async fn verify(session: &Session, against: Against<'_>) -> anyhow::Result<Verification> {
    let settings = &session.settings;
    if settings.build.params.builder != BuilderKind::Native {
        return Err(UsageError::new(
            "verify rebuilds the image with the native builder, and this project builds with another",
            "set [image] builder = \"native\" (or pass --builder native)",
        )
        .into());
    }
    let (source, tagged) = tag_checkout(session).await?;
    let registry = session.registry().await?;
    let deployed;
    let tag = match against {
        Against::Content => None,
        Against::Tag(tag) => Some(tag),
        Against::Deployed => {
            deployed = deployed_tag(registry).await?;
            Some(deployed.as_str())
        }
    };
    let (tag, pushed) = match tag {
        Some(tag) => {
            let digest = registry.manifest_digest(tag).await?.ok_or_else(|| {
                UsageError::new(
                    format!("{} does not exist", registry.repository.uri(tag)),
                    "name a pushed tag (`imprint history` lists the deployed ones)",
                )
            })?;
            (tag.to_string(), digest)
        }
        None => {
            let found = index::lookup(registry, &tagged.hash())
                .await?
                .ok_or_else(|| {
                    UsageError::new(
                        format!("{} holds no image of this content", registry.repository),
                        "push it first, or name a pushed tag with --tag",
                    )
                })?;
            (found.tag, found.digest)
        }
    };
    let scratch = crate::state::scratch_dir("verify")
        .context("failed to make a folder for the rebuild in imprint's cache")?;
    let builder = Native::with_store(&settings.build, scratch.path());
    let rebuilt = built::build_with(session, &tagged, true, &source, &builder, None).await?;
    let store = Store::open_at(scratch.path())?;
    let image = store
        .image(&rebuilt.id)
        .context("the rebuilt image is missing from its store")?;
    let mut report = Verification {
        image_uri: registry.repository.uri(&tag),
        tag,
        outcome: Verdict::Identical,
        config: Vec::new(),
        layers: Vec::new(),
        rebuilt: image.digest.clone(),
        pushed,
    };
    if report.rebuilt != report.pushed {
        report.outcome = Verdict::Differs;
        compare(registry, &image, &mut report, scratch.path()).await?;
    }
    Ok(report)
}

/// The tag of the newest deployment in the journal that succeeded.
async fn deployed_tag(registry: &Registry) -> anyhow::Result<String> {
    let record = journal::newest_succeeded(registry).await?.ok_or_else(|| {
        UsageError::new(
            format!(
                "the journal of {} has no successful deployment",
                registry.repository
            ),
            "deploy first (`imprint deploy`), or name a pushed tag with --tag",
        )
    })?;
    Ok(record.tag)
}

/// What differs between the pushed image (`report.pushed`) and `ours`.
async fn compare(
    registry: &Registry,
    ours: &crate::image::Image,
    report: &mut Verification,
    scratch: &Path,
) -> anyhow::Result<()> {
    let manifest = registry
        .get_manifest(&report.pushed)
        .await?
        .with_context(|| format!("{} is gone", report.image_uri))?;
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("the manifest of {} is not JSON", report.image_uri))?;
    if let Some(config) = parsed["config"]["digest"].as_str() {
        if config != ours.config_digest {
            let theirs = registry.get_blob(config).await?.unwrap_or_default();
            report.config = config_keys(&theirs, &ours.config);
        }
    }
    let theirs = manifest.layers().unwrap_or_default();
    for index in 0..theirs.len().max(ours.layers.len()) {
        let (pushed, rebuilt) = (theirs.get(index), ours.layers.get(index));
        if pushed.map(|p| &p.0) == rebuilt.map(|l| &l.digest) {
            continue;
        }
        let mut files = Vec::new();
        if let (Some((digest, size)), Some(path)) = (pushed, rebuilt.and_then(|l| l.path.as_ref()))
        {
            let file = scratch.join(digest.replace(':', "-"));
            registry.download_blob(digest, *size, &file).await?;
            files = file_differences(&entries_of(&file)?, &entries_of(path)?);
        }
        report.layers.push(LayerDifference {
            index,
            pushed: pushed.map(|p| p.0.clone()),
            rebuilt: rebuilt.map(|l| l.digest.clone()),
            files,
        });
    }
    Ok(())
}

/// The keys of two image configs (top level, and under `config`) whose values differ.
fn config_keys(theirs: &[u8], ours: &[u8]) -> Vec<String> {
    let parse =
        |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap_or_default();
    let (theirs, ours) = (parse(theirs), parse(ours));
    let mut keys = Vec::new();
    for (prefix, a, b) in [
        ("", &theirs, &ours),
        ("config.", &theirs["config"], &ours["config"]),
    ] {
        let names: std::collections::BTreeSet<&String> = a
            .as_object()
            .into_iter()
            .chain(b.as_object())
            .flat_map(|o| o.keys())
            .collect();
        for name in names {
            if (prefix.is_empty() && name == "config") || a.get(name) == b.get(name) {
                continue;
            }
            // Histories alike but for the comments naming what decided a dependency layer.
            let uncommented = |history: &serde_json::Value| {
                let mut history = history.clone();
                for entry in history.as_array_mut().into_iter().flatten() {
                    entry.as_object_mut().map(|e| e.remove("comment"));
                }
                history
            };
            if prefix.is_empty()
                && name == "history"
                && uncommented(&a[name]) == uncommented(&b[name])
            {
                keys.push("history.comment".into());
                continue;
            }
            keys.push(format!("{prefix}{name}"));
        }
    }
    keys
}

/// A gzipped layer's entries: path → (kind, mode, size, SHA-256 of the bytes or link text).
fn entries_of(blob: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let file =
        std::fs::File::open(blob).with_context(|| format!("cannot read {}", blob.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let header = entry.header();
        let (kind, mode, size) = (
            header.entry_type().as_byte(),
            header.mode()?,
            header.size()?,
        );
        let link = entry.link_name()?.map(|l| l.to_string_lossy().into_owned());
        let mut hasher = Sha256::new();
        std::io::copy(&mut entry, &mut hasher)?;
        let what = format!(
            "{kind} {mode:o} {size} {} {}",
            imprint_context::hex(&hasher.finalize()),
            link.unwrap_or_default()
        );
        out.insert(path, what);
    }
    Ok(out)
}

fn file_differences(
    theirs: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> Vec<FileDifference> {
    let paths: std::collections::BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let change = match (theirs.get(path), ours.get(path)) {
                (Some(a), Some(b)) if a == b => return None,
                (Some(_), Some(_)) => "changed",
                (None, _) => "added",
                (_, None) => "removed",
            };
            Some(FileDifference {
                path: path.clone(),
                change,
            })
        })
        .collect()
}
