//! A built image as the registry will hold it: the builder's export read, every layer
//! compressed deterministically (same layer, same bytes, same digest), and the
//! single-platform image manifest written by imprint (never an index, never attestations).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub(crate) use super::member::compress_member;
use super::member::{diff_id_of, io_err};
pub use super::member::{ImageError, Layer, LayerTee};
use crate::registry::sha256_digest;

/// Docker's image manifest (schema 2): what Lambda accepts everywhere.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The largest JSON member of an export read into memory (manifests, configs, indexes).
const MAX_JSON: u64 = 32 << 20;

/// An image ready to push.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image config's bytes, as the builder wrote them.
    pub config: Vec<u8>,
    /// Its digest.
    pub config_digest: String,
    /// Compressed layers, bottom first.
    pub layers: Vec<Layer>,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// Its digest: known before the push.
    pub digest: String,
    /// Layers that live in a registry and not on this machine: the base image's, and a
    /// dependency layer a deployed image already holds; the push brings each from where it
    /// is (never through this machine when the registry is the same).
    pub borrowed: Vec<Borrowed>,
}

/// Layers of an image that live in another image (a base image, a deployed image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Borrowed {
    /// That image, as the Dockerfile names it or by digest (its repository holds the
    /// layers).
    pub reference: String,
    /// Their digests and sizes.
    pub layers: Vec<(String, u64)>,
}

impl Image {
    /// The image a layer (by digest) is borrowed from, when it is.
    pub fn lender(&self, digest: &str) -> Option<&Borrowed> {
        self.borrowed
            .iter()
            .find(|b| b.layers.iter().any(|(d, _)| d == digest))
    }

    /// Bytes of config and layers.
    pub fn blob_bytes(&self) -> u64 {
        self.config.len() as u64 + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

#[derive(Serialize)]
struct Descriptor<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: &'a str,
}

#[derive(Serialize)]
struct ManifestJson<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
}

#[derive(Deserialize)]
struct SaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciDescriptor {
    digest: String,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
}

