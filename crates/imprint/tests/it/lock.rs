//! imprint.lock against the real registry: base images pinned by digest, a moved base tag
//! changes nothing until `imprint lock --update`, and builds use the locked digest.

use imprint::registry::{Registry, Repository};

use crate::support::{busybox_in, docker, docker_with_stdin, server_env, Project};

/// Pushes an image made from the test base (plus `marker`, if any) as `repo:1`.
fn push_base(repo: &str, marker: Option<&str>) -> String {
    let base = server_env("IMPRINT_TEST_BASE");
    let image = format!("{repo}:1");
    let dockerfile = match marker {
        Some(m) => format!("FROM {base}\nRUN echo {m} > /marker\n"),
        None => format!("FROM {base}\n"),
    };
    docker_with_stdin(&["build", "-q", "-t", &image, "-"], Some(&dockerfile)).success();
    docker(&["push", &image]).success();
    let name = Repository::parse(repo).unwrap();
    let registry = Registry::new(name, None, None).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(registry.manifest_digest("1"))
        .unwrap()
        .unwrap()
}

fn project(base_repo: &str, name: &str) -> Project {
    let repo = format!("{}/it/{name}", server_env("IMPRINT_TEST_REGISTRY"));
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &repo);
    p.file(
        "Dockerfile",
        &format!("ARG BASE={base_repo}:1\nFROM $BASE\nCOPY . /app/\n"),
    )
    .file(".dockerignore", "imprint.lock\n")
    .file("main.py", "print('lock')\n");
    p
}

#[test]
fn a_moved_base_changes_the_tag_only_after_lock_update() {
    let base_repo = format!("{}/it/lockbase-moved", server_env("IMPRINT_TEST_REGISTRY"));
    let first_digest = push_base(&base_repo, None);
    let p = project(&base_repo, "lock-moved");

    let before = p.run(&["tag", "--json"]).success();
    assert!(before.stderr.contains("wrote"), "{}", before.stderr);
    let before = before.json();
    assert_eq!(
        before["base_images"][0]["reference"],
        format!("{base_repo}:1")
    );
    assert_eq!(before["base_images"][0]["digest"], first_digest);
    let lock = std::fs::read_to_string(p.path("imprint.lock")).unwrap();
    assert!(lock.contains(&first_digest), "{lock}");
    assert!(lock.contains("platform = \"linux/amd64\""), "{lock}");

    // Offline with a lock hashes exactly as online.
    let offline = p.run(&["tag", "--offline", "--json"]).success().json();
    assert_eq!(offline["hash"], before["hash"]);

    // Someone moves the base tag: nothing changes until the lock is updated.
    let moved_digest = push_base(&base_repo, Some("moved"));
    assert_ne!(moved_digest, first_digest);
    let still = p.run(&["tag", "--json"]).success().json();
    assert_eq!(still["hash"], before["hash"]);

    // The build pins the locked digest: the moved base's file is not in the image.
    let built = p.run(&["build", "--json"]).success().json();
    let image = built["image"].as_str().unwrap();
    let run = busybox_in(image, &["ls", "/marker"]);
    assert_ne!(run.code, 0, "the build used the moved base: {}", run.stdout);

    let updated = p.run(&["lock", "--update", "--json"]).success().json();
    assert_eq!(updated["images"][0]["digest"], moved_digest);
    let after = p.run(&["tag", "--json"]).success().json();
    assert_ne!(after["hash"], before["hash"]);
    assert_eq!(after["base_images"][0]["digest"], moved_digest);
}

#[test]
fn locked_without_an_entry_fails_and_offline_says_unresolved() {
    let base_repo = format!("{}/it/lockbase-strict", server_env("IMPRINT_TEST_REGISTRY"));
    push_base(&base_repo, None);
    let p = project(&base_repo, "lock-strict");
    let run = p.run(&["tag", "--locked"]).usage_error();
    assert!(
        run.stderr.contains("imprint.lock has no entry for"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--locked"), "{}", run.stderr);
    assert!(!p.path("imprint.lock").exists());
    // Offline too: --locked promises that the lock decided every base image.
    let run = p.run(&["tag", "--offline", "--locked"]).usage_error();
    assert!(
        run.stderr.contains("imprint.lock has no entry for"),
        "{}",
        run.stderr
    );

    let offline = p.run(&["tag", "--offline", "--json"]).success();
    assert!(
        offline.stderr.contains("the reference text is hashed"),
        "{}",
        offline.stderr
    );
    let offline = offline.json();
    assert_eq!(offline["base_images"], "unresolved");
    assert!(
        !p.path("imprint.lock").exists(),
        "offline must not write the lock"
    );

    let locked = p.run(&["lock", "--json"]).success().json();
    assert_eq!(locked["images"].as_array().unwrap().len(), 1);
    let online = p.run(&["tag", "--locked", "--json"]).success().json();
    assert_ne!(
        online["hash"], offline["hash"],
        "an unresolved base hashes differently from a locked one"
    );
}

#[test]
fn a_missing_base_image_is_an_error_naming_it() {
    let base_repo = format!("{}/it/never-pushed", server_env("IMPRINT_TEST_REGISTRY"));
    let p = project(&base_repo, "lock-missing");
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("failed to resolve the base image {base_repo}:1")),
        "{}",
        run.stderr
    );
}
