//! `imprint preview` against moto and the ECR stand-in: what would change, per function and
//! per input file, with no write anywhere.

use serde_json::{json, Value};

use crate::deploy::{group, Group};
use crate::support::server_env;

/// Deletes a manifest from the registry behind the ECR stand-in (as a user's cleanup would).
pub(crate) fn delete_manifest(repository: &str, digest: &str) {
    let url = format!(
        "http://{}/v2/{repository}/manifests/{digest}",
        server_env("IMPRINT_TEST_REGISTRY")
    );
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "DELETE", &url])
        .status()
        .unwrap();
    assert!(status.success(), "DELETE {url}");
}

fn preview(g: &Group) -> (Value, String) {
    let json = g.p.run(&["preview", "--json"]).success().json();
    let human = g.p.run(&["preview"]).success().stdout;
    (json, human)
}

#[test]
fn preview_names_the_edited_file_and_every_function_and_writes_nothing() {
    // The group's functions run its first image; main.py has been edited since.
    let g = group("it-preview-edit", 4);
    let tags = g.tags();
    let (report, human) = preview(&g);
    assert_eq!(report["state"], "new");
    assert_eq!(report["changes"], 4);
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["change"], true, "{f}");
        assert_eq!(f["digest"], g.first["digest"], "{f}");
    }
    let deployed = report["deployed"].as_array().unwrap();
    assert_eq!(deployed.len(), 1, "{report}");
    assert_eq!(deployed[0]["functions"].as_array().unwrap().len(), 4);
    assert_eq!(deployed[0]["content_hash"], g.first["hash"]);
    assert_eq!(
        deployed[0]["files"],
        json!({"added": [], "removed": [], "changed": [["main.py", "content"]]})
    );
    let first_tag = g.first["tag"].as_str().unwrap();
    for name in &g.names {
        assert!(
            human.contains(&format!("~ {name}: imageUri {first_tag} → ")),
            "{human}"
        );
    }
    assert!(human.contains("  ~ main.py (content)"), "{human}");
    assert!(human.contains("4 functions would change"), "{human}");

    // Nothing was written: no function, no registry tag (no journal), no built image.
    assert_eq!(g.writes(), 0);
    assert_eq!(g.tags(), tags);
    assert_eq!(
        g.p.run(&["tag", "--json"]).success().json()["pushed"],
        false
    );

    // A new file and a deleted one show as such.
    g.p.file("templates/letter.json", "{}\n");
    std::fs::remove_file(g.p.path("main.py")).unwrap();
    let (report, human) = preview(&g);
    assert_eq!(
        report["deployed"][0]["files"],
        json!({"added": ["templates/letter.json"], "removed": ["main.py"], "changed": []})
    );
    assert!(human.contains("  + templates/letter.json"), "{human}");
    assert!(human.contains("  - main.py"), "{human}");

    // An image pushed without its index artifact: said plainly, nothing invented.
    let hash = g.first["hash"].as_str().unwrap();
    let artifact =
        crate::deploy::block_on(g.registry().manifest_digest(&format!("imprint-{hash}")))
            .unwrap()
            .unwrap();
    delete_manifest(&g.prefix, &artifact);
    let (report, human) = preview(&g);
    assert_eq!(report["deployed"][0]["files"], Value::Null);
    let note = report["deployed"][0]["note"].as_str().unwrap();
    assert!(note.contains("no index artifact"), "{note}");
    assert!(human.contains("cannot be compared"), "{human}");
    assert_eq!(report["changes"], 4);
}

#[test]
fn preview_of_deployed_content_says_nothing_changes_and_writes_nothing() {
    let g = group("it-preview-same", 3);
    let deployed = g.deploy(&[]).success().json();
    let writes = g.writes();
    let tags = g.tags();
    let (report, human) = preview(&g);
    assert_eq!(report["state"], "pushed");
    assert_eq!(report["tag"], deployed["tag"]);
    assert_eq!(report["changes"], 0);
    assert_eq!(report["deployed"], json!([]));
    assert!(report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["change"] == false));
    assert!(
        human.contains(&format!(
            "no change: every function runs {}",
            deployed["tag"].as_str().unwrap()
        )),
        "{human}"
    );
    for name in &g.names {
        assert!(human.contains(&format!("{name}: no change")), "{human}");
    }
    assert_eq!(g.writes(), writes, "preview wrote to a function");
    assert_eq!(g.tags(), tags, "preview wrote to the registry");
    assert_eq!(g.journal().len(), 1);
}
