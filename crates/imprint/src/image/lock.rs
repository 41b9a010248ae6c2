//! `imprint.lock`: every external image the Dockerfile names, pinned to the digest of its
//! manifest for the configured platform. Hashing uses the lock, so a tag changes when, and
//! only when, someone takes newer base images on purpose (`imprint lock --update`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use imprint_context::dockerfile;
use imprint_context::BaseImage;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::UsageError;
use crate::registry::{ImageName, RegistryError};
use crate::session::Session;

/// The lock file's name.
pub const FILE_NAME: &str = "imprint.lock";
const HEADER: &str = "# imprint.lock: the base images of this project, each pinned to its manifest digest for\n# the platform. Written by imprint (`imprint lock --update` takes newer ones); commit it.\n";

/// One pinned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The reference as the Dockerfile names it.
    pub reference: String,
    /// `os/arch`.
    pub platform: String,
    /// `sha256:` of its manifest for that platform.
    pub digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockJson {
    version: u32,
    #[serde(default, rename = "image")]
    images: Vec<Pin>,
}

/// The lock file in memory.
#[derive(Debug, Clone)]
pub struct Lockfile {
    /// Where it lives.
    pub path: PathBuf,
    entries: Vec<Pin>,
    changed: bool,
}

impl Lockfile {
    /// Every pinned digest.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|p| p.digest.as_str())
    }

    /// The images pinned for `platform`.
    pub fn pins<'a>(&'a self, platform: &'a str) -> impl Iterator<Item = &'a Pin> {
        self.entries.iter().filter(move |p| p.platform == platform)
    }

    /// Reads the lock (an absent file is an empty lock).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let entries = match std::fs::read_to_string(path) {
            Ok(text) => {
                let parsed: LockJson = toml::from_str(&text).map_err(|e| {
                    UsageError::new(
                        format!(
                            "{} is not a valid lock file: {}",
                            path.display(),
                            e.message()
                        ),
                        "delete it and run `imprint lock` to write it again",
                    )
                })?;
                if parsed.version != 1 {
                    return Err(UsageError::new(
                        format!(
                            "{} has version {}; this imprint reads version 1",
                            path.display(),
                            parsed.version
                        ),
                        "use the imprint that wrote it, or run `imprint lock --update`",
                    )
                    .into());
                }
                if let Some(bad) = parsed.images.iter().find(|e| !is_sha256(&e.digest)) {
                    return Err(UsageError::new(
                        format!(
                            "{}: the digest of {} ({}) is `{}`, not sha256: and 64 hex digits",
                            path.display(),
                            bad.reference,
                            bad.platform,
                            bad.digest
                        ),
                        "run `imprint lock --update` to pin it again",
                    )
                    .into());
                }
                parsed.images
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        Ok(Self {
            path: path.to_path_buf(),
            entries,
            changed: false,
        })
    }

    /// The locked digest of `reference` for `platform`.
    pub fn get(&self, reference: &str, platform: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.reference == reference && e.platform == platform)
            .map(|e| e.digest.as_str())
    }

    /// Records a digest.
    pub fn set(&mut self, reference: &str, platform: &str, digest: &str) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.reference == reference && e.platform == platform)
        {
            Some(e) if e.digest == digest => {}
            Some(e) => {
                e.digest = digest.to_string();
                self.changed = true;
            }
            None => {
                self.entries.push(Pin {
                    reference: reference.into(),
                    platform: platform.into(),
                    digest: digest.into(),
                });
                self.changed = true;
            }
        }
    }

    /// Keeps only `references` for `platform` (and every entry of other platforms).
    pub fn retain(&mut self, references: &[&str], platform: &str) {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.platform != platform || references.contains(&e.reference.as_str()));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the file atomically if anything changed.
    pub fn save(&mut self) -> anyhow::Result<bool> {
        if !self.changed {
            return Ok(false);
        }
        self.entries
            .sort_by(|a, b| (&a.reference, &a.platform).cmp(&(&b.reference, &b.platform)));
        let body = toml::to_string(&LockJson {
            version: 1,
            images: self.entries.clone(),
        })
        .context("failed to write the lock file")?;
        crate::state::write_atomic(&self.path, format!("{HEADER}{body}").as_bytes())
            .with_context(|| format!("failed to write {}", self.path.display()))?;
        self.changed = false;
        Ok(true)
    }
}

