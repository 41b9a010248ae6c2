//! imprint: deploys container-image AWS Lambda functions with content-based image tags.
//!
//! The binary is a thin shell over [`run`], which merges the settings once, opens a
//! [`session::Session`] (the clients, made on first use) and dispatches to one module per
//! command under `commands`. docs/architecture.md draws the layers.

// Nightly rustc (cargo fuzz) overflows the default 128 query depth computing the layout of
// the deepest command futures (`build`'s: the build, its export and the inspection after it).
#![recursion_limit = "256"]

pub mod cli;
mod commands;
mod config;
mod diagnose;
mod doctor;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod gc;
mod iam;
pub mod image;
pub mod journal;
mod lambda;
mod printer;
pub mod registry;
mod reporter;
mod retry;
mod rollout;
mod session;
mod state;
mod timeouts;
pub mod version;

use std::process::ExitCode;
use std::sync::Arc;

use cli::{Cli, Command};
use config::Settings;
use error::ExitStatus;
use printer::{Printer, Verbosity};
use session::Session;

/// Runs one invocation and turns its outcome into an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let verbosity = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Debug,
    };
    init_logging(verbosity);
    let printer = Printer::new(cli.global.json, verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            printer.error(&format!("cannot start the async runtime: {e}"), None);
            return ExitStatus::Failure.into();
        }
    };
    let result = runtime.block_on(async {
        // Generated from the command line's definition: no settings (a broken imprint.toml
        // must not stop them).
        match &cli.command {
            Command::Completions(args) => return commands::completions::run(args),
            Command::Man => return commands::completions::man(),
            Command::Version => return commands::version::run(&printer),
            // An imprint.toml that is there is never overwritten: said before it is read.
            Command::Init(args) => commands::init::refuse_existing(args)?,
            _ => {}
        }
        if let (Command::Status(args), Some("all")) =
            (&cli.command, cli.global.environment.as_deref())
        {
            let input = cli.command.input();
            let (config, network) = (cli.global.config.as_deref(), &cli.global.network);
            return commands::status::run_all(config, &input, network, args, &printer).await;
        }
        let settings = Settings::load(
            cli.global.config.as_deref(),
            cli.global.environment.as_deref(),
            &cli.command.input(),
            &cli.global.network,
        )?;
        let session = Session::new(settings, Arc::new(printer.clone()));
        let (s, p) = (&session, &printer);
        match &cli.command {
            Command::Tag(args) => commands::tag::run(s, p, args).await,
            Command::Build(args) => commands::build::run(s, p, args).await,
            Command::Push(args) => commands::push::run(s, p, args).await,
            Command::Verify(args) => commands::verify::run(s, p, args).await,
            Command::Inspect(args) => commands::inspect::run(s, p, args).await,
            Command::Lock(args) => commands::lock::run(s, p, args).await,
            Command::Login(args) => commands::login::run(s, p, args).await,
            Command::Deploy(args) => commands::deploy::run(s, p, args).await,
            Command::Preview(args) => commands::preview::run(s, p, args).await,
            Command::History(args) => commands::history::run(s, p, args).await,
            Command::Rollback(args) => commands::rollback::run(s, p, args).await,
            Command::Doctor(args) => commands::doctor::run(s, p, args).await,
            Command::RunLocal(args) => commands::run_local::run(s, p, args).await,
            Command::IamPolicy(args) => commands::iam_policy::run(s, p, args).await,
            Command::Status(args) => commands::status::run(s, p, args).await,
            Command::Gc(args) => commands::gc::run(s, p, args).await,
            Command::Init(args) => commands::init::run(s, p, args).await,
            // Answered above, before the settings.
            Command::Completions(_) | Command::Man | Command::Version => Ok(ExitStatus::Success),
        }
    });
    match result {
        Ok(status) => status.into(),
        // A closed stdout (`imprint tag --json | head`) is the reader's choice, not a failure.
        Err(err) if is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            printer.error(&diagnose::message(&err), diagnose::hint(&err).as_deref());
            diagnose::exit_status(&err).into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// imprint's own messages at the chosen verbosity; the libraries' (the AWS SDK's retries and
/// credential probes, HTTP connections) only with `-vv`, else only their errors.
fn init_logging(verbosity: Verbosity) {
    use tracing::Level;
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};
    let (ours, theirs) = match verbosity {
        Verbosity::Quiet => (Level::ERROR, Level::ERROR),
        Verbosity::Normal => (Level::WARN, Level::ERROR),
        Verbosity::Verbose => (Level::INFO, Level::ERROR),
        Verbosity::Debug => (Level::DEBUG, Level::DEBUG),
    };
    let filter = Targets::new()
        .with_target("imprint", ours)
        .with_target("imprint_context", ours)
        .with_default(theirs);
    let _ = tracing_subscriber::fmt()
        .with_max_level(ours)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .finish()
        .with(filter)
        .try_init();
}
