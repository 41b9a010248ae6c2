//! Bad input is refused before any work, exit 2, naming the file, line or value and what to
//! do; nothing is written.

use crate::support::Project;

fn project(toml: &str) -> Project {
    let p = Project::new();
    p.file("Dockerfile", "FROM scratch\nCOPY app.txt /\n")
        .file("app.txt", "hello\n")
        .file("imprint.toml", toml);
    p
}

#[test]
fn build_arguments_that_would_steer_the_builder_are_refused() {
    let p = project("");
    for arg in [
        "DOCKER_HOST=tcp://10.0.0.1:2375",
        "DOCKER_BUILDKIT=1",
        "http_proxy=http://p:3128",
    ] {
        let run = p
            .run(&["tag", "--offline", "--build-arg", arg])
            .usage_error();
        let key = arg.split('=').next().unwrap();
        assert!(
            run.stderr
                .contains(&format!("the build argument {key} is refused")),
            "{}",
            run.stderr
        );
    }
    let p = project("[image]\nbuild_args = { HTTPS_PROXY = \"http://p:3128\" }\n");
    p.run(&["tag", "--offline"]).usage_error();
    // Ordinary names pass.
    project("")
        .run(&["tag", "--offline", "--build-arg", "APP_VERSION=1"])
        .success();
}

#[test]
fn a_malformed_digest_in_the_lock_is_refused() {
    let p = project("");
    p.file("Dockerfile", "FROM 127.0.0.1:9/base:1\nCOPY app.txt /\n").file(
        "imprint.lock",
        "version = 1\n\n[[image]]\nreference = \"127.0.0.1:9/base:1\"\nplatform = \"linux/amd64\"\ndigest = \"md5:xyz\"\n",
    );
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr
            .contains("imprint.lock: the digest of 127.0.0.1:9/base:1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`md5:xyz`"), "{}", run.stderr);
}

#[test]
fn function_lists_are_checked() {
    for (deploy, says) in [
        (
            "functions = []",
            "imprint.toml:2: [deploy] functions is empty",
        ),
        ("functions = [\"a\", \"a\"]", "lists `a` twice"),
        ("functions = [\"\"]", "`` is not a Lambda function name"),
        (
            "functions = [\"my function\"]",
            "`my function` is not a Lambda function name",
        ),
    ] {
        let p = project(&format!("[deploy]\n{deploy}\n"));
        let run = p.run(&["deploy", "--yes"]).usage_error();
        assert!(run.stderr.contains(says), "{deploy}: {}", run.stderr);
    }
}

#[test]
fn settings_are_checked_before_anything_is_written() {
    for (toml, says) in [
        (
            "[image]\nname = \"Probe App!\"\n",
            "bad image name `Probe App!`",
        ),
        (
            "[image]\nplatform = \"windows/sparc\"\n",
            "bad platform `windows/sparc`",
        ),
        (
            "[registry]\nrepository = \"127.0.0.1:9/app\"\nendpoint = \"not a url\"\n",
            "bad registry endpoint `not a url`",
        ),
        (
            "[registry]\nrepository = \"127.0.0.1:9/app\"\nendpoint = \"ftp://127.0.0.1/\"\n",
            "bad registry endpoint `ftp://127.0.0.1/`",
        ),
    ] {
        let p = project(toml);
        p.file("Dockerfile", "FROM 127.0.0.1:9/base:1\nCOPY app.txt /\n");
        let run = p.run(&["tag"]).usage_error();
        assert!(run.stderr.contains(says), "{toml}: {}", run.stderr);
        assert!(
            !p.path("imprint.lock").exists(),
            "{toml}: imprint.lock was written"
        );
    }
}

#[test]
fn an_ignore_file_that_is_a_folder_is_an_error() {
    let p = project("");
    std::fs::create_dir(p.path(".dockerignore")).unwrap();
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(run.stderr.contains(".dockerignore"), "{}", run.stderr);
}

#[test]
fn a_history_of_no_deployments_is_refused() {
    let run = project("").run(&["history", "--limit", "0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("1 or more"), "{}", run.stderr);
}

#[test]
fn dockerfiles_the_builder_refuses_are_refused_with_their_line() {
    for (dockerfile, says) in [
        ("", "Dockerfile:1: the Dockerfile has no instructions"),
        (
            "FROM scratch\nFROBNICATE x\n",
            "Dockerfile:2: unknown instruction: FROBNICATE",
        ),
        (
            "COPY app.txt /\n",
            "Dockerfile:1: COPY before the first FROM",
        ),
        ("FROM\n", "Dockerfile:1: FROM takes a base image"),
        (
            "ARG B\nFROM ${B}\n",
            "Dockerfile:2: FROM ${B}: the base image is empty",
        ),
        (
            "FROM scratch\nCOPY --chmod=999z app.txt /\n",
            "Dockerfile:2: invalid --chmod `999z`",
        ),
    ] {
        let p = project("");
        p.file("Dockerfile", dockerfile);
        // `lock` would otherwise ask a registry for the empty base.
        for command in [&["tag", "--offline"][..], &["lock"][..]] {
            let run = p.run(command).usage_error();
            assert!(
                run.stderr.contains(says),
                "{dockerfile:?} {command:?}: {}",
                run.stderr
            );
        }
    }
    let p = project("");
    std::fs::write(p.path("Dockerfile"), b"FROM scratch\n\xff\xfe\n").unwrap();
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr
            .contains("Dockerfile:2: the Dockerfile is not UTF-8 text"),
        "{}",
        run.stderr
    );
    let p = project("[image]\ndockerfile = \"../../../../../../etc/passwd\"\n");
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr.contains("passwd:1: unknown instruction"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_source_date_epoch_a_tag_cannot_carry_is_refused() {
    for value in ["-1", "253402300800", "22833955710703", "soon"] {
        let p = project("").env("SOURCE_DATE_EPOCH", value);
        let run = p.run(&["tag", "--offline"]).usage_error();
        assert!(
            run.stderr.contains("not a Unix time from 1970 to 9999"),
            "{value}: {}",
            run.stderr
        );
    }
    let p = project("").env("SOURCE_DATE_EPOCH", "253402300799");
    assert!(p
        .run(&["tag", "--offline"])
        .success()
        .stdout
        .starts_with("99991231-235959-"));
}
