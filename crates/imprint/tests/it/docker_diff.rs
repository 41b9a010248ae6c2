//! Differential test against the real Docker engine: for many trees and ignore files, the
//! entries `COPY . /ctx/` puts in an image must be exactly imprint's input set (kind, path,
//! exec and other-read bits, bytes, link text). The legacy builder covers `.dockerignore`;
//! BuildKit (`DOCKER_BUILDKIT=1`, Debian's client) covers it too, and the Dockerfile-specific
//! ignore file. The Dockerfile and ignore files are left out of the comparison.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{server_env, Project};

#[derive(Debug, Clone, Copy)]
enum Builder {
    Legacy,
    Buildkit,
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

const LEFT_OUT: [&str; 3] = ["Dockerfile", ".dockerignore", "Dockerfile.dockerignore"];

fn tree(p: &Project) {
    let files: &[(&str, &str, u32)] = &[
        ("a.txt", "a\n", 0o644),
        ("b.md", "b\n", 0o644),
        ("exec.sh", "#!/bin/sh\necho hi\n", 0o755),
        ("private.txt", "only me\n", 0o600),
        ("src/main.py", "print('main')\n", 0o644),
        ("src/util/helper.py", "X = 1\n", 0o644),
        ("src/util/notes.md", "notes\n", 0o644),
        ("docs/readme.md", "docs\n", 0o644),
        ("docs/keep/important.md", "keep me\n", 0o644),
        ("build/out.bin", "\0\x01\x02", 0o644),
        ("build/keep.txt", "keep\n", 0o644),
        ("node_modules/pkg/index.js", "module.exports = 1\n", 0o644),
        ("node_modules/pkg/README.md", "pkg\n", 0o644),
        (".git/HEAD", "ref: refs/heads/main\n", 0o644),
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

fn imprint_side(p: &Project, builder: Builder) -> BTreeMap<String, Entry> {
    let name = match builder {
        Builder::Legacy => "docker-legacy",
        Builder::Buildkit => "buildkit",
    };
    let json = p
        .run(&["tag", "--offline", "--json", "--builder", name])
        .success()
        .json();
    json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !LEFT_OUT.contains(&i["path"].as_str().unwrap()))
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
        .collect()
}

fn run_ok(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
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

fn docker_side(p: &Project, builder: Builder, case: &str) -> BTreeMap<String, Entry> {
    match builder {
        Builder::Legacy => {
            let cli = server_env("IMPRINT_TEST_DOCKER_CLI");
            let image = format!("imprint-diff-{}", case.replace('_', "-"));
            run_ok(
                docker(&cli)
                    .args(["build", "-q", "-t", &image, "."])
                    .env("DOCKER_BUILDKIT", "0")
                    .current_dir(p.root()),
                "docker build (legacy)",
            );
            let id = String::from_utf8(run_ok(
                docker(&cli).args(["create", &image, "none"]),
                "docker create",
            ))
            .unwrap();
            let id = id.trim();
            let tar_bytes = run_ok(docker(&cli).args(["export", id]), "docker export");
            run_ok(docker(&cli).args(["rm", id]), "docker rm");
            // The image stays: two cases with the same context share it through the build
            // cache, and removing it under a concurrent build breaks that build.
            let mut archive = tar::Archive::new(tar_bytes.as_slice());
            let mut out = BTreeMap::new();
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                let path = entry.path_bytes().into_owned();
                let Some(rel) = path.strip_prefix(b"ctx/") else {
                    continue;
                };
                let rel = as_text(rel.strip_suffix(b"/").unwrap_or(rel));
                if rel.is_empty() || LEFT_OUT.contains(&rel.as_str()) {
                    continue;
                }
                let mode = entry.header().mode().unwrap();
                let value = match entry.header().entry_type() {
                    tar::EntryType::Directory => Entry::Dir,
                    tar::EntryType::Symlink => {
                        Entry::Symlink(as_text(&entry.link_name_bytes().unwrap()))
                    }
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
            out
        }
        Builder::Buildkit => {
            let cli = server_env("IMPRINT_TEST_BUILDKIT_CLI");
            let dest = tempfile::tempdir().unwrap();
            let output = format!("type=local,dest={}", dest.path().display());
            run_ok(
                docker(&cli)
                    .args(["build", "-q", "-o", &output, "."])
                    .env("DOCKER_BUILDKIT", "1")
                    .current_dir(p.root()),
                "docker build (BuildKit)",
            );
            let mut out = BTreeMap::new();
            walk_local(&dest.path().join("ctx"), b"", &mut out);
            out
        }
    }
}

fn walk_local(dir: &Path, rel: &[u8], out: &mut BTreeMap<String, Entry>) {
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
            if !LEFT_OUT.contains(&key.as_str()) {
                out.insert(key, Entry::Dir);
            }
        } else if LEFT_OUT.contains(&key.as_str()) {
            continue;
        } else if meta.file_type().is_symlink() {
            out.insert(
                key,
                Entry::Symlink(as_text(
                    fs::read_link(&path).unwrap().as_os_str().as_bytes(),
                )),
            );
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

fn check(
    case: &str,
    builder: Builder,
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
    let ours = imprint_side(&p, builder);
    let theirs = docker_side(&p, builder, &format!("{case}-{builder:?}").to_lowercase());
    if ours != theirs {
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|(k, v)| theirs.get(*k) != Some(v))
            .collect();
        let only_theirs: Vec<_> = theirs
            .iter()
            .filter(|(k, v)| ours.get(*k) != Some(v))
            .collect();
        panic!(
            "{case} ({builder:?}, ignore {ignore:?}): imprint and Docker disagree\nimprint only: {only_ours:#?}\nDocker only: {only_theirs:#?}"
        );
    }
    assert!(
        !ours.is_empty() || ignore.is_some(),
        "{case}: an empty context compared"
    );
}

fn nothing(_: &Project) {}

macro_rules! differential {
    ($($name:ident: $ignore:expr, $dockerfile_ignore:expr, $extra:expr, [$($builder:ident),+];)+) => {
        $(
            #[test]
            fn $name() {
                $( check(stringify!($name), Builder::$builder, $ignore, $dockerfile_ignore, $extra); )+
            }
        )+
    };
}

differential! {
    no_ignore_file: None, None, nothing, [Legacy, Buildkit];
    star_matches_one_level: Some("*.md\n"), None, nothing, [Legacy, Buildkit];
    double_star_with_a_reinclude: Some("**/*.md\n!docs/keep/important.md\n"), None, nothing, [Legacy, Buildkit];
    excluded_folder_with_a_reincluded_file: Some("build\n!build/keep.txt\n"), None, nothing, [Legacy, Buildkit];
    leading_slash_and_comments: Some("/node_modules\n.git\n# a comment\n  #hash.txt\n/deep/a/\n\n"), None, nothing, [Legacy, Buildkit];
    excluded_folder_with_a_reincluded_folder: Some("src/**/*.md\ndocs\n!docs/keep\n"), None, nothing, [Legacy, Buildkit];
    everything_but_one_folder: Some("*\n!src\n"), None, nothing, [Legacy, Buildkit];
    wildcard_reinclude_does_not_descend: Some("**\n!**/*.py\n"), None, nothing, [Legacy, Buildkit];
    classes_escapes_and_question_marks: Some("[ab].txt\n?.md\nlink-*\n\\[x\\].txt\ndeep/?/b\n"), None, nothing, [Legacy, Buildkit];
    last_match_wins: Some("*.sh\n!exec.sh\nsp ace.txt\nprivate.*\n!private.txt\nprivate.txt\n"), None, nothing, [Legacy, Buildkit];
    excluded_folder_with_an_unmatched_reinclude: Some("build\n!build/nothere\n"), None, nothing, [Legacy, Buildkit];
    dockerfile_specific_ignore_wins: Some("docs\n"), Some("src\n.git\n"), nothing, [Buildkit];
    non_utf8_and_odd_names: None, None, |p: &Project| {
        fs::write(p.root().join(OsStr::from_bytes(b"\xff\xfe.bin")), b"raw").unwrap();
        fs::write(p.path("tab\there.txt"), b"tab").unwrap();
    }, [Legacy, Buildkit];
}
