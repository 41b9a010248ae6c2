//! Before any change: which functions move, whether every one can (preflight), the aliases
//! that deploying `$LATEST` does not reach, the question, and the begin record.

use std::io::{BufRead as _, IsTerminal as _};

use futures_util::stream::{self, StreamExt};

use super::target::Target;
use crate::config::Traffic;
use crate::error::UsageError;
use crate::journal::{self, Action, AliasDeploy, Caller, Kind, Planned, Record};
use crate::lambda::{self, Alarms, Function, Lambda};
use crate::reporter::Reporter;

/// Whether the function's `$LATEST` already runs the target image.
pub fn runs(f: &Function, target: &Target) -> bool {
    f.image_uri.as_deref() == Some(target.image_uri.as_str())
        && f.digest.as_deref() == Some(target.digest.as_str())
}

/// Whether the function's callers already run the target: its alias routes all traffic to a
/// version of it when the alias was read, else `$LATEST` runs it.
pub fn serves(f: &Function, target: &Target) -> bool {
    match &f.alias {
        Some(alias) => {
            alias.route.extra.is_none()
                && alias.image.as_ref().and_then(|i| i.digest.as_deref())
                    == Some(target.digest.as_str())
        }
        None => runs(f, target),
    }
}

/// The functions that do not run the target yet.
pub fn to_move<'a>(found: &'a [Function], target: &Target) -> Vec<&'a Function> {
    found.iter().filter(|f| !serves(f, target)).collect()
}

/// "cannot deploy IMAGE" / "cannot roll back to IMAGE".
fn verb(action: Action) -> &'static str {
    match action {
        Action::Deploy => "deploy",
        Action::Rollback => "roll back to",
    }
}

/// Every function exists (checked when read), is an image function on the image's
/// architecture, and is not mid-update. All problems are listed at once; `to` is the image.
pub fn preflight(
    action: Action,
    found: &[Function],
    to: &str,
    platform: &str,
) -> anyhow::Result<()> {
    unfit(action, found, to, platform)?;
    let busy: Vec<&str> = found
        .iter()
        .filter(|f| f.is_busy())
        .map(|f| f.name.as_str())
        .collect();
    if !busy.is_empty() {
        anyhow::bail!(
            "cannot {} {to}: an update is already in progress on {}; nothing was changed (wait for it, then try again)",
            verb(action),
            busy.join(", ")
        );
    }
    Ok(())
}

/// The functions that can never take an image for `platform` (not image functions, another
/// architecture): all named in one usage error. Checked again before a build, too.
pub fn unfit(
    action: Action,
    found: &[Function],
    to: &str,
    platform: &str,
) -> Result<(), UsageError> {
    let arch = lambda::architecture_of(platform);
    let mut bad = Vec::new();
    for f in found {
        if !f.is_image() {
            bad.push(format!(
                "{} is a {} function, not an image function",
                f.name,
                f.package_type.as_ref().map_or("non-image", |p| p.as_str())
            ));
            continue;
        }
        let theirs = f.architectures.first().map_or("x86_64", String::as_str);
        if let Some(ours) = arch.filter(|ours| *ours != theirs) {
            bad.push(format!(
                "{} runs on {theirs}, but the image is {platform} ({ours})",
                f.name
            ));
        }
    }
    match bad.is_empty() {
        true => Ok(()),
        false => Err(UsageError::new(
            format!("cannot {} {to}: {}", verb(action), bad.join("; ")),
            "deploy image functions whose architecture matches [image] platform (or fix the function list); nothing was changed",
        )),
    }
}

/// After the unfinished deployments were closed: an alias that still splits its traffic is
/// being shifted by someone else (imprint's own shifts were put back).
pub fn check_splits(action: Action, found: &[Function], target: &Target) -> anyhow::Result<()> {
    let split: Vec<String> = found
        .iter()
        .filter_map(|f| {
            let alias = f.alias.as_ref().filter(|a| a.route.extra.is_some())?;
            Some(format!(
                "{} (its alias {} routes {})",
                f.name,
                alias.name,
                alias.route.describe()
            ))
        })
        .collect();
    if split.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "cannot {} {}: traffic is being shifted outside imprint's journal on {}; nothing was changed (let that shift end, or point the aliases at one version)",
        verb(action),
        target.image_uri,
        split.join(", ")
    )
}

