//! Which tag the current content has: the one already pushed (through the index artifact),
//! the one already built locally, or a new one from the template and the clock.

use std::sync::Arc;

use anyhow::Context as _;

use imprint_context::{
    hash_context_cached, CacheSource, ContextHash, HashCache, Needs, Observer, TagMetadata,
};

use super::build::{self, LocalImage};
use super::lock::{self, Bases};
use super::push::index::{self, Pushed};
use super::source::Source;
use crate::config::{BuildSettings, Settings};
use crate::error::UsageError;
use crate::reporter::{Meter, Reporter};
use crate::session::Session;

/// Where the tag came from.
#[derive(Debug, Clone)]
pub enum TagSource {
    /// The registry holds an image for this content.
    Pushed(Pushed),
    /// A local image was built from this content and not pushed yet.
    Built(LocalImage),
    /// Nothing exists for this content yet.
    New,
}

/// The current content, its tag, and where the tag came from.
#[derive(Debug, Clone)]
pub struct Tagged {
    /// The hashed context.
    pub hashed: ContextHash,
    /// The tag.
    pub tag: String,
    /// Where it came from.
    pub source: TagSource,
    /// The base images hashed (from imprint.lock).
    pub bases: Bases,
}

impl Tagged {
    /// The full hash in hex.
    pub fn hash(&self) -> String {
        self.hashed.hex()
    }
}

/// How to look for the tag.
#[derive(Debug, Clone, Copy, Default)]
pub struct TagQuery<'a> {
    /// Skip the registry and the builder: the tag from the local tree alone.
    pub offline: bool,
    /// Always a new tag (`--rebuild`).
    pub rebuild: bool,
    /// Leave imprint.lock as it is (`preview`, `status`).
    pub read_only: bool,
    /// The checkout, when the caller read it already (else read when the template needs it).
    pub source: Option<&'a Source>,
}

/// A tag given to deploy or roll back to (`--tag`, `--to`) must be one a registry can hold.
pub(crate) fn check_given(tag: &str) -> Result<(), UsageError> {
    imprint_context::validate_tag(tag).map_err(|why| {
        UsageError::new(
            format!("{tag} is not a valid tag: {why}"),
            "pass a tag from `imprint history` or `imprint status`",
        )
    })
}

/// The checkout's source facts (commit, labels) and the tag of its content, as a build of it
/// needs them.
pub async fn tag_checkout(session: &Session) -> anyhow::Result<(Source, Tagged)> {
    let source = Source::read(&session.settings);
    let query = TagQuery {
        source: Some(&source),
        ..TagQuery::default()
    };
    let tagged = tag_content(session, query)
        .await
        .context("failed to work out the tag")?;
    Ok((source, tagged))
}

/// Hashes the context (with the base images pinned in imprint.lock) and finds its tag.
pub async fn tag_content(session: &Session, query: TagQuery<'_>) -> anyhow::Result<Tagged> {
    let settings = &session.settings;
    let mode = lock::Mode {
        offline: query.offline,
        locked: settings.locked,
        update: false,
        read_only: query.read_only,
    };
    let bases = lock::prepare(session, mode).await?;
    let mut build = settings.build.clone();
    build.params.base_images = bases.images.clone();
    let hashed = hash_tree(&build, session.reporter())?;
    let existing = if query.offline {
        None
    } else {
        existing_tag(session, &hashed.hex()).await?
    };
    let (tag, source) = match existing {
        Some((tag, source)) if !query.rebuild => (tag, source),
        Some((old, _)) => (
            new_tag(settings, query.source, &hashed.hex(), Some(&old))?,
            TagSource::New,
        ),
        None => (
            new_tag(settings, query.source, &hashed.hex(), None)?,
            TagSource::New,
        ),
    };
    Ok(Tagged {
        hashed,
        tag,
        source,
        bases,
    })
}

/// The tag this content already has: pushed (the registry's index artifact), else built on
/// this machine (the builder's images labelled with the hash).
async fn existing_tag(
    session: &Session,
    hash: &str,
) -> anyhow::Result<Option<(String, TagSource)>> {
    if session.settings.registry.is_some() {
        if let Some(pushed) = index::lookup(session.registry().await?, hash).await? {
            return Ok(Some((pushed.tag.clone(), TagSource::Pushed(pushed))));
        }
    }
    match build::for_settings(&session.settings.build).find(hash) {
        Ok(Some(image)) => Ok(Some((image.tag().to_string(), TagSource::Built(image)))),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::info!("no local image lookup: {e:#}");
            Ok(None)
        }
    }
}

/// Tells a meter how the hashing goes.
struct Progress(Arc<dyn Meter>);