/// `sha256:` and 64 lower-case hex digits.
fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// How the lock may be used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// No network: a missing entry is hashed as its reference text, with a warning.
    pub offline: bool,
    /// A missing entry is an error instead of being resolved and written.
    pub locked: bool,
    /// Resolve every entry again.
    pub update: bool,
    /// Resolve what is missing for the hash, but leave imprint.lock as it is (previews).
    pub read_only: bool,
}

/// The base images to hash, from the lock, resolving and recording what is missing.
#[derive(Debug, Clone, Default)]
pub struct Bases {
    /// Reference and digest for each external image (digest `unresolved` when offline and
    /// not locked).
    pub images: Vec<BaseImage>,
    /// References hashed as text because they are not locked and imprint is offline.
    pub unresolved: Vec<String>,
}

/// Where the lock lives: beside imprint.toml, else in the context.
pub fn path(settings: &Settings) -> PathBuf {
    settings
        .config
        .dir()
        .unwrap_or(&settings.build.context)
        .join(FILE_NAME)
}

/// Reads the Dockerfile's external images and pins them through the lock.
pub async fn prepare(session: &Session, mode: Mode) -> anyhow::Result<Bases> {
    let (settings, reporter) = (&session.settings, session.reporter());
    let build = &settings.build;
    let dockerfile_path = &build.params.dockerfile;
    if !dockerfile_path.is_file() {
        // The hash reports a missing Dockerfile (or context) with its own clear error.
        return Ok(Bases::default());
    }
    // Refused here, before any base image is resolved, where the builder would refuse it.
    let text = imprint_context::read_dockerfile(dockerfile_path, &build.params.build_args)?;
    let parsed = dockerfile::parse(&text, &build.params.build_args);
    for (line, url) in &parsed.remote_adds {
        reporter.warn(&format!(
            "{}:{line}: ADD {url} fetches content the hash cannot see; a change there does not change the tag (download it into the context instead)",
            dockerfile_path.display()
        ));
    }
    let references = parsed.references();
    if references.is_empty() {
        return Ok(Bases::default());
    }
    let platform = &build.params.platform;
    let mut lock = Lockfile::load(&path(settings))?;
    let mut bases = Bases::default();
    for reference in &references {
        let digest = match pin(session, &mut lock, reference, mode).await? {
            Some(digest) => digest,
            None => {
                bases.unresolved.push(reference.to_string());
                "unresolved".to_string()
            }
        };
        bases.images.push(BaseImage {
            reference: reference.to_string(),
            digest,
        });
    }
    if !bases.unresolved.is_empty() {
        reporter.warn(&format!(
            "{} not in {}; offline, so the reference text is hashed in place of its digest (the tag may change once it is locked)",
            bases.unresolved.join(", "),
            lock.path.display()
        ));
    }
    if mode.update {
        lock.retain(&references, platform);
    }
    if mode.read_only {
        if lock.changed {
            reporter.note(&format!(
                "{} lacks base images this preview resolved; `imprint deploy` or `imprint lock` writes them",
                lock.path.display()
            ));
        }
    } else if lock.save()? {
        reporter.note(&format!("wrote {}", lock.path.display()));
    }
    Ok(bases)
}

/// The digest to hash for `reference`: the locked one, else (and with `update`) the
/// registry's, recorded in the lock; `None` offline without a lock entry.
async fn pin(
    session: &Session,
    lock: &mut Lockfile,
    reference: &str,
    mode: Mode,
) -> anyhow::Result<Option<String>> {
    let platform = &session.settings.build.params.platform;
    let existing = lock.get(reference, platform).map(str::to_string);
    match existing {
        Some(d) if !mode.update => return Ok(Some(d)),
        _ if mode.offline && mode.update => {
            return Err(UsageError::new(
                "`imprint lock --update` needs the registry",
                "drop --offline",
            )
            .into())
        }
        // --locked refuses a missing entry offline too: it promises the lock decided.
        None if mode.locked => {
            return Err(UsageError::new(
                format!(
                    "{} has no entry for {reference} ({platform}), and --locked forbids adding one",
                    lock.path.display()
                ),
                "run `imprint lock` and commit imprint.lock",
            )
            .into())
        }
        _ if mode.offline => return Ok(None),
        _ => {}
    }
    let digest = platform_digest(session, reference, platform)
        .await
        .with_context(|| format!("failed to resolve the base image {reference} for {platform}"))?;
    if let Some(old) = existing.filter(|old| *old != digest) {
        session
            .reporter()
            .note(&format!("{reference}: {old} → {digest}"));
    }
    lock.set(reference, platform, &digest);
    Ok(Some(digest))
}

