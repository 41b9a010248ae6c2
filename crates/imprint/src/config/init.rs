//! `imprint init`: what an existing project's imprint.toml should say (its Dockerfile and
//! ignore file, the repository, the functions already running images from it) and the file
//! itself. Pure but for reading the project's folders: Lambda is asked by the command.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::file::Selector;
use crate::error::UsageError;
use crate::registry::ImageName;

/// Folders never searched for a Dockerfile (dependencies, build output, tool caches).
const SKIPPED: [&str; 9] = [
    "node_modules",
    "target",
    "cdk.out",
    "venv",
    "__pycache__",
    "dist",
    "build",
    "site-packages",
    "vendor",
];
/// How deep below the project the search goes.
const DEPTH: usize = 3;

/// The Dockerfile found, relative to the project folder.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectDockerfile {
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// Its folder: the build context.
    pub context: PathBuf,
    /// `<Dockerfile>.dockerignore` or the context's `.dockerignore`, when there is one.
    pub ignore_file: Option<PathBuf>,
    /// Why the native builder would not build it (its line and what it does not follow);
    /// none when it would, and `init` proposes it.
    pub not_native: Option<String>,
}

/// The Dockerfile of the project in `dir`: `given`, else `Dockerfile` (or `Containerfile`) in
/// `dir`, else the only one below it (hidden and dependency folders skipped); several are a
/// usage error listing them.
pub fn find_dockerfile(dir: &Path, given: Option<&Path>) -> Result<ProjectDockerfile, UsageError> {
    let dockerfile = match given {
        Some(path) => {
            if !dir.join(path).is_file() {
                return Err(UsageError::new(
                    format!("--file {}: no such file", path.display()),
                    "pass the Dockerfile's path relative to the current folder",
                ));
            }
            path.to_path_buf()
        }
        None => match ["Dockerfile", "Containerfile"]
            .into_iter()
            .find(|n| dir.join(n).is_file())
        {
            Some(top) => PathBuf::from(top),
            None => {
                let mut found = Vec::new();
                search(dir, Path::new(""), 0, &mut found);
                found.sort();
                match found.as_slice() {
                    [] => return Err(UsageError::new(
                        format!("no Dockerfile in {} or its folders", dir.display()),
                        "run `imprint init` where the image's Dockerfile is, or pass --file PATH",
                    )),
                    [one] => one.clone(),
                    many => {
                        let list: Vec<_> = many.iter().map(|p| p.display().to_string()).collect();
                        return Err(UsageError::new(
                            format!("several Dockerfiles: {}", list.join(", ")),
                            "pick the Lambda image's with --file PATH",
                        ));
                    }
                }
            }
        },
    };
    let context = dockerfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut own = dockerfile.clone().into_os_string();
    own.push(".dockerignore");
    let ignore_file = [PathBuf::from(own), context.join(".dockerignore")]
        .into_iter()
        .find(|p| dir.join(p).is_file())
        .map(|p| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p));
    let text = std::fs::read_to_string(dir.join(&dockerfile)).unwrap_or_default();
    let not_native = imprint_context::native::Plan::read(&text, &Default::default(), None)
        .err()
        .map(|refusal| format!("line {}: {}", refusal.line, refusal.message));
    Ok(ProjectDockerfile {
        dockerfile,
        context,
        ignore_file,
        not_native,
    })
}

/// Dockerfiles under `dir/rel`, depth first, skipping hidden and dependency folders.
fn search(dir: &Path, rel: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        let path = rel.join(text);
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth < DEPTH && !skipped(text) => {
                search(dir, &path, depth + 1, found);
            }
            Ok(t) if t.is_file() && is_dockerfile(text) => found.push(path),
            _ => {}
        }
    }
}

fn skipped(folder: &str) -> bool {
    folder.starts_with('.') || SKIPPED.contains(&folder)
}

fn is_dockerfile(name: &str) -> bool {
    matches!(name, "Dockerfile" | "Containerfile")
        || (name.starts_with("Dockerfile.") && !name.ends_with(".dockerignore"))
        || name.ends_with(".Dockerfile")
}

/// An image function as Lambda reports it.
#[derive(Debug, Clone)]
pub struct Running {
    /// Its name.
    pub name: String,
    /// The image URI it was given.
    pub image_uri: String,
    /// `x86_64` or `arm64`.
    pub architectures: Vec<String>,
}

/// Where the proposed repository came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepositorySource {
    /// `--repository`.
    Flag,
    /// The image the selected functions run.
    Functions,
    /// The functions' repository named like the project.
    ProjectName,
    /// No function runs one: a new ECR repository in the caller's account and region.
    NewRepository,
}

