//! The native builder's reading of Dockerfiles, case by case.

use super::image::in_context;
use super::words::{Lexer, Vars};
use super::*;

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn plan(text: &str) -> Result<Plan, Unsupported> {
    Plan::read(text, &BTreeMap::new(), None)
}

const LAMBDA_ENV: [&str; 3] = [
    "LANG=en_US.UTF-8",
    "LAMBDA_TASK_ROOT=/var/task",
    "PATH=/var/lang/bin:/usr/bin",
];

fn resolved(text: &str) -> ImagePlan {
    let env: Vec<String> = LAMBDA_ENV.iter().map(|s| s.to_string()).collect();
    plan(text)
        .unwrap()
        .resolve(&env, "/var/task", &BTreeMap::new())
        .unwrap()
}

#[test]
fn the_examples_dockerfile_builds_natively() {
    let text = "ARG BASE=public.ecr.aws/lambda/python:3.12\nFROM ${BASE}\n\nWORKDIR /var/task\nCOPY . /var/task/\n\nCMD [\"main.handler\"]\n";
    let p = plan(text).unwrap();
    assert_eq!(p.base.as_deref(), Some("public.ecr.aws/lambda/python:3.12"));
    assert_eq!(p.from_line, 2);
    let overridden = Plan::read(
        text,
        &args(&[("BASE", "localhost:5000/py@sha256:ab")]),
        None,
    );
    assert_eq!(
        overridden.unwrap().base.as_deref(),
        Some("localhost:5000/py@sha256:ab")
    );
    let image = resolved(text);
    assert_eq!(image.workdir, "/var/task");
    assert_eq!(image.cmd, Some(vec!["main.handler".to_string()]));
    assert_eq!(image.entrypoint, None);
    assert_eq!(
        image.layers,
        vec![LayerStep::Copy(Copy {
            line: 5,
            sources: vec![String::new()],
            dest: "/var/task".into(),
            dir_dest: true,
            chmod: None,
        })]
    );
    let layers: Vec<bool> = image.history.iter().map(|h| !h.empty_layer).collect();
    assert_eq!(layers, [false, true, false]);
    assert_eq!(
        image.history[1].created_by,
        "COPY . /var/task/ # imprint native"
    );
}

#[test]
fn variables_come_from_the_base_env_args_and_env_in_order() {
    let image = resolved(
        "FROM scratch\nARG APP=app\nENV HOME_DIR=${LAMBDA_TASK_ROOT}/$APP OTHER=\"a b\" LANG=C\nENV B=$HOME_DIR\nWORKDIR sub\nWORKDIR ../x\nLABEL \"org.opencontainers.image.title\"='debt $APP' v=${MISSING:-none}\nCOPY --chmod=0755 ./src/../run.sh bin/\nUSER 1000\n",
    );
    let env: BTreeMap<&str, &str> = image
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env["HOME_DIR"], "/var/task/app");
    assert_eq!(env["OTHER"], "a b");
    assert_eq!(env["LANG"], "C");
    assert_eq!(env["B"], "/var/task/app");
    // The base's order is kept, a changed key stays where it was.
    assert_eq!(image.env[0], ("LANG".into(), "C".into()));
    assert_eq!(image.workdir, "/var/task/x");
    assert_eq!(image.labels["org.opencontainers.image.title"], "debt $APP");
    assert_eq!(image.labels["v"], "none");
    assert_eq!(image.user.as_deref(), Some("1000"));
    assert_eq!(
        image.layers[0],
        LayerStep::Copy(Copy {
            line: 8,
            sources: vec!["run.sh".into()],
            dest: "/var/task/x/bin".into(),
            dir_dest: true,
            chmod: Some(0o755),
        })
    );
}

#[test]
fn an_entrypoint_drops_the_bases_cmd_unless_the_stage_set_one() {
    let image = resolved("FROM scratch\nENTRYPOINT [\"/x\"]\n");
    assert_eq!(image.cmd, Some(vec![]));
    let image = resolved("FROM scratch\nCMD [\"a\"]\nENTRYPOINT [\"/x\"]\n");
    assert_eq!(image.cmd, Some(vec!["a".to_string()]));
}

