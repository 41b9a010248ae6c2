//! The ignore-file rules of each program that sends a build context, as that program applies
//! them: moby's (the docker CLI's legacy builder and BuildKit, Docker 23 and later) and
//! containers/storage's (podman and buildah); not gitignore's.
//!
//! Both read `/`-separated patterns relative to the context root, where `*` and `?` stay in
//! one folder, `**` spans folders, `!` re-includes and the last matching pattern wins. They
//! differ in the details, each followed here: how a line is read (moby strips a BOM and the
//! spaces after `!`; imagebuilder trims `/` from both ends), how a pattern becomes a matcher
//! (moby's exact, prefix, suffix and regular-expression kinds, where `**.pyc` is any name
//! ending in `.pyc`; containers/storage's one regular expression, which also matches every
//! path below a match), how a path's parent folders count (moby carries what each pattern
//! matched down the walk, `MatchesUsingParentResults`), and when an excluded folder is walked
//! for re-included entries (see [`Engine`]).

use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};

use crate::error::ContextError;

/// The code that reads the ignore file and walks the context with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// moby's go-archive (the docker CLI's legacy builder): an excluded folder is walked
    /// when a `!` pattern's text starts with its path.
    GoArchive,
    /// BuildKit's fsutil: as go-archive after a trailing `/**` or `/*` is cut from the `!`
    /// patterns, and every excluded folder is walked once any `!` pattern has a wildcard.
    Fsutil,
    /// buildah's copier (podman and buildah): an excluded folder is walked when a `!`
    /// pattern's text starts with its path, even inside a name (`!foobar` walks `foo`).
    Copier,
}

impl Engine {
    fn dialect(self) -> Dialect {
        match self {
            Self::GoArchive | Self::Fsutil => Dialect::Moby,
            Self::Copier => Dialect::Containers,
        }
    }
}

/// Whose pattern language a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// moby/patternmatcher and its ignorefile reader.
    Moby,
    /// containers/storage's fileutils and openshift/imagebuilder's reader.
    Containers,
}

/// How one pattern is matched (moby's match types; containers/storage has only `Regex`).
#[derive(Debug, Clone)]
enum Kind {
    /// The path is the pattern.
    Exact,
    /// The path starts with this (the pattern without its final `**`).
    Prefix(String),
    /// The path ends with this (the pattern without its leading `**`), or is it without
    /// its leading `/`.
    Suffix(String),
    /// The regular expression decides; every match ends with `tail` (moby only: a
    /// containers/storage expression also matches paths below a match).
    Regex { regex: Regex, tail: String },
}

/// One parsed line of an ignore file.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned pattern text, without the leading `!`.
    pub text: String,
    /// `true` for a `!` (re-include) pattern.
    pub exclusion: bool,
    /// 1-based line number in the ignore file.
    pub line: usize,
    kind: Kind,
}

impl Pattern {
    /// Whether the pattern matches `path` itself; `fast` lets a literal tail rule a path out
    /// before the regular expression runs (the answer is the same).
    fn matches(&self, path: &[u8], fast: bool) -> bool {
        let text = self.text.as_bytes();
        match &self.kind {
            Kind::Exact => path == text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_bytes()),
            Kind::Suffix(suffix) => {
                let suffix = suffix.as_bytes();
                path.ends_with(suffix) || (suffix.first() == Some(&b'/') && path == &suffix[1..])
            }
            Kind::Regex { regex, tail } => {
                if fast && !path.ends_with(tail.as_bytes()) {
                    return false;
                }
                match std::str::from_utf8(path) {
                    Ok(text) => regex.is_match(text),
                    Err(_) => regex.is_match(&as_go_reads(path)),
                }
            }
        }
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

/// Which patterns matched a folder (directly, or through its own parent): moby's
/// `MatchInfo`, handed from a folder to its entries. The context root's is empty. A bit per
/// pattern, the first 64 inline (no allocation per entry walked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched {
    low: u64,
    high: Vec<u64>,
}

impl Matched {
    fn get(&self, index: usize) -> bool {
        let word = match index / 64 {
            0 => self.low,
            n => self.high.get(n - 1).copied().unwrap_or(0),
        };
        word & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: usize) {
        let bit = 1 << (index % 64);
        match index / 64 {
            0 => self.low |= bit,
            n => {
                if self.high.len() < n {
                    self.high.resize(n, 0);
                }
                self.high[n - 1] |= bit;
            }
        }
    }
}

