//! Releases: `imprint --version` and `imprint version --json` say what the binary is,
//! `scripts/dist` packs it (archive, checksum, the same bytes twice), the examples' install
//! steps fetch exactly what it makes from where `.github/workflows/release.yml` publishes it
//! (run for real against a stand-in of GitHub's release downloads), and every workflow and
//! pipeline passes its schema (check-jsonschema, from scripts/test-env).

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;
use sha2::Digest as _;

use crate::support::server_env;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const MEMBERS: [&str; 5] = [
    "imprint",
    "README.md",
    "CHANGELOG.md",
    "LICENSE-MIT",
    "LICENSE-APACHE",
];

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn git(args: &[&str]) -> String {
    let out = run(Command::new("git").arg("-C").arg(ROOT).args(args));
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

fn version_report() -> serde_json::Value {
    let out = run(Command::new(env!("CARGO_BIN_EXE_imprint")).args(["version", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml(rel: &str) -> Value {
    let body = std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap();
    serde_yaml::from_str(&body).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

#[test]
fn version_names_the_commit_its_date_and_the_target() {
    let report = version_report();
    let (commit, date) = git(&["log", "-1", "--format=%H %cs"])
        .split_once(' ')
        .map(|(c, d)| (c.to_owned(), d.to_owned()))
        .unwrap();
    assert_eq!(report["version"], VERSION);
    assert_eq!(report["commit"], commit.as_str(), "{report}");
    assert_eq!(report["commit_date"], date.as_str());
    let target = report["target"].as_str().unwrap();
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{target}"
    );
    assert_eq!(report["formats"]["journal"], 1);
    assert_eq!(report["formats"]["content_hash"], 1);
    assert_eq!(report["formats"]["index_artifact"], 1);
    // What build.rs hands rustc is in the environment the tests run imprint in too (cargo
    // and nextest export it): none of it may be a variable imprint reads.
    let mut cli = <imprint::cli::Cli as clap::CommandFactory>::command();
    cli.build();
    let mut read = BTreeSet::new();
    flag_variables(&cli, &mut read);
    assert!(read.contains("IMPRINT_TARGET"), "{read:?}");
    for name in &read {
        assert!(
            std::env::var_os(name).is_none(),
            "{name} is set for the tests"
        );
    }
    let line = format!("imprint {VERSION} ({} {date}, {target})\n", &commit[..7]);
    for args in [&["--version"][..], &["-V"], &["version"]] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_imprint")).args(args));
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), line, "imprint {args:?}");
    }
}

/// Every environment variable a flag of `command` or its subcommands reads.
fn flag_variables(command: &clap::Command, out: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        out.extend(arg.get_env().map(|e| e.to_string_lossy().into_owned()));
    }
    for sub in command.get_subcommands() {
        flag_variables(sub, out);
    }
}

/// `scripts/dist` on a stripped copy of this build (as the release profile strips): its
/// stdout, the archive's path and the checksum's.
fn dist(out: &Path) -> Vec<PathBuf> {
    let binary = out.with_file_name("imprint");
    std::fs::copy(env!("CARGO_BIN_EXE_imprint"), &binary).unwrap();
    assert!(run(Command::new("strip").arg(&binary)).status.success());
    let made = run(Command::new(Path::new(ROOT).join("scripts/dist"))
        .arg("--binary")
        .arg(&binary)
        .arg("--out")
        .arg(out));
    assert!(made.status.success(), "{}", text(&made.stderr));
    text(&made.stdout).lines().map(PathBuf::from).collect()
}

fn archive_members(archive: &Path) -> Vec<(String, u32, u64, Vec<u8>)> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    let mut members = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header();
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        let (mode, mtime) = (header.mode().unwrap(), header.mtime().unwrap());
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.push((name, mode, mtime, bytes));
    }
    members
}

