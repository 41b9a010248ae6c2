//! Tag templates (`{timestamp}-{hash:8}`) and UTC timestamps.

use crate::error::ContextError;

/// The document's format: `YYYYMMDD-HHMMSS-` and 8 hex characters of the content hash.
pub const DEFAULT_TEMPLATE: &str = "{timestamp}-{hash:8}";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Timestamp,
    Hash(usize),
}

/// A parsed tag template; `{hash:N}` is required, `{timestamp}` optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTemplate {
    text: String,
    parts: Vec<Part>,
}

impl TagTemplate {
    /// Parses and checks a template: every result it can render is a valid OCI tag.
    pub fn parse(text: &str) -> Result<Self, ContextError> {
        let bad = |reason: String| ContextError::BadTemplate {
            template: text.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| bad("a `{` is never closed".into()))?;
                let name = &after[..end];
                parts.push(match name {
                    "timestamp" => Part::Timestamp,
                    "hash" => Part::Hash(8),
                    _ => match name.strip_prefix("hash:") {
                        Some(n) => match n.parse::<usize>() {
                            Ok(n) if (4..=64).contains(&n) => Part::Hash(n),
                            _ => {
                                return Err(bad(format!(
                                    "`{{{name}}}`: the hash length must be a number from 4 to 64"
                                )))
                            }
                        },
                        None => return Err(bad(format!("unknown placeholder `{{{name}}}`"))),
                    },
                });
                rest = &after[end + 1..];
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if let Some(c) = literal.chars().find(|c| !is_tag_char(*c)) {
                    return Err(bad(format!("`{c}` cannot appear in a tag")));
                }
                parts.push(Part::Literal(literal.to_string()));
                rest = &rest[end..];
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Hash(_))) {
            return Err(bad(
                "it has no {hash:N}, so the tag would not follow the content".into(),
            ));
        }
        let template = Self {
            text: text.to_string(),
            parts,
        };
        // Hex and timestamps are always valid tag characters, so a sample render checks the
        // first character and the length for every render.
        let sample = template.render(&"0".repeat(64), 0);
        validate_tag(&sample).map_err(bad)?;
        Ok(template)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders the tag for a full hex hash at a Unix time (seconds, UTC).
    pub fn render(&self, hash_hex: &str, unix_seconds: i64) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(s) => s.clone(),
                Part::Timestamp => format_timestamp(unix_seconds),
                Part::Hash(n) => hash_hex.chars().take(*n).collect(),
            })
            .collect()
    }

    /// Whether the template holds `{timestamp}`.
    pub fn has_timestamp(&self) -> bool {
        self.parts.contains(&Part::Timestamp)
    }

    /// How many hex characters of the hash the tag carries.
    pub fn hash_len(&self) -> usize {
        self.parts
            .iter()
            .find_map(|p| match p {
                Part::Hash(n) => Some(*n),
                _ => None,
            })
            .unwrap_or(8)
    }
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Checks a tag against the OCI distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    match chars.next() {
        None => return Err("the tag is empty".into()),
        Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
            return Err(format!("a tag cannot start with `{c}`"));
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !is_tag_char(*c)) {
        return Err(format!("`{c}` cannot appear in a tag"));
    }
    if tag.len() > 128 {
        return Err(format!(
            "the tag is {} characters long; at most 128 are allowed",
            tag.len()
        ));
    }
    Ok(())
}

/// The latest time a tag can carry: 9999-12-31T23:59:59Z (later years need a fifth digit,
/// and the tag template's length check counts on four).
pub const MAX_TAG_TIME: i64 = 253_402_300_799;

