//! The example's Makefile (examples/debt-api/Makefile) against the local servers: its imprint
//! targets for real (moto through the ECR stand-in and the fault proxy, dockerd), its Pulumi
//! targets through a recording `pulumi` stand-in on PATH (there is no Pulumi engine here).

use serde_json::Value;

use crate::support::{create_functions, ecr_servers, output, Project, Run, ECR_HOST};

struct Example {
    p: Project,
    prefix: &'static str,
    pulumi_log: std::path::PathBuf,
}

impl Example {
    fn make(&self, args: &[&str]) -> Run {
        let mut all = vec!["--silent", "IMPRINT=", "PULUMI=pulumi"];
        let imprint = format!("IMPRINT={}", env!("CARGO_BIN_EXE_imprint"));
        all[1] = &imprint;
        all.extend_from_slice(args);
        output(self.p.program("make", &all).output().unwrap())
    }

    fn pulumi_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.pulumi_log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_once('|').map_or(l, |(_, args)| args).to_string())
            .collect()
    }

    fn digests(&self) -> Vec<String> {
        let status = self.p.run(&["status", "--json"]).success().json();
        status["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["digest"].as_str().unwrap().to_string())
            .collect()
    }

    fn edit(&self, rel: &str) {
        let path = self.p.path(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
    }
}

/// The example copied into a project whose repository goes through the ECR stand-in, with a
/// recording `pulumi` first on PATH.
fn example(prefix: &'static str) -> Example {
    let p = ecr_servers(prefix).with_uv();
    crate::support::copy_example(&p);
    let names: Vec<String> = (0..3).map(|i| format!("\"{prefix}-{i}\"")).collect();
    p.file(
        "imprint.toml",
        &format!(
            "{}\n[deploy]\nowner = \"imprint\"\nfunctions = [{}]\n",
            crate::support::example_image(prefix, "native"),
            names.join(", ")
        ),
    );
    // Content of its own: two tests building the same tree at once would find each other's
    // image ("already built as …") in the shared dockerd.
    p.file("handlers/test_marker.py", &format!("# {prefix}\n"));
    let (p, pulumi_log) = p.with_stand_in(
        "pulumi",
        &format!(
            "case \"$*\" in *'stack output ecr_repository_url'*) echo '{ECR_HOST}/{prefix}';; esac"
        ),
    );
    Example {
        p,
        prefix,
        pulumi_log,
    }
}

#[test]
fn the_example_makefile_previews_deploys_shows_outputs_and_rolls_back() {
    let e = example("it-make-flow");
    // What Pulumi's first `up` would have made: the functions, on the first image.
    e.p.run(&["build"]).success();
    let first =
        e.p.run(&["push", "--create-repo", "--json"])
            .success()
            .json();
    create_functions(
        e.prefix,
        3,
        first["image_uri"].as_str().unwrap(),
        "app=it-make",
    );

    e.edit("handlers/debts.py");
    let run = e.make(&["update-image"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second = e.p.run(&["tag", "--json"]).success().json();
    assert!(e
        .digests()
        .iter()
        .all(|d| d == second["digest"].as_str().unwrap()));

    // The line: preview deploy outputs rollback, in one make.
    e.edit("handlers/healthz.py");
    let run = e.make(&["preview", "deploy", "outputs", "rollback"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("~ handlers/healthz.py (content)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 functions would change"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("going back to"), "{}", run.stderr);
    assert_eq!(
        e.pulumi_calls(),
        [
            "--cwd infrastructure preview",
            "--cwd infrastructure up --yes"
        ]
    );
    let history = e.p.run(&["history", "--json"]).success().json();
    let actions: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["tag"].as_str().unwrap()))
        .collect();
    let third = history[1]["tag"].as_str().unwrap();
    assert_ne!(third, second["tag"].as_str().unwrap());
    assert_eq!(
        actions,
        [
            ("rollback", second["tag"].as_str().unwrap()),
            ("deploy", third),
            ("deploy", second["tag"].as_str().unwrap())
        ]
    );
    // outputs ran between deploy and rollback, and showed the third image.
    assert!(
        run.stdout.contains(&format!("image_tag    {third}")),
        "{}",
        run.stdout
    );
    assert!(e
        .digests()
        .iter()
        .all(|d| d == second["digest"].as_str().unwrap()));

    let run = e.make(&["history"]);
    assert!(
        run.stdout.lines().next().unwrap().contains(" rollback "),
        "{}",
        run.stdout
    );
    let to = format!("TO={}", first["tag"].as_str().unwrap());
    assert_eq!(e.make(&["rollback", &to]).code, 0);
    assert!(e
        .digests()
        .iter()
        .all(|d| d == first["digest"].as_str().unwrap()));
}

#[test]
fn the_example_makefile_pulumi_and_tooling_targets() {
    let e = example("it-make-tools");
    let run = e.make(&["check-docker"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("ok    builder"), "{}", run.stdout);

    let run = e.make(&["ecr-url", "STACK=dev"]);
    assert_eq!(
        run.stdout.lines().last(),
        Some(format!("{ECR_HOST}/{}", e.prefix).as_str())
    );

    // STRATEGY reaches `imprint deploy`; without an alias a canary is refused before any build.
    let run = e.make(&["update-image", "STRATEGY=canary:10%:5m"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("strategy canary:10%:5m moves traffic through an alias"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("built "), "{}", run.stderr);

    let run = e.make(&["build-local"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("built it-make-tools:"),
        "{}",
        run.stderr
    );

    // bootstrap: the repository alone (Pulumi), the first image (imprint), then the rest.
    // The stand-in cannot create the repository its `up` would: made here instead.
    crate::support::aws_python(&[
        "-c",
        &format!(
            "import boto3; boto3.client('ecr').create_repository(repositoryName='{}')",
            e.prefix
        ),
    ])
    .success();
    let run = e.make(&["bootstrap", "STACK=dev"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        e.pulumi_calls(),
        [
            "--cwd infrastructure stack output ecr_repository_url --stack dev",
            "--cwd infrastructure config set bootstrap true --stack dev",
            "--cwd infrastructure up --yes --stack dev",
            "--cwd infrastructure config rm bootstrap --stack dev",
            "--cwd infrastructure up --yes --stack dev",
        ]
    );
    let tag: Value = e.p.run(&["tag", "--json"]).success().json();
    assert_eq!(tag["pushed"], true, "bootstrap pushed the first image");

    // No account, region or user path is written into the Makefile.
    let makefile = std::fs::read_to_string(e.p.path("Makefile")).unwrap();
    for fixed in [
        "123456789012",
        "us-east-1",
        "/home/",
        "/root",
        "amazonaws.com",
    ] {
        assert!(!makefile.contains(fixed), "the Makefile hard-codes {fixed}");
    }
}
