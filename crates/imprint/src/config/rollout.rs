//! A rollout's settings (`deploy`, `rollback`): the flags over `[deploy]`'s traffic settings,
//! with the smoke tests' event files read, resolved once before anything moves.

use std::time::Duration;

use super::file::Config;
use super::smoke::{load as load_smoke, Smoke};
use super::strategy::Strategy;
use super::traffic::Traffic;
use crate::error::UsageError;

/// The rollout's flags as given (clap fills these in `cli.rs`).
#[derive(Debug, Clone)]
pub struct RolloutFlags {
    /// `--concurrency`.
    pub concurrency: Option<u16>,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--yes`.
    pub yes: bool,
    /// `--no-revert` (or `--no-rollback`).
    pub no_revert: bool,
    /// `--recover`.
    pub recover: bool,
    /// `--force-unlock`.
    pub force_unlock: bool,
    /// `--alias`.
    pub alias: Option<String>,
    /// `--strategy`.
    pub strategy: Option<Strategy>,
    /// `--ignore-alarms`.
    pub ignore_alarms: bool,
    /// `--skip-smoke`.
    pub skip_smoke: bool,
}

/// How the functions are moved.
#[derive(Debug, Clone)]
pub struct RolloutSettings {
    /// Functions updated at once (no limit but the pacing: `usize::MAX`).
    pub concurrency: usize,
    /// How long each function's update may take.
    pub timeout: Duration,
    /// Do not ask.
    pub yes: bool,
    /// After a failure, leave the functions already moved on the new image (no revert).
    pub no_revert: bool,
    /// Close an unfinished deployment begun elsewhere that may look like it is running.
    pub recover: bool,
    /// End another run's deploy lease first.
    pub force_unlock: bool,
    /// Through an alias or not, the strategy, the alarms.
    pub traffic: Traffic,
    /// Deploy even when a watched alarm already fires.
    pub ignore_alarms: bool,
    /// Smoke tests run on the new versions before any traffic moves.
    pub smoke: Vec<Smoke>,
    /// Move traffic without the smoke tests.
    pub skip_smoke: bool,
}

impl RolloutSettings {
    /// `flags` over `config`'s `[deploy]` (alias, strategy, alarms, smoke tests).
    pub fn resolve(config: &Config, flags: &RolloutFlags) -> Result<Self, UsageError> {
        let deploy = &config.sections.deploy;
        let bad =
            |why: String| UsageError::new(why, "see README, Safe deployments; nothing was changed");
        let traffic =
            Traffic::resolve(deploy, flags.alias.as_deref(), flags.strategy).map_err(bad)?;
        let smoke = match &deploy.smoke {
            Some(section) => {
                let dir = config.dir().unwrap_or(std::path::Path::new("."));
                load_smoke(section, dir).map_err(bad)?
            }
            None => Vec::new(),
        };
        if !smoke.is_empty() && traffic.alias.is_none() {
            return Err(bad("[deploy.smoke] runs on the new versions before any traffic moves, which needs an alias: set [deploy] alias (or pass --alias)".into()));
        }
        Ok(Self {
            concurrency: flags.concurrency.map_or(usize::MAX, usize::from),
            timeout: flags.timeout,
            yes: flags.yes,
            no_revert: flags.no_revert,
            recover: flags.recover,
            force_unlock: flags.force_unlock,
            traffic,
            ignore_alarms: flags.ignore_alarms,
            smoke,
            skip_smoke: flags.skip_smoke,
        })
    }

    /// For a rollback: traffic returns at once unless a strategy was given.
    pub fn for_rollback(mut self, strategy: Option<Strategy>) -> Self {
        self.traffic = self.traffic.for_rollback(strategy);
        self
    }
}
