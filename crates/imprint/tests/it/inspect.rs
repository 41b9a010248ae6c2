//! `imprint inspect` on a real image: a handler importing pydantic (which imports
//! pydantic_core, typing_extensions, annotated_types), an installed requests that nothing
//! imports, a codec loaded by a computed name, a second simplejson beside the base's; the same
//! report from the local build and from the pushed tag; a function's own command followed as a
//! handler (moto); `[image] unused = "fail"` stopping a build.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{docker, ecr_servers, lambda_fixture, server_env, Project};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inspect");

/// uv's guide's steps in one stage, on the Python test base (its runtime in /opt/ric), with the
/// handlers' `modules`.
fn dockerfile(modules: &str) -> String {
    format!("ARG BASE\nFROM ${{BASE}}\nENV UV_COMPILE_BYTECODE=1\nWORKDIR /var/task\nCOPY pyproject.toml uv.lock ./\nRUN uv export --frozen --no-dev --no-emit-workspace --no-editable -o requirements.txt && \\\n    uv pip install -r requirements.txt --target /var/task\nCOPY {modules} ./\nCMD [\"app.handler\"]\n")
}

/// The fixture's files in `p`, built natively on the Python test base.
fn fixture(p: Project, image: &str) -> Project {
    let p = p.with_uv();
    for name in ["pyproject.toml", "uv.lock", "app.py"] {
        std::fs::copy(Path::new(FIXTURE).join(name), p.path(name)).unwrap();
    }
    p.file("Dockerfile", &dockerfile("app.py"));
    p.file(
        "imprint.toml",
        &format!(
            "[image]\nname = \"{image}\"\nplatform = \"linux/amd64\"\nbuilder = \"native\"\nbuild_args = {{ BASE = \"{}\" }}\n",
            server_env("IMPRINT_TEST_PYTHON_BASE")
        ),
    );
    p
}