impl Observer for Progress {
    fn found(&self, bytes: u64) {
        self.0.grow(bytes);
    }
    fn hashed(&self, bytes: u64) {
        self.0.advance(bytes);
    }
}

/// Hashes the build context as the builder would send it, with progress, and prints its
/// warnings.
pub fn hash_tree(build: &BuildSettings, reporter: &dyn Reporter) -> anyhow::Result<ContextHash> {
    tracing::info!(
        "hashing {} as {} would send it",
        build.context.display(),
        build.params.builder
    );
    let cache_file = build.hash_cache.then(|| cache_path(build)).flatten();
    // Read while the walk reads the folders; with none there, no file is stat-ed twice.
    let load = || {
        cache_file
            .as_deref()
            .and_then(|path| load_cache(path, reporter))
    };
    let source = match &cache_file {
        Some(path) if path.exists() => CacheSource::Load(&load),
        _ => CacheSource::None,
    };
    let progress = Progress(reporter.bytes("hashing"));
    let result = hash_context_cached(&build.context, &build.params, &progress, source);
    progress.0.finish();
    let (hashed, next) = result?;
    // `None`: the cache on disk is still exact.
    if let (Some(path), Some(next)) = (cache_file, next) {
        save_cache(&path, &next);
    }
    for warning in &hashed.warnings {
        reporter.warn(&warning.message);
    }
    Ok(hashed)
}

/// Where the hash cache of this context and builder lives:
/// `$XDG_CACHE_HOME/imprint/hash/<SHA-256 of the context's real path and the builder>`.
fn cache_path(build: &BuildSettings) -> Option<std::path::PathBuf> {
    let root = std::fs::canonicalize(&build.context).ok()?;
    let key = [
        root.as_os_str().as_encoded_bytes(),
        &[0],
        build.params.builder.as_str().as_bytes(),
    ]
    .concat();
    let digest = crate::registry::sha256_digest(&key);
    let name = digest.trim_start_matches("sha256:").get(..32)?.to_string();
    Some(crate::state::cache_dir().ok()?.join("hash").join(name))
}

/// The cache at `path`; a damaged or foreign one is ignored with a warning (and rewritten).
fn load_cache(path: &std::path::Path, reporter: &dyn Reporter) -> Option<HashCache> {
    let bytes = std::fs::read(path).ok()?;
    match HashCache::decode(bytes) {
        Ok(cache) => Some(cache),
        Err(e) => {
            reporter.warn(&format!(
                "the hash cache {} is {e}; hashing every file and writing it again",
                path.display()
            ));
            None
        }
    }
}

/// Writes the cache atomically; it only saves work, so a failure is a debug message.
fn save_cache(path: &std::path::Path, cache: &HashCache) {
    if let Err(e) = crate::state::write_cache(path, &cache.encode()) {
        tracing::debug!("could not write the hash cache {}: {e}", path.display());
    }
}

/// A tag from the template and the clock, never equal to `old` (a rebuild within the same
/// second takes the next second: a tag is never moved to another image).
fn new_tag(
    settings: &Settings,
    source: Option<&Source>,
    hash: &str,
    old: Option<&str>,
) -> anyhow::Result<String> {
    let template = &settings.build.template;
    let mut now = now_for_tags()?;
    // git and pyproject.toml are read only for templates that name what they give.
    let metadata = match (template.needs() == Needs::default(), source) {
        (true, _) => TagMetadata::default(),
        (false, Some(source)) => source.tag_metadata(),
        (false, None) => Source::read(settings).tag_metadata(),
    };
    let mut tag = template.render(hash, now, &metadata)?;
    if let Some(old) = old {
        if !template.has_timestamp() {
            return Err(UsageError::new(
                format!("--rebuild cannot give a new tag: the template `{}` has no {{timestamp}}, so this content is always `{old}`", template.as_str()),
                "add {timestamp} to [image] tag, or drop --rebuild",
            )
            .into());
        }
        while tag == old {
            now += 1;
            tag = template.render(hash, now, &metadata)?;
        }
    }
    Ok(tag)
}

/// The current time for tags: `SOURCE_DATE_EPOCH` when set, else the clock (UTC seconds).
pub(crate) fn now_for_tags() -> Result<i64, UsageError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|t| (0..=imprint_context::MAX_TAG_TIME).contains(t))
            .ok_or_else(|| {
                UsageError::new(
                    format!("SOURCE_DATE_EPOCH is `{text}`, not a Unix time from 1970 to 9999"),
                    "set it to a Unix time such as $(git log -1 --format=%ct), or unset it",
                )
            }),
        Err(_) => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)),
    }
}