#[test]
fn dist_packs_the_binary_its_notices_and_a_checksum_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let made = dist(&out);
    let target = version_report()["target"].as_str().unwrap().to_owned();
    let name = format!("imprint-{VERSION}-{target}.tar.gz");
    assert_eq!(made, [out.join(&name), out.join(format!("{name}.sha256"))]);

    let archive = std::fs::read(&made[0]).unwrap();
    let sum = format!("{:x}", sha2::Sha256::digest(&archive));
    assert_eq!(
        std::fs::read_to_string(&made[1]).unwrap(),
        format!("{sum}  {name}\n")
    );
    let members = archive_members(&made[0]);
    let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, MEMBERS, "the archive's top holds these, in order");
    let commit_time: u64 = git(&["log", "-1", "--format=%ct"]).parse().unwrap();
    for (name, mode, mtime, bytes) in &members {
        let source = match name.as_str() {
            "imprint" => dir.path().join("imprint"),
            notice => Path::new(ROOT).join(notice),
        };
        assert_eq!(bytes, &std::fs::read(source).unwrap(), "{name}");
        assert_eq!(*mode, if name == "imprint" { 0o755 } else { 0o644 });
        assert_eq!(*mtime, commit_time, "{name} is dated at the commit");
    }

    // The same files make the same bytes.
    let again = dist(&dir.path().join("again"));
    assert_eq!(std::fs::read(&again[0]).unwrap(), archive);

    // A binary that is not there: exit 2, the path named.
    let missing = run(Command::new(Path::new(ROOT).join("scripts/dist"))
        .args(["--binary", "/nonexistent/imprint", "--out"])
        .arg(dir.path()));
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/imprint"));

    let port = serve_release(out.clone(), "example-owner/imprint");
    examples_install_from_a_release(port, &out, &target);
    the_installer_installs_from_a_release(port, &out, &target);
}

/// The release job's step that makes SHA256SUMS and imprint-install.sh, run as written in
/// the folder of archives (`dist/`, beside `scripts/`).
fn publish_step(release: &Path, repository: &str) {
    let workflow = yaml(".github/workflows/release.yml");
    let step = workflow["jobs"]["publish"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("> SHA256SUMS"))
        })
        .expect("the release job writes SHA256SUMS");
    assert_eq!(step["working-directory"], "dist");
    let scripts = release.with_file_name("scripts");
    std::os::unix::fs::symlink(Path::new(ROOT).join("scripts"), scripts).unwrap();
    let out = run(Command::new("bash")
        .args(["-euo", "pipefail", "-c", step["run"].as_str().unwrap()])
        .current_dir(release)
        .env("GITHUB_REPOSITORY", repository));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The one-line install: the release's imprint-install.sh, the latest release or a given
/// one, the archive checked against SHA256SUMS; a wrong checksum or an unknown target
/// installs nothing (exit 2).
fn the_installer_installs_from_a_release(port: u16, release: &Path, host_target: &str) {
    publish_step(release, "example-owner/imprint");
    let installer = release.join("imprint-install.sh");
    let dir = tempfile::tempdir().unwrap();
    let install = |version: &str, target: &str| {
        run(Command::new("sh")
            .arg(&installer)
            .env_remove("IMPRINT_RELEASE_REPO")
            .env("IMPRINT_DOWNLOAD_URL", format!("http://127.0.0.1:{port}"))
            .env("IMPRINT_VERSION", version)
            .env("IMPRINT_INSTALL_TARGET", target)
            .env("IMPRINT_INSTALL_DIR", dir.path().join("bin")))
    };
    let binary = std::fs::read(release.with_file_name("imprint")).unwrap();
    for version in ["", VERSION] {
        let _ = std::fs::remove_dir_all(dir.path().join("bin"));
        let done = install(version, host_target);
        assert!(done.status.success(), "{version:?}: {}", text(&done.stderr));
        assert!(text(&done.stdout).starts_with(&format!("imprint {VERSION} (")));
        assert_eq!(
            std::fs::read(dir.path().join("bin/imprint")).unwrap(),
            binary
        );
    }
    let unknown = install("", "sparc64-unknown-linux-musl");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no archive for sparc64-unknown-linux-musl"));

    let sums = release.join("SHA256SUMS");
    let good = std::fs::read_to_string(&sums).unwrap();
    std::fs::write(&sums, format!("{}{}", "0".repeat(64), &good[64..])).unwrap();
    std::fs::remove_dir_all(dir.path().join("bin")).unwrap();
    let tampered = install("", host_target);
    assert_eq!(tampered.status.code(), Some(2));
    assert!(
        text(&tampered.stderr).contains("SHA-256"),
        "{}",
        text(&tampered.stderr)
    );
    assert!(
        !dir.path().join("bin/imprint").exists(),
        "nothing installed"
    );
    std::fs::write(&sums, good).unwrap();
}

