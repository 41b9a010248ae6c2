//! How a deploy shifts traffic: `all-at-once`, `blue-green`, `canary:PERCENT:BAKE`,
//! `linear:PERCENT:INTERVAL`, or one of SAM's preset names for the same.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::network::parse_duration;

/// How the functions' traffic moves to the new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Every function at once: `$LATEST` updated, or (with an alias) every alias flipped.
    #[default]
    AllAtOnce,
    /// Through an alias: new versions published and smoke-tested, then every alias flips.
    BlueGreen,
    /// `percent` of the traffic on the new versions for `bake`, then all of it.
    Canary {
        /// The share on the new versions while baking, 1..=99.
        percent: u8,
        /// How long that share bakes.
        bake: Duration,
    },
    /// `percent` more of the traffic every `interval` until all of it.
    Linear {
        /// The share added at each step, 1..=99.
        percent: u8,
        /// How long each step bakes.
        interval: Duration,
    },
}

impl Strategy {
    /// Whether it moves traffic through an alias (everything but all-at-once does).
    pub fn needs_alias(self) -> bool {
        self != Self::AllAtOnce
    }

    /// The shares of traffic (in percent) the new versions get before they get all of it,
    /// each baked for [`Strategy::bake`].
    pub fn steps(self) -> Vec<u8> {
        match self {
            Self::AllAtOnce | Self::BlueGreen => Vec::new(),
            Self::Canary { percent, .. } => vec![percent],
            Self::Linear { percent, .. } => (1..)
                .map(|i| u32::from(percent) * i)
                .take_while(|share| *share < 100)
                .map(|share| share as u8)
                .collect(),
        }
    }

    /// How long each step of [`Strategy::steps`] bakes.
    pub fn bake(self) -> Duration {
        match self {
            Self::AllAtOnce | Self::BlueGreen => Duration::ZERO,
            Self::Canary { bake, .. } => bake,
            Self::Linear { interval, .. } => interval,
        }
    }

    /// The whole time the steps bake.
    pub fn total_bake(self) -> Duration {
        self.bake() * self.steps().len() as u32
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllAtOnce => f.write_str("all-at-once"),
            Self::BlueGreen => f.write_str("blue-green"),
            Self::Canary { percent, bake } => write!(f, "canary:{percent}%:{}", short(*bake)),
            Self::Linear { percent, interval } => {
                write!(f, "linear:{percent}%:{}", short(*interval))
            }
        }
    }
}

/// `90s` → `90s`, `300s` → `5m`, `3600s` → `1h`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

const FORMS: &str = "all-at-once, blue-green, canary:PERCENT:BAKE (canary:10%:5m), linear:PERCENT:INTERVAL (linear:10%:1m), or SAM's names (AllAtOnce, Canary10Percent5Minutes, Linear10PercentEvery1Minute, …)";

impl FromStr for Strategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("strategy \"{text}\": {why}; the forms are {FORMS}");
        match text {
            "all-at-once" | "AllAtOnce" => return Ok(Self::AllAtOnce),
            "blue-green" | "BlueGreen" => return Ok(Self::BlueGreen),
            _ => {}
        }
        if let Some((percent, minutes)) = sam_preset(text) {
            return Ok(if text.starts_with("Canary") {
                Self::Canary {
                    percent: check_percent(percent).map_err(|w| bad(&w))?,
                    bake: Duration::from_secs(minutes * 60),
                }
            } else {
                Self::Linear {
                    percent: check_percent(percent).map_err(|w| bad(&w))?,
                    interval: Duration::from_secs(minutes * 60),
                }
            });
        }
        let mut parts = text.split(':');
        let (Some(kind), Some(percent), Some(time), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("unknown strategy"));
        };
        let percent = percent
            .strip_suffix('%')
            .unwrap_or(percent)
            .parse::<u64>()
            .map_err(|_| bad(&format!("\"{percent}\" is not a percentage")))
            .and_then(|p| check_percent(p).map_err(|w| bad(&w)))?;
        // A bake of 0 is allowed here (shift in steps without waiting), unlike timeouts.
        let time = match time {
            "0" | "0s" | "0m" | "0h" => Duration::ZERO,
            time => parse_duration(time).map_err(|w| bad(&w))?,
        };
        match kind {
            "canary" => Ok(Self::Canary {
                percent,
                bake: time,
            }),
            "linear" => Ok(Self::Linear {
                percent,
                interval: time,
            }),
            _ => Err(bad(&format!("unknown kind \"{kind}\""))),
        }
    }
}

