//! Errors of the pure core. Every one of them is caused by the input (exit code 2).

use std::io;
use std::path::PathBuf;

/// What can go wrong while reading a build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context root does not exist.
    #[error("build context {} does not exist", path.display())]
    ContextMissing {
        /// The context root as given.
        path: PathBuf,
    },
    /// The context root is not a folder.
    #[error("build context {} is not a directory", path.display())]
    ContextNotDir {
        /// The context root as given.
        path: PathBuf,
    },
    /// The builder would refuse the Dockerfile.
    #[error("{}:{line}: {message}", path.display())]
    DockerfileRefused {
        /// The Dockerfile.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The native builder does not follow this part of the Dockerfile (docker would build it).
    #[error("{}:{line}: {message}", path.display())]
    NativeUnsupported {
        /// The Dockerfile.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What it is and why.
        message: String,
    },
    /// The Dockerfile does not exist.
    #[error("Dockerfile {} does not exist", path.display())]
    DockerfileMissing {
        /// The Dockerfile path as resolved.
        path: PathBuf,
    },
    /// An input could not be read; never skipped.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A line of an ignore file is not a valid pattern.
    #[error("{}:{line}: bad ignore pattern `{pattern}`: {reason}", file.display())]
    BadPattern {
        /// The ignore file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line as written.
        pattern: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The legacy docker builder ignores `<Dockerfile>.dockerignore`, so the image would not
    /// match what the user wrote.
    #[error("{} is a BuildKit-only ignore file, but the builder is the legacy docker builder, which reads only .dockerignore", path.display())]
    DockerfileIgnoreWithLegacy {
        /// The Dockerfile-specific ignore file.
        path: PathBuf,
    },
    /// BuildKit's walk sends the file, but its second check when it opens the file excludes
    /// it (see [`IgnoreRules::checks_opened_files`](crate::ignore::IgnoreRules::checks_opened_files)):
    /// the image would hold it empty.
    #[error("{}:{line}: BuildKit would send `{path}` empty: its walk re-includes the file, but `{pattern}` excludes a folder above it when BuildKit opens it to send its bytes", file.display())]
    SentEmpty {
        /// The ignore file.
        file: PathBuf,
        /// The file, relative to the context.
        path: String,
        /// The pattern that excludes it when it is opened.
        pattern: String,
        /// That pattern's 1-based line.
        line: usize,
    },
    /// A tag template is invalid.
    #[error("bad tag template `{template}`: {reason}")]
    BadTemplate {
        /// The template as given.
        template: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The template names a value this tree does not have (no git checkout, no version).
    #[error("the tag template `{template}` uses {placeholder}, which this tree does not give")]
    TagValueMissing {
        /// The template as given.
        template: String,
        /// `{git}`, `{branch}` or `{version}`.
        placeholder: String,
    },
}

impl ContextError {
    /// A line telling the user what to do about the error.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ContextMissing { .. } | Self::ContextNotDir { .. } => {
                "pass the folder that holds your Dockerfile and sources with --context, or set [image] context in imprint.toml".into()
            }
            Self::DockerfileRefused { .. } => {
                "fix the Dockerfile: `docker build` refuses it too".into()
            }
            Self::NativeUnsupported { .. } => {
                "build it with --builder docker, or keep the Dockerfile to what the native builder follows (the README's \"The native builder\")".into()
            }
            Self::DockerfileMissing { .. } => {
                "create it, or point at it with --file / [image] dockerfile (relative to the context)".into()
            }
            Self::Unreadable { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                "fix its permissions (the builder must read it too), or exclude it in the ignore file".into()
            }
            Self::Unreadable { .. } => {
                "imprint never skips an input: fix the file or exclude it in the ignore file".into()
            }
            Self::BadPattern { .. } => {
                "patterns follow the builder's rules: `*`, `?`, `**`, `[a-z]`, `\\` before punctuation, `!` re-includes (the README's \"Which Docker\" has where builders differ)".into()
            }
            Self::SentEmpty { line, .. } => format!(
                "move the `!` pattern that re-includes it below line {line}, or exclude the file: BuildKit would put it in the image with no contents"
            ),
            Self::DockerfileIgnoreWithLegacy { .. } => {
                "move its patterns into .dockerignore, or build with BuildKit (install docker buildx, or pass --builder buildkit)".into()
            }
            Self::TagValueMissing { placeholder, .. } => match placeholder.as_str() {
                "{version}" => "set [project] version in pyproject.toml beside imprint.toml, or pass --app-version VERSION".into(),
                _ => "run imprint in a git checkout (CI: check the repository out), or drop it from [image] tag".into(),
            },
            Self::BadTemplate { .. } => {
                "a template needs {hash:N} (N from 4 to 64) and may use {timestamp}, {git:N} (4 to 40), {branch} and {version}; the result must be a valid tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}".into()
            }
        })
    }
}
