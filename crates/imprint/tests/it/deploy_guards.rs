//! What guards a deploy: a killed or interrupted run is found and closed (status, the next
//! deploy, Ctrl-C), one deploy at a time (the lease), `--no-revert` (by its old name `--no-rollback`) and `owner = "pulumi"`,
//! and the images a function must never get (imprint's own artifacts, another platform).

use std::time::{Duration, Instant};

use imprint::journal::DeploymentOutcome;
use serde_json::json;

use crate::deploy::{assert_journal_matches, group, outcomes, Group};
use crate::support::fault_rules;

#[test]
fn a_killed_deploy_is_found_by_status_and_closed_by_the_next_deploy() {
    let g = group("it-deploy-kill", 10);
    g.slow_updates();
    // Kill points: after the begin record, after 3 updates sent, after 7.
    for (round, kill_after) in [0usize, 3, 7].into_iter().enumerate() {
        g.p.file("main.py", &format!("print('kill round {round}')\n"));
        g.p.run(&["build"]).success();
        g.p.run(&["push"]).success();
        let before = g.update_requests();
        let journal_before = g.journal().len();
        let mut child =
            g.p.command(&["deploy", "--yes", "--concurrency", "2"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
        wait_for(&g, &mut child, journal_before, before, kill_after);
        child.kill().unwrap();
        child.wait().unwrap();

        let status = g.p.run(&["status", "--json"]).success().json();
        let open = status["unfinished_deploys"].as_array().unwrap();
        assert_eq!(open.len(), 1, "round {round}: {status}");
        let id = open[0]["id"].as_str().unwrap().to_string();
        for f in status["functions"].as_array().unwrap() {
            assert!(
                f["drift"].to_string().contains(&format!("deploy {id} of")),
                "{f}"
            );
        }

        let run = g.deploy(&[]).success();
        let report = run.json();
        assert_eq!(report["recovered"], json!([id]), "round {round}");
        // Updates already sent when the kill came may still land: then nothing is left to do.
        let moved = match report["outcome"].as_str().unwrap() {
            "succeeded" => 1,
            "up-to-date" => 0,
            other => panic!("round {round}: {other}"),
        };
        assert!(run.stderr.contains("was interrupted"), "{}", run.stderr);
        g.assert_all_on(report["digest"].as_str().unwrap());

        // The journal is complete: every deploy has both records.
        let entries = g.journal();
        assert_eq!(entries.len(), journal_before + 1 + moved, "round {round}");
        for e in &entries {
            assert!(e.begin.is_some() && e.end.is_some(), "{}", e.id);
        }
        let closed = entries.iter().find(|e| e.id == id).unwrap();
        let end = closed.end.as_ref().unwrap();
        assert_eq!(end.outcome, Some(DeploymentOutcome::Interrupted));
        assert_eq!(end.results.len(), 10);
        assert!(end.results.iter().all(|r| r.image.is_some()));
        let status = g.p.run(&["status", "--json"]).success().json();
        assert_eq!(status["unfinished_deploys"], json!([]));
    }
}

/// Waits until the running deploy has written its begin record and sent `updates` updates.
fn wait_for(
    g: &Group,
    child: &mut std::process::Child,
    journal_before: usize,
    updates_before: usize,
    updates: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    // The begin record, once there, stays: after it is seen only the (quick) update count is
    // polled, so a loaded machine does not read the whole journal while the kill point passes.
    let mut begun = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the deploy never got to the kill point"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the deploy ended before the kill point"
        );
        begun = begun || g.journal().len() > journal_before;
        if begun && g.update_requests() - updates_before >= updates {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_new_updates_and_puts_the_moved_ones_back() {
    let g = group("it-deploy-int", 10);
    g.slow_updates();
    let mut child =
        g.p.command(&["deploy", "--yes", "--json", "--concurrency", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    wait_for(&g, &mut child, 0, 0, 3);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let run = crate::support::output(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted: no new updates start"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    let outcomes = outcomes(&report);
    assert!(outcomes.values().any(|o| o == "not-started"), "{report}");
    assert!(outcomes.values().any(|o| o == "reverted"), "{report}");
    assert!(
        outcomes
            .values()
            .all(|o| o == "not-started" || o == "reverted"),
        "{report}"
    );
    g.assert_all_on(g.first_digest());
    let entries = g.journal();
    assert_eq!(entries.len(), 1);
    assert_journal_matches(&entries[0], &report);
}

#[test]
fn no_rollback_leaves_the_updated_functions_and_pulumi_ownership_writes_nothing() {
    let g = group("it-deploy-keep", 4);
    // A client error that is not retried (the budget outlasts the test).
    fault_rules(json!([{
        "match": {"method": "PUT", "path": "/functions/it-deploy-keep-3/code"}, "times": 100,
        "respond": {"status": 400, "headers": {"x-amzn-ErrorType": "InvalidParameterValueException"},
                    "body": {"Type": "User", "message": "injected: not retryable"}}
    }]));
    let run = g.deploy(&["--no-rollback", "--concurrency", "4"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "failed");
    let outcomes = outcomes(&report);
    assert_eq!(outcomes["it-deploy-keep-3"], "failed");
    assert!(
        report["functions"][3]["error"]
            .as_str()
            .unwrap()
            .contains("InvalidParameterValueException: injected: not retryable"),
        "{report}"
    );
    let digests = g.digests();
    for (name, outcome) in &outcomes {
        let expected = if outcome == "updated" {
            report["digest"].as_str().unwrap()
        } else {
            g.first_digest()
        };
        assert_eq!(digests[name], expected, "{name} ({outcome})");
    }
    assert!(outcomes.values().any(|o| o == "updated"), "{report}");
    assert_journal_matches(&g.journal()[0], &report);

    // owner = "pulumi": build and push, never a write to a function.
    let writes = g.writes();
    g.p.file(
        "imprint.toml",
        "[deploy]\nowner = \"pulumi\"\nfunctions = [\"it-deploy-keep-0\"]\n",
    );
    g.p.file("main.py", "print('for pulumi')\n");
    let run = g.deploy(&[]).success();
    let handed = run.json();
    assert_eq!(handed["outcome"], "pushed");
    assert!(run.stderr.contains("pulumi up"), "{}", run.stderr);
    assert_eq!(g.writes(), writes);
    assert_eq!(g.journal().len(), 1);
    let tag = handed["tag"].as_str().unwrap();
    let pushed = g.p.run(&["tag", "--json"]).success().json();
    assert_eq!(pushed["tag"], tag);
    assert_eq!(pushed["pushed"], true);
}

#[test]
fn a_second_deploy_while_one_runs_is_refused_naming_the_holder() {
    let g = group("it-deploy-lease", 4);
    g.slow_updates();
    let first =
        g.p.command(&["deploy", "--yes", "--concurrency", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // The first holds the lease once its begin record is written.
    let started = Instant::now();
    while g.journal().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no begin record"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        g.tags().iter().any(|t| t == "imprint-lease-1"),
        "{:?}",
        g.tags()
    );
    let second = g.deploy(&[]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains("holds its lease")
            && second.stderr.contains(&format!("(pid {})", first.id())),
        "{}",
        second.stderr
    );
    let writes = g.writes();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(g.writes() >= writes, "the refused deploy changed nothing");
    assert_eq!(g.journal().len(), 1, "the refused deploy wrote no record");

    // Released at the end: the next change deploys under the next lease.
    g.p.file("main.py", "print('after the lease')\n");
    let report = g.deploy(&[]).success().json();
    assert_eq!(report["outcome"], "succeeded");
    let tags = g.tags();
    for t in [
        "imprint-lease-1-released",
        "imprint-lease-2",
        "imprint-lease-2-released",
    ] {
        assert!(tags.iter().any(|x| x == t), "{t} in {tags:?}");
    }
}

#[test]
fn deploy_and_rollback_refuse_imprints_own_artifacts_and_images_for_another_platform() {
    let g = group("it-not-image", 1);
    g.p.file("main.py", "print('deployed')\n");
    g.deploy(&[]).success();
    let (before, deployments) = (g.digests(), g.journal().len());
    let tags = g.tags();
    let find = |keep: &dyn Fn(&str) -> bool| -> String {
        tags.iter()
            .find(|t| keep(t))
            .unwrap_or_else(|| panic!("no such tag in {tags:?}"))
            .clone()
    };
    let lease = find(&|t| t.starts_with("imprint-lease-"));
    let record = find(&|t| t.starts_with("imprint-journal-") && t.ends_with("-end"));
    let index = find(&|t| t.len() == 72 && t.starts_with("imprint-") && !t.contains("journal"));
    for (tag, what) in [
        (&lease, "imprint's deploy lease marker"),
        (&record, "imprint's deploy journal record"),
        (&index, "imprint's index artifact"),
    ] {
        let deploy = g.deploy(&["--tag", tag]).usage_error();
        assert!(
            deploy.stderr.contains(&format!(":{tag} is {what}")),
            "{}",
            deploy.stderr
        );
        assert!(
            deploy.stderr.contains(what)
                && deploy
                    .stderr
                    .contains("not an image the functions can run on linux/amd64"),
            "{tag}: {}",
            deploy.stderr
        );
        let rollback = g.p.run(&["rollback", "--yes", "--to", tag]).usage_error();
        assert!(rollback.stderr.contains(what), "{tag}: {}", rollback.stderr);
    }
    // An image built for arm64 (FROM scratch needs no emulator) is refused by name.
    g.p.file("main.py", "print('arm64')\n");
    let arm = [("IMPRINT_PLATFORM", "linux/arm64")];
    let mut build = g.p.command(&["build", "--offline"]);
    build.envs(arm);
    assert!(build.status().unwrap().success());
    let mut push = g.p.command(&["push", "--json"]);
    push.envs(arm);
    let pushed = crate::support::output(push.output().unwrap())
        .success()
        .json();
    let tag = pushed["tag"].as_str().unwrap();
    let refused = g.deploy(&["--tag", tag]).usage_error();
    assert!(
        refused.stderr.contains(
            "is an image for linux/arm64, not an image the functions can run on linux/amd64"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(g.digests(), before, "a refused deploy moved a function");
    assert_eq!(
        g.journal().len(),
        deployments,
        "a refused deploy was journaled"
    );
}
