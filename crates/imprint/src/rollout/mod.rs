//! Moving functions to one image for deploy and rollback: plan, apply, revert, recover, report.

mod apply;
mod plan;
pub use plan::can_ask;
mod pulumi;
mod recover;
mod report;
mod revert;
mod shift;
mod smoke;
mod target;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};

pub use apply::Move;
pub use pulumi::pin_pulumi;
pub use report::{FunctionReport, Report, RolloutOutcome};
pub use target::{pushed_target, rollback_target, Target};

use crate::config::RolloutSettings;
use crate::journal::{self, Action, AliasDeploy, Caller, Holder, Kind, Record};
use crate::lambda::Alarms;
use crate::lambda::{self, Function, Lambda};
use crate::registry::Registry;
use crate::reporter::Reporter;
use crate::session::Session;

/// The clients a rollout talks to.
#[derive(Clone, Copy)]
struct Clients<'a> {
    /// Lambda, with imprint's retries.
    lambda: &'a Lambda,
    /// STS, for the journal's caller.
    sts: &'a crate::retry::Aws<aws_sdk_sts::Client>,
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
        let names = lambda::select(lambda, session.settings.deploy(), only).await?;
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

    /// Before anything is built: every function exists and can take an image for the
    /// configured platform (all problems named at once). The move checks again.
    pub async fn check(&self, action: Action) -> anyhow::Result<()> {
        let found = lambda::read_functions(self.clients.lambda, &self.names).await?;
        let platform = &self.session.settings.build.params.platform;
        plan::unfit(action, &found, "the image", platform)?;
        Ok(())
    }

    /// Moves every function to `target`; the report says how it went.
    pub async fn move_to(
        &self,
        target: Target,
        action: Action,
        options: &RolloutSettings,
    ) -> anyhow::Result<Report> {
        let alarms = match options.traffic.alarms_for(&self.names).as_slice() {
            [] => None,
            names => {
                let client = self.session.cloudwatch().await?;
                let all = Alarms::new(client.clone(), names.to_vec());
                let reporter = self.session.reporter();
                let watched = plan::check_alarms(&all, options.ignore_alarms, reporter).await?;
                Some(Alarms::new(client.clone(), watched)).filter(|a| !a.names().is_empty())
            }
        };
        let rollout = Rollout {
            clients: self.clients,
            alarms,
            target,
            action,
            platform: &self.session.settings.build.params.platform,
            options,
            reporter: self.session.shared_reporter(),
        };
        let report = rollout.run(&self.names).await;
        let pace = self.clients.lambda.pace();
        if pace.throttles() > 0 {
            self.session.reporter().note(&format!(
                "Lambda throttled {} calls (another caller spends the account's budget too): imprint slowed down for them, and ended at {:.1} control-plane calls a second",
                pace.throttles(),
                pace.control_plane_rate()
            ));
        }
        report
    }
}

/// One rollout: where it moves the functions, how, and the clients it talks to.
struct Rollout<'a> {
    clients: Clients<'a>,
    /// The alarms watched while traffic shifts, when any are configured.
    alarms: Option<Alarms>,
    target: Target,
    action: Action,
    platform: &'a str,
    options: &'a RolloutSettings,
    reporter: Arc<dyn Reporter>,
}

impl Rollout<'_> {
    /// Moves the functions `names` to the target and reports how it went: read and
    /// preflight → plan and confirm → the lease → close unfinished deployments → read again →
    /// begin record → apply (and shift, through an alias) → put back on failure → settle →
    /// end record → release. Every function ends on an image the journal records.
    async fn run(&self, names: &[String]) -> anyhow::Result<Report> {
        let (clients, options, reporter) = (self.clients, self.options, self.reporter.as_ref());
        // The lease's state before the first read: if this run then takes the very next
        // generation, no other run of imprint moved the functions in between.
        let next_lease = journal::next_free(clients.registry).await?;
        let found = self.read(names).await?;
        let todo = plan::to_move(&found, &self.target);
        if todo.is_empty() && journal::unfinished(clients.registry).await?.is_empty() {
            return Ok(self.up_to_date(&found, Vec::new()));
        }
        if !todo.is_empty() {
            plan::confirm(self.action, options.yes, &todo, &self.target, reporter)?;
        }
        let caller = lambda::caller_identity(clients.sts, reporter).await;
        // The lease names the journal ID this run records under: the journal's index.
        let id = journal::new_id();
        let holder = Holder::this(caller.clone(), lease_time(options, todo.len()), id.clone());
        let lease = self.take_lease(&holder).await?;
        let untouched = next_lease == Some(lease.generation());
        let result = self.under_lease(names, &found, untouched, caller, id).await;
        if let Err(e) = journal::release(clients.registry, &lease, &holder).await {
            reporter.warn(&format!(
                "could not release the deploy lease ({e}); it ends by itself at {}",
                imprint_context::format_rfc3339(holder.until)
            ));
        }
        result
    }
}

