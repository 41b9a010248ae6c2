//! What the builder refuses in a Dockerfile, found before anything is resolved, hashed or
//! built: unknown instructions and flags, an instruction before the first `FROM`, a `FROM`
//! without a usable base, argument counts, `--chmod` values and the escape directive.

use std::collections::BTreeMap;

use crate::dockerfile::{directives, instructions, substitute, unquote, Instruction};

/// Why the builder would refuse the Dockerfile, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Every instruction and the flags it takes.
const INSTRUCTIONS: [(&str, &[&str]); 18] = [
    ("FROM", &["platform"]),
    ("RUN", &["mount", "network", "security"]),
    ("CMD", &[]),
    ("LABEL", &[]),
    ("MAINTAINER", &[]),
    ("EXPOSE", &[]),
    ("ENV", &[]),
    (
        "ADD",
        &[
            "chown",
            "chmod",
            "link",
            "keep-git-dir",
            "checksum",
            "exclude",
            "unpack",
        ],
    ),
    (
        "COPY",
        &["from", "chown", "chmod", "link", "parents", "exclude"],
    ),
    ("ENTRYPOINT", &[]),
    ("VOLUME", &[]),
    ("USER", &[]),
    ("WORKDIR", &[]),
    ("ARG", &[]),
    ("ONBUILD", &[]),
    ("STOPSIGNAL", &[]),
    (
        "HEALTHCHECK",
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    ),
    ("SHELL", &[]),
];

/// Checks `text` as the builder reads it, with `build_args` over the global `ARG` defaults.
pub fn check(text: &str, build_args: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let refuse = |line: usize, message: String| Err(Refusal { line, message });
    let (found, body_start) = directives(text);
    let escape = match found.get("escape").map(String::as_str) {
        None | Some("\\") => '\\',
        Some("`") => '`',
        Some(other) => return refuse(1, format!("invalid escape token `{other}`: it is \\ or `")),
    };
    let all = instructions(text, body_start, escape);
    if all.is_empty() {
        return refuse(1, "the Dockerfile has no instructions".into());
    }
    let mut globals: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut seen_from = false;
    for inst in &all {
        let Some((_, flags)) = INSTRUCTIONS.iter().find(|(k, _)| *k == inst.keyword) else {
            return refuse(inst.line, format!("unknown instruction: {}", inst.keyword));
        };
        check_flags(inst, flags).or_else(|m| refuse(inst.line, m))?;
        let args: Vec<&str> = inst
            .words
            .iter()
            .map(|(w, _)| w.as_str())
            .skip_while(|w| w.starts_with("--"))
            .collect();
        match inst.keyword.as_str() {
            "ARG" if !seen_from => {
                for word in &args {
                    let (name, default) = match word.split_once('=') {
                        Some((n, v)) => (n, Some(unquote(v))),
                        None => (*word, None),
                    };
                    let value = build_args.get(name).cloned().or(default);
                    globals.insert(name.to_string(), value);
                }
            }
            "FROM" => {
                seen_from = true;
                check_from(&args, &globals).or_else(|m| refuse(inst.line, m))?;
            }
            keyword if !seen_from => {
                return refuse(
                    inst.line,
                    format!("{keyword} before the first FROM: only ARG may come before it"),
                );
            }
            _ => {}
        }
        check_arguments(&inst.keyword, &args).or_else(|m| refuse(inst.line, m))?;
    }
    Ok(())
}

/// Each leading `--flag` is one the instruction takes; `--chmod` is a mode.
fn check_flags(inst: &Instruction, allowed: &[&str]) -> Result<(), String> {
    for (word, _) in inst.words.iter().take_while(|(w, _)| w.starts_with("--")) {
        let (name, value) = word[2..].split_once('=').unwrap_or((&word[2..], ""));
        if !allowed.contains(&name) {
            return Err(format!("unknown flag for {}: --{name}", inst.keyword));
        }
        let mode_chars = |c: char| c.is_digit(8) || "ugoarwxXst+-=,".contains(c);
        if name == "chmod" && (value.is_empty() || !value.chars().all(mode_chars)) {
            return Err(format!(
                "invalid --chmod `{value}`: give an octal mode such as 755"
            ));
        }
    }
    Ok(())
}

