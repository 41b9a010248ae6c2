//! How a deploy moves traffic: `[deploy] alias, strategy, alarms, final_bake, warn_aliases`
//! under the flags, checked to fit together.

use std::time::Duration;

use super::file::{AlarmsSpec, DeploySection};
use super::network::parse_duration;
use super::smoke::glob_match;
use super::strategy::Strategy;

/// How a deploy moves traffic: `[deploy] alias, strategy, alarms, final_bake` with the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// The alias moved to each new version (none: `$LATEST` is updated in place).
    pub alias: Option<String>,
    /// How.
    pub strategy: Strategy,
    /// CloudWatch alarms watched while traffic shifts, each with the function name or glob
    /// it belongs to (`*` for the whole group).
    pub alarms: Vec<(String, String)>,
    /// How long the alarms are watched once all traffic is on the new versions.
    pub final_bake: Duration,
    /// Without an alias: warn about aliases on published versions (`[deploy] warn_aliases`).
    pub warn_aliases: bool,
}

/// What an empty `[deploy]` resolves to: all at once, no alias, no alarms, the warning about
/// aliases on published versions.
impl Default for Traffic {
    fn default() -> Self {
        Self {
            alias: None,
            strategy: Strategy::default(),
            alarms: Vec::new(),
            final_bake: Duration::ZERO,
            warn_aliases: true,
        }
    }
}

impl Traffic {
    /// `[deploy]` under the flags; `Err` says what does not fit together.
    pub fn resolve(
        section: &DeploySection,
        alias: Option<&str>,
        strategy: Option<Strategy>,
    ) -> Result<Self, String> {
        let alias = alias.or(section.alias.as_deref()).map(str::to_string);
        let strategy = strategy.or(section.strategy).unwrap_or_default();
        let alarms = section
            .alarms
            .as_ref()
            .map(AlarmsSpec::pairs)
            .unwrap_or_default();
        if let Some(alias) = &alias {
            check_alias(alias)?;
        } else if strategy.needs_alias() {
            return Err(format!(
                "strategy {strategy} moves traffic through an alias, and none is set: set [deploy] alias (or pass --alias)"
            ));
        } else if !alarms.is_empty() {
            return Err(
                "[deploy] alarms are watched while an alias's traffic shifts, and no alias is set: set [deploy] alias (or pass --alias)".into(),
            );
        }
        if let Some((_, name)) = alarms.iter().find(|(_, a)| a.is_empty() || a.len() > 255) {
            return Err(format!(
                "[deploy] alarms: \"{name}\" is not a CloudWatch alarm name (1 to 255 characters)"
            ));
        }
        let final_bake = match &section.final_bake {
            Some(text) => parse_duration(text)
                .map_err(|why| format!("[deploy] final_bake = \"{text}\": {why}"))?,
            None if alarms.is_empty() => Duration::ZERO,
            None => strategy.bake(),
        };
        Ok(Self {
            alias,
            strategy,
            alarms,
            final_bake,
            warn_aliases: section.warn_aliases.unwrap_or(true),
        })
    }

    /// The alarms to watch when `functions` are deployed: the group's, and those of any
    /// function named; each once.
    pub fn alarms_for(&self, functions: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (glob, alarm) in &self.alarms {
            let named = functions
                .iter()
                .any(|f| glob_match(glob.as_bytes(), f.as_bytes()));
            if named && !out.contains(alarm) {
                out.push(alarm.clone());
            }
        }
        out
    }