/// Warns about aliases on published versions (one warning, naming the first
/// [`PLAN_LINES`] functions): updating `$LATEST` does not change what their callers run.
pub async fn warn_about_aliases(
    client: &Lambda,
    names: &[String],
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let routed: Vec<(&String, Vec<String>)> = stream::iter(names)
        .map(|name| async move {
            lambda::routing_aliases(client, name)
                .await
                .map(|a| (name, a))
        })
        .buffered(lambda::PARALLEL_READS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let routed: Vec<String> = routed
        .into_iter()
        .filter(|(_, aliases)| !aliases.is_empty())
        .map(|(name, aliases)| format!("{name} ({})", aliases.join(", ")))
        .collect();
    let (count, shown) = (routed.len(), routed.len().min(PLAN_LINES));
    if count > 0 {
        reporter.warn(&format!(
            "{} on published versions: deploying updates $LATEST, which their callers do not run: {}{}",
            if count == 1 { "a function has aliases".to_string() } else { format!("{count} functions have aliases") },
            routed[..shown].join(", "),
            if count > shown { format!(" and {} more", count - shown) } else { String::new() }
        ));
    }
    Ok(())
}

/// The watched alarms must all exist and none may fire before the deploy (unless
/// `--ignore-alarms`: then the ones firing are not watched). The alarms to watch.
pub async fn check_alarms(
    alarms: &Alarms,
    ignore: bool,
    reporter: &dyn Reporter,
) -> anyhow::Result<Vec<String>> {
    let firing = alarms.firing().await?;
    let quiet = alarms
        .names()
        .iter()
        .filter(|n| firing.iter().all(|f| &f.name != *n))
        .cloned()
        .collect();
    if firing.is_empty() {
        return Ok(quiet);
    }
    let list = firing
        .iter()
        .map(|f| format!("{} ({})", f.name, f.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if ignore {
        reporter.warn(&format!(
            "--ignore-alarms: deploying while alarms fire (not watched): {list}"
        ));
        return Ok(quiet);
    }
    Err(UsageError::new(
        format!("alarms already fire before the deploy: {list}; nothing was changed"),
        "find out why first (a firing alarm would put every alias back at once), or pass --ignore-alarms",
    )
    .into())
}

/// Refuses a run that will have to ask before it changes anything (no `--yes`) when there is
/// no terminal to ask on: before it builds or pushes, not after. `what` is what it would do.
pub fn can_ask(action: Action, yes: bool, what: &str) -> Result<(), UsageError> {
    if yes || (std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(());
    }
    Err(UsageError::new(
        format!("imprint {action} would {what}, and there is no terminal to ask; nothing was built or changed"),
        format!("pass --yes to {action} without a prompt"),
    ))
}

/// Moves listed one a line before a deploy; the rest of a larger one with `-v` only.
const PLAN_LINES: usize = 20;

/// Shows each move (the first [`PLAN_LINES`] of many), then asks on a terminal; refuses
/// without one unless `yes`.
pub fn confirm(
    action: Action,
    yes: bool,
    todo: &[&Function],
    target: &Target,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    for (i, f) in todo.iter().enumerate() {
        // What its callers run now: the alias's version when deploying through one.
        let now = f
            .serving()
            .map(|i| lambda::tag_of(&i.uri).unwrap_or(i.uri))
            .unwrap_or_else(|| "(no image)".into());
        let alias = f
            .alias
            .as_ref()
            .map(|a| format!(" (alias {} → {})", a.name, a.route.describe()))
            .unwrap_or_default();
        let line = format!("~ {}: {now}{alias} → {}", f.name, target.tag);
        match i < PLAN_LINES || todo.len() <= PLAN_LINES + 1 {
            true => reporter.step(&line),
            false => reporter.detail(&line),
        }
    }
    if todo.len() > PLAN_LINES + 1 {
        reporter.step(&format!(
            "~ … and {} more functions (-v lists each)",
            todo.len() - PLAN_LINES
        ));
    }
    if yes {
        return Ok(());
    }
    let count = todo.len();
    let what = format!(
        "update {count} function{} to {}",
        if count == 1 { "" } else { "s" },
        target.image_uri
    );
    can_ask(action, false, &what)?;
    eprint!("{what}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(UsageError::new(
            format!("{action} cancelled; nothing was changed"),
            format!("answer y to {action}, or pass --yes"),
        )
        .into())
    }
}

/// The begin record: every function's image (and alias version) now and the target, who,
/// where, when, and through which alias how.
pub fn begin_record(
    id: String,
    action: Action,
    target: &Target,
    found: &[Function],
    caller: Caller,
    traffic: &Traffic,
) -> Record {
    Record {
        format: journal::JOURNAL_FORMAT,
        kind: Kind::Begin,
        id,
        action,
        time: journal::now_rfc3339(),
        unix_time: journal::unix_now(),
        caller,
        runner: Some(journal::Runner::this()),
        image: target.image(),
        tag: target.tag.clone(),
        content_hash: target.hash.clone(),
        checkout: target.checkout.clone(),
        functions: found
            .iter()
            .map(|f| Planned {
                name: f.name.clone(),
                old: f.serving(),
                new: target.image(),
                old_version: f.alias.as_ref().map(|a| a.route.version.clone()),
            })
            .collect(),
        outcome: None,
        results: vec![],
        traffic: traffic.alias.as_ref().map(|alias| AliasDeploy {
            alias: alias.clone(),
            strategy: traffic.strategy.to_string(),
            shifts: Vec::new(),
            alarm: None,
            smoke: Vec::new(),
            smoke_skipped: false,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lambda::{FunctionImage, PackageType, State, UpdateStatus};
    use crate::rollout::apply::{Move, Moved};

    /// A function as Lambda would report it, running `uri` at `digest`.
    pub(crate) fn function(name: &str, uri: &str, digest: &str) -> Function {
        Function {
            name: name.into(),
            package_type: Some(PackageType::Image),
            image_uri: Some(uri.into()),
            tag: lambda::tag_of(uri),
            digest: Some(digest.into()),
            state: Some(State::Active),
            last_update_status: Some(UpdateStatus::Successful),
            last_update_reason: None,
            last_modified: None,
            architectures: vec!["x86_64".into()],
            command: Vec::new(),
            revision_id: None,
            alias: None,
        }
    }

    #[test]
    fn through_an_alias_only_all_traffic_on_the_target_counts_as_deployed() {
        let t = target();
        // $LATEST already runs the target (a canary cut short): the alias still has to move.
        let mut f = function("f", &t.image_uri, &t.digest);
        let alias = |route: lambda::Route, image: FunctionImage| lambda::AliasView {
            name: "live".into(),
            route,
            image: Some(image),
            extra_image: None,
            revision_id: None,
        };
        let old = FunctionImage {
            uri: "r.io/a:old".into(),
            digest: Some("sha256:1".into()),
        };
        f.alias = Some(alias(lambda::Route::split("1", "2", 10), old.clone()));
        assert!(runs(&f, &t) && !serves(&f, &t));
        f.alias = Some(alias(lambda::Route::to("1"), old));
        assert!(!serves(&f, &t));
        f.alias = Some(alias(lambda::Route::to("2"), t.image()));
        assert!(serves(&f, &t));
        let found = [f];
        assert!(to_move(&found, &t).is_empty());

        let traffic = Traffic {
            alias: Some("live".into()),
            ..Traffic::default()
        };
        let record = begin_record(
            journal::new_id(),
            Action::Deploy,
            &t,
            &found,
            Caller::default(),
            &traffic,
        );
        assert_eq!(record.functions[0].old_version.as_deref(), Some("2"));
        assert_eq!(record.traffic.unwrap().strategy, "all-at-once");
    }

    /// One function, on the old image before its move, and how the move ended.
    pub(crate) fn moved(name: &str, result: Move) -> Moved {
        Moved {
            function: function(name, "r.io/a:old", "sha256:1"),
            result,
        }
    }

    pub(crate) fn target() -> Target {
        Target {
            tag: "new".into(),
            image_uri: "r.io/a:new".into(),
            digest: "sha256:2".into(),
            hash: None,
            checkout: None,
            versions: Default::default(),
        }
    }

    #[test]
    fn only_functions_off_the_target_image_move() {
        let found = vec![
            function("on", "r.io/a:new", "sha256:2"),
            function("old", "r.io/a:old", "sha256:1"),
            // Same tag, but the tag was moved since: it runs other bytes.
            function("stale", "r.io/a:new", "sha256:1"),
        ];
        let names: Vec<&str> = to_move(&found, &target())
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["old", "stale"]);
    }

    #[test]
    fn preflight_lists_every_problem_and_refuses_busy_functions() {
        let mut zip = function("zip", "r.io/a:old", "sha256:1");
        zip.package_type = Some(PackageType::Zip);
        let mut arm = function("arm", "r.io/a:old", "sha256:1");
        arm.architectures = vec!["arm64".into()];
        let found = vec![zip, arm, function("ok", "r.io/a:old", "sha256:1")];
        let err =
            preflight(Action::Rollback, &found, &target().image_uri, "linux/amd64").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot roll back to r.io/a:new"), "{text}");
        assert!(text.contains("zip is a Zip function"), "{text}");
        assert!(text.contains("arm runs on arm64"), "{text}");
        assert!(err.is::<UsageError>());

        let mut busy = function("busy", "r.io/a:old", "sha256:1");
        busy.last_update_status = Some(UpdateStatus::InProgress);
        let err =
            preflight(Action::Deploy, &[busy], &target().image_uri, "linux/amd64").unwrap_err();
        assert!(
            err.to_string().contains("already in progress on busy"),
            "{err}"
        );
        assert!(!err.is::<UsageError>(), "busy is a failure, not bad input");
        assert!(preflight(
            Action::Deploy,
            &found[2..],
            &target().image_uri,
            "linux/amd64"
        )
        .is_ok());
    }

    #[test]
    fn the_begin_record_names_every_function_old_and_new() {
        let found = vec![
            function("a", "r.io/a:old", "sha256:1"),
            function("b", "r.io/a:new", "sha256:2"),
        ];
        let record = begin_record(
            journal::new_id(),
            Action::Deploy,
            &target(),
            &found,
            Caller::default(),
            &Traffic::default(),
        );
        assert!(record.traffic.is_none());
        assert_eq!(record.kind, Kind::Begin);
        assert_eq!(record.functions.len(), 2);
        assert_eq!(record.functions[0].old, found[0].image());
        assert_eq!(record.functions[1].new, target().image());
        assert!(record.outcome.is_none() && record.results.is_empty());
    }
}
