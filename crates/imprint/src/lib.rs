//! imprint: deploys container-image AWS Lambda functions with content-based image tags.
//!
//! The binary is a thin shell over [`run`]; each command lives in its own module under
//! [`commands`] and takes resolved [`settings::Settings`] and a [`printer::Printer`].

pub mod artifact;
pub mod builder;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod ecr;
pub mod error;
pub mod functions;
pub mod gzip;
pub mod image;
pub mod journal;
pub mod lambda;
pub mod lock;
pub mod printer;
pub mod registry;
pub mod resolve;
pub mod rollout;
pub mod settings;
pub mod state;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::ExitStatus;
use printer::{Printer, Verbosity};

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
        match &cli.command {
            Command::Tag(args) => commands::tag::run(&cli.global, args, &printer).await,
            Command::Build(args) => commands::build::run(&cli.global, args, &printer).await,
            Command::Push(args) => commands::push::run(&cli.global, args, &printer).await,
            Command::Lock(args) => commands::lock::run(&cli.global, args, &printer).await,
            Command::Login(args) => commands::login::run(&cli.global, args, &printer).await,
            Command::Deploy(args) => commands::deploy::run(&cli.global, args, &printer).await,
            Command::Preview(args) => commands::preview::run(&cli.global, args, &printer).await,
            Command::History(args) => commands::history::run(&cli.global, args, &printer).await,
            Command::Rollback(args) => commands::rollback::run(&cli.global, args, &printer).await,
            Command::Doctor(args) => commands::doctor::run(&cli.global, args, &printer).await,
            Command::RunLocal(args) => commands::run_local::run(&cli.global, args, &printer).await,
            Command::Status(args) => commands::status::run(&cli.global, args, &printer).await,
        }
    });
    match result {
        Ok(status) => status.into(),
        // A closed stdout (`imprint tag --json | head`) is the reader's choice, not a failure.
        Err(err) if is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            printer.error(&error::message(&err), error::hint(&err).as_deref());
            error::classify(&err).into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn init_logging(verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Quiet => tracing::Level::ERROR,
        Verbosity::Normal => tracing::Level::WARN,
        Verbosity::Verbose => tracing::Level::INFO,
        Verbosity::Debug => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}

/// The current time for tags: `SOURCE_DATE_EPOCH` when set, else the clock (UTC seconds).
pub fn now_for_tags() -> Result<i64, error::UsageError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<i64>().map_err(|_| {
            error::UsageError::new(
                format!("SOURCE_DATE_EPOCH is `{text}`, not a number of seconds"),
                "set it to a Unix time such as $(git log -1 --format=%ct), or unset it",
            )
        }),
        Err(_) => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)),
    }
}
