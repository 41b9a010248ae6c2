//! ECR against moto: the authorization token through the AWS SDK (cached 0600, refreshed,
//! a corrupt cache discarded), `--create-repo`, and `imprint login` checked through a
//! recording `docker` stand-in: the token arrives on stdin, never in argv or logs.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{aws_python, lambda_fixture, output, server_env, Project};

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// What moto's GetAuthorizationToken hands out (base64 of `AWS:<this>`).
const MOTO_TOKEN: &str = "123456789012-auth-token";

fn ecr_project(name: &str) -> Project {
    let p = Project::new()
        .with_servers()
        .with_aws()
        .env("IMPRINT_REPOSITORY", &format!("{ECR_HOST}/it/{name}"))
        // ECR's registry protocol is played by the local registry, on loopback.
        .env(
            "IMPRINT_REGISTRY_ENDPOINT",
            &format!("http://{}", server_env("IMPRINT_TEST_REGISTRY")),
        );
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file("main.py", &format!("print('{name}')\n"));
    p
}

fn cache_file(p: &Project) -> std::path::PathBuf {
    p.home()
        .join(".cache/imprint/ecr-token-123456789012-us-east-1.json")
}

/// A recording `docker` stand-in: writes its arguments and stdin to files, says it logged in.
fn recording_docker(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("docker");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\n# Recording docker stand-in for tests: records argv and stdin.\nprintf '%s\\n' \"$@\" > '{0}/argv'\ncat > '{0}/stdin'\necho 'Login Succeeded'\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn deploy_to_a_missing_repository_takes_create_repo_as_its_hint_says() {
    let p = ecr_project("ecr-deploy-create");
    // A missing function is found before anything is built, pushed or created.
    p.file(
        "imprint.toml",
        "[deploy]\nfunctions = [\"ecr-deploy-create-fn\"]\n",
    );
    let run = p.run(&["deploy", "--yes", "--create-repo"]).usage_error();
    assert!(
        run.stderr
            .contains("the Lambda function ecr-deploy-create-fn does not exist"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("created the ECR repository"),
        "{}",
        run.stderr
    );
    // With Pulumi moving the functions, deploy builds and pushes: a missing repository is
    // refused with the flag the hint names, which deploy takes.
    p.file("imprint.toml", "[deploy]\nowner = \"pulumi\"\n");
    p.run(&["build", "--offline"]).success();
    let run = p.run(&["deploy", "--yes"]).usage_error();
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(run.stderr.contains("--create-repo"), "{}", run.stderr);
    let run = p
        .run(&["deploy", "--yes", "--create-repo", "--json"])
        .success();
    assert!(
        run.stderr
            .contains("created the ECR repository it/ecr-deploy-create"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["outcome"], "pushed");
    assert_eq!(
        p.run(&["push", "--json"]).success().json()["outcome"],
        "already-pushed"
    );
}

#[test]
fn push_to_an_ecr_host_needs_the_repository_or_create_repo() {
    let p = ecr_project("ecr-push");
    p.run(&["build", "--offline"]).success();
    let run = p.run(&["push"]).usage_error();
    assert!(
        run.stderr
            .contains("the ECR repository it/ecr-push does not exist"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--create-repo"), "{}", run.stderr);
    let run = p.run(&["push", "--create-repo", "--json"]).success();
    assert!(
        run.stderr
            .contains("created the ECR repository it/ecr-push"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["outcome"], "pushed");
    // The repository exists now; a second push needs no flag.
    p.run(&["push"]).success();
    let cache = cache_file(&p);
    let mode = fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token cache must be private");
    let cached: serde_json::Value = serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["username"], "AWS");
    assert_eq!(cached["password"], MOTO_TOKEN);
}

#[test]
fn login_passes_the_token_on_stdin_only() {
    let p = ecr_project("ecr-login");
    let dir = tempfile::tempdir().unwrap();
    let docker = recording_docker(dir.path());
    let mut cmd = p.command(&["login", "-vv"]);
    let run = output(cmd.env("IMPRINT_DOCKER", &docker).output().unwrap()).success();
    let argv = fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        ["login", "--username", "AWS", "--password-stdin", ECR_HOST]
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        MOTO_TOKEN
    );
    assert!(!argv.contains(MOTO_TOKEN));
    assert!(
        !run.stderr.contains(MOTO_TOKEN),
        "the token reached the logs: {}",
        run.stderr
    );
    assert!(!run.stdout.contains(MOTO_TOKEN));
    assert!(
        run.stdout
            .contains(&format!("logged in to {ECR_HOST} as AWS")),
        "{}",
        run.stdout
    );
}

#[test]
fn the_token_cache_is_used_refreshed_and_discarded_when_corrupt() {
    let p = ecr_project("ecr-cache");
    let dir = tempfile::tempdir().unwrap();
    let docker = recording_docker(dir.path());
    let login = |p: &Project| {
        let mut cmd = p.command(&["login"]);
        output(cmd.env("IMPRINT_DOCKER", &docker).output().unwrap())
    };
    let cache = cache_file(&p);
    fs::create_dir_all(cache.parent().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // Fresh: used as it is, no call to ECR.
    fs::write(
        &cache,
        format!(
            r#"{{"username":"AWS","password":"cached-secret","expires_at":{}}}"#,
            now + 11 * 3600
        ),
    )
    .unwrap();
    login(&p).success();
    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        "cached-secret"
    );

    // Near its expiry: fetched again and the cache rewritten.
    fs::write(
        &cache,
        format!(
            r#"{{"username":"AWS","password":"stale","expires_at":{}}}"#,
            now + 600
        ),
    )
    .unwrap();
    login(&p).success();
    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        MOTO_TOKEN
    );
    let cached: serde_json::Value = serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
    assert!(cached["expires_at"].as_u64().unwrap() > now + 3 * 3600);

    // Corrupt: discarded with a warning.
    fs::write(&cache, "{not json").unwrap();
    let run = login(&p).success();
    assert!(
        run.stderr.contains("is corrupt; discarding it"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        MOTO_TOKEN
    );
}

#[test]
fn an_ecr_token_is_never_sent_off_ecr_or_loopback() {
    let p = ecr_project("ecr-guard").env(
        "IMPRINT_REGISTRY_ENDPOINT",
        "https://registry.example.invalid",
    );
    let run = p.run(&["tag"]).usage_error();
    assert!(
        run.stderr
            .contains("imprint does not send an ECR token there"),
        "{}",
        run.stderr
    );
    assert!(!cache_file(&p).exists(), "no token may be fetched for it");
}

#[test]
fn login_refuses_a_registry_that_is_not_ecr() {
    let p = Project::new().env("IMPRINT_REPOSITORY", "127.0.0.1:5000/x");
    let run = p.run(&["login"]).usage_error();
    assert!(
        run.stderr.contains("is not an ECR registry"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("docker login 127.0.0.1:5000"),
        "{}",
        run.stderr
    );
}

/// moto's view of an ECR repository's images: (tag, digest) pairs.
fn moto_images(repository: &str) -> Vec<(String, String)> {
    let script = "import boto3, json, sys\nimages = boto3.client('ecr').describe_images(repositoryName=sys.argv[1])['imageDetails']\nprint(json.dumps([[t, i['imageDigest']] for i in images for t in i.get('imageTags', [])]))";
    let run = aws_python(&["-c", script, repository]).success();
    let pairs: Vec<(String, String)> = serde_json::from_str(run.stdout.trim()).unwrap();
    pairs
}

#[test]
fn a_push_through_the_ecr_stand_in_lands_in_motos_ecr() {
    let p = ecr_project("ecr-standin").env(
        "IMPRINT_REGISTRY_ENDPOINT",
        &format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN")),
    );
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let images = moto_images("it/ecr-standin");
    let tag = pushed["tag"].as_str().unwrap().to_string();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert!(
        images.contains(&(tag, digest)),
        "moto's ECR holds {images:?}"
    );
    // The index artifact went through the same path.
    assert!(
        images.iter().any(|(t, _)| t.starts_with("imprint-")),
        "{images:?}"
    );
}

/// The chain deploy will stand on: an image imprint pushed through the ECR stand-in is one
/// that Lambda in moto (strict about images) accepts for a group of functions.
#[test]
fn lambda_in_moto_runs_an_image_imprint_pushed() {
    // moto's Lambda reads only the last path component of an image's repository (a moto gap:
    // real ECR has nested names), so this repository has one component.
    let p = ecr_project("ecr-lambda")
        .env("IMPRINT_REPOSITORY", &format!("{ECR_HOST}/it-ecr-lambda"))
        .env(
            "IMPRINT_REGISTRY_ENDPOINT",
            &format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN")),
        );
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let image_uri = pushed["image_uri"].as_str().unwrap();
    let names = lambda_fixture(&[
        "create",
        "it-ecr-lambda",
        "3",
        image_uri,
        "--tag",
        "app=it-ecr-lambda",
    ])
    .success()
    .json();
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["it-ecr-lambda-0", "it-ecr-lambda-1", "it-ecr-lambda-2"]
    );
    let shown = lambda_fixture(&[&["show"][..], &names].concat())
        .success()
        .json();
    for name in names {
        assert_eq!(shown[name]["ImageUri"], image_uri, "{shown}");
    }
    // Strict mode: an image moto's ECR does not hold is refused.
    let missing = format!("{ECR_HOST}/it-ecr-lambda:not-pushed");
    assert_ne!(
        lambda_fixture(&["create", "it-ecr-lambda-missing", "1", &missing]).code,
        0,
        "moto accepted an image its ECR does not hold"
    );
}

#[test]
fn push_rebuild_on_a_repository_with_immutable_tags_never_moves_a_tag() {
    use crate::deploy::block_on;
    let p = crate::support::ecr_project("it-ecr-immutable", "");
    p.run(&["build", "--offline"]).success();
    let run = p.run(&["push", "--create-repo", "--json"]).success();
    assert!(run.stderr.contains("(immutable tags)"), "{}", run.stderr);
    let first = run.json();
    let hash = first["hash"].as_str().unwrap().to_string();
    let mut pushed = vec![first];
    for _ in 0..2 {
        p.run(&["build", "--rebuild"]).success();
        pushed.push(p.run(&["push", "--rebuild", "--json"]).success().json());
        // The newest push is what the registry now names for this content.
        assert_eq!(
            p.run(&["tag"]).success().stdout.trim(),
            pushed.last().unwrap()["tag"].as_str().unwrap()
        );
    }
    assert_ne!(pushed[0]["digest"], pushed[2]["digest"]);
    let registry = crate::support::standin_registry("it-ecr-immutable");
    let mut tags = block_on(registry.tags()).unwrap();
    tags.sort();
    let mut want = vec![
        format!("imprint-{hash}"),
        format!("imprint-{hash}-2"),
        format!("imprint-{hash}-3"),
    ];
    want.extend(
        pushed
            .iter()
            .map(|p| p["tag"].as_str().unwrap().to_string()),
    );
    want.sort();
    assert_eq!(tags, want);
    // The stand-in refuses to move a tag, as ECR does (even to the same manifest).
    let manifest = block_on(registry.get_manifest(pushed[0]["tag"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    let err = block_on(registry.put_manifest(
        pushed[0]["tag"].as_str().unwrap(),
        &manifest.media_type,
        manifest.bytes,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("TAG_INVALID"), "{err}");
}
