//! `--builder native`: imprint's own builder against docker's build of the same Dockerfile
//! (the same files, modes and config), reproducible across folders, umasks, time zones,
//! locales and caches, pinned by a golden digest, refusing what it cannot follow before
//! anything is pushed, and working with no docker on the machine.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Command;

use serde_json::Value;

use crate::support::{copy_example, docker, example_image, server_env, Project};

/// The example with its base from the local registry, pushed to `repository` there (named
/// for this run).
fn example(repository: &str) -> Project {
    let p = Project::new().with_servers().with_uv();
    copy_example(&p);
    p.file(
        "imprint.toml",
        &format!(
            "{}\n[registry]\nrepository = \"{}/{repository}-{}\"\n",
            example_image("it-native", "native"),
            server_env("IMPRINT_TEST_REGISTRY"),
            std::process::id(),
        ),
    );
    p
}

/// What one path of an image's file system is: kind, mode bits and, for files, the SHA-256
/// of the bytes (for links, the text).
type Tree = BTreeMap<String, (char, u32, String)>;

/// The files under `/var/task` of the image `uri` in the test dockerd (exported from a
/// container).
fn task_tree(uri: &str) -> Tree {
    let id = docker(&["create", uri]).success().stdout.trim().to_string();
    let export = Command::new(server_env("IMPRINT_TEST_DOCKER_CLI"))
        .args(["export", &id])
        .env("DOCKER_HOST", server_env("IMPRINT_TEST_DOCKER_HOST"))
        .output()
        .unwrap();
    assert!(export.status.success());
    docker(&["rm", &id]).success();
    let mut tree = Tree::new();
    let mut archive = tar::Archive::new(export.stdout.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(rel) = path.strip_prefix("var/task/") else {
            continue;
        };
        let rel = rel.trim_end_matches('/').to_string();
        if rel.is_empty() {
            continue;
        }
        let mode = entry.header().mode().unwrap() & 0o7777;
        let value = match entry.header().entry_type() {
            tar::EntryType::Directory => ('d', mode, String::new()),
            tar::EntryType::Symlink => (
                'l',
                0,
                entry.link_name().unwrap().unwrap().to_string_lossy().into(),
            ),
            _ => {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                match rel.ends_with(".pyc") && bytes.len() >= 16 {
                    // Bytecode: the PEP 552 flags word (0 timestamped, 3 checked hash), then
                    // the code after the 16-byte header.
                    true => (
                        'c',
                        mode,
                        format!(
                            "{}:{}",
                            bytes[4],
                            imprint::registry::sha256_digest(&bytes[16..])
                        ),
                    ),
                    false => ('f', mode, imprint::registry::sha256_digest(&bytes)),
                }
            }
        };
        tree.insert(rel, value);
    }
    tree
}

/// The parts of an image config both builders must agree on.
fn runtime_config(uri: &str) -> Value {
    let run = docker(&["image", "inspect", uri, "--format", "{{json .Config}}"]).success();
    let config: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    serde_json::json!({
        "Env": config["Env"],
        "Cmd": config["Cmd"],
        "Entrypoint": config["Entrypoint"],
        "WorkingDir": config["WorkingDir"],
        "User": config["User"],
    })
}

/// Builds with `builder`: the image's name in the test dockerd (a native image pushed and
/// pulled from the registry; docker's stays where it was built).
fn built_into_dockerd(p: &Project, builder: &str) -> String {
    let built = p.run(&["build", "--builder", builder, "--json"]).success();
    if builder != "native" {
        return built.json()["image"].as_str().unwrap().to_string();
    }
    let run = p.run(&["push", "--builder", builder, "--json"]).success();
    let uri = run.json()["image_uri"].as_str().unwrap().to_string();
    docker(&["pull", "-q", &uri]).success();
    uri
}

/// Where two trees differ: paths only in the first, only in the second, and in both with
/// another kind, mode or content.
fn differences(ours: &Tree, theirs: &Tree) -> (Vec<String>, Vec<String>, Vec<String>) {
    let only = |a: &Tree, b: &Tree| -> Vec<String> {
        a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
    };
    let changed = ours
        .iter()
        .filter(|(k, v)| theirs.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k.clone())
        .collect();
    (only(ours, theirs), only(theirs, ours), changed)
}