/// What the rules say of one path.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The pattern that excluded it, by index; `None` when it is sent.
    pub by: Option<usize>,
    /// What its entries inherit, when it is a folder (moby only).
    pub matched: Matched,
}

/// The patterns of one ignore file, in file order, read as one engine reads them.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    /// Where the rules came from, for messages; `None` when there is no ignore file.
    pub source: Option<PathBuf>,
    engine: Engine,
    patterns: Vec<Pattern>,
    has_exclusions: bool,
    /// Every `!` pattern is a plain path (after fsutil cuts a trailing `/**` or `/*`).
    prefix_exclusions_only: bool,
}

impl IgnoreRules {
    /// No ignore file: everything is sent.
    pub fn none(engine: Engine) -> Self {
        Self {
            source: None,
            engine,
            patterns: Vec::new(),
            has_exclusions: false,
            prefix_exclusions_only: true,
        }
    }

    /// Parses an ignore file's bytes the way `engine` reads them.
    pub fn parse(source: &Path, bytes: &[u8], engine: Engine) -> Result<Self, ContextError> {
        let dialect = engine.dialect();
        let mut patterns = Vec::new();
        let bytes = match dialect {
            Dialect::Moby => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
            Dialect::Containers => bytes,
        };
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let bad = |reason: String| ContextError::BadPattern {
                file: source.to_path_buf(),
                line,
                pattern: shortened(&String::from_utf8_lossy(raw)),
                reason,
            };
            // A comment only when `#` is the very first byte, for both readers.
            if raw.first() == Some(&b'#') {
                continue;
            }
            let text =
                std::str::from_utf8(raw).map_err(|_| bad("the line is not valid UTF-8".into()))?;
            let Some((text, exclusion)) = read_line(text, dialect).map_err(bad)? else {
                continue;
            };
            validate(&text).map_err(bad)?;
            let kind = match dialect {
                Dialect::Moby => compile_moby(&text),
                Dialect::Containers => compile_containers(&text),
            }
            .map_err(bad)?;
            patterns.push(Pattern {
                text,
                exclusion,
                line,
                kind,
            });
        }
        let exclusions = || patterns.iter().filter(|p| p.exclusion);
        let has_exclusions = exclusions().next().is_some();
        let prefix_exclusions_only = exclusions()
            .all(|p| !without_trailing_glob(&p.text).contains(['*', '[', ']', '?', '^', '\\']));
        Ok(Self {
            source: Some(source.to_path_buf()),
            engine,
            patterns,
            has_exclusions,
            prefix_exclusions_only,
        })
    }

    /// The patterns in file order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// What the rules say of `path` (relative, `/`-separated), given what its folder matched.
    /// moby's `MatchesUsingParentResults`: a pattern that matched the folder counts as
    /// matched, and a pattern that cannot change the outcome so far is not asked (so it is
    /// not inherited either). containers/storage asks every pattern of the path alone.
    pub fn verdict(&self, path: &[u8], parent: &Matched) -> Verdict {
        self.verdict_with(path, parent, true)
    }

    /// [`verdict`](Self::verdict) without the literal-tail pre-test: the plain matcher that
    /// differential tests hold the fast one to.
    pub fn verdict_plain(&self, path: &[u8], parent: &Matched) -> Verdict {
        self.verdict_with(path, parent, false)
    }

    fn verdict_with(&self, path: &[u8], parent: &Matched, fast: bool) -> Verdict {
        let mut by = None;
        match self.engine.dialect() {
            Dialect::Containers => {
                for (index, pattern) in self.patterns.iter().enumerate() {
                    if pattern.matches(path, fast) {
                        by = (!pattern.exclusion).then_some(index);
                    }
                }
                Verdict {
                    by,
                    matched: Matched::default(),
                }
            }
            Dialect::Moby => {
                let mut matched = Matched::default();
                for (index, pattern) in self.patterns.iter().enumerate() {
                    let mut hit = parent.get(index);
                    if !hit {
                        // An exclusion cannot change an included path, nor a pattern an
                        // excluded one.
                        if pattern.exclusion != by.is_some() {
                            continue;
                        }
                        hit = pattern.matches(path, fast);
                    }
                    if hit {
                        matched.set(index);
                        by = (!pattern.exclusion).then_some(index);
                    }
                }
                Verdict { by, matched }
            }
        }
    }

    /// Whether the walk goes into the excluded folder `dir`, where a `!` pattern may
    /// re-include something (see [`Engine`]). Its entries are then each decided; the folder
    /// itself is sent only as the parent of something sent.
    pub fn descends_into(&self, dir: &[u8]) -> bool {
        if !self.has_exclusions {
            return false;
        }
        let exclusions = self.patterns.iter().filter(|p| p.exclusion);
        let starts = |text: &str, dir: &[u8], slash: bool| {
            let text = [text.as_bytes(), b"/"].concat();
            let dir = match slash {
                true => [dir, b"/"].concat(),
                false => dir.to_vec(),
            };
            text.starts_with(&dir)
        };
        match self.engine {
            Engine::GoArchive => exclusions.into_iter().any(|p| starts(&p.text, dir, true)),
            Engine::Fsutil if !self.prefix_exclusions_only => true,
            Engine::Fsutil => exclusions
                .into_iter()
                .any(|p| starts(without_trailing_glob(&p.text), dir, true)),
            Engine::Copier => {
                let dir = trim_slashes(dir);
                exclusions
                    .into_iter()
                    .any(|p| starts(p.text.trim_matches('/'), dir, false))
            }
        }
    }

    /// The pattern that excludes `path`, as the walk decides it: from the root down, each
    /// folder on the way decided (and walked into when excluded) before what is in it.
    pub fn excluded_by(&self, path: &[u8]) -> Option<&Pattern> {
        let mut matched = Matched::default();
        let mut start = 0;
        loop {
            let end = path[start..]
                .iter()
                .position(|&b| b == b'/')
                .map(|at| start + at);
            let prefix = &path[..end.unwrap_or(path.len())];
            let verdict = self.verdict(prefix, &matched);
            let Some(end) = end else {
                return verdict.by.map(|index| &self.patterns[index]);
            };
            if let Some(index) = verdict.by {
                if !self.descends_into(prefix) {
                    return Some(&self.patterns[index]);
                }
            }
            matched = verdict.matched;
            start = end + 1;
        }
    }
}

