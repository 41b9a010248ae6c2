//! A small builder for running the real binary in a temp folder with a clean environment.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temp folder with files, and the imprint binary run inside it.
pub struct Project {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn usage_error(self) -> Self {
        assert_eq!(
            self.code, 2,
            "expected exit 2\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "an error printed data on stdout: {}",
            self.stdout
        );
        self
    }
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Readable by an unprivileged user too (tests drop privileges for permission checks).
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        // HOME (and so imprint's cache) lives outside the build context.
        let home = tempfile::tempdir().unwrap();
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            dir,
            home,
            env: Vec::new(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn file(&self, rel: &str, content: &str) -> &Self {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        self
    }

    /// The HOME imprint runs with (outside the build context).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Points imprint at the test servers: dockerd (legacy-builder CLI) and the registry.
    pub fn with_servers(self) -> Self {
        let docker_host = server_env("IMPRINT_TEST_DOCKER_HOST");
        let cli = server_env("IMPRINT_TEST_DOCKER_CLI");
        self.env("DOCKER_HOST", &docker_host)
            .env("IMPRINT_DOCKER", &cli)
    }

    /// test-env's uv (pinned) with its shared wheel cache, for the native builder's dependency
    /// steps; wheels come through this machine's TLS proxy, whose CA is in the system store.
    pub fn with_uv(self) -> Self {
        let p = self
            .env("IMPRINT_UV", &server_env("IMPRINT_TEST_UV"))
            .env("UV_CACHE_DIR", &server_env("IMPRINT_TEST_UV_CACHE"));
        match Path::new(SYSTEM_CA).exists() {
            true => p.env("SSL_CERT_FILE", SYSTEM_CA),
            false => p,
        }
    }

    /// Points the AWS SDK at moto with test-env's dummy credentials and region.
    pub fn with_aws(self) -> Self {
        AWS_ENV
            .into_iter()
            .fold(self, |p, key| p.env(key, &server_env(key)))
    }

    /// Puts a recording stand-in for `name` first on PATH (a test fixture, named as such in its
    /// text, for programs that cannot run here or whose arguments a test checks): it appends
    /// `$PWD|$*` to the returned log, then runs the shell line `then`. It lives under HOME,
    /// outside the build context, so its log never changes a content hash.
    pub fn with_stand_in(self, name: &str, then: &str) -> (Self, PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let bin = self.home().join("stand-ins");
        std::fs::create_dir_all(&bin).unwrap();
        let log = bin.join(format!("{name}.log"));
        let script = bin.join(name);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# A recording stand-in for `{name}` (imprint's test fixture).\necho \"$PWD|$*\" >> '{}'\n{then}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        (self.env("PATH", &path), log)
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The imprint binary with a cleared environment: only PATH, a HOME inside the project, and what
    /// the test set.
    pub fn command(&self, args: &[&str]) -> Command {
        self.program(env!("CARGO_BIN_EXE_imprint"), args)
    }

    /// Another program (make, a script) with the same cleared environment.
    pub fn program(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        output(self.command(args).output().unwrap())
    }

    /// Runs the binary, killing it (and failing the test) if it is still running after
    /// `limit`: for the tests of imprint's own time limits.
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Run {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "imprint {args:?} was still running after {limit:?}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        output(child.wait_with_output().unwrap())
    }
}

/// A hand-made fixture of scripts/fixtures on a loopback port (named as such), stopped when
/// dropped.
pub struct Fixture {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Fixture {
    /// Starts `python3 scripts/fixtures/SCRIPT ARGS…` (see [`start_fixture`]).
    pub fn start(script: &str, args: &[&str]) -> Self {
        let (child, port) = start_fixture(script, args);
        Self { child, port }
    }

    /// Starts the hostile server, `hostile.py MODE ARGS…`: one misbehaviour.
    pub fn hostile(mode: &str, args: &[&str]) -> Self {
        let mut all = vec![mode];
        all.extend_from_slice(args);
        Self::start("hostile.py", &all)
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// A request to its admin endpoint: the answer's body.
    pub fn admin(&self, method: &str, path: &str, body: &str) -> String {
        admin_request(&self.address(), method, path, body)
    }
}

/// Starts `python3 scripts/fixtures/SCRIPT ARGS…`, which prints the loopback port it
/// listens on as its first line: the child and the port.
pub fn start_fixture(script: &str, args: &[&str]) -> (std::process::Child, u16) {
    use std::io::BufRead as _;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/fixtures")
        .join(script);
    let mut child = Command::new("python3")
        .arg(path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} said {line:?}"));
    (child, port)
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn output(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A variable that `scripts/test-env` sets; a test that needs its server fails without it.
pub fn server_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the servers that scripts/test-env starts; run it through scripts/test")
    })
}

/// The legacy-builder docker CLI against test-env's dockerd, with optional stdin.
pub fn docker_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    use std::io::Write as _;
    let mut child = Command::new(server_env("IMPRINT_TEST_DOCKER_CLI"))
        .args(args)
        .env("DOCKER_HOST", server_env("IMPRINT_TEST_DOCKER_HOST"))
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    output(child.wait_with_output().unwrap())
}

/// The docker CLI against test-env's dockerd.
pub fn docker(args: &[&str]) -> Run {
    docker_with_stdin(args, None)
}

/// Runs busybox (from the test base) inside `image`, without network.
pub fn busybox_in(image: &str, args: &[&str]) -> Run {
    let mut all = vec!["run", "--rm", "--network", "none", image, "/bin/busybox"];
    all.extend_from_slice(args);
    docker(&all)
}

/// What points an AWS client at moto inside scripts/test-env.
const AWS_ENV: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// `python3 ARGS…` with the AWS client pointed at moto.
pub fn aws_python(args: &[&str]) -> Run {
    aws_python_in(None, args)
}

/// [`aws_python`] in `region` (else test-env's, us-east-1).
pub fn aws_python_in(region: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new("python3");
    cmd.args(args);
    for key in AWS_ENV {
        cmd.env(key, server_env(key));
    }
    if let Some(region) = region {
        cmd.env("AWS_REGION", region)
            .env("AWS_DEFAULT_REGION", region);
    }
    output(cmd.output().unwrap())
}

/// scripts/fixtures/lambda-functions.py against moto.
pub fn lambda_fixture(args: &[&str]) -> Run {
    lambda_fixture_in(None, args)
}

/// [`lambda_fixture`] in `region`.
pub fn lambda_fixture_in(region: Option<&str>, args: &[&str]) -> Run {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/fixtures/lambda-functions.py"
    );
    aws_python_in(region, &[&[script][..], args].concat())
}

/// Sets the tag mutability of a repository in moto's ECR (`MUTABLE` or `IMMUTABLE`).
pub fn set_tag_mutability(repository: &str, mutability: &str) {
    aws_python(&[
        "-c",
        "import sys, boto3; boto3.client('ecr').put_image_tag_mutability(repositoryName=sys.argv[1], imageTagMutability=sys.argv[2])",
        repository,
        mutability,
    ])
    .success();
}

/// A client for the repository `ECR_HOST/<path>` through the ECR stand-in.
pub fn standin_registry(path: &str) -> imprint::registry::Registry {
    imprint::registry::Registry::new(
        imprint::registry::Repository::parse(&format!("{ECR_HOST}/{path}")).unwrap(),
        Some(&format!(
            "http://{}",
            server_env("IMPRINT_TEST_ECR_STANDIN")
        )),
        None,
    )
    .unwrap()
}

/// The account host of the ECR repositories the tests push to (through the ECR stand-in).
pub const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// A project whose repository (one path component: a moto gap) goes through the ECR
/// stand-in and whose Lambda traffic goes through the fault proxy; no files yet.
pub fn ecr_servers(repository: &str) -> Project {
    Project::new()
        .with_servers()
        .with_aws()
        .env("IMPRINT_REPOSITORY", &format!("{ECR_HOST}/{repository}"))
        .env(
            "IMPRINT_REGISTRY_ENDPOINT",
            &format!("http://{}", server_env("IMPRINT_TEST_ECR_STANDIN")),
        )
        .env(
            "AWS_ENDPOINT_URL_LAMBDA",
            &server_env("IMPRINT_TEST_FAULT_PROXY"),
        )
}

/// [`ecr_servers`] with `config` as its imprint.toml and a `FROM scratch` image of its files.
pub fn ecr_project(repository: &str, config: &str) -> Project {
    let p = ecr_servers(repository);
    p.file("Dockerfile", "FROM scratch\nCOPY . /app/\n")
        .file(".dockerignore", "imprint.toml\nimprint.lock\n")
        .file("main.py", &format!("print('{repository}')\n"))
        .file("imprint.toml", config);
    p
}

/// The function names of a `status --json` report, in its order.
pub fn status_names(report: &serde_json::Value) -> Vec<String> {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// Creates PREFIX-0 … PREFIX-{count-1} in moto running `image_uri`, tagged `tag` (KEY=VALUE).
pub fn create_functions(prefix: &str, count: usize, image_uri: &str, tag: &str) -> Vec<String> {
    let count = count.to_string();
    let created = lambda_fixture(&["create", prefix, &count, image_uri, "--tag", tag]);
    serde_json::from_value(created.success().json()).unwrap()
}

/// One HTTP/1.0 request to the fault proxy's admin paths; the response body.
pub fn fault_admin(method: &str, path: &str, body: &str) -> String {
    proxy_admin("IMPRINT_TEST_FAULT_PROXY", method, path, body)
}

/// Every registry request the ECR stand-in saw whose path contains `needle`
/// (`{"method", "path"}`).
pub fn standin_log(needle: &str) -> Vec<serde_json::Value> {
    let log: Vec<serde_json::Value> = serde_json::from_str(&proxy_admin(
        "IMPRINT_TEST_ECR_STANDIN",
        "GET",
        "/__standin/log",
        "",
    ))
    .unwrap();
    log.into_iter()
        .filter(|r| r["path"].as_str().unwrap_or_default().contains(needle))
        .collect()
}

/// One HTTP/1.0 request to the admin paths of the flaky registry (the fault proxy in front of
/// the ECR stand-in); the response body.
pub fn faulty_registry_admin(method: &str, path: &str, body: &str) -> String {
    proxy_admin("IMPRINT_TEST_FAULTY_REGISTRY", method, path, body)
}

/// One HTTP/1.0 request to the admin paths of the proxy at `env`; the response body.
fn proxy_admin(env: &str, method: &str, path: &str, body: &str) -> String {
    let proxy = server_env(env);
    admin_request(proxy.trim_start_matches("http://"), method, path, body)
}

/// One HTTP/1.0 request to a fixture's admin path at `host` (`127.0.0.1:PORT`); the body of
/// its answer.
pub fn admin_request(host: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Adds fault rules (global to the proxy: match on names the test owns).
pub fn fault_rules(rules: serde_json::Value) {
    fault_admin("POST", "/__fault/rules", &rules.to_string());
}

/// Every request the fault proxy saw whose path contains `needle`.
pub fn fault_log(needle: &str) -> Vec<serde_json::Value> {
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&fault_admin("GET", "/__fault/log", "")).unwrap();
    log.into_iter()
        .filter(|r| r["path"].as_str().unwrap_or_default().contains(needle))
        .collect()
}

const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The `[image]` table for the example built by `builder` on test-env's Python base and uv
/// image (nothing here reaches public.ecr.aws or ghcr.io). docker's build of its builder stage
/// installs from the wheelhouse the base carries; the native builder runs uv here.
pub fn example_image(name: &str, builder: &str) -> String {
    format!(
        "[image]\nname = \"{name}\"\nplatform = \"linux/amd64\"\nbuilder = \"{builder}\"\nbuild_args = {{ BASE = \"{}\", UV_IMAGE = \"{}\" }}\n",
        server_env("IMPRINT_TEST_PYTHON_BASE"),
        server_env("IMPRINT_TEST_UV_IMAGE"),
    )
}

/// Copies examples/debt-api (all of it) into the project's folder.
pub fn copy_example(p: &Project) {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/debt-api/.");
    let copied = Command::new("cp")
        .args(["-a", source])
        .arg(p.root())
        .status()
        .unwrap();
    assert!(copied.success(), "cannot copy the example");
}
