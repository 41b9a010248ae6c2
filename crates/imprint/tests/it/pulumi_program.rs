//! The example's Pulumi program (examples/debt-api/infrastructure) under Pulumi's mocks, with
//! pytest from the virtualenv scripts/test-env makes, imprint pointed at the local registry.

use crate::support::{output, server_env};

#[test]
fn the_pulumi_program_tests_pass_under_pulumis_mocks() {
    let tests = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/debt-api/infrastructure/tests"
    );
    let run = output(
        std::process::Command::new(server_env("IMPRINT_TEST_PYTHON"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .args(["-W", "ignore::DeprecationWarning", tests])
            .env("IMPRINT", env!("CARGO_BIN_EXE_imprint"))
            .env("DOCKER_HOST", server_env("IMPRINT_TEST_DOCKER_HOST"))
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("12 passed"), "{}", run.stdout);
}
