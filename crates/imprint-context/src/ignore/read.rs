//! How each engine's reader leaves a line of the ignore file: moby's ignorefile and
//! patternmatcher, imagebuilder's ParseIgnore and containers/storage's constructor.

use super::Dialect;

/// One line as the engine's reader and its pattern matcher's constructor leave it: the
/// pattern text and whether it is a `!` pattern, or `None` for a line that holds none.
pub(super) fn read_line(line: &str, dialect: Dialect) -> Result<Option<(String, bool)>, String> {
    match dialect {
        // moby's ignorefile.ReadAll, then patternmatcher.New: two steps, each of its own
        // (ReadAll drops a leading `/` after it has looked for `!`, so `/!b` reaches New as
        // `!b`, a re-include of `b`).
        Dialect::Moby => {
            let text = line.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let (invert, text) = match text.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, text),
            };
            let mut cleaned = match text.is_empty() {
                true => String::new(),
                false => clean(text),
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let entry = match invert {
                true => format!("!{cleaned}"),
                false => cleaned,
            };
            // New: trimmed and cleaned again (`!/` becomes `!`), then a leading `!` taken.
            let entry = clean(entry.trim());
            match entry.strip_prefix('!') {
                Some("") => Err("`!` needs a pattern after it".into()),
                Some(rest) => Ok(Some((rest.to_string(), true))),
                None => Ok(Some((entry, false))),
            }
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
pub(super) fn clean(path: &str) -> String {
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
pub(super) fn without_trailing_glob(text: &str) -> &str {
    let text = text.strip_suffix("/**").unwrap_or(text);
    text.strip_suffix("/*").unwrap_or(text)
}

pub(super) fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let end = path
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(start, |at| at + 1);
    &path[start..end]
}