fn check_percent(p: u64) -> Result<u8, String> {
    match u8::try_from(p) {
        Ok(p @ 1..=99) => Ok(p),
        _ => Err(format!("{p}% is outside 1..=99")),
    }
}

/// `Canary10Percent5Minutes` / `Linear10PercentEvery1Minute` → (10, 5) / (10, 1).
fn sam_preset(text: &str) -> Option<(u64, u64)> {
    let rest = text
        .strip_prefix("Canary")
        .or_else(|| text.strip_prefix("Linear"))?;
    let (percent, rest) = rest.split_once("Percent")?;
    let rest = if text.starts_with("Linear") {
        rest.strip_prefix("Every")?
    } else {
        rest
    };
    let minutes = rest
        .strip_suffix("Minutes")
        .or_else(|| rest.strip_suffix("Minute"))?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(percent) || !digits(minutes) {
        return None;
    }
    Some((percent.parse().ok()?, minutes.parse().ok()?))
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Strategy {
        text.parse().unwrap()
    }

    #[test]
    fn forms_and_sam_names() {
        let canary = Strategy::Canary {
            percent: 10,
            bake: Duration::from_secs(300),
        };
        assert_eq!(parse("canary:10%:5m"), canary);
        assert_eq!(parse("canary:10:300s"), canary);
        assert_eq!(parse("Canary10Percent5Minutes"), canary);
        let linear = Strategy::Linear {
            percent: 10,
            interval: Duration::from_secs(60),
        };
        assert_eq!(parse("linear:10%:1m"), linear);
        assert_eq!(parse("Linear10PercentEvery1Minute"), linear);
        assert_eq!(parse("AllAtOnce"), Strategy::AllAtOnce);
        assert_eq!(parse("canary:10%:0").bake(), Duration::ZERO);
        assert_eq!(parse("blue-green"), Strategy::BlueGreen);
        assert_eq!(canary.to_string(), "canary:10%:5m");
        assert_eq!(
            parse("canary:25%:2s").to_string(),
            "canary:25%:2s",
            "round trip"
        );
    }

    #[test]
    fn bad_strategies_say_the_forms() {
        for bad in [
            "canary",
            "canary:0%:5m",
            "canary:100%:5m",
            "linear:10%:soon",
            "rolling:10%:1m",
            "Canary10PercentMinutes",
            "canary:10%:5m:extra",
        ] {
            let err = bad.parse::<Strategy>().unwrap_err();
            assert!(err.contains(bad) && err.contains("canary:10%:5m"), "{err}");
        }
    }

    #[test]
    fn steps_of_each_strategy() {
        assert!(Strategy::AllAtOnce.steps().is_empty());
        assert_eq!(parse("canary:10%:2s").steps(), vec![10]);
        assert_eq!(
            parse("linear:25%:1s").steps(),
            vec![25, 50, 75],
            "100 is the final flip, not a step"
        );
        assert_eq!(parse("linear:30%:1s").steps(), vec![30, 60, 90]);
        assert_eq!(
            parse("linear:10%:1m").total_bake(),
            Duration::from_secs(540)
        );
        assert!(!Strategy::AllAtOnce.needs_alias());
        assert!(Strategy::BlueGreen.needs_alias());
    }
}
