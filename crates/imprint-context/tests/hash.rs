//! Determinism, sensitivity and framing of the content hash, on real trees in temp folders.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use imprint_context::{
    hash_context, hash_context_cached, BuildParams, BuilderKind, CacheSource, ContextError,
    HashCache, InputKind, Quiet,
};

mod support;

use support::params;

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, content: &[u8]) -> &Self {
        let path = self.root().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        self
    }

    fn mode(&self, rel: &str, mode: u32) -> &Self {
        fs::set_permissions(self.root().join(rel), fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    fn mkdir(&self, rel: &str) -> &Self {
        fs::create_dir_all(self.root().join(rel)).unwrap();
        self
    }

    fn link(&self, rel: &str, target: &str) -> &Self {
        symlink(target, self.root().join(rel)).unwrap();
        self
    }

    fn params(&self) -> BuildParams {
        params(self.root(), BuilderKind::Buildkit)
    }

    fn hash_with(&self, params: &BuildParams) -> String {
        hash_context(self.root(), params, &Quiet).unwrap().hex()
    }

    fn hash(&self) -> String {
        self.hash_with(&self.params())
    }
}

/// A small project like the example, written in the given file order.
fn project(order: &[usize]) -> Tree {
    let files: [(&str, &[u8]); 7] = [
        ("Dockerfile", b"FROM scratch\nCOPY . /app/\n"),
        (".dockerignore", b"*.log\n"),
        ("main.py", b"print('hi')\n"),
        ("handlers/debts.py", b"def handler(e, c):\n    return 1\n"),
        ("handlers/healthz.py", b"def handler(e, c):\n    return 0\n"),
        ("utils/responses.py", b"OK = 200\n"),
        ("debug.log", b"noise"),
    ];
    let tree = Tree::new();
    for &i in order {
        tree.write(files[i].0, files[i].1);
    }
    tree.link("current", "handlers/debts.py");
    tree
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&src).unwrap();
        if meta.is_dir() {
            fs::create_dir(&dst).unwrap();
            copy_tree(&src, &dst);
        } else if meta.file_type().is_symlink() {
            symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn same_content_same_hash_whatever_the_order_place_time_and_group_bits() {
    let a = project(&[0, 1, 2, 3, 4, 5, 6]);
    let b = project(&[6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(
        a.hash(),
        b.hash(),
        "creation (and so walk) order changed the hash"
    );

    // Another folder, new inodes, other mtimes, group bits a different umask would give.
    let c = Tree::new();
    copy_tree(a.root(), c.root());
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    for rel in ["main.py", "handlers/debts.py"] {
        fs::File::options()
            .write(true)
            .open(c.root().join(rel))
            .unwrap()
            .set_modified(old)
            .unwrap();
        c.mode(rel, 0o664);
    }
    c.mode("utils/responses.py", 0o640 | 0o004);
    assert_eq!(a.hash(), c.hash());
    // And the same tree twice gives the same hash.
    assert_eq!(a.hash(), a.hash());
}

#[test]
fn every_meaningful_change_changes_the_hash() {
    let base = project(&[0, 1, 2, 3, 4, 5, 6]).hash();
    let changed = |name: &str, mutate: &dyn Fn(&Tree), params: &dyn Fn(&mut BuildParams)| {
        let tree = project(&[0, 1, 2, 3, 4, 5, 6]);
        mutate(&tree);
        let mut p = tree.params();
        params(&mut p);
        assert_ne!(tree.hash_with(&p), base, "{name} did not change the hash");
    };
    let no_params = |_: &mut BuildParams| {};
    changed(
        "a rename",
        &|t| fs::rename(t.root().join("main.py"), t.root().join("app.py")).unwrap(),
        &no_params,
    );
    changed(
        "a move",
        &|t| fs::rename(t.root().join("main.py"), t.root().join("handlers/main.py")).unwrap(),
        &no_params,
    );
    changed(
        "a same-size edit",
        &|t| {
            t.write("main.py", b"print('ho')\n");
        },
        &no_params,
    );
    changed(
        "chmod +x",
        &|t| {
            t.mode("main.py", 0o755);
        },
        &no_params,
    );
    changed(
        "chmod o-r",
        &|t| {
            t.mode("main.py", 0o640);
        },
        &no_params,
    );
    changed(
        "a new empty folder",
        &|t| {
            t.mkdir("models");
        },
        &no_params,
    );
    changed(
        "a symlink retarget",
        &|t| {
            fs::remove_file(t.root().join("current")).unwrap();
            t.link("current", "handlers/healthz.py");
        },
        &no_params,
    );
    changed(
        "CRLF line endings",
        &|t| {
            t.write("main.py", b"print('hi')\r\n");
        },
        &no_params,
    );
    changed(
        "a Dockerfile edit",
        &|t| {
            t.write("Dockerfile", b"FROM scratch\nCOPY . /srv/\n");
        },
        &no_params,
    );
    changed(
        "an ignore-file edit",
        &|t| {
            t.write(".dockerignore", b"*.log\n*.tmp\n");
        },
        &no_params,
    );
    changed("a build arg", &|_| {}, &|p| {
        p.build_args.insert("PYTHON".into(), "3.12".into());
    });
    changed("a build arg value", &|_| {}, &|p| {
        p.build_args.insert("PYTHON".into(), "3.13".into());
    });
    changed("the builder kind", &|_| {}, &|p| {
        p.builder = BuilderKind::Podman
    });
    changed("the target", &|_| {}, &|p| {
        p.target = Some("runtime".into())
    });
    changed("the platform", &|_| {}, &|p| {
        p.platform = "linux/arm64".into()
    });
    changed("[image.native] python", &|_| {}, &|p| {
        p.native.python = Some("3.12".into())
    });
    changed("[image.native] site_packages", &|_| {}, &|p| {
        p.native.site_packages = Some("/usr/lib/python3/dist-packages".into())
    });
}

#[test]
fn an_ignored_file_does_not_change_the_hash() {
    let a = project(&[0, 1, 2, 3, 4, 5, 6]);
    let before = a.hash();
    a.write("debug.log", b"other noise, longer");
    a.write("trace.log", b"x");
    assert_eq!(a.hash(), before);
    // A new folder is sent even when everything in it is ignored, so it counts.
    a.write("more/trace.log", b"x");
    assert_ne!(a.hash(), before);
}

#[test]
fn framing_keeps_apart_what_concatenation_would_merge() {
    let with = |files: &[(&str, &str)], dirs: &[&str]| {
        let t = Tree::new();
        t.write("Dockerfile", b"FROM scratch\n");
        for (path, content) in files {
            t.write(path, content.as_bytes());
        }
        for dir in dirs {
            t.mkdir(dir);
        }
        t.hash()
    };
    assert_ne!(with(&[("ab", "c")], &[]), with(&[("a", "bc")], &[]));
    assert_ne!(
        with(&[("x", "ab"), ("y", "c")], &[]),
        with(&[("x", "a"), ("y", "bc")], &[])
    );
    assert_ne!(with(&[("e", "")], &[]), with(&[], &["e"]));
    let l = Tree::new();
    l.write("Dockerfile", b"FROM scratch\n").link("e", "x");
    assert_ne!(
        l.hash(),
        with(&[("e", "x")], &[]),
        "a symlink and a file with its text as content"
    );
}

#[test]
fn symlinks_are_hashed_as_text_never_followed() {
    let t = Tree::new();
    t.write("Dockerfile", b"FROM scratch\n")
        .link("passwd", "/etc/passwd")
        .link("loop", "loop")
        .link("dangling", "nowhere/at/all");
    let hashed = hash_context(t.root(), &t.params(), &Quiet).unwrap();
    let links: Vec<(String, String)> = hashed
        .inputs
        .iter()
        .filter(|i| i.kind == InputKind::Symlink)
        .map(|i| {
            (
                i.display_path(),
                String::from_utf8_lossy(&i.target).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![
            ("dangling".into(), "nowhere/at/all".into()),
            ("loop".into(), "loop".into()),
            ("passwd".into(), "/etc/passwd".into())
        ]
    );
}

#[test]
fn non_utf8_names_are_hashed_by_their_bytes() {
    let raw = Tree::new();
    raw.write("Dockerfile", b"FROM scratch\n");
    fs::write(
        raw.root().join(std::ffi::OsStr::from_bytes(b"\xff.txt")),
        b"x",
    )
    .unwrap();
    let lossy = Tree::new();
    lossy
        .write("Dockerfile", b"FROM scratch\n")
        .write("\u{FFFD}.txt", b"x");
    assert_ne!(raw.hash(), lossy.hash());
    let hashed = hash_context(raw.root(), &raw.params(), &Quiet).unwrap();
    assert!(hashed.inputs.iter().any(|i| i.path == b"\xff.txt"));
}

#[test]
fn fifos_and_sockets_are_left_out_with_a_warning_every_time() {
    let plain = project(&[0, 1, 2, 3, 4, 5, 6]);
    let special = project(&[0, 1, 2, 3, 4, 5, 6]);
    let status = std::process::Command::new("mkfifo")
        .arg(special.root().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let _listener =
        std::os::unix::net::UnixListener::bind(special.root().join("handlers/sock")).unwrap();
    let first = hash_context(special.root(), &special.params(), &Quiet).unwrap();
    let second = hash_context(special.root(), &special.params(), &Quiet).unwrap();
    assert_eq!(first.hex(), plain.hash());
    assert_eq!(first.hex(), second.hex());
    let warned: Vec<&str> = first
        .warnings
        .iter()
        .filter(|w| w.kind == "special-file")
        .flat_map(|w| w.paths.iter().map(String::as_str))
        .collect();
    assert_eq!(warned, vec!["handlers/sock", "pipe"]);
}

#[test]
fn state_and_unreadable_files_are_warned_about() {
    let t = project(&[0, 1, 2, 3, 4, 5, 6]);
    t.write(".git/HEAD", b"ref")
        .write("handlers/__pycache__/debts.cpython-312.pyc", b"\0")
        .write(".env", b"SECRET=1")
        .mode("main.py", 0o600);
    let hashed = hash_context(t.root(), &t.params(), &Quiet).unwrap();
    let state = hashed
        .warnings
        .iter()
        .find(|w| w.kind == "state-in-context")
        .unwrap();
    assert_eq!(state.paths, vec![".env", ".git", "handlers/__pycache__"]);
    let unreadable = hashed
        .warnings
        .iter()
        .find(|w| w.kind == "not-other-readable")
        .unwrap();
    assert_eq!(unreadable.paths, vec!["main.py"]);
}

#[test]
fn bad_inputs_are_errors_naming_the_path() {
    let t = project(&[0, 1, 2, 3, 4, 5, 6]);
    let mut p = t.params();
    p.dockerfile = t.root().join("Nope.Dockerfile");
    assert!(matches!(
        hash_context(t.root(), &p, &Quiet),
        Err(ContextError::DockerfileMissing { path }) if path.ends_with("Nope.Dockerfile")
    ));
    let file: PathBuf = t.root().join("main.py");
    assert!(matches!(
        hash_context(&file, &t.params(), &Quiet),
        Err(ContextError::ContextNotDir { .. })
    ));
    assert!(matches!(
        hash_context(&t.root().join("missing"), &t.params(), &Quiet),
        Err(ContextError::ContextMissing { .. })
    ));
    t.write(".dockerignore", b"ok\n\n[unclosed\n");
    assert!(matches!(
        hash_context(t.root(), &t.params(), &Quiet),
        Err(ContextError::BadPattern { line: 3, .. })
    ));
    t.write(".dockerignore", b"*.log\n")
        .write("Dockerfile.dockerignore", b"x\n");
    assert!(matches!(
        hash_context(
            t.root(),
            &params(t.root(), BuilderKind::DockerLegacy),
            &Quiet
        ),
        Err(ContextError::DockerfileIgnoreWithLegacy { .. })
    ));
}

#[test]
fn a_dockerfile_outside_the_context_is_named_relative_to_it() {
    let t = Tree::new();
    t.write("ctx/app.py", b"x")
        .write("build/api.Dockerfile", b"FROM scratch\n");
    let mut p = params(&t.root().join("ctx"), BuilderKind::Buildkit);
    p.dockerfile = t.root().join("build/api.Dockerfile");
    let hashed = hash_context(&t.root().join("ctx"), &p, &Quiet).unwrap();
    assert_eq!(hashed.dockerfile, "../build/api.Dockerfile");
    // BuildKit reads the ignore file beside that Dockerfile.
    t.write("build/api.Dockerfile.dockerignore", b"app.py\n");
    let hashed = hash_context(&t.root().join("ctx"), &p, &Quiet).unwrap();
    assert_eq!(
        hashed.ignore_file.as_deref(),
        Some("../build/api.Dockerfile.dockerignore")
    );
    assert!(hashed.inputs.is_empty());
}

/// Every path under `root`, found by the simplest walk there is, in byte order.
fn every_path(root: &Path, rel: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        out.push(rel.as_os_str().as_bytes().to_vec());
        if entry.file_type().unwrap().is_dir() {
            every_path(root, &rel, out);
        }
    }
}

#[test]
fn entries_come_in_byte_order_with_their_own_hashes_cached_or_not() {
    // Names whose folder contents sort apart from the folder's own name: `-` and `.` sort
    // before `/`, `0` after it.
    let t = Tree::new();
    t.write("Dockerfile", b"FROM scratch\n");
    for rel in [
        "a/inner/file",
        "a-b",
        "a.txt",
        "a0",
        "b/a/x",
        "b/a-b",
        "b/a.txt",
        "b/a0/y",
        "b/ab/z",
        "c/d/e/f/g",
        "c/d.e",
    ] {
        t.write(rel, rel.as_bytes());
    }
    t.link("b/link", "a.txt");
    let p = t.params();
    let mut expected = Vec::new();
    every_path(t.root(), Path::new(""), &mut expected);
    expected.sort();
    let cold = hash_context(t.root(), &p, &Quiet).unwrap();
    let paths: Vec<Vec<u8>> = cold.inputs.iter().map(|i| i.path.clone()).collect();
    assert_eq!(paths, expected, "every entry once, in byte order");
    for input in cold.inputs.iter().filter(|i| i.kind == InputKind::File) {
        let bytes = fs::read(t.root().join(std::ffi::OsStr::from_bytes(&input.path))).unwrap();
        assert_eq!(input.hash, *blake3::hash(&bytes).as_bytes(), "{input:?}");
        assert_eq!(input.size, bytes.len() as u64);
    }
    // Aged past the racy window, so that the second walk takes every hash from the cache.
    std::thread::sleep(Duration::from_millis(2_100));
    let (first, cache) = hash_context_cached(t.root(), &p, &Quiet, None.into()).unwrap();
    let cache = cache.expect("a first walk writes a cache");
    assert_eq!(cache.len(), cold.files as usize);
    let (warm, unchanged) = hash_context_cached(t.root(), &p, &Quiet, Some(&cache).into()).unwrap();
    assert!(unchanged.is_none(), "nothing changed: the cache stands");
    assert_eq!(warm.inputs, cold.inputs);
    assert_eq!((first.hex(), warm.hex()), (cold.hex(), cold.hex()));
    // Loaded while the folders are read: the same; and a cache that cannot be loaded is
    // written again.
    let load = || Some(cache.clone());
    let (loaded, unchanged) =
        hash_context_cached(t.root(), &p, &Quiet, CacheSource::Load(&load)).unwrap();
    assert!(unchanged.is_none());
    assert_eq!(loaded.inputs, cold.inputs);
    let (unloaded, rewritten) =
        hash_context_cached(t.root(), &p, &Quiet, CacheSource::Load(&|| None)).unwrap();
    assert_eq!(rewritten.as_ref().map(HashCache::len), Some(cache.len()));
    assert_eq!(unloaded.hex(), cold.hex());
}

#[test]
fn re_included_entries_keep_byte_order_and_their_parents() {
    let t = Tree::new();
    t.write("Dockerfile", b"FROM scratch\n")
        .write(
            ".dockerignore",
            b"vendor\n!vendor/keep/a.txt\n!vendor/keep-b\n",
        )
        .write("vendor/keep/a.txt", b"a")
        .write("vendor/keep/b.txt", b"b")
        .write("vendor/keep-b", b"kb")
        .write("vendor/keep.c", b"c")
        .write("z", b"z");
    for cached in [false, true] {
        let hashed = match cached {
            false => hash_context(t.root(), &t.params(), &Quiet).unwrap(),
            true => {
                let (_, cache) =
                    hash_context_cached(t.root(), &t.params(), &Quiet, None.into()).unwrap();
                hash_context_cached(t.root(), &t.params(), &Quiet, cache.as_ref().into())
                    .unwrap()
                    .0
            }
        };
        let paths: Vec<String> = hashed.inputs.iter().map(|i| i.display_path()).collect();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "vendor",
                "vendor/keep",
                "vendor/keep-b",
                "vendor/keep/a.txt",
                "z"
            ],
            "cached: {cached}"
        );
        let a = hashed
            .inputs
            .iter()
            .find(|i| i.path == b"vendor/keep/a.txt")
            .unwrap();
        assert_eq!(a.hash, *blake3::hash(b"a").as_bytes());
    }
}
