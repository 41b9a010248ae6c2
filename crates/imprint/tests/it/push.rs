//! `imprint build` and `imprint push` against the real dockerd and docker-registry.

use imprint::registry::{Registry, Repository};

use crate::deploy::block_on;
use crate::support::{
    busybox_in, docker, ecr_servers, server_env, standin_log, standin_registry, Project,
};

pub(crate) fn repository(name: &str) -> String {
    format!("{}/it/{name}", server_env("IMPRINT_TEST_REGISTRY"))
}

pub(crate) fn scratch_project(name: &str) -> (Project, String) {
    let repo = repository(name);
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &repo);
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file("main.py", &format!("print('{name}')\n"))
        .file("handlers/a.py", "A = 1\n");
    (p, repo)
}

fn registry(repo: &str) -> Registry {
    Registry::new(Repository::parse(repo).unwrap(), None, None).unwrap()
}

#[test]
fn build_then_push_lands_a_verified_single_platform_image() {
    let (p, repo) = scratch_project("verified");
    let tag = p.run(&["tag", "--json"]).success().json();
    assert_eq!(tag["pushed"], false);
    let built = p.run(&["build", "--json"]).success().json();
    assert_eq!(built["outcome"], "built");
    let image_id = docker(&[
        "inspect",
        "--format",
        "{{.Id}}",
        built["image"].as_str().unwrap(),
    ]);
    assert_eq!(image_id.success().stdout.trim(), built["image_id"]);
    let again = p.run(&["build", "--json"]).success().json();
    assert_eq!(again["outcome"], "already-built");
    assert_eq!(again["image_id"], built["image_id"]);
    assert_eq!(
        built["tag"],
        tag["tag"].as_str().map(|_| built["tag"].clone()).unwrap()
    );
    let pushed = p.run(&["push", "--json"]).success().json();
    assert_eq!(pushed["outcome"], "pushed");
    assert!(pushed["blobs_uploaded"].as_u64().unwrap() >= 2, "{pushed}");
    let tag_name = pushed["tag"].as_str().unwrap();
    assert_eq!(pushed["tag"], built["tag"]);
    assert_eq!(pushed["image_uri"], format!("{repo}:{tag_name}"));

    // The digest known before the push is what the registry serves, and it is an image
    // manifest for one platform, not an index.
    let registry = registry(&repo);
    let stored = block_on(registry.get_manifest(tag_name)).unwrap().unwrap();
    assert_eq!(stored.digest, pushed["digest"].as_str().unwrap());
    assert_eq!(
        stored.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert!(manifest.get("manifests").is_none());

    // dockerd pulls it back, with imprint's labels.
    let image = format!("{repo}:{tag_name}");
    docker(&["rmi", "-f", &image]);
    let pulled = docker(&["pull", &image]);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &image])
        .success()
        .stdout;
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["dev.imprint.content-hash"], tag["hash"]);
    assert_eq!(labels["dev.imprint.format"], "1");

    // The tag is stable now: the registry names it, a second apart or not.
    let first = p.run(&["tag", "--json"]).success().json();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = p.run(&["tag", "--json"]).success().json();
    assert_eq!(first["tag"], tag_name);
    assert_eq!(second["tag"], tag_name);
    assert_eq!(second["pushed"], true);
    assert_eq!(second["digest"], pushed["digest"]);

    // A second push uploads nothing; build has nothing to do.
    let again = p.run(&["push", "--json"]).success().json();
    assert_eq!(again["outcome"], "already-pushed");
    assert_eq!(again["bytes_uploaded"], 0);
    assert_eq!(again["blobs_uploaded"], 0);
    assert_eq!(
        p.run(&["build", "--json"]).success().json()["outcome"],
        "already-pushed"
    );

    // The index artifact names the tag and lists the inputs.
    let artifact =
        block_on(registry.get_manifest(&format!("imprint-{}", tag["hash"].as_str().unwrap())))
            .unwrap()
            .unwrap();
    let artifact: serde_json::Value = serde_json::from_slice(&artifact.bytes).unwrap();
    assert_eq!(artifact["annotations"]["dev.imprint.tag"], tag_name);
    assert_eq!(artifact["subject"]["digest"], pushed["digest"]);
    let mut tags = block_on(registry.tags()).unwrap();
    tags.sort();
    assert_eq!(
        tags,
        [
            tag_name.to_string(),
            format!("imprint-{}", tag["hash"].as_str().unwrap())
        ]
    );
}

