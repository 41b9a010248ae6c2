//! Moving every function to one image, shared by `deploy` and `rollback`: preflight → plan →
//! concurrent updates, each waited on and verified → journaled. A failure puts the functions
//! already moved back on their previous image; every function always ends on an image the
//! journal records.

use std::io::{BufRead as _, IsTerminal as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::cli::RolloutArgs;
use crate::error::{ExitStatus, UsageError};
use crate::functions::{self, Function};
use crate::journal::{self, Caller, Finished, ImageRef, Kind, Outcome, Planned, Record};
use crate::lambda::{self, retrying, Settled};
use crate::printer::Printer;
use crate::registry::Registry;
use crate::settings::Settings;

/// What a rollout is, for the journal and the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `imprint deploy`.
    Deploy,
    /// `imprint rollback`.
    Rollback,
}

impl Action {
    /// The name in journal records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
        }
    }

    /// What it does to an image, for messages: "cannot {verb} IMAGE".
    fn verb(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "roll back to",
        }
    }
}

/// The image a rollout moves the functions to.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Its tag.
    pub tag: String,
    /// What Lambda is given.
    pub uri: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its content hash, when imprint built it from the local tree.
    pub hash: Option<String>,
}

impl Target {
    fn image(&self) -> ImageRef {
        ImageRef {
            uri: self.uri.clone(),
            digest: Some(self.digest.clone()),
        }
    }
}

/// One function in the report.
#[derive(Debug, Clone, Serialize)]
struct FunctionReport {
    name: String,
    outcome: Outcome,
    /// What it ran before.
    old: Option<ImageRef>,
    /// What it runs now.
    image: Option<ImageRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `deploy --json` and `rollback --json`.
#[derive(Debug, Serialize)]
struct Report {
    /// `up-to-date`, `succeeded`, `rolled-back`, `failed` or `pushed` (owner = pulumi).
    outcome: &'static str,
    /// The journal ID (none when nothing was written).
    id: Option<String>,
    tag: String,
    image_uri: String,
    digest: String,
    hash: Option<String>,
    /// Interrupted deploys this run found and closed.
    recovered: Vec<String>,
    functions: Vec<FunctionReport>,
}

/// How a move of one function went wrong.
#[derive(Debug, Clone)]
enum MoveError {
    /// The update failed or timed out; the message says why.
    Failed(String),
    /// Someone else changed the function; it was left as they left it.
    Conflict(String),
}

impl MoveError {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Failed(_) => Outcome::Failed,
            Self::Conflict(_) => Outcome::Conflict,
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Failed(m) | Self::Conflict(m) => m,
        }
    }
}

/// The Lambda side of a rollout: the AWS configuration, a client, and the functions selected
/// (read once; `rollback` needs the names before it picks its target).
pub struct Fleet {
    sdk: aws_config::SdkConfig,
    client: aws_sdk_lambda::Client,
    /// The configured functions, narrowed by `--function`.
    pub names: Vec<String>,
}

/// Loads the AWS configuration and selects the functions.
pub async fn fleet(settings: &Settings, only: &[String]) -> anyhow::Result<Fleet> {
    let sdk = functions::aws_config().await?;
    let client = lambda::client(&sdk);
    let names = functions::select(&client, settings, only).await?;
    Ok(Fleet { sdk, client, names })
}

