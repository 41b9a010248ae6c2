//! imprint's pure core: the build-context walk under Docker's ignore rules, the content hash
//! (format v1) and tag formatting. No async, no network.

pub mod builder;
pub mod cache;
pub mod dockerfile;
pub mod error;
pub mod hash;
pub mod ignore;
pub mod input;
pub mod native;
mod syntax;
pub mod tag;
mod walk;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

pub use builder::BuilderKind;
pub use cache::{CacheSource, HashCache};
pub use error::ContextError;
pub use hash::{Observer, Quiet};
pub use ignore::IgnoreRules;
pub use input::{escape_bytes, hex, Excluded, Input, InputKind};
pub use syntax::{check as check_dockerfile, Refusal};
pub use tag::{
    format_rfc3339, format_timestamp, parse_utc, validate_tag, Needs, TagMetadata, TagTemplate,
    DEFAULT_TEMPLATE, MAX_BRANCH, MAX_TAG_TIME, MAX_VERSION,
};

/// The version of the hash format, stored in image labels.
pub const FORMAT_VERSION: u32 = 1;

/// A base image pinned to its platform manifest digest (from `imprint.lock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseImage {
    /// The reference as the Dockerfile names it, after `ARG` substitution.
    pub reference: String,
    /// `sha256:…` of its manifest for the platform.
    pub digest: String,
}

/// Everything besides the context's files that changes the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildParams {
    /// The builder, which decides the ignore file and its semantics.
    pub builder: BuilderKind,
    /// The Dockerfile (absolute, or relative to the current directory).
    pub dockerfile: PathBuf,
    /// `--target` stage.
    pub target: Option<String>,
    /// `os/arch[/variant]`, always explicit.
    pub platform: String,
    /// `--build-arg` values, sorted by name.
    pub build_args: BTreeMap<String, String>,
    /// Locked base images (filled by the lock in a later format user; empty until then).
    pub base_images: Vec<BaseImage>,
    /// `[image.native]`: what the native builder cannot read from the base's tag (native
    /// builds only; hashed when set).
    pub native: NativeParams,
}

/// The native builder's settings for a base whose tag does not tell them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeParams {
    /// The image's Python (`3.12`), for dependency steps, instead of the base's tag's.
    pub python: Option<String>,
    /// Where an install without `--target` puts packages, instead of the AWS base's.
    pub site_packages: Option<String>,
}

/// A non-fatal finding about the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Machine-readable kind: `state-in-context`, `not-other-readable`, `special-file`.
    pub kind: &'static str,
    /// What to tell the user.
    pub message: String,
    /// The paths concerned.
    pub paths: Vec<String>,
}

/// The result of hashing a build context.
#[derive(Debug, Clone)]
pub struct ContextHash {
    /// Full BLAKE3 root hash.
    pub hash: [u8; 32],
    /// Every entry the builder sends, sorted by path bytes.
    pub inputs: Vec<Input>,
    /// Entries left out by the ignore file.
    pub excluded: Vec<Excluded>,
    /// The ignore file that applied, relative to the context when inside it.
    pub ignore_file: Option<String>,
    /// The Dockerfile relative to the context.
    pub dockerfile: String,
    /// Findings worth a warning.
    pub warnings: Vec<Warning>,
    /// Regular files hashed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl ContextHash {
    /// The full hash in lower-case hex.
    pub fn hex(&self) -> String {
        hex(&self.hash)
    }
}

/// An I/O error on `path`: `missing` when nothing is there, else unreadable.
fn io_error(
    path: &Path,
    missing: fn(PathBuf) -> ContextError,
) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| match source.kind() {
        std::io::ErrorKind::NotFound => missing(path.to_path_buf()),
        _ => ContextError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The Dockerfile's text, refused (with its line) where the builder would refuse it.
pub fn read_dockerfile(
    path: &Path,
    build_args: &std::collections::BTreeMap<String, String>,
) -> Result<String, ContextError> {
    let bytes = std::fs::read(path).map_err(io_error(path, |path| {
        ContextError::DockerfileMissing { path }
    }))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ContextError::DockerfileRefused {
            path: path.to_path_buf(),
            line: good.iter().filter(|&&b| b == b'\n').count() + 1,
            message: "the Dockerfile is not UTF-8 text".into(),
        }
    })?;
    syntax::check(&text, build_args).map_err(|r| ContextError::DockerfileRefused {
        path: path.to_path_buf(),
        line: r.line,
        message: r.message,
    })?;
    Ok(text)
}

/// Hashes the context at `root` as `params.builder` would send it.
pub fn hash_context(
    root: &Path,
    params: &BuildParams,
    observer: &dyn Observer,
) -> Result<ContextHash, ContextError> {
    hash_context_cached(root, params, observer, CacheSource::None).map(|(hashed, _)| hashed)
}

