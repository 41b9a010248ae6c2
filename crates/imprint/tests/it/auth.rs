//! Registry credentials against the htpasswd + TLS docker-registry that test-env starts:
//! right, wrong and missing credentials, the docker config and a credential helper, a custom
//! CA accepted and an unknown one refused. The password never shows in output or logs.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;

use crate::support::{server_env, Project};

struct Auth {
    host: String,
    ca: String,
    user: String,
    password: String,
}

fn auth() -> Auth {
    Auth {
        host: server_env("IMPRINT_TEST_AUTH_REGISTRY"),
        ca: server_env("IMPRINT_TEST_AUTH_CA"),
        user: server_env("IMPRINT_TEST_AUTH_USER"),
        password: server_env("IMPRINT_TEST_AUTH_PASSWORD"),
    }
}

/// A built FROM-scratch project pointed at the auth registry over HTTPS.
fn built(name: &str, a: &Auth) -> Project {
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &format!("{}/it/{name}", a.host))
        .env("IMPRINT_REGISTRY_ENDPOINT", &format!("https://{}", a.host))
        .env("IMPRINT_CA_CERT", &a.ca);
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file("main.py", &format!("print('{name}')\n"));
    p.run(&["build", "--offline"]).success();
    p
}

fn docker_config(p: &Project, json: &str) {
    let dir = p.home().join(".docker");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.json"), json).unwrap();
}

fn auths_entry(host: &str, user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!(r#"{{"auths": {{"https://{host}": {{"auth": "{token}"}}}}}}"#)
}

#[test]
fn right_credentials_from_the_docker_config_push() {
    let a = auth();
    let p = built("auth-right", &a);
    docker_config(&p, &auths_entry(&a.host, &a.user, &a.password));
    let run = p.run(&["push", "--json", "-vv"]).success();
    let pushed = run.json();
    assert_eq!(pushed["outcome"], "pushed");
    assert!(
        !run.stderr.contains(&a.password),
        "the password reached the logs"
    );
    assert!(!run.stdout.contains(&a.password));
    // And the tag is found again through the authenticated lookup.
    assert_eq!(
        p.run(&["tag"]).success().stdout.trim(),
        pushed["tag"].as_str().unwrap()
    );
}

#[test]
fn wrong_credentials_are_refused_without_echoing_them() {
    let a = auth();
    let p = built("auth-wrong", &a);
    docker_config(&p, &auths_entry(&a.host, &a.user, "not-the-password-x9"));
    let run = p.run(&["push", "-vv"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "the registry {} refused access with the credentials from",
            a.host
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("user {}", a.user)),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("not-the-password-x9"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

#[test]
fn missing_credentials_say_so() {
    let a = auth();
    let p = built("auth-missing", &a);
    let run = p.run(&["push"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("it wants credentials, and none were found for this host"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_credential_helper_on_path_supplies_them() {
    let a = auth();
    let p = built("auth-helper", &a);
    let bin = tempfile::tempdir().unwrap();
    let asked = bin.path().join("asked");
    let helper = bin.path().join("docker-credential-imprinttest");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n# A credential helper stand-in speaking the docker-credential protocol.\n[ \"$1\" = get ] || exit 1\ncat > '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}}' '{}' '{}' '{}'\n",
            asked.display(),
            a.host,
            a.user,
            a.password
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    docker_config(
        &p,
        &format!(r#"{{"credHelpers": {{"{}": "imprinttest"}}}}"#, a.host),
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let mut cmd = p.command(&["push", "--json"]);
    let run = crate::support::output(cmd.env("PATH", path).output().unwrap()).success();
    assert_eq!(run.json()["outcome"], "pushed");
    assert_eq!(
        fs::read_to_string(&asked).unwrap(),
        a.host,
        "the helper is asked for the host on stdin"
    );
}

#[test]
fn an_unknown_ca_is_refused_with_a_hint() {
    let a = auth();
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &format!("{}/it/auth-tls", a.host))
        .env("IMPRINT_REGISTRY_ENDPOINT", &format!("https://{}", a.host));
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n");
    let run = p.run(&["tag"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the registry at https://"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--ca-cert"), "{}", run.stderr);
}

/// The Bearer flow, through test-env's fake token proxy in front of the real registry.
fn bearer_project(name: &str, password: &str) -> Project {
    let a = auth();
    let host = server_env("IMPRINT_TEST_BEARER_REGISTRY");
    let p = Project::new()
        .with_servers()
        .env("IMPRINT_REPOSITORY", &format!("{host}/it/{name}"));
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file("main.py", &format!("print('{name}')\n"));
    p.run(&["build", "--offline"]).success();
    docker_config(
        &p,
        &auths_entry(&host, &a.user, password).replace("https://", ""),
    );
    p
}

#[test]
fn a_bearer_token_is_fetched_from_the_challenge_realm() {
    let a = auth();
    let p = bearer_project("bearer-right", &a.password);
    let pushed = p.run(&["push", "--json", "-vv"]).success();
    assert!(!pushed.stderr.contains(&a.password));
    let pushed = pushed.json();
    assert_eq!(pushed["outcome"], "pushed");
    assert_eq!(
        p.run(&["tag"]).success().stdout.trim(),
        pushed["tag"].as_str().unwrap()
    );
}

#[test]
fn a_refused_token_request_is_a_clear_error() {
    let p = bearer_project("bearer-wrong", "wrong-password-y7");
    let run = p.run(&["push"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("refused access with the credentials from"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-password-y7"));
}
