//! Deploys at Lambda's real limits, through the limits fixture (scripts/fixtures/lambda-limits.py,
//! hand-made and named as such: moto never throttles and settles every update at once) in
//! front of moto: AWS's quotas for all callers together, throttles as AWS answers them, image
//! updates that stay `InProgress` for a second, latency on every call; another caller (a test
//! thread) spending a third of the same control-plane budget; and a registry (the fault proxy
//! in front of the ECR stand-in) answering 429 to one request in ten of the push and the
//! journal. The quotas are five times AWS's (the fixture's, and imprint's pacing through
//! `IMPRINT_LAMBDA_QUOTA_SCALE`) for five times the functions: 300 functions take as long as
//! 60 at AWS's own numbers (bench/limits runs those).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::deploy::{group_with, outcomes, Group};
use crate::support::{output, server_env, Fixture};
use crate::traffic::aliased;

/// Lambda's quotas times this, here.
const SCALE: f64 = 5.0;
/// The functions of each group.
const FUNCTIONS: usize = 300;

/// The limits fixture in front of test-env's moto, at AWS's quotas times [`SCALE`].
fn limits() -> Fixture {
    let moto = server_env("AWS_ENDPOINT_URL");
    let upstream = moto.trim_start_matches("http://").trim_end_matches('/');
    let config = json!({
        "control_plane": 15.0 * SCALE,
        "get_function": 100.0 * SCALE,
        "get_policy": 15.0 * SCALE,
        "update_seconds": 1,
        "latency_ms": [10, 40],
    });
    Fixture::start("lambda-limits.py", &["0", upstream, &config.to_string()])
}

/// The fault proxy in front of the ECR stand-in, answering every tenth request for
/// `repository` as a throttled registry does: 429 `TOOMANYREQUESTS` with `Retry-After`.
fn throttling_registry(repository: &str) -> Fixture {
    let ecr = server_env("IMPRINT_TEST_ECR_STANDIN");
    let proxy = Fixture::start("proxy.py", &["0", &ecr, "fault"]);
    let rules = json!([{
        "match": {"path": format!("/v2/{repository}/")},
        "every": 10,
        "times": 1_000_000,
        "respond": {"status": 429, "headers": {"Retry-After": "1"},
                    "body": {"errors": [{"code": "TOOMANYREQUESTS", "message": "Rate exceeded"}]}},
    }]);
    proxy.admin("POST", "/__fault/rules", &rules.to_string());
    proxy
}

/// Another caller of the same account, threads of this test: `rate` control-plane requests
/// a second together (ListVersionsByFunction of a function that does not exist, an API
/// imprint's deploys never call, so the counts keep the two apart) until
/// [`OtherCaller::stop`].
struct OtherCaller {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

/// The other caller's threads (each waits for its answers, which a loaded machine slows).
const OTHER_THREADS: usize = 4;

impl OtherCaller {
    fn start(limits: &Fixture, rate: f64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..OTHER_THREADS)
            .map(|_| Self::thread(stop.clone(), limits.port, rate / OTHER_THREADS as f64))
            .collect();
        Self { stop, threads }
    }

    fn thread(flag: Arc<AtomicBool>, port: u16, rate: f64) -> std::thread::JoinHandle<u64> {
        let host = format!("127.0.0.1:{port}");
        std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let (start, mut sent) = (Instant::now(), 0u64);
            while !flag.load(Ordering::SeqCst) {
                let mut stream = std::net::TcpStream::connect(&host).unwrap();
                write!(
                    stream,
                    "GET /2015-03-31/functions/it-limits-other-caller/versions HTTP/1.0\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n"
                )
                .unwrap();
                let _ = stream.read_to_end(&mut Vec::new());
                sent += 1;
                let next = start + Duration::from_secs_f64(sent as f64 / rate);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            sent
        })
    }

    /// Stops it: the requests it sent.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

