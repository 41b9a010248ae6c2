//! Deploys through an alias, after `$LATEST` runs the new image: publish each function's new
//! version, move every alias in step as the strategy says (baking with the alarms watched),
//! and put every alias back on its old version when an alarm fires, a move fails or Ctrl-C.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use super::apply::Interrupt;
use super::report::FunctionReport;
use super::smoke;
use super::target::Target;
use crate::config::RolloutSettings;
use crate::journal::{self, Outcome, Shift, SmokeResult};
use crate::lambda::{self, Alarms, Firing, Function, Lambda, Route};
use crate::reporter::{Meter, Reporter};

/// Why the traffic stopped moving to the new versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A watched alarm fired.
    Alarm(Firing),
    /// Ctrl-C.
    Interrupted,
    /// A smoke test of a new version failed (before any alias moved).
    Smoke,
    /// Publishing a version or moving an alias failed.
    Failed {
        /// The function.
        function: String,
        /// What went wrong.
        error: String,
    },
}

impl Stop {
    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Alarm(f) => format!("alarm {} fired ({})", f.name, f.reason),
            Self::Interrupted => "interrupted (Ctrl-C)".into(),
            Self::Smoke => "a smoke test failed".into(),
            Self::Failed { function, error } => format!("{function}: {error}"),
        }
    }
}

/// One function's alias as the shift moves it.
#[derive(Debug, Clone)]
struct AliasShift<'a> {
    function: &'a Function,
    alias_name: &'a str,
    old: String,
    new: Option<String>,
    /// Where the alias routes now (as imprint last set or read it).
    route: Route,
    revision: Option<String>,
    /// Why the alias could not be moved or put back, when it could not.
    error: Option<String>,
    /// Whether imprint moved the alias at all.
    moved: bool,
}

/// How the shift went: each shift of traffic, why it stopped (if it did), each function.
#[derive(Debug)]
pub struct Shifted {
    /// Each shift, in order.
    pub shifts: Vec<Shift>,
    /// Why it stopped before the end, when it did.
    pub stop: Option<Stop>,
    /// Every function.
    pub results: Vec<FunctionReport>,
    /// The smoke tests run.
    pub smoke: Vec<SmokeResult>,
}

/// The watchers of a shift: Ctrl-C and the alarms.
pub struct AlarmWatch<'a> {
    /// Ctrl-C.
    pub interrupt: &'a Interrupt,
    /// The alarms, when any are configured.
    pub alarms: Option<&'a Alarms>,
}

/// Publishes the new versions of `todo` (each `$LATEST` already runs the target, unless
/// `known` has a version of it) and moves their aliases to them as the options' strategy says.
pub async fn shift(
    client: &Lambda,
    todo: &[&Function],
    known: &BTreeMap<String, String>,
    target: &Target,
    options: &RolloutSettings,
    watch: AlarmWatch<'_>,
    reporter: &dyn Reporter,
) -> Shifted {
    let mut aliases: Vec<AliasShift> = todo.iter().filter_map(|f| AliasShift::of(f)).collect();
    for alias in &mut aliases {
        alias.new = known.get(&alias.function.name).cloned();
    }
    let mut shifts = Vec::new();
    let mut stop = publish_all(client, &mut aliases, target, options, reporter).await;
    let mut smoked = Vec::new();
    if stop.is_none() && !options.skip_smoke && !options.smoke.is_empty() {
        smoked = smoke_new_versions(client, &aliases, options, reporter).await;
        if smoked.iter().any(|r| !r.passed) {
            stop = Some(Stop::Smoke);
        }
    }
    let strategy = options.traffic.strategy;
    let mut steps: Vec<(u8, Duration)> = strategy
        .steps()
        .into_iter()
        .map(|p| (p, strategy.bake()))
        .collect();
    steps.push((100, options.traffic.final_bake));
    for (percent, time) in steps {
        if stop.is_some() {
            break;
        }
        if watch.interrupt.stopped() {
            stop = Some(Stop::Interrupted);
            break;
        }
        let meter = reporter.count(&format!("aliases at {percent}%"), aliases.len() as u64);
        stop = move_all(client, &mut aliases, options, meter.as_ref(), |alias| {
            alias.route_at(percent)
        })
        .await;
        if stop.is_none() {
            shifts.push(Shift {
                percent,
                time: journal::now_rfc3339(),
            });
            reporter.step(&format!(
                "  {percent:>3}% of traffic on the new versions of {} function{}",
                aliases.len(),
                if aliases.len() == 1 { "" } else { "s" }
            ));
            stop = bake(time, percent, &watch, reporter).await;
        }
    }
    if let Some(why) = &stop {
        after_stop(client, &mut aliases, why, options, reporter).await;
    }
    let results = aliases
        .iter()
        .map(|alias| alias.report(target, stop.is_some()))
        .collect();
    Shifted {
        shifts,
        stop,
        results,
        smoke: smoked,
    }
}