/// Moves the fleet's functions to `target`: recovery of interrupted deploys, preflight,
/// plan, confirmation, concurrent verified updates, revert on failure, journal, report.
pub async fn run(
    settings: &Settings,
    registry: &Registry,
    fleet: Fleet,
    target: Target,
    action: Action,
    args: &RolloutArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Fleet { sdk, client, names } = fleet;
    let recovered = recover(registry, &client, args.timeout, args.recover, printer).await?;
    let found = functions::describe_all(&client, &names).await?;
    preflight(action, &found, &target, &settings.build.params.platform)?;
    warn_about_aliases(&client, &found, printer).await?;

    let todo: Vec<&Function> = found.iter().filter(|f| !runs(f, &target)).collect();
    if todo.is_empty() {
        printer.note(&format!(
            "up to date: {} function{} already run{} {} ({})",
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            if found.len() == 1 { "s" } else { "" },
            target.uri,
            target.digest
        ));
        let functions = found
            .iter()
            .map(|f| FunctionReport {
                name: f.name.clone(),
                outcome: Outcome::Unchanged,
                old: image_of(f),
                image: image_of(f),
                error: None,
            })
            .collect();
        return finish(
            printer,
            report("up-to-date", None, &target, recovered, functions),
        );
    }
    for f in &todo {
        printer.step(&format!(
            "~ {}: {} → {}",
            f.name,
            f.tag
                .as_deref()
                .or(f.image_uri.as_deref())
                .unwrap_or("(no image)"),
            target.tag
        ));
    }
    confirm(action, args.yes, todo.len(), &target)?;

    let caller = caller_identity(&sdk, printer).await;
    let id = journal::new_id();
    let begin = Record {
        format: journal::JOURNAL_FORMAT,
        kind: Kind::Begin,
        id: id.clone(),
        action: action.as_str().into(),
        time: journal::now_rfc3339(),
        unix_time: journal::unix_now(),
        caller,
        runner: Some(journal::Runner::this()),
        image: target.image(),
        tag: target.tag.clone(),
        content_hash: target.hash.clone(),
        functions: found
            .iter()
            .map(|f| Planned {
                name: f.name.clone(),
                old: image_of(f),
                new: target.image(),
            })
            .collect(),
        outcome: None,
        results: vec![],
    };
    journal::write(registry, &begin)
        .await
        .context("failed to write the journal's begin record; no function was changed")?;

    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = watch_interrupt(stop.clone(), printer.clone());
    let moves = todo.iter().map(|f| {
        let stop = stop.clone();
        let client = &client;
        let target = &target;
        async move {
            if stop.load(Ordering::SeqCst) {
                return ((*f).clone(), Err(None));
            }
            let started = Instant::now();
            let moved = move_function(
                client,
                &f.name,
                &target.image(),
                f.revision_id.clone(),
                args.timeout,
            )
            .await;
            match &moved {
                Ok(_) => printer.step(&format!(
                    "  updated   {} ({:.1} s)",
                    f.name,
                    started.elapsed().as_secs_f64()
                )),
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    printer.step(&format!(
                        "  {:<9} {}: {}",
                        e.outcome().as_str(),
                        f.name,
                        e.message()
                    ));
                }
            }
            ((*f).clone(), moved.map_err(Some))
        }
    });
    let moved: Vec<(Function, Result<ImageRef, Option<MoveError>>)> = stream::iter(moves)
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    let failed = moved.iter().any(|(_, r)| r.is_err());

    // Put back what moved, unless told not to.
    let mut reverts: Vec<(String, Result<ImageRef, MoveError>)> = Vec::new();
    if failed && !args.no_rollback {
        // Moved functions go back; so do failed ones Lambda left on the new image.
        let back: Vec<(&Function, bool)> = moved
            .iter()
            .filter_map(|(f, r)| match r {
                Ok(_) => Some((f, true)),
                Err(Some(MoveError::Failed(_))) => Some((f, false)),
                Err(_) => None,
            })
            .collect();
        if !back.is_empty() {
            printer.step("putting the functions already changed back on their previous image");
        }
        reverts = stream::iter(back.into_iter().map(|(f, updated)| {
            let client = &client;

            async move {
                if !updated {
                    match functions::describe(client, &f.name).await {
                        Ok(now) if image_of(&now) == image_of(f) => return None,
                        _ => {}
                    }
                }
                let result = match previous_image(registry, f).await {
                    Ok(to) => move_function(client, &f.name, &to, None, args.timeout).await,
                    Err(e) => Err(MoveError::Failed(format!("{e:#}"))),
                };
                match &result {
                    Ok(_) => printer.step(&format!("  reverted  {}", f.name)),
                    Err(e) => printer.step(&format!("  revert-failed {}: {}", f.name, e.message())),
                }
                Some((f.name.clone(), result))
            }
        }))
        .buffer_unordered(usize::from(args.concurrency))
        .filter_map(|r| async move { r })
        .collect()
        .await;
    }
    interrupt.abort();

    // What every function runs now: verified by its move, or read back; the end record
    // states facts, not hopes.
    let mut results = Vec::new();
    for f in &found {
        let old = image_of(f);
        let revert = reverts.iter().find(|(n, _)| n == &f.name).map(|(_, r)| r);
        let (outcome, error, verified) = if runs(f, &target) {
            (Outcome::Unchanged, None, old.clone())
        } else {
            match moved.iter().find(|(m, _)| m.name == f.name).map(|(_, r)| r) {
                Some(Ok(image)) => match revert {
                    Some(Ok(back)) => (Outcome::Reverted, None, Some(back.clone())),
                    Some(Err(e)) => (Outcome::RevertFailed, Some(e.message().to_string()), None),
                    None => (Outcome::Updated, None, Some(image.clone())),
                },
                Some(Err(Some(e))) => match revert {
                    Some(Err(r)) => (
                        Outcome::RevertFailed,
                        Some(format!(
                            "{}; putting it back failed too: {}",
                            e.message(),
                            r.message()
                        )),
                        None,
                    ),
                    Some(Ok(back)) => (
                        e.outcome(),
                        Some(e.message().to_string()),
                        Some(back.clone()),
                    ),
                    None => (e.outcome(), Some(e.message().to_string()), None),
                },
                Some(Err(None)) | None => (Outcome::NotStarted, None, None),
            }
        };
        let image = match verified {
            Some(image) => Some(image),
            None => match functions::describe(&client, &f.name).await {
                Ok(now) => image_of(&now),
                Err(e) => {
                    printer.warn(&format!("cannot read {} back: {e:#}", f.name));
                    None
                }
            },
        };
        results.push(FunctionReport {
            name: f.name.clone(),
            outcome,
            old,
            image,
            error,
        });
    }
    let outcome = if !failed {
        "succeeded"
    } else if !args.no_rollback
        && results.iter().all(|r| {
            matches!(
                r.outcome,
                Outcome::Reverted | Outcome::NotStarted | Outcome::Failed | Outcome::Unchanged
            )
        })
    {
        "rolled-back"
    } else {
        "failed"
    };
    let end = Record {
        kind: Kind::End,
        time: journal::now_rfc3339(),
        unix_time: journal::unix_now(),
        functions: vec![],
        outcome: Some(outcome.to_string()),
        results: results
            .iter()
            .map(|r| Finished {
                name: r.name.clone(),
                outcome: r.outcome,
                image: r.image.clone(),
                error: r.error.clone(),
            })
            .collect(),
        ..begin
    };
    let written = journal::write(registry, &end).await;
    let report = report(outcome, Some(id.clone()), &target, recovered, results);
    if let Err(e) = written {
        // The begin record stands; the next deploy or status finds it and closes it.
        printer.error(
            &format!("failed to write the journal's end record for {} {id}: {e}", action.as_str()),
            Some("run `imprint deploy` or `imprint rollback` again: it finds the open begin record and records what each function runs"),
        );
        finish(printer, report)?;
        return Ok(ExitStatus::Failure);
    }
    let status = finish(printer, report)?;
    if outcome == "succeeded" {
        Ok(status)
    } else {
        printer.error(
            &format!("{} {id} {}", action.as_str(), if outcome == "rolled-back" { "failed; every function is back on its previous image" } else { "failed" }),
            Some("see each function's line above (or --json); `imprint status` shows what each function runs"),
        );
        Ok(ExitStatus::Failure)
    }
}