/// What imprint.toml will say.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// The image repository.
    pub repository: String,
    /// Where that came from.
    pub source: RepositorySource,
    /// The functions running images from it (or selected by the tag).
    pub functions: Vec<String>,
    /// `--select TAG=VALUE`, written as `[deploy] select`.
    #[serde(skip)]
    pub select: Option<Selector>,
    /// From the functions' architecture.
    pub platform: String,
}

/// The repository and functions for a project named `name`: `flag`, else the one repository
/// the (selected) image functions run, else the one of several named like the project, else
/// `new_repository` (in the caller's account and region) when no function runs an image.
pub fn propose(
    name: &str,
    flag: Option<&str>,
    select: Option<&Selector>,
    running: &[Running],
    new_repository: Option<String>,
) -> Result<Proposal, UsageError> {
    let mut by_repository: BTreeMap<String, Vec<&Running>> = BTreeMap::new();
    for f in running {
        if let Ok(image) = ImageName::parse(&f.image_uri) {
            by_repository
                .entry(image.repository.to_string())
                .or_default()
                .push(f);
        }
    }
    let named = |repo: &String| repo.rsplit('/').next() == Some(name);
    let (repository, source) = match (flag, by_repository.len()) {
        (Some(flag), _) => (flag.to_string(), RepositorySource::Flag),
        (None, 1) => (
            by_repository.keys().next().cloned().unwrap_or_default(),
            RepositorySource::Functions,
        ),
        (None, 0) => match new_repository {
            Some(repo) => (repo, RepositorySource::NewRepository),
            None => {
                return Err(UsageError::new(
                    "no image function runs an image, and the AWS account is unknown",
                    "pass --repository HOST/PATH (the ECR repository the image goes to)",
                ))
            }
        },
        (None, _) => match by_repository.keys().find(|r| named(r)) {
            Some(repo) => (repo.clone(), RepositorySource::ProjectName),
            None => {
                let list: Vec<String> = by_repository
                    .iter()
                    .map(|(r, fs)| format!("{r} ({} function(s))", fs.len()))
                    .collect();
                let list = list.join(", ");
                return Err(UsageError::new(
                    format!("the image functions run images from several repositories: {list}"),
                    "pick one with --repository HOST/PATH (or --select TAG=VALUE)",
                ));
            }
        },
    };
    let chosen: Vec<&Running> = by_repository.get(&repository).cloned().unwrap_or_default();
    let arm = !chosen.is_empty()
        && chosen
            .iter()
            .all(|f| f.architectures.iter().any(|a| a == "arm64"));
    Ok(Proposal {
        repository,
        source,
        functions: chosen.iter().map(|f| f.name.clone()).collect(),
        select: select.cloned(),
        platform: if arm { "linux/arm64" } else { "linux/amd64" }.to_string(),
    })
}

/// An image name for the project folder `folder`: lower case, `-` for what an image name
/// cannot hold (`My_App 2` → `my_app-2`).
pub fn image_name(folder: &str) -> String {
    let mapped: String = folder
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    match trimmed.is_empty() {
        true => "app".into(),
        false => trimmed.chars().take(64).collect(),
    }
}

/// `--select TAG=VALUE`.
pub fn parse_selector(text: &str) -> Result<Selector, UsageError> {
    match text.split_once('=') {
        Some((tag, value)) if !tag.is_empty() && !value.is_empty() => Ok(Selector {
            tag: tag.into(),
            value: value.into(),
        }),
        _ => Err(UsageError::new(
            format!("--select {text}: expected TAG=VALUE"),
            "name a Lambda tag and its value, e.g. --select app=debts",
        )),
    }
}

