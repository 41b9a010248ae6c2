//! `[env.NAME]` as a real target: its own region (`[env.NAME.aws] region`) and a role to
//! assume (`role_arn`, `session_name`), against moto in two regions.

use crate::support::{
    aws_python_in, ecr_project, lambda_fixture_in, server_env, status_names, Project, ECR_HOST,
};

const WEST_HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

/// Makes the repository `path` in moto's ECR in us-west-2 holding `tag` with the manifest the
/// local registry (behind the ECR stand-in) serves for it: Lambda there checks the image
/// exists in its own region's ECR, as AWS does.
fn mirror_to_west(path: &str, tag: &str) {
    let script = r#"
import boto3, sys, urllib.request
registry, path, tag = sys.argv[1:4]
request = urllib.request.Request(f"http://{registry}/v2/{path}/manifests/{tag}", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
manifest = urllib.request.urlopen(request).read().decode()
ecr = boto3.client("ecr")
ecr.create_repository(repositoryName=path)
ecr.put_image(repositoryName=path, imageManifest=manifest, imageTag=tag)
"#;
    let registry = server_env("IMPRINT_TEST_REGISTRY");
    aws_python_in(Some("us-west-2"), &["-c", script, &registry, path, tag]).success();
}

#[test]
fn each_environment_reaches_its_own_region_and_assumes_its_role() {
    let prefix = "it-envs";
    let p = Project::new().with_servers().with_aws().env(
        "IMPRINT_REGISTRY_ENDPOINT",
        &format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN")),
    );
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file(".dockerignore", "imprint.toml\n")
        .file("main.py", "print('envs')\n")
        .file(
            "imprint.toml",
            &format!(
                "[registry]\nrepository = \"{ECR_HOST}/{prefix}\"\n\
                 [deploy]\nfunctions = [\"{prefix}-0\", \"{prefix}-1\"]\n\
                 [env.west]\nregistry.repository = \"{WEST_HOST}/{prefix}\"\naws.region = \"us-west-2\"\n\
                 [env.prod.aws]\nrole_arn = \"arn:aws:iam::123456789012:role/deployer\"\nsession_name = \"imprint-it\"\n"
            ),
        );
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let tag = pushed["tag"].as_str().unwrap();
    mirror_to_west(prefix, tag);
    // Two functions in us-west-2 only: the default region (us-east-1) has none of them.
    let west_uri = format!("{WEST_HOST}/{prefix}:{tag}");
    lambda_fixture_in(
        Some("us-west-2"),
        &["create", prefix, "2", &west_uri, "--tag", "app=envs"],
    )
    .success();
    let west = p
        .run(&["status", "--env", "west", "--json"])
        .success()
        .json();
    assert_eq!(
        status_names(&west),
        [format!("{prefix}-0"), format!("{prefix}-1")],
        "{west}"
    );
    assert_eq!(west["image_tag"], tag, "{west}");
    // Every environment side by side: prod (us-east-1, the assumed role) has no such
    // functions, which is its error and the exit status.
    let all = p.run(&["status", "--env", "all", "--json"]);
    assert_eq!(all.code, 1, "{}", all.stderr);
    let all = all.json();
    let envs = all["environments"].as_array().unwrap();
    let names: Vec<&str> = envs.iter().map(|e| e["env"].as_str().unwrap()).collect();
    assert_eq!(names, ["prod", "west"]);
    assert_eq!(envs[1]["status"]["image_tag"], tag, "{all}");
    assert!(
        envs[0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{prefix}-0")),
        "{all}"
    );
    let human = p.run(&["status", "--env", "all"]).stdout;
    assert!(
        human.contains("[env.prod]") && human.contains("[env.west]"),
        "{human}"
    );
    let east = p.run(&["status"]);
    assert_ne!(
        east.code, 0,
        "us-east-1 has no such functions: {}",
        east.stdout
    );
    assert!(
        east.stderr.contains(&format!("{prefix}-0")),
        "{}",
        east.stderr
    );

    // The role is assumed with the credentials found; STS says who is deploying.
    let prod = p
        .run(&[
            "doctor",
            "--env",
            "prod",
            "--check",
            "credentials",
            "--json",
        ])
        .success()
        .json();
    let who = prod["checks"][0]["detail"].as_str().unwrap();
    assert!(who.contains("assumed-role/deployer/imprint-it"), "{who}");
    let base = p
        .run(&["doctor", "--check", "credentials", "--json"])
        .success()
        .json();
    assert!(!base["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("assumed-role"));
}

#[test]
fn a_bad_aws_setting_names_the_file_and_line() {
    let p = ecr_project(
        "it-envs-bad",
        "[env.prod.aws]\nrole_arn = \"arn:aws:iam::1:user/me\"\n",
    );
    let run = p.run(&["status", "--env", "prod"]).usage_error();
    assert!(run.stderr.contains("imprint.toml:2"), "{}", run.stderr);
    assert!(run.stderr.contains("role_arn"), "{}", run.stderr);
}