/// Each package of a report: name@location → (verdict, why, size, base).
fn packages(report: &serde_json::Value) -> BTreeMap<String, (String, String, u64, bool)> {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap(),
                    p["location"].as_str().unwrap()
                ),
                (
                    p["verdict"].as_str().unwrap().to_string(),
                    p["why"].as_str().unwrap().to_string(),
                    p["size"].as_u64().unwrap(),
                    p["base"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

/// The report without what says where it was read from.
fn contents(report: &serde_json::Value) -> serde_json::Value {
    let mut report = report.clone();
    let object = report.as_object_mut().unwrap();
    object.remove("image");
    object.remove("read_from");
    report
}

#[test]
fn unused_packages_are_named_with_their_sizes_the_same_from_the_build_and_the_pushed_tag() {
    let p = fixture(Project::new(), "it-inspect");
    let repository = format!(
        "{}/it-inspect-{}",
        server_env("IMPRINT_TEST_REGISTRY"),
        std::process::id()
    );
    let config = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    p.file(
        "imprint.toml",
        &format!("{config}\n[registry]\nrepository = \"{repository}\"\n"),
    );
    let built = p.run(&["build"]).success();
    // The build's one line: size, nothing deployed yet, what no handler imports.
    assert!(
        built
            .stderr
            .contains("compressed (nothing deployed to compare with)")
            && built.stderr.contains("in 4 packages no handler imports"),
        "{}",
        built.stderr
    );
    let local = p.run(&["inspect", "--json"]).success().json();
    assert_eq!(local["read_from"], "local", "{local}");
    let got = packages(&local);
    let at = |name: &str| {
        got.get(&format!("{name}@var/task"))
            .unwrap_or_else(|| panic!("{name} in {got:#?}"))
            .clone()
    };
    // pydantic's chain is used: by import, or as a requirement of what is.
    for used in [
        "pydantic",
        "pydantic_core",
        "typing_extensions",
        "annotated-types",
        "email-validator",
        "idna",
    ] {
        assert_eq!(at(used).0, "used", "{used}: {:?}", at(used));
    }
    assert!(
        at("pydantic").1.contains("/var/task/app.py"),
        "{:?}",
        at("pydantic")
    );
    // requests and its own requirements nothing else needs: unused, with their sizes.
    let mut unused_bytes = 0;
    for unused in ["requests", "urllib3", "certifi", "charset-normalizer"] {
        let (verdict, _, size, base) = at(unused);
        assert_eq!((verdict.as_str(), base), ("unused", false), "{unused}");
        assert!(size > 1000, "{unused}: {size}");
        unused_bytes += size;
    }
    assert_eq!(local["unused"]["packages"], 4, "{}", local["unused"]);
    // pydantic_core's compiled core is the largest file it owns.
    let core = local["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pydantic_core")
        .unwrap();
    let largest = core["largest_files"][0][0].as_str().unwrap();
    assert!(
        largest.starts_with("/var/task/pydantic_core/_pydantic_core.") && largest.ends_with(".so"),
        "{core}"
    );
    assert_eq!(local["unused"]["size"], unused_bytes);
    // The codec loaded by a computed name: maybe, never unused.
    let six = at("six");
    assert_eq!(six.0, "maybe");
    assert!(six.1.contains("/var/task/app.py:"), "{six:?}");
    assert!(local["computed_imports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["file"] == "/var/task/app.py" && c["package"].is_null()));
    // The base's simplejson and ours: a duplicate with both versions, the base's not counted.
    let duplicate = local["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("simplejson")
        })
        .unwrap_or_else(|| panic!("{}", local["duplicates"]))
        .clone();
    let copies: Vec<(&str, &str, bool)> = duplicate["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["location"].as_str().unwrap(),
                c["version"].as_str().unwrap(),
                c["base"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!((copies[0].0, copies[0].2), ("var/task", false));
    assert_eq!((copies[1].0, copies[1].2), ("opt/ric", true));
    assert_ne!(copies[0].1, copies[1].1);
    assert!(local["layers"][0]["base"].as_bool().unwrap());
    // The uv project's own dependency, and where it could go.
    assert_eq!(local["advice"]["direct"], serde_json::json!(["requests"]));

    // The same report from the registry, layer by layer.
    let pushed = p.run(&["push", "--json"]).success().json();
    let tag = pushed["tag"].as_str().unwrap();
    let remote = p.run(&["inspect", tag, "--json"]).success().json();
    assert_eq!(remote["read_from"], "registry");
    // A tag the registry does not hold is bad input, named.
    let missing = p
        .run(&["inspect", "20200101-000000-00000000"])
        .usage_error();
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    assert_eq!(contents(&remote), contents(&local));
    // Python itself, running the handler (and the codec) in the image: every package it
    // loads is one the report calls used or maybe, never unused.
    let uri = pushed["image_uri"].as_str().unwrap();
    docker(&["pull", "-q", uri]).success();
    let loaded = docker(&[
        "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/python3", uri, "-c",
        "import app, json, sys; app.handler({'amount': 1}, None); app.codec(); print(json.dumps(sorted(str(getattr(m, '__file__', None)) for m in list(sys.modules.values()))))",
    ])
    .success();
    let files: Vec<String> = serde_json::from_str(loaded.stdout.trim()).unwrap();
    let mut checked = BTreeMap::new();
    for file in files.iter().filter_map(|f| f.strip_prefix("/var/task/")) {
        let top = file.split(['/', '.']).next().unwrap();
        if top == "app" {
            continue;
        }
        let provider = local["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["location"] == "var/task"
                    && p["provides"].as_array().unwrap().iter().any(|n| n == top)
            })
            .unwrap_or_else(|| panic!("no package provides {top} ({file})"));
        assert_ne!(
            provider["verdict"], "unused",
            "Python loaded /var/task/{file}: {provider}"
        );
        checked.insert(top.to_string(), provider["verdict"].clone());
    }
    assert!(
        checked.len() >= 6 && checked.contains_key("six"),
        "{checked:?}"
    );

    // The people's version names the same.
    let text = p.run(&["inspect", tag]).success().stdout;
    assert!(text.contains("UNUSED requests"), "{text}");
    assert!(text.contains("uv add --group infra requests"), "{text}");
    assert!(
        text.contains("duplicate: simplejson installed twice"),
        "{text}"
    );

    // A build that grows unused packages stops where the project asks it to.
    let config = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    p.file(
        "imprint.toml",
        &config.replacen("[image]\n", "[image]\nunused = \"fail\"\n", 1),
    );
    p.file(
        "app.py",
        &(std::fs::read_to_string(p.path("app.py")).unwrap() + "# an edit\n"),
    );
    let stopped = p.run(&["build"]).usage_error();
    for name in [
        "requests",
        "urllib3",
        "certifi",
        "charset-normalizer",
        "[image] unused = \"fail\"",
    ] {
        assert!(stopped.stderr.contains(name), "{name}: {}", stopped.stderr);
    }
    // ... and the built image is not pushed past it either.
    p.run(&["push"]).usage_error();
}

#[test]
fn a_functions_own_command_is_followed_as_a_handler() {
    let repository = format!("it-inspect-fn-{}", std::process::id());
    let p = fixture(ecr_servers(&repository), "it-inspect-fn");
    p.file(
        "extra.py",
        "import requests\n\n\ndef handler(event, context):\n    return requests.__version__\n",
    );
    p.file("Dockerfile", &dockerfile("app.py extra.py"));
    p.run(&["build"]).success();
    let pushed = p.run(&["push", "--create-repo", "--json"]).success().json();
    let prefix = format!("it-inspect-{}", std::process::id());
    let uri = pushed["image_uri"].as_str().unwrap();
    let created = lambda_fixture(&[
        "create",
        &prefix,
        "2",
        uri,
        "--handler",
        "app.handler",
        "--handler",
        "extra.handler",
    ]);
    let names: Vec<String> = serde_json::from_value(created.success().json()).unwrap();
    let config = std::fs::read_to_string(p.path("imprint.toml")).unwrap();
    p.file(
        "imprint.toml",
        &format!(
            "{config}\n[deploy]\nfunctions = [\"{}\", \"{}\"]\n",
            names[0], names[1]
        ),
    );
    let report = p
        .run(&["inspect", pushed["tag"].as_str().unwrap(), "--json"])
        .success()
        .json();
    let handlers: Vec<String> = report["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["handler"].as_str().unwrap().to_string())
        .collect();
    assert!(
        handlers.contains(&format!("extra.handler (function {})", names[1])),
        "{handlers:?}"
    );
    let got = packages(&report);
    let requests = &got["requests@var/task"];
    assert_eq!(requests.0, "used", "{requests:?}");
    assert!(requests.1.contains("/var/task/extra.py"), "{requests:?}");
    assert_eq!(got["urllib3@var/task"].0, "used");
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("Lambda")),
        "{}",
        report["notes"]
    );

    // Lambda out of reach: the commands are the Pulumi stack's. Pulumi's CLI cannot be
    // installed here: a stand-in prints the stack's export (a fixture, named as such).
    p.file(
        "infrastructure/Pulumi.yaml",
        "name: debt-api\nruntime: python\n",
    );
    let function = |name: &str, handler: &str| {
        serde_json::json!({"type": "aws:lambda/function:Function", "urn": format!("urn:{name}"),
            "outputs": {"name": name, "packageType": "Image", "imageConfig": {"commands": [handler]}}})
    };
    let export = serde_json::json!({"version": 3, "deployment": {"resources": [
        function(&names[0], "app.handler"), function(&names[1], "extra.handler"),
    ]}});
    let (p, _) = p.with_stand_in("pulumi", "cat \"$HOME/export.json\"");
    std::fs::write(p.home().join("export.json"), export.to_string()).unwrap();
    let p = p.env("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9");
    let tag = pushed["tag"].as_str().unwrap();
    let report = p
        .run(&["inspect", tag, "--json", "--call-timeout", "3s"])
        .success()
        .json();
    let notes = report["notes"].to_string();
    assert!(notes.contains("are the Pulumi stack's"), "{notes}");
    assert_eq!(packages(&report)["requests@var/task"].0, "used", "{notes}");
    assert!(report["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["handler"]
            == format!(
                "extra.handler (function {}, as the Pulumi stack says)",
                names[1]
            )));
}