/// One line as the engine's reader and its pattern matcher's constructor leave it: the
/// pattern text and whether it is a `!` pattern, or `None` for a line that holds none.
fn read_line(line: &str, dialect: Dialect) -> Result<Option<(String, bool)>, String> {
    match dialect {
        // moby's ignorefile.ReadAll, then patternmatcher.New.
        Dialect::Moby => {
            let mut text = line.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let exclusion = text.starts_with('!');
            if exclusion {
                text = text[1..].trim();
            }
            let mut cleaned = match text.is_empty() {
                true => String::new(),
                false => clean(text),
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            // New cleans `!` and the pattern together: `!/` becomes `!`.
            if exclusion && (cleaned.is_empty() || cleaned == "/") {
                return Err("`!` needs a pattern after it".into());
            }
            Ok(Some((cleaned, exclusion)))
        }
        // imagebuilder's ParseIgnore (lines cut at `\n`, `/` trimmed from both ends), then
        // containers/storage's NewPatternMatcher (spaces trimmed, cleaned, `!` taken off).
        Dialect::Containers => {
            let text = line.trim_matches('/').trim();
            if text.is_empty() {
                return Ok(None);
            }
            let cleaned = clean(text);
            match cleaned.strip_prefix('!') {
                Some("") => Err("`!` needs a pattern after it".into()),
                Some(rest) => {
                    let rest = clean(rest);
                    let rest = rest.strip_prefix('/').unwrap_or(&rest).to_string();
                    Ok(Some((rest, true)))
                }
                None => Ok(Some((cleaned, false))),
            }
        }
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

/// fsutil's `patternWithoutTrailingGlob`.
fn without_trailing_glob(text: &str) -> &str {
    let text = text.strip_suffix("/**").unwrap_or(text);
    text.strip_suffix("/*").unwrap_or(text)
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let end = path
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(start, |at| at + 1);
    &path[start..end]
}

/// The syntax check that both engines run through Go's `filepath.Match`: character classes
/// must be closed and non-empty, and a `\` must escape something.
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
                class(&mut chars)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// One item of a character class: a character, or a `\`-escaped one.
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

/// A character class after its `[`, as `filepath.Match` reads it: whether it is negated and
/// its ranges, and whether any item was written with `\` or is one of `*?[` (which the
/// engines' regular expressions read otherwise).
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
    unsure: bool,
}

fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Class, String> {
    let mut out = Class {
        negated: false,
        ranges: Vec::new(),
        unsure: false,
    };
    if chars.peek() == Some(&'^') {
        chars.next();
        out.negated = true;
    }
    loop {
        match chars.peek() {
            None => return Err("a `[` character class is never closed".into()),
            Some(']') if !out.ranges.is_empty() => {
                chars.next();
                return Ok(out);
            }
            Some(c) => out.unsure |= matches!(c, '\\' | '*' | '?' | '['),
        }
        let lo = class_char(chars)?;
        let hi = match chars.peek() {
            Some('-') => {
                chars.next();
                out.unsure |= chars.peek() == Some(&'\\');
                class_char(chars)?
            }
            _ => lo,
        };
        out.unsure |= matches!(hi, '*' | '?' | '[');
        if lo > hi {
            return Err(format!("the range `{lo}-{hi}` is reversed"));
        }
        out.ranges.push((lo, hi));
    }
}

/// A class in Rust's syntax, each character written out.
fn class_regex(class: &Class) -> String {
    let mut re = String::from("[");
    if class.negated {
        re.push('^');
    }
    for &(lo, hi) in &class.ranges {
        match lo == hi {
            true => re.push_str(&format!("\\x{{{:X}}}", lo as u32)),
            false => re.push_str(&format!("\\x{{{:X}}}-\\x{{{:X}}}", lo as u32, hi as u32)),
        }
    }
    re.push(']');
    re
}

/// An escaped character as both engines' Go regular expressions read it: punctuation is
/// itself; a letter or digit is a class or an assertion (`\d`, `\b`), anything else fails.
fn escaped(next: char) -> Result<String, String> {
    match next.is_ascii() && !next.is_ascii_alphanumeric() {
        true => Ok(regex::escape(&next.to_string())),
        false => Err(format!(
            "`\\{next}` is a regular-expression escape to Docker and podman, not the character `{next}`; write `{next}` (or a class such as `[0-9]`)"
        )),
    }
}

const UNSURE_CLASS: &str = "a `\\`, `*`, `?` or `[` inside `[...]` is read as part of a regular expression by Docker and podman, not as that character; list the characters plainly";

/// moby's `Pattern.compile`: the match kind it picks and, for a regular expression, the
/// expression (Go's, written in Rust's syntax with the same meaning).
fn compile_moby(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut detected = Detected::Exact;
    let mut re = String::from("^");
    let mut tail = String::new();
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    re.push_str("(?:.*/)?");
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                }
                tail.clear();
            }
            '*' => {
                re.push_str("[^/]*");
                detected = Detected::Regex;
                tail.clear();
            }
            '?' => {
                re.push_str("[^/]");
                detected = Detected::Regex;
                tail.clear();
            }
            '\\' => {
                let next = chars.next().ok_or("a trailing `\\` escapes nothing")?;
                re.push_str(&escaped(next)?);
                tail.push(next);
                detected = Detected::Regex;
            }
            '[' => {
                let class = class(&mut chars)?;
                if class.unsure {
                    return Err(UNSURE_CLASS.into());
                }
                re.push_str(&class_regex(&class));
                detected = Detected::Regex;
                tail.clear();
            }
            ']' => {
                re.push_str("\\]");
                tail.push(']');
                detected = Detected::Regex;
            }
            // Go's `^` outside a class: the start of the path.
            '^' => {
                re.push('^');
                tail.clear();
            }
            other => {
                re.push_str(&regex::escape(&other.to_string()));
                tail.push(other);
            }
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Regex => {
            re.push('$');
            Kind::Regex {
                regex: build(&re)?,
                tail,
            }
        }
    })
}

