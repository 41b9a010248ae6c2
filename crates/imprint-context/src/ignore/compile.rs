//! A pattern as each engine's matcher compiles it: Go's `filepath.Match` syntax check, moby's
//! match kinds and expression, containers/storage's expression, written in Rust's regular
//! expression syntax with the same meaning (or refused where the two syntaxes part).

use regex::{Regex, RegexBuilder};

use super::Kind;

/// The syntax check that both engines run through Go's `filepath.Match`: character classes
/// must be closed and non-empty, and a `\` must escape something.
pub(super) fn validate(pattern: &str) -> Result<(), String> {
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
pub(super) fn compile_moby(pattern: &str) -> Result<Kind, String> {
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
pub(super) fn compile_containers(pattern: &str) -> Result<Kind, String> {
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
