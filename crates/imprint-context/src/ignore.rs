//! Docker's ignore-file rules (moby's patternmatcher and dockerignore reader), not gitignore's.
//!
//! Patterns are relative to the context root, `**` spans folders, `!` re-includes, the last
//! matching pattern wins, a leading `/` is dropped and `#` starts a comment only at the very
//! start of a line. A pattern also matches everything under a folder it matches.

use std::path::{Path, PathBuf};

use regex::bytes::{Regex, RegexBuilder};

use crate::error::ContextError;

/// One parsed line of an ignore file.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned pattern text, without the leading `!`.
    pub text: String,
    /// `true` for a `!` (re-include) pattern.
    pub exclusion: bool,
    /// 1-based line number in the ignore file.
    pub line: usize,
    regex: Regex,
    /// The literal text every match ends with (after the last wildcard): a cheap test that
    /// spares most paths the regex.
    tail: Vec<u8>,
}

impl Pattern {
    fn is_match(&self, path: &[u8]) -> bool {
        path.ends_with(&self.tail) && self.regex.is_match(path)
    }

    /// The pattern as written in the ignore file (after cleaning), with its `!`.
    pub fn display(&self) -> String {
        if self.exclusion {
            format!("!{}", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// The patterns of one ignore file, in file order.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    /// Where the rules came from, for messages; `None` when there is no ignore file.
    pub source: Option<PathBuf>,
    patterns: Vec<Pattern>,
    has_exclusions: bool,
}

impl IgnoreRules {
    /// Parses an ignore file's bytes the way `docker build` reads `.dockerignore`.
    pub fn parse(source: &Path, bytes: &[u8]) -> Result<Self, ContextError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut patterns = Vec::new();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let bad = |reason: &str| ContextError::BadPattern {
                file: source.to_path_buf(),
                line,
                pattern: shortened(&String::from_utf8_lossy(raw)),
                reason: reason.to_string(),
            };
            // A comment only when `#` is the very first byte, as in moby's reader.
            if raw.first() == Some(&b'#') {
                continue;
            }
            let text = std::str::from_utf8(raw).map_err(|_| bad("the line is not valid UTF-8"))?;
            let mut text = text.trim();
            if text.is_empty() {
                continue;
            }
            let exclusion = text.starts_with('!');
            if exclusion {
                text = text[1..].trim();
            }
            if text.is_empty() {
                return Err(bad("`!` needs a pattern after it"));
            }
            let mut cleaned = clean(text);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            validate(&cleaned).map_err(|reason| bad(&reason))?;
            let regex = compile(&cleaned).map_err(|reason| bad(&reason))?;
            let tail = literal_tail(&cleaned);
            patterns.push(Pattern {
                text: cleaned,
                exclusion,
                line,
                regex,
                tail,
            });
        }
        let has_exclusions = patterns.iter().any(|p| p.exclusion);
        Ok(Self {
            source: Some(source.to_path_buf()),
            patterns,
            has_exclusions,
        })
    }

    /// The patterns in file order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `path` (relative, `/`-separated) is excluded; returns the pattern that
    /// decided it. Mirrors moby's `MatchesOrParentMatches`: a pattern matches a path when it
    /// matches the path or any of its parent folders, and the last deciding pattern wins.
    pub fn excluded_by(&self, path: &[u8]) -> Option<&Pattern> {
        let parents: Vec<usize> = path
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i)
            .collect();
        let mut decided: Option<&Pattern> = None;
        for pattern in &self.patterns {
            let matched = decided.is_some();
            // An include pattern cannot change an included path, nor an exclude an excluded one.
            if pattern.exclusion != matched {
                continue;
            }
            let hit =
                pattern.is_match(path) || parents.iter().any(|&end| pattern.is_match(&path[..end]));
            if hit {
                decided = if pattern.exclusion {
                    None
                } else {
                    Some(pattern)
                };
            }
        }
        decided
    }

