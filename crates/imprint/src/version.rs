//! What this binary is: its version, the commit and target it was built from, and the
//! version of each format it reads and writes.

use serde::Serialize;

/// `imprint --version`'s text after the name: `0.1.0 (1a2b3c4 2026-12-05, x86_64-unknown-linux-gnu)`.
pub const LONG_VERSION: &str = env!("BUILT_LONG_VERSION");

/// `imprint version`: what `--version` says, field by field.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// The release, e.g. `0.1.0`.
    pub version: &'static str,
    /// The full commit hash it was built from; absent when built outside a checkout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<&'static str>,
    /// The commit's date (`YYYY-MM-DD`); absent when not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_date: Option<&'static str>,
    /// The Rust target triple, e.g. `x86_64-unknown-linux-musl`.
    pub target: &'static str,
    /// The formats this binary reads and writes, with their versions.
    pub formats: Formats,
}

/// Each format a release keeps stable, with the version of it this binary writes.
#[derive(Debug, Clone, Serialize)]
pub struct Formats {
    /// The content hash (docs/hash-format.md): changes only with a new version here.
    pub content_hash: u32,
    /// The index artifact beside each image (docs/index-artifact.md).
    pub index_artifact: u32,
    /// The deployment journal in the registry (docs/journal.md).
    pub journal: u32,
    /// The native builder's layers.
    pub native_layers: u32,
}

impl Version {
    /// This binary's.
    pub fn current() -> Self {
        let known = |s: &'static str| (!s.is_empty()).then_some(s);
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit: known(env!("BUILT_COMMIT")),
            commit_date: known(env!("BUILT_COMMIT_DATE")),
            target: env!("BUILT_TARGET"),
            formats: Formats {
                content_hash: imprint_context::FORMAT_VERSION,
                index_artifact: imprint_context::FORMAT_VERSION,
                journal: crate::journal::JOURNAL_FORMAT,
                native_layers: imprint_context::native::LAYER_FORMAT,
            },
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "imprint {LONG_VERSION}")
    }
}