/// containers/storage's `Pattern.compile`: one regular expression, which also matches
/// everything below a match; only `.` and `$` are escaped, so `+ ( ) | ^` keep their meaning
/// in a regular expression.
fn compile_containers(pattern: &str) -> Result<Kind, String> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    // Whether what came last can take a `+`: Go refuses one after nothing, `(`, `|` or
    // `^`, and after another repeat (`*`, `**`, `+`), where Rust's syntax would accept it.
    let mut repeatable = false;
    while let Some(c) = chars.next() {
        let mut next_repeatable = true;
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                re.push_str(match chars.peek() {
                    None => ".*",
                    Some(_) => "(?:.*/)?",
                });
                next_repeatable = false;
            }
            '*' => {
                re.push_str("[^/]*");
                next_repeatable = false;
            }
            '?' => re.push_str("[^/]"),
            '\\' => {
                let next = chars.next().ok_or("a trailing `\\` escapes nothing")?;
                re.push_str(&escaped(next)?);
            }
            '[' => {
                let class = class(&mut chars)?;
                if class.unsure {
                    return Err(UNSURE_CLASS.into());
                }
                re.push_str(&class_regex(&class));
            }
            ']' => re.push_str("\\]"),
            '+' if !repeatable => {
                return Err(
                    "podman and buildah read `+` as a repeat of what comes before it, and fail here; write `\\+` for the character".into(),
                )
            }
            '+' | '(' | '|' | '^' => {
                re.push(c);
                next_repeatable = false;
            }
            ')' => re.push(c),
            '{' | '}' => {
                return Err(format!(
                    "podman and buildah read `{c}` as part of a regular expression (a repeat count); write `\\{c}` for the character"
                ))
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        repeatable = next_repeatable;
    }
    re.push_str("(?:/.*)?$");
    let regex = build(&re).map_err(|e| {
        format!("podman and buildah read it as a regular expression, and it is not one: {e}")
    })?;
    Ok(Kind::Regex {
        regex,
        tail: String::new(),
    })
}

