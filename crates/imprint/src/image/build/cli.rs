//! What the command-line builders (docker, podman, buildah) share: running the program (a
//! build behind a spinner, a quiet query), the build's common arguments with the base images
//! pinned, the image list by label, and reading an OCI archive file the builder writes.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::Context as _;
use imprint_context::{BaseImage, BuilderKind, FORMAT_VERSION};

use super::{BuildError, BuildRequest, LocalImage, FORMAT_LABEL, HASH_LABEL};
use crate::config::{builder_program, BuildSettings};
use crate::image::push::archive::{self, Image, LayerWatch};
use crate::reporter::Reporter;

/// One command-line builder: its kind, its program and what it builds.
#[derive(Debug, Clone)]
pub(super) struct Cli {
    pub kind: BuilderKind,
    pub program: String,
    pub settings: BuildSettings,
}

impl Cli {
    pub fn new(settings: &BuildSettings) -> Self {
        let kind = settings.params.builder;
        Self {
            kind,
            program: builder_program(kind),
            settings: settings.clone(),
        }
    }

    /// A command running the program.
    pub fn command(&self) -> Command {
        Command::new(&self.program)
    }

    /// The output of a quiet command, or its error.
    pub fn capture(&self, args: &[&str]) -> Result<String, BuildError> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| BuildError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(BuildError::Failed {
                command: format!("{} {}", self.program, args.join(" ")),
                status: out.status.to_string(),
                tail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// The first line of a quiet command's output, trimmed.
    pub fn first_line(&self, args: &[&str]) -> Result<String, BuildError> {
        let out = self.capture(args)?;
        Ok(out.lines().next().unwrap_or_default().trim().to_string())
    }

    /// Runs `cmd` (the program with its build subcommand) as a build of `request`: the
    /// platform, the Dockerfile (a copy with every locked base image pinned to its digest, so
    /// a stale local base cannot end up in the image), the tag, the labels tying the image to
    /// its content hash, the target, `--no-cache` when fresh, the build arguments (values
    /// through the environment, never in argv or messages) and the context.
    pub fn build(
        &self,
        mut cmd: Command,
        request: &BuildRequest<'_>,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<LocalImage> {
        let p = &self.settings.params;
        let pinned = pinned_dockerfile(&self.settings, request.bases)?;
        let dockerfile = pinned
            .as_ref()
            .map_or(p.dockerfile.as_path(), |(_, path)| path.as_path());
        let ids = tempfile::tempdir().context("failed to create a temp folder for the image id")?;
        let id_file = ids.path().join("id");
        cmd.args(["--platform", &p.platform])
            .arg("--file")
            .arg(dockerfile)
            .args(["--tag", request.name])
            .arg("--iidfile")
            .arg(&id_file)
            .args(["--label", &format!("{HASH_LABEL}={}", request.hash)])
            .args(["--label", &format!("{FORMAT_LABEL}={FORMAT_VERSION}")]);
        for (key, value) in request.labels {
            cmd.args(["--label", &format!("{key}={value}")]);
        }
        if let Some(target) = &p.target {
            cmd.args(["--target", target]);
        }
        if request.fresh {
            cmd.arg("--no-cache");
        }
        for (key, value) in &p.build_args {
            cmd.args(["--build-arg", key]).env(key, value);
        }
        cmd.arg(&self.settings.context);
        run_streaming(cmd, "building", reporter)?;
        let id = std::fs::read_to_string(&id_file)
            .with_context(|| format!("`{}` wrote no image id", self.program))?;
        Ok(LocalImage {
            builder: self.kind,
            name: request.name.to_string(),
            id: image_id(&id),
        })
    }

    /// The newest image labelled with `hash`; `format` lists `created|name:tag|id` in the
    /// program's own template language.
    pub fn find(&self, hash: &str, format: &str) -> Result<Option<LocalImage>, BuildError> {
        let filter = format!("label={HASH_LABEL}={hash}");
        let listed = self.capture(&[
            "images",
            "--no-trunc",
            "--filter",
            &filter,
            "--format",
            format,
        ])?;
        Ok(newest(&listed).map(|(name, id)| LocalImage {
            builder: self.kind,
            name: name.to_string(),
            id: image_id(id),
        }))
    }

    /// Runs `args` (with `{archive}` standing for the file) to have the builder write the
    /// image as an OCI archive in a scratch folder under `blobs`, then reads it (podman and
    /// buildah cannot write that format to a pipe).
    pub fn export_through_file(
        &self,
        args: &[&str],
        image: &LocalImage,
        blobs: &Path,
        platform: &str,
        watch: &mut dyn LayerWatch,
    ) -> anyhow::Result<Image> {
        let work =
            tempfile::tempdir_in(blobs).context("failed to create a folder for the export")?;
        let file = work.path().join("image.tar");
        let path = file.to_string_lossy();
        let args: Vec<String> = args.iter().map(|a| a.replace("{archive}", &path)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.capture(&args)?;
        archive::from_archive(&file, blobs, platform, watch)
            .with_context(|| format!("failed to read the export of {image}"))
    }
}

/// `sha256:<hex>`, as the builders print an image id with or without its algorithm.
fn image_id(text: &str) -> String {
    let id = text.trim();
    if id.contains(':') {
        id.to_string()
    } else {
        format!("sha256:{id}")
    }
}

/// The newest of the images listed as `created|name:tag|id` lines: its name and id. One image
/// under several tags (a cached rebuild) goes by its latest tag; untagged images do not count.
/// `|` cannot appear in an image name (and buildah turns tabs into spaces).
fn newest(listed: &str) -> Option<(&str, &str)> {
    let mut found: Vec<(&str, &str, &str)> = listed
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '|');
            Some((fields.next()?, fields.next()?, fields.next()?))
        })
        .filter(|(_, name, _)| !name.contains("<none>"))
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    found.first().map(|&(_, name, id)| (name, id))
}