/// `%Y%m%d-%H%M%S` in UTC.
pub fn format_timestamp(unix_seconds: i64) -> String {
    let (year, month, day, h, m, s) = utc(unix_seconds);
    format!("{year:04}{month:02}{day:02}-{h:02}{m:02}{s:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC) for a Unix time in seconds.
pub fn format_rfc3339(unix_seconds: i64) -> String {
    let (year, month, day, h, m, s) = utc(unix_seconds);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The Unix time of a UTC time written `YYYY-MM-DDTHH:MM:SSZ` (what [`format_rfc3339`]
/// writes; fractions of a second allowed) or `YYYYMMDD-HHMMSS` (a tag's timestamp, at the
/// start of `text`); `None` for anything else.
pub fn parse_utc(text: &str) -> Option<i64> {
    let digits = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let b = text.as_bytes();
    let (date, time) = if b.len() >= 20 && b[10] == b'T' && text.ends_with('Z') {
        let (d, t) = (&text[..10], &text[11..19]);
        let date = [digits(&d[..4])?, digits(&d[5..7])?, digits(&d[8..10])?];
        let time = [digits(&t[..2])?, digits(&t[3..5])?, digits(&t[6..8])?];
        (d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-' && t.as_bytes()[2] == b':')
            .then_some((date, time))?
    } else if b.len() >= 15 && b[8] == b'-' {
        let date = [
            digits(&text[..4])?,
            digits(&text[4..6])?,
            digits(&text[6..8])?,
        ];
        let time = [
            digits(&text[9..11])?,
            digits(&text[11..13])?,
            digits(&text[13..15])?,
        ];
        (date, time)
    } else {
        return None;
    };
    let [year, month, day] = date;
    let [h, m, s] = time;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Howard Hinnant's civil-to-days conversion (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Unix time as UTC year, month, day, hour, minute, second.
fn utc(unix_seconds: i64) -> (i64, u32, u32, i64, i64, i64) {
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(unix_seconds.div_euclid(86_400));
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_748_271_100), "2025-05-26T14:51:40Z");
        for t in [0, 1_748_271_100, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_utc(&format_rfc3339(t)), Some(t));
            assert_eq!(parse_utc(&format_timestamp(t)), Some(t));
            assert_eq!(
                parse_utc(&format!("{}-0123abcd", format_timestamp(t))),
                Some(t)
            );
        }
        assert_eq!(parse_utc("2025-05-26T14:51:40.123Z"), Some(1_748_271_100));
        for not in [
            "",
            "latest",
            "2025-13-01T00:00:00Z",
            "20251301-000000",
            "v1.2.3-rc",
        ] {
            assert_eq!(parse_utc(not), None, "{not}");
        }
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(format_timestamp(0), "19700101-000000");
        // The document's example tag, 2025-05-26 14:51:40 UTC.
        assert_eq!(format_timestamp(1_748_271_100), "20250526-145140");
        assert_eq!(format_timestamp(951_782_400), "20000229-000000");
        assert_eq!(format_timestamp(4_102_444_799), "20991231-235959");
    }

    #[test]
    fn default_template_renders_the_documents_format() {
        let t = TagTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        let hash = "9f6a1a2a".to_string() + &"0".repeat(56);
        assert_eq!(t.render(&hash, 1_748_271_100), "20250526-145140-9f6a1a2a");
        assert_eq!(t.hash_len(), 8);
    }

    #[test]
    fn templates_are_checked() {
        assert!(TagTemplate::parse("v1-{hash:12}").is_ok());
        assert!(TagTemplate::parse("{hash}").is_ok());
        for bad in [
            "{timestamp}",
            "{hash:3}",
            "{hash:65}",
            "{hash:x}",
            "{nope}-{hash}",
            "a/{hash}",
            "-{hash}",
            "{hash",
            "x{hash:64}{hash:64}",
        ] {
            assert!(
                matches!(
                    TagTemplate::parse(bad),
                    Err(ContextError::BadTemplate { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn oci_tag_rules() {
        assert!(validate_tag("_a.b-c").is_ok());
        assert!(validate_tag(".a").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
        assert!(validate_tag(&"a".repeat(128)).is_ok());
    }
}