/// A TOML string literal.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// The imprint.toml for image `name` built from `found`, as `proposal` says.
pub fn render(name: &str, found: &ProjectDockerfile, proposal: &Proposal) -> String {
    let mut out = String::from(
        "# imprint's configuration, written by `imprint init`. Every key: the README's\n\
         # \"Configuration\" section; `imprint doctor` checks what a deploy needs.\n\n[image]\n",
    );
    let dockerfile = found
        .dockerfile
        .strip_prefix(&found.context)
        .unwrap_or(&found.dockerfile);
    out += &format!("name = {}\n", quoted(name));
    out += &format!("context = {}\n", quoted(&found.context.to_string_lossy()));
    out += &format!(
        "dockerfile = {}          # relative to the context\n",
        quoted(&dockerfile.to_string_lossy())
    );
    out += &format!(
        "platform = {}         # the functions' architecture; never the host's default\n",
        quoted(&proposal.platform)
    );
    out += "tag = \"{timestamp}-{hash:8}\"      # {git:7}, {branch} and {version} can go in too\n";
    out += &match &found.not_native {
        None => "builder = \"native\"              # no daemon, the same image everywhere (the README's \"The native builder\")\n\n".to_string(),
        Some(why) => format!("# builder: docker; the native builder would not build this Dockerfile ({why})\n\n"),
    };
    out += &format!(
        "[registry]\nrepository = {}\n\n",
        quoted(&proposal.repository)
    );
    out += "[deploy]\n";
    out += "owner = \"imprint\"   # imprint moves the functions; \"pulumi\": `pulumi up` does\n";
    match (&proposal.select, proposal.functions.as_slice()) {
        (Some(s), _) => {
            let (tag, value) = (quoted(&s.tag), quoted(&s.value));
            out += &format!("select = {{ tag = {tag}, value = {value} }}\n");
        }
        (None, []) => out += "# functions = [\"…\"]   # none runs this repository's images yet\n",
        (None, names) => {
            out += "functions = [\n";
            for n in names {
                out += &format!("  {},\n", quoted(n));
            }
            out += "]\n";
        }
    }
    out += "\n# [env.prod]   # `--env prod`: another repository, account or region\n";
    out += "# registry.repository = \"…\"\n# aws.role_arn = \"…\"\n";
    out
}

/// The Makefile `init --makefile` writes: the document's targets, each one imprint call.
pub const MAKEFILE: &str = include_str!("init.mk");

const NO_IGNORE_FILE: &str = "none: every file in the context goes into the hash and the build";

/// What `imprint init` did.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// The files written (none with `--print`).
    pub written: Vec<PathBuf>,
    /// The Dockerfile, context and ignore file.
    pub found: ProjectDockerfile,
    /// The repository and functions.
    pub proposal: Proposal,
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (found, p) = (&self.found, &self.proposal);
        for path in &self.written {
            writeln!(f, "wrote {}", path.display())?;
        }
        writeln!(
            f,
            "  dockerfile  {} (context {}, ignore file {})",
            found.dockerfile.display(),
            found.context.display(),
            found
                .ignore_file
                .as_ref()
                .map_or(NO_IGNORE_FILE.into(), |p| p.display().to_string())
        )?;
        let from = match p.source {
            RepositorySource::Flag => "from --repository",
            RepositorySource::Functions => "the image the functions run",
            RepositorySource::ProjectName => "named like the project",
            RepositorySource::NewRepository => "new: create it with `imprint push --create-repo`",
        };
        writeln!(f, "  repository  {} ({from})", p.repository)?;
        match (&p.select, p.functions.len()) {
            (Some(s), n) => writeln!(f, "  functions   tagged {}={} ({n} now)", s.tag, s.value)?,
            (None, 0) => writeln!(f, "  functions   none yet: list them in [deploy] functions")?,
            (None, n) => writeln!(f, "  functions   {n}: {}", p.functions.join(", "))?,
        }
        write!(f, "next: `imprint doctor`, then `imprint preview`")
    }
}

