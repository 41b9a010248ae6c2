//! `imprint doctor`: one line per thing a deploy needs, each with a hint when it fails. A check
//! that cannot run because an earlier one failed says so (`skip`) instead of failing twice.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::cli::{Check, DoctorArgs};
use crate::diagnose;
use crate::error::{ExitStatus, UsageError};
use crate::image::{build, hash_tree, lock};
use crate::lambda;
use crate::rollout;
use crate::session::Session;
use crate::state;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Works, with something the user should know.
    Warn,
    Fail,
    /// Not run: it needs what an earlier failed check provides.
    Skip,
}

/// One check's result.
#[derive(Debug, Serialize)]
struct Finding {
    name: Check,
    status: Status,
    /// What was found, or what went wrong.
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// `doctor --json`.
#[derive(Debug, Serialize)]
struct DoctorReport {
    /// Whether every check passed.
    ok: bool,
    checks: Vec<Finding>,
}

/// The checks that need the AWS configuration (and run the ones before them).
const AWS_CHECKS: [Check; 5] = [
    Check::Region,
    Check::Credentials,
    Check::Registry,
    Check::Repository,
    Check::Functions,
];

struct Checks(Vec<Finding>);

impl Checks {
    fn ok(&mut self, name: Check, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into(), None);
    }

    /// A failure from an error: its message, and its own hint or `fallback`.
    fn fail(&mut self, name: Check, error: &anyhow::Error, fallback: &str) {
        let hint = diagnose::hint(error).unwrap_or_else(|| fallback.to_string());
        self.push(name, Status::Fail, diagnose::message(error), Some(hint));
    }

    fn warn(&mut self, name: Check, detail: String, hint: String) {
        self.push(name, Status::Warn, detail, Some(hint));
    }

    fn skip(&mut self, name: Check, why: &str) {
        self.push(name, Status::Skip, why.to_string(), None);
    }

    fn push(&mut self, name: Check, status: Status, detail: String, hint: Option<String>) {
        self.0.push(Finding {
            name,
            status,
            detail,
            hint,
        });
    }
}

