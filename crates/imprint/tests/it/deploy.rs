//! `imprint deploy` against moto (strict ECR mode) through the ECR stand-in, with Lambda
//! traffic through the fault proxy. Each test owns its function-name prefix, because the
//! proxy's rules and log are shared by the whole suite.

use std::collections::BTreeMap;

use imprint::journal::{self, Action, Deployment, DeploymentOutcome};
use imprint::registry::Registry;
use serde_json::{json, Value};

use crate::support::{
    create_functions, ecr_project, fault_log, fault_rules, Project, Run, ECR_HOST,
};

/// A project with `count` functions in moto running its first image, and an edit on disk so
/// a deploy has something to do.
pub(crate) struct Group {
    pub(crate) p: Project,
    pub(crate) prefix: String,
    pub(crate) names: Vec<String>,
    /// `push --json` of the image the functions run.
    pub(crate) first: Value,
}

pub(crate) fn group(prefix: &str, count: usize) -> Group {
    group_with(prefix, count, "")
}

pub(crate) fn group_with(prefix: &str, count: usize, extra_config: &str) -> Group {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let p = ecr_project(
        prefix,
        &format!("[deploy]\nfunctions = [{list}]\n{extra_config}"),
    );
    p.run(&["build", "--offline"]).success();
    let first = p.run(&["push", "--create-repo", "--json"]).success().json();
    let created = create_functions(
        prefix,
        count,
        first["image_uri"].as_str().unwrap(),
        &format!("app={prefix}"),
    );
    assert_eq!(created, names);
    p.file("main.py", &format!("print('{prefix} second')\n"));
    Group {
        p,
        prefix: prefix.to_string(),
        names,
        first,
    }
}

impl Group {
    pub(crate) fn deploy(&self, extra: &[&str]) -> Run {
        let mut args = vec!["deploy", "--yes", "--json"];
        args.extend_from_slice(extra);
        self.p.run(&args)
    }

    /// Each function's digest, as `status` reads it from Lambda.
    pub(crate) fn digests(&self) -> BTreeMap<String, String> {
        let status = self.p.run(&["status", "--json"]).success().json();
        status["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["digest"].as_str().unwrap_or("none").to_string(),
                )
            })
            .collect()
    }

    pub(crate) fn assert_all_on(&self, digest: &str) {
        let digests = self.digests();
        assert_eq!(digests.len(), self.names.len());
        for (name, d) in &digests {
            assert_eq!(d, digest, "{name} runs {d}, expected {digest}");
        }
    }

    /// Requests that change a function (anything but GET) the proxy saw for this group.
    pub(crate) fn writes(&self) -> usize {
        fault_log(&format!("/functions/{}-", self.prefix))
            .iter()
            .filter(|r| r["method"] != "GET")
            .count()
    }

    pub(crate) fn journal(&self) -> Vec<Deployment> {
        let registry = self.registry();
        block_on(journal::entries(&registry, None)).unwrap()
    }

    /// The group's repository, through the ECR stand-in.
    pub(crate) fn registry(&self) -> Registry {
        crate::support::standin_registry(&self.prefix)
    }

    /// Every tag in the group's repository.
    pub(crate) fn tags(&self) -> Vec<String> {
        block_on(self.registry().tags()).unwrap()
    }

    /// UpdateFunctionCode requests the proxy saw for this group.
    pub(crate) fn update_requests(&self) -> usize {
        fault_log(&format!("/functions/{}-", self.prefix))
            .iter()
            .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap().ends_with("/code"))
            .count()
    }

    /// Slows every update of this group down, so a signal lands in the middle of a deploy.
    pub(crate) fn slow_updates(&self) {
        fault_rules(json!([{
            "match": {"method": "PUT", "path": format!("/functions/{}-\\d+/code", self.prefix)},
            "times": 1000, "delay": 0.3
        }]));
    }

    pub(crate) fn first_digest(&self) -> &str {
        self.first["digest"].as_str().unwrap()
    }
}

/// Runs a future to its end on a one-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