/// A stand-in for GitHub's release downloads (a fixture: nothing here reaches GitHub):
/// `GET /OWNER/NAME/releases/download/vVERSION/FILE` and `…/releases/latest/download/FILE`
/// answer the file from `release`.
fn serve_release(release: PathBuf, repo: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let releases = format!("/{repo}/releases/");
            let path = request.split_whitespace().nth(1).unwrap_or_default();
            let file = path
                .strip_prefix(&releases)
                .and_then(|p| {
                    p.strip_prefix(&format!("download/v{VERSION}/"))
                        .or_else(|| p.strip_prefix("latest/download/"))
                })
                .filter(|f| !f.contains('/'))
                .and_then(|f| std::fs::read(release.join(f)).ok());
            let _ = match file {
                Some(body) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| stream.write_all(&body)),
                None => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    port
}

/// The shell lines of each example's install step, as the file has them.
fn install_steps() -> Vec<(&'static str, String)> {
    let workflow = yaml("examples/debt-api/.github/workflows/deploy.yml");
    let mut steps = Vec::new();
    for (job, body) in workflow["jobs"].as_mapping().unwrap() {
        let install = body["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Install imprint")
            .unwrap_or_else(|| panic!("deploy.yml's job {job:?} installs imprint"));
        assert_eq!(workflow["env"]["IMPRINT_VERSION"], VERSION);
        steps.push(("deploy.yml", install["run"].as_str().unwrap().to_owned()));
    }
    let pipeline = yaml("examples/debt-api/.gitlab-ci.yml");
    assert_eq!(pipeline["variables"]["IMPRINT_VERSION"], VERSION);
    let lines: Vec<&str> = pipeline[".imprint"]["before_script"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let from = lines
        .iter()
        .position(|l| l.contains("IMPRINT_RELEASE_REPO:?"));
    let to = lines.iter().position(|l| l.contains("tar -xzf"));
    let (Some(from), Some(to)) = (from, to) else {
        panic!(".gitlab-ci.yml's before_script installs imprint: {lines:?}")
    };
    steps.push((
        ".gitlab-ci.yml",
        lines[from..=to].join("\n") + "\nimprint --version",
    ));
    steps
}

/// Each example's install step, run as it is written but for the host (GitHub's address is
/// the stand-in's, no sudo, the archive for this machine's target, a folder of the test's
/// instead of /usr/local/bin), installs the archive `scripts/dist` made, checksum verified.
fn examples_install_from_a_release(port: u16, release: &Path, host_target: &str) {
    let repo = "example-owner/imprint";
    let steps = install_steps();
    assert_eq!(steps.len(), 3, "two GitHub jobs and GitLab's template");
    for (file, script) in steps {
        assert!(
            script.contains("$(uname -m)-unknown-linux-musl.tar.gz\""),
            "{file} installs the static Linux archive of the runner's machine: {script}"
        );
        assert!(
            !script.contains("github.com/")
                || script.contains("github.com/${IMPRINT_RELEASE_REPO}/")
        );
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let local = script
            .replace("https://github.com/", &format!("http://127.0.0.1:{port}/"))
            .replace("sudo ", "")
            .replace("-C /usr/local/bin", &format!("-C {}", bin.display()))
            .replace("$(uname -m)-unknown-linux-musl", host_target);
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let install = |repo: &str| {
            run(Command::new("sh")
                .args(["-euc", &local])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("IMPRINT_VERSION", VERSION)
                .env("IMPRINT_RELEASE_REPO", repo))
        };
        let unset = install("");
        assert!(!unset.status.success(), "{file}: no repository, no install");
        assert!(
            text(&unset.stderr).contains("IMPRINT_RELEASE_REPO"),
            "{file}: {}",
            text(&unset.stderr)
        );
        let done = install(repo);
        assert!(
            done.status.success(),
            "{file}: {}\n{}",
            text(&done.stdout),
            text(&done.stderr)
        );
        assert!(
            text(&done.stdout).contains(&format!("imprint {VERSION} (")),
            "{file}: the installed imprint runs: {}",
            text(&done.stdout)
        );
        assert_eq!(
            std::fs::read(bin.join("imprint")).unwrap(),
            std::fs::read(release.with_file_name("imprint")).unwrap(),
            "{file} installed the archive's binary"
        );
    }
}

/// The targets `.github/workflows/release.yml` builds, each with `scripts/dist`.
fn release_targets() -> BTreeSet<String> {
    let workflow = yaml(".github/workflows/release.yml");
    let build = &workflow["jobs"]["build"];
    let steps: Vec<String> = build["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.trim() == "scripts/dist --target \"${{ matrix.target }}\""),
        "the release packs with scripts/dist: {steps:?}"
    );
    let publish: Vec<String> = workflow["jobs"]["publish"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect();
    let publish = publish.join("\n");
    assert!(publish.contains("> SHA256SUMS"), "{publish}");
    assert!(publish.contains("gh release create") && publish.contains("dist/*"));
    build["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_release_builds_every_target_the_examples_install() {
    let targets = release_targets();
    let want: BTreeSet<String> = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(targets, want);
    // `uname -m` on the runners the examples run on: x86_64, or aarch64 on Arm runners.
    for machine in ["x86_64", "aarch64"] {
        assert!(targets.contains(&format!("{machine}-unknown-linux-musl")));
    }
    for (file, script) in install_steps() {
        let checked = ["--check", "-c"]
            .iter()
            .find_map(|flag| script.find(&format!("sha256sum {flag} \"${{archive}}.sha256\"")))
            .unwrap_or_else(|| panic!("{file} checks the archive's checksum: {script}"));
        let unpacked = script
            .find("tar -xzf")
            .expect("the install unpacks the archive");
        assert!(checked < unpacked, "{file} checks before it unpacks");
        assert!(
            script.contains("curl -fsSLO \"${release}/${archive}.sha256\""),
            "{file}"
        );
    }
    // The version the examples install is one the CHANGELOG describes (the release job
    // refuses a tag without its section).
    let changelog = std::fs::read_to_string(Path::new(ROOT).join("CHANGELOG.md")).unwrap();
    assert!(changelog.contains(&format!("\n## [{VERSION}] - ")));
}

/// Every workflow and pipeline file of the project and its examples.
fn ci_files() -> Vec<(PathBuf, &'static str)> {
    let mut files = Vec::new();
    for workflows in [".github/workflows", "examples/debt-api/.github/workflows"] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(workflows)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push((path, "vendor.github-workflows"));
            }
        }
    }
    files.push((
        Path::new(ROOT).join("examples/debt-api/.gitlab-ci.yml"),
        "vendor.gitlab-ci",
    ));
    files
}

fn check_schema(file: &Path, schema: &str) -> Output {
    run(Command::new(server_env("IMPRINT_TEST_CHECK_JSONSCHEMA"))
        .args(["--builtin-schema", schema])
        .arg(file))
}

#[test]
fn every_workflow_and_pipeline_passes_its_schema() {
    let files = ci_files();
    assert!(files.len() >= 3, "{files:?}");
    for (file, schema) in &files {
        let out = check_schema(file, schema);
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // The checker refuses what GitHub and GitLab would.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: run\n",
    )
    .unwrap();
    assert!(!check_schema(&bad, "vendor.github-workflows")
        .status
        .success());
    std::fs::write(&bad, "deploy:\n  script: 3\n  when: sometimes\n").unwrap();
    assert!(!check_schema(&bad, "vendor.gitlab-ci").status.success());
}
