//! `--builder native`: imprint's own builder against docker's build of the same Dockerfile
//! (the same files, modes and config), reproducible across folders, umasks, time zones,
//! locales and caches, pinned by a golden digest, refusing what it cannot follow before
//! anything is pushed, and working with no docker on the machine.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Command;

use serde_json::Value;

use crate::support::{copy_example, docker, server_env, Project};

/// The example with its base from the local registry, pushed to `repository` there (named
/// for this run).
fn example(repository: &str) -> Project {
    let p = Project::new().with_servers();
    copy_example(&p);
    p.file(
        "imprint.toml",
        &format!(
            "[image]\nname = \"it-native\"\nplatform = \"linux/amd64\"\nbuild_args = {{ BASE = \"{}\" }}\n\n[registry]\nrepository = \"{}/{repository}-{}\"\n",
            server_env("IMPRINT_TEST_PYTHON_BASE"),
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
                ('f', mode, imprint::registry::sha256_digest(&bytes))
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

#[test]
fn the_native_image_of_the_example_holds_what_dockers_build_of_it_does() {
    let p = example("it-native/diff");
    let native = built_into_dockerd(&p, "native");
    let docker_built = built_into_dockerd(&p, "docker");
    let (ours, theirs) = (task_tree(&native), task_tree(&docker_built));
    assert!(ours.contains_key("handlers/debts.py"), "{ours:?}");
    assert_eq!(
        ours, theirs,
        "native ({native}) and docker ({docker_built}) differ"
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
fn with_no_docker_on_the_machine_tag_build_and_push_work_for_a_native_project() {
    let p = example("it-native/nodocker")
        .env("IMPRINT_DOCKER", "/nonexistent/docker")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PATH", "/nonexistent");
    p.run(&["tag", "--builder", "native"]).success();
    let built = p.run(&["build", "--builder", "native", "--json"]).success();
    let pushed = p.run(&["push", "--builder", "native", "--json"]).success();
    assert_eq!(built.json()["image_id"], pushed.json()["digest"]);
    let again = p.run(&["push", "--builder", "native", "--json"]).success();
    assert_eq!(again.json()["digest"], pushed.json()["digest"]);
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
