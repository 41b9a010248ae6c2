//! Promotion: `deploy --env prod --tag T` copies the image another environment pushed into
//! prod's repository, by digest, with its index artifact; then moves prod's functions to it.

use serde_json::Value;

use crate::deploy::block_on;
use crate::support::{create_functions, server_env, Project, ECR_HOST};
use imprint::registry::{Registry, Repository};

/// A client for `repository` at `endpoint` (plain HTTP on loopback).
fn registry(repository: &str, endpoint: Option<&str>) -> Registry {
    Registry::new(Repository::parse(repository).unwrap(), endpoint, None).unwrap()
}

fn digest_at(registry: &Registry, tag: &str) -> Option<String> {
    block_on(registry.manifest_digest(tag)).unwrap()
}

/// Builds and pushes the project's image to its base repository; its tag and digest.
fn push(p: &Project) -> (String, String) {
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let field = |k: &str| pushed[k].as_str().unwrap().to_string();
    (field("tag"), field("digest"))
}

fn copied(report: &Value, key: &str) -> u64 {
    report["promoted"]["copied"][key].as_u64().unwrap()
}

#[test]
fn deploying_a_tag_into_another_ecr_repository_copies_it_by_digest_with_its_index_artifact() {
    let prefix = "it-promo";
    let (dev, prod) = (format!("{prefix}-dev"), format!("{prefix}-prod"));
    let standin = format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN"));
    let p = Project::new().with_servers().with_aws().env(
        "AWS_ENDPOINT_URL_LAMBDA",
        &server_env("IMPRINT_TEST_FAULT_PROXY"),
    );
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file(".dockerignore", "imprint.toml\n")
        .file("main.py", "print('promoted')\n")
        .file(
            "imprint.toml",
            &format!(
                "[registry]\nrepository = \"{ECR_HOST}/{dev}\"\nendpoint = \"{standin}\"\n\
                 [deploy]\nfunctions = [\"{prefix}-0\", \"{prefix}-1\"]\n\
                 [env.prod]\nregistry.repository = \"{ECR_HOST}/{prod}\"\n\
                 [env.dev]\nregistry.repository = \"{ECR_HOST}/{dev}\"\n"
            ),
        );
    let (tag, digest) = push(&p);
    create_functions(prefix, 2, &format!("{ECR_HOST}/{dev}:{tag}"), "app=promo");

    // prod's repository does not exist yet: refused before anything is copied or changed.
    let refused = p
        .run(&["deploy", "--env", "prod", "--tag", &tag, "--yes"])
        .usage_error();
    assert!(
        refused.stderr.contains("--create-repo"),
        "{}",
        refused.stderr
    );

    let report = p
        .run(&[
            "deploy",
            "--env",
            "prod",
            "--tag",
            &tag,
            "--create-repo",
            "--yes",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(report["digest"], digest.as_str(), "{report}");
    assert_eq!(report["promoted"]["digest"], digest.as_str(), "{report}");
    // The stand-in answers a mount as ECR does with blob mounting off (a plain upload), so
    // the config and the layer were read from dev and sent.
    assert_eq!(copied(&report, "blobs_sent"), 2, "{report}");
    assert_eq!(copied(&report, "blobs_mounted"), 0, "{report}");
    let prod_uri = format!("{ECR_HOST}/{prod}:{tag}");
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["image"]["uri"], prod_uri.as_str(), "{report}");
    }
    let prod_registry = crate::support::standin_registry(&prod);
    assert_eq!(digest_at(&prod_registry, &tag).as_deref(), Some(&*digest));
    let artifact = report["promoted"]["artifact"].as_str().unwrap();
    assert!(artifact.starts_with("imprint-"), "{report}");
    let dev_registry = crate::support::standin_registry(&dev);
    assert_eq!(
        digest_at(&prod_registry, artifact),
        digest_at(&dev_registry, artifact),
        "the index artifact is the same bytes in both"
    );
    // prod finds the local tree's image through the copied artifact.
    let status = p
        .run(&["status", "--env", "prod", "--json"])
        .success()
        .json();
    assert_eq!(status["image_tag"], tag.as_str(), "{status}");
    assert_eq!(status["local_pushed"], true, "{status}");

    // Again: the tag is there, nothing is copied, every function already runs it.
    let again = p
        .run(&["deploy", "--env", "prod", "--tag", &tag, "--yes", "--json"])
        .success()
        .json();
    assert!(again.get("promoted").is_none(), "{again}");
    assert_eq!(again["outcome"], "up-to-date", "{again}");
    // Named as the source, it is checked against it, and nothing is written again (prod's
    // tags are immutable: ECR refuses even the same manifest at a tag it holds).
    let named = p
        .run(&[
            "deploy", "--env", "prod", "--tag", &tag, "--from", "dev", "--yes", "--json",
        ])
        .success()
        .json();
    assert_eq!(named["promoted"]["copied"]["manifests"], 0, "{named}");
    assert_eq!(named["promoted"]["artifact"], artifact, "{named}");
}

