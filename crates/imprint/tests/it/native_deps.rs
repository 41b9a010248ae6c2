//! The native builder's dependency steps: uv on this machine installs a project's locked
//! requirements (pydantic with its compiled core, email-validator, PyJWT) for the image's
//! platform and Python, the same bytes everywhere; an arm64 layer on this x86-64 machine; an
//! unchanged lock reuses its layer (an edit sends one small layer); and what cannot be
//! installed exactly is refused before anything is pushed.

use std::io::Read as _;
use std::path::Path;

use crate::deploy::block_on;
use crate::support::{docker, server_env, Project};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/native-deps");

/// uv's guide's steps in one stage: export the lock, install into the task root, bytecode.
const DOCKERFILE: &str = "ARG BASE\nFROM ${BASE}\nENV UV_COMPILE_BYTECODE=1\nWORKDIR /var/task\nCOPY pyproject.toml uv.lock ./\nRUN uv export --frozen --no-dev --no-emit-workspace --no-editable -o requirements.txt && \\\n    uv pip install -r requirements.txt --target /var/task\nCOPY app.py ./\nCMD [\"app.handler\"]\n";

/// The fixture project on `base` for `platform`, pushed to a repository of this run, with
/// test-env's uv and its shared wheel cache.
fn project(base: &str, platform: &str, dockerfile: &str) -> Project {
    let p = Project::new().with_uv();
    for name in ["pyproject.toml", "uv.lock", "app.py"] {
        std::fs::copy(Path::new(FIXTURE).join(name), p.path(name)).unwrap();
    }
    p.file("Dockerfile", dockerfile);
    p.file(
        "imprint.toml",
        &format!(
            "[image]\nname = \"it-native-deps\"\nplatform = \"{platform}\"\nbuilder = \"native\"\nbuild_args = {{ BASE = \"{base}\" }}\n\n[registry]\nrepository = \"{}/it-native-deps-{}\"\n",
            server_env("IMPRINT_TEST_REGISTRY"),
            std::process::id()
        ),
    );
    p
}

fn image_id(p: &Project, args: &[&str]) -> (String, String) {
    let mut all = vec!["build", "--json"];
    all.extend_from_slice(args);
    let run = p.run(&all).success();
    (
        run.json()["image_id"].as_str().unwrap().to_string(),
        run.stderr,
    )
}

#[test]
fn dependencies_install_for_the_images_python_the_same_everywhere_and_run_there() {
    let base = server_env("IMPRINT_TEST_PYTHON_BASE");
    let p = project(&base, "linux/amd64", DOCKERFILE);
    let (first, said) = image_id(&p, &[]);
    assert!(said.contains("dependencies installed by uv"), "{said}");
    // Another folder, HOME (so another store), time zone: the same image.
    let elsewhere = project(&base, "linux/amd64", DOCKERFILE).env("TZ", "Pacific/Auckland");
    assert_eq!(image_id(&elsewhere, &[]).0, first);

    // The image runs the handler on its Python with the packages it installed.
    let pushed = p.run(&["push", "--json"]).success().json();
    let uri = pushed["image_uri"].as_str().unwrap();
    docker(&["pull", "-q", uri]).success();
    let ran = docker(&[
        "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/python3", uri, "-c",
        "import app, pydantic_core, sys; print(app.handler({'email': 'ann@example.com'}, None)['email']); print(pydantic_core.__file__); print(sys.flags.dont_write_bytecode)",
    ])
    .success();
    assert!(ran.stdout.contains("ann@example.com"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("/var/task/pydantic_core/"),
        "{}",
        ran.stdout
    );

    // An edit of the code: the lock is unchanged, uv does not run, one small layer goes out.
    p.file(
        "app.py",
        &(std::fs::read_to_string(p.path("app.py")).unwrap() + "# an edit\n"),
    );
    let (_, said) = image_id(&p, &[]);
    assert!(said.contains("dependencies unchanged, reused"), "{said}");
    let pushed = p.run(&["push", "--json"]).success().json();
    assert_eq!(pushed["blobs_uploaded"], 2, "{pushed}");
    assert!(
        pushed["bytes_uploaded"].as_u64().unwrap() < 20_000,
        "{pushed}"
    );
}

/// The document's multi-stage file: a uv stage, a builder stage, the image.
const MULTI_STAGE: &str = "ARG UV_IMAGE\nARG BASE\nFROM ${UV_IMAGE} AS uv\n\nFROM ${BASE} AS builder\nCOPY --from=uv /uv /bin/uv\nENV UV_COMPILE_BYTECODE=1 UV_NO_INSTALLER_METADATA=1 UV_LINK_MODE=copy\nWORKDIR /build\nCOPY pyproject.toml uv.lock ./\nRUN uv export --frozen --no-emit-workspace --no-dev --no-editable -o requirements.txt && \\\n    uv pip install -r requirements.txt --target \"${LAMBDA_TASK_ROOT}\"\n\nFROM ${BASE}\nCOPY --from=builder ${LAMBDA_TASK_ROOT} ${LAMBDA_TASK_ROOT}\nCOPY app.py ${LAMBDA_TASK_ROOT}/\nCMD [\"app.handler\"]\n";

#[test]
fn the_documents_multi_stage_uv_file_builds_as_it_is_and_shares_the_single_stage_layer() {
    let base = server_env("IMPRINT_TEST_PYTHON_BASE");
    let p = project(&base, "linux/amd64", DOCKERFILE);
    image_id(&p, &[]);
    p.file("Dockerfile", MULTI_STAGE);
    let uv_image = server_env("IMPRINT_TEST_UV_IMAGE");
    let (_, said) = image_id(&p, &["--build-arg", &format!("UV_IMAGE={uv_image}")]);
    // The same requirements for the same place: the single-stage file's layer, reused.
    assert!(said.contains("dependencies unchanged, reused"), "{said}");
    let pushed = p
        .run(&[
            "push",
            "--json",
            "--build-arg",
            &format!("UV_IMAGE={uv_image}"),
        ])
        .success()
        .json();
    let uri = pushed["image_uri"].as_str().unwrap();
    docker(&["pull", "-q", uri]).success();
    let ran = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/usr/bin/python3",
        uri,
        "-c",
        "import app; print(app.handler({'email': 'bo@example.com'}, None)['email'])",
    ])
    .success();
    assert!(ran.stdout.contains("bo@example.com"), "{}", ran.stdout);
}