/// How long a lease lasts at most: every batch of updates may take the full timeout, the
/// calls their turns of the control plane's quota (at most five a function, through an
/// alias), and the traffic shift its whole bake.
fn lease_time(options: &RolloutSettings, moves: usize) -> Duration {
    let batches = moves.div_ceil(options.concurrency.max(1)).max(1) as u32;
    let calls = Duration::from_secs_f64(moves as f64 * 5.0 / lambda::CONTROL_PLANE_RATE);
    let traffic = &options.traffic;
    options.timeout * (batches + 1)
        + calls
        + traffic.strategy.total_bake()
        + traffic.final_bake
        + Duration::from_secs(300)
}

impl Rollout<'_> {
    /// Reads the functions and checks every one can be moved: the functions (GetFunction,
    /// a quota of its own) and their aliases (the control plane's) at the same time.
    async fn read(&self, names: &[String]) -> anyhow::Result<Vec<Function>> {
        let lambda = self.clients.lambda;
        let traffic = &self.options.traffic;
        let aliases = async {
            match &traffic.alias {
                Some(alias) => lambda::read_alias_views(lambda, names, alias)
                    .await
                    .map(Some),
                None if traffic.warn_aliases => {
                    plan::warn_about_aliases(lambda, names, self.reporter.as_ref()).await?;
                    Ok(None)
                }
                None => Ok(None),
            }
        };
        let (mut found, views) = tokio::try_join!(lambda::read_functions(lambda, names), aliases)?;
        if let (Some(alias), Some(views)) = (&traffic.alias, views) {
            lambda::attach_aliases(&mut found, alias, views)?;
        }
        plan::preflight(self.action, &found, &self.target.image_uri, self.platform)?;
        Ok(found)
    }

    fn up_to_date(&self, found: &[Function], recovered: Vec<String>) -> Report {
        let count = found.len();
        self.reporter.note(&format!(
            "up to date: {count} function{} already run{} {} ({})",
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" },
            self.target.image_uri,
            self.target.digest
        ));
        let mut report = Report::new(self.action, RolloutOutcome::UpToDate, &self.target);
        report.recovered = recovered;
        report.functions = report::unchanged(found);
        report
    }

    /// The repository's deploy lease (`--force-unlock` ends another holder's first).
    async fn take_lease(&self, holder: &Holder) -> anyhow::Result<journal::Lease> {
        let registry = self.clients.registry;
        if self.options.force_unlock {
            if let Some(other) = journal::force_release(registry, holder).await? {
                self.reporter.warn(&format!(
                    "--force-unlock: ended the deploy lease of {}",
                    other.describe()
                ));
            }
        }
        Ok(journal::acquire(registry, holder, journal::LEASE_SETTLE).await?)
    }

    /// Everything that writes, while this run holds the lease: unfinished deployments
    /// recovered, the functions read again unless nothing can have moved them since the first
    /// read (`untouched`: the lease was free then and this run took its next generation, and
    /// nothing was recovered), the begin record, the moves, the end record.
    async fn under_lease(
        &self,
        names: &[String],
        planned: &[Function],
        untouched: bool,
        caller: Caller,
        id: String,
    ) -> anyhow::Result<Report> {
        let (clients, options, reporter) = (self.clients, self.options, self.reporter.as_ref());
        // Read again under the lease: another run may have closed them meanwhile.
        let unfinished = journal::unfinished(clients.registry).await?;
        let recovered = recover::recover(
            clients.registry,
            clients.lambda,
            unfinished,
            options.timeout,
            options.recover,
            reporter,
        )
        .await?;
        // Under the lease, read again when another deployment may have ended between the
        // first read and the lease: the begin record must name what is replaced now. (A change
        // outside imprint meanwhile is caught by each update's RevisionId guard.)
        let found = match untouched && recovered.is_empty() {
            true => planned.to_vec(),
            false => self.read(names).await?,
        };
        plan::check_splits(self.action, &found, &self.target)?;
        let serving = |f: &Function| (f.serving(), f.alias.as_ref().map(|a| a.route.clone()));
        if found.iter().map(serving).ne(planned.iter().map(serving)) {
            reporter.warn(&format!(
                "the functions changed since they were first read (another deployment ended); this {} starts from what they run now",
                self.action
            ));
        }
        let todo = plan::to_move(&found, &self.target);
        if todo.is_empty() {
            return Ok(self.up_to_date(&found, recovered));
        }
        let begin = plan::begin_record(
            id,
            self.action,
            &self.target,
            &found,
            caller,
            &options.traffic,
        );
        journal::write(clients.registry, &begin)
            .await
            .context("failed to write the journal's begin record; no function was changed")?;

        let interrupt = apply::Interrupt::watch(self.reporter.clone());
        let (outcome, results, traffic) = if options.traffic.alias.is_some() {
            self.through_alias(&found, &todo, &interrupt, begin.traffic.clone())
                .await
        } else {
            let (outcome, results) = self.move_latest(&found, &todo, &interrupt).await;
            (outcome, results, None)
        };
        drop(interrupt);
        let end = Record {
            traffic,
            ..end_record(begin, outcome, &results)
        };
        let mut report = Report::new(self.action, outcome.into(), &self.target);
        report.traffic = end.traffic.clone();
        report.id = Some(end.id.clone());
        report.recovered = recovered;
        report.functions = results;
        if let Err(e) = journal::write(clients.registry, &end).await {
            report.unrecorded = Some(e.to_string());
        }
        Ok(report)
    }
}