#[test]
fn promotion_within_one_registry_mounts_and_a_moved_tag_is_refused() {
    let host = server_env("IMPRINT_TEST_REGISTRY");
    let port = host.rsplit(':').next().unwrap();
    // `localhost` is the same registry under another name: no mount is tried there.
    let other = format!("localhost:{port}");
    let p = Project::new().with_servers();
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file(".dockerignore", "imprint.toml\n")
        .file("main.py", "print('mounted')\n")
        .file(
            "imprint.toml",
            &format!(
                "[registry]\nrepository = \"{host}/promo/dev\"\n\
                 [deploy]\nowner = \"pulumi\"\n\
                 [env.prod]\nregistry.repository = \"{host}/promo/prod\"\n\
                 [env.other]\nregistry.repository = \"{other}/promo/other\"\n\
                 [env.bad]\nregistry.repository = \"{host}/promo/bad\"\naws.role_arn = \"arn:aws:iam::1:user/me\"\n"
            ),
        );
    let (tag, digest) = push(&p);
    let report = p
        .run(&["deploy", "--env", "prod", "--tag", &tag, "--json"])
        .success()
        .json();
    assert_eq!(report["outcome"], "pushed", "{report}");
    assert_eq!(copied(&report, "blobs_mounted"), 2, "{report}");
    assert_eq!(copied(&report, "blobs_sent"), 0, "{report}");

    let report = p
        .run(&[
            "deploy", "--env", "other", "--tag", &tag, "--from", "prod", "--json",
        ])
        .success()
        .json();
    assert_eq!(
        report["promoted"]["from"],
        format!("{host}/promo/prod:{tag}")
    );
    assert_eq!(copied(&report, "blobs_sent"), 2, "{report}");
    let other_registry = registry(
        &format!("{other}/promo/other"),
        Some(&format!("http://{host}")),
    );
    assert_eq!(digest_at(&other_registry, &tag).as_deref(), Some(&*digest));

    // A tag that names another image in the target is never moved.
    let artifact = report["promoted"]["artifact"].as_str().unwrap();
    let manifest = block_on(other_registry.get_manifest(artifact))
        .unwrap()
        .unwrap();
    block_on(other_registry.put_manifest(&tag, &manifest.media_type, manifest.bytes)).unwrap();
    let refused = p
        .run(&["deploy", "--env", "other", "--tag", &tag, "--from", "prod"])
        .usage_error();
    assert!(
        refused.stderr.contains("never moves a tag"),
        "{}",
        refused.stderr
    );
    // imprint's own artifacts are never promoted: exit 2 naming what it is.
    let refused = p
        .run(&[
            "deploy", "--env", "other", "--tag", artifact, "--from", "prod",
        ])
        .usage_error();
    assert!(
        refused.stderr.contains("is imprint's index artifact"),
        "{}",
        refused.stderr
    );
    let unknown = p
        .run(&["deploy", "--env", "other", "--tag", &tag, "--from", "nope"])
        .usage_error();
    assert!(unknown.stderr.contains("[env.nope]"), "{}", unknown.stderr);
    // A source environment's own [aws] is checked as the run's is.
    let bad = p
        .run(&["deploy", "--env", "other", "--tag", &tag, "--from", "bad"])
        .usage_error();
    assert!(
        bad.stderr.contains("[env.bad] aws: role_arn"),
        "{}",
        bad.stderr
    );
}
