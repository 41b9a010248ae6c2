//! `imprint doctor`: every check passes on a working set-up, and each one fails on its own
//! (with its hint) when just its part is broken; checks that depend on a failed one say
//! `skip`.

use serde_json::Value;

use crate::support::{create_functions, ecr_project, output, server_env, Project, ECR_HOST};

fn doctor(p: &Project, change: impl FnOnce(&mut std::process::Command)) -> (i32, Value) {
    let mut cmd = p.command(&["doctor", "--json"]);
    change(&mut cmd);
    let run = output(cmd.output().unwrap());
    (run.code, run.json())
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Exactly `name` fails, with a hint containing `hint`.
fn assert_fails_alone(code: i32, report: &Value, name: &str, hint: &str) {
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["ok"], false);
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{name}: {report}");
    assert_eq!(failed[0]["name"], name, "{report}");
    let given = failed[0]["hint"].as_str().unwrap_or_default();
    assert!(given.contains(hint), "{name}: hint `{given}`");
}

#[test]
fn every_doctor_check_passes_then_fails_alone_with_its_hint() {
    let prefix = "it-doctor";
    let p = ecr_project(
        prefix,
        &format!("[deploy]\nfunctions = [\"{prefix}-0\", \"{prefix}-1\"]\n"),
    );
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    create_functions(
        prefix,
        2,
        pushed["image_uri"].as_str().unwrap(),
        "app=doctor",
    );

    let (code, report) = doctor(&p, |_| {});
    assert_eq!(code, 0, "{report}");
    let names: Vec<String> = statuses(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "builder",
            "disk",
            "region",
            "credentials",
            "registry",
            "repository",
            "functions",
            "lock",
            "context",
            "pulumi"
        ]
    );
    // No Pulumi program here: that check says so.
    assert!(
        statuses(&report)
            .iter()
            .all(|(n, s)| s == if n == "pulumi" { "skip" } else { "ok" }),
        "{report}"
    );
    let human = p.run(&["doctor"]).success().stdout;
    assert!(
        human.contains("ok    functions    2 image functions exist"),
        "{human}"
    );

    let (code, report) = doctor(&p, |c| {
        c.env("IMPRINT_DOCKER", "/nonexistent/docker");
    });
    assert_fails_alone(code, &report, "builder", "Docker engine");

    let (code, report) = doctor(&p, |c| {
        c.env_remove("AWS_REGION");
    });
    assert_fails_alone(code, &report, "region", "AWS_REGION");
    assert!(statuses(&report).contains(&("functions".into(), "skip".into())));

    let (code, report) = doctor(&p, |c| {
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    });
    assert_fails_alone(code, &report, "credentials", "AWS_PROFILE");
    assert!(statuses(&report).contains(&("registry".into(), "skip".into())));

    let (code, report) = doctor(&p, |c| {
        c.env("IMPRINT_REGISTRY_ENDPOINT", "http://127.0.0.1:9");
    });
    assert_fails_alone(code, &report, "registry", "endpoint");

    let (code, report) = doctor(&p, |c| {
        c.env(
            "IMPRINT_REPOSITORY",
            format!("{ECR_HOST}/it-doctor-missing"),
        );
    });
    assert_fails_alone(code, &report, "repository", "--create-repo");

    let config = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    p.file(
        "imprint.toml",
        &format!("[deploy]\nfunctions = [\"{prefix}-0\", \"{prefix}-deleted\"]\n"),
    );
    let (code, report) = doctor(&p, |_| {});
    assert_fails_alone(code, &report, "functions", "[deploy] functions");
    p.file("imprint.toml", &config);

    let dockerfile = std::fs::read_to_string(p.path("Dockerfile")).unwrap();
    p.file(
        "Dockerfile",
        &format!("FROM {}\nCOPY . /app/\n", server_env("IMPRINT_TEST_BASE")),
    );
    let (code, report) = doctor(&p, |_| {});
    assert_fails_alone(code, &report, "lock", "imprint lock");
    assert!(
        !p.path("imprint.lock").exists(),
        "doctor wrote imprint.lock"
    );

    std::fs::remove_file(p.path("Dockerfile")).unwrap();
    let (code, report) = doctor(&p, |_| {});
    assert_fails_alone(code, &report, "context", "");
    assert!(statuses(&report).contains(&("lock".into(), "skip".into())));
    p.file("Dockerfile", &dockerfile);
    assert_eq!(doctor(&p, |_| {}).0, 0);

    // --check: only what was asked (the Makefile's check-docker), so AWS does not matter.
    let mut cmd = p.command(&["doctor", "--check", "builder", "--json"]);
    cmd.env_remove("AWS_REGION");
    let run = output(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        statuses(&run.json()),
        [("builder".to_string(), "ok".to_string())]
    );
    // It says how a push will read the image out of dockerd: from the test daemon's socket.
    let socket = server_env("IMPRINT_TEST_DOCKER_HOST").replace("unix://", "");
    let detail = run.json()["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.ends_with(&format!("; exports are read from its socket {socket}")),
        "{detail}"
    );
    // Bookworm's docker CLI (20.10) walks the context by older ignore rules: a warning, not a
    // failure.
    let mut cmd = p.command(&["doctor", "--check", "builder", "--json"]);
    cmd.env("IMPRINT_DOCKER", server_env("IMPRINT_TEST_BUILDKIT_CLI"));
    let run = output(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = &run.json()["checks"][0];
    assert_eq!(found["status"], "warn", "{found}");
    let detail = found["detail"].as_str().unwrap();
    assert!(
        detail.contains("the docker CLI 20.10") && detail.contains("older ignore rules"),
        "{detail}"
    );
    assert!(
        found["hint"].as_str().unwrap().contains("Which Docker"),
        "{found}"
    );
    let bad = p.run(&["doctor", "--check", "dns"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn doctor_measures_the_room_in_the_cache_and_the_builders_storage() {
    let p = Project::new().with_servers();
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n");
    let run = p.run(&["doctor", "--check", "disk", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(statuses(&report), [("disk".to_string(), "ok".to_string())]);
    let detail = report["checks"][0]["detail"].as_str().unwrap();
    let cache = p.home().join(".cache/imprint");
    assert!(
        detail.contains("imprint's cache ")
            && detail.contains(&format!("GiB free ({})", cache.display())),
        "{detail}"
    );
    let root = p
        .program(
            &server_env("IMPRINT_TEST_DOCKER_CLI"),
            &["info", "--format", "{{.DockerRootDir}}"],
        )
        .output()
        .unwrap();
    let root = String::from_utf8(root.stdout).unwrap();
    assert!(
        detail.contains("the builder's storage ") && detail.contains(&format!("({})", root.trim())),
        "{detail}"
    );

    // A daemon elsewhere: its storage is named but not measured here.
    let mut cmd = p.command(&["doctor", "--check", "disk", "--json"]);
    cmd.env("DOCKER_HOST", "tcp://127.0.0.1:1");
    let run = output(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let detail = run.json()["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("the builder's storage: not measured"),
        "{detail}"
    );
}

/// A stack export as `pulumi stack export` writes it (version 3), with these image
/// functions, a zip function and an alias.
fn stack_export(images: &[&str]) -> String {
    let mut resources = vec![
        serde_json::json!({"urn": "urn:pulumi:dev::debt-api::pulumi:pulumi:Stack::debt-api-dev", "type": "pulumi:pulumi:Stack"}),
        serde_json::json!({"urn": "urn:pulumi:dev::debt-api::aws:lambda/function:Function::zip", "type": "aws:lambda/function:Function",
            "inputs": {"name": "zipped", "packageType": "Zip"}, "outputs": {"name": "zipped", "packageType": "Zip"}}),
        serde_json::json!({"urn": "urn:pulumi:dev::debt-api::aws:lambda/alias:Alias::live", "type": "aws:lambda/alias:Alias",
            "outputs": {"name": "live"}}),
    ];
    for name in images {
        resources.push(serde_json::json!({
            "urn": format!("urn:pulumi:dev::debt-api::aws:lambda/function:Function::{name}"),
            "type": "aws:lambda/function:Function",
            "inputs": {"name": name, "packageType": "Image", "imageUri": "r.io/x:t"},
            "outputs": {"name": name, "packageType": "Image", "arn": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")},
        }));
    }
    serde_json::json!({"version": 3, "deployment": {"manifest": {"time": "2026-12-02T00:00:00Z"}, "resources": resources}}).to_string()
}

#[test]
fn doctor_compares_imprint_tomls_functions_with_the_pulumi_stacks() {
    let config = "[deploy]\nfunctions = [\"a\", \"b\"]\npulumi_stack = \"dev\"\n";
    let project = || {
        let p = Project::new();
        p.file("Dockerfile", "FROM scratch\n")
            .file("imprint.toml", config)
            .file(
                "infrastructure/Pulumi.yaml",
                "name: debt-api\nruntime: python\n",
            );
        p
    };
    // The Pulumi CLI cannot run here (its releases are not reachable): a stand-in prints
    // the stack export the test wrote (a fixture, named as such), after more warnings on
    // stderr than a pipe holds (a reader that left stderr unread would wait on it forever).
    let (p, log) = project().with_stand_in(
        "pulumi",
        "head -c 300000 /dev/zero | tr '\\0' w >&2; cat \"$HOME/export.json\"",
    );
    std::fs::write(p.home().join("export.json"), stack_export(&["a", "c"])).unwrap();
    let run = p.run_within(
        &["doctor", "--check", "pulumi", "--json"],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let check = &run.json()["checks"][0];
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains("in imprint.toml, not in stack dev: b"),
        "{detail}"
    );
    assert!(
        detail.contains("in stack dev, not in imprint.toml: c"),
        "{detail}"
    );
    assert!(!detail.contains("zipped"), "{detail}");
    let called = std::fs::read_to_string(&log).unwrap();
    assert!(
        called
            .trim_end()
            .ends_with("/infrastructure|stack export --non-interactive --stack dev"),
        "{called}"
    );

    std::fs::write(p.home().join("export.json"), stack_export(&["b", "a"])).unwrap();
    let run = p.run(&["doctor", "--check", "pulumi"]).success();
    assert!(
        run.stdout.contains("name the same 2 image function(s)"),
        "{}",
        run.stdout
    );

    // A stack export that is not one is an error naming the folder.
    std::fs::write(p.home().join("export.json"), "not json").unwrap();
    let run = p.run(&["doctor", "--check", "pulumi", "--json"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("cannot read `pulumi stack export`"),
        "{}",
        run.stdout
    );

    // Without the Pulumi CLI the check says why it did not run.
    let p = project().env("PATH", "/usr/bin:/bin");
    let run = p.run(&["doctor", "--check", "pulumi", "--json"]).success();
    assert_eq!(run.json()["checks"][0]["status"], "skip", "{}", run.stdout);
}