/// Runs `imprint doctor`.
pub async fn run(session: &Session, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let want = |name: Check| args.checks.is_empty() || args.checks.contains(&name);
    let mut checks = Checks(Vec::new());
    if want(Check::Builder) {
        check_builder(session, &mut checks);
    }
    if want(Check::Disk) {
        check_disk(session, &mut checks);
    }
    // The functions check's selection, for the Pulumi check (`select` costs a Lambda listing).
    let mut selected = None;
    if AWS_CHECKS.iter().any(|n| want(*n)) {
        selected = check_aws(session, &mut checks).await;
    }
    if want(Check::Lock) || want(Check::Context) {
        // One offline, read-only pass over imprint.lock serves both checks: the lock check
        // reads what is missing from it, the context hash covers the locked base digests as
        // `imprint tag` does. Doctor writes nothing.
        let mode = lock::Mode {
            offline: true,
            locked: false,
            update: false,
            read_only: true,
        };
        let bases = lock::prepare(session, mode).await;
        if want(Check::Lock) {
            check_lock(session, &bases, &mut checks);
        }
        if want(Check::Context) {
            check_context(session, bases.ok(), &mut checks);
        }
    }
    if want(Check::Pulumi) {
        check_pulumi(session, selected, &mut checks).await;
    }
    // Prerequisites run for what was asked; only what was asked is reported.
    checks.0.retain(|c| want(c.name));
    let report = DoctorReport {
        ok: checks.0.iter().all(|c| c.status != Status::Fail),
        checks: checks.0,
    };
    session.printer.report(&report)?;
    Ok(if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            lines.push(format!("{mark}  {:<12} {}", c.name.as_str(), c.detail));
            if let Some(hint) = &c.hint {
                lines.push(format!("      {:<12} hint: {hint}", ""));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

/// The builder's engine answers (not just its CLI).
fn check_builder(session: &Session, checks: &mut Checks) {
    let builder = build::for_settings(&session.settings.build);
    let kind = builder.kind();
    let version = match builder.version() {
        Ok(version) => version,
        Err(e) => return checks.fail(
            Check::Builder,
            &e.into(),
            "start the Docker engine (or set [image] builder / IMPRINT_DOCKER to a working one)",
        ),
    };
    let detail = format!(
        "{kind} answers (version {version}); {}",
        builder.export_way()
    );
    match builder.older_context_walk() {
        Ok(None) => checks.ok(Check::Builder, detail),
        Ok(Some(build::OlderWalk { program: walker, version: old })) => checks.warn(
            Check::Builder,
            format!("{detail}; {walker} {old} sends the context by older ignore rules than imprint hashes by (Docker 23 and later)"),
            format!("a few ignore files send other files with it (the README's \"Which Docker\"): update {walker}, or keep `**/`, `!` under excluded folders and `**name` out of the ignore file"),
        ),
        Err(e) => checks.fail(Check::Builder, &e.into(), "check that the docker CLI (and its buildx plugin) runs"),
    }
}

/// Free space below which a build or an export may run out (the document's troubleshooting
/// step "check disk space").
const MIN_FREE: u64 = 1 << 30;

/// Room on disk where imprint writes an export's blobs and where the builder keeps images
/// (when it runs on this machine).
fn check_disk(session: &Session, checks: &mut Checks) {
    let mut places: Vec<(&str, std::path::PathBuf)> = Vec::new();
    if let Ok(cache) = state::cache_dir() {
        places.push(("imprint's cache", cache));
    }
    let remote = ["DOCKER_HOST", "CONTAINER_HOST"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .any(|host| !host.is_empty() && !host.starts_with("unix://"));
    let mut notes = Vec::new();
    match build::for_settings(&session.settings.build).storage_dir() {
        Ok(dir) if !remote && dir.is_dir() => places.push(("the builder's storage", dir)),
        Ok(dir) => notes.push(format!(
            "the builder's storage ({}): not measured ({})",
            dir.display(),
            match remote {
                true => "the daemon runs on another machine",
                false => "not visible to this user",
            }
        )),
        Err(e) => notes.push(format!("the builder's storage: not measured ({e})")),
    }
    let mut short = false;
    let mut lines = Vec::new();
    for (what, dir) in &places {
        // The cache folder may not exist yet: its nearest existing parent is measured.
        let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(dir);
        lines.push(match state::free_space(existing) {
            Ok(free) => {
                short |= free < MIN_FREE;
                format!("{what} {} free ({})", gib(free), dir.display())
            }
            Err(e) => format!("{what} ({}): not measured ({e})", dir.display()),
        });
    }
    lines.extend(notes);
    let detail = lines.join("; ");
    if short {
        checks.push(
            Check::Disk,
            Status::Fail,
            format!("less than {} free: {detail}", gib(MIN_FREE)),
            Some("free space: `docker system prune` and `docker builder prune` (or podman's), old files on that disk".into()),
        );
    } else {
        checks.ok(Check::Disk, detail);
    }
}

/// Bytes as GiB with one decimal.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// Region, credentials, registry, repository and functions, each skipped when what it needs
/// failed; the functions selected, when that check got as far.
async fn check_aws(session: &Session, checks: &mut Checks) -> Option<Vec<String>> {
    // The region check is the one every AWS command makes.
    let region = match session.aws().await {
        Ok(sdk) => {
            checks.ok(
                Check::Region,
                sdk.region().map_or(String::new(), ToString::to_string),
            );
            true
        }
        Err(e) => {
            checks.fail(Check::Region, &e, "");
            false
        }
    };
    let credentials = if region {
        check_credentials(session, checks).await
    } else {
        checks.skip(Check::Credentials, "needs a region");
        false
    };
    let tags = check_registry(session, credentials, checks).await;
    check_repository(session, tags, credentials, checks).await;
    if !credentials {
        checks.skip(Check::Functions, "needs AWS credentials");
        return None;
    }
    match check_functions(session).await {
        Ok((names, detail)) => {
            checks.ok(Check::Functions, detail);
            Some(names)
        }
        Err(e) => {
            checks.fail(
                Check::Functions,
                &e,
                "create them (Pulumi), or fix [deploy] functions / select",
            );
            None
        }
    }
}

/// The image functions the Pulumi stack holds are imprint.toml's (`pulumi stack export`),
/// when a Pulumi program is there; `selected`: what the functions check selected, if it ran.
async fn check_pulumi(session: &Session, selected: Option<Vec<String>>, checks: &mut Checks) {
    let settings = &session.settings;
    let Some(dir) = rollout::pulumi_program_dir(settings) else {
        return checks.skip(
            Check::Pulumi,
            "no Pulumi program ([deploy] pulumi_dir, or a Pulumi.yaml in infrastructure/ or beside imprint.toml)",
        );
    };
    let deploy = &settings.config.sections.deploy;
    let stack = deploy.pulumi_stack.as_deref();
    let stacked = match rollout::pulumi_stack_functions(&dir, stack).await {
        Ok(None) => {
            return checks.skip(
                Check::Pulumi,
                "the Pulumi CLI is not on PATH: the stack cannot be read",
            )
        }
        Ok(Some(names)) if names.is_empty() => {
            return checks.skip(
                Check::Pulumi,
                "the stack holds no image function yet (`pulumi up` makes them)",
            )
        }
        Ok(Some(names)) => names,
        Err(e) => {
            return checks.fail(
                Check::Pulumi,
                &e,
                "`pulumi login`, and name the stack in [deploy] pulumi_stack",
            );
        }
    };
    let configured: BTreeSet<String> = match selected {
        Some(names) => names.into_iter().collect(),
        None => match select_functions(session).await {
            Ok(names) => names.into_iter().collect(),
            Err(e) => {
                return checks.fail(
                    Check::Pulumi,
                    &e,
                    "fix [deploy] select, or list [deploy] functions",
                )
            }
        },
    };
    let only_imprint: Vec<&str> = configured
        .difference(&stacked)
        .map(String::as_str)
        .collect();
    let only_pulumi: Vec<&str> = stacked
        .difference(&configured)
        .map(String::as_str)
        .collect();
    let stack = stack.map_or_else(
        || "the selected stack".to_string(),
        |s| format!("stack {s}"),
    );
    if only_imprint.is_empty() && only_pulumi.is_empty() {
        return checks.ok(
            Check::Pulumi,
            format!(
                "imprint.toml and {stack} ({}) name the same {} image function(s)",
                dir.display(),
                stacked.len()
            ),
        );
    }
    let mut parts = Vec::new();
    if !only_imprint.is_empty() {
        parts.push(format!(
            "in imprint.toml, not in {stack}: {}",
            only_imprint.join(", ")
        ));
    }
    if !only_pulumi.is_empty() {
        parts.push(format!(
            "in {stack}, not in imprint.toml: {}",
            only_pulumi.join(", ")
        ));
    }
    checks.push(
        Check::Pulumi,
        Status::Fail,
        parts.join("; "),
        Some("make [deploy] functions the functions the Pulumi program creates (or run `pulumi up` if it has not made them yet)".into()),
    );
}

/// The configured functions: `[deploy] functions` as listed (no AWS call), or what `select`
/// picks now.
async fn select_functions(session: &Session) -> anyhow::Result<Vec<String>> {
    let deploy = &session.settings.config.sections.deploy;
    if let Some(names) = &deploy.functions {
        return Ok(names.clone());
    }
    lambda::select(session.lambda().await?, deploy, &[]).await
}

/// STS answers with who we are.
async fn check_credentials(session: &Session, checks: &mut Checks) -> bool {
    let identified = match session.sts().await {
        Ok(sts) => lambda::identify(sts).await,
        Err(e) => Err(format!("{e:#}")),
    };
    match identified {
        Ok(id) => {
            checks.ok(
                Check::Credentials,
                format!(
                    "{} (account {})",
                    id.arn.as_deref().unwrap_or("unknown ARN"),
                    id.account.as_deref().unwrap_or("unknown")
                ),
            );
            true
        }
        Err(e) => {
            checks.fail(
                Check::Credentials,
                &anyhow::anyhow!("STS GetCallerIdentity failed: {e}"),
                "set AWS_PROFILE (and `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            );
            false
        }
    }
}

/// The registry answers and takes our credentials (a tag listing needs them); the number of
/// tags listed, for the repository check.
async fn check_registry(
    session: &Session,
    credentials: bool,
    checks: &mut Checks,
) -> Option<usize> {
    // Fails only when no repository is configured: the error says so with its hint.
    let provider = match session.provider().await {
        Ok(provider) => provider,
        Err(e) => {
            checks.fail(Check::Registry, &e, "");
            return None;
        }
    };
    if provider.needs_aws() && !credentials {
        checks.skip(
            Check::Registry,
            "an ECR registry: needs AWS credentials for its token",
        );
        return None;
    }
    let attempt = async {
        let registry = session.registry().await?;
        registry.ping().await?;
        let tags = registry.tags().await?;
        anyhow::Ok((registry, tags.len()))
    };
    match attempt.await {
        Ok((registry, tags)) => {
            checks.ok(
                Check::Registry,
                format!("{} answers and accepts the credentials", registry.address()),
            );
            Some(tags)
        }
        Err(e) => {
            checks.fail(
                Check::Registry,
                &e,
                "check [registry] endpoint and your network; `imprint login` for the docker CLI",
            );
            None
        }
    }
}

/// ECR repositories must exist before the first push; other registries make them on push.
async fn check_repository(
    session: &Session,
    tags: Option<usize>,
    credentials: bool,
    checks: &mut Checks,
) {
    let Some(configured) = &session.settings.registry else {
        checks.skip(Check::Repository, "needs a configured repository");
        return;
    };
    let repository = &configured.repository;
    let provider = match session.provider().await {
        Ok(provider) => provider,
        Err(e) => return checks.fail(Check::Repository, &e, ""),
    };
    if !provider.makes_repositories_on_push() {
        if !credentials {
            checks.skip(Check::Repository, "needs AWS credentials");
            return;
        }
        let found = provider
            .ensure_repository(repository, false, &session.printer)
            .await;
        match found {
            Ok(()) => checks.ok(Check::Repository, format!("{repository} exists")),
            Err(e) => checks.fail(
                Check::Repository,
                &e,
                "create it (the Pulumi program's bootstrap, or `imprint push --create-repo`)",
            ),
        }
        return;
    }
    match tags {
        Some(0) => checks.ok(
            Check::Repository,
            format!("{repository} is empty; the first push creates it"),
        ),
        Some(tags) => checks.ok(Check::Repository, format!("{repository}: {tags} tags")),
        None => checks.skip(Check::Repository, "needs the registry"),
    }
}

async fn check_functions(session: &Session) -> anyhow::Result<(Vec<String>, String)> {
    let client = session.lambda().await?;
    let names = lambda::select(client, &session.settings.config.sections.deploy, &[]).await?;
    let found = lambda::read_functions(client, &names).await?;
    let zip: Vec<&str> = found
        .iter()
        .filter(|f| !f.is_image())
        .map(|f| f.name.as_str())
        .collect();
    if !zip.is_empty() {
        return Err(UsageError::new(
            format!("not image functions: {}", zip.join(", ")),
            "imprint deploys container-image functions; remove these from [deploy]",
        )
        .into());
    }
    let detail = format!(
        "{} image function{} exist: {}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    Ok((names, detail))
}

/// Every base image the Dockerfile names is pinned in imprint.lock for the platform.
fn check_lock(session: &Session, bases: &anyhow::Result<lock::Bases>, checks: &mut Checks) {
    let settings = &session.settings;
    if std::fs::File::open(&settings.build.params.dockerfile).is_err() {
        checks.skip(Check::Lock, "needs a readable Dockerfile (see context)");
        return;
    }
    let bases = match bases {
        Ok(bases) => bases,
        Err(e) => return checks.fail(Check::Lock, e, "run `imprint lock`"),
    };
    let path = lock::path(settings);
    let platform = &settings.build.params.platform;
    if !bases.unresolved.is_empty() {
        let missing = UsageError::new(
            format!(
                "{} has no entry for {} ({platform})",
                path.display(),
                bases.unresolved.join(", ")
            ),
            "run `imprint lock` and commit imprint.lock",
        );
        return checks.fail(Check::Lock, &missing.into(), "");
    }
    match bases.images.len() {
        0 => checks.ok(
            Check::Lock,
            "no base images to pin (FROM scratch or stages only)",
        ),
        n => checks.ok(
            Check::Lock,
            format!(
                "{} pins {n} base image{} for {platform}",
                path.display(),
                if n == 1 { "" } else { "s" }
            ),
        ),
    }
}

/// The context hashes, with the locked base digests as `imprint tag` hashes them.
fn check_context(session: &Session, bases: Option<lock::Bases>, checks: &mut Checks) {
    let mut build = session.settings.build.clone();
    if let Some(bases) = bases {
        build.params.base_images = bases.images;
    }
    match hash_tree(&build, &session.printer) {
        Ok(hashed) => {
            let mut detail = format!(
                "{} files, {} bytes, hash {}",
                hashed.files,
                hashed.bytes,
                &hashed.hex()[..12]
            );
            for w in &hashed.warnings {
                let _ = write!(detail, "; warning: {}", w.message);
            }
            checks.ok(Check::Context, detail);
        }
        Err(e) => checks.fail(Check::Context, &e, "fix the path or permission named above"),
    }
}
