//! `[gc]` in imprint.toml: what `imprint gc` keeps, under its flags.

use serde::Deserialize;

/// Deployments whose images `gc` keeps, by default (the rollback targets).
pub const DEFAULT_KEEP_DEPLOYMENTS: usize = 10;
/// Days within which a pushed image is kept, by default.
pub const DEFAULT_KEEP_DAYS: u32 = 14;

/// `[gc]`: each key may be overridden by its flag.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcSection {
    /// Keep the images of the newest N successful deployments.
    pub keep_deployments: Option<usize>,
    /// Keep anything pushed within the last N days.
    pub keep_days: Option<u32>,
    /// Also delete images imprint did not push (no index artifact).
    pub include_foreign: Option<bool>,
    /// Also delete Lambda versions no alias uses and no kept deployment needs.
    pub versions: Option<bool>,
    /// Delete journal records older than N days (never those of kept deployments).
    pub journal_older_than: Option<u32>,
}

impl GcSection {
    /// `overlay`'s keys win.
    pub fn merge(self, overlay: Self) -> Self {
        Self {
            keep_deployments: overlay.keep_deployments.or(self.keep_deployments),
            keep_days: overlay.keep_days.or(self.keep_days),
            include_foreign: overlay.include_foreign.or(self.include_foreign),
            versions: overlay.versions.or(self.versions),
            journal_older_than: overlay.journal_older_than.or(self.journal_older_than),
        }
    }
}

/// What one gc run keeps and deletes: `[gc]` under the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPolicy {
    /// Keep the images of the newest N successful deployments.
    pub keep_deployments: usize,
    /// Keep anything pushed within the last N days.
    pub keep_days: u32,
    /// Also delete images imprint did not push.
    pub include_foreign: bool,
    /// Also delete unused Lambda versions.
    pub versions: bool,
    /// Delete journal records older than N days.
    pub journal_older_than: Option<u32>,
}

impl GcPolicy {
    /// The file's `[gc]` with each flag that is set winning.
    pub fn resolve(file: &GcSection, flags: &GcSection) -> Self {
        let merged = file.clone().merge(flags.clone());
        Self {
            keep_deployments: merged.keep_deployments.unwrap_or(DEFAULT_KEEP_DEPLOYMENTS),
            keep_days: merged.keep_days.unwrap_or(DEFAULT_KEEP_DAYS),
            include_foreign: merged.include_foreign.unwrap_or(false),
            versions: merged.versions.unwrap_or(false),
            journal_older_than: merged.journal_older_than,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file = GcSection {
            keep_deployments: Some(3),
            keep_days: Some(30),
            ..GcSection::default()
        };
        let flags = GcSection {
            keep_days: Some(0),
            versions: Some(true),
            ..GcSection::default()
        };
        assert_eq!(
            GcPolicy::resolve(&file, &flags),
            GcPolicy {
                keep_deployments: 3,
                keep_days: 0,
                include_foreign: false,
                versions: true,
                journal_older_than: None,
            }
        );
        assert_eq!(
            GcPolicy::resolve(&GcSection::default(), &GcSection::default()).keep_deployments,
            DEFAULT_KEEP_DEPLOYMENTS
        );
    }
}