/// A copy of the Dockerfile with every locked reference pinned, in a temp folder (with the
/// Dockerfile-specific ignore file beside it, which BuildKit looks for by name).
fn pinned_dockerfile(
    build: &BuildSettings,
    bases: &[BaseImage],
) -> anyhow::Result<Option<(tempfile::TempDir, PathBuf)>> {
    let digests: BTreeMap<String, String> = bases
        .iter()
        .filter(|b| b.digest.starts_with("sha256:"))
        .map(|b| (b.reference.clone(), b.digest.clone()))
        .collect();
    if digests.is_empty() {
        return Ok(None);
    }
    let original = &build.params.dockerfile;
    let text = std::fs::read_to_string(original)
        .with_context(|| format!("failed to read {}", original.display()))?;
    let parsed = imprint_context::dockerfile::parse(&text, &build.params.build_args);
    let dir =
        tempfile::tempdir().context("failed to create a temp folder for the pinned Dockerfile")?;
    let name = original
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_os_string());
    let path = dir.path().join(&name);
    std::fs::write(&path, parsed.pinned(&text, &digests))
        .with_context(|| format!("failed to write {}", path.display()))?;
    let mut ignore_name = name.clone();
    ignore_name.push(".dockerignore");
    let specific = original.with_file_name(&ignore_name);
    if specific.is_file() {
        std::fs::copy(&specific, dir.path().join(&ignore_name))
            .with_context(|| format!("failed to copy {}", specific.display()))?;
    }
    Ok(Some((dir, path)))
}

/// Runs a command, its output lines told to a meter of `reporter`, and turns a failure into
/// an error carrying its last lines.
pub fn run_streaming(
    mut cmd: Command,
    what: &'static str,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let shown = shown_command(&cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn { program, source })?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    let meter = reporter.lines(what);
    let mut tail = VecDeque::with_capacity(20);
    for line in rx {
        meter.line(&line);
        if tail.len() == 20 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    meter.finish();
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            command: shown,
            status: status.to_string(),
            tail: Vec::from(tail).join("\n"),
        }
        .into())
    }
}

fn shown_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_tagged_image_is_found() {
        let listed = "2026-01-02 10:00:00 +0000 UTC|app:old|sha256:aa\n\
                      2026-01-03 10:00:00 +0000 UTC|<none>:<none>|sha256:bb\n\
                      2026-01-02 11:00:00 +0000 UTC|app:new|sha256:cc\n";
        assert_eq!(newest(listed), Some(("app:new", "sha256:cc")));
        assert_eq!(newest(""), None);
        assert_eq!(newest("a line without fields\n"), None);
    }

    #[test]
    fn image_ids_carry_their_algorithm() {
        assert_eq!(image_id("sha256:ab\n"), "sha256:ab");
        assert_eq!(image_id("ab"), "sha256:ab");
    }
}