    /// [`excluded_by`](Self::excluded_by) for a path whose parent folders are all included
    /// (as in a walk that does not descend into excluded folders): then only the path itself
    /// can match.
    pub(crate) fn excluded_by_below_included(&self, path: &[u8]) -> Option<&Pattern> {
        match self.has_exclusions {
            true => self.excluded_by(path),
            false => self.patterns.iter().find(|p| p.is_match(path)),
        }
    }

    /// Whether the walk must descend into the excluded folder `dir` because a `!` pattern
    /// could re-include something in it. Docker (the legacy builder and BuildKit alike) only
    /// looks for `!` patterns whose text starts with the folder's path.
    pub fn may_reinclude_under(&self, dir: &[u8]) -> bool {
        if !self.has_exclusions {
            return false;
        }
        let mut dir_slash = dir.to_vec();
        dir_slash.push(b'/');
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let mut text = p.text.as_bytes().to_vec();
            text.push(b'/');
            text.starts_with(&dir_slash)
        })
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The syntax check that moby runs through Go's `filepath.Match`: character classes must be
/// closed and non-empty, and a `\` must escape something.
fn validate(pattern: &str) -> Result<(), String> {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars
                    .next()
                    .ok_or_else(|| "a trailing `\\` escapes nothing".to_string())?;
            }
            '[' => {
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                let mut ranges = 0;
                loop {
                    match chars.peek() {
                        None => return Err("a `[` character class is never closed".into()),
                        Some(']') if ranges > 0 => {
                            chars.next();
                            break;
                        }
                        _ => {}
                    }
                    class_char(&mut chars)?;
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        class_char(&mut chars)?;
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    match chars.next() {
        None => Err("a `[` character class is never closed".into()),
        Some('-') | Some(']') => Err("a character class has an empty or malformed range".into()),
        Some('\\') => chars
            .next()
            .ok_or_else(|| "a trailing `\\` escapes nothing".to_string()),
        Some(c) => Ok(c),
    }
}

/// Compiles a cleaned pattern the way moby's `Pattern.compile` does, into a byte regex so that
/// non-UTF-8 file names match by their bytes.
fn compile(pattern: &str) -> Result<Regex, String> {
    const ANY_BUT_SLASH: &str = "(?-u:[^/])";
    const ONE_CHAR_BUT_SLASH: &str = "(?:[^/]|(?-u:[\\x80-\\xFF]))";
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    re.push_str("(?-u:.)*");
                } else {
                    re.push_str("(?:(?-u:.)*/)?");
                }
            }
            '*' => {
                re.push_str(ANY_BUT_SLASH);
                re.push('*');
            }
            '?' => re.push_str(ONE_CHAR_BUT_SLASH),
            '\\' => match chars.next() {
                Some(next) => re.push_str(&regex::escape(&next.to_string())),
                None => re.push_str("\\\\"),
            },
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                let mut first = true;
                loop {
                    match chars.peek() {
                        Some(']') if !first => {
                            chars.next();
                            break;
                        }
                        None => return Err("a `[` character class is never closed".into()),
                        _ => {}
                    }
                    first = false;
                    let lo = class_char(&mut chars)?;
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        let hi = class_char(&mut chars)?;
                        if lo > hi {
                            return Err(format!("the range `{lo}-{hi}` is reversed"));
                        }
                        re.push_str(&format!("\\x{{{:X}}}-\\x{{{:X}}}", lo as u32, hi as u32));
                    } else {
                        re.push_str(&format!("\\x{{{:X}}}", lo as u32));
                    }
                }
                re.push(']');
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    RegexBuilder::new(&re)
        .unicode(true)
        .build()
        .map_err(|e| format!("cannot compile the pattern: {e}"))
}

/// The text after a cleaned pattern's last wildcard, escape or class: literal, so every
/// path the pattern matches ends with it.
fn literal_tail(pattern: &str) -> Vec<u8> {
    let start = pattern
        .rfind(['*', '?', '[', ']', '\\'])
        .map_or(0, |at| at + 1);
    pattern.as_bytes()[start..].to_vec()
}

