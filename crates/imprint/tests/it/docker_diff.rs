//! Differential tests against the real engines: for many trees and ignore files, the entries
//! `COPY . /ctx/` puts in an image must be exactly imprint's input set (kind, path, exec and
//! other-read bits, bytes, link text), for each builder imprint hashes for: Docker 26's
//! legacy builder (`DOCKER_BUILDKIT=0`), BuildKit through buildx 0.13, podman and buildah.
//! Fixed cases (every failure the generated ones found is kept here) run on all of them;
//! generated cases (seeded, every feature of the pattern language, the seed printed) run per
//! engine. Docker 20.10's BuildKit, the engine of Debian bookworm, walks differently in known
//! ways (before moby #42676 and fsutil #107): its cases are named as that version's below.
//! The Dockerfile and ignore files are left out of the comparison.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../../../imprint-context/tests/support/cases.rs"]
mod cases;

use crate::support::{server_env, Project};

/// A program that builds the image, with the builder imprint hashes it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// Docker 26's CLI with `DOCKER_BUILDKIT=0` (the client walks the context).
    Legacy,
    /// buildx 0.13 against the test daemon (the client walks the context).
    Buildkit,
    /// Docker 20.10's CLI with `DOCKER_BUILDKIT=1`: bookworm's, older than imprint follows.
    Buildkit2010,
    Podman,
    Buildah,
}

impl Engine {
    fn builder(self) -> &'static str {
        match self {
            Self::Legacy => "docker-legacy",
            Self::Buildkit | Self::Buildkit2010 => "buildkit",
            Self::Podman => "podman",
            Self::Buildah => "buildah",
        }
    }
}

/// What one entry looks like, on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File {
        exec: bool,
        other_read: bool,
        blake3: String,
    },
    Symlink(String),
}

type Entries = BTreeMap<String, Entry>;

fn left_out(path: &str) -> bool {
    cases::LEFT_OUT.contains(&path) || path == "Dockerfile.containerignore"
}

/// imprint's input set, or its error (exit 2) as it printed it.
fn imprint_side(p: &Project, engine: Engine) -> Result<Entries, String> {
    let run = p.run(&["tag", "--offline", "--json", "--builder", engine.builder()]);
    if run.code != 0 {
        assert_eq!(run.code, 2, "imprint failed otherwise:\n{}", run.stderr);
        return Err(run.stderr);
    }
    let json = run.json();
    Ok(json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !left_out(i["path"].as_str().unwrap()))
        .map(|i| {
            let entry = match i["kind"].as_str().unwrap() {
                "dir" => Entry::Dir,
                "file" => Entry::File {
                    exec: i["executable"].as_bool().unwrap(),
                    other_read: i["other_readable"].as_bool().unwrap(),
                    blake3: i["hash"].as_str().unwrap().to_string(),
                },
                "symlink" => Entry::Symlink(i["target"].as_str().unwrap().to_string()),
                other => panic!("unknown kind {other}"),
            };
            (i["path"].as_str().unwrap().to_string(), entry)
        })
        .collect())
}

