//! `imprint run-local` with dockerd: the image runs with `--network host` (the test engine has
//! no bridge), and `--event` posts to the invoke path of a test image whose entrypoint stands
//! in for the Lambda runtime interface emulator.

use serde_json::Value;

use crate::support::{docker, server_env, Project};

/// A stand-in for the runtime interface emulator (a test fixture): busybox `nc` answers every
/// connection with the handler's name, the request path, one variable and the event.
const RIE: &str = r#"#!/bin/sh
export HANDLER="${1:-none}"
exec nc -ll -p "${RIE_PORT:-8080}" -e /invoke.sh
"#;

const INVOKE: &str = r#"#!/bin/sh
cr=$(printf '\r')
read -r request
length=0
while read -r line; do
  line=${line%"$cr"}
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) length=${line#*:}; length=${length# } ;;
  esac
done
body=$(head -c "$length")
path=$(echo "$request" | cut -d' ' -f2)
answer="{\"handler\":\"$HANDLER\",\"path\":\"$path\",\"greeting\":\"$GREETING\",\"event\":$body}"
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "${#answer}" "$answer"
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn run_local_builds_runs_and_invokes_the_handler_with_the_event() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = Project::new().with_servers();
    p.file(
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY rie.sh invoke.sh /\nENTRYPOINT [\"/bin/sh\", \"/rie.sh\"]\n",
            server_env("IMPRINT_TEST_BASE")
        ),
    )
    .file("rie.sh", RIE)
    .file("invoke.sh", INVOKE)
    .file(".dockerignore", "event.json\n")
    .file("event.json", "{\"amount\": 125, \"debtor\": \"ACME\"}\n")
    .file("imprint.toml", "[image]\nname = \"it-run-local\"\n");
    for script in ["rie.sh", "invoke.sh"] {
        std::fs::set_permissions(p.path(script), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A recording wrapper around the docker CLI: what argv imprint passes.
    let docker_cli = server_env("IMPRINT_TEST_DOCKER_CLI");
    let (p, argv_log) = p.with_stand_in("docker", &format!("exec '{docker_cli}' \"$@\""));
    let wrapper = argv_log.with_extension("");
    let p = p.env("IMPRINT_DOCKER", wrapper.to_str().unwrap());

    let port = free_port().to_string();
    let rie_port = format!("RIE_PORT={port}");
    let args = [
        "run-local",
        "--emulator",
        "--network",
        "host",
        "--port",
        &port,
        "-e",
        &rie_port,
        "-e",
        "GREETING=s3cr3t-value",
        "--handler",
        "handlers.debts.handler",
        "--event",
        "event.json",
    ];
    let first = p.run(&args).success();
    assert!(
        first.stderr.contains("built it-run-local:"),
        "{}",
        first.stderr
    );
    let answer: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(answer["handler"], "handlers.debts.handler");
    assert_eq!(answer["path"], "/2015-03-31/functions/function/invocations");
    assert_eq!(answer["greeting"], "s3cr3t-value");
    assert_eq!(answer["event"]["amount"], 125);
    assert_eq!(answer["event"]["debtor"], "ACME");

    // The second run reuses the image; no container is left behind.
    let second = p.run(&args).success();
    assert!(
        second.stderr.contains("reusing it-run-local:"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("note: built "), "{}", second.stderr);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let invoked = p.run(&json_args).success().json();
    assert_eq!(invoked["status"], 200);
    assert_eq!(invoked["function_error"], Value::Null);
    assert!(invoked["image"]
        .as_str()
        .unwrap()
        .starts_with("it-run-local:"));
    assert_eq!(invoked["answer"]["event"]["debtor"], "ACME");
    let image = format!("ancestor={}", invoked["image"].as_str().unwrap());
    let left = docker(&["ps", "--all", "--quiet", "--filter", &image]).success();
    assert_eq!(left.stdout.trim(), "", "containers left behind");

    // Variable values go to docker through its environment, never its argv.
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains("run --rm --name imprint-run-"), "{argv}");
    assert!(argv.contains("--env GREETING "), "{argv}");
    assert!(!argv.contains("s3cr3t-value"), "{argv}");

    let missing = p.run(&["run-local", "--event", "nope.json"]).usage_error();
    assert!(
        missing.stderr.contains("cannot read the event nope.json"),
        "{}",
        missing.stderr
    );
}

#[test]
fn run_local_serves_the_runtime_api_to_the_examples_real_runtime_client() {
    let p = Project::new().with_servers();
    crate::support::copy_example(&p);
    // The example on Debian's python3 with AWS's runtime interface client (scripts/test-env):
    // no emulator in the image; imprint serves the Runtime API.
    // docker builds it: the builder stage's uv installs from the base's wheelhouse.
    p.file(
        "imprint.toml",
        &crate::support::example_image("it-run-local-ric", "docker"),
    );
    let run = p
        .run(&[
            "run-local",
            "--handler",
            "handlers.debts.create_handler",
            "--event",
            "events/create-debt.json",
            "--json",
        ])
        .success();
    assert!(
        run.stderr.contains("Lambda Runtime API at 127.0.0.1:"),
        "{}",
        run.stderr
    );
    let invoked = run.json();
    assert_eq!(invoked["function_error"], Value::Null, "{invoked}");
    assert_eq!(invoked["answer"]["statusCode"], 201, "{invoked}");
    assert!(
        invoked["answer"]["body"]
            .as_str()
            .unwrap()
            .contains("ACME Ltd"),
        "{invoked}"
    );

    // A handler that raises: the runtime posts the error, imprint says so and exits 1.
    p.file(
        "handlers/healthz.py",
        "def handler(event, context):\n    raise RuntimeError('database unreachable')\n",
    );
    let run = p.run(&[
        "run-local",
        "--handler",
        "handlers.healthz.handler",
        "--event",
        "events/healthz.json",
        "--json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let invoked = run.json();
    assert_eq!(invoked["function_error"], "Unhandled", "{invoked}");
    assert_eq!(invoked["answer"]["errorType"], "RuntimeError", "{invoked}");
    assert!(invoked["answer"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("database unreachable"));
    let image = format!("ancestor={}", invoked["image"].as_str().unwrap());
    let left = docker(&["ps", "--all", "--quiet", "--filter", &image]).success();
    assert_eq!(left.stdout.trim(), "", "containers left behind");
}

/// What the example answers to `event` through `handler`, built by `builder` and run by
/// run-local (the image's runtime client asking imprint's Runtime API); the body's generated
/// id left out.
fn example_answers(p: &Project, builder: &str, handler: &str, event: &str) -> (Value, String) {
    let run = p
        .run(&[
            "run-local",
            "--builder",
            builder,
            "--handler",
            handler,
            "--event",
            event,
            "--json",
        ])
        .success();
    let mut answer = run.json()["answer"].clone();
    if let Some(body) = answer["body"].as_str() {
        let mut body: Value = serde_json::from_str(body).unwrap();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("id");
        }
        answer["body"] = body;
    }
    (answer, run.stderr)
}

#[test]
fn the_native_image_runs_locally_and_answers_the_examples_events_as_dockers_does() {
    let p = Project::new().with_servers().with_uv();
    crate::support::copy_example(&p);
    p.file(
        "imprint.toml",
        &crate::support::example_image("it-run-local-native", "native"),
    );
    let cases = [
        ("handlers.healthz.handler", "events/healthz.json"),
        ("handlers.debts.create_handler", "events/create-debt.json"),
        ("main.handler", "events/create-debt.json"),
    ];
    for (i, (handler, event)) in cases.into_iter().enumerate() {
        let (native, said) = example_answers(&p, "native", handler, event);
        // Loaded into docker once, then found there.
        assert_eq!(
            said.contains("loading it-run-local-native:"),
            i == 0,
            "{said}"
        );
        let (docker_built, _) = example_answers(&p, "docker", handler, event);
        assert_eq!(native, docker_built, "{handler} {event}");
        assert!(
            native["statusCode"] == 200 || native["statusCode"] == 201,
            "{native}"
        );
    }
    // The created debt went through pydantic (the amount normalised, the currency kept).
    let (created, _) = example_answers(&p, "native", cases[1].0, cases[1].1);
    assert_eq!(created["body"]["amount"], "125.00", "{created}");
    assert_eq!(created["body"]["currency"], "EUR", "{created}");
}
