//! `imprint doctor`: one line per thing a deploy needs, each with a hint when it fails. A check
//! that cannot run because an earlier one failed says so (`skip`) instead of failing twice.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::error::{ExitStatus, UsageError};
use crate::functions;
use crate::printer::Printer;
use crate::settings::Settings;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Fail,
    /// Not run: it needs what an earlier failed check provides.
    Skip,
}

/// One check.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
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
    checks: Vec<Check>,
}

/// Every check, in the order they run.
pub const CHECKS: [&str; 8] = [
    "builder",
    "region",
    "credentials",
    "registry",
    "repository",
    "functions",
    "lock",
    "context",
];
/// The checks that need the AWS configuration (and run the ones before them).
const AWS_CHECKS: [&str; 5] = [
    "region",
    "credentials",
    "registry",
    "repository",
    "functions",
];

struct Checks(Vec<Check>);

impl Checks {
    fn ok(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into(), None);
    }

    /// A failure from an error: its message, and its own hint or `fallback`.
    fn fail(&mut self, name: &'static str, error: &anyhow::Error, fallback: &str) {
        let hint = crate::error::hint(error).unwrap_or_else(|| fallback.to_string());
        self.push(name, Status::Fail, crate::error::message(error), Some(hint));
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.push(name, Status::Skip, why.to_string(), None);
    }

    fn push(&mut self, name: &'static str, status: Status, detail: String, hint: Option<String>) {
        self.0.push(Check {
            name,
            status,
            detail,
            hint,
        });
    }
}

