//! What the tree says about itself besides its content: git and version placeholders in
//! tags, the OCI labels of a build, `--require-clean`, the commit a deploy records; and never
//! the content hash.

use crate::deploy::group;
use crate::support::{docker, Project};

/// Runs git in the project (its own identity: the tests' HOME has no git config).
fn git(p: &Project, args: &[&str]) -> String {
    let mut all = vec![
        "-c",
        "user.name=imprint tests",
        "-c",
        "user.email=tests@example.com",
    ];
    all.extend_from_slice(args);
    let run = crate::support::output(p.program("git", &all).output().unwrap());
    assert_eq!(run.code, 0, "git {args:?}: {}", run.stderr);
    run.stdout.trim().to_string()
}

fn files(p: &Project) {
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file(".dockerignore", ".git\n")
        .file("main.py", "print('source')\n")
        .file(
            "pyproject.toml",
            "[project]\nname = \"api\"\nversion = \"2.3.0\"\n",
        );
}

/// A git checkout on `main` with one commit and a clone URL that carries a token.
fn checkout() -> (Project, String) {
    let p = Project::new().with_servers();
    files(&p);
    git(&p, &["init", "-q", "-b", "main"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "first"]);
    git(
        &p,
        &[
            "remote",
            "add",
            "origin",
            "https://x-access-token:ghs_secret@example.com/acme/api.git",
        ],
    );
    let commit = git(&p, &["rev-parse", "HEAD"]);
    (p, commit)
}

#[test]
fn tags_carry_version_branch_and_commit_but_the_hash_never_depends_on_git() {
    let (p, commit) = checkout();
    let template = "{version}-{branch}-{git:7}-{hash:8}";
    let tagged = p
        .run(&["tag", "--offline", "--json", "--template", template])
        .success()
        .json();
    let tag = tagged["tag"].as_str().unwrap();
    let hash = tagged["hash"].as_str().unwrap();
    assert_eq!(tag, format!("2.3.0-main-{}-{}", &commit[..7], &hash[..8]));
    let given = p
        .run(&[
            "tag",
            "--offline",
            "--json",
            "--template",
            template,
            "--app-version",
            "9.9+rc1",
        ])
        .success()
        .json();
    assert!(
        given["tag"].as_str().unwrap().starts_with("9.9-rc1-main-"),
        "{given}"
    );
    // A branch name with a slash, checked out.
    git(&p, &["checkout", "-q", "-b", "feature/login"]);
    let branch = p
        .run(&[
            "tag",
            "--offline",
            "--json",
            "--template",
            "{branch}-{hash}",
        ])
        .success()
        .json();
    assert_eq!(branch["tag"], format!("feature-login-{}", &hash[..8]));

    // The same files without git (a tarball): the same hash; a template naming git fails
    // with what to do.
    let tarball = Project::new();
    files(&tarball);
    let plain = tarball
        .run(&["tag", "--offline", "--json"])
        .success()
        .json();
    assert_eq!(plain["hash"], tagged["hash"]);
    let refused = tarball
        .run(&["tag", "--offline", "--template", template])
        .usage_error();
    assert!(
        refused.stderr.contains("uses {branch}"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("git checkout"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_build_is_labelled_with_its_source_and_a_dirty_tree_warns_or_is_refused() {
    let (p, commit) = checkout();
    let p = p.env(
        "IMPRINT_REPOSITORY",
        &format!(
            "{}/it/source-labels",
            crate::support::server_env("IMPRINT_TEST_REGISTRY")
        ),
    );
    let built = p.run(&["build", "--offline", "--json"]).success();
    assert!(!built.stderr.contains("not committed"), "{}", built.stderr);
    let image = built.json()["image"].as_str().unwrap().to_string();
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &image])
        .success()
        .stdout;
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.opencontainers.image.revision"], commit);
    assert_eq!(
        labels["org.opencontainers.image.source"], "https://example.com/acme/api.git",
        "the clone URL's token stays out of the image"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "2.3.0");
    let created = labels["org.opencontainers.image.created"].as_str().unwrap();
    assert!(imprint_context::parse_utc(created).is_some(), "{created}");

    p.file("main.py", "print('edited, not committed')\n");
    let refused = p
        .run(&["build", "--offline", "--require-clean"])
        .usage_error();
    assert!(
        refused.stderr.contains("not committed"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("git status"), "{}", refused.stderr);
    let warned = p.run(&["build", "--offline"]).success();
    assert!(warned.stderr.contains("not committed"), "{}", warned.stderr);
    // What goes out is refused from a dirty tree too: push, as build and deploy.
    let refused = p.run(&["push", "--require-clean"]).usage_error();
    assert!(
        refused.stderr.contains("not committed"),
        "{}",
        refused.stderr
    );
    // IMPRINT_REQUIRE_CLEAN takes what CI systems write for yes and no.
    for (value, refuses) in [
        ("1", true),
        ("yes", true),
        ("true", true),
        ("0", false),
        ("no", false),
    ] {
        let mut build = p.command(&["build", "--offline"]);
        build.env("IMPRINT_REQUIRE_CLEAN", value);
        let run = crate::support::output(build.output().unwrap());
        assert_eq!(
            run.code,
            if refuses { 2 } else { 0 },
            "{value}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("not committed"),
            "{value}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_deploy_records_the_commit_and_whether_the_tree_was_dirty() {
    let g = group("it-source-journal", 1);
    git(&g.p, &["init", "-q", "-b", "main"]);
    git(&g.p, &["add", "-A"]);
    git(&g.p, &["commit", "-q", "-m", "deployed"]);
    let commit = git(&g.p, &["rev-parse", "HEAD"]);
    g.deploy(&[]).success();
    let history = g.p.run(&["history", "--json"]).success().json();
    let newest = &history.as_array().unwrap()[0];
    assert_eq!(newest["checkout"]["commit"], commit, "{history}");
    assert_eq!(newest["checkout"]["dirty"], false, "{history}");
    assert_eq!(newest["checkout"]["branch"], "main", "{history}");
}
