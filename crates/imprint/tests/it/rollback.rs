//! `imprint history` and `imprint rollback` against moto and the ECR stand-in, with Lambda
//! traffic through the fault proxy.

use imprint::journal::Action;
use serde_json::{json, Value};

use crate::deploy::{assert_journal_matches, group, outcomes, Group};
use crate::preview::delete_manifest;
use crate::support::{ecr_project, fault_rules, standin_log};

/// Deploys `rounds` edits of main.py; their `deploy --json` reports, oldest first.
fn deploy_rounds(g: &Group, rounds: usize) -> Vec<Value> {
    (0..rounds)
        .map(|i| {
            g.p.file("main.py", &format!("print('{} round {i}')\n", g.prefix));
            let report = g.deploy(&[]).success().json();
            assert_eq!(report["outcome"], "succeeded");
            report
        })
        .collect()
}

fn rollback(g: &Group, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["rollback", "--yes", "--json"];
    args.extend_from_slice(extra);
    g.p.run(&args)
}

#[test]
fn history_lists_deployments_newest_first_and_rollback_steps_back() {
    let g = group("it-rollback-steps", 4);
    let deploys = deploy_rounds(&g, 3);
    // The journal is read through the lease generations, never by listing the repository.
    let listings = || standin_log("/it-rollback-steps/tags/list").len();
    let listed_before = listings();

    let history = g.p.run(&["history", "--json"]).success().json();
    let listed = history.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{history}");
    for (entry, deploy) in listed.iter().zip(deploys.iter().rev()) {
        assert_eq!(entry["action"], "deploy");
        assert_eq!(entry["outcome"], "succeeded");
        assert_eq!(entry["tag"], deploy["tag"]);
        assert_eq!(entry["digest"], deploy["digest"]);
        assert_eq!(entry["content_hash"], deploy["hash"]);
        assert_eq!(entry["id"], deploy["id"]);
        assert!(entry["caller"].as_str().unwrap().starts_with("arn:aws:"));
        let functions = entry["functions"].as_array().unwrap();
        assert_eq!(functions.len(), 4);
        assert!(functions.iter().all(|f| f["outcome"] == "updated"));
    }
    let human = g.p.run(&["history", "--limit", "2"]).success().stdout;
    let shown: Vec<&str> = human
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            deploys[2]["tag"].as_str().unwrap(),
            deploys[1]["tag"].as_str().unwrap()
        ]
    );
    assert!(
        human.contains("    updated  it-rollback-steps-0, it-rollback-steps-1"),
        "{human}"
    );

    // Back to the deployment before the current one.
    let run = rollback(&g, &[]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(report["tag"], deploys[1]["tag"]);
    assert!(outcomes(&report).values().all(|o| o == "updated"));
    g.assert_all_on(deploys[1]["digest"].as_str().unwrap());
    assert!(run.stderr.contains("going back to"), "{}", run.stderr);
    let journal = g.journal();
    let last = journal.last().unwrap();
    assert_eq!(last.begin.as_ref().unwrap().action, Action::Rollback);
    assert_journal_matches(last, &report);

    // History marks it; a second rollback steps further back, to the first deployment.
    let history = g.p.run(&["history", "--json"]).success().json();
    assert_eq!(history[0]["action"], "rollback");
    assert_eq!(history[0]["tag"], deploys[1]["tag"]);
    let human = g.p.run(&["history"]).success().stdout;
    assert!(
        human.lines().next().unwrap().contains(" rollback "),
        "{human}"
    );
    let report = rollback(&g, &[]).success().json();
    assert_eq!(report["tag"], deploys[0]["tag"]);
    g.assert_all_on(deploys[0]["digest"].as_str().unwrap());

    // --to goes anywhere pushed: here to the newest deployment, then to the first again.
    let report = rollback(&g, &["--to", deploys[2]["tag"].as_str().unwrap()])
        .success()
        .json();
    assert_eq!(report["digest"], deploys[2]["digest"]);
    g.assert_all_on(deploys[2]["digest"].as_str().unwrap());
    let report = rollback(&g, &["--to", deploys[0]["tag"].as_str().unwrap()])
        .success()
        .json();
    assert_eq!(report["digest"], deploys[0]["digest"]);
    g.assert_all_on(deploys[0]["digest"].as_str().unwrap());
    assert_eq!(g.journal().len(), 7);
    assert_eq!(
        listings(),
        listed_before,
        "history, rollback or deploy listed the tags"
    );
}

