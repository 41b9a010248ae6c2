//! The harness itself: every server `scripts/test-env` promises answers, so later tests can
//! rely on it and a broken start-up fails here first with a clear message.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use crate::support::server_env;

/// A plain HTTP/1.0 GET; returns the status line and headers.
fn get(host_port: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(host_port)
        .unwrap_or_else(|e| panic!("cannot connect to {host_port}: {e}"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_port}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_registry_speaks_the_distribution_api() {
    let head = get(&server_env("IMPRINT_TEST_REGISTRY"), "/v2/");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{head}"
    );
}

#[test]
fn moto_answers_on_loopback() {
    let endpoint = server_env("AWS_ENDPOINT_URL");
    let host_port = endpoint.strip_prefix("http://").unwrap();
    assert!(host_port.starts_with("127.0.0.1:"), "{endpoint}");
    let head = get(host_port, "/moto-api/");
    assert!(head.contains(" 200 "), "{head}");
}

#[test]
fn dockerd_answers_every_client() {
    for cli in [
        "IMPRINT_TEST_DOCKER_CLI",
        "IMPRINT_TEST_BUILDKIT_CLI",
        "IMPRINT_TEST_LEGACY_CLI",
    ] {
        let out = Command::new(server_env(cli))
            .args(["version", "--format", "{{.Server.Version}}"])
            .env("DOCKER_HOST", server_env("IMPRINT_TEST_DOCKER_HOST"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cli}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    }
}

#[test]
fn buildx_answers() {
    let out = Command::new(server_env("IMPRINT_TEST_BUILDX"))
        .arg("version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("buildx"), "{text}");
}

/// One HTTP/1.0 exchange; returns the whole response text, empty when the peer hung up.
fn exchange(host_port: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(host_port)
        .unwrap_or_else(|e| panic!("cannot connect to {host_port}: {e}"));
    write!(
        stream,
        // moto tells services apart by the SigV4 credential scope; the signature is not checked.
        "{method} {path} HTTP/1.0\r\nHost: {host_port}\r\nContent-Type: application/json\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn the_fault_proxy_injects_on_request_and_counts() {
    let proxy = server_env("IMPRINT_TEST_FAULT_PROXY");
    let host = proxy.strip_prefix("http://").unwrap();
    // Rules are global to the proxy: this test owns the path it matches.
    let path = "/2015-03-31/functions/?FunctionVersion=ALL&MaxItems=7";
    let rules = r#"[
        {"match": {"method": "GET", "path": "MaxItems=7"}, "respond": {"status": 429,
         "headers": {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
         "body": {"Type": "User", "message": "Rate exceeded"}}},
        {"match": {"method": "GET", "path": "MaxItems=7"}, "drop": true},
        {"match": {"method": "GET", "path": "MaxItems=7"}, "patch": {"Injected.By": "fault-proxy"}}
    ]"#;
    assert!(exchange(host, "POST", "/__fault/rules", rules).contains(" 204 "));
    let throttled = exchange(host, "GET", path, "");
    assert!(
        throttled.starts_with("HTTP/1.1 429") || throttled.starts_with("HTTP/1.0 429"),
        "{throttled}"
    );
    assert!(
        throttled.contains("TooManyRequestsException"),
        "{throttled}"
    );
    assert_eq!(
        exchange(host, "GET", path, ""),
        "",
        "the second request should be dropped"
    );
    let patched = exchange(host, "GET", path, "");
    assert!(patched.contains(" 200 "), "{patched}");
    assert!(
        patched.contains(r#""Injected": {"By": "fault-proxy"}"#),
        "{patched}"
    );
    assert!(
        patched.contains(r#""Functions""#),
        "moto's own answer is kept: {patched}"
    );
    let plain = exchange(host, "GET", path, "");
    assert!(
        plain.contains(" 200 ") && !plain.contains("Injected"),
        "{plain}"
    );
    let log = exchange(host, "GET", "/__fault/log", "");
    let injected = log
        .matches(r#""path": "/2015-03-31/functions/?FunctionVersion=ALL&MaxItems=7""#)
        .count();
    assert_eq!(injected, 4, "{log}");
    assert!(log.matches(r#""injected": true"#).count() >= 3, "{log}");
}
