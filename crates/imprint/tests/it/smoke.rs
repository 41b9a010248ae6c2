//! The smoke tests of a deploy through an alias (`[deploy.smoke]`): run on the new versions
//! before any traffic moves, a failure moves no alias; and the example's real handlers on the
//! Python base, with a broken one caught.

use imprint::journal::DeploymentOutcome;

use crate::deploy::{outcomes, Group};
use crate::support::lambda_fixture;
use crate::traffic::{aliased, all_route, routes};

/// A stand-in for a Lambda runtime interface client (a test fixture, busybox sh and wget):
/// takes one event from the Runtime API and answers as /app/mode says: `ok` answers 200,
/// `crash` posts an error as a Python handler's KeyError would.
const RUNTIME: &str = r#"#!/bin/sh
mkdir -p /tmp
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
wget -S -q -O /tmp/event "$api/invocation/next" 2>/tmp/headers
id=$(sed -n 's/^ *[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p' /tmp/headers | tr -d '\r')
echo "START $1 $(cat /tmp/event)"
if [ "$(cat /app/mode)" = crash ]; then
  echo "Traceback (most recent call last): KeyError: 'amount'"
  printf '{"errorType":"KeyError","errorMessage":"amount"}' > /tmp/out
  wget -q -O /dev/null --post-file=/tmp/out "$api/invocation/$id/error"
else
  printf '{"statusCode":200,"body":{"handler":"%s","ok":true}}' "$1" > /tmp/out
  wget -q -O /dev/null --post-file=/tmp/out "$api/invocation/$id/response"
fi
"#;

#[test]
fn smoke_tests_run_on_the_new_versions_and_a_failure_moves_no_alias() {
    let prefix = "it-traffic-smoke";
    let g = aliased(
        prefix,
        3,
        &format!(
            "strategy = \"canary:10%:1s\"\n[deploy.smoke]\n\"{prefix}-*\" = {{ event = \"event.json\", status_code = 200, expect = {{ body = {{ ok = true }} }} }}\n"
        ),
    );
    g.p.file(
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY . /app/\nENTRYPOINT [\"/bin/sh\", \"/app/runtime.sh\"]\n",
            crate::support::server_env("IMPRINT_TEST_BASE")
        ),
    )
    .file("runtime.sh", RUNTIME)
    .file("event.json", "{\"amount\": 125, \"debtor\": \"ACME\"}\n")
    .file("mode", "ok\n");

    let run = g.deploy(&[]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let smoke = report["traffic"]["smoke"].as_array().unwrap();
    assert_eq!(smoke.len(), 3, "{report}");
    assert!(
        smoke
            .iter()
            .all(|s| s["passed"] == true && s["version"] == "2"),
        "{report}"
    );
    assert!(
        smoke[0]["answer"].as_str().unwrap().contains("\"ok\":true"),
        "{report}"
    );
    assert!(all_route(&routes(&g), &("2".to_string(), None)));

    // A handler that crashes: caught on the new versions, no alias moves, exit 1.
    g.p.file("mode", "crash\n");
    let preview = g.p.run(&["preview"]).success();
    assert!(
        preview.stdout.contains("through the alias live: a version published per function, 1 smoke test(s) on the new versions, 10% for 1s, then 100%"),
        "{}",
        preview.stdout
    );
    let aliases_before = alias_writes(&g);
    let run = g.deploy(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("smoke-failed"), "{}", run.stderr);
    assert!(run.stderr.contains("KeyError"), "{}", run.stderr);
    assert!(run.stderr.contains("no traffic moved"), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "smoke-failed", "{report}");
    assert!(
        outcomes(&report).values().all(|o| o == "not-started"),
        "{report}"
    );
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
    assert_eq!(alias_writes(&g), aliases_before, "an alias was written");
    let entries = g.journal();
    let end = entries.last().unwrap().end.as_ref().unwrap();
    assert_eq!(end.outcome, Some(DeploymentOutcome::SmokeFailed));
    let smoke = &end.traffic.as_ref().unwrap().smoke;
    assert!(smoke.iter().all(|s| !s.passed), "{smoke:?}");
    assert!(
        smoke[0]
            .log_tail
            .as_deref()
            .unwrap_or("")
            .contains("KeyError"),
        "{smoke:?}"
    );

    // --skip-smoke moves the traffic anyway, and the journal says the tests were skipped.
    let report = g
        .deploy(&["--skip-smoke", "--strategy", "all-at-once"])
        .success()
        .json();
    assert_eq!(report["traffic"]["smoke_skipped"], true, "{report}");
    assert!(all_route(&routes(&g), &("3".to_string(), None)));
}

/// UpdateAlias requests the fault proxy saw for the group.
fn alias_writes(g: &Group) -> usize {
    crate::support::fault_log(&format!("/functions/{}-", g.prefix))
        .iter()
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap().contains("/aliases/"))
        .count()
}