#[test]
fn rollback_to_an_image_gone_from_the_registry_is_refused_before_any_write() {
    let g = group("it-rollback-gone", 3);
    let deploys = deploy_rounds(&g, 2);
    delete_manifest(&g.prefix, deploys[0]["digest"].as_str().unwrap());
    let writes = g.writes();
    let journal = g.journal().len();
    let refused = rollback(&g, &[]).usage_error();
    assert!(
        refused.stderr.contains(&format!(
            "({}) is gone from the registry; nothing was changed",
            deploys[0]["digest"].as_str().unwrap()
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("imprint history"),
        "{}",
        refused.stderr
    );
    let refused = rollback(&g, &["--to", "20200101-000000-deadbeef"]).usage_error();
    assert!(
        refused.stderr.contains("is not in the registry"),
        "{}",
        refused.stderr
    );

    // A configured function that no longer exists: refused, named, nothing written.
    let original = std::fs::read_to_string(g.p.path("imprint.toml")).unwrap();
    let list = g
        .names
        .iter()
        .chain(["it-rollback-gone-deleted".to_string()].iter())
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    g.p.file("imprint.toml", &format!("[deploy]\nfunctions = [{list}]\n"));
    let refused = rollback(&g, &["--to", g.first["tag"].as_str().unwrap()]).usage_error();
    assert!(
        refused
            .stderr
            .contains("the Lambda function it-rollback-gone-deleted does not exist"),
        "{}",
        refused.stderr
    );
    assert_eq!(g.writes(), writes);
    assert_eq!(g.journal().len(), journal);
    g.p.file("imprint.toml", &original);
    g.assert_all_on(deploys[1]["digest"].as_str().unwrap());
}

#[test]
fn a_failure_during_rollback_puts_every_function_back_and_a_retry_succeeds() {
    let g = group("it-rollback-fail", 6);
    let deploys = deploy_rounds(&g, 2);
    fault_rules(json!([{
        "match": {"method": "PUT", "path": "/functions/it-rollback-fail-3/code"},
        "respond": {"status": 404, "headers": {"x-amzn-ErrorType": "ResourceNotFoundException"},
                    "body": {"Type": "User", "message": "Function not found: it-rollback-fail-3"}}
    }]));
    let run = rollback(&g, &["--concurrency", "2"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    assert_eq!(outcomes(&report)["it-rollback-fail-3"], "failed");
    assert!(run.stderr.contains("rollback "), "{}", run.stderr);
    g.assert_all_on(deploys[1]["digest"].as_str().unwrap());
    let journal = g.journal();
    let last = journal.last().unwrap();
    assert_eq!(last.begin.as_ref().unwrap().action, Action::Rollback);
    assert_journal_matches(last, &report);

    // The failed rollback is not a deployment to return from: the retry goes to the same place.
    let report = rollback(&g, &[]).success().json();
    assert_eq!(report["tag"], deploys[0]["tag"]);
    g.assert_all_on(deploys[0]["digest"].as_str().unwrap());
    let history = g.p.run(&["history", "--json"]).success().json();
    let outcomes: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("rollback", "succeeded"),
            ("rollback", "rolled-back"),
            ("deploy", "succeeded"),
            ("deploy", "succeeded")
        ]
    );
}

#[test]
fn rollback_with_pulumi_ownership_pins_the_tag_through_the_pulumi_cli() {
    // A recording `pulumi` stand-in (no Pulumi engine here): it logs its folder and arguments.
    let p = ecr_project(
        "it-rollback-pulumi",
        "[deploy]\nowner = \"pulumi\"\nfunctions = [\"it-rollback-pulumi-0\"]\npulumi_dir = \"infrastructure\"\npulumi_stack = \"dev\"\n",
    );
    std::fs::create_dir_all(p.path("infrastructure")).unwrap();
    let (p, record) = p.with_stand_in("pulumi", "");
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let tag = pushed["tag"].as_str().unwrap();

    let refused = p.run(&["rollback", "--yes"]).usage_error();
    assert!(
        refused.stderr.contains("pass --to TAG"),
        "{}",
        refused.stderr
    );
    let refused = p
        .run(&["rollback", "--yes", "--to", "20200101-000000-deadbeef"])
        .usage_error();
    assert!(
        refused.stderr.contains("is not in the registry"),
        "{}",
        refused.stderr
    );
    assert!(!record.exists(), "pulumi was called for a refused rollback");

    let run = p.run(&["rollback", "--to", tag, "--json"]).success();
    let pinned = run.json();
    assert_eq!(pinned["outcome"], "pinned");
    assert_eq!(pinned["digest"], pushed["digest"]);
    assert!(run.stderr.contains("run `pulumi up`"), "{}", run.stderr);
    let calls = std::fs::read_to_string(&record).unwrap();
    let infrastructure = p.path("infrastructure").canonicalize().unwrap();
    assert_eq!(
        calls.trim(),
        format!(
            "{}|config set imageTag {tag} --non-interactive --stack dev",
            infrastructure.display()
        )
    );
}

#[test]
fn rollback_after_the_first_deploy_returns_to_what_ran_before_it() {
    let g = group("it-rollback-first", 3);
    let deploys = deploy_rounds(&g, 1);
    g.assert_all_on(deploys[0]["digest"].as_str().unwrap());

    let run = rollback(&g, &[]).success();
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(report["tag"], g.first["tag"]);
    g.assert_all_on(g.first["digest"].as_str().unwrap());
    assert!(
        run.stderr.contains("no deployment in the journal before")
            && run
                .stderr
                .contains("going back to what the functions ran before it"),
        "{}",
        run.stderr
    );
    // Nothing is older than that: a second rollback says so and changes nothing.
    let writes = g.writes();
    let run = rollback(&g, &[]).usage_error();
    assert!(
        run.stderr
            .contains("before the journal's first deployment; there is nothing older"),
        "{}",
        run.stderr
    );
    assert_eq!(g.writes(), writes);
    // A deploy after it can be rolled back to it again.
    g.p.file("main.py", "print('again')\n");
    let again = g.deploy(&[]).success().json();
    assert_eq!(again["outcome"], "succeeded");
    let report = rollback(&g, &[]).success().json();
    assert_eq!(report["digest"], g.first["digest"]);
}

#[test]
fn a_journal_written_before_leases_named_their_deployments_is_still_read() {
    let g = group("it-rollback-legacy", 2);
    let deploys = deploy_rounds(&g, 3);
    // Make the first two leases look like an older imprint's: no journal ID in them.
    crate::support::set_tag_mutability("it-rollback-legacy", "MUTABLE");
    let registry = g.registry();
    for generation in 1..=2 {
        let tag = format!("imprint-lease-{generation}");
        let manifest = crate::deploy::block_on(registry.get_manifest(&tag))
            .unwrap()
            .unwrap();
        let mut json: Value = serde_json::from_slice(&manifest.bytes).unwrap();
        let annotations = json["annotations"].as_object_mut().unwrap();
        assert!(annotations.remove("dev.imprint.lease.deployment").is_some());
        let bytes = serde_json::to_vec(&json).unwrap();
        crate::deploy::block_on(registry.put_manifest(&tag, &manifest.media_type, bytes)).unwrap();
    }
    let history = g.p.run(&["history", "--json"]).success().json();
    let ids: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = deploys
        .iter()
        .rev()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want);
    let report = rollback(&g, &[]).success().json();
    assert_eq!(report["tag"], deploys[1]["tag"]);
}