/// Where an OCI layout keeps a blob.
fn blob_member(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

#[derive(Deserialize)]
struct ConfigJson {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// Hears about each layer as the export streams past (to upload it while it is made).
pub trait LayerWatch: Send {
    /// A layer member (its `name` in the export and `size` as exported) begins: returns a
    /// writer for a copy of its compressed bytes as they are made, if wanted.
    fn begins(&mut self, name: &str, size: u64) -> Option<Box<dyn LayerTee>>;
    /// The layer a member (its `name` and `size`) became when it was compressed before, if
    /// compressing it again may be skipped: its bytes are then only checked against the
    /// layer's diff ID (and [`LayerWatch::not_as_remembered`] told when they differ).
    fn compressed(&mut self, _name: &str, _size: u64) -> Option<Layer> {
        None
    }
    /// The member [`LayerWatch::compressed`] answered for holds other bytes.
    fn not_as_remembered(&mut self, _name: &str, _size: u64) {}
    /// A layer is compressed and stored (after its copy, if any, was finished), or checked
    /// as remembered (not stored).
    fn done(&mut self, name: &str, size: u64, layer: &Layer);
}

/// Something a push reads an image from: its layers and config, made on demand (a builder's
/// export, or layers written by imprint itself).
pub trait ImageSource: Send + Sync {
    /// What it is, for messages (`name:tag`).
    fn name(&self) -> &str;
    /// The image as registry blobs written into `blobs` (each layer told to `watch` as it is
    /// made) and the manifest imprint pushes; it must be for `platform`.
    fn export(
        &self,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image>;
}

/// Watches nothing.
pub struct Unwatched;

impl LayerWatch for Unwatched {
    fn begins(&mut self, _: &str, _: u64) -> Option<Box<dyn LayerTee>> {
        None
    }
    fn done(&mut self, _: &str, _: u64, _: &Layer) {}
}

/// Reads a builder's export as one stream (a pipe from `docker save`, or an OCI archive file
/// from podman or buildah) in the legacy docker-save layout or an OCI layout. JSON members
/// (manifests, configs) are kept; every other member is compressed into `blobs` as it
/// streams past, so exporting and compressing overlap and nothing is written twice.
pub fn from_stream(
    source: impl Read,
    label: &Path,
    blobs: &Path,
    platform: &str,
    watch: &mut dyn LayerWatch,
) -> Result<Image, ImageError> {
    fs::create_dir_all(blobs).map_err(io_err("cannot create", blobs))?;
    let members = read_members(source, label, blobs, watch)?;
    let entry = members.image_entry()?;
    let config = members.json(&entry.config)?.clone();
    let parsed: ConfigJson = serde_json::from_slice(&config)
        .map_err(|e| members.malformed(format!("image config: {e}")))?;
    check_platform(&parsed, platform)?;
    if parsed.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(members.malformed(format!(
            "the config lists {} layers, the archive {}",
            parsed.rootfs.diff_ids.len(),
            entry.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in entry.layers.iter().zip(&parsed.rootfs.diff_ids) {
        let layer = members
            .compressed
            .get(name)
            .ok_or_else(|| members.malformed(format!("it has no layer member {name}")))?;
        if &layer.diff_id != diff_id {
            return Err(members.malformed(format!(
                "the layer {name} holds {}, the config says {diff_id}",
                layer.diff_id
            )));
        }
        layers.push(layer.clone());
    }
    Ok(Image::new(config, layers))
}

impl Image {
    /// The image of `config` and `layers` (bottom first), with the manifest imprint writes
    /// for them: Docker's schema 2, compact JSON, so the same parts give the same digest.
    pub fn new(config: Vec<u8>, layers: Vec<Layer>) -> Self {
        let config_digest = sha256_digest(&config);
        let manifest = ManifestJson {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE,
            config: Descriptor {
                media_type: CONFIG_MEDIA_TYPE,
                size: config.len() as u64,
                digest: &config_digest,
            },
            layers: layers
                .iter()
                .map(|l| Descriptor {
                    media_type: LAYER_MEDIA_TYPE,
                    size: l.size,
                    digest: &l.digest,
                })
                .collect(),
        };
        // Strings and numbers only: writing it cannot fail.
        let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
        Self {
            digest: sha256_digest(&manifest),
            config_digest,
            config,
            layers,
            manifest,
            borrowed: Vec::new(),
        }
    }
}

/// An export's members: JSON ones kept, every other one compressed into the blob folder.
struct Members<'a> {
    label: &'a Path,
    json: HashMap<String, Vec<u8>>,
    compressed: HashMap<String, Layer>,
}

/// Reads every regular member of the export stream once.
fn read_members<'a>(
    source: impl Read,
    label: &'a Path,
    blobs: &Path,
    watch: &mut dyn LayerWatch,
) -> Result<Members<'a>, ImageError> {
    let mut members = Members {
        label,
        json: HashMap::new(),
        compressed: HashMap::new(),
    };
    let mut tar = tar::Archive::new(source);
    for entry in tar.entries().map_err(io_err("cannot read", label))? {
        let entry = entry.map_err(io_err("cannot read", label))?;
        if entry.header().entry_type() != tar::EntryType::Regular || entry.size() == 0 {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_string();
        let size = entry.size();
        let mut member = io::BufReader::with_capacity(256 * 1024, entry);
        let first = io::BufRead::fill_buf(&mut member)
            .map_err(io_err("cannot read", label))?
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{') | Some(b'[')) {
            let mut bytes = Vec::new();
            (&mut member)
                .take(MAX_JSON + 1)
                .read_to_end(&mut bytes)
                .map_err(io_err("cannot read", label))?;
            if bytes.len() as u64 > MAX_JSON {
                return Err(members.malformed(format!(
                    "its member {name} looks like JSON but is over {} MiB",
                    MAX_JSON >> 20
                )));
            }
            members.json.insert(name, bytes);
        } else if let Some(layer) = watch.compressed(&name, size) {
            let diff_id = diff_id_of(&mut member, label)?;
            if diff_id != layer.diff_id {
                watch.not_as_remembered(&name, size);
                return Err(ImageError::NotAsRemembered { name });
            }
            watch.done(&name, size, &layer);
            members.compressed.insert(name, layer);
        } else {
            let copy = watch.begins(&name, size);
            let layer = compress_member(&mut member, label, blobs, copy)?;
            watch.done(&name, size, &layer);
            members.compressed.insert(name, layer);
        }
    }
    Ok(members)
}

impl Members<'_> {
    fn malformed(&self, why: String) -> ImageError {
        ImageError::Malformed {
            path: self.label.to_path_buf(),
            why,
        }
    }

    fn json(&self, name: &str) -> Result<&Vec<u8>, ImageError> {
        self.json
            .get(name)
            .ok_or_else(|| self.malformed(format!("it has no JSON member {name}")))
    }

    /// The one image's config and layer members: from docker save's manifest.json, or from
    /// an OCI layout's index.
    fn image_entry(&self) -> Result<SaveEntry, ImageError> {
        if self.json.contains_key("manifest.json") {
            let saved: Vec<SaveEntry> = serde_json::from_slice(self.json("manifest.json")?)
                .map_err(|e| self.malformed(format!("manifest.json: {e}")))?;
            return match <[SaveEntry; 1]>::try_from(saved) {
                Ok([entry]) => Ok(entry),
                Err(saved) => {
                    Err(self.malformed(format!("it holds {} images, expected one", saved.len())))
                }
            };
        }
        let index: OciIndex = serde_json::from_slice(self.json("index.json")?)
            .map_err(|e| self.malformed(format!("index.json: {e}")))?;
        let [manifest] = index.manifests.as_slice() else {
            return Err(self.malformed(format!(
                "it holds {} manifests, expected one",
                index.manifests.len()
            )));
        };
        let manifest: OciManifest =
            serde_json::from_slice(self.json(&blob_member(&manifest.digest))?)
                .map_err(|e| self.malformed(format!("image manifest: {e}")))?;
        Ok(SaveEntry {
            config: blob_member(&manifest.config.digest),
            layers: manifest
                .layers
                .iter()
                .map(|l| blob_member(&l.digest))
                .collect(),
        })
    }
}

/// Reads an export file; see [`from_stream`].
pub fn from_archive(
    archive: &Path,
    blobs: &Path,
    platform: &str,
    watch: &mut dyn LayerWatch,
) -> Result<Image, ImageError> {
    let file = File::open(archive).map_err(|source| ImageError::Io {
        what: "cannot open",
        path: archive.to_path_buf(),
        source,
    })?;
    from_stream(file, archive, blobs, platform, watch)
}

fn check_platform(config: &ConfigJson, expected: &str) -> Result<(), ImageError> {
    let mut actual = format!(
        "{}/{}",
        config.os.as_deref().unwrap_or("unknown"),
        config.architecture.as_deref().unwrap_or("unknown")
    );
    if let Some(variant) = &config.variant {
        actual = format!("{actual}/{variant}");
    }
    // `linux/arm64` and `linux/arm64/v8` name the same thing.
    let same = actual == expected
        || actual.strip_suffix("/v8") == Some(expected)
        || expected.strip_suffix("/v8") == Some(&actual);
    if same {
        Ok(())
    } else {
        Err(ImageError::Platform {
            expected: expected.into(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_member_past_the_limit_is_refused_unread() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut big = b"{\"x\": \"".to_vec();
        big.resize(MAX_JSON as usize + 16, b'a');
        let mut header = tar::Header::new_gnu();
        header.set_size(big.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "manifest.json", &big[..])
            .unwrap();
        let bytes = tar.into_inner().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let err = from_stream(
            &bytes[..],
            Path::new("export.tar"),
            blobs.path(),
            "linux/amd64",
            &mut Unwatched,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("manifest.json looks like JSON but is over 32 MiB"),
            "{err}"
        );
    }
}