/// The report of a deploy with `owner = "pulumi"`: pushed, no function touched.
pub fn finish_pushed(printer: &Printer, target: &Target) -> anyhow::Result<ExitStatus> {
    finish(printer, report("pushed", None, target, vec![], vec![]))
}

fn report(
    outcome: &'static str,
    id: Option<String>,
    target: &Target,
    recovered: Vec<String>,
    functions: Vec<FunctionReport>,
) -> Report {
    Report {
        outcome,
        id,
        tag: target.tag.clone(),
        image_uri: target.uri.clone(),
        digest: target.digest.clone(),
        hash: target.hash.clone(),
        recovered,
        functions,
    }
}

fn finish(printer: &Printer, report: Report) -> anyhow::Result<ExitStatus> {
    if printer.json {
        printer.json_value(&report)?;
    } else {
        for f in &report.functions {
            printer.data(&format!(
                "{}  {}  {}{}",
                f.name,
                f.outcome.as_str(),
                f.image.as_ref().map_or("-", |i| i.uri.as_str()),
                f.error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            ))?;
        }
        if report.functions.is_empty() {
            printer.data(&report.image_uri)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// A pushed image as a target: `tag`, which must be in the registry. With the digest a
/// deployment recorded, a tag since moved or deleted falls back to that digest while the
/// registry still holds it; an image gone from the registry is refused before any change.
pub async fn pushed_target(
    registry: &Registry,
    tag: &str,
    recorded: Option<&str>,
    hash: Option<String>,
    printer: &Printer,
) -> anyhow::Result<Target> {
    imprint_context::validate_tag(tag).map_err(|why| {
        UsageError::new(
            format!("{tag} is not a valid tag: {why}"),
            "pass a tag from `imprint history` or `imprint status`",
        )
    })?;
    let uri = registry.repository.uri(tag);
    let now = registry.manifest_digest(tag).await?;
    let digest = match (now, recorded) {
        (Some(now), None) => now,
        (Some(now), Some(want)) if now == want => now,
        (now, Some(want)) => {
            if registry.manifest_digest(want).await?.as_deref() != Some(want) {
                return Err(UsageError::new(
                    format!("the image {uri} ({want}) is gone from the registry; nothing was changed"),
                    "pick another deployment from `imprint history` (--to TAG), or deploy that content again",
                )
                .into());
            }
            printer.warn(&format!(
                "{uri} {}; using the recorded image {want} by digest",
                if now.is_some() {
                    "now names another image"
                } else {
                    "is gone"
                }
            ));
            return Ok(Target {
                tag: tag.to_string(),
                uri: format!("{}@{want}", registry.repository),
                digest: want.to_string(),
                hash,
            });
        }
        (None, None) => {
            return Err(UsageError::new(
                format!("{uri} is not in the registry"),
                "push it first (`imprint push` where it was built), or pick a pushed tag",
            )
            .into())
        }
    };
    Ok(Target {
        tag: tag.to_string(),
        uri,
        digest,
        hash,
    })
}

/// Whether the function already runs the target image.
fn runs(f: &Function, target: &Target) -> bool {
    f.image_uri.as_deref() == Some(target.uri.as_str())
        && f.digest.as_deref() == Some(target.digest.as_str())
}

fn image_of(f: &Function) -> Option<ImageRef> {
    f.image_uri.as_ref().map(|uri| ImageRef {
        uri: uri.clone(),
        digest: f.digest.clone(),
    })
}

/// Every function exists (checked when read), is an image function on the image's
/// architecture, and is not mid-update. All problems are listed at once.
fn preflight(
    action: Action,
    found: &[Function],
    target: &Target,
    platform: &str,
) -> anyhow::Result<()> {
    let arch = lambda::architecture_of(platform);
    let mut bad = Vec::new();
    let mut busy = Vec::new();
    for f in found {
        if f.package_type.as_deref() != Some("Image") {
            bad.push(format!(
                "{} is a {} function, not an image function",
                f.name,
                f.package_type.as_deref().unwrap_or("non-image")
            ));
            continue;
        }
        let theirs = f.architectures.first().map_or("x86_64", String::as_str);
        if let Some(ours) = arch {
            if theirs != ours {
                bad.push(format!(
                    "{} runs on {theirs}, but the image is {platform} ({ours})",
                    f.name
                ));
            }
        }
        if f.last_update_status.as_deref() == Some("InProgress")
            || f.state.as_deref() == Some("Pending")
        {
            busy.push(f.name.clone());
        }
    }
    if !bad.is_empty() {
        return Err(UsageError::new(
            format!("cannot {} {}: {}", action.verb(), target.uri, bad.join("; ")),
            "deploy image functions whose architecture matches [image] platform (or fix the function list); nothing was changed",
        )
        .into());
    }
    if !busy.is_empty() {
        anyhow::bail!(
            "cannot {} {}: an update is already in progress on {}; nothing was changed (wait for it, then try again)",
            action.verb(),
            target.uri,
            busy.join(", ")
        );
    }
    Ok(())
}

async fn warn_about_aliases(
    client: &aws_sdk_lambda::Client,
    found: &[Function],
    printer: &Printer,
) -> anyhow::Result<()> {
    let routed: Vec<(String, Vec<String>)> = stream::iter(found)
        .map(|f| async move {
            lambda::routing_aliases(client, &f.name)
                .await
                .map(|a| (f.name.clone(), a))
        })
        .buffered(functions::PARALLEL_READS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    for (name, aliases) in routed {
        if !aliases.is_empty() {
            printer.warn(&format!(
                "{name} has aliases on published versions ({}): deploying updates $LATEST, which their callers do not run",
                aliases.join(", ")
            ));
        }
    }
    Ok(())
}

/// Asks on a terminal; refuses without one unless `--yes`.
fn confirm(action: Action, yes: bool, count: usize, target: &Target) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let what = format!(
        "update {count} function{} to {}",
        if count == 1 { "" } else { "s" },
        target.uri
    );
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(UsageError::new(
            format!(
                "imprint {} would {what}, and there is no terminal to ask; nothing was changed",
                action.as_str()
            ),
            format!("pass --yes to {} without a prompt", action.as_str()),
        )
        .into());
    }
    let question = format!("{what}?");
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(UsageError::new(
            format!("{} cancelled; nothing was changed", action.as_str()),
            format!("answer y to {}, or pass --yes", action.as_str()),
        )
        .into())
    }
}

async fn caller_identity(sdk: &aws_config::SdkConfig, printer: &Printer) -> Caller {
    match aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(id) => Caller {
            arn: id.arn().map(str::to_string),
            account: id.account().map(str::to_string),
            user_id: id.user_id().map(str::to_string),
        },
        Err(e) => {
            printer.warn(&format!(
                "cannot read the caller identity from STS ({}); the journal records no caller",
                aws_sdk_sts::error::DisplayErrorContext(e)
            ));
            Caller::default()
        }
    }
}