pub(crate) fn outcomes(report: &Value) -> BTreeMap<String, String> {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The end record's outcome per function, as the report gave it.
pub(crate) fn assert_journal_matches(entry: &Deployment, report: &Value) {
    let end = entry.end.as_ref().expect("an end record");
    assert_eq!(
        end.outcome.map(DeploymentOutcome::as_str),
        report["outcome"].as_str()
    );
    let recorded: BTreeMap<String, String> = end
        .results
        .iter()
        .map(|r| (r.name.clone(), r.outcome.as_str().to_string()))
        .collect();
    assert_eq!(recorded, outcomes(report));
    for r in &end.results {
        let image = r
            .image
            .as_ref()
            .expect("every function's image is recorded");
        let reported = report["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == r.name.as_str())
            .unwrap();
        assert_eq!(
            Some(image.digest.as_deref().unwrap()),
            reported["image"]["digest"].as_str()
        );
    }
}

#[test]
fn deploy_moves_every_function_journals_it_and_a_repeat_writes_nothing() {
    let g = group("it-deploy-all", 10);

    // Without a terminal and without --yes: refused before anything is built or written.
    let tags = g.tags();
    let refused = g.p.run(&["deploy"]).usage_error();
    assert!(
        refused.stderr.contains("there is no terminal to ask"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(g.writes(), 0);
    assert!(g.journal().is_empty());
    assert_eq!(g.tags(), tags, "nothing is pushed before the refusal");

    let run = g.deploy(&[]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded");
    let digest = report["digest"].as_str().unwrap();
    assert_ne!(digest, g.first_digest());
    assert!(
        outcomes(&report).values().all(|o| o == "updated"),
        "{report}"
    );
    assert_eq!(outcomes(&report).len(), 10);
    for name in &g.names {
        assert!(
            run.stderr.contains(&format!(
                "~ {name}: {} → ",
                g.first["tag"].as_str().unwrap()
            )),
            "{}",
            run.stderr
        );
    }
    // Without -v, one line for the updates (with -v, one for each function as well).
    assert!(run.stderr.contains("  updated 10/10 in "), "{}", run.stderr);
    assert!(!run.stderr.contains("updated   "), "{}", run.stderr);
    g.assert_all_on(digest);
    assert_eq!(g.writes(), 10, "one UpdateFunctionCode per function");

    let entries = g.journal();
    assert_eq!(entries.len(), 1);
    let begin = entries[0].begin.as_ref().expect("a begin record");
    assert_eq!(begin.id, report["id"].as_str().unwrap());
    assert_eq!(begin.action, Action::Deploy);
    assert_eq!(begin.tag, report["tag"].as_str().unwrap());
    assert_eq!(begin.image.digest.as_deref(), Some(digest));
    assert!(
        begin
            .caller
            .arn
            .as_deref()
            .unwrap_or_default()
            .starts_with("arn:aws:"),
        "{:?}",
        begin.caller
    );
    assert_eq!(begin.functions.len(), 10);
    for planned in &begin.functions {
        assert_eq!(
            planned.old.as_ref().unwrap().digest.as_deref(),
            Some(g.first_digest())
        );
        assert_eq!(planned.new.digest.as_deref(), Some(digest));
    }
    assert_journal_matches(&entries[0], &report);

    // Nothing changed: no write to any function and no journal record.
    let again = g.deploy(&[]).success().json();
    assert_eq!(again["outcome"], "up-to-date");
    assert_eq!(again["id"], Value::Null);
    assert!(outcomes(&again).values().all(|o| o == "unchanged"));
    assert_eq!(g.writes(), 10);
    assert_eq!(g.journal().len(), 1);
}

#[test]
fn deploy_tag_promotes_a_pushed_image_without_building() {
    let prod: Vec<String> = (0..3)
        .map(|i| format!("it-deploy-promo-prod-{i}"))
        .collect();
    let prod_list = prod
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let g = group_with(
        "it-deploy-promo",
        3,
        &format!("\n[env.prod]\ndeploy.functions = [{prod_list}]\n"),
    );
    create_functions(
        "it-deploy-promo-prod",
        3,
        g.first["image_uri"].as_str().unwrap(),
        "app=it-deploy-promo-prod",
    );
    let staged = g.deploy(&[]).success().json();
    let tag = staged["tag"].as_str().unwrap();
    // The tree moves on; prod gets what staging tested, not the tree.
    g.p.file("main.py", "print('third')\n");
    let run = g.deploy(&["--env", "prod", "--tag", tag]).success();
    let promoted = run.json();
    assert_eq!(promoted["tag"], tag);
    assert_eq!(promoted["digest"], staged["digest"]);
    assert_eq!(promoted["hash"], Value::Null);
    assert!(!run.stderr.contains("built"), "{}", run.stderr);
    let names: Vec<String> = outcomes(&promoted).into_keys().collect();
    assert_eq!(names, prod);
    assert!(outcomes(&promoted).values().all(|o| o == "updated"));
    let status =
        g.p.run(&["status", "--env", "prod", "--json"])
            .success()
            .json();
    for f in status["functions"].as_array().unwrap() {
        assert_eq!(f["digest"], staged["digest"], "{f}");
    }
    let missing =
        g.p.run(&["deploy", "--yes", "--tag", "20200101-000000-deadbeef"])
            .usage_error();
    assert!(
        missing.stderr.contains(&format!(
            "{ECR_HOST}/it-deploy-promo:20200101-000000-deadbeef is not in the registry"
        )),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_function_deleted_during_the_deploy_puts_every_function_back() {
    let g = group("it-deploy-gone", 10);
    fault_rules(json!([{
        "match": {"method": "PUT", "path": "/functions/it-deploy-gone-4/code"},
        "respond": {"status": 404, "headers": {"x-amzn-ErrorType": "ResourceNotFoundException"},
                    "body": {"Type": "User", "message": "Function not found: it-deploy-gone-4"}}
    }]));
    let run = g.deploy(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back");
    let outcomes = outcomes(&report);
    assert_eq!(outcomes["it-deploy-gone-4"], "failed");
    let failed = &report["functions"][4];
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{failed}"
    );
    for (name, outcome) in &outcomes {
        if name != "it-deploy-gone-4" {
            assert!(
                outcome == "reverted" || outcome == "not-started",
                "{name}: {outcome}"
            );
        }
    }
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["image"]["digest"], g.first["digest"], "{f}");
    }
    g.assert_all_on(g.first_digest());
    let entries = g.journal();
    assert_eq!(entries.len(), 1);
    assert_journal_matches(&entries[0], &report);
}

#[test]
fn a_failed_lambda_update_puts_every_function_back() {
    let g = group("it-deploy-failed", 10);
    // The third GetFunction of -5 (after the check before the build and the plan's read: the
    // wait after its update) says the update failed.
    fault_rules(json!([{
        "match": {"method": "GET", "path": "/functions/it-deploy-failed-5$"}, "after": 2,
        "patch": {"Configuration.LastUpdateStatus": "Failed",
                  "Configuration.LastUpdateStatusReasonCode": "ImageAccessDenied",
                  "Configuration.LastUpdateStatusReason": "injected by the fault proxy"}
    }]));
    let run = g.deploy(&["--concurrency", "3"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    let failed = &report["functions"][5];
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("ImageAccessDenied: injected by the fault proxy"),
        "{failed}"
    );
    assert!(run.stderr.contains("reverted"), "{}", run.stderr);
    g.assert_all_on(g.first_digest());
    assert_journal_matches(&g.journal()[0], &report);
}

#[test]
fn conflicts_throttling_5xx_and_dropped_connections_are_retried() {
    let g = group("it-deploy-retry", 10);
    fault_rules(json!([
        {"match": {"method": "PUT", "path": "/functions/it-deploy-retry-1/code"}, "times": 2,
         "respond": {"status": 409, "headers": {"x-amzn-ErrorType": "ResourceConflictException"},
                     "body": {"Type": "User", "message": "An update is in progress"}}},
        {"match": {"method": "PUT", "path": "/functions/it-deploy-retry-2/code"},
         "respond": {"status": 429, "headers": {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
                     "body": {"Type": "User", "message": "Rate exceeded", "retryAfterSeconds": "1"}}},
        // The wait after -3's update (its third read) meets a 502.
        {"match": {"method": "GET", "path": "/functions/it-deploy-retry-3$"}, "after": 2,
         "respond": {"status": 502, "body": {"message": "bad gateway"}}},
        {"match": {"method": "PUT", "path": "/functions/it-deploy-retry-4/code"}, "drop": true}
    ]));
    let run = g.deploy(&["-v"]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded");
    assert!(outcomes(&report).values().all(|o| o == "updated"));
    g.assert_all_on(report["digest"].as_str().unwrap());
    let puts = |n: usize| {
        fault_log(&format!("/functions/it-deploy-retry-{n}/code"))
            .iter()
            .filter(|r| r["method"] == "PUT")
            .count()
    };
    assert_eq!(puts(1), 3, "two conflicts, then the update");
    assert_eq!(puts(2), 2, "throttled once");
    assert_eq!(puts(4), 2, "dropped once");
    assert_eq!(puts(0), 1);
    let reads = fault_log("/functions/it-deploy-retry-3")
        .iter()
        .filter(|r| r["method"] == "GET" && r["injected"] == true)
        .count();
    assert_eq!(reads, 1, "the 502 was met, and the read asked again");
    assert!(
        run.stderr
            .contains("ResourceConflictException: An update is in progress"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("TooManyRequestsException: Rate exceeded"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_concurrent_change_is_reported_as_a_conflict_and_not_overwritten() {
    let g = group("it-deploy-conflict", 10);
    let someone = format!("{ECR_HOST}/it-deploy-conflict:someone-else");
    // The updates start at the control plane's pace, one every 1/15 s, and a failure keeps
    // the ones not started from starting: -3's refused update (at about 0.2 s) comes before
    // -1's wait ends (0.5 s after its update), so both are conflicts.
    fault_rules(json!([
        {"match": {"method": "PUT", "path": "/functions/it-deploy-conflict-3/code"},
         "respond": {"status": 412, "headers": {"x-amzn-ErrorType": "PreconditionFailedException"},
                     "body": {"Type": "User", "message": "The Revision Id provided does not match the latest Revision Id."}}},
        // The third GetFunction of -1 (after the check before the build and the plan's
        // read: the wait's first poll, which finds moto's update settled and verifies it;
        // the lease was free, so the functions are not read again under it) sees someone
        // else's image.
        {"match": {"method": "GET", "path": "/functions/it-deploy-conflict-1$"}, "after": 2,
         "patch": {"Code.ImageUri": someone,
                   "Code.ResolvedImageUri": format!("{ECR_HOST}/it-deploy-conflict@sha256:{}", "0".repeat(64))}}
    ]));
    let run = g.deploy(&["--concurrency", "10"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "failed");
    let outcomes = outcomes(&report);
    assert_eq!(outcomes["it-deploy-conflict-3"], "conflict");
    assert!(
        report["functions"][3]["error"]
            .as_str()
            .unwrap()
            .contains("changed by someone else"),
        "{report}"
    );
    // The last ones' turns (0.53 s and on) come after -3's failure: never started.
    for late in ["it-deploy-conflict-8", "it-deploy-conflict-9"] {
        assert_eq!(outcomes[late], "not-started", "{report}");
    }
    assert_eq!(outcomes["it-deploy-conflict-1"], "conflict");
    assert!(
        report["functions"][1]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("after the update it runs {someone}")),
        "{report}"
    );
    // -1 is left alone (one GET after the deploy sees what moto really holds); the others
    // are back where they were (or never left).
    let digests = g.digests();
    for (name, d) in &digests {
        if name != "it-deploy-conflict-1" {
            assert_eq!(d, g.first_digest(), "{name}");
        }
    }
    assert_eq!(
        fault_log("/functions/it-deploy-conflict-1/code")
            .iter()
            .filter(|r| r["method"] == "PUT")
            .count(),
        1,
        "a conflicting function is never written again"
    );
    assert_journal_matches(&g.journal()[0], &report);
}

#[test]
fn preflight_refuses_before_any_write() {
    let g = group_with("it-deploy-pre", 2, "");
    // A function on arm64 beside an x86_64 one, for a linux/amd64 image.
    crate::support::lambda_fixture(&[
        "create",
        "it-deploy-pre-arm64",
        "1",
        g.first["image_uri"].as_str().unwrap(),
        "--arch",
        "arm64",
    ])
    .success();
    g.p.file(
        "imprint.toml",
        "[deploy]\nfunctions = [\"it-deploy-pre-0\", \"it-deploy-pre-arm64-0\"]\n",
    );
    let run = g.p.run(&["deploy", "--yes"]).usage_error();
    assert!(
        run.stderr
            .contains("it-deploy-pre-arm64-0 runs on arm64, but the image is linux/amd64 (x86_64)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    // Several missing functions and an unfit one: all named in one run, before anything is
    // built or pushed.
    let tags = g.tags();
    g.p.file(
        "imprint.toml",
        "[deploy]\nfunctions = [\"it-deploy-pre-0\", \"it-deploy-pre-gone-a\", \"it-deploy-pre-gone-b\"]\n",
    );
    let run = g.p.run(&["deploy", "--yes"]).usage_error();
    assert!(
        run.stderr.contains(
            "the Lambda functions it-deploy-pre-gone-a, it-deploy-pre-gone-b do not exist"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        g.tags(),
        tags,
        "nothing is pushed before the functions are checked"
    );

    // A function in the middle of an update.
    g.p.file(
        "imprint.toml",
        "[deploy]\nfunctions = [\"it-deploy-pre-0\", \"it-deploy-pre-1\"]\n",
    );
    // Read before the build and again at preflight: both see it mid-update.
    fault_rules(json!([{
        "match": {"method": "GET", "path": "/functions/it-deploy-pre-1$"},
        "times": 2,
        "patch": {"Configuration.LastUpdateStatus": "InProgress"}
    }]));
    let run = g.p.run(&["deploy", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("an update is already in progress on it-deploy-pre-1"),
        "{}",
        run.stderr
    );
    assert_eq!(g.writes(), 0);
    assert!(g.journal().is_empty());
}
