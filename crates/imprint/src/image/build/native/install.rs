//! A dependency step done on this machine: uv installs the requirements for the image's
//! platform and Python into a scratch folder (wheels only, every hash checked, no bytecode,
//! no installer metadata); scripts whose `#!` names this machine's interpreter and uv's lock
//! file are left out (and said); bytecode, when the step asks for it, is compiled by a CPython
//! of exactly the image's version into hash-based pycs; the folder becomes one deterministic
//! layer, kept by what decides its bytes, so the same requirements never run uv again.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use imprint_context::native::deps::check_requirements;
use imprint_context::native::layer::{self, Entry};
use imprint_context::native::{Install, LAYER_FORMAT};
use sha2::{Digest as _, Sha256};

use super::store::Store;
use crate::error::UsageError;
use crate::image::build::KnownLayers;
use crate::image::push::archive::{Borrowed, Layer};

/// The uv this machine runs: `IMPRINT_UV`, else `uv` on `PATH`.
pub fn uv_program() -> String {
    std::env::var("IMPRINT_UV").unwrap_or_else(|_| "uv".into())
}

/// uv's version (`uv 0.13.9`), or why it cannot run.
pub fn uv_version() -> Result<String, UsageError> {
    let program = uv_program();
    let missing = |why: String| {
        UsageError::new(
            format!("the native builder installs dependencies with uv, and `{program}` {why}"),
            "install uv (pip install uv, or astral.sh/uv) or point IMPRINT_UV at it",
        )
    };
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| missing(format!("cannot run: {e}")))?;
    if !out.status.success() {
        return Err(missing("--version failed".into()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What a dependency layer is built for.
pub struct Target<'a> {
    /// `linux/amd64` or `linux/arm64`.
    pub platform: &'a str,
    /// The image's Python, `3.13`.
    pub python: &'a str,
    /// The base image (for the default site-packages of AWS's bases).
    pub base: &'a str,
    /// `[image.native] site_packages`.
    pub site_packages: Option<&'a str>,
}

impl Target<'_> {
    /// uv's `--python-platform` for the image's platform (manylinux2014: what AWS's Python
    /// bases and Debian's both run).
    fn uv_platform(&self) -> anyhow::Result<&'static str> {
        match self.platform {
            "linux/amd64" => Ok("x86_64-manylinux2014"),
            "linux/arm64" | "linux/arm64/v8" => Ok("aarch64-manylinux2014"),
            other => anyhow::bail!(
                "the native builder installs for linux/amd64 or linux/arm64, not {other}"
            ),
        }
    }

    /// Where packages go without `--target`: `[image.native] site_packages`, else the
    /// site-packages of AWS's Lambda Python bases.
    fn site_packages(&self) -> Option<String> {
        if let Some(dir) = self.site_packages {
            return Some(dir.to_string());
        }
        self.base
            .contains("lambda/python")
            .then(|| format!("/var/lang/lib/python{}/site-packages", self.python))
    }
}

/// What one dependency step made.
pub struct Installed {
    /// The layer.
    pub layer: Layer,
    /// What decided its bytes (the image's history says it, for the next build to find).
    pub key: String,
    /// Files uv wrote that the layer leaves out (scripts naming this machine's Python).
    pub left_out: Vec<String>,
    /// Where the layer came from.
    pub found: Found,
}

/// Where a dependency layer came from.
pub enum Found {
    /// uv installed it now.
    Installed,
    /// The store kept it from an earlier build: uv did not run.
    Kept,
    /// A deployed image in the registry holds it: uv did not run, and the push brings it
    /// from there.
    Deployed(Borrowed),
}