#[test]
fn what_the_native_builder_cannot_follow_is_refused_with_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("FROM a\nRUN pip install x\n", 2, "RUN: install x"),
        ("FROM a\nRUN apt-get update\n", 2, "runs no commands"),
        (
            "FROM a\nENV UV_INDEX_URL=http://x\nRUN uv pip install -r r.txt\n",
            3,
            "UV_INDEX_URL",
        ),
        ("FROM a\nADD x.tar.gz /\n", 2, "ADD is not supported"),
        ("FROM a\nSHELL [\"/bin/bash\"]\n", 2, "SHELL"),
        ("FROM a\nONBUILD COPY . /\n", 2, "ONBUILD"),
        ("FROM a\nHEALTHCHECK NONE\n", 2, "HEALTHCHECK"),
        ("FROM a\nCOPY <<EOF /x\nhi\nEOF\n", 2, "heredocs"),
        ("FROM a AS b\nFROM b\n", 2, "on an earlier stage"),
        (
            "FROM a\nCOPY --from=b /x /x\n",
            2,
            "earlier stage of this Dockerfile",
        ),
        ("FROM a\nCOPY --chown=1:1 x /x\n", 2, "--chown=1:1"),
        ("FROM a\nCOPY --chmod=u+x x /x\n", 2, "octal"),
        ("FROM a\nCOPY *.py /x/\n", 2, "wildcards"),
        ("FROM a\nCMD main.handler\n", 2, "exec form"),
        ("FROM --platform=linux/arm64 a\n", 1, "--platform"),
        ("# syntax=docker/dockerfile:1\nFROM a\n", 1, "syntax"),
        ("FROM a\nENV A=${B:?no}\n", 2, "expands"),
    ];
    for (text, line, what) in cases {
        let refusal = plan(text).and_then(|p| p.resolve(&[], "/", &BTreeMap::new()));
        let refusal = refusal.expect_err(text);
        assert_eq!(refusal.line, *line, "{text}: {refusal:?}");
        assert!(refusal.message.contains(what), "{text}: {refusal:?}");
    }
    let refusal = Plan::read("FROM a AS one\n", &BTreeMap::new(), Some("two")).unwrap_err();
    assert!(refusal.message.contains("--target two"), "{refusal:?}");
    assert!(Plan::read("FROM a AS one\n", &BTreeMap::new(), Some("one")).is_ok());
}

#[test]
fn paths_are_cleaned_and_sources_stay_in_the_context() {
    assert_eq!(absolute("/var/task", "a/./b//c/"), "/var/task/a/b/c");
    assert_eq!(absolute("/var/task", "/opt/../.."), "/");
    assert_eq!(in_context("../../etc/passwd"), "etc/passwd");
    assert_eq!(in_context("."), "");
    assert_eq!(in_context("./src/"), "src");
}

#[test]
fn words_split_quote_and_expand_as_docker_does() {
    let map: BTreeMap<String, Option<String>> = [
        ("A".to_string(), Some("x y".to_string())),
        ("E".to_string(), Some(String::new())),
        ("U".to_string(), None),
    ]
    .into_iter()
    .collect();
    let vars = Vars::new(&map);
    let words = |text: &str| Lexer::new(text, &vars).words();
    assert_eq!(
        words("a  'b c' \"d $A\" e\\ f").unwrap(),
        ["a", "b c", "d x y", "e f"]
    );
    assert_eq!(words("$A").unwrap(), ["x y"]);
    assert_eq!(words("'$A' \\$A").unwrap(), ["$A", "$A"]);
    assert_eq!(
        words("${E:-d} ${E-d} ${U-d} ${A:+set} ${E:+set}x").unwrap(),
        ["d", "", "d", "set", "x"]
    );
    assert_eq!(words("${A:-${E}}-$U-$").unwrap(), ["x y--$"]);
    assert!(words("'open").is_err());
    assert!(words("${A").is_err());
    assert!(words("${A#x}").is_err());
}

