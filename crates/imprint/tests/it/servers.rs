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
fn dockerd_answers_both_clients() {
    for cli in ["IMPRINT_TEST_DOCKER_CLI", "IMPRINT_TEST_BUILDKIT_CLI"] {
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
