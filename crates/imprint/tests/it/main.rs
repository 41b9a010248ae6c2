//! imprint's integration tests: the real binary, in temp folders, against the real servers
//! that `scripts/test-env` starts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod auth;
mod cli;
mod deploy;
mod docker_diff;
mod ecr;
mod lock;
mod preview;
mod push;
mod rollback;
mod servers;
mod status;

mod support;
