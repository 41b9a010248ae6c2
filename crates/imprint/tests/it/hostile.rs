//! imprint against servers that misbehave on purpose (the hostile fixture): every call ends
//! within its time limit naming the server, no answer is read past its size limit, and no
//! credential goes in clear text to another machine.

use std::time::Duration;

use crate::support::{Fixture, Project};

/// A project whose registry is the hostile server.
fn project(server: &Fixture) -> Project {
    let p = Project::new();
    p.file("Dockerfile", "FROM scratch\nCOPY app.txt /\n")
        .file("app.txt", "hello\n")
        .file(
            "imprint.toml",
            &format!("[registry]\nrepository = \"{}/app\"\n", server.address()),
        );
    p
}

#[test]
fn a_silent_or_trickling_registry_fails_the_call_in_time_naming_it() {
    for mode in ["silent", "trickle"] {
        let server = Fixture::hostile(mode, &[]);
        let p = project(&server);
        let run = p.run_within(&["--call-timeout", "3s", "tag"], Duration::from_secs(60));
        assert_eq!(run.code, 1, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains(&server.address()),
            "{mode}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("did not answer in time"),
            "{mode}: {}",
            run.stderr
        );
    }
    // The read limit alone catches a silent server too, from the file's [network].
    let server = Fixture::hostile("silent", &[]);
    let p = project(&server);
    p.file(
        "imprint.toml",
        &format!(
            "[registry]\nrepository = \"{}/app\"\n[network]\nread_timeout = \"2s\"\n",
            server.address()
        ),
    );
    let run = p.run_within(&["tag"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&server.address()), "{}", run.stderr);
}

#[test]
fn an_endless_answer_is_refused_unread() {
    let server = Fixture::hostile("endless", &[]);
    let p = project(&server);
    let run = p.run_within(&["tag"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("more than 4194304 bytes, more than a manifest can be"),
        "{}",
        run.stderr
    );
}

/// A project whose AWS endpoint is the hostile server, with `config` as its imprint.toml; the
/// endpoint's URL.
fn aws_project(server: &Fixture, config: &str) -> (Project, String) {
    let endpoint = format!("http://{}", server.address());
    let p = Project::new()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    p.file("Dockerfile", "FROM scratch\nCOPY app.txt /\n")
        .file("app.txt", "hello\n")
        .file("imprint.toml", config);
    (p, endpoint)
}

#[test]
fn a_silent_aws_endpoint_fails_the_call_in_time_naming_it() {
    let server = Fixture::hostile("silent", &[]);
    let (p, endpoint) = aws_project(&server, "[deploy]\nfunctions = [\"f\"]\n");
    let run = p.run_within(&["--call-timeout", "3s", "status"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{endpoint} did not answer within 3 s")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_listing_that_repeats_its_marker_ends_with_an_error() {
    let server = Fixture::hostile("same-marker", &[]);
    let config = "[deploy]\nselect = { tag = \"app\", value = \"x\" }\n";
    let (p, _) = aws_project(&server, config);
    let run = p.run_within(&["status"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("failed to list the Lambda functions")
            && run.stderr.contains("answered the same page marker twice"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_time_limits_are_refused_naming_the_key() {
    let p = Project::new();
    p.file("Dockerfile", "FROM scratch\n")
        .file("imprint.toml", "[network]\ncall_timeout = \"soon\"\n");
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr
            .contains("imprint.toml: [network] call_timeout = \"soon\""),
        "{}",
        run.stderr
    );
    p.file("imprint.toml", "");
    let run = p.run(&["--read-timeout", "0", "tag", "--offline"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_manifest_that_does_not_hash_to_its_digest_is_refused() {
    let server = Fixture::hostile("lying", &[]);
    let p = Project::new();
    p.file(
        "Dockerfile",
        &format!("FROM {}/base:1\nCOPY app.txt /\n", server.address()),
    )
    .file("app.txt", "hello\n");
    let run = p.run_within(&["lock"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the registry reports digest"),
        "{}",
        run.stderr
    );
    assert!(
        !p.path("imprint.lock").exists(),
        "nothing is pinned to a lie"
    );
}

#[test]
fn credentials_reach_a_loopback_registry_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let server = Fixture::hostile("capture", &[log.to_str().unwrap()]);
    let p = project(&server);
    let secret = "s3cr3t-Pa55";
    let auth = base64_of(&format!("ci:{secret}"));
    let config = p.home().join(".docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            server.address()
        ),
    )
    .unwrap();
    let run = p.run_within(&["-vv", "tag"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(
        seen.contains(&format!("Basic {auth}")),
        "the loopback registry got the credential: {seen}"
    );
    assert!(
        !run.stderr.contains(secret) && !run.stderr.contains(&auth),
        "{}",
        run.stderr
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A project whose repository is on the hostile server, with an image built to push.
fn built_for(server: &Fixture, name: &str) -> Project {
    let p = Project::new().with_servers().env(
        "IMPRINT_REPOSITORY",
        &format!("{}/{name}", server.address()),
    );
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file("main.py", &format!("print('{name}')\n"));
    p.run(&["build", "--offline"]).success();
    p
}

#[test]
fn a_push_to_a_registry_that_lies_about_digests_fails_the_first_time() {
    let server = Fixture::hostile("lying", &[]);
    let p = built_for(&server, "liar");
    let run = p.run_within(&["push", "--json"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "nothing is reported pushed: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("the registry reports digest"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_upload_longer_than_the_read_timeout_is_not_cut() {
    // The fixture waits 3 s before reading each blob upload; reads time out after 1 s.
    let server = Fixture::hostile("slow-upload", &[]);
    let p = built_for(&server, "slow");
    let run = p.run_within(
        &["--read-timeout", "1s", "push", "--json"],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["outcome"], "pushed");
    // The same read limit still cuts any other request to a server that stops answering.
    let server = Fixture::hostile("silent", &[]);
    let p = project(&server);
    let run = p.run_within(&["--read-timeout", "1s", "tag"], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
}
