//! Moving functions to one image for deploy and rollback: plan, apply, revert, recover, report.

mod apply;
mod plan;
mod pulumi;
mod recover;
mod report;
mod revert;
mod target;

use anyhow::Context as _;

pub use apply::{Move, Options, Strategy};
pub use pulumi::pin_pulumi;
pub use report::{FunctionReport, Report, RolloutOutcome};
pub use target::{pushed_target, rollback_target, Target};

use crate::journal::{self, Action, Kind, Record};
use crate::lambda::{self, Lambda};
use crate::printer::Printer;
use crate::registry::Registry;
use crate::session::Session;

/// The clients a rollout talks to.
#[derive(Clone, Copy)]
struct Clients<'a> {
    /// Lambda, with imprint's retries.
    lambda: &'a Lambda,
    /// STS, for the journal's caller.
    sts: &'a aws_sdk_sts::Client,
    /// The repository holding the images and the journal.
    registry: &'a Registry,
}

/// The functions a rollout moves, with the session's clients.
pub struct Fleet<'a> {
    session: &'a Session,
    clients: Clients<'a>,
    /// The configured functions, narrowed by `--function`.
    pub names: Vec<String>,
}

impl<'a> Fleet<'a> {
    /// The configured functions (narrowed to `only` when it is not empty).
    pub async fn select(session: &'a Session, only: &[String]) -> anyhow::Result<Self> {
        let lambda = session.lambda().await?;
        let names = lambda::select(lambda, &session.settings.config.sections.deploy, only).await?;
        let clients = Clients {
            lambda,
            sts: session.sts().await?,
            registry: session.registry().await?,
        };
        Ok(Self {
            session,
            clients,
            names,
        })
    }

    /// Moves every function to `target`; the report says how it went.
    pub async fn move_to(
        &self,
        target: Target,
        action: Action,
        options: &Options,
    ) -> anyhow::Result<Report> {
        let platform = &self.session.settings.build.params.platform;
        let printer = &self.session.printer;
        run(
            self.clients,
            &self.names,
            target,
            action,
            platform,
            options,
            printer,
        )
        .await
    }
}

/// Moves the functions `names` to `target` (built for `platform`) and reports how it went:
/// close unfinished deployments → read and preflight → plan and confirm → begin record →
/// apply (the strategy) → put back on failure → settle → end record. Every function ends on
/// an image the journal records.
async fn run(
    clients: Clients<'_>,
    names: &[String],
    target: Target,
    action: Action,
    platform: &str,
    options: &Options,
    printer: &Printer,
) -> anyhow::Result<Report> {
    let recovered = recover::recover(
        clients.registry,
        clients.lambda,
        options.timeout,
        options.recover,
        printer,
    )
    .await?;
    let found = lambda::read_functions(clients.lambda, names).await?;
    plan::preflight(action, &found, &target, platform)?;
    plan::warn_about_aliases(clients.lambda, &found, printer).await?;
    let todo = plan::to_move(&found, &target);
    if todo.is_empty() {
        let count = found.len();
        printer.note(&format!(
            "up to date: {count} function{} already run{} {} ({})",
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" },
            target.uri,
            target.digest
        ));
        let mut report = Report::new(action, RolloutOutcome::UpToDate, &target);
        report.recovered = recovered;
        report.functions = report::unchanged(&found);
        return Ok(report);
    }
    plan::confirm(action, options.yes, &todo, &target, printer)?;

    let caller = lambda::caller_identity(clients.sts, printer).await;
    let begin = plan::begin_record(action, &target, &found, caller);
    journal::write(clients.registry, &begin)
        .await
        .context("failed to write the journal's begin record; no function was changed")?;

    let interrupt = apply::Interrupt::watch(printer);
    let moved = apply::apply(clients.lambda, &todo, &target, options, &interrupt, printer).await;
    let failed = moved.iter().any(|m| !matches!(m.result, Move::Done(_)));
    let reverts = if failed && !options.no_rollback {
        revert::put_back(clients.lambda, clients.registry, &moved, options, printer).await
    } else {
        Vec::new()
    };
    drop(interrupt);

    let results = report::settle(clients.lambda, &found, &target, &moved, &reverts, printer).await;
    let outcome = report::deployment_outcome(failed, options.no_rollback, &results);
    let end = end_record(begin, outcome, &results);
    let mut report = Report::new(action, outcome.into(), &target);
    report.id = Some(end.id.clone());
    report.recovered = recovered;
    report.functions = results;
    if let Err(e) = journal::write(clients.registry, &end).await {
        report.unrecorded = Some(e.to_string());
    }
    Ok(report)
}

/// The end record: the begin record's deployment, with each function's outcome.
fn end_record(
    begin: Record,
    outcome: journal::DeploymentOutcome,
    results: &[FunctionReport],
) -> Record {
    Record {
        kind: Kind::End,
        time: journal::now_rfc3339(),
        unix_time: journal::unix_now(),
        functions: vec![],
        outcome: Some(outcome),
        results: results.iter().map(FunctionReport::finished).collect(),
        ..begin
    }
}