/// Every ELF file's machine in a gzipped layer tar (path → e_machine).
fn elf_machines(blob: &Path) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut head = [0u8; 20];
        if entry.read_exact(&mut head).is_ok() && head.starts_with(b"\x7fELF") {
            out.push((path, u16::from_le_bytes([head[18], head[19]])));
        }
    }
    out
}

/// The manifest `reference` of `repo` (host/name) in the local registry, parsed.
fn manifest(repo: &str, reference: &str) -> serde_json::Value {
    use imprint::registry::{Registry, Repository};
    let registry = Registry::new(Repository::parse(repo).unwrap(), None, None).unwrap();
    let got = block_on(registry.get_manifest(reference)).unwrap().unwrap();
    serde_json::from_slice(&got.bytes).unwrap()
}

#[test]
fn an_arm64_image_of_the_example_builds_on_this_machine_from_the_bases_arm64_manifest() {
    // The example for linux/arm64 on test-env's Python base, whose tag is an index of an amd64
    // and an arm64 image (Debian's arm64 python3, extracted: nothing arm64 runs here).
    let p = Project::new().with_uv();
    crate::support::copy_example(&p);
    let repo = format!(
        "{}/it-native-arm64-{}",
        server_env("IMPRINT_TEST_REGISTRY"),
        std::process::id()
    );
    let image = crate::support::example_image("it-native-arm64", "native")
        .replace("linux/amd64", "linux/arm64");
    p.file(
        "imprint.toml",
        &format!("{image}\n[registry]\nrepository = \"{repo}\"\n"),
    );
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--json"]).success().json();

    // The lock holds the base's arm64 manifest, and the image stands on its layers.
    let base = server_env("IMPRINT_TEST_PYTHON_BASE");
    let (base_repo, base_tag) = base.rsplit_once(':').unwrap();
    let arm64 = manifest(base_repo, &format!("{base_tag}-arm64"));
    let index = manifest(base_repo, base_tag);
    let arm64_digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = std::fs::read_to_string(p.path("imprint.lock")).unwrap();
    assert!(lock.contains(&arm64_digest), "{lock}");
    let image = manifest(&repo, pushed["tag"].as_str().unwrap());
    let base_layers = arm64["layers"].as_array().unwrap();
    assert_eq!(
        &image["layers"].as_array().unwrap()[..base_layers.len()],
        &base_layers[..]
    );

    // The config says arm64; every shared object in the layers imprint wrote is aarch64.
    let blobs = p.home().join(".cache/imprint/native/blobs");
    let config = std::fs::read(
        blobs.join(
            image["config"]["digest"]
                .as_str()
                .unwrap()
                .replace(':', "-"),
        ),
    )
    .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "arm64");
    let mut shared = Vec::new();
    for layer in &image["layers"].as_array().unwrap()[base_layers.len()..] {
        let name = layer["digest"].as_str().unwrap().replace(':', "-");
        shared.extend(elf_machines(&blobs.join(name)));
    }
    assert!(
        shared
            .iter()
            .any(|(path, _)| path.contains("pydantic_core/_pydantic_core")),
        "{shared:?}"
    );
    // EM_AARCH64 = 183.
    assert!(
        shared.iter().all(|(_, machine)| *machine == 183),
        "{shared:?}"
    );
}

