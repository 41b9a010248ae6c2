//! The checks of this machine: the builder answers, room on disk, imprint.lock pins every
//! base image, the context hashes.

use std::fmt::Write as _;

use super::{Checks, Status};
use crate::cli::Check;
use crate::error::UsageError;
use crate::image::{build, hash_tree, lock};
use crate::session::Session;
use crate::state;

/// The builder's engine answers (not just its CLI).
pub(super) fn check_builder(session: &Session, checks: &mut Checks) {
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
pub(super) fn check_disk(session: &Session, checks: &mut Checks) {
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

/// Every base image the Dockerfile names is pinned in imprint.lock for the platform.
pub(super) fn check_lock(
    session: &Session,
    bases: &anyhow::Result<lock::Bases>,
    checks: &mut Checks,
) {
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
pub(super) fn check_context(session: &Session, bases: Option<lock::Bases>, checks: &mut Checks) {
    let mut build = session.settings.build.clone();
    if let Some(bases) = bases {
        build.params.base_images = bases.images;
    }
    match hash_tree(&build, session.reporter()) {
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
