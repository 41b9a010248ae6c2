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

use regex::Regex;

use crate::error::ContextError;

mod compile;
mod read;

use compile::{compile_containers, compile_moby, validate};
use read::{read_line, trim_slashes, without_trailing_glob};

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

    /// Whether BuildKit asks the rules again when it opens a file it sends (fsutil with a `!`
    /// pattern): moby's `MatchesOrParentMatches`, every pattern asked of the path and of each
    /// folder above it afresh. That can exclude a file the walk re-included (a pattern the
    /// walk did not ask of a folder, because an earlier one had already excluded it, does
    /// match that folder), and BuildKit then sends the file empty.
    pub fn checks_opened_files(&self) -> bool {
        self.engine == Engine::Fsutil && self.has_exclusions
    }

    /// Every pattern that matches `dir` or a folder above it (`above`: its parent's), carried
    /// down the walk for [`opened_by`](Self::opened_by).
    pub fn ancestry(&self, dir: &[u8], above: &Matched) -> Matched {
        let mut out = above.clone();
        for (index, pattern) in self.patterns.iter().enumerate() {
            if !out.get(index) && pattern.matches(dir, true) {
                out.set(index);
            }
        }
        out
    }

    /// The pattern that excludes the file `path` when BuildKit opens it, given the
    /// [`ancestry`](Self::ancestry) of its folder. `MatchesOrParentMatches` skips a pattern
    /// that cannot change the outcome so far, which changes nothing when no bits are handed
    /// down: it is [`verdict`](Self::verdict) with every pattern a folder above matched.
    pub fn opened_by(&self, path: &[u8], above: &Matched) -> Option<usize> {
        self.verdict(path, above).by
    }

    /// [`opened_by`](Self::opened_by) as moby writes it, for differential tests: each folder
    /// above `path` asked again, pattern by pattern.
    pub fn opened_by_plain(&self, path: &[u8]) -> Option<usize> {
        let folders: Vec<&[u8]> = path
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(at, _)| &path[..at])
            .collect();
        let mut by = None;
        for (index, pattern) in self.patterns.iter().enumerate() {
            if pattern.exclusion != by.is_some() {
                continue;
            }
            let hit = pattern.matches(path, false)
                || folders.iter().any(|folder| pattern.matches(folder, false));
            if hit {
                by = (!pattern.exclusion).then_some(index);
            }
        }
        by
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
mod tests;