#[test]
fn dependency_steps_resolve_their_files_target_and_bytecode() {
    // AWS's own example: pip into the interpreter's site-packages, with bytecode.
    let image = resolved(
        "FROM scratch\nCOPY requirements.txt ${LAMBDA_TASK_ROOT}\nRUN pip install -r requirements.txt\nCOPY app.py ${LAMBDA_TASK_ROOT}\nCMD [\"app.handler\"]\n",
    );
    let LayerStep::Install(install) = &image.layers[1] else {
        panic!("{image:?}")
    };
    assert_eq!(install.requirements, "/var/task/requirements.txt");
    assert_eq!((install.target.clone(), install.compile), (None, true));
    assert_eq!(image.history.iter().filter(|h| !h.empty_layer).count(), 3);
    // uv's guide: export the lock, install into the task root, bytecode from the env.
    let image = resolved(
        "FROM scratch\nENV UV_COMPILE_BYTECODE=1\nWORKDIR /build\nCOPY pyproject.toml uv.lock ./\nRUN uv export --frozen --no-dev -o requirements.txt && \\\n    uv pip install -r requirements.txt --target \"${LAMBDA_TASK_ROOT}\"\n",
    );
    let LayerStep::Install(install) = &image.layers[1] else {
        panic!("{image:?}")
    };
    assert_eq!(install.requirements, "/build/requirements.txt");
    assert_eq!(install.workdir, "/build");
    assert_eq!(
        (install.target.as_deref(), install.compile),
        (Some("/var/task"), true)
    );
    assert_eq!(
        install.step.export.as_deref(),
        Some(&["--frozen".to_string(), "--no-dev".to_string()][..])
    );
}

/// The document's multi-stage uv file: a tool stage, a builder stage, the image.
const DOCUMENTS: &str = "ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9\nARG BASE=public.ecr.aws/lambda/python:3.13\nFROM ${UV_IMAGE} AS uv\n\nFROM ${BASE} AS builder\nCOPY --from=uv /uv /bin/uv\nENV UV_COMPILE_BYTECODE=1 UV_NO_INSTALLER_METADATA=1 UV_LINK_MODE=copy\nWORKDIR /build\nCOPY pyproject.toml uv.lock ./\nRUN uv export --frozen --no-emit-workspace --no-dev --no-editable -o requirements.txt && \\\n    uv pip install -r requirements.txt --target \"${LAMBDA_TASK_ROOT}\"\n\nFROM ${BASE}\nCOPY --from=builder ${LAMBDA_TASK_ROOT} ${LAMBDA_TASK_ROOT}\nCOPY . ${LAMBDA_TASK_ROOT}/\nCMD [\"main.handler\"]\n";

#[test]
fn the_documents_multi_stage_uv_file_builds_natively() {
    let p = plan(DOCUMENTS).unwrap();
    assert_eq!(p.base.as_deref(), Some("public.ecr.aws/lambda/python:3.13"));
    assert_eq!(p.earlier.len(), 2);
    assert_eq!(p.stage("builder"), Some(1));
    let image = resolved(DOCUMENTS);
    let [LayerStep::Install(install), LayerStep::Copy(code)] = image.layers.as_slice() else {
        panic!("{image:?}")
    };
    assert_eq!(install.target.as_deref(), Some("/var/task"));
    assert_eq!(install.requirements, "/build/requirements.txt");
    assert!(install.compile);
    assert_eq!(install.copies.len(), 1);
    assert_eq!(install.copies[0].sources, ["pyproject.toml", "uv.lock"]);
    assert_eq!((code.dest.as_str(), code.line), ("/var/task", 15));
    assert_eq!(image.cmd, Some(vec!["main.handler".to_string()]));
    // The builder's ENV stays in the builder.
    assert!(image.env.iter().all(|(k, _)| k != "UV_COMPILE_BYTECODE"));
}

#[test]
fn a_copy_from_a_stage_takes_its_installed_packages_alone() {
    let env: Vec<String> = LAMBDA_ENV.iter().map(|s| s.to_string()).collect();
    let refused = |text: &str| {
        plan(text)
            .and_then(|p| p.resolve(&env, "/var/task", &BTreeMap::new()))
            .unwrap_err()
    };
    let other_file = DOCUMENTS.replace(
        "COPY --from=builder ${LAMBDA_TASK_ROOT} ${LAMBDA_TASK_ROOT}",
        "COPY --from=builder /build/requirements.txt /var/task/",
    );
    assert!(refused(&other_file).message.contains("and nothing else"));
    let other_base = DOCUMENTS.replace("FROM ${BASE} AS builder", "FROM python:3.13 AS builder");
    assert!(refused(&other_base).message.contains("starts from another"));
    let unknown = DOCUMENTS.replace("--from=builder", "--from=nowhere");
    assert!(refused(&unknown).message.contains("earlier stage"));
    let on_stage = DOCUMENTS.replace("FROM ${BASE}\nCOPY", "FROM builder\nCOPY");
    assert!(plan(&on_stage)
        .unwrap_err()
        .message
        .contains("on an earlier stage"));
    // --target picks the stage built.
    let builder = Plan::read(DOCUMENTS, &BTreeMap::new(), Some("builder")).unwrap();
    assert_eq!(builder.earlier.len(), 1);
}