/// Runs `cmd`: its stdout, or its stderr when it fails.
fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    match out.status.success() {
        true => Ok(out.stdout),
        false => Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn docker(cli: &str) -> Command {
    let mut cmd = Command::new(cli);
    cmd.env("DOCKER_HOST", server_env("IMPRINT_TEST_DOCKER_HOST"));
    cmd
}

/// A path as imprint's reports write it (invalid UTF-8 as `\xNN`), byte for byte.
fn as_text(bytes: &[u8]) -> String {
    imprint_context::escape_bytes(bytes)
}

/// A name no other build of this run uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What `engine` put under `/ctx` of the image it built from `root`, or why it failed.
fn engine_side(root: &Path, engine: Engine) -> Result<Entries, String> {
    let dest = tempfile::tempdir().unwrap();
    let output = format!("type=local,dest={}", dest.path().display());
    let build = match engine {
        Engine::Legacy => return legacy_side(root),
        Engine::Buildkit => docker(&server_env("IMPRINT_TEST_BUILDX"))
            .args(["build", "-q", "-o", &output, "."])
            .current_dir(root)
            .output(),
        Engine::Buildkit2010 => docker(&server_env("IMPRINT_TEST_BUILDKIT_CLI"))
            .args(["build", "-q", "-o", &output, "."])
            .env("DOCKER_BUILDKIT", "1")
            .current_dir(root)
            .output(),
        Engine::Podman => Command::new("podman")
            .args(["build", "-q", "--output", &output, "."])
            .current_dir(root)
            .output(),
        Engine::Buildah => Command::new("buildah")
            .args(["bud", "-q", "--output", &output, "."])
            .current_dir(root)
            .output(),
    }
    .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
    if !build.status.success() {
        return Err(String::from_utf8_lossy(&build.stderr).into_owned());
    }
    let mut out = BTreeMap::new();
    walk_local(&dest.path().join("ctx"), b"", &mut out);
    Ok(out)
}

/// The legacy builder has no local output: the image is built, a container made and
/// exported. The image stays: removing it under a concurrent build of the same context (which
/// shares it through the build cache) breaks that build.
fn legacy_side(root: &Path) -> Result<Entries, String> {
    let cli = server_env("IMPRINT_TEST_LEGACY_CLI");
    let image = unique("imprint-diff");
    run(
        docker(&cli)
            .args(["build", "-q", "-t", &image, "."])
            .env("DOCKER_BUILDKIT", "0")
            .current_dir(root),
        "docker build (legacy)",
    )?;
    let id = String::from_utf8(run(
        docker(&cli).args(["create", &image, "none"]),
        "docker create",
    )?)
    .unwrap();
    let id = id.trim();
    let tar_bytes = run(docker(&cli).args(["export", id]), "docker export")?;
    run(docker(&cli).args(["rm", id]), "docker rm")?;
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path_bytes().into_owned();
        let Some(rel) = path.strip_prefix(b"ctx/") else {
            continue;
        };
        let rel = as_text(rel.strip_suffix(b"/").unwrap_or(rel));
        if rel.is_empty() || left_out(&rel) {
            continue;
        }
        let mode = entry.header().mode().unwrap();
        let value = match entry.header().entry_type() {
            tar::EntryType::Directory => Entry::Dir,
            tar::EntryType::Symlink => Entry::Symlink(as_text(&entry.link_name_bytes().unwrap())),
            tar::EntryType::Regular => {
                let mut hasher = blake3::Hasher::new();
                std::io::copy(&mut entry, &mut hasher).unwrap();
                Entry::File {
                    exec: mode & 0o100 != 0,
                    other_read: mode & 0o004 != 0,
                    blake3: hasher.finalize().to_hex().to_string(),
                }
            }
            other => panic!("unexpected tar entry {other:?} at {rel}"),
        };
        out.insert(rel, value);
    }
    Ok(out)
}

fn walk_local(dir: &Path, rel: &[u8], out: &mut Entries) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let child_rel = if rel.is_empty() {
            name.as_bytes().to_vec()
        } else {
            [rel, b"/", name.as_bytes()].concat()
        };
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let key = as_text(&child_rel);
        if meta.is_dir() {
            walk_local(&path, &child_rel, out);
            if !left_out(&key) {
                out.insert(key, Entry::Dir);
            }
        } else if left_out(&key) {
            continue;
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).unwrap();
            out.insert(key, Entry::Symlink(as_text(target.as_os_str().as_bytes())));
        } else {
            let mode = meta.permissions().mode();
            out.insert(
                key,
                Entry::File {
                    exec: mode & 0o100 != 0,
                    other_read: mode & 0o004 != 0,
                    blake3: blake3::hash(&fs::read(&path).unwrap()).to_hex().to_string(),
                },
            );
        }
    }
}

/// How the two sides of one context compared.
#[derive(Debug)]
enum Outcome {
    /// The same entries.
    Same(usize),
    /// Both refused the ignore file.
    BothFailed,
    /// imprint refuses on purpose what this engine would silently do otherwise: a
    /// Dockerfile-specific ignore file with the legacy builder, which never reads one, or a
    /// file BuildKit sends empty (its walk re-includes it, its check when it opens the file
    /// excludes it).
    RefusedOnPurpose,
}