    /// Every alarm configured, each once.
    fn alarm_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (_, alarm) in &self.alarms {
            if !out.contains(&alarm.as_str()) {
                out.push(alarm);
            }
        }
        out
    }

    /// What a deploy with these settings does to the traffic, in a sentence (`preview`).
    pub fn describe(&self, smoke_tests: usize) -> String {
        let Some(alias) = &self.alias else {
            return "all at once: each function's $LATEST is updated (no alias)".into();
        };
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let mut text = format!("through the alias {alias}: a version published per function");
        if smoke_tests > 0 {
            text += &format!(", {smoke_tests} smoke test(s) on the new versions");
        }
        for percent in self.strategy.steps() {
            text += &format!(", {percent}% for {}", secs(self.strategy.bake()));
        }
        text += ", then 100%";
        if !self.alarms.is_empty() {
            let after = if self.final_bake.is_zero() {
                "read once more after the flip".to_string()
            } else {
                format!("then {} more", secs(self.final_bake))
            };
            text += &format!(
                "; alarms watched: {} ({after})",
                self.alarm_names().join(", ")
            );
        }
        text
    }

    /// A rollback goes back at once (unless a strategy is asked for by flag) and watches no
    /// alarms: the alarms may well fire because of what it rolls back.
    pub fn for_rollback(self, strategy: Option<Strategy>) -> Self {
        Self {
            strategy: strategy.unwrap_or_default(),
            alarms: Vec::new(),
            final_bake: Duration::ZERO,
            ..self
        }
    }
}

/// Lambda's alias names: 1 to 128 letters, digits, `-` and `_`, not only digits.
fn check_alias(alias: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&alias.len())
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !alias.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "alias \"{alias}\" is not a Lambda alias name (1 to 128 letters, digits, - and _, not only digits)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Strategy {
        text.parse().unwrap()
    }

    #[test]
    fn traffic_needs_an_alias_for_anything_but_all_at_once() {
        let mut section = DeploySection::default();
        assert_eq!(
            Traffic::resolve(&section, None, None).unwrap(),
            Traffic::default()
        );
        let canary = Some(parse("canary:10%:2s"));
        let err = Traffic::resolve(&section, None, canary).unwrap_err();
        assert!(err.contains("set [deploy] alias"), "{err}");
        section.alarms = Some(AlarmsSpec::Group(vec!["errors".into()]));
        assert!(Traffic::resolve(&section, None, None)
            .unwrap_err()
            .contains("alarms"));
        let t = Traffic::resolve(&section, Some("live"), canary).unwrap();
        assert_eq!(t.alias.as_deref(), Some("live"));
        assert_eq!(
            t.final_bake,
            Duration::from_secs(2),
            "alarms bake as long as a step"
        );
        for bad in ["", "123", "has space", "$LATEST"] {
            assert!(
                Traffic::resolve(&section, Some(bad), None).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            t.describe(2),
            "through the alias live: a version published per function, 2 smoke test(s) on the new versions, 10% for 2s, then 100%; alarms watched: errors (then 2s more)"
        );
        assert!(Traffic::default().describe(0).contains("no alias"));
        section.final_bake = Some("soon".into());
        assert!(Traffic::resolve(&section, Some("live"), None)
            .unwrap_err()
            .contains("final_bake"));
    }

    #[test]
    fn alarms_belong_to_the_group_or_to_functions() {
        let section: DeploySection = toml::from_str(
            "alias = \"live\"\n[alarms]\n\"*\" = [\"group-errors\"]\n\"debt-*\" = [\"debt-errors\", \"group-errors\"]\n\"auth\" = [\"auth-denials\"]\n",
        )
        .unwrap();
        let t = Traffic::resolve(&section, None, None).unwrap();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            t.alarms_for(&names(&["debt-create"])),
            ["group-errors", "debt-errors"]
        );
        assert_eq!(
            t.alarms_for(&names(&["auth"])),
            ["group-errors", "auth-denials"]
        );
        assert!(t
            .describe(0)
            .contains("group-errors, auth-denials, debt-errors"));
        let list: DeploySection =
            toml::from_str("alias = \"live\"\nalarms = [\"errors\"]\n").unwrap();
        let t = Traffic::resolve(&list, None, None).unwrap();
        assert_eq!(t.alarms_for(&names(&["anything"])), ["errors"]);
    }
}
