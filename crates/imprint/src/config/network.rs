//! How long imprint waits on the network: to connect, for the next bytes of an answer, and for
//! one whole call (registry request or AWS operation, its retries included).

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::timeouts::Timeouts;

/// `[network]` in imprint.toml: durations such as `"10s"` or `"2m"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// How long a connection may take to open.
    pub connect_timeout: Option<String>,
    /// How long an answer may pause between bytes.
    pub read_timeout: Option<String>,
    /// How long one registry request or AWS operation may take in all.
    pub call_timeout: Option<String>,
}

impl NetworkSection {
    /// `overlay`'s keys win.
    pub fn merge(self, overlay: Self) -> Self {
        Self {
            connect_timeout: overlay.connect_timeout.or(self.connect_timeout),
            read_timeout: overlay.read_timeout.or(self.read_timeout),
            call_timeout: overlay.call_timeout.or(self.call_timeout),
        }
    }
}

/// The network flags, shared by every command.
#[derive(Debug, Args, Clone, Default)]
pub struct NetworkArgs {
    /// How long a connection may take to open [config: network.connect_timeout; default 10s].
    #[arg(long, global = true, env = "IMPRINT_CONNECT_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_timeout: Option<Duration>,
    /// How long an answer may pause between bytes [config: network.read_timeout; default 30s].
    #[arg(long, global = true, env = "IMPRINT_READ_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub read_timeout: Option<Duration>,
    /// How long one registry or AWS call may take, retries included [config:
    /// network.call_timeout; default 60s].
    #[arg(long, global = true, env = "IMPRINT_CALL_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub call_timeout: Option<Duration>,
}

impl NetworkSection {
    /// Flags over this `[network]` over the defaults; `Err` names the bad key.
    pub fn timeouts(&self, args: &NetworkArgs) -> Result<Timeouts, String> {
        let (section, defaults) = (self, Timeouts::default());
        let pick = |flag: Option<Duration>, key: &str, text: &Option<String>, default| match (
            flag, text,
        ) {
            (Some(d), _) => Ok(d),
            (None, Some(text)) => {
                parse_duration(text).map_err(|why| format!("[network] {key} = \"{text}\": {why}"))
            }
            (None, None) => Ok(default),
        };
        Ok(Timeouts {
            connect: pick(
                args.connect_timeout,
                "connect_timeout",
                &section.connect_timeout,
                defaults.connect,
            )?,
            read: pick(
                args.read_timeout,
                "read_timeout",
                &section.read_timeout,
                defaults.read,
            )?,
            call: pick(
                args.call_timeout,
                "call_timeout",
                &section.call_timeout,
                defaults.call,
            )?,
        })
    }
}

/// The longest duration taken: 48 hours, CodeDeploy's longest canary or linear interval
/// (a timeout or bake longer than that is a typo).
const LONGEST: u64 = 48 * 3600;

/// `90`, `90s`, `10m`, `1h` → a duration of at most 48 hours.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    match number
        .parse::<u64>()
        .ok()
        .map(|n| (n, n.checked_mul(scale)))
    {
        Some((n, Some(secs))) if scale > 0 && n > 0 && secs <= LONGEST => {
            Ok(Duration::from_secs(secs))
        }
        Some((n, _)) if scale > 0 && n > 0 => Err(format!("{t} is longer than 48h")),
        _ => Err("give seconds, or a number with s, m or h (e.g. 90s, 10m)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("48h").unwrap(),
            Duration::from_secs(48 * 3600)
        );
        for bad in [
            "",
            "0",
            "5d",
            "m",
            "-1s",
            "1.5m",
            "49h",
            "99999999999h",
            "18446744073709551615h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_win_over_the_file_over_the_defaults() {
        let section = NetworkSection {
            connect_timeout: Some("3s".into()),
            read_timeout: None,
            call_timeout: Some("2m".into()),
        };
        let args = NetworkArgs {
            call_timeout: Some(Duration::from_secs(5)),
            ..NetworkArgs::default()
        };
        let n = section.timeouts(&args).unwrap();
        assert_eq!(n.connect, Duration::from_secs(3));
        assert_eq!(n.read, Timeouts::default().read);
        assert_eq!(n.call, Duration::from_secs(5));
        let bad = NetworkSection {
            read_timeout: Some("soon".into()),
            ..NetworkSection::default()
        };
        let err = bad.timeouts(&NetworkArgs::default()).unwrap_err();
        assert!(err.contains("[network] read_timeout = \"soon\""), "{err}");
    }
}
