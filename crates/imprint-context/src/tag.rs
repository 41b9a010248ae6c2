//! Tag templates (`{timestamp}-{hash:8}`, with `{git:N}`, `{branch}`, `{version}`) and UTC
//! timestamps.

use crate::error::ContextError;

/// The document's format: `YYYYMMDD-HHMMSS-` and 8 hex characters of the content hash.
pub const DEFAULT_TEMPLATE: &str = "{timestamp}-{hash:8}";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Timestamp,
    Hash(usize),
    /// The commit, its first N hex characters.
    Git(usize),
    Branch,
    Version,
}

/// The most characters of a branch name a tag carries.
pub const MAX_BRANCH: usize = 40;
/// The most characters of a version a tag carries.
pub const MAX_VERSION: usize = 32;

/// What a tag may carry besides the content hash and the time, for templates that name it;
/// never part of the content hash. Values are made tag-safe when rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagMetadata {
    /// The commit checked out (`{git:N}`).
    pub commit: Option<String>,
    /// The branch (`{branch}`).
    pub branch: Option<String>,
    /// The project's version (`{version}`).
    pub version: Option<String>,
}

/// Which metadata a template names (so only that is looked up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `{git:N}`.
    pub commit: bool,
    /// `{branch}`.
    pub branch: bool,
    /// `{version}`.
    pub version: bool,
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
                let length = |n: &str, range: std::ops::RangeInclusive<usize>, what: &str| {
                    n.parse::<usize>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| {
                            bad(format!(
                                "`{{{name}}}`: the {what} length must be a number from {} to {}",
                                range.start(),
                                range.end()
                            ))
                        })
                };
                parts.push(match name {
                    "timestamp" => Part::Timestamp,
                    "hash" => Part::Hash(8),
                    "git" => Part::Git(7),
                    "branch" => Part::Branch,
                    "version" => Part::Version,
                    _ => match (name.strip_prefix("hash:"), name.strip_prefix("git:")) {
                        (Some(n), _) => Part::Hash(length(n, 4..=64, "hash")?),
                        (_, Some(n)) => Part::Git(length(n, 4..=40, "commit")?),
                        _ => return Err(bad(format!("unknown placeholder `{{{name}}}`"))),
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
        // Hex, timestamps and tag-safe metadata are always valid tag characters, so a sample
        // render with the longest values checks the first character and the length for every
        // render.
        let longest = TagMetadata {
            commit: Some("f".repeat(40)),
            branch: Some("b".repeat(MAX_BRANCH)),
            version: Some("9".repeat(MAX_VERSION)),
        };
        let sample = template.render(&"0".repeat(64), 0, &longest)?;
        validate_tag(&sample).map_err(bad)?;
        Ok(template)
    }

    /// The metadata the template names.
    pub fn needs(&self) -> Needs {
        let has = |want: fn(&Part) -> bool| self.parts.iter().any(want);
        Needs {
            commit: has(|p| matches!(p, Part::Git(_))),
            branch: has(|p| matches!(p, Part::Branch)),
            version: has(|p| matches!(p, Part::Version)),
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders the tag for a full hex hash at a Unix time (seconds, UTC) with `metadata`
    /// made tag-safe; an error when the template names metadata that is missing.
    pub fn render(
        &self,
        hash_hex: &str,
        unix_seconds: i64,
        metadata: &TagMetadata,
    ) -> Result<String, ContextError> {
        let missing = |placeholder: &str| ContextError::TagValueMissing {
            template: self.text.clone(),
            placeholder: placeholder.to_string(),
        };
        let mut tag = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => tag.push_str(s),
                Part::Timestamp => tag.push_str(&format_timestamp(unix_seconds)),
                Part::Hash(n) => tag.extend(hash_hex.chars().take(*n)),
                Part::Git(n) => {
                    let commit = metadata.commit.as_deref().ok_or_else(|| missing("{git}"))?;
                    tag.push_str(&tag_safe(commit, *n));
                }
                Part::Branch => {
                    let branch = metadata
                        .branch
                        .as_deref()
                        .ok_or_else(|| missing("{branch}"))?;
                    tag.push_str(&tag_safe(branch, MAX_BRANCH));
                }
                Part::Version => {
                    let version = metadata
                        .version
                        .as_deref()
                        .ok_or_else(|| missing("{version}"))?;
                    tag.push_str(&tag_safe(version, MAX_VERSION));
                }
            }
        }
        Ok(tag)
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

/// `value` as tag characters, at most `max` of them: any other character becomes `-`, a
/// first character a tag cannot start with becomes `_`, and an empty value is `_`, so it may
/// stand anywhere in a tag (`feature/login` → `feature-login`, `1.0+local` → `1.0-local`).
fn tag_safe(value: &str, max: usize) -> String {
    let mut out: String = value
        .chars()
        .take(max)
        .map(|c| if is_tag_char(c) { c } else { '-' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        out = match out.char_indices().nth(1) {
            Some((i, _)) => format!("_{}", &out[i..]),
            None => "_".into(),
        };
    }
    out
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
        let none = TagMetadata::default();
        assert_eq!(
            t.render(&hash, 1_748_271_100, &none).unwrap(),
            "20250526-145140-9f6a1a2a"
        );
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

    #[test]
    fn git_branch_and_version_placeholders_render_tag_safe() {
        let t = TagTemplate::parse("{version}-{branch}-{git:10}-{hash:8}").unwrap();
        assert_eq!(
            t.needs(),
            Needs {
                commit: true,
                branch: true,
                version: true
            }
        );
        assert_eq!(
            TagTemplate::parse("{timestamp}-{hash}").unwrap().needs(),
            Needs::default()
        );
        let hash = "9f6a1a2a".repeat(8);
        let meta = TagMetadata {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            branch: Some("feature/login+ünïcode".into()),
            version: Some("1.4.0+local".into()),
        };
        let tag = t.render(&hash, 0, &meta).unwrap();
        assert_eq!(tag, "1.4.0-local-feature-login--n-code-0123456789-9f6a1a2a");
        assert!(validate_tag(&tag).is_ok());
        // A value a tag cannot start with, an empty one, a very long one.
        let t = TagTemplate::parse("{branch}{hash:4}").unwrap();
        for (branch, want) in [(".hidden", "_hidden9f6a"), ("", "_9f6a"), ("-x", "_x9f6a")] {
            let meta = TagMetadata {
                branch: Some(branch.into()),
                ..TagMetadata::default()
            };
            assert_eq!(t.render(&hash, 0, &meta).unwrap(), want);
        }
        let long = TagMetadata {
            branch: Some("b".repeat(500)),
            ..TagMetadata::default()
        };
        assert_eq!(t.render(&hash, 0, &long).unwrap().len(), MAX_BRANCH + 4);
        match t.render(&hash, 0, &TagMetadata::default()) {
            Err(ContextError::TagValueMissing { placeholder, .. }) => {
                assert_eq!(placeholder, "{branch}")
            }
            other => panic!("{other:?}"),
        }
        assert!(TagTemplate::parse("{git:3}-{hash}").is_err());
        assert!(TagTemplate::parse("{git:41}-{hash}").is_err());
        // The longest values must fit in 128 characters.
        assert!(TagTemplate::parse(&format!("{}{{branch}}{{hash:64}}", "x".repeat(30))).is_err());
    }
}