/// Does `install` (of the Dockerfile at `dockerfile`) for `target`, reading its requirements
/// (or the project `uv export` reads) from what earlier layers put in the image; a layer
/// made before under the same key is taken from the store, else from `known` (neither when
/// `fresh`).
pub fn install(
    store: &Store,
    install: &Install,
    earlier: &BTreeMap<Vec<u8>, Entry>,
    target: &Target<'_>,
    dockerfile: &Path,
    reuse: Reuse<'_>,
) -> anyhow::Result<Installed> {
    let at = |message: String| {
        UsageError::new(
            format!("{}:{}: {message}", dockerfile.display(), install.line),
            "`--builder docker` builds it as it is",
        )
    };
    let scratch = tempfile::Builder::new()
        .prefix("install-")
        .tempdir_in(store.tmp_dir())?;
    let requirements =
        requirements(install, earlier, scratch.path()).map_err(|e| at(e.to_string()))?;
    let text = String::from_utf8(std::fs::read(&requirements)?)
        .map_err(|_| at(format!("{} is not UTF-8 text", install.requirements)))?;
    check_requirements(&text).map_err(|e| at(format!("{}: {e}", install.requirements)))?;
    let dest = match &install.target {
        Some(dest) => dest.clone(),
        None => target.site_packages().ok_or_else(|| {
            UsageError::new(
                format!("{}:{}: an install without --target goes into the interpreter's site-packages, which imprint knows for AWS's Lambda Python bases only, not {}", dockerfile.display(), install.line, target.base),
                "name the folder in imprint.toml ([image.native] site_packages = \"/usr/local/lib/python3.X/site-packages\"), or install with --target",
            )
        })?,
    };
    let uv = uv_version()?;
    // What the requirements say, without comments (uv's header names the command it ran).
    let pins: Vec<&str> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .collect();
    let pins = pins.join("\n");
    let compiler = match install.compile {
        true => Some(compiler(target.python).map_err(|e| at(format!("{e:#}")))?),
        false => None,
    };
    let key = {
        let mut h = Sha256::new();
        for part in [
            "imprint-native-dependencies",
            &LAYER_FORMAT.to_string(),
            &pins,
            target.platform,
            target.python,
            compiler
                .as_ref()
                .map_or("no bytecode", |(_, full)| full.as_str()),
            &uv,
            &dest,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        imprint_context::hex(&h.finalize())
    };
    if let Some(found) = reuse.find(store, &key) {
        return Ok(found);
    }
    let tree = scratch.path().join("tree");
    run_uv(&requirements, &tree, target).map_err(|e| at(format!("{e:#}")))?;
    let left_out = tidy(&tree)?;
    if let Some((python, _)) = &compiler {
        compile(&tree, &dest, python).map_err(|e| at(format!("{e:#}")))?;
    }
    let entries = layer::tree_entries(&tree, &dest)?;
    let tar = store.scratch_file()?;
    layer::write_tar(&entries, BufWriter::new(tar.as_file()))?;
    let layer = store.put_layer(tar.path())?;
    store.keep_dependencies(&key, &layer, &left_out)?;
    Ok(Installed {
        layer,
        key,
        left_out,
        found: Found::Installed,
    })
}

/// What a dependency step may take instead of running uv.
#[derive(Clone, Copy)]
pub struct Reuse<'a> {
    /// `--rebuild`: nothing.
    pub fresh: bool,
    /// Layers the registry holds.
    pub known: Option<&'a dyn KnownLayers>,
}

impl Reuse<'_> {
    /// The layer made before under `key`: kept in the store, else in the registry.
    fn find(self, store: &Store, key: &str) -> Option<Installed> {
        if self.fresh {
            return None;
        }
        if let Some((layer, left_out)) = store.dependencies(key) {
            return Some(Installed {
                layer,
                key: key.to_string(),
                left_out,
                found: Found::Kept,
            });
        }
        let (layer, borrowed) = self.known?.find(key)?;
        Some(Installed {
            layer,
            key: key.to_string(),
            left_out: Vec::new(),
            found: Found::Deployed(borrowed),
        })
    }
}

/// The requirements file in `scratch`: the one an earlier `COPY` put where the step reads it,
/// or what `uv export` writes from the project files an earlier `COPY` put in the working
/// folder.
fn requirements(
    install: &Install,
    earlier: &BTreeMap<Vec<u8>, Entry>,
    scratch: &Path,
) -> anyhow::Result<PathBuf> {
    let copied = |path: &str| -> anyhow::Result<PathBuf> {
        match earlier.get(path.trim_start_matches('/').as_bytes()) {
            Some(Entry::File { source, .. }) => Ok(source.clone()),
            _ => anyhow::bail!(
                "{path} is not in the image: COPY it from the context in an earlier step"
            ),
        }
    };
    let Some(flags) = &install.step.export else {
        return copied(&install.requirements);
    };
    let project = scratch.join("project");
    std::fs::create_dir_all(&project)?;
    for name in ["pyproject.toml", "uv.lock"] {
        let source = copied(&format!("{}/{name}", install.workdir))?;
        std::fs::copy(&source, project.join(name))?;
    }
    // Written where it is run (its header names the file as given: the same every time).
    let mut export = uv_command();
    export
        .args(["export", "--no-config"])
        .args(flags)
        .args(["--output-file", "requirements.txt"])
        .current_dir(&project);
    let ran = output_within(&mut export, UV_LIMIT)?;
    anyhow::ensure!(
        ran.status.success(),
        "uv export failed: {}",
        last_lines(&ran.stderr)
    );
    Ok(project.join("requirements.txt"))
}