fn total(counts: &Value, key: &str) -> u64 {
    counts[key]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// Deploys the group `g` (`extra` arguments) at the limits: every function moved, no read of
/// the configuration through the control plane, few throttles, the other caller's share
/// spent, the registry's 429s waited out; the counts of imprint's calls.
fn deploy_at_the_limits(g: &Group, extra: &[&str], moved: &str) -> Value {
    let limits = limits();
    let registry = throttling_registry(&g.prefix);
    let other_rate = 5.0 * SCALE;
    let other = OtherCaller::start(&limits, other_rate);
    let mut args = vec!["deploy", "--yes", "--json"];
    args.extend_from_slice(extra);
    let mut deploy = g.p.command(&args);
    deploy
        .env("AWS_ENDPOINT_URL_LAMBDA", limits.url())
        .env("IMPRINT_LAMBDA_QUOTA_SCALE", SCALE.to_string())
        .env("IMPRINT_REGISTRY_ENDPOINT", registry.url());
    let started = Instant::now();
    let run = output(deploy.output().unwrap());
    let took = started.elapsed();
    let sent = other.stop();
    let run = run.success();
    let report = run.json();
    let outcomes = outcomes(&report);
    assert_eq!(outcomes.len(), g.names.len(), "{report}");
    assert!(outcomes.values().all(|o| o == moved), "{report}");
    // The other caller spent its share all along (most of it, on a loaded machine).
    assert!(
        sent as f64 >= 0.6 * other_rate * took.as_secs_f64(),
        "the other caller sent {sent} requests in {took:?}"
    );
    // The registry throttled the push and the journal, and imprint waited.
    let log: Vec<Value> = serde_json::from_str(&registry.admin("GET", "/__fault/log", "")).unwrap();
    let injected = log.iter().filter(|r| r["injected"] == true).count();
    assert!(injected >= 2, "{injected} 429s in {} requests", log.len());

    let mut counts: Value = serde_json::from_str(&limits.admin("GET", "/__limits", "")).unwrap();
    for key in ["calls", "throttles"] {
        if let Some(apis) = counts[key].as_object_mut() {
            apis.remove("ListVersionsByFunction");
        }
    }
    let (calls, throttles) = (total(&counts, "calls"), total(&counts, "throttles"));
    // Waiting for updates polls GetFunction (its own quota), never the control plane's read.
    assert_eq!(
        counts["calls"]["GetFunctionConfiguration"],
        Value::Null,
        "{counts}"
    );
    // Rare throttles: under 5% of imprint's calls here, where a loaded test machine bunches
    // the arrivals the pacing spaced out (the bench, alone on the machine, holds AWS-sized
    // runs to the 2%).
    assert!(
        throttles * 20 <= calls,
        "{throttles} throttles in {calls} calls: {counts}\n{}",
        run.stderr
    );
    eprintln!("deploy {extra:?}: {took:?}, {counts}, the other caller {sent}, the registry's 429s {injected}");
    counts
}

/// The calls of `api` that went through.
fn taken(counts: &Value, api: &str) -> u64 {
    let count = |key: &str| counts[key][api].as_u64().unwrap_or(0);
    count("calls") - count("throttles")
}

#[test]
fn three_hundred_functions_deploy_at_lambdas_quotas_beside_another_caller() {
    let g = group_with(&format!("it-limits-{}", std::process::id()), FUNCTIONS, "");
    let counts = deploy_at_the_limits(&g, &[], "updated");
    // All at once: each function updated once, its aliases listed once (the warning about
    // aliases on published versions; the lease was free, so nothing is read twice).
    let n = FUNCTIONS as u64;
    assert_eq!(taken(&counts, "UpdateFunctionCode"), n, "{counts}");
    assert_eq!(taken(&counts, "ListAliases"), n, "{counts}");
}

#[test]
fn a_three_hundred_function_canary_shifts_at_lambdas_quotas_beside_another_caller() {
    let g = aliased(
        &format!("it-limits-canary-{}", std::process::id()),
        FUNCTIONS,
        "",
    );
    let counts = deploy_at_the_limits(&g, &["--strategy", "canary:10%:0"], "updated");
    // Five control-plane calls a function: the update, one version, the alias read once and
    // moved twice.
    let n = FUNCTIONS as u64;
    for (api, each) in [
        ("UpdateFunctionCode", 1),
        ("PublishVersion", 1),
        ("GetAlias", 1),
        ("UpdateAlias", 2),
    ] {
        assert_eq!(taken(&counts, api), each * n, "{api}: {counts}");
    }
}
