//! Which builder sends the context, and so which ignore file it reads.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ContextError;

/// The program that builds the image; each reads its own ignore file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuilderKind {
    /// `docker buildx` / BuildKit.
    Buildkit,
    /// The docker CLI's legacy builder (no buildx).
    DockerLegacy,
    /// `podman build`.
    Podman,
    /// `buildah bud`.
    Buildah,
}

impl BuilderKind {
    /// The name hashed into the root hash and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buildkit => "buildkit",
            Self::DockerLegacy => "docker-legacy",
            Self::Podman => "podman",
            Self::Buildah => "buildah",
        }
    }

    /// Whether a folder that is excluded but walked into (a `!` pattern may re-include
    /// something inside it) is itself sent. BuildKit sends it; the legacy builder sends only
    /// the folders implied by files it re-includes.
    pub(crate) fn sends_descended_excluded_dirs(self) -> bool {
        !matches!(self, Self::DockerLegacy)
    }

    /// Finds the ignore file this builder reads for `dockerfile` in `context`, in its order of
    /// preference. The legacy builder refuses a Dockerfile-specific file it would silently
    /// ignore.
    pub fn ignore_file(
        self,
        context: &Path,
        dockerfile: &Path,
    ) -> Result<Option<PathBuf>, ContextError> {
        let specific = {
            let mut name = dockerfile.as_os_str().to_owned();
            name.push(".dockerignore");
            PathBuf::from(name)
        };
        let candidates: Vec<PathBuf> = match self {
            Self::Buildkit => vec![specific, context.join(".dockerignore")],
            Self::DockerLegacy => {
                if specific.exists() {
                    return Err(ContextError::DockerfileIgnoreWithLegacy { path: specific });
                }
                vec![context.join(".dockerignore")]
            }
            Self::Podman | Self::Buildah => {
                vec![
                    context.join(".containerignore"),
                    context.join(".dockerignore"),
                ]
            }
        };
        // Whatever stands at the name counts, as for the builders: a folder or a dangling
        // link there is an error when read, not a missing file.
        Ok(candidates
            .into_iter()
            .find(|p| p.symlink_metadata().is_ok()))
    }
}

impl fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn each_builder_reads_its_own_ignore_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let dockerfile = root.join("Dockerfile");
        fs::write(&dockerfile, "FROM scratch\n").unwrap();
        assert_eq!(
            BuilderKind::Buildkit.ignore_file(root, &dockerfile).ok(),
            Some(None)
        );
        fs::write(root.join(".dockerignore"), "a\n").unwrap();
        fs::write(root.join(".containerignore"), "b\n").unwrap();
        fs::write(root.join("Dockerfile.dockerignore"), "c\n").unwrap();
        let pick = |kind: BuilderKind| kind.ignore_file(root, &dockerfile);
        assert_eq!(
            pick(BuilderKind::Buildkit).ok().flatten(),
            Some(root.join("Dockerfile.dockerignore"))
        );
        assert_eq!(
            pick(BuilderKind::Podman).ok().flatten(),
            Some(root.join(".containerignore"))
        );
        assert_eq!(
            pick(BuilderKind::Buildah).ok().flatten(),
            Some(root.join(".containerignore"))
        );
        assert!(matches!(
            pick(BuilderKind::DockerLegacy),
            Err(ContextError::DockerfileIgnoreWithLegacy { .. })
        ));
        fs::remove_file(root.join("Dockerfile.dockerignore")).unwrap();
        assert_eq!(
            pick(BuilderKind::DockerLegacy).ok().flatten(),
            Some(root.join(".dockerignore"))
        );
        assert_eq!(
            pick(BuilderKind::Buildkit).ok().flatten(),
            Some(root.join(".dockerignore"))
        );
    }

    #[test]
    fn an_ignore_file_that_is_a_folder_is_found_and_then_fails_to_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join(".dockerignore")).unwrap();
        let found = BuilderKind::Buildkit
            .ignore_file(root, &root.join("Dockerfile"))
            .unwrap();
        assert_eq!(found, Some(root.join(".dockerignore")));
    }
}