/// The smoke tests of every alias's new version.
async fn smoke_new_versions(
    client: &Lambda,
    aliases: &[AliasShift<'_>],
    options: &RolloutSettings,
    reporter: &dyn Reporter,
) -> Vec<SmokeResult> {
    let versions: Vec<(&str, &str)> = aliases
        .iter()
        .filter_map(|l| Some((l.function.name.as_str(), l.new.as_deref()?)))
        .collect();
    smoke::run(
        client,
        &versions,
        &options.smoke,
        options.concurrency,
        reporter,
    )
    .await
}

/// After a stop: every alias back (unless none moved, or `--no-revert`), said on stderr.
async fn after_stop(
    client: &Lambda,
    aliases: &mut [AliasShift<'_>],
    why: &Stop,
    options: &RolloutSettings,
    reporter: &dyn Reporter,
) {
    let why = why.describe();
    if !aliases.iter().any(|l| l.moved || l.error.is_some()) {
        reporter.warn(&format!("{why}; no alias was moved"));
    } else if options.no_revert {
        reporter.warn(&format!(
            "{why}; --no-revert: the aliases stay where they are"
        ));
    } else {
        reporter.warn(&format!("{why}; putting every alias back"));
        revert_aliases(client, aliases, options, reporter).await;
    }
}

impl<'a> AliasShift<'a> {
    fn of(function: &'a Function) -> Option<Self> {
        let alias = function.alias.as_ref()?;
        Some(Self {
            function,
            alias_name: &alias.name,
            old: alias.route.version.clone(),
            new: None,
            route: alias.route.clone(),
            revision: alias.revision_id.clone(),
            error: None,
            moved: false,
        })
    }

    /// Records why the alias failed; the first failure of a step is its stop.
    fn fail(&mut self, e: &anyhow::Error, stop: &mut Option<Stop>) {
        let error = format!("{e:#}");
        self.error = Some(error.clone());
        stop.get_or_insert(Stop::Failed {
            function: self.function.name.clone(),
            error,
        });
    }

    /// The route giving `percent` of the traffic to the new version.
    fn route_at(&self, percent: u8) -> Route {
        let new = self.new.as_deref().unwrap_or(&self.old);
        if percent >= 100 {
            Route::to(new)
        } else {
            Route::split(&self.old, new, percent)
        }
    }

    fn report(&self, target: &Target, stopped: bool) -> FunctionReport {
        let on_new = self.new.as_ref() == Some(&self.route.version) && self.route.extra.is_none();
        let on_old = self.route == Route::to(&self.old);
        let outcome = match (&self.error, on_new, on_old) {
            (Some(_), _, true) => Outcome::Failed,
            (Some(_), _, false) => Outcome::RevertFailed,
            (None, true, _) if !stopped => Outcome::Updated,
            (None, _, true) if self.new.is_none() || !self.moved => Outcome::NotStarted,
            (None, _, true) => Outcome::Reverted,
            (None, _, _) => Outcome::RevertFailed,
        };
        let old = self.function.serving();
        FunctionReport {
            name: self.function.name.clone(),
            outcome,
            image: if on_new {
                Some(target.image())
            } else if on_old {
                old.clone()
            } else {
                None
            },
            old,
            error: self.error.clone(),
            version: Some(self.route.describe()),
        }
    }
}

/// Publishes the new version of every alias without one; the first failure stops the shift
/// before any alias moves.
async fn publish_all(
    client: &Lambda,
    aliases: &mut [AliasShift<'_>],
    target: &Target,
    options: &RolloutSettings,
    reporter: &dyn Reporter,
) -> Option<Stop> {
    let description: String = format!("imprint {} {}", target.tag, target.digest)
        .chars()
        .take(256)
        .collect();
    let todo = aliases
        .iter()
        .enumerate()
        .filter(|(_, alias)| alias.new.is_none());
    let meter = reporter.count("published", todo.clone().count() as u64);
    let published: Vec<(usize, anyhow::Result<String>)> = client
        .in_turn(todo, || false)
        .map(|(i, alias)| {
            let (description, meter) = (&description, &meter);
            async move {
                let name = &alias.function.name;
                let v =
                    lambda::publish_version(client, name, &target.digest, None, description).await;
                if let Ok(version) = &v {
                    meter.line(&format!("published {name} version {version}"));
                }
                meter.advance(1);
                (i, v)
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    meter.finish();
    let mut stop = None;
    for (i, result) in published {
        let alias = &mut aliases[i];
        match result {
            Ok(version) => {
                alias.new = Some(version);
            }
            Err(e) => alias.fail(&e, &mut stop),
        }
    }
    stop
}

/// Moves every alias's alias to `route(alias)`, all at once, counted on `meter`; the first
/// failure is the stop.
async fn move_all(
    client: &Lambda,
    aliases: &mut [AliasShift<'_>],
    options: &RolloutSettings,
    meter: &dyn Meter,
    route: impl Fn(&AliasShift) -> Route,
) -> Option<Stop> {
    // The aliases already where they go take no turn.
    let (moving, staying): (Vec<_>, Vec<_>) = aliases
        .iter()
        .enumerate()
        .map(|(i, alias)| (i, alias, route(alias)))
        .partition(|(_, alias, to)| alias.route != *to);
    let stay = staying
        .into_iter()
        .map(|(i, alias, to)| (i, to, Ok(alias.revision.clone())));
    meter.advance(stay.len() as u64);
    let moves: Vec<(usize, Route, anyhow::Result<Option<String>>)> = client
        .in_turn(moving, || false)
        .map(|(i, alias, to)| async move {
            let name = &alias.function.name;
            let revision = alias.revision.as_deref();
            let result = lambda::set_route(client, name, alias.alias_name, &to, revision).await;
            meter.advance(1);
            (i, to, result)
        })
        .buffer_unordered(options.concurrency)
        .chain(stream::iter(stay))
        .collect()
        .await;
    meter.finish();
    let mut stop = None;
    for (i, to, result) in moves {
        let alias = &mut aliases[i];
        match result {
            Ok(revision) => {
                alias.moved |= alias.route != to;
                alias.route = to;
                alias.revision = revision;
            }
            Err(e) => alias.fail(&e, &mut stop),
        }
    }
    stop
}

/// Every alias back on its old version, weights cleared. A alias that cannot be put back
/// keeps its error (and the route imprint last knew).
async fn revert_aliases(
    client: &Lambda,
    aliases: &mut [AliasShift<'_>],
    options: &RolloutSettings,
    reporter: &dyn Reporter,
) {
    // A failed move's error is replaced by the put-back's outcome.
    for alias in aliases.iter_mut() {
        if alias.error.is_some() {
            let name = &alias.function.name;
            if let Ok(Some((route, revision))) =
                lambda::read_alias_route(client, name, alias.alias_name).await
            {
                alias.route = route;
                alias.revision = revision;
            }
        }
    }
    let failed: Vec<Option<String>> = aliases.iter().map(|l| l.error.clone()).collect();
    for alias in aliases.iter_mut() {
        alias.error = None;
    }
    let meter = reporter.count("aliases back", aliases.len() as u64);
    move_all(client, aliases, options, meter.as_ref(), |alias| {
        Route::to(&alias.old)
    })
    .await;
    for (alias, before) in aliases.iter_mut().zip(failed) {
        match (&alias.error, before) {
            (Some(e), _) => reporter.step(&format!("  revert-failed {}: {e}", alias.function.name)),
            (None, Some(before)) => alias.error = Some(before),
            (None, None) if alias.moved => reporter.step(&format!(
                "  reverted  {} → version {}",
                alias.function.name, alias.old
            )),
            (None, None) => {}
        }
    }
}

/// Waits `time` with `percent` of the traffic on the new versions, watching Ctrl-C and the
/// alarms (read at the start, every few seconds, and at the end).
async fn bake(
    time: Duration,
    percent: u8,
    watch: &AlarmWatch<'_>,
    reporter: &dyn Reporter,
) -> Option<Stop> {
    if time.is_zero() && watch.alarms.is_none() {
        return None;
    }
    if !time.is_zero() {
        reporter.step(&format!(
            "  baking {}s at {percent}%{}",
            time.as_secs_f64(),
            watch.alarms.map_or(String::new(), |a| format!(
                ", watching {}",
                a.names().join(", ")
            ))
        ));
    }
    let poll = (time / 10).clamp(Duration::from_millis(500), Duration::from_secs(10));
    let start = Instant::now();
    let end = start + time;
    let mut next_poll = start;
    let mut next_note = start + Duration::from_secs(60);
    loop {
        if watch.interrupt.stopped() {
            return Some(Stop::Interrupted);
        }
        let now = Instant::now();
        if let Some(alarms) = watch.alarms.filter(|_| now >= next_poll || now >= end) {
            match alarms.firing().await {
                Ok(firing) => {
                    if let Some(first) = firing.into_iter().next() {
                        return Some(Stop::Alarm(first));
                    }
                }
                Err(e) => reporter.warn(&format!("cannot read the alarms: {e:#}")),
            }
            next_poll = Instant::now() + poll;
        }
        if now >= end {
            return None;
        }
        if now >= next_note {
            reporter.step(&format!(
                "  {}s left at {percent}%",
                end.saturating_duration_since(now).as_secs()
            ));
            next_note = now + Duration::from_secs(60);
        }
        let wait = end
            .saturating_duration_since(now)
            .min(next_poll.saturating_duration_since(now))
            .clamp(Duration::from_millis(10), Duration::from_millis(200));
        tokio::time::sleep(wait).await;
    }
}