impl Rollout<'_> {
    /// Every `$LATEST` of `todo` to the target; after a failure, the ones moved go back.
    async fn move_latest(
        &self,
        found: &[Function],
        todo: &[&Function],
        interrupt: &apply::Interrupt,
    ) -> (journal::DeploymentOutcome, Vec<FunctionReport>) {
        let (clients, options, reporter) = (self.clients, self.options, self.reporter.as_ref());
        let moved = apply::apply(
            clients.lambda,
            todo,
            &self.target,
            options,
            interrupt,
            reporter,
        )
        .await;
        let failed = moved.iter().any(|m| !matches!(m.result, Move::Done(_)));
        let reverts = if failed && !options.no_revert {
            revert::revert(clients.lambda, clients.registry, &moved, options, reporter).await
        } else {
            Vec::new()
        };
        let results = report::settle(
            clients.lambda,
            found,
            &self.target,
            &moved,
            &reverts,
            reporter,
        )
        .await;
        let outcome = report::deployment_outcome(failed, options.no_revert, &results);
        (outcome, results)
    }

    /// The versions the journal names for the target (a rollback's) that still run it: their
    /// aliases flip without a new update or version.
    async fn known_versions(&self, todo: &[&Function]) -> BTreeMap<String, String> {
        let recorded = todo
            .iter()
            .filter_map(|f| Some((f.name.as_str(), self.target.versions.get(&f.name)?)));
        let checked: Vec<(&str, &String, bool)> = stream::iter(recorded)
            .map(|(name, version)| async move {
                let image = lambda::version_image(self.clients.lambda, name, version).await;
                let runs = matches!(image, Ok(Some(i)) if i.digest.as_deref() == Some(&self.target.digest));
                (name, version, runs)
            })
            .buffered(lambda::PARALLEL_READS)
            .collect()
            .await;
        let mut known = BTreeMap::new();
        for (name, version, runs) in checked {
            if runs {
                known.insert(name.to_string(), version.clone());
            } else {
                self.reporter.note(&format!(
                    "version {version} of {name} no longer runs {}; publishing it again",
                    self.target.tag
                ));
            }
        }
        known
    }

    /// Through the alias: every `$LATEST` of `todo` not on the target yet is moved first (as
    /// without an alias, put back after a failure, no alias touched); then the versions are
    /// published and the aliases shifted as the strategy says.
    async fn through_alias(
        &self,
        found: &[Function],
        todo: &[&Function],
        interrupt: &apply::Interrupt,
        traffic: Option<AliasDeploy>,
    ) -> (
        journal::DeploymentOutcome,
        Vec<FunctionReport>,
        Option<AliasDeploy>,
    ) {
        let known = self.known_versions(todo).await;
        let stale: Vec<&Function> = todo
            .iter()
            .copied()
            .filter(|f| !plan::runs(f, &self.target) && !known.contains_key(&f.name))
            .collect();
        if !stale.is_empty() {
            self.reporter
                .step("updating $LATEST (no traffic moves yet)");
            let (outcome, results) = self.move_latest(found, &stale, interrupt).await;
            if outcome != journal::DeploymentOutcome::Succeeded {
                return (outcome, results, traffic);
            }
        }
        let watch = shift::AlarmWatch {
            interrupt,
            alarms: self.alarms.as_ref(),
        };
        let shifted = shift::shift(
            self.clients.lambda,
            todo,
            &known,
            &self.target,
            self.options,
            watch,
            self.reporter.as_ref(),
        )
        .await;
        let mut results = shifted.results;
        results.extend(
            report::unchanged(found)
                .into_iter()
                .filter(|r| todo.iter().all(|f| f.name != r.name)),
        );
        results.sort_by(|a, b| a.name.cmp(&b.name));
        let outcome = match shifted.stop {
            Some(shift::Stop::Smoke) => journal::DeploymentOutcome::SmokeFailed,
            _ => {
                report::deployment_outcome(shifted.stop.is_some(), self.options.no_revert, &results)
            }
        };
        let alarm = match shifted.stop {
            Some(shift::Stop::Alarm(firing)) => Some(firing),
            _ => None,
        };
        let options = self.options;
        let traffic = traffic.map(|t| AliasDeploy {
            shifts: shifted.shifts,
            alarm,
            smoke: shifted.smoke,
            smoke_skipped: options.skip_smoke && !options.smoke.is_empty(),
            ..t
        });
        (outcome, results, traffic)
    }
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