/// The file at `/var/task/{rel}` of the image `uri`.
fn task_file(uri: &str, rel: &str, to: &std::path::Path) {
    let id = docker(&["create", uri]).success().stdout.trim().to_string();
    docker(&["cp", &format!("{id}:/var/task/{rel}"), to.to_str().unwrap()]).success();
    docker(&["rm", &id]).success();
}

/// Two pycs of one module hold the same code objects but for their line tables: this machine's
/// python3.X is another patch release than the image's, and CPython fixes line tables between
/// them (pydantic's json_schema, 3.11.7 against bookworm's 3.11.2); the code, names, constants
/// and exception tables are the same.
fn assert_same_code(native: &str, docker_built: &str, rel: &str) {
    const SAME_CODE: &str = "import marshal, sys\ndef code(c):\n    return (c.co_code, c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars, c.co_qualname, c.co_flags, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_stacksize, c.co_exceptiontable, tuple(code(k) if hasattr(k, 'co_code') else k for k in c.co_consts))\na, b = (code(marshal.loads(open(f, 'rb').read()[16:])) for f in sys.argv[1:])\nsys.exit(a != b)\n";
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("native.pyc"), dir.path().join("docker.pyc"));
    task_file(native, rel, &ours);
    task_file(docker_built, rel, &theirs);
    let same = Command::new("python3.11")
        .args(["-I", "-c", SAME_CODE])
        .args([&ours, &theirs])
        .status()
        .unwrap();
    assert!(
        same.success(),
        "{rel}: the code differs, not only its line table"
    );
}

#[test]
fn the_native_image_of_the_example_holds_what_dockers_build_of_it_does() {
    let p = example("it-native/diff");
    let native = built_into_dockerd(&p, "native");
    // docker builds the same multi-stage Dockerfile: its builder stage runs the uv image's uv,
    // which installs from the wheelhouse test-env's base carries (no network in the build).
    let docker_built = built_into_dockerd(&p, "docker");
    let (ours, theirs) = (task_tree(&native), task_tree(&docker_built));
    assert!(ours.contains_key("handlers/debts.py"), "{ours:?}");
    assert!(
        ours.keys()
            .any(|k| k.starts_with("pydantic_core/_pydantic_core.")),
        "{ours:?}"
    );
    let (only_ours, only_theirs, changed) = differences(&ours, &theirs);
    // The differences docs/native-builder.md lists, and nothing else: uv's `.lock` and the
    // scripts in `bin/` (their `#!` names the Python that installed them) are left out, so
    // their packages' RECORD lists them no more; bytecode is hash-checked (PEP 552) where uv
    // in docker writes timestamped pycs, with the same code after the header.
    assert_eq!(only_ours, Vec::<String>::new());
    let scripts: Vec<&String> = only_theirs
        .iter()
        .filter(|k| k.starts_with("bin/"))
        .collect();
    assert!(!scripts.is_empty(), "{only_theirs:?}");
    assert_eq!(only_theirs.len(), scripts.len() + 2, "{only_theirs:?}");
    assert!(only_theirs.contains(&".lock".to_string()) && only_theirs.contains(&"bin".to_string()));
    let (pycs, other): (Vec<&String>, Vec<&String>) =
        changed.iter().partition(|k| k.ends_with(".pyc"));
    assert!(
        other.iter().all(|k| k.ends_with(".dist-info/RECORD")),
        "{other:?}"
    );
    assert_eq!(other.len(), scripts.len(), "{other:?} for {scripts:?}");
    assert!(pycs.len() > 100, "{pycs:?}");
    for pyc in pycs {
        let (ours, theirs) = (&ours[pyc].2, &theirs[pyc].2);
        assert_eq!((&ours[..2], &theirs[..2]), ("3:", "0:"), "{pyc}");
        if ours[2..] != theirs[2..] {
            assert_same_code(&native, &docker_built, pyc);
        }
    }
    assert_eq!(
        ours.values().filter(|v| v.0 == 'c').count(),
        theirs.values().filter(|v| v.0 == 'c').count()
    );
    assert_eq!(runtime_config(&native), runtime_config(&docker_built));
}

