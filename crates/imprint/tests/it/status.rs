//! `imprint status` against moto, with images pushed through the ECR stand-in.

use crate::support::{create_functions, ecr_project as project, status_names, ECR_HOST};

#[test]
fn status_reports_each_function_and_local_drift() {
    let names: Vec<String> = (0..10).map(|i| format!("it-status-{i}")).collect();
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let p = project("it-status", &format!("[deploy]\nfunctions = [{list}]\n"));
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let image_uri = pushed["image_uri"].as_str().unwrap();
    assert_eq!(
        create_functions("it-status", 10, image_uri, "app=it-status"),
        names
    );

    let status = p.run(&["status", "--json"]).success().json();
    assert_eq!(status["image_uri"], image_uri);
    assert_eq!(status["image_tag"], pushed["tag"]);
    assert_eq!(status["local_tag"], pushed["tag"]);
    assert_eq!(status["local_pushed"], true);
    assert_eq!(
        status["ecr_repository_url"],
        format!("{ECR_HOST}/it-status")
    );
    let functions = status["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 10);
    for f in functions {
        assert_eq!(f["tag"], pushed["tag"], "{f}");
        assert_eq!(f["digest"], pushed["digest"], "{f}");
        assert_eq!(f["package_type"], "Image");
        assert_eq!(f["drift"], serde_json::json!([]), "{f}");
    }

    // The `outputs` alias and --function narrowing.
    let one = p
        .run(&["outputs", "--json", "--function", "it-status-3"])
        .success()
        .json();
    assert_eq!(one["functions"].as_array().unwrap().len(), 1);
    let run = p.run(&["status", "--function", "nope"]).usage_error();
    assert!(
        run.stderr
            .contains("--function nope is not one of the configured functions"),
        "{}",
        run.stderr
    );

    // An edit: every function now lags the local tree.
    p.file("main.py", "print('edited')\n");
    let status = p.run(&["status", "--json"]).success().json();
    let local = status["local_tag"].as_str().unwrap();
    assert_ne!(local, pushed["tag"].as_str().unwrap());
    for f in status["functions"].as_array().unwrap() {
        let drift = f["drift"].to_string();
        assert!(
            drift.contains(&format!("the local tree's content is {local}")),
            "{drift}"
        );
    }
    let human = p.run(&["status"]).success().stdout;
    assert!(human.contains("it-status-9"), "{human}");
    assert!(
        human.contains("drift: the local tree's content is"),
        "{human}"
    );
}

#[test]
fn status_selects_by_lambda_tag_and_names_a_missing_function() {
    let p = project(
        "it-status-tag",
        "[deploy]\nselect = { tag = \"app\", value = \"it-status-tag\" }\n",
    );
    p.run(&["build", "--offline"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let created = create_functions(
        "it-status-tag",
        3,
        pushed["image_uri"].as_str().unwrap(),
        "app=it-status-tag",
    );
    let status = p.run(&["status", "--json"]).success().json();
    assert_eq!(status_names(&status), created);
    // The tagging API named them: no ListTags (a control-plane call) for any function.
    let list_tags = crate::support::fault_log("/tags/");
    assert!(
        list_tags
            .iter()
            .all(|r| !r["path"].as_str().unwrap().contains("it-status-tag")),
        "{list_tags:?}"
    );

    let missing = project(
        "it-status-missing",
        "[deploy]\nfunctions = [\"it-status-no-such-function\"]\n",
    );
    let run = missing.run(&["status"]).usage_error();
    assert!(
        run.stderr
            .contains("the Lambda function it-status-no-such-function does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn status_reports_a_tag_moved_in_the_registry() {
    use crate::deploy::block_on;
    let p = project(
        "it-status-moved",
        "[deploy]\nfunctions = [\"it-status-moved-0\"]\n",
    );
    p.run(&["build", "--offline"]).success();
    let first = p.run(&["push", "--create-repo", "--json"]).success().json();
    create_functions(
        "it-status-moved",
        1,
        first["image_uri"].as_str().unwrap(),
        "app=it-status-moved",
    );
    p.file("main.py", "print('second')\n");
    p.run(&["build", "--offline"]).success();
    let second = p.run(&["push", "--json"]).success().json();
    // Someone re-tags (their repository has mutable tags): the first tag now names the
    // second image.
    crate::support::set_tag_mutability("it-status-moved", "MUTABLE");
    let registry = crate::support::standin_registry("it-status-moved");
    let manifest = block_on(registry.get_manifest(second["tag"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    block_on(registry.put_manifest(
        first["tag"].as_str().unwrap(),
        &manifest.media_type,
        manifest.bytes,
    ))
    .unwrap();
    let status = p.run(&["status", "--json"]).success().json();
    let drift = status["functions"][0]["drift"].to_string();
    let expected = format!(
        "the registry's {} is now {}, the function runs {}",
        first["tag"].as_str().unwrap(),
        second["digest"].as_str().unwrap(),
        first["digest"].as_str().unwrap()
    );
    assert!(drift.contains(&expected), "{drift}");
}