/// The first Ctrl-C stops new updates (in-flight ones finish, moved ones go back, the end
/// record is written); a second one quits at once, and the next run closes the record.
fn watch_interrupt(stop: Arc<AtomicBool>, printer: Printer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.store(true, Ordering::SeqCst);
        printer.warn("interrupted: no new updates start; the ones in flight finish and are put back (Ctrl-C again to quit now)");
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    })
}

/// Moves one function to `to`: update (with the revision read at preflight), wait, verify.
async fn move_function(
    client: &aws_sdk_lambda::Client,
    name: &str,
    to: &ImageRef,
    revision: Option<String>,
    timeout: Duration,
) -> Result<ImageRef, MoveError> {
    let sent = retrying(&format!("UpdateFunctionCode {name}"), || {
        client
            .update_function_code()
            .function_name(name)
            .image_uri(&to.uri)
            .set_revision_id(revision.clone())
            .send()
    })
    .await;
    if let Err(e) = sent {
        match lambda::code(&e) {
            Some("PreconditionFailedException") => {
                // Our own earlier attempt may have landed before a dropped answer.
                let now = functions::describe(client, name)
                    .await
                    .map_err(|e| MoveError::Failed(format!("{e:#}")))?;
                if now.image_uri.as_deref() != Some(to.uri.as_str()) {
                    return Err(MoveError::Conflict(format!(
                        "changed by someone else since imprint read it (it now runs {}); left as it is",
                        now.image_uri.as_deref().unwrap_or("no image")
                    )));
                }
            }
            Some("ResourceNotFoundException") => {
                return Err(MoveError::Failed(
                    "the function no longer exists (deleted during the deploy?)".into(),
                ))
            }
            _ => return Err(MoveError::Failed(lambda::describe(&e))),
        }
    }
    let deadline = Instant::now() + timeout;
    match lambda::wait_updated(client, name, deadline).await {
        Ok(Settled::Successful) => {}
        Ok(Settled::Failed(reason)) => {
            return Err(MoveError::Failed(format!(
                "Lambda failed the update: {reason}"
            )))
        }
        Ok(Settled::TimedOut) => {
            return Err(MoveError::Failed(format!(
                "still updating after {}s (--timeout); Lambda may yet finish it",
                timeout.as_secs()
            )))
        }
        Err(e) => return Err(MoveError::Failed(format!("{e:#}"))),
    }
    let now = functions::describe(client, name)
        .await
        .map_err(|e| MoveError::Failed(format!("{e:#}")))?;
    let uri_ok = now.image_uri.as_deref() == Some(to.uri.as_str());
    let digest_ok = match (&now.digest, &to.digest) {
        (Some(theirs), Some(ours)) => theirs == ours,
        // A digest URI pins the digest itself.
        (None, _) => to.uri.contains('@'),
        (Some(_), None) => true,
    };
    if uri_ok && digest_ok {
        Ok(ImageRef {
            uri: to.uri.clone(),
            digest: now.digest.or_else(|| to.digest.clone()),
        })
    } else {
        Err(MoveError::Conflict(format!(
            "after the update it runs {} ({}), not {} ({}); someone else changed it, so it was left as it is",
            now.image_uri.as_deref().unwrap_or("no image"),
            now.digest.as_deref().unwrap_or("unknown digest"),
            to.uri,
            to.digest.as_deref().unwrap_or("unknown digest")
        )))
    }
}

