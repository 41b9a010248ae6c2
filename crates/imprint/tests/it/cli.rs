//! `imprint tag` through the real binary: output, `--json`, `--explain`, config, bad input.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{output, Project};

const DOCKERFILE: &str = "FROM scratch\nCOPY . /app/\n";

fn example() -> Project {
    let p = Project::new();
    p.file("Dockerfile", DOCKERFILE)
        .file(".dockerignore", "*.log\ntests\n")
        .file("main.py", "print('hi')\n")
        .file("handlers/debts.py", "def handler(e, c):\n    return 1\n")
        .file("tests/test_debts.py", "assert True\n")
        .file("debug.log", "noise\n");
    p
}

fn hash_part(tag: &str) -> &str {
    tag.trim().rsplit('-').next().unwrap()
}

fn is_default_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() == 24
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

#[test]
fn tag_prints_the_documents_format_and_a_stable_hash() {
    let p = example();
    let first = p.run(&["tag", "--offline"]).success();
    let tag = first.stdout.trim();
    assert!(is_default_tag(tag), "{tag:?}");
    let second = p.run(&["tag", "--offline"]).success();
    assert_eq!(hash_part(tag), hash_part(&second.stdout));
    // Logs and notes never reach stdout.
    assert_eq!(first.stdout.lines().count(), 1);
}

#[test]
fn source_date_epoch_sets_the_timestamp() {
    let p = example().env("SOURCE_DATE_EPOCH", "1748271100");
    let run = p.run(&["tag", "--offline"]).success();
    assert!(run.stdout.starts_with("20250526-145140-"), "{}", run.stdout);
    let bad = example().env("SOURCE_DATE_EPOCH", "yesterday");
    let run = bad.run(&["tag", "--offline"]).usage_error();
    assert!(run.stderr.contains("SOURCE_DATE_EPOCH"), "{}", run.stderr);
}

#[test]
fn json_has_tag_hash_format_inputs_and_bytes() {
    let p = example().env("SOURCE_DATE_EPOCH", "0");
    let json = p
        .run(&[
            "tag",
            "--offline",
            "--json",
            "--build-arg",
            "SECRET=hunter2",
        ])
        .success()
        .json();
    let hash = json["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(
        json["tag"].as_str().unwrap(),
        format!("19700101-000000-{}", &hash[..8])
    );
    assert_eq!(json["format"], 1);
    assert_eq!(json["platform"], "linux/amd64");
    assert_eq!(json["ignore_file"], ".dockerignore");
    let paths: Vec<&str> = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            ".dockerignore",
            "Dockerfile",
            "handlers",
            "handlers/debts.py",
            "main.py"
        ]
    );
    let expected: u64 = [
        "*.log\ntests\n",
        DOCKERFILE,
        "def handler(e, c):\n    return 1\n",
        "print('hi')\n",
    ]
    .iter()
    .map(|s| s.len() as u64)
    .sum();
    assert_eq!(json["bytes"], expected);
    assert_eq!(json["files"], 4);
    // Build-arg names are reported, values (possibly secrets) never.
    assert_eq!(json["build_args"], serde_json::json!(["SECRET"]));
    assert!(!p
        .run(&[
            "tag",
            "--offline",
            "--json",
            "--build-arg",
            "SECRET=hunter2"
        ])
        .stdout
        .contains("hunter2"));
}

#[test]
fn explain_lists_every_input_and_verbose_adds_exclusions() {
    let p = example();
    let json = p.run(&["tag", "--offline", "--json"]).success().json();
    let explain = p.run(&["tag", "--offline", "--explain"]).success().stdout;
    for input in json["inputs"].as_array().unwrap() {
        assert!(
            explain.contains(input["path"].as_str().unwrap()),
            "{explain}"
        );
    }
    assert!(
        explain.contains(json["hash"].as_str().unwrap()),
        "{explain}"
    );
    assert!(!explain.contains("debug.log"));
    let verbose = p
        .run(&["tag", "--offline", "--explain", "-v"])
        .success()
        .stdout;
    let line = verbose
        .lines()
        .find(|l| l.contains("debug.log"))
        .unwrap_or_else(|| panic!("{verbose}"));
    assert!(line.contains("line 1: *.log"), "{line}");
    assert!(
        verbose
            .lines()
            .any(|l| l.contains("tests") && l.contains("line 2: tests")),
        "{verbose}"
    );
}

