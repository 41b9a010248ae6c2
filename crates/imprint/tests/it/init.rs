//! `imprint init` on the example (its imprint.toml and Makefile removed), with image functions
//! running in moto: the file it writes names the Dockerfile, the repository and exactly the
//! functions running images from it, and imprint reads it back.

use crate::support::{
    copy_example, create_functions, ecr_project, server_env, status_names, Project, ECR_HOST,
};

#[test]
fn init_writes_the_example_a_config_naming_the_functions_running_its_repository() {
    let prefix = "it-init";
    let repository = format!("{ECR_HOST}/{prefix}");
    // An image in the repository, and two functions running it (tagged), beside one running
    // another repository's image.
    let image = ecr_project(prefix, "");
    image.run(&["build", "--offline"]).success();
    let pushed = image
        .run(&["push", "--create-repo", "--json"])
        .success()
        .json();
    let tag = pushed["tag"].as_str().unwrap();
    let uri = format!("{repository}:{tag}");
    create_functions(prefix, 2, &uri, "app=it-init");
    let other = ecr_project("it-init-other", "");
    other.run(&["build", "--offline"]).success();
    let other_tag = other
        .run(&["push", "--create-repo", "--json"])
        .success()
        .json()["tag"]
        .as_str()
        .unwrap()
        .to_string();
    create_functions(
        "it-init-other",
        1,
        &format!("{ECR_HOST}/it-init-other:{other_tag}"),
        "app=it-init-other",
    );

    let p = Project::new().with_servers().with_aws().env(
        "IMPRINT_REGISTRY_ENDPOINT",
        &format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN")),
    );
    copy_example(&p);
    std::fs::remove_file(p.path("imprint.toml")).unwrap();
    std::fs::remove_file(p.path("Makefile")).unwrap();

    let report = p
        .run(&["init", "--repository", &repository, "--makefile", "--json"])
        .success()
        .json();
    let names = [format!("{prefix}-0"), format!("{prefix}-1")];
    assert_eq!(
        report["proposal"]["functions"],
        serde_json::json!(names),
        "{report}"
    );
    assert_eq!(report["found"]["ignore_file"], ".dockerignore", "{report}");
    assert_eq!(
        report["written"],
        serde_json::json!(["imprint.toml", "Makefile"])
    );
    let written = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    assert!(written.contains("dockerfile = \"Dockerfile\""), "{written}");
    // The example's Dockerfile is one the native builder follows: init proposes it.
    assert!(written.contains("builder = \"native\""), "{written}");
    assert!(!written.contains("it-init-other"), "{written}");

    // imprint reads it back: status shows exactly those functions (the base image is the
    // local one scripts/test-env makes: nothing here reaches public.ecr.aws).
    let base = format!("BASE={}", server_env("IMPRINT_TEST_PYTHON_BASE"));
    let uv = format!("UV_IMAGE={}", server_env("IMPRINT_TEST_UV_IMAGE"));
    let status = p
        .run(&["status", "--build-arg", &base, "--build-arg", &uv, "--json"])
        .success()
        .json();
    assert_eq!(status_names(&status), names, "{status}");
    // The Makefile's targets are imprint calls.
    let dry = p
        .program("make", &["-n", "deploy", "ENV=prod"])
        .output()
        .unwrap();
    let dry = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.contains("imprint --env prod deploy --yes"), "{dry}");

    // Never overwritten.
    let again = p.run(&["init", "--repository", &repository]).usage_error();
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(p.path("imprint.toml")).unwrap(),
        written
    );
    // A broken imprint.toml exists too: named as not overwritten, not parsed first.
    std::fs::write(p.path("imprint.toml"), "[deploy\nbroken").unwrap();
    let broken = p.run(&["init", "--repository", &repository]).usage_error();
    assert!(
        broken.stderr.contains("already exists"),
        "{}",
        broken.stderr
    );
    std::fs::write(p.path("imprint.toml"), &written).unwrap();

    // By tag: the selector is written, and the repository is the one those functions run.
    let printed = p
        .run(&["init", "--select", "app=it-init", "--print"])
        .success()
        .stdout;
    assert!(
        printed.contains("select = { tag = \"app\", value = \"it-init\" }"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("repository = \"{repository}\"")),
        "{printed}"
    );
}

#[test]
fn init_without_a_dockerfile_says_where_it_looked() {
    let p = Project::new();
    p.file("main.py", "print('no image')\n");
    let run = p
        .run(&["init", "--repository", "127.0.0.1:5000/x"])
        .usage_error();
    assert!(run.stderr.contains("no Dockerfile"), "{}", run.stderr);
    assert!(!p.path("imprint.toml").exists());
}