/// A pattern for a message: at most 120 characters.
fn shortened(pattern: &str) -> String {
    let pattern = pattern.trim();
    match pattern.char_indices().nth(120) {
        Some((cut, _)) => format!("{}… ({} bytes)", &pattern[..cut], pattern.len()),
        None => pattern.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes()).unwrap()
    }

    fn excluded(rules: &IgnoreRules, path: &str) -> bool {
        rules.excluded_by(path.as_bytes()).is_some()
    }

    #[test]
    fn clean_matches_go() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("/a/../b"), "/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean("/.."), "/");
    }

    #[test]
    fn star_does_not_cross_folders_but_double_star_does() {
        let r = rules("*.md\n");
        assert!(excluded(&r, "README.md"));
        assert!(!excluded(&r, "docs/README.md"));
        let r = rules("**/*.md\n");
        assert!(excluded(&r, "README.md"));
        assert!(excluded(&r, "docs/a/README.md"));
        let r = rules("docs/**\n");
        assert!(excluded(&r, "docs/a/b"));
        assert!(!excluded(&r, "doc"));
    }

    #[test]
    fn parent_match_excludes_children() {
        let r = rules("build\n");
        assert!(excluded(&r, "build"));
        assert!(excluded(&r, "build/x/y.txt"));
        assert!(!excluded(&r, "src/build"));
    }

    #[test]
    fn last_match_wins_and_negation_reincludes() {
        let r = rules("*.txt\n!keep.txt\n");
        assert!(excluded(&r, "a.txt"));
        assert!(!excluded(&r, "keep.txt"));
        let r = rules("!keep.txt\n*.txt\n");
        assert!(excluded(&r, "keep.txt"));
    }

    #[test]
    fn comments_only_at_line_start_and_leading_slash_dropped() {
        let r = rules("# comment\n /a\n  #b\n");
        assert!(excluded(&r, "a"));
        assert!(excluded(&r, "#b"));
        assert!(!excluded(&r, "# comment"));
    }

    #[test]
    fn question_mark_and_classes() {
        let r = rules("file?.py\n[ab]x\n[^c]y\n");
        assert!(excluded(&r, "file1.py"));
        assert!(!excluded(&r, "file/.py"));
        assert!(excluded(&r, "bx"));
        assert!(!excluded(&r, "cx"));
        assert!(excluded(&r, "dy"));
        assert!(!excluded(&r, "cy"));
    }

    #[test]
    fn malformed_patterns_name_their_line() {
        for bad in ["[abc", "foo\\", "[]", "!", "[z-a]"] {
            let text = format!("ok\n{bad}\n");
            match IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes()) {
                Err(ContextError::BadPattern { line, .. }) => assert_eq!(line, 2, "{bad}"),
                other => panic!("{bad}: expected a bad pattern, got {other:?}"),
            }
        }
    }

    #[test]
    fn reinclusion_descends_only_on_prefix() {
        let r = rules("foo\n!foo/bar\n!**/keep.md\n");
        assert!(r.may_reinclude_under(b"foo"));
        assert!(!r.may_reinclude_under(b"fo"));
        assert!(!r.may_reinclude_under(b"other"));
        assert!(!rules("foo\n").may_reinclude_under(b"foo"));
    }

    #[test]
    fn non_utf8_names_match_by_bytes() {
        let r = rules("*.bin\n");
        assert!(r.excluded_by(b"\xff\xfe.bin").is_some());
        let r = rules("?.x\n");
        assert!(r.excluded_by(b"\xff.x").is_some());
        assert!(r.excluded_by("é.x".as_bytes()).is_some());
    }

    #[test]
    fn a_huge_bad_line_is_quoted_short() {
        let text = format!("[{}\n", "a".repeat(1_000_000));
        let err = IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes()).unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(message.contains("(1000001 bytes)"), "{message}");
    }
}