#[test]
fn what_cannot_be_installed_exactly_is_refused_before_anything_is_pushed() {
    let base = server_env("IMPRINT_TEST_PYTHON_BASE");
    let single = "ARG BASE\nFROM ${BASE}\nWORKDIR /var/task\nCOPY requirements.txt ./\nRUN uv pip install -r requirements.txt --target /var/task\n";
    let good = std::fs::read_to_string(Path::new(FIXTURE).join("requirements.txt")).unwrap();
    // Every hash one digit off: no file of any package matches.
    let tampered = good
        .split("--hash=sha256:")
        .enumerate()
        .map(|(i, part)| match (i, part.chars().next()) {
            (0, _) | (_, None) => part.to_string(),
            (_, Some(c)) => format!("{}{}", if c == '0' { '1' } else { '0' }, &part[1..]),
        })
        .collect::<Vec<_>>()
        .join("--hash=sha256:");
    let cases: Vec<(String, &str)> = vec![
        ("requests>=2\n".into(), "requests is not pinned"),
        ("pyjwt==2.10.1\n".into(), "pyjwt has no --hash"),
        (tampered, "uv could not install"),
        // docopt 0.6.2 is published as a source archive only.
        (
            "docopt==0.6.2 \\\n    --hash=sha256:49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491\n".into(),
            "docopt",
        ),
    ];
    for (requirements, what) in cases {
        let p = project(&base, "linux/amd64", single);
        p.file("requirements.txt", &requirements);
        let run = p.run(&["build"]).usage_error();
        assert!(
            run.stderr.contains("Dockerfile:5:") && run.stderr.contains(what),
            "{requirements}: {}",
            run.stderr
        );
        p.run(&["push"]).usage_error();
    }

    // Bytecode for a Python this machine does not have (3.10; the packages exist for it).
    let old = format!(
        "{}/test/python:3.10-{}",
        server_env("IMPRINT_TEST_REGISTRY"),
        std::process::id()
    );
    docker(&["pull", "-q", &base]).success();
    docker(&["tag", &base, &old]).success();
    docker(&["push", "-q", &old]).success();
    let p = project(
        &old,
        "linux/amd64",
        &single.replace(
            "RUN uv pip install",
            "ENV UV_COMPILE_BYTECODE=1\nRUN uv pip install",
        ),
    );
    // One small package that supports 3.10, with its hashes.
    let start = good.find("typing-extensions==").unwrap();
    let end = good[start..]
        .find("\n    # via")
        .map_or(good.len(), |e| start + e);
    p.file("requirements.txt", &format!("{}\n", &good[start..end]));
    let run = p.run(&["build"]).usage_error();
    assert!(
        run.stderr.contains("python3.10") && run.stderr.contains("Python 3.10"),
        "{}",
        run.stderr
    );
}

/// The files of a gzipped layer tar.
fn layer_paths(blob: &Path) -> Vec<String> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().unwrap();
    entries
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_base_whose_tag_names_no_python_takes_it_and_its_site_packages_from_imprint_toml() {
    // pip's form, no --target, on a base whose tag says nothing of its Python.
    let base = server_env("IMPRINT_TEST_BASE");
    let dockerfile = "ARG BASE\nFROM ${BASE}\nCOPY requirements.txt /tmp/\nRUN pip install --no-compile -r /tmp/requirements.txt\n";
    let p = project(&base, "linux/amd64", dockerfile);
    std::fs::copy(
        Path::new(FIXTURE).join("requirements.txt"),
        p.path("requirements.txt"),
    )
    .unwrap();
    let unknown = p.run(&["build"]).usage_error();
    assert!(
        unknown
            .stderr
            .contains("cannot tell the Python of the base image")
            && unknown.stderr.contains("[image.native] python"),
        "{}",
        unknown.stderr
    );
    let config = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    let with_python = config.replace(
        "\n[registry]",
        "\n[image.native]\npython = \"3.11\"\n\n[registry]",
    );
    p.file("imprint.toml", &with_python);
    let nowhere = p.run(&["build"]).usage_error();
    assert!(
        nowhere.stderr.contains("[image.native] site_packages"),
        "{}",
        nowhere.stderr
    );
    let tag_before = p.run(&["tag", "--offline"]).success().stdout;
    let site = "/usr/lib/python3/dist-packages";
    p.file(
        "imprint.toml",
        &with_python.replace(
            "python = \"3.11\"\n",
            &format!("python = \"3.11\"\nsite_packages = \"{site}\"\n"),
        ),
    );
    // The setting decides the image: it is in the tag's hash.
    let tag_after = p.run(&["tag", "--offline"]).success().stdout;
    assert_ne!(tag_before[16..], tag_after[16..]);
    p.run(&["build"]).success();
    let blobs = p.home().join(".cache/imprint/native/blobs");
    let paths: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .filter(|e| !std::fs::read(e.path()).unwrap().starts_with(b"{"))
        .flat_map(|e| layer_paths(&e.path()))
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("usr/lib/python3/dist-packages/pydantic/")),
        "{paths:?}"
    );
    // Another builder says it leaves the section aside (nothing silently ignored).
    let other = p
        .run(&["tag", "--offline", "--builder", "docker"])
        .success();
    assert!(
        other
            .stderr
            .contains("[image.native] is for the native builder; the docker builder ignores it"),
        "{}",
        other.stderr
    );

    // A version that is none is refused where it is written.
    p.file(
        "imprint.toml",
        &with_python.replace("python = \"3.11\"", "python = \"three\""),
    );
    let bad = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        bad.stderr.contains("[image.native] python = \"three\""),
        "{}",
        bad.stderr
    );
}
