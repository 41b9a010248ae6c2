//! What the tree says about itself besides its content: the git commit, branch, whether it is
//! dirty and where it is published, and the project's version. Never part of the content
//! hash (a fresh clone and a tarball of the same files hash the same); it goes into tags that
//! ask for it, the image's OCI labels and the journal.

use std::path::Path;
use std::process::Command;

use imprint_context::TagMetadata;
use serde::Serialize;

use crate::config::Settings;
use crate::error::UsageError;
use crate::journal::Checkout;

/// The tree's version-control facts and version; `None` where there is no answer (no git,
/// not a checkout, no version).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The commit checked out (40 hex).
    pub commit: Option<String>,
    /// The branch; in CI's detached checkouts, the one the CI names.
    pub branch: Option<String>,
    /// Whether git sees changes not committed (untracked files included, ignored ones not).
    pub dirty: Option<bool>,
    /// The `origin` remote, without any user or password in it.
    pub remote: Option<String>,
    /// `--app-version`, else `[project]` (or `[tool.poetry]`) version in pyproject.toml.
    pub version: Option<String>,
}

impl Source {
    /// Reads it for the project of `settings` (git from the context folder).
    pub fn read(settings: &Settings) -> Self {
        let context = &settings.build.context;
        let commit = git(context, &["rev-parse", "--verify", "HEAD"]);
        let (branch, dirty, remote) = match commit {
            Some(_) => (
                branch(context),
                // Only the context's own changes: the rest of the repository is not built.
                git(context, &["status", "--porcelain", "--", "."]).map(|out| !out.is_empty()),
                git(context, &["config", "--get", "remote.origin.url"]).map(|u| without_user(&u)),
            ),
            None => (None, None, None),
        };
        let version = settings.build.app_version.clone().or_else(|| {
            let project = settings.config.dir().unwrap_or(context);
            pyproject_version(&project.join("pyproject.toml"))
        });
        Self {
            commit,
            branch,
            dirty,
            remote,
            version,
        }
    }

    /// The checkout as the journal records it (none outside git).
    pub fn checkout(&self) -> Option<Checkout> {
        Some(Checkout {
            commit: self.commit.clone()?,
            dirty: self.dirty.unwrap_or(false),
            branch: self.branch.clone(),
        })
    }

    /// What a tag template may carry.
    pub fn tag_metadata(&self) -> TagMetadata {
        TagMetadata {
            commit: self.commit.clone(),
            branch: self.branch.clone(),
            version: self.version.clone(),
        }
    }

    /// The OCI annotations' labels for an image built from this source at `created`
    /// (RFC 3339): revision, source, version and created, each only when known.
    pub fn labels(&self, created: String) -> Vec<(&'static str, String)> {
        let known = [
            ("org.opencontainers.image.revision", self.commit.clone()),
            ("org.opencontainers.image.source", self.remote.clone()),
            ("org.opencontainers.image.version", self.version.clone()),
            ("org.opencontainers.image.created", Some(created)),
        ];
        known
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .collect()
    }

    /// `--require-clean` refuses a dirty tree; otherwise a dirty tree is only worth a
    /// warning (returned), as the image's revision label does not describe all of it.
    pub fn check_clean(&self, require: bool) -> Result<Option<String>, UsageError> {
        if self.dirty != Some(true) {
            return Ok(None);
        }
        let commit = self.commit.as_deref().unwrap_or_default();
        let message = format!(
            "the context folder has changes not committed to git (on {}; files the ignore file excludes count too): the image's revision label names the commit, not those changes",
            commit.get(..12).unwrap_or(commit)
        );
        match require {
            true => Err(UsageError::new(
                message,
                "commit or stash the changes (git status lists them), or drop --require-clean",
            )),
            false => Ok(Some(message)),
        }
    }
}

/// One line of git's answer in `dir`; `None` when git is missing, fails or says nothing.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim_end().to_string())
}

/// The branch checked out; a detached checkout (as CI makes) takes the branch its CI names.
fn branch(dir: &Path) -> Option<String> {
    match git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]) {
        Some(branch) if !branch.is_empty() => Some(branch),
        _ => [
            "GITHUB_HEAD_REF",
            "GITHUB_REF_NAME",
            "CI_COMMIT_REF_NAME",
            "BUILDKITE_BRANCH",
        ]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|b| !b.is_empty()),
    }
}

/// A remote URL with any `user[:password]@` taken out (a token in a clone URL must not end
/// up in a label).
fn without_user(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_start = rest.find('/').unwrap_or(rest.len());
            match rest[..host_start].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// `[project] version`, else `[tool.poetry] version`, of a pyproject.toml.
fn pyproject_version(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let project = doc.get("project").and_then(|p| p.get("version"));
    let poetry = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("version"));
    project.or(poetry)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_a_clone_url_is_taken_out() {
        assert_eq!(
            without_user("https://x-access-token:ghs_abc@github.com/acme/api.git"),
            "https://github.com/acme/api.git"
        );
        assert_eq!(
            without_user("https://github.com/acme/api.git"),
            "https://github.com/acme/api.git"
        );
        assert_eq!(
            without_user("git@github.com:acme/api.git"),
            "git@github.com:acme/api.git"
        );
    }

    #[test]
    fn the_version_comes_from_project_or_poetry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyproject.toml");
        std::fs::write(&path, "[project]\nname = \"a\"\nversion = \"1.4.0\"\n").unwrap();
        assert_eq!(pyproject_version(&path).as_deref(), Some("1.4.0"));
        std::fs::write(&path, "[tool.poetry]\nversion = \"0.3.1\"\n").unwrap();
        assert_eq!(pyproject_version(&path).as_deref(), Some("0.3.1"));
        std::fs::write(&path, "[project]\nname = \"a\"\n").unwrap();
        assert_eq!(pyproject_version(&path), None);
    }
}