/// Compares imprint with `engine` on the context at `root`; panics with both sides (and
/// `about`, the case) when they differ.
fn compare(p: &Project, engine: Engine, about: &dyn std::fmt::Debug) -> Outcome {
    let (root, ours) = (p.root(), imprint_side(p, engine));
    if engine == Engine::Legacy && root.join("Dockerfile.dockerignore").exists() {
        let refusal = ours.expect_err("the legacy builder with Dockerfile.dockerignore");
        assert!(refusal.contains("BuildKit-only ignore file"), "{refusal}");
        return Outcome::RefusedOnPurpose;
    }
    let theirs = engine_side(root, engine);
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) if ours == theirs => Outcome::Same(ours.len()),
        (Ok(ours), Ok(theirs)) => {
            let only = |a: &Entries, b: &Entries| -> Vec<String> {
                a.iter()
                    .filter(|(k, v)| b.get(*k) != Some(v))
                    .map(|(k, v)| format!("{k} {v:?}"))
                    .collect()
            };
            panic!(
                "{engine:?}: imprint and the engine disagree\n{about:?}\nimprint only: {:#?}\nengine only: {:#?}",
                only(&ours, &theirs),
                only(&theirs, &ours)
            );
        }
        (Err(_), Err(_)) => Outcome::BothFailed,
        (Err(ours), Ok(theirs)) if engine == Engine::Buildkit && ours.contains("empty:") => {
            let path = ours
                .split_once("BuildKit would send `")
                .and_then(|(_, rest)| rest.split_once("` empty"))
                .map(|(path, _)| path)
                .unwrap_or_else(|| panic!("no path in the refusal\n{ours}"));
            let empty = blake3::hash(b"").to_hex().to_string();
            match theirs.get(path) {
                Some(Entry::File { blake3, .. }) if *blake3 == empty => Outcome::RefusedOnPurpose,
                other => panic!("imprint says BuildKit sends {path} empty, it sent {other:?}\n{about:?}\n{ours}"),
            }
        }
        (Err(ours), Ok(_)) => {
            panic!("{engine:?}: imprint refused, the engine built\n{about:?}\n{ours}")
        }
        (Ok(_), Err(theirs)) => {
            panic!("{engine:?}: the engine refused, imprint hashed\n{about:?}\n{theirs}")
        }
    }
}

// ---- fixed cases ----------------------------------------------------------------------------

fn tree(p: &Project) {
    let files: &[(&str, &str, u32)] = &[
        ("a.txt", "a\n", 0o644),
        ("b.md", "b\n", 0o644),
        ("exec.sh", "#!/bin/sh\necho hi\n", 0o755),
        ("private.txt", "only me\n", 0o600),
        ("top.pyc", "pyc\n", 0o644),
        ("src/main.py", "print('main')\n", 0o644),
        ("src/util/helper.py", "X = 1\n", 0o644),
        ("src/util/notes.md", "notes\n", 0o644),
        ("src/__pycache__/main.cpython-312.pyc", "pyc\n", 0o644),
        ("src/node_modules/dep/index.js", "dep\n", 0o644),
        ("docs/readme.md", "docs\n", 0o644),
        ("docs/keep/important.md", "keep me\n", 0o644),
        ("build/out.bin", "\0\x01\x02", 0o644),
        ("build/keep.txt", "keep\n", 0o644),
        ("node_modules/pkg/index.js", "module.exports = 1\n", 0o644),
        ("node_modules/pkg/README.md", "pkg\n", 0o644),
        ("__pycache__/x.cpython-312.pyc", "pyc\n", 0o644),
        (".git/HEAD", "ref: refs/heads/main\n", 0o644),
        ("a/b/keep", "keep\n", 0o644),
        ("a/x/b/c.txt", "c\n", 0o644),
        ("cmd/tool/run-linux", "bin\n", 0o755),
        ("cmd/tool/run-darwin", "bin\n", 0o755),
        ("deep/a/b/c/d.txt", "deep\n", 0o644),
        ("sp ace.txt", "space\n", 0o644),
        ("#hash.txt", "hash\n", 0o644),
        ("ünï.txt", "unicode\n", 0o644),
        ("[x].txt", "bracket\n", 0o644),
        ("crlf.txt", "a\r\nb\r\n", 0o644),
    ];
    for (path, content, mode) in files {
        p.file(path, content);
        fs::set_permissions(p.path(path), fs::Permissions::from_mode(*mode)).unwrap();
    }
    fs::create_dir_all(p.path("empty")).unwrap();
    fs::create_dir_all(p.path("docs/empty-too")).unwrap();
    symlink("src/main.py", p.path("link-rel")).unwrap();
    symlink("/etc/passwd", p.path("link-abs")).unwrap();
    symlink("link-loop", p.path("link-loop")).unwrap();
    symlink("src", p.path("link-dir")).unwrap();
}

fn nothing(_: &Project) {}

fn check(
    case: &str,
    engine: Engine,
    ignore: Option<&str>,
    dockerfile_ignore: Option<&str>,
    extra: fn(&Project),
) {
    let p = Project::new();
    tree(&p);
    extra(&p);
    p.file("Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    if let Some(text) = ignore {
        p.file(".dockerignore", text);
    }
    if let Some(text) = dockerfile_ignore {
        p.file("Dockerfile.dockerignore", text);
    }
    let about = format!("{case}: ignore {ignore:?}, Dockerfile.dockerignore {dockerfile_ignore:?}");
    match compare(&p, engine, &about) {
        Outcome::Same(n) => assert!(n > 0 || ignore.is_some(), "{case}: an empty context"),
        other => panic!("{case} ({engine:?}): {other:?}"),
    }
}