/// The digest of `reference`'s manifest for `platform` (picked out of an index).
pub async fn platform_digest(
    session: &Session,
    reference: &str,
    platform: &str,
) -> anyhow::Result<String> {
    let name = ImageName::parse(reference)?;
    let registry = session.registry_for(&name.repository, None).await?;
    let manifest = registry
        .get_manifest(&name.reference)
        .await?
        .ok_or_else(|| RegistryError::Status {
            method: reqwest::Method::GET,
            url: format!("{}/{}", registry.address(), name.reference),
            status: reqwest::StatusCode::NOT_FOUND,
            body: format!("{reference} is not in its registry"),
            retry_after: None,
        })?;
    match pick_platform(&manifest.bytes, platform) {
        PlatformEntry::NotAnIndex => Ok(manifest.digest),
        PlatformEntry::Digest(digest) => Ok(digest),
        PlatformEntry::Missing => Err(UsageError::new(
            format!("{reference} has no image for {platform}"),
            "pick a base image built for this platform, or change [image] platform",
        )
        .into()),
        PlatformEntry::BadDigest(digest) => anyhow::bail!(
            "the index of {reference} names `{digest}` for {platform}, not a sha256 digest"
        ),
    }
}

/// What an image index says for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformEntry {
    /// The bytes are a single-platform manifest (or not an index at all).
    NotAnIndex,
    /// The platform's manifest digest.
    Digest(String),
    /// The index has no manifest for the platform.
    Missing,
    /// The index names something that is not a sha256 digest for it.
    BadDigest(String),
}

/// The entry of an image index (`manifests`) for `platform` (`os/arch[/variant]`).
pub fn pick_platform(bytes: &[u8], platform: &str) -> PlatformEntry {
    #[derive(Deserialize)]
    struct Platform {
        os: String,
        architecture: String,
        variant: Option<String>,
    }
    #[derive(Deserialize)]
    struct IndexEntry {
        digest: String,
        platform: Option<Platform>,
    }
    #[derive(Deserialize)]
    struct Index {
        manifests: Option<Vec<IndexEntry>>,
    }
    let Some(entries) = serde_json::from_slice::<Index>(bytes)
        .ok()
        .and_then(|i| i.manifests)
    else {
        return PlatformEntry::NotAnIndex;
    };
    let mut wanted = platform.split('/');
    let (os, arch, variant) = (wanted.next(), wanted.next(), wanted.next());
    let found = entries.into_iter().find(|e| {
        e.platform.as_ref().is_some_and(|p| {
            Some(p.os.as_str()) == os
                && Some(p.architecture.as_str()) == arch
                && (variant.is_none() || p.variant.as_deref() == variant)
        })
    });
    match found {
        None => PlatformEntry::Missing,
        Some(e) if is_sha256(&e.digest) => PlatformEntry::Digest(e.digest),
        Some(e) => PlatformEntry::BadDigest(e.digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_entry_is_picked_out_of_an_index() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let index = serde_json::json!({"manifests": [
            {"digest": d('a'), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": d('b'), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "md5:x", "platform": {"os": "linux", "architecture": "s390x"}},
        ]})
        .to_string();
        let bytes = index.as_bytes();
        assert_eq!(
            pick_platform(bytes, "linux/amd64"),
            PlatformEntry::Digest(d('a'))
        );
        assert_eq!(
            pick_platform(bytes, "linux/arm64"),
            PlatformEntry::Digest(d('b'))
        );
        assert_eq!(
            pick_platform(bytes, "linux/arm64/v8"),
            PlatformEntry::Digest(d('b'))
        );
        assert_eq!(
            pick_platform(bytes, "linux/s390x"),
            PlatformEntry::BadDigest("md5:x".into())
        );
        assert_eq!(
            pick_platform(bytes, "linux/ppc64le"),
            PlatformEntry::Missing
        );
        assert_eq!(
            pick_platform(br#"{"schemaVersion": 2, "layers": []}"#, "linux/amd64"),
            PlatformEntry::NotAnIndex
        );
        assert_eq!(
            pick_platform(b"\xff not json", "linux/amd64"),
            PlatformEntry::NotAnIndex
        );
    }
}
