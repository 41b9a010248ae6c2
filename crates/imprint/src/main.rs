//! The `imprint` binary: parse arguments, run, exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    imprint::run(imprint::cli::Cli::parse())
}