#[test]
fn native_builds_are_the_same_image_in_any_folder_umask_time_zone_locale_and_cache() {
    let builds: Vec<String> = [("022", "UTC", "C"), ("077", "Asia/Kolkata", "de_DE.UTF-8")]
        .into_iter()
        .map(|(umask, tz, lang)| {
            let p = example("it-native/repro");
            // The checkout as a clone under this umask would have made it.
            if umask == "077" {
                Command::new("chmod")
                    .args(["-R", "go-rwx"])
                    .arg(p.root())
                    .status()
                    .unwrap();
            }
            let shell = format!(
                "umask {umask}; exec {} build --builder native --json",
                env!("CARGO_BIN_EXE_imprint")
            );
            let run = crate::support::output(
                p.program("sh", &["-c", &shell])
                    .env("TZ", tz)
                    .env("LANG", lang)
                    .env("LC_ALL", lang)
                    .output()
                    .unwrap(),
            )
            .success();
            std::thread::sleep(std::time::Duration::from_millis(1100));
            run.json()["image_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(builds[0], builds[1]);
}

#[test]
fn a_fixed_tree_builds_to_its_golden_digest() {
    let p = Project::new();
    p.file("Dockerfile", "FROM scratch\nENV APP=/app\nWORKDIR $APP\nCOPY . ./\nCOPY --chmod=0700 run.sh /bin/run\nCMD [\"/bin/run\"]\n");
    p.file("main.py", "print('hello')\n");
    p.file("pkg/__init__.py", "");
    p.file("pkg/data.json", "{\"a\": 1}\n");
    p.file("run.sh", "#!/bin/sh\nexec python3 /app/main.py\n");
    p.file(".dockerignore", "*.md\n");
    p.file("README.md", "left out\n");
    std::os::unix::fs::symlink("main.py", p.path("link.py")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p.path("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = p
        .run(&[
            "build",
            "--builder",
            "native",
            "--platform",
            "linux/amd64",
            "--json",
        ])
        .success();
    // A change here means every native image changes: a new layer format (bump
    // imprint_context::native::LAYER_FORMAT), or a dependency that compresses differently.
    assert_eq!(
        run.json()["image_id"].as_str().unwrap(),
        "sha256:62e85e8bca929e21e72229fd96d5767f388c4bd810b04c8b4273b37016239063",
        "{}",
        run.stderr
    );
}

#[test]
fn what_the_native_builder_cannot_follow_is_refused_before_anything_is_pushed() {
    let p = example("it-native/refused");
    for (dockerfile, line, what) in [
        (
            "ARG BASE\nFROM ${BASE}\nRUN pip install requests\n",
            3,
            "RUN",
        ),
        (
            "ARG BASE\nFROM ${BASE}\nADD https://example.com/x /x\n",
            3,
            "ADD",
        ),
        (
            "ARG BASE\nFROM ${BASE}\nCOPY nothere.py /var/task/\n",
            3,
            "nothere.py",
        ),
        ("ARG BASE\nFROM ${BASE}\nCMD main.handler\n", 3, "exec form"),
    ] {
        p.file("Dockerfile", dockerfile);
        for command in ["tag", "build"] {
            let run = p.run(&[command, "--builder", "native"]);
            if what == "nothere.py" && command == "tag" {
                // The tag only hashes; the copy is checked when the layers are written.
                run.success();
                continue;
            }
            let run = run.usage_error();
            assert!(
                run.stderr.contains(&format!("Dockerfile:{line}:")) && run.stderr.contains(what),
                "{command} {dockerfile}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains("--builder docker") || what == "nothere.py",
                "{}",
                run.stderr
            );
        }
        p.run(&["push", "--builder", "native"]).usage_error();
    }
    let listed = registry_tags(&format!(
        "http://{}/v2/it-native/refused/tags/list",
        server_env("IMPRINT_TEST_REGISTRY")
    ));
    assert!(!listed.contains("\"tags\":[\""), "{listed}");
}

/// The registry's answer to a tag list (or its status code).
fn registry_tags(url: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys,urllib.request,urllib.error\ntry:\n  print(urllib.request.urlopen(sys.argv[1]).read().decode())\nexcept urllib.error.HTTPError as e:\n  print(e.code)",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn with_no_docker_on_the_machine_a_native_project_tags_builds_pushes_deploys_and_verifies() {
    // On PATH only the Python the dependency layer's bytecode needs (uv is IMPRINT_UV).
    let bin = tempfile::tempdir().unwrap();
    let python = Command::new("python3.11")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(python.stdout).unwrap();
    std::os::unix::fs::symlink(python.trim(), bin.path().join("python3.11")).unwrap();
    // ECR (the stand-in) and Lambda (moto): a deploy as a CI runner without docker makes it.
    let prefix = &format!("it-native-nodocker-{}", std::process::id());
    let p = crate::support::ecr_servers(prefix)
        .with_uv()
        .env("IMPRINT_DOCKER", "/nonexistent/docker")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PATH", bin.path().to_str().unwrap());
    copy_example(&p);
    p.file(
        "imprint.toml",
        &format!(
            "{}\n[deploy]\nfunctions = [\"{prefix}-0\", \"{prefix}-1\"]\n",
            example_image(prefix, "native")
        ),
    );
    p.run(&["tag"]).success();
    let built = p.run(&["build", "--json"]).success().json();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let none = p.run(&["verify", "--deployed"]).usage_error();
    assert!(
        none.stderr.contains("has no successful deployment"),
        "{}",
        none.stderr
    );
    assert_eq!(built["image_id"], pushed["digest"]);
    let again = p.run(&["push", "--json"]).success().json();
    assert_eq!(again["digest"], pushed["digest"]);

    let uri = pushed["image_uri"].as_str().unwrap();
    crate::support::create_functions(prefix, 2, uri, &format!("app={prefix}"));
    p.file(
        "handlers/healthz.py",
        "from utils.responses import ok\n\n\ndef handler(event, context):\n    return ok({'status': 'ok', 'v': 2})\n",
    );
    let report = p.run(&["deploy", "--yes", "--json"]).success().json();
    let outcomes = crate::deploy::outcomes(&report);
    assert_eq!(outcomes.len(), 2, "{report}");
    assert!(outcomes.values().all(|o| o == "updated"), "{report}");
    assert_ne!(report["tag"], pushed["tag"], "{report}");

    // What the functions run is what this checkout builds, until the next edit.
    let same = p.run(&["verify", "--deployed", "--json"]).success().json();
    assert_eq!(same["outcome"], "identical", "{same}");
    assert_eq!(same["tag"], report["tag"], "{same}");
    p.file("handlers/debts.py", "# not deployed\n");
    let edited = p.run(&["verify", "--deployed"]);
    assert_eq!(edited.code, 1, "{}\n{}", edited.stdout, edited.stderr);
    assert!(
        edited.stdout.contains("changed var/task/handlers/debts.py"),
        "{}",
        edited.stdout
    );

    // That edit deployed from a fresh runner (no imprint cache, an empty uv cache, uv
    // offline, so an install would fail): the dependency layer comes from the deployed image.
    let (cache, uv_cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fresh = |args: &[&str]| {
        let mut cmd = p.command(args);
        cmd.env("XDG_CACHE_HOME", cache.path())
            .env("UV_CACHE_DIR", uv_cache.path())
            .env("UV_OFFLINE", "1");
        crate::support::output(cmd.output().unwrap())
    };
    let run = fresh(&["deploy", "--yes", "--json"]).success();
    assert!(
        run.stderr
            .contains("unchanged, reused from the deployed image"),
        "{}",
        run.stderr
    );
    let second = run.json();
    assert!(
        crate::deploy::outcomes(&second)
            .values()
            .all(|o| o == "updated"),
        "{second}"
    );
    // And it is the image uv's install makes: verify rebuilds it all (with uv) and compares.
    let same = p.run(&["verify", "--deployed", "--json"]).success().json();
    assert_eq!(same["outcome"], "identical", "{same}");
    assert_eq!(same["tag"], second["tag"], "{same}");
}

#[test]
fn verify_rebuilds_the_checkout_and_names_the_files_a_pushed_image_differs_in() {
    let p = example("it-native/verify");
    p.run(&["build", "--builder", "native"]).success();
    let pushed = p
        .run(&["push", "--builder", "native", "--json"])
        .success()
        .json();
    let tag = pushed["tag"].as_str().unwrap();
    let same = p
        .run(&["verify", "--builder", "native", "--json"])
        .success()
        .json();
    assert_eq!(same["outcome"], "identical", "{same}");
    assert_eq!(same["rebuilt"], pushed["digest"]);

    p.file(
        "handlers/healthz.py",
        "def handler(event, context):\n    return {'statusCode': 204}\n",
    );
    let run = p.run(&["verify", "--builder", "native", "--tag", tag]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("changed var/task/handlers/healthz.py"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("is not the image this checkout builds"),
        "{}",
        run.stderr
    );
    // Only the native builder rebuilds reproducibly.
    p.run(&["verify", "--builder", "docker"]).usage_error();
}

/// `p` with Debian's /usr/bin/python3.11 first on PATH (as `python3.11`, which compiles
/// bytecode), and the folder that link lives in.
fn debian_python_first(p: Project) -> (Project, tempfile::TempDir) {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3.11", bin.path().join("python3.11")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    (p.env("PATH", &path), bin)
}

#[test]
fn a_build_in_a_container_as_another_user_is_the_same_image() {
    // Bytecode is the compiling CPython's bytes, so both builds use the release the container
    // has: Debian bookworm's python3.11 (this machine's /usr/bin/python3.11 too).
    let system = Command::new("/usr/bin/python3.11")
        .args(["-c", "import sys; print(sys.version_info[:3])"])
        .output()
        .expect("this test needs Debian bookworm's /usr/bin/python3.11 on this machine");
    let in_base = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/usr/bin/python3.11",
        &server_env("IMPRINT_TEST_PYTHON_BASE"),
        "-c",
        "import sys; print(sys.version_info[:3])",
    ])
    .success();
    assert_eq!(String::from_utf8_lossy(&system.stdout), in_base.stdout);
    let (p, _bin) = debian_python_first(example("it-native/container"));
    let here = p.run(&["build", "--json"]).success().json();

    // The same checkout (with the lock the first build wrote) in another folder, owned by
    // another user, built in a container of the Python base as that user: another HOME (so
    // an empty store and uv cache: the wheels come from PyPI again), time zone, hostname.
    let copy = tempfile::tempdir().unwrap();
    let copied = Command::new("cp")
        .args(["-a", &format!("{}/.", p.root().display())])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(copied.success());
    let owned = Command::new("chown")
        .args(["-R", "4321:4321"])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(owned.success());
    let mount = |from: &str, to: &str| format!("{from}:{to}:ro");
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let there = docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        "4321:4321",
        "--hostname",
        "elsewhere",
        "-e",
        "HOME=/tmp/builder",
        "-e",
        "IMPRINT_UV=/opt/uv",
        "-e",
        &format!("SSL_CERT_FILE={ca}"),
        "-e",
        "TZ=America/Sao_Paulo",
        "-e",
        "LANG=C.UTF-8",
        "-e",
        "NO_COLOR=1",
        "-v",
        &mount(env!("CARGO_BIN_EXE_imprint"), "/opt/imprint"),
        "-v",
        &mount(&server_env("IMPRINT_TEST_UV"), "/opt/uv"),
        "-v",
        &mount(ca, ca),
        "-v",
        &format!("{}:/srv/checkout", copy.path().display()),
        "-w",
        "/srv/checkout",
        "--entrypoint",
        "/opt/imprint",
        &server_env("IMPRINT_TEST_PYTHON_BASE"),
        "build",
        "--json",
    ])
    .success();
    let there: Value = serde_json::from_str(&there.stdout).unwrap();
    assert_eq!(there["outcome"], "built", "{there}");
    assert_eq!(there["image_id"], here["image_id"], "{there}");
    assert_eq!(
        there["tag"].as_str().unwrap()[16..],
        here["tag"].as_str().unwrap()[16..]
    );
}

#[test]
fn verify_says_when_only_bytecode_differs_as_another_cpython_release_compiled_it() {
    // This machine has two CPython 3.11 releases: python3.11 on PATH (pyenv's) and Debian's.
    let version = |python: &str| {
        let out = Command::new(python)
            .args(["-c", "import sys; print(sys.version_info[:3])"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let (default, debian) = (version("python3.11"), version("/usr/bin/python3.11"));
    assert_ne!(default, debian, "this test needs two CPython 3.11 releases");
    let p = example("it-native/bytecode");
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--json"]).success().json();

    let (p, _bin) = debian_python_first(p);
    let run = p.run(&["verify", "--tag", pushed["tag"].as_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(".pyc"), "{}", run.stdout);
    assert!(
        run.stderr.contains("only compiled bytecode differs"),
        "{}",
        run.stderr
    );
}