#[test]
fn a_push_leaves_no_blobs_in_the_cache_and_sweeps_old_leftovers() {
    let (p, _) = scratch_project("no-leftovers");
    let blobs = p.home().join(".cache/imprint/blobs");
    std::fs::create_dir_all(blobs.join("run-killed")).unwrap();
    // A loose blob as older versions left them, and a killed run's folder, two days old; and
    // a folder of a run that may still be going.
    std::fs::write(blobs.join("sha256-0123"), "old").unwrap();
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for old in ["sha256-0123", "run-killed"] {
        let file = std::fs::File::open(blobs.join(old)).unwrap();
        file.set_modified(two_days_ago).unwrap();
    }
    std::fs::create_dir_all(blobs.join("run-current")).unwrap();
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--json"]).success().json();
    assert_eq!(pushed["outcome"], "pushed");
    let mut left: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["run-current"], "the push's own blobs are gone too");
}

#[test]
fn a_rebuild_gets_a_new_tag_and_uploads_only_what_changed() {
    let (p, _) = scratch_project("rebuild");
    p.run(&["build"]).success();
    let first = p.run(&["push", "--json"]).success().json();
    p.run(&["build", "--rebuild"]).success();
    let second = p.run(&["push", "--rebuild", "--json"]).success().json();
    assert_ne!(first["tag"], second["tag"]);
    // Built afresh (no cache): another image, pushed beside the first.
    assert_ne!(first["digest"], second["digest"]);
    assert!(second["blobs_uploaded"].as_u64().unwrap() >= 1, "{second}");
    // The registry now names the new tag for this content.
    assert_eq!(
        p.run(&["tag"]).success().stdout.trim(),
        second["tag"].as_str().unwrap()
    );
}

