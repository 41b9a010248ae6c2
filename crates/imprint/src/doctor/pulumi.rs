//! The check of the Pulumi stack: its image functions are imprint.toml's.

use std::collections::BTreeSet;

use super::{Checks, Status};
use crate::cli::Check;
use crate::lambda;
use crate::session::Session;

/// The image functions the Pulumi stack holds are imprint.toml's (`pulumi stack export`),
/// when a Pulumi program is there; `selected`: what the functions check selected, if it ran.
pub(super) async fn check_pulumi(
    session: &Session,
    selected: Option<Vec<String>>,
    checks: &mut Checks,
) {
    let settings = &session.settings;
    let Some(dir) = lambda::stack::program_dir(settings) else {
        return checks.skip(
            Check::Pulumi,
            "no Pulumi program ([deploy] pulumi_dir, or a Pulumi.yaml in infrastructure/ or beside imprint.toml)",
        );
    };
    let deploy = settings.deploy();
    let stack = deploy.pulumi_stack.as_deref();
    let stacked = match lambda::stack::stack_functions(&dir, stack).await {
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
        Ok(Some(functions)) => functions.into_keys().collect::<BTreeSet<String>>(),
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
pub(super) async fn select_functions(session: &Session) -> anyhow::Result<Vec<String>> {
    let deploy = session.settings.deploy();
    if let Some(names) = &deploy.functions {
        return Ok(names.clone());
    }
    lambda::select(session.lambda().await?, deploy, &[]).await
}
