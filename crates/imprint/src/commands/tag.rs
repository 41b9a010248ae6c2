//! `imprint tag`: the tag for the current content.

use std::fmt::{self, Write as _};

use anyhow::Context as _;
use imprint_context::{ContextHash, InputKind, FORMAT_VERSION};
use serde::Serialize;

use crate::cli::TagArgs;
use crate::config::BuildSettings;
use crate::error::ExitStatus;
use crate::image::{tag_content, TagQuery, TagSource};
use crate::printer::{Printer, Verbosity};
use crate::session::Session;

/// `tag --json`.
#[derive(Debug, Serialize)]
struct TagReport<'a> {
    tag: String,
    hash: String,
    pushed: Option<bool>,
    digest: Option<&'a str>,
    image_uri: Option<String>,
    format: u32,
    template: &'a str,
    offline: bool,
    builder: &'a str,
    platform: &'a str,
    target: Option<&'a str>,
    dockerfile: &'a str,
    ignore_file: Option<&'a str>,
    build_args: Vec<&'a str>,
    /// The locked base images, or `"unresolved"` when offline without a lock entry.
    base_images: serde_json::Value,
    files: u64,
    bytes: u64,
    inputs: &'a [imprint_context::Input],
    excluded: &'a [imprint_context::Excluded],
    warnings: &'a [imprint_context::Warning],
    /// `--explain`: the text shown instead of the tag.
    #[serde(skip)]
    explanation: Option<String>,
}

impl fmt::Display for TagReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.explanation.as_deref().unwrap_or(&self.tag))
    }
}

/// Runs `imprint tag`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &TagArgs,
) -> anyhow::Result<ExitStatus> {
    let settings = &session.settings;
    let build = &settings.build;
    if !args.offline && settings.registry.is_none() {
        printer.note("no [registry] repository is configured, so the tag is computed from the local tree alone");
    }
    let offline = args.offline || settings.registry.is_none();
    let query = TagQuery {
        offline,
        rebuild: args.rebuild,
        ..TagQuery::default()
    };
    let tagged = tag_content(session, query)
        .await
        .context("failed to work out the tag")?;
    let hashed = &tagged.hashed;
    let digest = match &tagged.source {
        TagSource::Pushed(p) => Some(p.digest.as_str()),
        _ => None,
    };
    let explanation = args.explain.then(|| {
        explain(
            build,
            &tagged.bases.images,
            hashed,
            &tagged.tag,
            printer.verbosity >= Verbosity::Verbose,
        )
    });
    printer.report(&TagReport {
        pushed: (!offline).then_some(digest.is_some()),
        digest,
        image_uri: settings
            .registry
            .as_ref()
            .map(|r| r.repository.uri(&tagged.tag)),
        tag: tagged.tag.clone(),
        hash: tagged.hash(),
        format: FORMAT_VERSION,
        template: build.template.as_str(),
        offline,
        builder: build.params.builder.as_str(),
        platform: &build.params.platform,
        target: build.params.target.as_deref(),
        dockerfile: &hashed.dockerfile,
        ignore_file: hashed.ignore_file.as_deref(),
        // Names only: values may be secrets.
        build_args: build.params.build_args.keys().map(String::as_str).collect(),
        base_images: if tagged.bases.unresolved.is_empty() {
            serde_json::to_value(&tagged.bases.images)?
        } else {
            serde_json::Value::from("unresolved")
        },
        files: hashed.files,
        bytes: hashed.bytes,
        inputs: &hashed.inputs,
        excluded: &hashed.excluded,
        warnings: &hashed.warnings,
        explanation,
    })?;
    Ok(ExitStatus::Success)
}

/// Every input with its kind, mode, size and hash, then the build parameters and the tag.
fn explain(
    build: &BuildSettings,
    bases: &[imprint_context::BaseImage],
    hashed: &ContextHash,
    tag: &str,
    excluded: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<4} {:>12}  {:<16}  path",
        "kind", "mode", "size", "blake3"
    );
    for input in &hashed.inputs {
        let (kind, size, hash, suffix) = match input.kind {
            InputKind::File => (
                "file",
                input.size.to_string(),
                input.hash_hex().unwrap_or_default()[..16].to_string(),
                String::new(),
            ),
            InputKind::Dir => ("dir", "-".into(), "-".into(), "/".into()),
            InputKind::Symlink => (
                "symlink",
                "-".into(),
                "-".into(),
                format!(" -> {}", imprint_context::escape_bytes(&input.target)),
            ),
        };
        let _ = writeln!(
            out,
            "{kind:<7} {:<4} {size:>12}  {hash:<16}  {}{suffix}",
            input.mode_letters(),
            input.display_path()
        );
    }
    if excluded {
        for ex in &hashed.excluded {
            let _ = writeln!(
                out,
                "{:<7} {:<4} {:>12}  {:<16}  {}  (line {}: {})",
                "exclude",
                "",
                "",
                "",
                imprint_context::escape_bytes(&ex.path),
                ex.line,
                ex.pattern
            );
        }
    }
    out.push('\n');
    out.push_str(&settings_lines(build, bases, hashed, tag));
    out
}

/// The build parameters, the hash and the tag, one per line.
fn settings_lines(
    build: &BuildSettings,
    bases: &[imprint_context::BaseImage],
    hashed: &ContextHash,
    tag: &str,
) -> String {
    let mut out = String::new();
    let p = &build.params;
    let _ = writeln!(out, "format       imprint-context-v{FORMAT_VERSION}");
    let _ = writeln!(
        out,
        "builder      {} (requested: {})",
        p.builder, build.builder_choice
    );
    let _ = writeln!(out, "dockerfile   {}", hashed.dockerfile);
    let _ = writeln!(
        out,
        "ignore file  {}",
        hashed.ignore_file.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(out, "platform     {}", p.platform);
    let _ = writeln!(
        out,
        "target       {}",
        p.target.as_deref().unwrap_or("(last stage)")
    );
    for base in bases {
        let _ = writeln!(out, "base image   {} @ {}", base.reference, base.digest);
    }
    let args: Vec<&str> = p.build_args.keys().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "build args   {}",
        if args.is_empty() {
            "(none)".into()
        } else {
            args.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "inputs       {} entries, {} files, {} bytes",
        hashed.inputs.len(),
        hashed.files,
        hashed.bytes
    );
    let _ = writeln!(out, "hash         {}", hashed.hex());
    let _ = write!(out, "tag          {tag}");
    out
}