/// The example (examples/debt-api) on the Python base scripts/test-env makes (Debian's python3
/// with AWS's runtime interface client), two of its functions, the alias and its smoke tests.
fn real_example(prefix: &str) -> crate::support::Project {
    let p = crate::support::ecr_servers(prefix).with_uv();
    crate::support::copy_example(&p);
    p.file(
        "imprint.toml",
        &format!(
            r#"{image}
[deploy]
functions = ["{prefix}-0", "{prefix}-1"]
alias = "live"

[deploy.smoke]
"{prefix}-0" = {{ event = "events/healthz.json", status_code = 200, expect = {{ body = '{{"status": "ok"}}' }} }}
"{prefix}-1" = {{ event = "events/create-debt.json", status_code = 201 }}
"#,
            image = crate::support::example_image(prefix, "native")
        ),
    );
    p
}

#[test]
fn the_examples_real_handlers_pass_their_smoke_tests_and_a_broken_one_is_caught() {
    let prefix = "it-traffic-real";
    let p = real_example(prefix);
    p.run(&["build"]).success();
    let first = p.run(&["push", "--create-repo", "--json"]).success().json();
    let uri = first["image_uri"].as_str().unwrap();
    let created = lambda_fixture(&[
        "create",
        prefix,
        "2",
        uri,
        "--handler",
        "handlers.healthz.handler",
        "--handler",
        "handlers.debts.create_handler",
    ]);
    let names: Vec<String> = serde_json::from_value(created.success().json()).unwrap();
    let mut args = vec!["alias", "live"];
    args.extend(names.iter().map(String::as_str));
    lambda_fixture(&args).success();

    // An edit, deployed: both real handlers answer their events on the new versions.
    let healthz = p.path("handlers/healthz.py");
    let text = std::fs::read_to_string(&healthz).unwrap();
    std::fs::write(&healthz, format!("{text}\n# reviewed\n")).unwrap();
    let report = p.run(&["deploy", "--yes", "--json"]).success().json();
    let smoke = report["traffic"]["smoke"].as_array().unwrap();
    assert_eq!(smoke.len(), 2, "{report}");
    assert!(smoke.iter().all(|s| s["passed"] == true), "{report}");
    let created_debt = smoke
        .iter()
        .find(|s| s["function"] == format!("{prefix}-1").as_str());
    assert!(
        created_debt.unwrap()["answer"]
            .as_str()
            .unwrap()
            .contains("ACME Ltd"),
        "{report}"
    );

    // A handler that raises: Python's traceback comes back in the log tail; no alias moves.
    std::fs::write(
        &healthz,
        "def handler(event, context):\n    return {'statusCode': 200, 'body': event['missing']}\n",
    )
    .unwrap();
    let run = p.run(&["deploy", "--yes", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("smoke-failed {prefix}-0")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("KeyError"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(&format!("smoke-failed {prefix}-1")),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["outcome"], "smoke-failed");
    let mut args = vec!["routes", "live"];
    args.extend(names.iter().map(String::as_str));
    let routes = lambda_fixture(&args).success().json();
    for name in &names {
        assert_eq!(routes[name]["version"], "2", "{routes}");
        assert_eq!(routes[name]["weights"], serde_json::json!({}), "{routes}");
    }
}
