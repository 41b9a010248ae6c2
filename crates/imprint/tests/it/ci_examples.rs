//! The example's CI pipelines (GitHub Actions and GitLab CI): both parse, keep their promises
//! (OIDC, preview on pull requests, deploy on main, never two deploys at once, the JSON
//! summary kept), and every imprint command and flag they run exists in this imprint.

use clap::CommandFactory as _;
use serde_yaml::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/debt-api");

fn load(rel: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EXAMPLE}/{rel}")).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

/// Every shell line of a GitHub workflow's steps or a GitLab job's scripts.
fn scripts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map {
                let key = key.as_str().unwrap_or_default();
                match (key, v) {
                    ("run", Value::String(s)) => out.extend(s.lines().map(str::to_string)),
                    ("script" | "before_script" | "after_script", Value::Sequence(lines)) => {
                        out.extend(lines.iter().filter_map(|l| l.as_str().map(str::to_string)))
                    }
                    _ => scripts(v, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| scripts(v, out)),
        _ => {}
    }
}

/// Checks every `imprint …` invocation in `lines` against imprint's own command line; returns
/// the commands seen.
fn check_invocations(file: &str, lines: &[String]) -> Vec<String> {
    let mut root = imprint::cli::Cli::command();
    root.build();
    let mut seen = Vec::new();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        // `imprint` where a command starts (not inside an `echo '… imprint …'`).
        let starts = |i: usize| {
            i == 0 || matches!(words[i - 1], "|" | "||" | "&&" | ";" | "then" | "do" | "!")
        };
        for (i, _) in words
            .iter()
            .enumerate()
            .filter(|(i, w)| **w == "imprint" && starts(*i))
        {
            let args: Vec<&str> = words[i + 1..]
                .iter()
                .take_while(|w| {
                    !matches!(**w, ">" | "|" | "||" | "&&" | ";") && !w.starts_with('>')
                })
                .copied()
                .collect();
            let Some(first) = args.first() else { continue };
            let (command, flags) = match first.starts_with('-') {
                true => (&root, &args[..]),
                false => {
                    let sub = root.find_subcommand(first).unwrap_or_else(|| {
                        panic!("{file}: `imprint {first}` is no command: {line}")
                    });
                    seen.push(first.to_string());
                    (sub, &args[1..])
                }
            };
            for flag in flags.iter().filter(|f| f.starts_with('-')) {
                let name = flag
                    .trim_start_matches('-')
                    .split('=')
                    .next()
                    .unwrap_or_default();
                let known = command.get_arguments().any(|a| {
                    a.get_long() == Some(name)
                        || a.get_short()
                            .is_some_and(|s| name.len() == 1 && name.starts_with(s))
                }) || (command.get_name() == "imprint" && name == "version");
                assert!(
                    known,
                    "{file}: `{flag}` is not a flag of `imprint {first}`: {line}"
                );
            }
        }
    }
    seen
}

/// Checks every imprint invocation of a pipeline and that it runs doctor, preview, deploy
/// and status; returns its shell lines.
fn check_pipeline(file: &str, pipeline: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    scripts(pipeline, &mut lines);
    let seen = check_invocations(file, &lines);
    for command in ["preview", "deploy", "doctor", "status"] {
        assert!(
            seen.iter().any(|s| s == command),
            "{file} runs imprint {command}"
        );
    }
    lines
}

#[test]
fn the_github_workflow_previews_pull_requests_and_deploys_main_one_at_a_time() {
    let workflow = load(".github/workflows/deploy.yml");
    assert_eq!(
        workflow["permissions"]["id-token"], "write",
        "OIDC needs the token"
    );
    let jobs = &workflow["jobs"];
    assert!(jobs["preview"]["if"]
        .as_str()
        .unwrap()
        .contains("pull_request"));
    assert!(jobs["deploy"]["if"]
        .as_str()
        .unwrap()
        .contains("refs/heads/main"));
    assert_eq!(jobs["deploy"]["concurrency"]["cancel-in-progress"], false);
    assert!(jobs["deploy"]["concurrency"]["group"].is_string());
    let uses: Vec<&str> = jobs["deploy"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(uses
        .iter()
        .any(|u| u.starts_with("aws-actions/configure-aws-credentials")));
    let lines = check_pipeline("deploy.yml", &workflow);
    let text = lines.join("\n");
    assert!(text.contains("imprint deploy --yes --json"), "{text}");
    assert!(
        text.contains("GITHUB_STEP_SUMMARY"),
        "the summary goes to the job summary"
    );
}

#[test]
fn the_gitlab_pipeline_does_the_same() {
    let pipeline = load(".gitlab-ci.yml");
    assert_eq!(
        pipeline["deploy"]["resource_group"], "production",
        "one deploy at a time"
    );
    assert!(pipeline[".imprint"]["id_tokens"].is_mapping(), "OIDC");
    check_pipeline(".gitlab-ci.yml", &pipeline);
}

#[test]
fn a_flag_that_does_not_exist_is_caught() {
    let caught = std::panic::catch_unwind(|| {
        check_invocations("test", &["imprint deploy --yes --no-such-flag".to_string()])
    });
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| {
        check_invocations("test", &["imprint history --build-arg A=1".to_string()])
    });
    assert!(caught.is_err(), "history takes no build inputs");
}