#[test]
fn the_same_image_exported_twice_gives_the_same_digest() {
    let (p, _) = scratch_project("twice");
    let built = p.run(&["build", "--json"]).success().json();
    let image = built["image"].as_str().unwrap();
    let digests: Vec<String> = (0..2)
        .map(|i| {
            let dir = tempfile::tempdir().unwrap();
            let archive = dir.path().join("image.tar");
            docker(&["save", "--output", archive.to_str().unwrap(), image]).success();
            let blobs = dir.path().join(format!("blobs{i}"));
            imprint::image::from_archive(
                &archive,
                &blobs,
                "linux/amd64",
                &mut imprint::image::Unwatched,
            )
            .unwrap()
            .digest
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn a_base_image_with_run_and_a_multi_stage_copy() {
    let base = server_env("IMPRINT_TEST_BASE");
    let (p, repo) = scratch_project("multistage");
    p.file(
        "Dockerfile",
        &format!("FROM {base} AS build\nCOPY main.py /src/\nRUN echo compiled > /src/out.txt\nFROM {base}\nCOPY --from=build /src/out.txt /app/\nCOPY . /app/\n"),
    );
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--json"]).success().json();
    let image = format!("{repo}:{}", pushed["tag"].as_str().unwrap());
    docker(&["rmi", "-f", &image]);
    docker(&["pull", &image]).success();
    let out = busybox_in(&image, &["cat", "/app/out.txt"]).success();
    assert_eq!(out.stdout.trim(), "compiled");
}

#[test]
fn the_example_builds_and_pushes_on_the_test_base() {
    // Its own imprint.toml (builder = "native"), with the bases test-env made.
    let repo = repository("debt-api");
    let p = Project::new().with_servers().with_uv();
    crate::support::copy_example(&p);
    let args = [
        "--repository",
        &repo,
        "--build-arg",
        &format!("BASE={}", server_env("IMPRINT_TEST_PYTHON_BASE")),
        "--build-arg",
        &format!("UV_IMAGE={}", server_env("IMPRINT_TEST_UV_IMAGE")),
    ];
    p.run(&[&["build"][..], &args].concat()).success();
    let pushed = p
        .run(&[&["push", "--json"][..], &args].concat())
        .success()
        .json();
    let tag = p.run(&[&["tag"][..], &args].concat()).success();
    assert_eq!(tag.stdout.trim(), pushed["tag"].as_str().unwrap());
    let image = pushed["image_uri"].as_str().unwrap();
    docker(&["rmi", "-f", image]);
    docker(&["pull", image]).success();
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/cat",
        image,
        "/var/task/handlers/debts.py",
        "/var/task/pydantic/version.py",
    ])
    .success();
    assert!(out.stdout.contains("def create_debt"), "{}", out.stdout);
    assert!(out.stdout.contains("VERSION = "), "{}", out.stdout);
}

#[test]
fn a_tag_on_another_digest_is_refused() {
    let (a, repo) = scratch_project("taken");
    a.run(&["build"]).success();
    let pushed_a = a.run(&["push", "--json"]).success().json();
    // Another content whose tag already names A's image in the registry.
    let b = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &repo)
        .env("SOURCE_DATE_EPOCH", "1748271100");
    b.file("Dockerfile", "FROM scratch\nCOPY . /b/\n")
        .file("b.txt", "b\n");
    let built = b.run(&["build", "--json"]).success().json();
    let tag_b = built["tag"].as_str().unwrap();
    let registry = registry(&repo);
    let manifest_a = block_on(registry.get_manifest(pushed_a["tag"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    block_on(registry.put_manifest(tag_b, &manifest_a.media_type, manifest_a.bytes.clone()))
        .unwrap();
    let run = b.run(&["push"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{repo}:{tag_b} already exists with digest {}",
            manifest_a.digest
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("never moves a tag"), "{}", run.stderr);
}

#[test]
fn push_without_a_build_says_to_build() {
    let (p, _) = scratch_project("unbuilt");
    let run = p.run(&["push"]).usage_error();
    assert!(
        run.stderr
            .contains("no image is built for the current content"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("imprint build"), "{}", run.stderr);
}

#[test]
fn an_unreachable_registry_is_an_error_with_its_address() {
    let (p, _) = scratch_project("unreachable");
    let run = p.run(&["tag", "--repository", "127.0.0.1:9/it/nothing"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot reach the registry at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    // --offline does not ask.
    p.run(&["tag", "--offline", "--repository", "127.0.0.1:9/it/nothing"])
        .success();
}

#[test]
fn a_builder_failure_is_a_clear_error() {
    let (p, _) = scratch_project("broken");
    p.file("Dockerfile", "FROM scratch\nCOPY does-not-exist.txt /\n");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("failed to build"), "{}", run.stderr);
    assert!(run.stderr.contains("does-not-exist.txt"), "{}", run.stderr);
}

#[test]
fn the_export_is_read_from_the_daemon_and_from_the_cli_when_only_it_reaches_one() {
    let (p, repo) = scratch_project("engine");
    // A recording docker CLI that finds the test daemon by itself (as a wrapper or a sudo rule
    // would): imprint's own DOCKER_HOST can be made wrong without the CLI noticing.
    let (cli, host) = (
        server_env("IMPRINT_TEST_DOCKER_CLI"),
        server_env("IMPRINT_TEST_DOCKER_HOST"),
    );
    let (p, log) = p.with_stand_in(
        "docker",
        &format!("DOCKER_HOST='{host}' exec '{cli}' \"$@\""),
    );
    let p = p.env("IMPRINT_DOCKER", log.with_extension("").to_str().unwrap());
    p.run(&["build"]).success();
    let saves = || {
        let log = std::fs::read_to_string(&log).unwrap();
        log.lines().filter(|l| l.contains("|save ")).count()
    };

    let direct = p.run(&["push", "--json", "-v"]).success();
    assert_eq!(saves(), 0, "the daemon's socket was at hand");
    assert!(
        !direct.stderr.contains("asking the docker CLI"),
        "{}",
        direct.stderr
    );

    let p = p
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("IMPRINT_REPOSITORY", &format!("{repo}-via-cli"));
    let relayed = p.run(&["push", "--json", "-v"]).success();
    assert_eq!(saves(), 1);
    assert!(
        relayed.stderr.contains("did not export")
            && relayed.stderr.contains("asking the docker CLI"),
        "{}",
        relayed.stderr
    );
    assert_eq!(relayed.json()["outcome"], "pushed");
    assert_eq!(
        relayed.json()["digest"],
        direct.json()["digest"],
        "both ways give the same image"
    );
}

/// podman and buildah build the same context with a RUN step on the test base; imprint pushes
/// what each exported (an OCI archive with gzipped layers) and dockerd runs it.
fn build_and_push_with(builder: &str) {
    let base = server_env("IMPRINT_TEST_BASE");
    let repo = repository(&format!("with-{builder}"));
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &repo)
        .env("IMPRINT_BUILDER", builder);
    let p = [
        "CONTAINERS_STORAGE_CONF",
        "CONTAINERS_REGISTRIES_CONF",
        "BUILDAH_ISOLATION",
    ]
    .into_iter()
    .fold(p, |p, key| p.env(key, &server_env(key)));
    p.file(
        "Dockerfile",
        &format!("FROM {base}\nCOPY . /app/\nRUN echo {builder} > /app/built-by.txt\n"),
    )
    .file("main.py", "print('hi')\n");
    let built = p.run(&["build", "--json"]).success().json();
    assert_eq!(built["outcome"], "built");
    // The id the build wrote is the one the builder lists the image under.
    let again = p.run(&["build", "--json"]).success().json();
    assert_eq!(again["outcome"], "already-built");
    assert_eq!(again["image_id"], built["image_id"]);
    assert!(built["image_id"].as_str().unwrap().starts_with("sha256:"));
    let json = p.run(&["tag", "--offline", "--json"]).success().json();
    assert_eq!(json["builder"], builder);
    let pushed = p.run(&["push", "--json"]).success().json();
    assert_eq!(pushed["outcome"], "pushed");
    assert_eq!(pushed["tag"], built["tag"]);
    let again = p.run(&["push", "--json"]).success().json();
    assert_eq!(again["blobs_uploaded"], 0);
    let image = pushed["image_uri"].as_str().unwrap();
    docker(&["pull", image]).success();
    let out = busybox_in(image, &["cat", "/app/built-by.txt"]).success();
    assert_eq!(out.stdout.trim(), builder);
}

#[test]
fn podman_builds_what_imprint_pushes() {
    build_and_push_with("podman");
}

#[test]
fn buildah_builds_what_imprint_pushes() {
    build_and_push_with("buildah");
}

/// `bytes` pseudo-random (incompressible) bytes, the same on every run.
fn noise(bytes: usize) -> Vec<u8> {
    let mut out = vec![0; bytes];
    blake3::Hasher::new()
        .update(b"imprint push test noise")
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A project whose image has one 24 MB layer (over the size that is streamed).
pub(crate) fn large_layer(p: &Project) {
    p.file("Dockerfile", "FROM scratch\nCOPY big.bin /data/\n");
    std::fs::write(p.path("big.bin"), noise(24 << 20)).unwrap();
}

/// Builds and pushes a large-layer project to `name` through the ECR stand-in (which
/// refuses parts under 5 MiB but the last); the push report and the stand-in's log of the
/// repository's blob uploads.
/// Pushes a large layer through the ECR stand-in: the push's JSON report and stderr, and
/// the stand-in's log of blob uploads.
fn push_large_through_standin(name: &str) -> (serde_json::Value, String, Vec<serde_json::Value>) {
    let p = ecr_servers(name);
    large_layer(&p);
    p.run(&["build"]).success();
    let run = p.run(&["push", "--create-repo", "--json"]).success();
    let pushed = run.json();
    assert_eq!(pushed["outcome"], "pushed");
    let log = standin_log(&format!("/v2/{name}/blobs/uploads/"));
    (pushed, run.stderr, log)
}

#[test]
fn a_large_layer_streams_out_while_it_is_compressed() {
    // The plain registry: the image comes back whole through dockerd.
    let (p, repo) = scratch_project("chunked");
    large_layer(&p);
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--json"]).success().json();
    assert_eq!(pushed["outcome"], "pushed");
    assert!(
        pushed["bytes_uploaded"].as_u64().unwrap() > 24 << 20,
        "{pushed}"
    );
    let image = format!("{repo}:{}", pushed["tag"].as_str().unwrap());
    docker(&["rmi", "-f", &image]);
    let pulled = docker(&["pull", &image]);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);

    // Through the ECR stand-in.
    let name = "chunked-ecr";
    let (pushed, stderr, uploads) = push_large_through_standin(name);
    assert!(!stderr.contains("exporting the image again"), "{stderr}");
    let patches = uploads.iter().filter(|r| r["method"] == "PATCH").count();
    assert_eq!(patches, 1, "the layer streamed in one PATCH: {uploads:?}");
    // Every part taken: none refused and sent again whole.
    assert!(
        uploads.iter().all(|r| r["status"].as_u64() < Some(400)),
        "{uploads:?}"
    );
    let registry = standin_registry(name);
    let stored = block_on(registry.get_manifest(pushed["tag"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(stored.digest, pushed["digest"].as_str().unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(&stored.bytes).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        assert!(block_on(registry.has_blob(layer["digest"].as_str().unwrap())).unwrap());
    }
}

#[test]
fn a_registry_that_refuses_patch_gets_the_layer_in_one_put() {
    let name = "nochunks-layer";
    let (pushed, stderr, uploads) = push_large_through_standin(name);
    let refused: Vec<_> = uploads.iter().filter(|r| r["method"] == "PATCH").collect();
    assert_eq!(refused.len(), 1, "{uploads:?}");
    assert_eq!(refused[0]["status"], 405);
    // A streamed layer is not stored, so the image is exported again, its layers stored.
    assert!(
        stderr.contains("a streamed upload refused or cut")
            && stderr.contains("exporting the image again"),
        "{stderr}"
    );
    // The layer went whole: a PUT carrying it was taken.
    let layer = serde_json::from_slice::<serde_json::Value>(
        &block_on(standin_registry(name).get_manifest(pushed["tag"].as_str().unwrap()))
            .unwrap()
            .unwrap()
            .bytes,
    )
    .unwrap()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        uploads.iter().any(|r| r["method"] == "PUT"
            && r["status"] == 201
            && r["path"]
                .as_str()
                .unwrap()
                .contains(&layer.replace(':', "%3A"))),
        "{uploads:?}"
    );
    assert!(block_on(standin_registry(name).has_blob(&layer)).unwrap());
}

#[test]
fn the_ecr_stand_in_refuses_a_small_part_before_the_last() {
    // What keeps the test above honest: a 1 MiB part followed by more is refused, as ECR
    // refuses it; the same bytes as one last part are taken.
    let registry = standin_registry("small-parts");
    let p = ecr_servers("small-parts");
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n");
    p.run(&["build"]).success();
    p.run(&["push", "--create-repo"]).success();
    let bytes = noise(2 << 20);
    let digest = imprint::registry::sha256_digest(&bytes);
    let refused = block_on(async {
        let mut upload = registry.begin_chunked().await?;
        let first = futures_util::stream::iter([Ok(bytes[..1 << 20].to_vec())]);
        upload.send_stream(first, 1 << 20).await?;
        upload.finish(&digest, bytes[1 << 20..].to_vec()).await
    })
    .unwrap_err();
    assert!(
        refused.to_string().contains("BLOB_UPLOAD_INVALID"),
        "{refused}"
    );
    block_on(async {
        let upload = registry.begin_chunked().await?;
        upload.finish(&digest, bytes.clone()).await
    })
    .unwrap();
    assert!(block_on(registry.has_blob(&digest)).unwrap());
}
