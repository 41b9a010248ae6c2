//! Deploys through an alias against moto (patched to keep each version's image, as AWS does:
//! scripts/fixtures/moto-server.py): versions published, every alias of a group shifted in
//! step by each strategy, alarms (CloudWatch in moto) putting every alias back, Ctrl-C and
//! SIGKILL in the middle of a bake.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use imprint::journal::DeploymentOutcome;
use serde_json::Value;

use crate::deploy::{assert_journal_matches, group_with, outcomes, Group};
use crate::support::{lambda_fixture, output, Run};

/// Where one alias routes: its version and the second version's weight, if any.
pub(crate) type Route = (String, Option<(String, f64)>);

/// A group whose functions each have the alias `live` on a published version 1.
pub(crate) fn aliased(prefix: &str, count: usize, config: &str) -> Group {
    let g = group_with(prefix, count, &format!("alias = \"live\"\n{config}"));
    let mut args = vec!["alias", "live"];
    args.extend(g.names.iter().map(String::as_str));
    lambda_fixture(&args).success();
    g
}

pub(crate) fn routes(g: &Group) -> BTreeMap<String, Route> {
    let mut args = vec!["routes", "live"];
    args.extend(g.names.iter().map(String::as_str));
    let run = lambda_fixture(&args).success();
    let all: BTreeMap<String, Value> = serde_json::from_value(run.json()).unwrap();
    all.into_iter()
        .map(|(name, r)| {
            let version = r["version"].as_str().unwrap().to_string();
            let extra = r["weights"]
                .as_object()
                .unwrap()
                .iter()
                .next()
                .map(|(v, w)| (v.clone(), w.as_f64().unwrap()));
            (name, (version, extra))
        })
        .collect()
}

/// Every alias of the group routes `route`.
pub(crate) fn all_route(snapshot: &BTreeMap<String, Route>, route: &Route) -> bool {
    snapshot.values().all(|r| r == route)
}

fn set_alarm(name: &str, state: &str) {
    lambda_fixture(&["alarm", name, state, "Threshold Crossed: set by the test"]).success();
}

fn spawn_deploy(g: &Group, extra: &[&str]) -> Child {
    let mut args = vec!["deploy", "--yes", "--json"];
    args.extend_from_slice(extra);
    g.p.command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Snapshots of every alias until the deploy ends; its run and the snapshots.
fn observe(g: &Group, mut child: Child) -> (Run, Vec<BTreeMap<String, Route>>) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the deploy did not end");
        seen.push(routes(g));
    }
    (output(child.wait_with_output().unwrap()), seen)
}