/// `path` must not exist yet: imprint never overwrites a file it did not write.
pub fn refuse_existing(path: &Path) -> Result<(), UsageError> {
    match path.exists() {
        true => Err(UsageError::new(
            format!("{} already exists; imprint init never overwrites it", path.display()),
            "edit it, or move it away and run `imprint init` again (--print shows what it would write)",
        )),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str, uri: &str, arch: &str) -> Running {
        Running {
            name: name.into(),
            image_uri: uri.into(),
            architectures: vec![arch.into()],
        }
    }

    #[test]
    fn the_repository_comes_from_the_flag_the_one_repository_or_the_project_name() {
        let fs = [
            running("a", "r.io/app:1", "arm64"),
            running("b", "r.io/app@sha256:00", "arm64"),
            running("c", "r.io/other:2", "x86_64"),
        ];
        let p = propose("x", Some("r.io/other"), None, &fs, None).unwrap();
        assert_eq!(
            (p.functions, p.source, p.platform.as_str()),
            (vec!["c".to_string()], RepositorySource::Flag, "linux/amd64")
        );
        let p = propose("app", None, None, &fs, None).unwrap();
        assert_eq!(
            (
                p.repository.as_str(),
                p.functions.len(),
                p.platform.as_str()
            ),
            ("r.io/app", 2, "linux/arm64")
        );
        assert_eq!(p.source, RepositorySource::ProjectName);
        let e = propose("x", None, None, &fs, None).unwrap_err();
        assert!(
            e.message.contains("r.io/app (2 function(s))"),
            "{}",
            e.message
        );
        let p = propose("x", None, None, &fs[2..], None).unwrap();
        assert_eq!(p.source, RepositorySource::Functions);
        let p = propose(
            "x",
            None,
            None,
            &[],
            Some("1.dkr.ecr.r.amazonaws.com/x".into()),
        )
        .unwrap();
        assert_eq!(
            (p.source, p.functions.len()),
            (RepositorySource::NewRepository, 0)
        );
        assert!(propose("x", None, None, &[], None).is_err());
    }

    #[test]
    fn names_and_selectors() {
        assert_eq!(image_name("My_App 2"), "my_app-2");
        assert_eq!(image_name("debt-api"), "debt-api");
        assert_eq!(image_name("..."), "app");
        assert_eq!(parse_selector("app=debts").unwrap().value, "debts");
        assert!(parse_selector("app").is_err() && parse_selector("=x").is_err());
    }

    #[test]
    fn the_rendered_file_reads_back_with_what_was_proposed() {
        let found = ProjectDockerfile {
            dockerfile: "app/Dockerfile".into(),
            context: "app".into(),
            ignore_file: None,
            not_native: None,
        };
        let proposal = Proposal {
            repository: "r.io/a\"b".into(),
            source: RepositorySource::Flag,
            functions: vec!["f-1".into(), "f-2".into()],
            select: None,
            platform: "linux/arm64".into(),
        };
        let text = render("a", &found, &proposal);
        let config = super::super::file::parse(&text, "imprint.toml".into(), None).unwrap();
        let s = &config.sections;
        assert_eq!(s.image.builder, Some(crate::config::BuilderChoice::Native));
        let docker = ProjectDockerfile {
            not_native: Some("line 3: RUN: …".into()),
            ..found.clone()
        };
        let text = render("a", &docker, &proposal);
        assert!(
            text.contains(
                "# builder: docker; the native builder would not build this Dockerfile (line 3"
            ),
            "{text}"
        );
        let config = super::super::file::parse(&text, "imprint.toml".into(), None).unwrap();
        assert_eq!(config.sections.image.builder, None);
        assert_eq!(s.registry.repository.as_deref(), Some("r.io/a\"b"));
        assert_eq!(
            s.deploy.functions.as_deref(),
            Some(&["f-1".to_string(), "f-2".to_string()][..])
        );
        assert_eq!(s.image.dockerfile.as_deref(), Some(Path::new("Dockerfile")));
        assert_eq!(s.image.context.as_deref(), Some(Path::new("app")));
        let selected = Proposal {
            select: Some(Selector {
                tag: "app".into(),
                value: "debts".into(),
            }),
            ..proposal
        };
        let config =
            super::super::file::parse(&render("a", &found, &selected), "imprint.toml".into(), None)
                .unwrap();
        assert_eq!(
            config.sections.deploy.select.map(|s| s.value),
            Some("debts".to_string())
        );
    }

    #[test]
    fn the_dockerfile_is_the_top_one_or_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "FROM scratch\n").unwrap();
        };
        assert!(find_dockerfile(dir.path(), None).is_err());
        write("node_modules/x/Dockerfile");
        write("svc/Dockerfile");
        write("svc/Dockerfile.dockerignore");
        let found = find_dockerfile(dir.path(), None).unwrap();
        assert_eq!(
            (found.dockerfile.as_path(), found.context.as_path()),
            (Path::new("svc/Dockerfile"), Path::new("svc"))
        );
        assert_eq!(
            found.ignore_file.as_deref(),
            Some(Path::new("svc/Dockerfile.dockerignore"))
        );
        write("other/Dockerfile");
        let e = find_dockerfile(dir.path(), None).unwrap_err();
        assert!(
            e.message.contains("other/Dockerfile") && e.message.contains("svc/Dockerfile"),
            "{}",
            e.message
        );
        write("Dockerfile");
        write(".dockerignore");
        let found = find_dockerfile(dir.path(), None).unwrap();
        assert_eq!(
            (found.dockerfile.as_path(), found.context.as_path()),
            (Path::new("Dockerfile"), Path::new("."))
        );
        assert_eq!(
            found.ignore_file.as_deref(),
            Some(Path::new(".dockerignore"))
        );
    }
}
