//! `imprint gc` against moto and the ECR stand-in (BatchDeleteImage), and against the plain
//! registry (DELETE): what it keeps and why, what it deletes with the artifacts, the dry run,
//! an open deploy, and a reference that appears between the plan and the deletes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::deploy::{block_on, group, Group};
use crate::support::{aws_python, create_functions, fault_log, fault_rules, server_env, Project};

/// Deploys one edit of main.py; its `deploy --json` report.
fn deploy_edit(g: &Group, text: &str) -> Value {
    g.p.file("main.py", &format!("print('{text}')\n"));
    let report = g.deploy(&[]).success().json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    report
}

/// Runs a boto3 Lambda call against moto: `lambda_call("publish_version", {...})`.
fn lambda_call(method: &str, args: Value) -> Value {
    let run = aws_python(&[
        "-c",
        "import sys, json, boto3; r = getattr(boto3.client('lambda'), sys.argv[1])(**json.loads(sys.argv[2])); r.pop('ResponseMetadata', None); print(json.dumps(r, default=str))",
        method,
        &args.to_string(),
    ]);
    run.success().json()
}

/// The deleted (or to-delete) image digests of a gc report.
fn deleted(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Why gc keeps `digest`, as `Keep`'s display names it.
fn kept_why(report: &Value, digest: &str) -> Vec<String> {
    report["keep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["digest"] == digest)
        .map(|k| {
            k["why"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["why"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn gc_keeps_every_referenced_image_and_deletes_the_rest_with_its_artifacts() {
    let g = group("it-gc-keep", 2);
    let a = g.first["digest"].as_str().unwrap().to_string();
    let b = deploy_edit(&g, "b");
    // Version 1 of it-gc-keep-0 runs b (no alias routes to it).
    lambda_call("publish_version", json!({"FunctionName": "it-gc-keep-0"}));
    let c = deploy_edit(&g, "c");
    // Version 1 of it-gc-keep-1 runs c, and its alias `live` routes to it.
    lambda_call("publish_version", json!({"FunctionName": "it-gc-keep-1"}));
    lambda_call(
        "create_alias",
        json!({"FunctionName": "it-gc-keep-1", "Name": "live", "FunctionVersion": "1"}),
    );
    let d = deploy_edit(&g, "d");
    let e = deploy_edit(&g, "e");
    // Pushed, never deployed.
    g.p.file("main.py", "print('f')\n");
    g.p.run(&["build"]).success();
    let f = g.p.run(&["push", "--json"]).success().json();
    // Not pushed by imprint: the first image's manifest with an annotation, under its own tag.
    let registry = g.registry();
    let manifest = block_on(registry.get_manifest(&a)).unwrap().unwrap();
    let mut foreign: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    foreign["annotations"] = json!({"org.example": "someone else"});
    let foreign = block_on(registry.put_manifest(
        "foreign-1",
        &manifest.media_type,
        serde_json::to_vec(&foreign).unwrap(),
    ))
    .unwrap();
    let digest = |r: &Value| r["digest"].as_str().unwrap().to_string();
    let (b, c, d, e, f) = (digest(&b), digest(&c), digest(&d), digest(&e), digest(&f));
    let tags_before = g.tags();
    let args = [
        "gc",
        "--json",
        "--keep-deployments",
        "1",
        "--keep-days",
        "0",
    ];

    // The dry run: a and f go; every other image stays, each for its reasons.
    let dry = g.p.run(&args).success().json();
    assert_eq!(dry["outcome"], "dry-run", "{dry}");
    let mut want = vec![a.clone(), f.clone()];
    want.sort();
    assert_eq!(deleted(&dry), want, "{dry}");
    assert!(dry["bytes_freed"].as_u64().unwrap() > 0, "{dry}");
    assert_eq!(kept_why(&dry, &b), ["version"]);
    assert_eq!(kept_why(&dry, &c), ["version"]);
    assert_eq!(
        kept_why(&dry, &d),
        ["deployment"],
        "d is the rollback target"
    );
    assert_eq!(kept_why(&dry, &e), ["latest", "latest", "deployment"]);
    assert_eq!(kept_why(&dry, &foreign), ["age-unknown", "foreign"]);
    assert_eq!(g.tags(), tags_before, "a dry run deletes nothing");
    let human =
        g.p.run(&["gc", "--keep-deployments", "1", "--keep-days", "0"]);
    let human = human.success().stdout;
    assert!(human.contains("pass --yes to delete"), "{human}");
    assert!(human.contains("deployment "), "{human}");

    // --versions: version 1 of it-gc-keep-0 goes (no alias, no kept deployment), and b with it;
    // it-gc-keep-1:1 stays (its alias routes to it).
    let with_versions =
        g.p.run(&[&args[..], &["--versions"]].concat())
            .success()
            .json();
    assert_eq!(with_versions["versions"], json!(["it-gc-keep-0:1"]));
    assert!(deleted(&with_versions).contains(&b));
    assert_eq!(kept_why(&with_versions, &c), ["version"]);

    // Deleting: a and f go, with their tags and index artifacts; the run is journaled.
    let done = g.p.run(&[&args[..], &["--yes"]].concat()).success().json();
    assert_eq!(done["outcome"], "deleted", "{done}");
    assert_eq!(deleted(&done), want);
    let tags = g.tags();
    for image in [&a, &f] {
        assert!(
            block_on(registry.manifest_digest(image)).unwrap().is_none(),
            "{image} is still in the registry"
        );
    }
    let artifacts = |tags: &[String]| {
        tags.iter()
            .filter(|t| t.len() == 72 && t.starts_with("imprint-"))
            .count()
    };
    assert_eq!(artifacts(&tags), artifacts(&tags_before) - 2, "{tags:?}");
    assert!(!tags.contains(&g.first["tag"].as_str().unwrap().to_string()));
    let id = done["id"].as_str().unwrap();
    assert!(
        tags.contains(&format!("imprint-journal-{id}-gc")),
        "{tags:?}"
    );
    // moto's ECR lost them too.
    let images = aws_python(&[
        "-c",
        "import sys, json, boto3; print(json.dumps([i['imageDigest'] for i in boto3.client('ecr').describe_images(repositoryName=sys.argv[1])['imageDetails']]))",
        "it-gc-keep",
    ])
    .success()
    .json();
    assert!(
        !images.as_array().unwrap().iter().any(|i| i == &a),
        "{images}"
    );
    // Everything still works: history, and a rollback to the kept target.
    let history = g.p.run(&["history", "--json"]).success().json();
    assert_eq!(history.as_array().unwrap().len(), 4);
    let again = g.p.run(&[&args[..], &["--yes"]].concat()).success().json();
    assert_eq!(again["outcome"], "nothing-to-delete", "{again}");
    let back = g.p.run(&["rollback", "--yes", "--json"]).success().json();
    assert_eq!(back["digest"], d);

    // --journal-older-than 0: every record but the kept deployment's (the rollback) goes,
    // the first gc run's record with them; history then shows what is left.
    let pruned =
        g.p.run(&[&args[..], &["--yes", "--journal-older-than", "0"]].concat())
            .success()
            .json();
    let journal = pruned["journal"].as_array().unwrap();
    assert_eq!(journal.len(), 4 * 2 + 1, "{pruned}");
    assert!(journal
        .iter()
        .any(|t| t == &json!(format!("imprint-journal-{id}-gc"))));
    let history = g.p.run(&["history", "--json"]).success().json();
    let left = history.as_array().unwrap();
    assert_eq!(left.len(), 1, "{history}");
    assert_eq!(left[0]["action"], "rollback");
}

#[test]
fn gc_waits_for_an_open_deploy_and_spares_an_image_taken_into_use_before_the_deletes() {
    let g = group("it-gc-race", 2);
    let a = g.first["digest"].as_str().unwrap().to_string();
    let a_uri = g.first["image_uri"].as_str().unwrap().to_string();
    deploy_edit(&g, "b");
    let args = [
        "gc",
        "--yes",
        "--json",
        "--keep-deployments",
        "0",
        "--keep-days",
        "0",
    ];

    // A deploy in flight: gc refuses, deleting nothing.
    g.slow_updates();
    g.p.file("main.py", "print('c')\n");
    g.p.run(&["build"]).success();
    g.p.run(&["push"]).success();
    let journal_before = g.journal().len();
    let mut deploy =
        g.p.command(&["deploy", "--yes", "--concurrency", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while g.journal().len() == journal_before {
        assert!(Instant::now() < deadline, "the deploy never began");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tags = g.tags();
    let run = g.p.run(&args).usage_error();
    assert!(
        run.stderr
            .contains("has not ended; gc deletes nothing while a deployment is open"),
        "{}",
        run.stderr
    );
    // Nothing was deleted (the deploy itself may have written its end record meanwhile).
    let after = g.tags();
    let gone: Vec<&String> = tags.iter().filter(|t| !after.contains(t)).collect();
    assert!(gone.is_empty(), "gc deleted {gone:?}");
    assert!(deploy.wait().unwrap().success());

    // A function moves to `a` between the plan and the deletes (the second read of
    // it-gc-race-0, the check under the lease, is held back while it moves): `a` is spared.
    fault_rules(json!([{
        "match": {"method": "GET", "path": "/functions/it-gc-race-0$"},
        "after": 1, "times": 1, "delay": 4
    }]));
    let seen = || {
        fault_log("/functions/it-gc-race-0")
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/functions/it-gc-race-0")
            })
            .count()
    };
    let reads_before = seen();
    let gc =
        g.p.command(&args)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen() < reads_before + 2 {
        assert!(
            Instant::now() < deadline,
            "gc never read the function again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    lambda_call(
        "update_function_code",
        json!({"FunctionName": "it-gc-race-0", "ImageUri": a_uri}),
    );
    let out = gc.wait_with_output().unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "deleted", "{report}");
    assert!(!deleted(&report).contains(&a), "{report}");
    let spared = report["kept_since_plan"].as_array().unwrap();
    assert_eq!(spared.len(), 1, "{report}");
    assert_eq!(spared[0]["digest"], a.as_str());
    assert!(block_on(g.registry().manifest_digest(&a))
        .unwrap()
        .is_some());
}

#[test]
fn gc_keeps_what_functions_outside_the_configuration_run_and_refuses_when_one_cannot_be_read() {
    let g = group("it-gc-else", 1);
    let uri = |r: &Value| r["image_uri"].as_str().unwrap().to_string();
    let digest = |r: &Value| r["digest"].as_str().unwrap().to_string();
    let (a, a_uri) = (digest(&g.first), uri(&g.first));
    let b = deploy_edit(&g, "else-b");
    let c = deploy_edit(&g, "else-c");
    deploy_edit(&g, "else-d");
    // Pushed, never run anywhere: gc still deletes it.
    g.p.file("main.py", "print('else-e')\n");
    g.p.run(&["build"]).success();
    let e = digest(&g.p.run(&["push", "--json"]).success().json());
    // Functions in the same account, region and repository that imprint.toml does not name:
    // it-gc-other-0's $LATEST runs a; it-gc-other-1's version 1 runs b, reached only by a 1%
    // weight of its alias, and its version 2 and $LATEST run c.
    create_functions("it-gc-other", 2, &a_uri, "app=other");
    let move_to = |image: &str| {
        lambda_call(
            "update_function_code",
            json!({"FunctionName": "it-gc-other-1", "ImageUri": image}),
        );
        lambda_call("publish_version", json!({"FunctionName": "it-gc-other-1"}))
    };
    assert_eq!(move_to(&uri(&b))["Version"], "1");
    assert_eq!(move_to(&uri(&c))["Version"], "2");
    lambda_call(
        "create_alias",
        json!({"FunctionName": "it-gc-other-1", "Name": "live", "FunctionVersion": "2",
               "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.01}}}),
    );
    let args = [
        "gc",
        "--json",
        "--versions",
        "--keep-deployments",
        "0",
        "--keep-days",
        "0",
    ];

    // One of them cannot be read: gc refuses (exit 1, naming it) and deletes nothing.
    fault_rules(json!([{
        "match": {"method": "GET", "path": "/functions/it-gc-other-1\\?Qualifier=1$"},
        "respond": {"status": 403, "body": {"Message": "not allowed"},
                    "headers": {"x-amzn-ErrorType": "AccessDeniedException"}}
    }]));
    let tags = g.tags();
    let refused = g.p.run(&[&args[..], &["--yes"]].concat());
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("cannot tell which image it-gc-other-1:1 runs")
            && refused.stderr.contains("gc deletes nothing"),
        "{}",
        refused.stderr
    );
    assert_eq!(g.tags(), tags, "a refused gc deleted something");

    // The dry run names what it checked; every image a function runs stays, the unused one
    // goes; no version of a function outside the configuration is ever deleted.
    let (b, c) = (digest(&b), digest(&c));
    let dry = g.p.run(&args).success().json();
    let running = &dry["checked"]["running_here"];
    for name in [
        "it-gc-other-0 ($LATEST)",
        "it-gc-other-1:1",
        "it-gc-other-1:2",
    ] {
        assert!(running.as_array().unwrap().contains(&json!(name)), "{dry}");
    }
    assert_eq!(dry["checked"]["configured"], 1, "{dry}");
    assert!(dry["checked"]["others"].as_u64().unwrap() >= 2, "{dry}");
    assert_eq!(deleted(&dry), [e.as_str()], "{dry}");
    assert_eq!(kept_why(&dry, &a), ["latest"]);
    assert_eq!(kept_why(&dry, &b), ["version"]);
    assert_eq!(kept_why(&dry, &c), ["latest", "version"]);
    assert!(
        !dry["versions"].to_string().contains("it-gc-other"),
        "{dry}"
    );
    let human =
        g.p.run(&["gc", "--keep-deployments", "0", "--keep-days", "0"]);
    let human = human.success().stdout;
    assert!(
        human.contains("checked 1 configured function and ")
            && human.contains("this repository's images run in it-gc-other-0 ($LATEST)"),
        "{human}"
    );
    let done = g.p.run(&[&args[..], &["--yes"]].concat()).success().json();
    assert_eq!(deleted(&done), [e.as_str()], "{done}");
    let registry = g.registry();
    for kept in [&a, &b, &c] {
        assert!(block_on(registry.manifest_digest(kept)).unwrap().is_some());
    }
    assert!(block_on(registry.manifest_digest(&e)).unwrap().is_none());
}

/// A project on the plain registry `registry` (env var) at `it/<name>`, with two images
/// pushed and `function` configured; the push reports.
fn plain_project(registry: &str, name: &str, function: &str) -> (Project, Vec<Value>) {
    let p = Project::new().with_servers().with_aws().env(
        "IMPRINT_REPOSITORY",
        &format!("{}/it/{name}", server_env(registry)),
    );
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n").file(
        "imprint.toml",
        &format!("[deploy]\nfunctions = [\"{function}\"]\n"),
    );
    let mut pushed = Vec::new();
    for i in 0..2 {
        p.file("main.py", &format!("print({i})\n"));
        p.run(&["build"]).success();
        pushed.push(p.run(&["push", "--json"]).success().json());
    }
    (p, pushed)
}

#[test]
fn gc_on_a_plain_registry_deletes_with_delete_and_a_registry_without_deletes_is_exit_2() {
    // The function lives in moto on an ECR image; the repositories gc cleans are on plain
    // registries, where nothing runs: every image imprint pushed there goes.
    let _g = group("it-gc-oci", 1);
    let (p, pushed) = plain_project("IMPRINT_TEST_REGISTRY", "gc-oci", "it-gc-oci-0");
    let report = p
        .run(&["gc", "--yes", "--json", "--keep-days", "0"])
        .success()
        .json();
    assert_eq!(report["outcome"], "deleted", "{report}");
    assert_eq!(report["delete"].as_array().unwrap().len(), 2, "{report}");
    let registry = imprint::registry::Registry::new(
        imprint::registry::Repository::parse(&format!(
            "{}/it/gc-oci",
            server_env("IMPRINT_TEST_REGISTRY")
        ))
        .unwrap(),
        None,
        None,
    )
    .unwrap();
    let tags = block_on(registry.tags()).unwrap();
    for image in &pushed {
        assert!(
            !tags.contains(&image["tag"].as_str().unwrap().to_string()),
            "{tags:?}"
        );
        assert!(
            block_on(registry.manifest_digest(image["digest"].as_str().unwrap()))
                .unwrap()
                .is_none()
        );
    }
    assert!(
        !tags
            .iter()
            .any(|t| t.len() == 72 && t.starts_with("imprint-")),
        "{tags:?}"
    );

    // A registry that does not allow deletes: exit 2 naming the setting, nothing deleted.
    let (p, pushed) = plain_project(
        "IMPRINT_TEST_NODELETE_REGISTRY",
        "gc-nodelete",
        "it-gc-oci-0",
    );
    let run = p.run(&["gc", "--yes", "--keep-days", "0"]).usage_error();
    assert!(
        run.stderr.contains("does not allow deleting images")
            && run.stderr.contains("storage: delete: enabled: true"),
        "{}",
        run.stderr
    );
    let again = p
        .run(&["gc", "--json", "--keep-days", "0"])
        .success()
        .json();
    assert_eq!(again["delete"].as_array().unwrap().len(), pushed.len());
}