/// `FROM base [AS name]`, the base not empty once the global ARGs are in.
fn check_from(args: &[&str], globals: &BTreeMap<String, Option<String>>) -> Result<(), String> {
    let named = args.len() == 3 && args[1].eq_ignore_ascii_case("as");
    if !(args.len() == 1 || named) {
        return Err("FROM takes a base image and optionally AS and a stage name".into());
    }
    let base = substitute(args[0], globals);
    if base.is_empty() {
        return Err(format!(
            "FROM {}: the base image is empty (an ARG without a value?)",
            args[0]
        ));
    }
    if base.chars().any(|c| c.is_whitespace() || c == '$') {
        return Err(format!(
            "FROM {}: `{base}` is not an image reference",
            args[0]
        ));
    }
    if named {
        let name = args[2];
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(format!("invalid stage name `{name}`"));
        }
    }
    Ok(())
}

/// The argument counts the builder insists on.
fn check_arguments(keyword: &str, args: &[&str]) -> Result<(), String> {
    let (least, most) = match keyword {
        "ADD" | "COPY" => (2, usize::MAX),
        "WORKDIR" | "STOPSIGNAL" => (1, usize::MAX),
        "ENV" | "LABEL" | "EXPOSE" | "ARG" | "VOLUME" | "USER" | "ONBUILD" | "SHELL" => {
            (1, usize::MAX)
        }
        _ => (0, usize::MAX),
    };
    if args.len() < least || args.len() > most {
        return Err(format!(
            "{keyword} takes at least {least} argument{}",
            if least == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match check(text, &BTreeMap::new()) {
            Err(r) => format!("{}: {}", r.line, r.message),
            Ok(()) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn what_the_builder_refuses_is_refused_with_its_line() {
        assert_eq!(refused(""), "1: the Dockerfile has no instructions");
        assert_eq!(
            refused("# only a comment\n\n"),
            "1: the Dockerfile has no instructions"
        );
        assert_eq!(
            refused("FROM scratch\nFOO bar\n"),
            "2: unknown instruction: FOO"
        );
        assert_eq!(
            refused("COPY . /\nFROM scratch\n"),
            "1: COPY before the first FROM: only ARG may come before it"
        );
        assert!(refused("FROM\n").starts_with("1: FROM takes a base image"));
        assert!(refused("FROM a b\n").starts_with("1: FROM takes a base image"));
        assert!(refused("ARG B\nFROM ${B}\n").contains("2: FROM ${B}: the base image is empty"));
        assert!(refused("FROM scratch\nCOPY --chmod=999z a /\n").contains("invalid --chmod `999z`"));
        assert!(refused("FROM scratch\nCOPY --frobnicate a /\n")
            .contains("unknown flag for COPY: --frobnicate"));
        assert!(refused("FROM scratch\nCOPY a\n").contains("COPY takes at least 2 arguments"));
        assert!(refused("FROM scratch AS 1st\n").contains("invalid stage name `1st`"));
        assert!(refused("# escape=x\nFROM scratch\n").contains("invalid escape token"));
        assert!(refused("root:x:0:0:root:/root:/bin/bash\n").contains("unknown instruction"));
    }

    #[test]
    fn ordinary_dockerfiles_pass() {
        let ok = [
            "FROM scratch\nCOPY . /app/\n",
            "# syntax=docker/dockerfile:1\nARG BASE=python:3.12\nFROM ${BASE} AS build\nRUN --mount=type=cache,target=/root/.cache pip install x\nCOPY --from=build --chmod=755 /a /b\nCOPY --chmod=u+x a /\n",
            "# escape=`\nFROM scratch\nRUN echo a `\n  b\n",
            "FROM scratch\nRUN <<EOF\nFOO this is a heredoc body\nEOF\nCMD [\"x\"]\n",
            "from scratch\ncopy a /\nhealthcheck --interval=5s CMD true\n",
            "FROM --platform=$BUILDPLATFORM scratch\nONBUILD RUN true\n",
        ];
        for text in ok {
            let mut args = BTreeMap::new();
            args.insert("BUILDPLATFORM".to_string(), "linux/amd64".to_string());
            assert_eq!(check(text, &args), Ok(()), "{text}");
        }
    }
}