/// How long one uv run may take in all (uv's own timeout, `UV_HTTP_TIMEOUT`, covers each
/// request; this covers everything else: a mirror that trickles, a lock held elsewhere).
const UV_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Runs `cmd` as `Command::output` does, killing it when it runs past `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> anyhow::Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "{program} did not finish within {} minutes and was stopped",
                limit.as_secs() / 60
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let joined = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

/// uv with the user's environment but for its settings that would change what is installed.
fn uv_command() -> Command {
    let mut cmd = Command::new(uv_program());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let kept = [
            "UV_CACHE_DIR",
            "UV_NATIVE_TLS",
            "UV_HTTP_TIMEOUT",
            "UV_OFFLINE",
        ];
        if key.starts_with("UV_") && !kept.contains(&key.as_ref()) {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

fn run_uv(requirements: &Path, tree: &Path, target: &Target<'_>) -> anyhow::Result<()> {
    let mut install = uv_command();
    install
        .args(["pip", "install", "--no-config", "--quiet"])
        .arg("--requirement")
        .arg(requirements)
        .arg("--target")
        .arg(tree)
        .args(["--python-platform", target.uv_platform()?])
        .args(["--python-version", target.python])
        .args(["--only-binary", ":all:", "--require-hashes"])
        .args([
            "--no-installer-metadata",
            "--no-compile-bytecode",
            "--link-mode",
            "copy",
        ]);
    let ran = output_within(&mut install, UV_LIMIT)?;
    anyhow::ensure!(
        ran.status.success(),
        "uv could not install the requirements for {} and Python {}: {}",
        target.platform,
        target.python,
        last_lines(&ran.stderr)
    );
    Ok(())
}

/// Leaves out what depends on this machine: uv's lock file, and scripts in `bin/` whose `#!`
/// names an interpreter here (with their lines in each `RECORD`). The scripts left out.
fn tidy(tree: &Path) -> anyhow::Result<Vec<String>> {
    let _ = std::fs::remove_file(tree.join(".lock"));
    let mut left_out = Vec::new();
    let bin = tree.join("bin");
    if let Ok(entries) = std::fs::read_dir(&bin) {
        for entry in entries {
            let entry = entry?;
            let bytes = std::fs::read(entry.path())?;
            let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            // uv writes the interpreter it found here into the `#!` of a package's scripts.
            let names_python = first.windows(6).any(|w| w == b"python");
            if first.starts_with(b"#!/") && names_python {
                std::fs::remove_file(entry.path())?;
                left_out.push(format!("bin/{}", entry.file_name().to_string_lossy()));
            }
        }
        if std::fs::read_dir(&bin)?.next().is_none() {
            std::fs::remove_dir(&bin)?;
        }
    }
    left_out.sort();
    if left_out.is_empty() {
        return Ok(left_out);
    }
    for entry in std::fs::read_dir(tree)? {
        let record = entry?.path().join("RECORD");
        let Ok(text) = std::fs::read_to_string(&record) else {
            continue;
        };
        let kept: String = text
            .lines()
            .filter(|line| {
                let path = line.split(',').next().unwrap_or_default();
                !left_out.iter().any(|gone| path.ends_with(gone.as_str()))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&record, kept)?;
    }
    Ok(left_out)
}

/// The CPython that compiles bytecode for an image of Python `version` (`python<version>` on
/// PATH) and its full version (`3.11.7`): pycs are its bytes, and another patch release may
/// write other line tables, so the full version is part of what decides the layer. Missing, or
/// of another minor version, is an error (never pycs another Python would not read).
fn compiler(version: &str) -> anyhow::Result<(String, String)> {
    let python = format!("python{version}");
    let probe = Command::new(&python)
        .args([
            "-I",
            "-c",
            "import sys; print('%d.%d.%d' % sys.version_info[:3])",
        ])
        .output();
    let found = match &probe {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => format!("fails ({})", last_lines(&out.stderr)),
        Err(e) => format!("cannot run ({e})"),
    };
    let minor = found.rsplit_once('.').map(|(minor, _)| minor);
    anyhow::ensure!(
        minor == Some(version) && found.starts_with(char::is_numeric),
        "the step asks for bytecode, which Python {version} itself must compile, and `{python}` here {}: install Python {version} (on PATH as {python}), or turn bytecode off (--no-compile-bytecode, or no UV_COMPILE_BYTECODE)",
        match found.starts_with(char::is_numeric) {
            true => format!("is Python {found}"),
            false => found.clone(),
        }
    );
    Ok((python, found))
}

/// Compiles every `.py` of `tree` with `python` into hash-based pycs naming their files as the
/// image has them (under `dest`).
fn compile(tree: &Path, dest: &str, python: &str) -> anyhow::Result<()> {
    const SCRIPT: &str = "import compileall, py_compile, sys\ncompileall.compile_dir(sys.argv[1], ddir=sys.argv[2], quiet=2, workers=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)\n";
    let ran = Command::new(python)
        .args(["-I", "-c", SCRIPT])
        .arg(tree)
        .arg(dest)
        .env("PYTHONHASHSEED", "0")
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    anyhow::ensure!(
        ran.status.success(),
        "{python} could not compile the packages: {}",
        last_lines(&ran.stderr)
    );
    Ok(())
}

/// The last lines a program wrote, for an error.
fn last_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_past_its_limit_is_stopped_and_one_within_it_gives_its_output() {
        let started = Instant::now();
        let err = output_within(
            Command::new("sh").args(["-c", "echo started; sleep 30"]),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let done = output_within(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, b"err\n");
    }
}