/// The image to put a function back on: its old URI when that still names the old digest,
/// else the old digest itself.
async fn previous_image(registry: &Registry, f: &Function) -> anyhow::Result<ImageRef> {
    let uri = f
        .image_uri
        .clone()
        .with_context(|| format!("{} had no image before the deploy", f.name))?;
    let ours = format!("{}:", registry.repository);
    if let (Some(tag), Some(digest)) = (uri.strip_prefix(&ours), &f.digest) {
        if registry.manifest_digest(tag).await?.as_deref() != Some(digest.as_str()) {
            return Ok(ImageRef {
                uri: format!("{}@{digest}", registry.repository),
                digest: Some(digest.clone()),
            });
        }
    }
    Ok(ImageRef {
        uri,
        digest: f.digest.clone(),
    })
}

/// Closes deploys that began and never ended: each function's image now goes into an end
/// record marked `interrupted`. One that may still be running elsewhere is left alone
/// unless `force`.
async fn recover(
    registry: &Registry,
    client: &aws_sdk_lambda::Client,
    timeout: Duration,
    force: bool,
    printer: &Printer,
) -> anyhow::Result<Vec<String>> {
    let mut closed = Vec::new();
    for begin in journal::unfinished(registry).await? {
        match begin.liveness(timeout) {
            journal::Liveness::Running => anyhow::bail!(
                "{} {} (pid {} on this machine) is still running; wait for it to end",
                begin.action,
                begin.id,
                begin.runner.as_ref().map_or(0, |r| r.pid)
            ),
            journal::Liveness::Maybe if !force => {
                return Err(UsageError::new(
                    format!(
                        "{} {} by {} began at {} on {} and has not ended; it may still be running",
                        begin.action,
                        begin.id,
                        begin.caller.arn.as_deref().unwrap_or("an unknown caller"),
                        begin.time,
                        begin.runner.as_ref().map_or("another machine", |r| r.host.as_str()),
                    ),
                    "if it was interrupted, run again with --recover to record what each function runs and go on",
                )
                .into())
            }
            _ => {}
        }
        let mut results = Vec::new();
        for planned in &begin.functions {
            let (image, error) = match functions::describe(client, &planned.name).await {
                Ok(now) => (image_of(&now), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
            results.push(Finished {
                name: planned.name.clone(),
                outcome: Outcome::Interrupted,
                image,
                error,
            });
        }
        let moved: Vec<&str> = results
            .iter()
            .filter(|r| r.image.as_ref().map(|i| &i.uri) == Some(&begin.image.uri))
            .map(|r| r.name.as_str())
            .collect();
        printer.warn(&format!(
            "{} {} (began {}) was interrupted: {} of {} functions run its image {}; recorded in the journal",
            begin.action,
            begin.id,
            begin.time,
            moved.len(),
            results.len(),
            begin.tag
        ));
        let end = Record {
            kind: Kind::End,
            time: journal::now_rfc3339(),
            unix_time: journal::unix_now(),
            functions: vec![],
            outcome: Some("interrupted".into()),
            results,
            ..begin
        };
        journal::write(registry, &end).await.with_context(|| {
            format!("failed to close the interrupted {} {}", end.action, end.id)
        })?;
        closed.push(end.id);
    }
    Ok(closed)
}
