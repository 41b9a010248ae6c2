//! Which builder sends the context, and so which ignore file it reads.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ContextError;
use crate::ignore::Engine;

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
    /// imprint's own builder: no daemon; the context read as BuildKit reads it.
    Native,
}

impl BuilderKind {
    /// The name hashed into the root hash and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buildkit => "buildkit",
            Self::DockerLegacy => "docker-legacy",
            Self::Podman => "podman",
            Self::Buildah => "buildah",
            Self::Native => "native",
        }
    }

    /// What the root hash covers of the builder: its name, and for imprint's own builder
    /// the version of its layer format (a new format makes new tags).
    pub fn hashed_name(self) -> String {
        match self {
            Self::Native => format!("native/{}", crate::native::LAYER_FORMAT),
            other => other.as_str().to_string(),
        }
    }

    /// The code that reads this builder's ignore file and walks the context with it.
    pub fn engine(self) -> Engine {
        match self {
            Self::Buildkit | Self::Native => Engine::Fsutil,
            Self::DockerLegacy => Engine::GoArchive,
            Self::Podman | Self::Buildah => Engine::Copier,
        }
    }

    /// Finds the ignore file this builder reads for `dockerfile` in `context`, as it looks
    /// for one. A name that holds nothing readable (a dangling link) is no ignore file for any
    /// of them; a folder at the name is no ignore file for BuildKit and an error for the
    /// others. The legacy builder refuses a Dockerfile-specific file it would silently ignore.
    pub fn ignore_file(
        self,
        context: &Path,
        dockerfile: &Path,
    ) -> Result<Option<PathBuf>, ContextError> {
        let beside = |suffix: &str| {
            let mut name = dockerfile.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        let candidates: Vec<PathBuf> = match self {
            // BuildKit's Dockerfile frontend: the first that reads as a file (imprint's own
            // builder reads the context as BuildKit does).
            Self::Buildkit | Self::Native => {
                return Ok([beside(".dockerignore"), context.join(".dockerignore")]
                    .into_iter()
                    .find(|p| p.is_file()))
            }
            // The docker CLI: `.dockerignore` unless it does not exist.
            Self::DockerLegacy => {
                let specific = beside(".dockerignore");
                if specific.exists() {
                    return Err(ContextError::DockerfileIgnoreWithLegacy { path: specific });
                }
                vec![context.join(".dockerignore")]
            }
            // buildah's ContainerIgnoreFile: `<Containerfile>.dockerignore` over
            // `<Containerfile>.containerignore`, then `.containerignore`, then `.dockerignore`.
            Self::Podman | Self::Buildah => vec![
                beside(".dockerignore"),
                beside(".containerignore"),
                context.join(".containerignore"),
                context.join(".dockerignore"),
            ],
        };
        // What is there counts (a folder is an error when read); a name that leads nowhere
        // does not.
        Ok(candidates.into_iter().find(|p| p.exists()))
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
            Some(root.join("Dockerfile.dockerignore"))
        );
        fs::rename(root.join("Dockerfile.dockerignore"), root.join("c")).unwrap();
        assert_eq!(
            pick(BuilderKind::Buildah).ok().flatten(),
            Some(root.join(".containerignore"))
        );
        fs::rename(root.join("c"), root.join("Dockerfile.dockerignore")).unwrap();
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
    fn a_folder_or_a_dangling_link_at_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let dockerfile = root.join("Dockerfile");
        fs::write(&dockerfile, "FROM scratch\n").unwrap();
        fs::create_dir(root.join(".dockerignore")).unwrap();
        // BuildKit reads a folder as no ignore file; the others fail to read it.
        assert_eq!(
            BuilderKind::Buildkit.ignore_file(root, &dockerfile).ok(),
            Some(None)
        );
        for kind in [
            BuilderKind::DockerLegacy,
            BuilderKind::Podman,
            BuilderKind::Buildah,
        ] {
            assert_eq!(
                kind.ignore_file(root, &dockerfile).ok().flatten(),
                Some(root.join(".dockerignore"))
            );
        }
        fs::remove_dir(root.join(".dockerignore")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join(".dockerignore")).unwrap();
        fs::write(root.join("Dockerfile.dockerignore"), "x\n").unwrap();
        // A Dockerfile-specific file wins for BuildKit, podman and buildah.
        for kind in [
            BuilderKind::Buildkit,
            BuilderKind::Podman,
            BuilderKind::Buildah,
        ] {
            assert_eq!(
                kind.ignore_file(root, &dockerfile).ok().flatten(),
                Some(root.join("Dockerfile.dockerignore"))
            );
        }
        fs::remove_file(root.join("Dockerfile.dockerignore")).unwrap();
        for kind in [
            BuilderKind::Buildkit,
            BuilderKind::DockerLegacy,
            BuilderKind::Podman,
        ] {
            assert_eq!(
                kind.ignore_file(root, &dockerfile).ok(),
                Some(None),
                "{kind}"
            );
        }
        fs::write(root.join("Dockerfile.containerignore"), "x\n").unwrap();
        assert_eq!(
            BuilderKind::Podman
                .ignore_file(root, &dockerfile)
                .ok()
                .flatten(),
            Some(root.join("Dockerfile.containerignore"))
        );
    }
}