/// [`hash_context`], reading no file whose stat the cache has unchanged; also the cache for
/// the next run (every file of this one that is not racy), or `None` when the cache holds
/// this run's files unchanged, or all but a few that cost less to hash again than a new cache
/// costs to write. The hash is the same with any cache or none.
pub fn hash_context_cached(
    root: &Path,
    params: &BuildParams,
    observer: &dyn Observer,
    cache: CacheSource<'_>,
) -> Result<(ContextHash, Option<HashCache>), ContextError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let meta = std::fs::metadata(root)
        .map_err(io_error(root, |path| ContextError::ContextMissing { path }))?;
    if !meta.is_dir() {
        return Err(ContextError::ContextNotDir {
            path: root.to_path_buf(),
        });
    }
    if !params.dockerfile.is_file() {
        return Err(ContextError::DockerfileMissing {
            path: params.dockerfile.clone(),
        });
    }
    let dockerfile_text = read_dockerfile(&params.dockerfile, &params.build_args)?;
    if params.builder == BuilderKind::Native {
        native::read_plan(&dockerfile_text, params)?;
    }
    let ignore_path = params.builder.ignore_file(root, &params.dockerfile)?;
    let rules = match &ignore_path {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| ContextError::Unreadable {
                path: path.clone(),
                source,
            })?;
            IgnoreRules::parse(path, &bytes, params.builder.engine())?
        }
        None => IgnoreRules::none(params.builder.engine()),
    };

    let mut walked = walk::walk(root, &rules, observer, cache, stamp)?;
    let next = walked.next_cache.take();

    let dockerfile_rel = relative_to(&params.dockerfile, root);
    let (dockerfile_hash, _) = hash::hash_file(&params.dockerfile)?;
    let ignore = match &ignore_path {
        Some(path) => Some((relative_to(path, root), hash::hash_file(path)?.0)),
        None => None,
    };
    let special = hash::SpecialFiles {
        dockerfile_rel: dockerfile_rel.clone(),
        dockerfile_hash,
        ignore: ignore.clone(),
    };
    let hash = hash::root_hash(&walked.inputs, params, &special);
    let warnings = warnings(&walked.inputs, &walked.special);
    let hashed = ContextHash {
        hash,
        inputs: walked.inputs,
        excluded: walked.excluded,
        ignore_file: ignore.map(|(rel, _)| rel),
        dockerfile: dockerfile_rel,
        warnings,
        files: walked.files,
        bytes: walked.bytes,
    };
    Ok((hashed, next))
}

/// `path` relative to `base` with `/` separators, through `..` when outside it. Both are
/// resolved first so that symlinked or relative spellings agree.
fn relative_to(path: &Path, base: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// State that should not ship in a Lambda image, and files Lambda's user cannot read.
fn warnings(inputs: &[Input], special: &[(Vec<u8>, &'static str)]) -> Vec<Warning> {
    const STATE: [&[u8]; 4] = [b".git", b".venv", b"__pycache__", b".env"];
    // Every folder on the way to an entry is an entry too, and parents sort before what is
    // in them: each entry's own name is enough, and the first hit of a subtree is its top.
    let mut state: Vec<String> = Vec::new();
    let mut top: Option<&[u8]> = None;
    for input in inputs {
        let path = input.path.as_slice();
        if top.is_some_and(|t| path.starts_with(t) && path.get(t.len()) == Some(&b'/')) {
            continue;
        }
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        if STATE.contains(&name) {
            top = Some(path);
            state.push(String::from_utf8_lossy(path).into_owned());
        }
    }
    let mut out = Vec::new();
    if !state.is_empty() {
        out.push(Warning {
            kind: "state-in-context",
            message: format!(
                "{} {} in the build context; add {} to the ignore file",
                state.join(", "),
                if state.len() == 1 { "is" } else { "are" },
                if state.len() == 1 { "it" } else { "them" }
            ),
            paths: state,
        });
    }
    let unreadable: Vec<String> = inputs
        .iter()
        .filter(|i| i.kind == InputKind::File && !i.other_readable)
        .map(Input::display_path)
        .collect();
    if !unreadable.is_empty() {
        out.push(Warning {
            kind: "not-other-readable",
            message: format!(
                "{} cannot be read by others; Lambda runs your code as a non-root user, which cannot read {}: chmod o+r",
                list(&unreadable),
                if unreadable.len() == 1 { "it" } else { "them" }
            ),
            paths: unreadable,
        });
    }
    for (path, what) in special {
        let path = String::from_utf8_lossy(path).into_owned();
        out.push(Warning {
            kind: "special-file",
            message: format!("{path} is a {what}; builders never send one, so it is left out"),
            paths: vec![path],
        });
    }
    out
}

/// The first few items and a count of the rest.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        )
    }
}
