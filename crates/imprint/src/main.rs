//! The `imprint` binary: parse arguments, run, exit.

use clap::Parser;

/// mimalloc: a context walk makes an allocation per path on every core, which glibc's
/// allocator serves markedly slower (bench/compare shows both).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    imprint::run(imprint::cli::Cli::parse())
}
