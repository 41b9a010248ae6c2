//! A registry that fails now and then (the fault proxy, a test fixture, in front of the ECR
//! stand-in): every fifth request answered 503, a manifest write answered 429 with
//! `Retry-After`, a streamed layer and a whole blob cut mid-body. imprint's one retry policy
//! still gets a push, a lease, a deploy with its journal and a gc through, and what the
//! registry holds is what was sent.

use std::process::Command;

use serde_json::{json, Value};

use crate::deploy::{block_on, group};
use crate::support::{faulty_registry_admin, output, server_env, Run};

/// Runs imprint in `p`'s project with the flaky registry as its endpoint.
fn flaky(cmd: &mut Command) -> Run {
    cmd.env(
        "IMPRINT_REGISTRY_ENDPOINT",
        format!("http://{}", server_env("IMPRINT_TEST_FAULTY_REGISTRY")),
    );
    output(cmd.output().unwrap())
}

#[test]
fn a_flaky_registry_still_gets_a_push_a_lease_a_deploy_with_its_journal_and_a_gc_through() {
    let g = group("it-flaky", 2);
    // A layer large enough to stream (16 MiB and more), of bytes that do not compress.
    let noise: Vec<u8> = (0..20 << 20).map(|_| fastrand::u8(..)).collect();
    std::fs::write(g.p.path("noise.bin"), noise).unwrap();
    faulty_registry_admin("DELETE", "/__fault/rules", "");
    faulty_registry_admin("DELETE", "/__fault/log", "");
    let rules = json!([
        {"match": {"method": "PATCH", "path": "/it-flaky/blobs/uploads/"}, "cut": 1 << 20},
        {"match": {"method": "PUT", "path": "/it-flaky/blobs/uploads/"}, "cut": 100},
        {"match": {"method": "PUT", "path": "/it-flaky/manifests/"},
         "respond": {"status": 429, "headers": {"Retry-After": "1"}}},
        {"match": {"path": "/it-flaky/"}, "every": 5, "times": 100000,
         "respond": {"status": 503, "body": {"errors": [{"code": "UNAVAILABLE"}]}}},
    ]);
    faulty_registry_admin("POST", "/__fault/rules", &rules.to_string());

    // The push: the streamed layer is cut, so it goes whole; the whole upload cut once
    // starts over; the manifest waits out its 429; every fifth request fails.
    let run = flaky(g.p.command(&["build"]).env("RUST_LOG", "imprint=info"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pushed = flaky(&mut g.p.command(&["push", "--json"]));
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let pushed: Value = pushed.json();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    // What the registry holds under the tag is what imprint sent (through the good path).
    let registry = g.registry();
    let tag = pushed["tag"].as_str().unwrap();
    assert_eq!(
        block_on(registry.manifest_digest(tag)).unwrap().as_deref(),
        Some(digest.as_str())
    );
    let manifest = block_on(registry.get_manifest(&digest)).unwrap().unwrap();
    let layers: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    for layer in layers["layers"].as_array().unwrap() {
        let d = layer["digest"].as_str().unwrap();
        assert!(block_on(registry.has_blob(d)).unwrap(), "{d} is missing");
    }

    // The deploy: the lease, the journal's begin and end records, all through the faults.
    let deploy = flaky(&mut g.p.command(&["deploy", "--yes", "--json"]));
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    let report = deploy.json();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert!(g.digests().values().all(|d| *d == digest), "{report}");
    let journal = g.journal();
    let last = journal.last().unwrap();
    assert!(last.begin.is_some() && last.end.is_some(), "{journal:?}");

    // gc, deleting the first image (no function runs it, no deployment is kept).
    let first = g.first["digest"].as_str().unwrap().to_string();
    let gc_all = || {
        let args = [
            "gc",
            "--yes",
            "--json",
            "--keep-days",
            "0",
            "--keep-deployments",
            "0",
        ];
        flaky(&mut g.p.command(&args))
    };
    let gc = gc_all();
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    let gc = gc.json();
    assert_eq!(gc["outcome"], "deleted", "{gc}");
    assert!(block_on(registry.manifest_digest(&first))
        .unwrap()
        .is_none());

    // A gc whose record cannot be written deleted what it says, and fails (exit 1).
    g.p.file("main.py", "print('it-flaky unused')\n");
    g.p.run(&["build"]).success();
    let unused = g.p.run(&["push", "--json"]).success().json();
    let refuse_record = json!([{"match": {"method": "PUT", "path": "/manifests/imprint-journal-.*-gc$"},
        "times": 100, "respond": {"status": 403, "body": {"errors": [{"code": "DENIED"}]}}}]);
    faulty_registry_admin("POST", "/__fault/rules", &refuse_record.to_string());
    let gc = gc_all();
    assert_eq!(gc.code, 1, "{}", gc.stderr);
    let gc = gc.json();
    assert!(gc["unrecorded"].as_str().is_some(), "{gc}");
    let unused = unused["digest"].as_str().unwrap();
    assert!(block_on(registry.manifest_digest(unused))
        .unwrap()
        .is_none());

    // Every kind of fault was met.
    let log: Vec<Value> =
        serde_json::from_str(&faulty_registry_admin("GET", "/__fault/log", "")).unwrap();
    let injected = |method: &str| {
        log.iter()
            .filter(|r| r["injected"] == true && r["method"] == method)
            .count()
    };
    assert!(injected("PATCH") >= 1 && injected("PUT") >= 3, "{log:?}");
    assert!(injected("GET") + injected("HEAD") >= 5, "{log:?}");
    // A registry that cuts every upload: the push gives up within its time, and says the
    // connection was cut (not that the registry cannot be reached).
    faulty_registry_admin("DELETE", "/__fault/rules", "");
    let cut_all = json!([{"match": {"method": "PUT", "path": "/it-flaky/blobs/uploads/"},
        "times": 1000, "cut": 10}]);
    faulty_registry_admin("POST", "/__fault/rules", &cut_all.to_string());
    std::fs::remove_file(g.p.path("noise.bin")).unwrap();
    g.p.file("main.py", "print('it-flaky never pushed')\n");
    g.p.run(&["build"]).success();
    let run = flaky(&mut g.p.command(&["--call-timeout", "4s", "push"]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("closed the connection in the middle of a request")
            && !run.stderr.contains("check the address"),
        "{}",
        run.stderr
    );
    faulty_registry_admin("DELETE", "/__fault/rules", "");
}