/// Waits until `ready` holds for the group's aliases.
fn wait_until(g: &Group, child: &mut Child, ready: impl Fn(&BTreeMap<String, Route>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the aliases never got there");
        if child.try_wait().unwrap().is_some() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the deploy ended first:\n{stderr}");
        }
        if ready(&routes(g)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let sent = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn shifts(report: &Value) -> Vec<u64> {
    report["traffic"]["shifts"]
        .as_array()
        .map(|s| s.iter().map(|s| s["percent"].as_u64().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn each_strategy_shifts_a_six_function_group_in_step() {
    let g = group_with("it-traffic-steps", 6, "alias = \"live\"\n");
    // No alias yet: refused before any write, naming every function and how to create it.
    let run = g.deploy(&[]).usage_error();
    assert!(run.stderr.contains("no alias \"live\""), "{}", run.stderr);
    assert!(run.stderr.contains(&g.names[5]), "{}", run.stderr);
    assert!(run.stderr.contains("create-alias"), "{}", run.stderr);
    assert_eq!(g.writes(), 0);
    let mut args = vec!["alias", "live"];
    args.extend(g.names.iter().map(String::as_str));
    lambda_fixture(&args).success();

    // A strategy that is none of the forms is refused by name.
    let run = g.p.run(&[
        "deploy",
        "--yes",
        "--strategy",
        "Canary10PercentFiveMinutes",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("Canary10Percent5Minutes"),
        "{}",
        run.stderr
    );

    let cases: [(&str, &[u64]); 3] = [
        ("canary:10%:2s", &[10, 100]),
        ("linear:34%:1s", &[34, 68, 100]),
        ("blue-green", &[100]),
    ];
    for (round, (strategy, expected)) in cases.into_iter().enumerate() {
        // Version 1 is the fixture's; each round publishes the next.
        let version = round + 1;
        g.p.file("main.py", &format!("print('round {round}')\n"));
        let before = routes(&g);
        assert!(
            all_route(&before, &(version.to_string(), None)),
            "{before:?}"
        );
        let (run, seen) = observe(&g, spawn_deploy(&g, &["--strategy", strategy]));
        let report = run.success().json();
        assert_eq!(report["outcome"], "succeeded", "{report}");
        assert_eq!(shifts(&report), expected, "{strategy}: {report}");
        assert_eq!(report["traffic"]["strategy"], strategy);
        let new = (version + 1).to_string();
        // Each split step was seen with every alias on it at once.
        for percent in expected.iter().filter(|p| **p < 100) {
            let step = (
                version.to_string(),
                Some((new.clone(), *percent as f64 / 100.0)),
            );
            assert!(
                seen.iter().any(|s| all_route(s, &step)),
                "{strategy}: never saw every alias at {percent}%: {seen:?}"
            );
        }
        let after = routes(&g);
        assert!(
            all_route(&after, &(new.clone(), None)),
            "{strategy}: {after:?}"
        );
        g.assert_all_on(report["digest"].as_str().unwrap());
        let entries = g.journal();
        let last = entries.last().unwrap();
        assert_journal_matches(last, &report);
        let end = last.end.as_ref().unwrap();
        let traffic = end.traffic.as_ref().unwrap();
        assert_eq!(traffic.alias, "live");
        let recorded: Vec<u64> = traffic
            .shifts
            .iter()
            .map(|s| u64::from(s.percent))
            .collect();
        assert_eq!(recorded, expected);
        assert!(end
            .results
            .iter()
            .all(|r| r.version.as_deref() == Some(new.as_str())));
        let begin = last.begin.as_ref().unwrap();
        let old = version.to_string();
        assert!(begin
            .functions
            .iter()
            .all(|f| f.old_version.as_deref() == Some(old.as_str())));
    }

    // A repeat deploys nothing: every alias already routes all traffic to this image.
    let report = g.deploy(&[]).success().json();
    assert_eq!(report["outcome"], "up-to-date", "{report}");
}

#[test]
fn an_alarm_mid_canary_puts_every_alias_back() {
    let alarm = "it-traffic-alarm-errors";
    set_alarm(alarm, "OK");
    let g = aliased(
        "it-traffic-alarm",
        6,
        &format!("strategy = \"canary:10%:60s\"\nalarms = [\"{alarm}\"]\n"),
    );
    let mut child = spawn_deploy(&g, &[]);
    let canary = ("1".to_string(), Some(("2".to_string(), 0.1)));
    wait_until(&g, &mut child, |s| all_route(s, &canary));
    set_alarm(alarm, "ALARM");
    let started = Instant::now();
    let run = output(child.wait_with_output().unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the bake was not cut short"
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("alarm {alarm} fired")),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    assert_eq!(report["traffic"]["alarm"]["name"], alarm);
    assert!(
        outcomes(&report).values().all(|o| o == "reverted"),
        "{report}"
    );
    assert!(all_route(&routes(&g), &("1".to_string(), None)));
    let entries = g.journal();
    assert_eq!(entries.len(), 1);
    assert_journal_matches(&entries[0], &report);
    let end = entries[0].end.as_ref().unwrap();
    assert_eq!(end.outcome, Some(DeploymentOutcome::Reverted));
    assert_eq!(
        end.traffic.as_ref().unwrap().alarm.as_ref().unwrap().name,
        alarm
    );

    // Still firing: the next deploy is refused before any write, unless told to go on.
    let writes = g.writes();
    let run = g.deploy(&[]).usage_error();
    assert!(run.stderr.contains("alarms already fire"), "{}", run.stderr);
    assert!(run.stderr.contains("--ignore-alarms"), "{}", run.stderr);
    assert_eq!(g.writes(), writes);
    let run = g
        .deploy(&["--ignore-alarms", "--strategy", "blue-green"])
        .success();
    assert!(run.stderr.contains("not watched"), "{}", run.stderr);
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
    set_alarm(alarm, "OK");

    // An alarm CloudWatch does not know is a usage error, not a silent no-op.
    g.p.file(
        "imprint.toml",
        &format!(
            "[deploy]\nfunctions = [{}]\nalias = \"live\"\nalarms = [\"it-traffic-no-such-alarm\"]\n",
            g.names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
        ),
    );
    let run = g.deploy(&[]).usage_error();
    assert!(
        run.stderr
            .contains("no alarm named it-traffic-no-such-alarm"),
        "{}",
        run.stderr
    );
}

#[test]
fn ctrl_c_mid_bake_puts_every_alias_back() {
    let g = aliased("it-traffic-int", 6, "strategy = \"canary:25%:60s\"\n");
    let mut child = spawn_deploy(&g, &[]);
    let canary = ("1".to_string(), Some(("2".to_string(), 0.25)));
    wait_until(&g, &mut child, |s| all_route(s, &canary));
    signal(&child, "-INT");
    let run = output(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    assert_eq!(shifts(&report), vec![25]);
    assert!(all_route(&routes(&g), &("1".to_string(), None)));
    assert_journal_matches(&g.journal()[0], &report);
}

#[test]
fn a_deploy_killed_mid_shift_is_shown_by_status_and_put_back_by_the_next() {
    let g = aliased("it-traffic-kill", 6, "strategy = \"linear:20%:60s\"\n");
    let mut child = spawn_deploy(&g, &[]);
    let step = ("1".to_string(), Some(("2".to_string(), 0.2)));
    wait_until(&g, &mut child, |s| all_route(s, &step));
    signal(&child, "-KILL");
    child.wait().unwrap();

    let status = g.p.run(&["status"]).success();
    assert!(
        status.stdout.contains("alias live → 1"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("+ 20% → 2"), "{}", status.stdout);
    let json = g.p.run(&["status", "--json"]).success().json();
    assert_eq!(
        json["unfinished_deploys"].as_array().unwrap().len(),
        1,
        "{json}"
    );

    // The next deploy puts every alias back, closes the record, and deploys again.
    let run = g.deploy(&["--strategy", "all-at-once"]).success();
    assert!(run.stderr.contains("was interrupted"), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["recovered"].as_array().unwrap().len(), 1);
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let closed = &g.journal()[0];
    let end = closed.end.as_ref().unwrap();
    assert_eq!(end.outcome, Some(DeploymentOutcome::Interrupted));
    // Lambda keeps the version the killed deploy published; this one routes to it.
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
}

#[test]
fn rollback_through_the_alias_flips_to_the_recorded_versions() {
    let g = aliased("it-traffic-back", 4, "strategy = \"canary:50%:1s\"\n");
    g.deploy(&[]).success();
    g.p.file("main.py", "print('third')\n");
    let third = g.deploy(&[]).success().json();
    assert!(all_route(&routes(&g), &("3".to_string(), None)));
    let code_writes = || {
        crate::support::fault_log(&format!("/functions/{}-", g.prefix))
            .iter()
            .filter(|r| {
                let path = r["path"].as_str().unwrap();
                r["method"] != "GET" && (path.ends_with("/code") || path.ends_with("/versions"))
            })
            .count()
    };
    let before = code_writes();

    // Back to the first deploy's versions: the configured canary is not used, and neither
    // $LATEST nor a new version is written, only the aliases.
    let run = g.p.run(&["rollback", "--yes", "--json"]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(shifts(&report), vec![100]);
    assert_eq!(report["traffic"]["strategy"], "all-at-once");
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
    assert_eq!(
        code_writes(),
        before,
        "a rollback through the alias only moves the alias"
    );
    assert_ne!(report["digest"], third["digest"]);
    g.assert_all_on(third["digest"].as_str().unwrap());
}

#[test]
fn faults_while_shifting_are_retried_and_a_conflict_puts_every_alias_back() {
    let prefix = "it-traffic-fault";
    let g = aliased(prefix, 4, "strategy = \"canary:10%:1s\"\n");
    let alias_path = |n: usize| format!("/functions/{prefix}-{n}/aliases/live");
    crate::support::fault_rules(serde_json::json!([
        {"match": {"method": "PUT", "path": alias_path(1)},
         "respond": {"status": 429, "headers": {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
                     "body": {"Type": "User", "message": "Rate exceeded"}}},
        {"match": {"method": "PUT", "path": alias_path(2)}, "drop": true}
    ]));
    let report = g.deploy(&[]).success().json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(shifts(&report), vec![10, 100]);
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
    let puts = |n: usize| {
        crate::support::fault_log(&alias_path(n))
            .iter()
            .filter(|r| r["method"] == "PUT")
            .count()
    };
    assert_eq!(puts(0), 2, "10%, then the flip");
    assert_eq!(puts(1), 3, "throttled once");
    assert_eq!(puts(2), 3, "dropped once");

    // Someone else's change refused by Lambda (PreconditionFailed) at the flip of one alias:
    // it is not overwritten as ours, and every alias goes back to version 2.
    crate::support::fault_rules(serde_json::json!([
        {"match": {"method": "PUT", "path": alias_path(3)}, "after": 1,
         "respond": {"status": 412, "headers": {"x-amzn-ErrorType": "PreconditionFailedException"},
                     "body": {"Type": "User", "message": "The Revision Id provided does not match the latest Revision Id."}}}
    ]));
    g.p.file("main.py", "print('conflict')\n");
    let run = g.deploy(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("changed by someone else"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    assert_eq!(shifts(&report), vec![10]);
    assert!(all_route(&routes(&g), &("2".to_string(), None)));
}

#[test]
fn an_all_at_once_deploy_warns_once_about_aliases_on_published_versions_unless_told_there_are_none()
{
    let g = group_with("it-warn-aliases", 3, "");
    let mut args = vec!["alias", "live"];
    args.extend(g.names.iter().map(String::as_str));
    lambda_fixture(&args).success();
    let listed = || {
        crate::support::fault_log("/functions/it-warn-aliases-")
            .iter()
            .filter(|r| r["path"].as_str().unwrap().contains("/aliases"))
            .count()
    };
    let run = g.deploy(&[]).success();
    let warning = "warning: 3 functions have aliases on published versions";
    assert_eq!(run.stderr.matches(warning).count(), 1, "{}", run.stderr);
    for name in &g.names {
        assert!(
            run.stderr.contains(&format!("{name} (live → version 1)")),
            "{}",
            run.stderr
        );
    }
    assert_eq!(listed(), 3, "one ListAliases a function");

    // `warn_aliases = false`: the functions are not asked for their aliases at all.
    let list: Vec<String> = g.names.iter().map(|n| format!("\"{n}\"")).collect();
    g.p.file(
        "imprint.toml",
        &format!(
            "[deploy]\nfunctions = [{}]\nwarn_aliases = false\n",
            list.join(", ")
        ),
    );
    g.p.file("main.py", "print('it-warn-aliases third')\n");
    let run = g.deploy(&[]).success();
    assert!(outcomes(&run.json()).values().all(|o| o == "updated"));
    assert!(
        !run.stderr.contains("aliases on published"),
        "{}",
        run.stderr
    );
    assert_eq!(listed(), 3, "no ListAliases with warn_aliases = false");
}