macro_rules! differential {
    ($($name:ident: $ignore:expr, $dockerfile_ignore:expr, $extra:expr, [$($engine:ident),+];)+) => {
        $(
            #[test]
            fn $name() {
                $( check(stringify!($name), Engine::$engine, $ignore, $dockerfile_ignore, $extra); )+
            }
        )+
    };
}

differential! {
    no_ignore_file: None, None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    star_matches_one_level: Some("*.md\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    double_star_with_a_reinclude: Some("**/*.md\n!docs/keep/important.md\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    excluded_folder_with_a_reincluded_file: Some("build\n!build/keep.txt\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    leading_slash_and_comments: Some("/node_modules\n.git\n# a comment\n  #hash.txt\n/deep/a/\n\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    excluded_folder_with_a_reincluded_folder: Some("src/**/*.md\ndocs\n!docs/keep\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    everything_but_one_folder: Some("*\n!src\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    wildcard_reinclude_walks_only_for_buildkit: Some("**\n!**/*.py\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    classes_escapes_and_question_marks: Some("[ab].txt\n?.md\nlink-*\n\\[x\\].txt\ndeep/?/b\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    last_match_wins: Some("*.sh\n!exec.sh\nsp ace.txt\nprivate.*\n!private.txt\nprivate.txt\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    excluded_folder_with_an_unmatched_reinclude: Some("build\n!build/nothere\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    dockerfile_specific_ignore_wins: Some("docs\n"), Some("src\n.git\n"), nothing, [Buildkit, Buildkit2010, Podman, Buildah];
    non_utf8_and_odd_names: None, None, |p: &Project| {
        fs::write(p.root().join(OsStr::from_bytes(b"\xff\xfe.bin")), b"raw").unwrap();
        fs::write(p.path("tab\there.txt"), b"tab").unwrap();
    }, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    // `**/` matches no folder too: the top-level ones go (the regression of issue 26).
    double_star_slash_name_at_the_top: Some("**/node_modules\n**/__pycache__\n**/.git\n**/a\n"), None, nothing, [Legacy, Buildkit, Buildkit2010, Podman, Buildah];
    double_star_twice_and_a_reinclude_of_it: Some("**/**/node_modules\n*\n!**/node_modules\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    // moby's suffix match: `**.pyc` is every name ending in .pyc; podman's expression is not.
    leading_double_star_without_a_slash: Some("**.pyc\n**.md\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    // A pattern not asked of a folder is not inherited by what is in it (moby).
    a_reinclude_of_a_folder_after_its_file: Some("docs/readme.md\n!docs\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    regular_expression_characters: Some("sp?ace.t+t\ncrlf.(txt)\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    a_reinclude_under_a_double_star_folder: Some("a/**/b\n!a/b/keep\n*\n!cmd/**/*-linux\n"), None, nothing, [Legacy, Buildkit, Podman, Buildah];
    // Found by the generated run of seed 1796523583857869333 (case 33, BuildKit): moby's
    // reader drops the `/` after looking for `!`, so `/!a.txt` re-includes a.txt.
    a_slash_before_a_bang_is_a_reinclude: Some("*.txt\n/!a.txt\n!**/!b\n!b/\n"), None, |p: &Project| {
        p.file("!b", "bang\n");
        p.file("!a.txt", "bang a\n");
    }, [Legacy, Buildkit, Podman, Buildah];
    a_folder_named_dockerignore: None, None, |p: &Project| {
        p.file(".dockerignore/x", "not an ignore file\n");
    }, [Buildkit];
}

/// BuildKit asks the rules again when it opens a file to send, every pattern of every folder
/// above it, and sends a file that check excludes empty. Found by the generated run of seed
/// 1796536408952304020 (case 16): `?` excludes `a`, `!a/b/keep` re-includes the file, and the
/// walk never asks `a/**/b` of `a/b` (already excluded); the second check does. imprint
/// refuses the context for BuildKit (exit 2, naming the line) and hashes the file whole for
/// the engines that send it whole.
#[test]
fn a_file_buildkit_would_send_empty_is_refused_for_buildkit_alone() {
    let ignore = "?\n!a/b/keep\na/**/b\n";
    let p = Project::new();
    tree(&p);
    p.file("Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    p.file(".dockerignore", ignore);
    let outcome = compare(&p, Engine::Buildkit, &ignore);
    assert!(matches!(outcome, Outcome::RefusedOnPurpose), "{outcome:?}");
    let run = p.run(&["tag", "--offline", "--builder", "buildkit"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(".dockerignore:3: BuildKit would send `a/b/keep` empty")
            && run.stderr.contains("below line 3"),
        "{}",
        run.stderr
    );
    // The legacy builder sends the file whole; podman and buildah exclude it (their `a/**/b`
    // matches every path below `a/b`).
    for engine in [Engine::Legacy, Engine::Podman, Engine::Buildah] {
        let outcome = compare(&p, engine, &ignore);
        assert!(
            matches!(outcome, Outcome::Same(_)),
            "{engine:?}: {outcome:?}"
        );
    }
    let whole = blake3::hash(b"keep\n").to_hex().to_string();
    let sent = imprint_side(&p, Engine::Legacy).unwrap();
    assert!(
        matches!(sent.get("a/b/keep"), Some(Entry::File { blake3, .. }) if *blake3 == whole),
        "{sent:?}"
    );
}

/// Docker 20.10's BuildKit (bookworm's engine) before moby #42676 and fsutil #107: it asks a
/// pattern of one parent folder only (so `!docs` re-includes `docs/readme.md`), never walks
/// into an excluded folder for a wildcard `!`, sends an excluded folder it walked into even
/// when nothing in it is sent, and reads `**.pyc` as a regular expression (only `.pyc`).
/// imprint hashes what Docker 23 and later send; these cases pin the old engine's answers,
/// so that a change on either side is seen.
#[test]
fn docker_20_10_buildkit_walks_as_that_version_did() {
    let p = Project::new();
    tree(&p);
    p.file("Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "a/**/b\n!a/b/keep\n*\n!cmd/**/*-linux\n",
            &["a", "a/b"],
            &["cmd/tool", "cmd/tool/run-linux"],
        ),
        ("docs/readme.md\n!docs\n", &["docs/readme.md"], &[]),
        (
            "**\n!**/*.py\n",
            &[],
            &["src", "src/main.py", "src/util/helper.py"],
        ),
        ("build\n!build/nothere\n", &["build"], &[]),
        ("**.pyc\n", &["top.pyc"], &[]),
    ];
    for (ignore, only_old, only_now) in cases {
        p.file(".dockerignore", ignore);
        let old = engine_side(p.root(), Engine::Buildkit2010).unwrap();
        let now = imprint_side(&p, Engine::Buildkit).unwrap();
        assert_eq!(
            now,
            engine_side(p.root(), Engine::Buildkit).unwrap(),
            "{ignore}"
        );
        let differ = |a: &Entries, b: &Entries| -> Vec<String> {
            a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
        };
        let (old_only, now_only) = (differ(&old, &now), differ(&now, &old));
        for path in only_old {
            assert!(
                old_only.contains(&path.to_string()),
                "{ignore:?}: 20.10 alone sends {path}: {old_only:?}"
            );
        }
        for path in only_now {
            assert!(
                now_only.contains(&path.to_string()),
                "{ignore:?}: imprint alone hashes {path}: {now_only:?}"
            );
        }
    }
}

// ---- generated cases ------------------------------------------------------------------------

/// Cases per engine on every run: each feature of the pattern language three times.
const GENERATED: usize = 3 * cases::FEATURES.len();

fn generated(engine: Engine) {
    let seed = cases::seed();
    let count = cases::count(GENERATED);
    let (mut same, mut failed, mut refused) = (0, 0, 0);
    eprintln!("{engine:?}: seed {seed}, {count} generated contexts (IMPRINT_DIFF_SEED={seed} repeats them)");
    for index in 0..count {
        let case = cases::generate(seed, index);
        let p = Project::new();
        case.write(p.root());
        match compare(&p, engine, &case) {
            Outcome::Same(_) => same += 1,
            Outcome::BothFailed => failed += 1,
            Outcome::RefusedOnPurpose => refused += 1,
        }
    }
    eprintln!(
        "{engine:?}: seed {seed}: {same} the same, {failed} refused by both, {refused} refused by imprint on purpose"
    );
    assert!(same * 2 > count, "too few contexts compared");
}

#[test]
fn generated_contexts_legacy_builder() {
    generated(Engine::Legacy);
}

#[test]
fn generated_contexts_buildkit() {
    generated(Engine::Buildkit);
}

#[test]
fn generated_contexts_podman() {
    generated(Engine::Podman);
}

#[test]
fn generated_contexts_buildah() {
    generated(Engine::Buildah);
}
