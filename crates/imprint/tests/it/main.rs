//! imprint's integration tests: the real binary, in temp folders, against the real servers
//! that `scripts/test-env` starts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod architecture;
mod auth;
mod bad_input;
mod ci_examples;
mod cli;
mod deploy;
mod deploy_guards;
mod docker_diff;
mod doctor;
mod ecr;
mod envs;
mod flaky_registry;
mod gc;
mod hostile;
mod init;
mod inspect;
mod limits;
mod lock;
mod makefile;
mod native;
mod native_deps;
mod preview;
mod promote;
mod pulumi_program;
mod push;
mod push_memory;
mod release;
mod rollback;
mod run_local;
mod servers;
mod smoke;
mod source;
mod status;
mod traffic;

mod support;
