//! Runs the builder (the docker CLI) to build, find and export images. imprint pushes; the
//! builder only builds.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::Context as _;
use imprint_context::{BaseImage, BuilderKind, FORMAT_VERSION};

use super::archive::{self, Image};
use super::engine;
use crate::config::{builder_program, BuildSettings};
use crate::printer::{Printer, Verbosity};

/// The label that ties an image to its content hash.
pub const HASH_LABEL: &str = "dev.imprint.content-hash";
/// The label with the hash format version.
pub const FORMAT_LABEL: &str = "dev.imprint.format";

/// The builder failed or could not be run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The program is not installed.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("`{command}` failed ({status}); its last lines:\n{tail}")]
    Failed {
        /// What ran (no secrets: build-arg values travel in the environment).
        command: String,
        /// Exit status.
        status: String,
        /// The last lines it printed.
        tail: String,
    },
}

/// Builds the context into `image` (`name:tag`), labelled with its content hash and
/// `labels`. `fresh` (for `--rebuild`) turns the builder's cache off, so nothing is reused
/// from an earlier build of the same content.
/// Every base image in `bases` with a digest is pinned to it (the builder gets a copy of the
/// Dockerfile with `ref@digest`), so a stale local base cannot end up in the image.
pub fn build(
    build: &BuildSettings,
    image: &str,
    hash: &str,
    fresh: bool,
    bases: &[BaseImage],
    labels: &[(&str, String)],
    printer: &Printer,
) -> anyhow::Result<()> {
    let p = &build.params;
    let pinned = pinned_dockerfile(build, bases)?;
    let dockerfile = pinned
        .as_ref()
        .map_or(p.dockerfile.as_path(), |(_, path)| path.as_path());
    let mut cmd = Command::new(builder_program(p.builder));
    match p.builder {
        BuilderKind::Buildkit => {
            cmd.args([
                "buildx",
                "build",
                "--load",
                "--provenance=false",
                "--sbom=false",
            ]);
        }
        BuilderKind::DockerLegacy => {
            cmd.arg("build").env("DOCKER_BUILDKIT", "0");
        }
        BuilderKind::Podman => {
            cmd.arg("build");
        }
        BuilderKind::Buildah => {
            cmd.arg("bud");
        }
    }
    cmd.args(["--platform", &p.platform])
        .arg("--file")
        .arg(dockerfile)
        .args(["--tag", image])
        .args(["--label", &format!("{HASH_LABEL}={hash}")])
        .args(["--label", &format!("{FORMAT_LABEL}={FORMAT_VERSION}")]);
    for (key, value) in labels {
        cmd.args(["--label", &format!("{key}={value}")]);
    }
    if let Some(target) = &p.target {
        cmd.args(["--target", target]);
    }
    if fresh {
        cmd.arg("--no-cache");
    }
    // Values go through the environment, so they never appear in argv or in messages.
    for (key, value) in &p.build_args {
        cmd.args(["--build-arg", key]).env(key, value);
    }
    cmd.arg(&build.context);
    run_streaming(cmd, "building", printer)
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

/// Runs a command, showing its latest line behind a spinner (every line with `-v`), and
/// turns a failure into an error carrying its last lines.
pub fn run_streaming(
    mut cmd: Command,
    what: &'static str,
    printer: &Printer,
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
    let spinner = printer.spinner(what);
    let mut tail = VecDeque::with_capacity(20);
    for line in rx {
        if printer.verbosity >= Verbosity::Verbose {
            spinner.suspend(|| eprintln!("  {line}"));
        }
        spinner.set_message(format!(
            "{what}: {}",
            line.chars().take(100).collect::<String>()
        ));
        if tail.len() == 20 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    spinner.finish_and_clear();
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

/// Output of a quiet docker command, or its error.
fn capture(kind: BuilderKind, args: &[&str]) -> Result<String, BuildError> {
    let program = builder_program(kind);
    let out = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: program.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(BuildError::Failed {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            tail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Asks the builder for its version: for the docker CLI and podman, the engine's, so an
/// unreachable daemon fails here rather than in the middle of a build.
pub fn answers(kind: BuilderKind) -> Result<String, BuildError> {
    let args: &[&str] = match kind {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => {
            &["version", "--format", "{{.Server.Version}}"]
        }
        BuilderKind::Podman => &["version", "--format", "{{.Version}}"],
        BuilderKind::Buildah => &["version"],
    };
    let out = capture(kind, args)?;
    Ok(out.lines().next().unwrap_or_default().trim().to_string())
}

/// The program that walks the build context with the ignore file, when it is older than the
/// ignore rules imprint hashes by (Docker 23's, buildx 0.8's): its name and version. The
/// docker CLI walks it for the legacy builder, buildx for BuildKit; podman's and buildah's
/// rules have not changed.
pub fn older_context_walk(kind: BuilderKind) -> Result<Option<(String, String)>, BuildError> {
    let (args, oldest, what): (&[&str], (u64, u64), &str) = match kind {
        BuilderKind::DockerLegacy => (
            &["version", "--format", "{{.Client.Version}}"],
            (23, 0),
            "the docker CLI",
        ),
        BuilderKind::Buildkit => (&["buildx", "version"], (0, 8), "docker buildx"),
        BuilderKind::Podman | BuilderKind::Buildah => return Ok(None),
    };
    let out = capture(kind, args)?;
    // `20.10.24+dfsg1`, or `github.com/docker/buildx v0.13.1 …`.
    let version = out
        .split_whitespace()
        .map(|word| word.trim_start_matches('v'))
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default()
        .to_string();
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    Ok((found < oldest).then(|| (what.to_string(), version)))
}

/// Where the builder keeps images and layers, as it reports it (on the machine it runs on,
/// which may be another one).
pub fn storage_dir(kind: BuilderKind) -> Result<PathBuf, BuildError> {
    let args: &[&str] = match kind {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => {
            &["info", "--format", "{{.DockerRootDir}}"]
        }
        BuilderKind::Podman => &["info", "--format", "{{.Store.GraphRoot}}"],
        BuilderKind::Buildah => &["info", "--format", "{{.store.GraphRoot}}"],
    };
    let out = capture(kind, args)?;
    Ok(PathBuf::from(out.lines().next().unwrap_or_default().trim()))
}

/// The newest local image built from this content hash, as `name:tag`.
pub fn find_local(build: &BuildSettings, hash: &str) -> anyhow::Result<Option<String>> {
    let kind = build.params.builder;
    let format = match kind {
        BuilderKind::Buildah => "{{.CreatedAtRaw}}|{{.Name}}:{{.Tag}}",
        _ => "{{.CreatedAt}}|{{.Repository}}:{{.Tag}}",
    };
    let filter = format!("label={HASH_LABEL}={hash}");
    let listed = capture(kind, &["images", "--filter", &filter, "--format", format])?;
    // `|` cannot appear in an image name (and buildah turns tabs into spaces).
    // Newest first; one image under several tags (a cached rebuild) goes by the latest tag.
    let mut found: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter(|(_, name)| !name.contains("<none>"))
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    Ok(found.first().map(|(_, name)| name.to_string()))
}

/// How [`export_image`] reads an image out of the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportWay {
    /// From the docker daemon's socket (the Engine API).
    Socket(PathBuf),
    /// Through `docker save`: imprint reaches no local daemon socket.
    DockerSave,
    /// From an OCI archive file the builder writes (podman, buildah).
    ArchiveFile,
}

impl std::fmt::Display for ExportWay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(socket) => {
                write!(f, "exports are read from its socket {}", socket.display())
            }
            Self::DockerSave => f.write_str(
                "exports go through `docker save` (imprint reaches no local daemon socket)",
            ),
            Self::ArchiveFile => f.write_str("exports go through an OCI archive file"),
        }
    }
}

/// How an image of `kind` would be exported now.
pub fn export_way(kind: BuilderKind) -> ExportWay {
    match kind {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => {
            engine::reachable_socket().map_or(ExportWay::DockerSave, ExportWay::Socket)
        }
        BuilderKind::Podman | BuilderKind::Buildah => ExportWay::ArchiveFile,
    }
}

/// docker's export of `image` read from the daemon's local socket; `None` when there is no
/// such socket or the daemon there did not answer: the CLI may reach a daemon imprint cannot
/// (a wrapper, a sudo rule), and when it cannot either, it says why.
fn export_from_daemon(
    image: &str,
    blobs: &Path,
    platform: &str,
    watch: &mut dyn archive::LayerWatch,
) -> Option<anyhow::Result<Image>> {
    let socket = engine::local_socket()?;
    match engine::save(&socket, image) {
        Ok(body) => {
            let label = PathBuf::from(format!("the export of {image} from {}", socket.display()));
            Some(
                archive::from_stream(body, &label, blobs, platform, watch)
                    .with_context(|| format!("failed to read the export of {image}")),
            )
        }
        Err(e) => {
            tracing::info!(
                "the daemon at {} did not export {image} ({e}); asking the docker CLI",
                socket.display()
            );
            None
        }
    }
}

/// Exports `image` from the builder and reads it into registry blobs: docker's export is read
/// from the daemon's socket when it is a local one, else from `docker save`'s pipe; `podman
/// save --format oci-archive` and `buildah push … oci-archive:` write a file first (they
/// cannot write that format to a pipe).
pub fn export_image(
    build: &BuildSettings,
    image: &str,
    blobs: &Path,
    platform: &str,
    watch: &mut dyn archive::LayerWatch,
) -> anyhow::Result<Image> {
    let kind = build.params.builder;
    match kind {
        BuilderKind::Buildkit | BuilderKind::DockerLegacy => {
            if let Some(read) = export_from_daemon(image, blobs, platform, watch) {
                return read;
            }
            let program = builder_program(kind);
            let mut child = Command::new(&program)
                .args(["save", image])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| BuildError::Spawn {
                    program: program.clone(),
                    source,
                })?;
            let stdout = child.stdout.take().context("docker save has no stdout")?;
            let label = PathBuf::from(format!("`{program} save {image}`"));
            let read = archive::from_stream(stdout, &label, blobs, platform, watch);
            let out = child
                .wait_with_output()
                .context("docker save did not finish")?;
            if !out.status.success() {
                return Err(BuildError::Failed {
                    command: format!("{program} save {image}"),
                    status: out.status.to_string(),
                    tail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                }
                .into());
            }
            Ok(read.with_context(|| format!("failed to read the export of {image}"))?)
        }
        BuilderKind::Podman | BuilderKind::Buildah => {
            let work =
                tempfile::tempdir_in(blobs).context("failed to create a folder for the export")?;
            let archive = work.path().join("image.tar");
            let path = archive.to_string_lossy();
            match kind {
                BuilderKind::Podman => capture(
                    kind,
                    &["save", "--format", "oci-archive", "--output", &path, image],
                )?,
                _ => capture(
                    kind,
                    &["push", "--quiet", image, &format!("oci-archive:{path}")],
                )?,
            };
            Ok(archive::from_archive(&archive, blobs, platform, watch)
                .with_context(|| format!("failed to read the export of {image}"))?)
        }
    }
}