#[test]
fn warnings_for_state_and_unreadable_files_reach_stderr_and_json() {
    let p = example();
    p.file(".git/HEAD", "ref: main\n")
        .file(".venv/pyvenv.cfg", "x\n")
        .file("secret.py", "k=1\n");
    fs::set_permissions(p.path("secret.py"), fs::Permissions::from_mode(0o600)).unwrap();
    let run = p.run(&["tag", "--offline"]).success();
    assert!(
        run.stderr
            .contains("warning: .git, .venv are in the build context"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("secret.py cannot be read by others"),
        "{}",
        run.stderr
    );
    let json = p.run(&["tag", "--offline", "--json"]).success().json();
    let kinds: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["state-in-context", "not-other-readable"]);
}

#[test]
fn config_is_found_in_parents_and_flags_and_env_override_it() {
    let p = example();
    p.file(
        "imprint.toml",
        "[image]\nplatform = \"linux/arm64\"\ntag = \"v-{hash:12}\"\n[env.prod]\nimage.platform = \"linux/amd64\"\n",
    );
    fs::create_dir_all(p.path("handlers/deep")).unwrap();
    let mut cmd = p.command(&["tag", "--offline", "--json"]);
    let json = output(cmd.current_dir(p.path("handlers/deep")).output().unwrap())
        .success()
        .json();
    assert_eq!(json["platform"], "linux/arm64");
    let tag = json["tag"].as_str().unwrap();
    assert_eq!(tag, format!("v-{}", &json["hash"].as_str().unwrap()[..12]));
    // The context defaults to the config's folder, so the hash is the same from anywhere.
    let from_root = p.run(&["tag", "--offline", "--json"]).success().json();
    assert_eq!(from_root["hash"], json["hash"]);

    let prod = p
        .run(&["tag", "--offline", "--json", "--env", "prod"])
        .success()
        .json();
    assert_eq!(prod["platform"], "linux/amd64");
    let mut cmd = p.command(&["tag", "--offline", "--json"]);
    let by_env = output(cmd.env("IMPRINT_PLATFORM", "linux/amd64").output().unwrap())
        .success()
        .json();
    assert_eq!(by_env["platform"], "linux/amd64");
    let mut cmd = p.command(&["tag", "--offline", "--json", "--platform", "linux/arm64/v8"]);
    let by_flag = output(cmd.env("IMPRINT_PLATFORM", "linux/amd64").output().unwrap())
        .success()
        .json();
    assert_eq!(by_flag["platform"], "linux/arm64/v8");
    assert_ne!(by_flag["hash"], by_env["hash"]);

    let run = p.run(&["tag", "--offline", "--env", "qa"]).usage_error();
    assert!(
        run.stderr.contains("no [env.qa] section (known: prod)"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_errors_name_file_and_line() {
    let p = example();
    p.file(
        "imprint.toml",
        "[image]\nname = \"x\"\nplatfrom = \"linux/amd64\"\n",
    );
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(run.stderr.contains("imprint.toml:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("platfrom"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    p.file("imprint.toml", "[image]\ntag = \"{timestamp}\"\n");
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr.contains("bad tag template `{timestamp}`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: a template needs {hash:N}"),
        "{}",
        run.stderr
    );
    p.file("imprint.toml", "[deploy]\nfunctions = \"one\"\n");
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(run.stderr.contains("imprint.toml:2:"), "{}", run.stderr);
}

#[test]
fn bad_inputs_exit_2_naming_the_path_with_a_hint() {
    let p = example();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--file", "Missing.Dockerfile"],
            "Missing.Dockerfile does not exist",
        ),
        (vec!["--context", "main.py"], "main.py is not a directory"),
        (vec!["--context", "nowhere"], "nowhere does not exist"),
        (vec!["--template", "{hash:2}"], "bad tag template"),
        (vec!["--template", "a/{hash}"], "cannot appear in a tag"),
        (vec!["--platform", "amd64"], "bad platform `amd64`"),
        (vec!["--build-arg", "=x"], "bad --build-arg"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["tag", "--offline"];
        all.extend(&args);
        let run = p.run(&all).usage_error();
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("hint: "), "{args:?}: {}", run.stderr);
    }
    p.file(".dockerignore", "*.log\n\n[oops\n");
    let run = p.run(&["tag", "--offline"]).usage_error();
    assert!(
        run.stderr
            .contains(".dockerignore:3: bad ignore pattern `[oops`"),
        "{}",
        run.stderr
    );
    p.file(".dockerignore", "*.log\n")
        .file("Dockerfile.dockerignore", "x\n");
    let run = p
        .run(&["tag", "--offline", "--builder", "docker-legacy"])
        .usage_error();
    assert!(
        run.stderr
            .contains("Dockerfile.dockerignore is a BuildKit-only ignore file"),
        "{}",
        run.stderr
    );
    // BuildKit reads it, so the same tree is fine there.
    p.run(&["tag", "--offline", "--builder", "buildkit"])
        .success();
}

/// `--builder docker` (the default) is BuildKit exactly when the docker CLI would find its
/// buildx plugin, found without running docker: a BuildKit-only ignore file tells which
/// builder's context was hashed.
#[test]
fn docker_means_buildkit_when_the_cli_finds_its_buildx_plugin() {
    for dir in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        let plugin = std::path::Path::new(dir).join("docker-buildx");
        assert!(
            !plugin.exists(),
            "this test needs a machine without a system-wide buildx plugin ({})",
            plugin.display()
        );
    }
    let (p, docker_log) = example().with_stand_in("docker", "exit 1");
    p.file("Dockerfile.dockerignore", "x\n");
    let is_legacy = |p: &Project| {
        let run = p.run(&["tag", "--offline"]);
        match run.code {
            0 => false,
            2 if run.stderr.contains("BuildKit-only ignore file") => true,
            _ => panic!("{}", run.stderr),
        }
    };
    assert!(is_legacy(&p), "no plugin anywhere: the legacy builder");
    let install = |dir: &std::path::Path| {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("docker-buildx"), "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(dir.join("docker-buildx"), fs::Permissions::from_mode(0o755)).unwrap();
    };
    let plugins = p.home().join(".docker/cli-plugins");
    install(&plugins);
    assert!(
        !is_legacy(&p),
        "~/.docker/cli-plugins/docker-buildx: BuildKit"
    );
    let p = p.env("DOCKER_BUILDKIT", "0");
    assert!(is_legacy(&p), "DOCKER_BUILDKIT=0 turns it off");
    let p = p.env("DOCKER_BUILDKIT", "1");
    fs::set_permissions(
        plugins.join("docker-buildx"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert!(is_legacy(&p), "a plugin file no one may run is no plugin");
    fs::remove_dir_all(&plugins).unwrap();
    let extra = p.home().join("extra-plugins");
    install(&extra);
    fs::write(
        p.home().join(".docker/config.json"),
        format!("{{\"cliPluginsExtraDirs\": [\"{}\"]}}", extra.display()),
    )
    .unwrap();
    assert!(!is_legacy(&p), "a folder in cliPluginsExtraDirs");
    fs::remove_dir_all(&extra).unwrap();
    let custom = p.home().join("custom-config");
    install(&custom.join("cli-plugins"));
    let p = p.env("DOCKER_CONFIG", custom.to_str().unwrap());
    assert!(!is_legacy(&p), "$DOCKER_CONFIG/cli-plugins");
    fs::remove_dir_all(&custom).unwrap();
    assert!(is_legacy(&p));
    let p = p.env("IMPRINT_DOCKER", "/nonexistent/docker");
    assert!(
        !is_legacy(&p),
        "no docker CLI here: hashed as BuildKit, today's default, would send it"
    );
    assert!(!docker_log.exists(), "docker was run to find its builder");
}

#[test]
fn an_unreadable_input_is_an_error_never_a_skip() {
    let p = example();
    p.file("handlers/locked.py", "x = 1\n");
    fs::set_permissions(
        p.path("handlers/locked.py"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut cmd = p.command(&["tag", "--offline"]);
    // Root reads every file, so run as an unprivileged user when we are root.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let run = if is_root {
        let mut wrapped = Command::new("setpriv");
        wrapped
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .current_dir(p.root())
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        output(wrapped.output().unwrap())
    } else {
        output(cmd.output().unwrap())
    };
    let run = run.usage_error();
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    assert!(run.stderr.contains("handlers/locked.py"), "{}", run.stderr);
    assert!(
        run.stderr.contains("permission denied") || run.stderr.contains("Permission denied"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_lists_only_working_commands() {
    let run = Project::new().run(&["--help"]).success();
    let commands: Vec<&str> = run
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "tag",
            "build",
            "push",
            "verify",
            "inspect",
            "lock",
            "login",
            "deploy",
            "preview",
            "status",
            "history",
            "rollback",
            "doctor",
            "run-local",
            "iam-policy",
            "gc",
            "init",
            "completions",
            "man",
            "version",
            "help"
        ]
    );
    let run = Project::new().run(&["gc"]);
    assert_eq!(run.code, 2);
}

#[test]
fn iam_policy_names_the_functions_and_the_repository() {
    let p = Project::new();
    p.file("Dockerfile", "FROM scratch\n").file(
        "imprint.toml",
        "[registry]\nrepository = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app\"\n[deploy]\nfunctions = [\"a\", \"arn:aws:lambda:eu-west-1:123456789012:function:b\"]\n",
    );
    let policy = p
        .run(&["iam-policy", "--json", "--create-repo"])
        .success()
        .json();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(
        statements[0]["Resource"],
        serde_json::json!([
            "arn:aws:lambda:eu-west-1:123456789012:function:a",
            "arn:aws:lambda:eu-west-1:123456789012:function:b"
        ])
    );
    assert_eq!(
        statements[1]["Resource"],
        "arn:aws:ecr:eu-west-1:123456789012:repository/team/app"
    );
    let actions = statements[1]["Action"].to_string();
    assert!(
        actions.contains("ecr:PutImage") && actions.contains("ecr:CreateRepository"),
        "{actions}"
    );
    assert_eq!(
        statements[2]["Action"],
        serde_json::json!(["ecr:GetAuthorizationToken"])
    );
    // gc reads every function of the region (it keeps what any of them runs).
    let gc = p.run(&["iam-policy", "--json", "--gc"]).success().json();
    let by_sid = |sid: &str| {
        gc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("no {sid} in {gc}"))
    };
    assert_eq!(by_sid("ListEveryFunction")["Resource"], "*");
    assert_eq!(
        by_sid("ReadEveryFunction")["Resource"],
        "arn:aws:lambda:eu-west-1:123456789012:function:*"
    );
    // IMPRINT_NO_HASH_CACHE takes 1 and 0 as CI systems write them.
    for value in ["1", "0", "yes"] {
        let mut tag = p.command(&["tag", "--offline", "--json"]);
        tag.env("IMPRINT_NO_HASH_CACHE", value);
        let run = crate::support::output(tag.output().unwrap());
        assert_eq!(run.code, 0, "IMPRINT_NO_HASH_CACHE={value}: {}", run.stderr);
    }
}

/// Off EC2 (this machine's firmware names no EC2), a missing region is one clean error: no
/// SDK warnings at the default verbosity, and the instance metadata service is never asked
/// (its time-outs are what such a laptop would wait on).
#[test]
fn without_a_region_status_says_so_alone_and_never_asks_the_instance_metadata_service() {
    let p = example()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let run = p.run(&["status"]).usage_error();
    assert!(
        run.stderr.contains("no AWS region is set"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("WARN"), "{}", run.stderr);
    assert!(
        run.stderr.len() < 400,
        "only imprint's own error: {}",
        run.stderr
    );
    let debug = p.run(&["-vv", "status"]).usage_error();
    assert!(
        !debug.stderr.to_ascii_lowercase().contains("imds"),
        "{}",
        debug.stderr
    );
}

#[test]
fn completions_for_every_shell_and_a_man_page_come_from_the_command_line() {
    // Even where imprint.toml is broken: they read no settings.
    let p = example();
    p.file("imprint.toml", "[image\n");
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef imprint"),
        ("fish", "complete -c imprint"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = p.run(&["completions", shell]).success();
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for command in ["deploy", "rollback", "preview", "gc", "completions"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
        assert!(
            run.stdout.contains("create-repo"),
            "{shell} completes flags"
        );
    }
    p.run(&["completions", "tcsh"]).usage_error();
    let man = p.run(&["man"]).success().stdout;
    assert!(
        man.starts_with(".ie") || man.contains(".TH imprint"),
        "{man}"
    );
    assert!(man.contains("deploy") && man.contains("rollback"), "{man}");
}