/// Runs `imprint doctor`.
pub async fn run(
    global: &GlobalArgs,
    args: &DoctorArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let mut checks = Checks(Vec::new());

    let want = |name: &str| args.checks.is_empty() || args.checks.iter().any(|c| c == name);
    if want("builder") {
        let kind = settings.build.params.builder;
        match crate::builder::answers(kind) {
            Ok(version) => checks.ok("builder", format!("{kind} answers (version {version})")),
            Err(e) => checks.fail(
                "builder",
                &e.into(),
                "start the Docker engine (or set [image] builder / IMPRINT_DOCKER to a working one)",
            ),
        }
    }
    if AWS_CHECKS.iter().any(|n| want(n)) {
        // The region check is the one every AWS command makes (functions::aws_config).
        let sdk = match functions::aws_config().await {
            Ok(sdk) => {
                checks.ok(
                    "region",
                    sdk.region().map_or(String::new(), ToString::to_string),
                );
                Some(sdk)
            }
            Err(e) => {
                checks.fail("region", &e, "");
                None
            }
        };

        let credentials = match &sdk {
            Some(sdk) => match aws_sdk_sts::Client::new(sdk)
                .get_caller_identity()
                .send()
                .await
            {
                Ok(id) => {
                    checks.ok(
                        "credentials",
                        format!(
                            "{} (account {})",
                            id.arn().unwrap_or("unknown ARN"),
                            id.account().unwrap_or("unknown")
                        ),
                    );
                    true
                }
                Err(e) => {
                    checks.fail(
                        "credentials",
                        &anyhow::anyhow!("STS GetCallerIdentity failed: {}", short_sdk_error(&e)),
                        "set AWS_PROFILE (and `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    );
                    false
                }
            },
            None => {
                checks.skip("credentials", "needs a region");
                false
            }
        };

        let tags = check_registry(&settings, credentials, printer, &mut checks).await;
        check_repository(&settings, tags, credentials, printer, &mut checks).await;

        match sdk.as_ref().filter(|_| credentials) {
            None => checks.skip("functions", "needs AWS credentials"),
            Some(sdk) => {
                let client = crate::lambda::client(sdk);
                match check_functions(&client, &settings).await {
                    Ok(detail) => checks.ok("functions", detail),
                    Err(e) => checks.fail(
                        "functions",
                        &e,
                        "create them (Pulumi), or fix [deploy] functions / select",
                    ),
                }
            }
        }
    }
    if want("lock") || want("context") {
        // One offline, read-only pass over imprint.lock serves both checks: the lock check
        // reads what is missing from it, the context hash covers the locked base digests as
        // `imprint tag` does. Doctor writes nothing.
        let bases = crate::lock::prepare(
            &settings,
            printer,
            crate::lock::Mode {
                offline: true,
                locked: false,
                update: false,
                read_only: true,
            },
        )
        .await;
        if want("lock") {
            check_lock(&settings, &bases, &mut checks);
        }
        if want("context") {
            check_context(&settings, bases.ok(), printer, &mut checks);
        }
    }
    // Prerequisites run for what was asked; only what was asked is reported.
    checks.0.retain(|c| want(c.name));

    let report = DoctorReport {
        ok: checks.0.iter().all(|c| c.status != Status::Fail),
        checks: checks.0,
    };
    if printer.json {
        printer.json_value(&report)?;
    } else {
        for c in &report.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            printer.data(&format!("{mark}  {:<12} {}", c.name, c.detail))?;
            if let Some(hint) = &c.hint {
                printer.data(&format!("      {:<12} hint: {hint}", ""))?;
            }
        }
    }
    Ok(if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The SDK's error in one line: its full text carries every provider's debug dump.
fn short_sdk_error(e: &impl std::error::Error) -> String {
    let text = aws_sdk_sts::error::DisplayErrorContext(e).to_string();
    if text.contains("no credentials found") {
        return "no AWS credentials found (looked in the environment, profiles, web identity, ECS and instance metadata)".into();
    }
    let first = text.lines().next().unwrap_or_default();
    first.split(" (").next().unwrap_or(first).to_string()
}

/// The registry answers and takes our credentials (a tag listing needs them); the number of
/// tags listed, for the repository check.
async fn check_registry(
    settings: &Settings,
    credentials: bool,
    printer: &Printer,
    checks: &mut Checks,
) -> Option<usize> {
    let Some(configured) = &settings.registry else {
        checks.fail(
            "registry",
            &UsageError::new(
                "no image repository is configured",
                "set [registry] repository in imprint.toml, or pass --repository HOST/PATH",
            )
            .into(),
            "",
        );
        return None;
    };
    let ecr = crate::ecr::EcrHost::parse(&configured.repository.host).is_some();
    if ecr && !credentials {
        checks.skip(
            "registry",
            "an ECR registry: needs AWS credentials for its token",
        );
        return None;
    }
    let attempt = async {
        let registry = settings.registry_client(printer).await?;
        registry.ping().await?;
        let tags = registry.tags().await?;
        anyhow::Ok((registry, tags.len()))
    };
    match attempt.await {
        Ok((registry, tags)) => {
            checks.ok(
                "registry",
                format!("{} answers and accepts the credentials", registry.address()),
            );
            Some(tags)
        }
        Err(e) => {
            checks.fail(
                "registry",
                &e,
                "check [registry] endpoint and your network; `imprint login` for the docker CLI",
            );
            None
        }
    }
}

/// ECR repositories must exist before the first push; other registries make them on push.
async fn check_repository(
    settings: &Settings,
    tags: Option<usize>,
    credentials: bool,
    printer: &Printer,
    checks: &mut Checks,
) {
    let Some(configured) = &settings.registry else {
        checks.skip("repository", "needs a configured repository");
        return;
    };
    let repository = &configured.repository;
    if let Some(ecr) = crate::ecr::EcrHost::parse(&repository.host) {
        if !credentials {
            checks.skip("repository", "needs AWS credentials");
            return;
        }
        match crate::ecr::ensure_repository(&ecr, &repository.path, false, printer).await {
            Ok(()) => checks.ok("repository", format!("{repository} exists")),
            Err(e) => checks.fail(
                "repository",
                &e,
                "create it (the Pulumi program's bootstrap, or `imprint push --create-repo`)",
            ),
        }
        return;
    }
    match tags {
        Some(0) => checks.ok(
            "repository",
            format!("{repository} is empty; the first push creates it"),
        ),
        Some(tags) => checks.ok("repository", format!("{repository}: {tags} tags")),
        None => checks.skip("repository", "needs the registry"),
    }
}

async fn check_functions(
    client: &aws_sdk_lambda::Client,
    settings: &Settings,
) -> anyhow::Result<String> {
    let names = functions::select(client, settings, &[]).await?;
    let found = functions::describe_all(client, &names).await?;
    let zip: Vec<&str> = found
        .iter()
        .filter(|f| f.package_type.as_deref() != Some("Image"))
        .map(|f| f.name.as_str())
        .collect();
    if !zip.is_empty() {
        return Err(UsageError::new(
            format!("not image functions: {}", zip.join(", ")),
            "imprint deploys container-image functions; remove these from [deploy]",
        )
        .into());
    }
    Ok(format!(
        "{} image function{} exist: {}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        names.join(", ")
    ))
}

/// Every base image the Dockerfile names is pinned in imprint.lock for the platform.
fn check_lock(
    settings: &Settings,
    bases: &anyhow::Result<crate::lock::Bases>,
    checks: &mut Checks,
) {
    if std::fs::File::open(&settings.build.params.dockerfile).is_err() {
        checks.skip("lock", "needs a readable Dockerfile (see context)");
        return;
    }
    let bases = match bases {
        Ok(bases) => bases,
        Err(e) => return checks.fail("lock", e, "run `imprint lock`"),
    };
    let path = crate::lock::path(settings);
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
        return checks.fail("lock", &missing.into(), "");
    }
    match bases.images.len() {
        0 => checks.ok(
            "lock",
            "no base images to pin (FROM scratch or stages only)",
        ),
        n => checks.ok(
            "lock",
            format!(
                "{} pins {n} base image{} for {platform}",
                path.display(),
                if n == 1 { "" } else { "s" }
            ),
        ),
    }
}

/// The context hashes, with the locked base digests as `imprint tag` hashes them.
fn check_context(
    settings: &Settings,
    bases: Option<crate::lock::Bases>,
    printer: &Printer,
    checks: &mut Checks,
) {
    let mut build = settings.build.clone();
    if let Some(bases) = bases {
        build.params.base_images = bases.images;
    }
    match crate::commands::tag::compute(&build, printer) {
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
            checks.ok("context", detail);
        }
        Err(e) => checks.fail("context", &e, "fix the path or permission named above"),
    }
}