fn build(re: &str) -> Result<Regex, String> {
    RegexBuilder::new(re)
        .build()
        .map_err(|e| format!("cannot compile the pattern: {e}"))
}

/// A path that is not UTF-8 as Go's regular expressions read it: each byte that does not
/// start a valid character is one U+FFFD.
fn as_go_reads(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for chunk in path.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
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

    fn parsed(text: &str, engine: Engine) -> IgnoreRules {
        IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), engine).unwrap()
    }

    fn rules(text: &str) -> IgnoreRules {
        parsed(text, Engine::GoArchive)
    }

    fn excluded(rules: &IgnoreRules, path: &str) -> bool {
        rules.excluded_by(path.as_bytes()).is_some()
    }

    const ALL: [Engine; 3] = [Engine::GoArchive, Engine::Fsutil, Engine::Copier];

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
        for engine in ALL {
            let r = parsed("*.md\n", engine);
            assert!(excluded(&r, "README.md"));
            assert!(!excluded(&r, "docs/README.md"));
            let r = parsed("**/*.md\n", engine);
            assert!(excluded(&r, "README.md"));
            assert!(excluded(&r, "docs/a/README.md"));
            let r = parsed("docs/**\n", engine);
            assert!(excluded(&r, "docs/a/b"));
            assert!(!excluded(&r, "doc"));
        }
    }

    #[test]
    fn double_star_slash_name_matches_at_the_top_too() {
        for engine in ALL {
            for line in ["**/node_modules", "**/**/node_modules", "/**/node_modules"] {
                let r = parsed(&format!("{line}\n"), engine);
                assert!(excluded(&r, "node_modules"), "{line} {engine:?}");
                assert!(excluded(&r, "node_modules/m/i.js"), "{line} {engine:?}");
                assert!(excluded(&r, "a/b/node_modules"), "{line} {engine:?}");
                assert!(!excluded(&r, "xnode_modules"), "{line} {engine:?}");
            }
        }
    }

    #[test]
    fn a_leading_double_star_is_a_suffix_for_moby_and_a_folder_span_for_podman() {
        // moby's suffix match: `**.pyc` is every name ending in .pyc, at any depth.
        let r = rules("**.pyc\n");
        assert!(excluded(&r, "top.pyc"));
        assert!(excluded(&r, "a/b/x.pyc"));
        // containers/storage's expression `^(.*/)?\.pyc(/.*)?$`: only names that are `.pyc`.
        let r = parsed("**.pyc\n", Engine::Copier);
        assert!(!excluded(&r, "top.pyc"));
        assert!(excluded(&r, "a/.pyc"));
    }

    #[test]
    fn moby_inherits_only_what_a_folder_was_asked() {
        // `!d` was not asked of `d` (nothing was excluded yet), so `d/f` does not inherit it.
        let r = rules("d/f\n!d\n");
        assert!(excluded(&r, "d/f"));
        assert!(!excluded(&r, "d"));
        // containers/storage asks every pattern of every path: `!d` re-includes `d/f`.
        let r = parsed("d/f\n!d\n", Engine::Copier);
        assert!(!excluded(&r, "d/f"));
    }

    #[test]
    fn parent_match_excludes_children() {
        for engine in ALL {
            let r = parsed("build\n", engine);
            assert!(excluded(&r, "build"));
            assert!(excluded(&r, "build/x/y.txt"));
            assert!(!excluded(&r, "src/build"));
        }
    }

    #[test]
    fn last_match_wins_and_negation_reincludes() {
        for engine in ALL {
            let r = parsed("*.txt\n!keep.txt\n", engine);
            assert!(excluded(&r, "a.txt"));
            assert!(!excluded(&r, "keep.txt"));
            let r = parsed("!keep.txt\n*.txt\n", engine);
            assert!(excluded(&r, "keep.txt"));
        }
    }

    #[test]
    fn a_reinclude_under_an_excluded_folder_counts_only_where_the_walk_goes() {
        let text = "build\nother\n!build/keep.txt\n!**/x.py\n";
        for engine in ALL {
            let r = parsed(text, engine);
            assert!(!excluded(&r, "build/keep.txt"), "{engine:?}");
            assert!(excluded(&r, "build/out.bin"), "{engine:?}");
            // Walked into for keep.txt, `build` has each entry decided.
            assert!(!excluded(&r, "build/x.py"), "{engine:?}");
        }
        // Only fsutil walks into `other` for a wildcard `!` pattern.
        assert!(!excluded(&parsed(text, Engine::Fsutil), "other/x.py"));
        assert!(excluded(&parsed(text, Engine::GoArchive), "other/x.py"));
        assert!(excluded(&parsed(text, Engine::Copier), "other/x.py"));
    }

    #[test]
    fn each_engine_walks_into_excluded_folders_by_its_own_rule() {
        let r = |text: &str, engine| parsed(text, engine);
        for engine in ALL {
            assert!(!r("foo\n", engine).descends_into(b"foo"));
            assert!(r("foo\n!foo/bar\n", engine).descends_into(b"foo"));
            assert!(!r("foo\n!foo/bar\n", engine).descends_into(b"other"));
        }
        // copier compares without a slash after the folder: `fo` is a prefix of `foo/bar/`.
        assert!(r("fo\n!foo/bar\n", Engine::Copier).descends_into(b"fo"));
        assert!(!r("fo\n!foo/bar\n", Engine::GoArchive).descends_into(b"fo"));
        // fsutil cuts a trailing `/*` first, and any wildcard `!` walks every folder.
        assert!(r("a\n!a/*\n", Engine::Fsutil).descends_into(b"a"));
        assert!(r("a\n!**/keep.md\n", Engine::Fsutil).descends_into(b"zzz"));
        assert!(!r("a\n!**/keep.md\n", Engine::GoArchive).descends_into(b"zzz"));
    }

    #[test]
    fn comments_only_at_line_start_and_leading_slash_dropped() {
        for engine in ALL {
            let r = parsed("# comment\n/a\n  #b\n", engine);
            assert!(excluded(&r, "a"), "{engine:?}");
            assert!(excluded(&r, "#b"), "{engine:?}");
            assert!(!excluded(&r, "# comment"), "{engine:?}");
        }
    }

    #[test]
    fn the_readers_differ_in_spaces_slashes_and_the_bom() {
        // moby trims after `!` and drops one leading `/` after trimming; imagebuilder trims `/`
        // before the spaces, so ` /a` stays rooted and never matches.
        let moby = rules("\u{feff}x\n /a\n! b\nb\n!b\n");
        let podman = parsed("\u{feff}x\n /a\n! b\nb\n!b\n", Engine::Copier);
        assert!(excluded(&moby, "x") && !excluded(&podman, "x"));
        assert!(excluded(&moby, "a") && !excluded(&podman, "a"));
        assert_eq!(podman.patterns()[2].text, " b");
        assert_eq!(moby.patterns()[2].text, "b");
    }

    #[test]
    fn question_mark_and_classes() {
        for engine in ALL {
            let r = parsed("file?.py\n[ab]x\n[^c]y\n", engine);
            assert!(excluded(&r, "file1.py"));
            assert!(!excluded(&r, "file/.py"));
            assert!(excluded(&r, "bx"));
            assert!(!excluded(&r, "cx"));
            assert!(excluded(&r, "dy"));
            assert!(!excluded(&r, "cy"));
        }
        // One `?` is one character, however many bytes it takes.
        let r = rules("??\n");
        assert!(!excluded(&r, "é"));
        assert!(excluded(&r, "éé"));
    }

    #[test]
    fn regular_expression_characters_are_literal_for_moby_and_not_for_podman() {
        let moby = rules("a+b\n(x)*\n");
        assert!(excluded(&moby, "a+b"));
        assert!(excluded(&moby, "(x)y"));
        let podman = parsed("a+b\n", Engine::Copier);
        assert!(!excluded(&podman, "a+b"));
        assert!(excluded(&podman, "aab"));
        assert!(excluded(&parsed("c\\+\\+\n", Engine::Copier), "c++"));
        for bad in ["c++", "a{2}", "(x"] {
            let text = format!("{bad}\n");
            assert!(
                IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), Engine::Copier)
                    .is_err(),
                "{bad}"
            );
            assert!(IgnoreRules::parse(
                Path::new(".dockerignore"),
                text.as_bytes(),
                Engine::GoArchive
            )
            .is_ok());
        }
        // moby's exact match compares text: `a^b` is the name; in a regular expression `^` is
        // the start, so `*^b` matches `b` alone.
        assert!(excluded(&rules("a^b\n"), "a^b"));
        assert!(excluded(&rules("*^b\n"), "b"));
        assert!(!excluded(&rules("*^b\n"), "a^b"));
    }

    #[test]
    fn malformed_patterns_name_their_line() {
        for engine in ALL {
            for bad in [
                "[abc", "foo\\", "[]", "!", "[z-a]", "\\d", "[*]", "[\\]]", "!/",
            ] {
                let text = format!("ok\n{bad}\n");
                match IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), engine) {
                    Err(ContextError::BadPattern { line, .. }) => {
                        assert_eq!(line, 2, "{bad} {engine:?}")
                    }
                    other => panic!("{bad} {engine:?}: expected a bad pattern, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn escapes_of_punctuation_are_the_character() {
        for engine in ALL {
            let r = parsed("\\[x\\].txt\nst\\*r\n", engine);
            assert!(excluded(&r, "[x].txt"), "{engine:?}");
            assert!(excluded(&r, "st*r"), "{engine:?}");
            assert!(!excluded(&r, "stXr"), "{engine:?}");
        }
    }

    #[test]
    fn non_utf8_names_match_by_bytes() {
        for engine in ALL {
            let r = parsed("*.bin\n", engine);
            assert!(r.excluded_by(b"\xff\xfe.bin").is_some());
            let r = parsed("?.x\n", engine);
            assert!(r.excluded_by(b"\xff.x").is_some());
            assert!(r.excluded_by("é.x".as_bytes()).is_some());
            assert!(r.excluded_by(b"\xff\xfe.x").is_none());
        }
    }

    #[test]
    fn the_pre_test_never_changes_a_verdict() {
        let r = rules("**/*.pyc\n*.md\n!keep.md\n**/x/\\[y\\]\na*b?c\n^z\n");
        let paths = [
            "a.pyc", "d/e.pyc", "x.md", "keep.md", "q/x/[y]", "x/[y]", "aXbYc", "z", "d/z",
        ];
        for path in paths {
            let mut all = Matched::default();
            (0..6).for_each(|i| all.set(i));
            for parent in [Matched::default(), all] {
                let (fast, plain) = (
                    r.verdict(path.as_bytes(), &parent),
                    r.verdict_plain(path.as_bytes(), &parent),
                );
                assert_eq!(fast.by, plain.by, "{path}");
                assert_eq!(fast.matched, plain.matched, "{path}");
            }
        }
    }

    #[test]
    fn match_bits_past_the_first_word_are_kept() {
        let mut m = Matched::default();
        for i in [0, 63, 64, 200] {
            assert!(!m.get(i));
            m.set(i);
            assert!(m.get(i), "{i}");
        }
        assert!(!m.get(1) && !m.get(65) && !m.get(199) && !m.get(1000));
    }

    #[test]
    fn a_huge_bad_line_is_quoted_short() {
        let text = format!("[{}\n", "a".repeat(1_000_000));
        let err = IgnoreRules::parse(
            Path::new(".dockerignore"),
            text.as_bytes(),
            Engine::GoArchive,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 600, "{} bytes", message.len());
        assert!(message.contains("(1000001 bytes)"), "{message}");
    }
}
