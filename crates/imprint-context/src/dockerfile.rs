//! Reading a Dockerfile for the images it names: `FROM` (after global `ARG` substitution,
//! skipping stage names and `scratch`), `COPY --from=<image>`, `RUN --mount=…from=<image>` and
//! the `# syntax=` frontend. Also finds `ADD <url>` (content not hashed) and writes a copy of
//! the Dockerfile with every such reference pinned to a digest.

use std::collections::{BTreeMap, HashSet};

/// Where an external image is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `FROM image`.
    From,
    /// `COPY --from=image`.
    CopyFrom,
    /// `RUN --mount=…,from=image`.
    MountFrom,
    /// `# syntax=image`.
    Syntax,
}

/// One external image reference in a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference after `ARG` substitution, as the builder will pull it.
    pub reference: String,
    /// Where it appears.
    pub kind: RefKind,
    /// 1-based line of the instruction.
    pub line: usize,
    /// Byte range of the reference text (before substitution) in the Dockerfile.
    span: (usize, usize),
}

/// What the Dockerfile names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// External images, in order of appearance (an image named twice appears twice).
    pub images: Vec<ImageRef>,
    /// `ADD` sources that are URLs: the builder fetches them, the hash cannot see them.
    pub remote_adds: Vec<(usize, String)>,
}

impl Dockerfile {
    /// The distinct references, in order of first appearance.
    pub fn references(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.images
            .iter()
            .map(|i| i.reference.as_str())
            .filter(|r| seen.insert(*r))
            .collect()
    }

    /// `text` with every reference replaced by `reference@digest` from `digests` (keyed by
    /// reference); references without a digest stay as they are.
    pub fn pinned(&self, text: &str, digests: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(text.len() + 80 * self.images.len());
        let mut at = 0;
        let mut images: Vec<&ImageRef> = self.images.iter().collect();
        images.sort_by_key(|i| i.span.0);
        for image in images {
            let Some(digest) = digests.get(&image.reference) else {
                continue;
            };
            let (start, end) = image.span;
            out.push_str(&text[at..start]);
            let name = image
                .reference
                .split('@')
                .next()
                .unwrap_or(&image.reference);
            out.push_str(&format!("{name}@{digest}"));
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// One logical instruction: its keyword, its arguments and where they start.
pub(crate) struct Instruction {
    pub(crate) keyword: String,
    pub(crate) line: usize,
    /// (argument text, byte offset in the file) for each whitespace-separated word.
    pub(crate) words: Vec<(String, usize)>,
    /// Everything after the keyword, continuation lines joined, trimmed.
    pub(crate) rest: String,
}

/// Reads `text` with `build_args` overriding the global `ARG` defaults.
pub fn parse(text: &str, build_args: &BTreeMap<String, String>) -> Dockerfile {
    let (directives, body_start) = directives(text);
    let escape = directives
        .get("escape")
        .and_then(|e| e.chars().next())
        .unwrap_or('\\');
    let mut reader = Reader {
        out: Dockerfile::default(),
        build_args,
        globals: BTreeMap::new(),
        stages: HashSet::new(),
        stage_count: 0,
        seen_from: false,
    };
    if let Some(value) = directives.get("syntax") {
        let span_start = text.find(value.as_str()).unwrap_or(0);
        reader.out.images.push(ImageRef {
            reference: value.clone(),
            kind: RefKind::Syntax,
            line: 1,
            span: (span_start, span_start + value.len()),
        });
    }
    for inst in instructions(text, body_start, escape) {
        match inst.keyword.as_str() {
            "ARG" if !reader.seen_from => reader.global_arg(&inst),
            "FROM" => reader.from(&inst),
            "COPY" => reader.copy(&inst),
            "RUN" => reader.run(&inst),
            "ADD" => reader.add(&inst),
            _ => {}
        }
    }
    reader.out
}

/// What reading a Dockerfile's instructions has found so far.
struct Reader<'a> {
    out: Dockerfile,
    /// The `--build-arg` values.
    build_args: &'a BTreeMap<String, String>,
    /// `ARG`s before the first `FROM`, with their values.
    globals: BTreeMap<String, Option<String>>,
    /// Stage names (`FROM … AS name`), lowercase.
    stages: HashSet<String>,
    /// Stages so far (an index names one of them).
    stage_count: usize,
    seen_from: bool,
}

impl Reader<'_> {
    /// `ARG name[=default]` before the first `FROM`: a global, with its build-arg value.
    fn global_arg(&mut self, inst: &Instruction) {
        for (word, _) in &inst.words {
            let (name, default) = match word.split_once('=') {
                Some((n, v)) => (n, Some(unquote(v))),
                None => (word.as_str(), None),
            };
            let value = self.build_args.get(name).cloned().or(default);
            self.globals.insert(name.to_string(), value);
        }
    }

    /// `FROM image [AS name]`: an image unless `scratch` or an earlier stage.
    fn from(&mut self, inst: &Instruction) {
        self.seen_from = true;
        let args: Vec<&(String, usize)> = inst
            .words
            .iter()
            .filter(|(w, _)| !w.starts_with("--"))
            .collect();
        if let Some((raw, offset)) = args.first() {
            let reference = substitute(raw, &self.globals);
            let lower = reference.to_ascii_lowercase();
            if lower != "scratch" && !self.stages.contains(&lower) {
                self.out.images.push(ImageRef {
                    reference,
                    kind: RefKind::From,
                    line: inst.line,
                    span: (*offset, offset + raw.len()),
                });
            }
        }
        if args.len() >= 3 && args[1].0.eq_ignore_ascii_case("as") {
            self.stages.insert(args[2].0.to_ascii_lowercase());
        }
        self.stage_count += 1;
    }

    /// `COPY --from=image`.
    fn copy(&mut self, inst: &Instruction) {
        for (word, offset) in &inst.words {
            if let Some(value) = word.strip_prefix("--from=") {
                let at = offset + "--from=".len();
                self.image_from(value, at, RefKind::CopyFrom, inst.line);
            }
        }
    }

    /// `RUN --mount=…,from=image,…`.
    fn run(&mut self, inst: &Instruction) {
        for (word, offset) in &inst.words {
            let Some(mount) = word.strip_prefix("--mount=") else {
                continue;
            };
            let mut at = offset + "--mount=".len();
            for field in mount.split(',') {
                if let Some(value) = field.strip_prefix("from=") {
                    self.image_from(value, at + "from=".len(), RefKind::MountFrom, inst.line);
                }
                at += field.len() + 1;
            }
        }
    }

    /// `ADD https://…` or `ADD git@…`: remote sources the hash cannot see.
    fn add(&mut self, inst: &Instruction) {
        for (word, _) in inst.words.iter().filter(|(w, _)| !w.starts_with("--")) {
            let lower = word.to_ascii_lowercase();
            if lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("git@")
            {
                self.out.remote_adds.push((inst.line, word.clone()));
            }
        }
    }

    /// An image named by `--from` (at `offset`), unless it names a stage (by name or index)
    /// or `scratch`.
    fn image_from(&mut self, raw: &str, offset: usize, kind: RefKind, line: usize) {
        let reference = substitute(raw, &self.globals);
        let lower = reference.to_ascii_lowercase();
        let is_stage_index = reference
            .parse::<usize>()
            .is_ok_and(|i| i < self.stage_count);
        if reference.is_empty()
            || self.stages.contains(&lower)
            || is_stage_index
            || lower == "scratch"
        {
            return;
        }
        self.out.images.push(ImageRef {
            reference,
            kind,
            line,
            span: (offset, offset + raw.len()),
        });
    }
}

/// Parser directives (`# syntax=…`, `# escape=…`) at the top, and where the body starts.
pub(crate) fn directives(text: &str) -> (BTreeMap<String, String>, usize) {
    let mut found = BTreeMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let Some(rest) = trimmed.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) || found.contains_key(&key) {
            break;
        }
        found.insert(key, value.trim().to_string());
        offset += line.len();
    }
    (found, offset)
}

/// Logical instructions: continuation lines joined, comments and heredoc bodies skipped.
pub(crate) fn instructions(text: &str, start: usize, escape: char) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut offset = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        lines.push((i + 1 + text[..start].matches('\n').count(), offset, line));
        offset += line.len();
    }
    let mut i = 0;
    while i < lines.len() {
        let (line_no, _, line) = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        // Gather the continued lines as (text, offset) pieces.
        let mut pieces: Vec<(&str, usize)> = Vec::new();
        loop {
            let (_, off, l) = lines[i];
            let body = l.trim_end_matches(['\n', '\r']);
            let continued = body.trim_end().ends_with(escape);
            let kept = if continued {
                let t = body.trim_end();
                &t[..t.len() - escape.len_utf8()]
            } else {
                body
            };
            pieces.push((kept, off));
            i += 1;
            if !continued {
                break;
            }
            // Comment and empty lines inside a continuation are dropped.
            while i < lines.len() && {
                let t = lines[i].2.trim();
                t.is_empty() || t.starts_with('#')
            } {
                i += 1;
            }
            if i >= lines.len() {
                break;
            }
        }
        let mut words: Vec<(String, usize)> = Vec::new();
        for (piece, off) in &pieces {
            let mut pos = 0;
            for word in piece.split_whitespace() {
                let at = piece[pos..].find(word).map_or(pos, |p| pos + p);
                words.push((word.to_string(), off + at));
                pos = at + word.len();
            }
        }
        if words.is_empty() {
            continue;
        }
        let keyword = words.remove(0).0.to_ascii_uppercase();
        let joined: String = pieces.iter().map(|(piece, _)| *piece).collect();
        let rest = joined
            .trim_start()
            .split_at(
                joined
                    .trim_start()
                    .find(char::is_whitespace)
                    .unwrap_or(joined.trim_start().len()),
            )
            .1
            .trim()
            .to_string();
        // Heredocs (`RUN <<EOF`): skip their bodies.
        let markers: Vec<String> = words
            .iter()
            .filter_map(|(w, _)| w.strip_prefix("<<"))
            .map(|m| {
                m.trim_start_matches('-')
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_string()
            })
            .filter(|m| !m.is_empty())
            .collect();
        for marker in markers {
            while i < lines.len() && lines[i].2.trim() != marker {
                i += 1;
            }
            i += 1;
        }
        out.push(Instruction {
            keyword,
            line: line_no,
            words,
            rest,
        });
    }
    out
}

pub(crate) fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` from the global ARGs.
pub(crate) fn substitute(text: &str, vars: &BTreeMap<String, Option<String>>) -> String {
    let value = |name: &str| vars.get(name).cloned().flatten();
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                out.push_str(&rest[pos..]);
                return out;
            };
            let expr = &inner[..end];
            let replaced = if let Some((name, default)) = expr.split_once(":-") {
                value(name)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_string())
            } else if let Some((name, alt)) = expr.split_once(":+") {
                value(name)
                    .filter(|v| !v.is_empty())
                    .map(|_| alt.to_string())
                    .unwrap_or_default()
            } else {
                value(expr).unwrap_or_default()
            };
            out.push_str(&replaced);
            rest = &inner[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&value(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str, args: &[(&str, &str)]) -> Vec<(String, RefKind)> {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(text, &args)
            .images
            .into_iter()
            .map(|i| (i.reference, i.kind))
            .collect()
    }

    #[test]
    fn from_with_global_args_defaults_and_overrides() {
        let text = "ARG BASE=public.ecr.aws/lambda/python:3.12\nARG TAG\nFROM ${BASE}\n";
        assert_eq!(
            refs(text, &[]),
            [("public.ecr.aws/lambda/python:3.12".into(), RefKind::From)]
        );
        assert_eq!(
            refs(text, &[("BASE", "127.0.0.1:5000/b:1")]),
            [("127.0.0.1:5000/b:1".into(), RefKind::From)]
        );
        assert_eq!(
            refs("ARG V=3.12\nFROM python:$V-slim AS build\n", &[]),
            [("python:3.12-slim".into(), RefKind::From)]
        );
        assert_eq!(
            refs("ARG X\nFROM ${X:-alpine:3}\n", &[]),
            [("alpine:3".into(), RefKind::From)]
        );
    }

    #[test]
    fn stages_scratch_and_indexes_are_not_images() {
        let text = "FROM --platform=linux/amd64 golang:1 AS Build\nRUN make\nFROM scratch\nCOPY --from=build /out /\nCOPY --from=0 /x /\nCOPY --from=nginx:1 /etc/nginx /n\nFROM build\n";
        assert_eq!(
            refs(text, &[]),
            [
                ("golang:1".into(), RefKind::From),
                ("nginx:1".into(), RefKind::CopyFrom)
            ]
        );
    }

    #[test]
    fn run_mounts_syntax_and_continuations() {
        let text = "# syntax=docker/dockerfile:1.7\n# escape=\\\nFROM alpine:3 AS a\nRUN --mount=type=bind,from=busybox:1,target=/b \\\n    # a comment inside\n    --mount=type=cache,target=/c \\\n    ls /b\nRUN <<EOF\nFROM not-an-instruction:1\nEOF\n";
        assert_eq!(
            refs(text, &[]),
            [
                ("docker/dockerfile:1.7".into(), RefKind::Syntax),
                ("alpine:3".into(), RefKind::From),
                ("busybox:1".into(), RefKind::MountFrom)
            ]
        );
    }

    #[test]
    fn remote_adds_are_found() {
        let d = parse(
            "FROM scratch\nADD https://example.com/x.tgz /x\nADD local.txt /l\n",
            &BTreeMap::new(),
        );
        assert_eq!(
            d.remote_adds,
            [(2, "https://example.com/x.tgz".to_string())]
        );
    }

    #[test]
    fn pinning_replaces_each_reference_in_place() {
        let text = "ARG BASE=reg.io/base:1\nFROM ${BASE} AS b\nFROM reg.io/other:2\nCOPY --from=reg.io/tools:3 /t /t\nCOPY --from=b /x /x\n";
        let d = parse(text, &BTreeMap::new());
        let digests = BTreeMap::from([
            ("reg.io/base:1".to_string(), "sha256:aa".to_string()),
            ("reg.io/tools:3".to_string(), "sha256:cc".to_string()),
        ]);
        assert_eq!(
            d.pinned(text, &digests),
            "ARG BASE=reg.io/base:1\nFROM reg.io/base:1@sha256:aa AS b\nFROM reg.io/other:2\nCOPY --from=reg.io/tools:3@sha256:cc /t /t\nCOPY --from=b /x /x\n"
        );
        assert_eq!(
            d.references(),
            ["reg.io/base:1", "reg.io/other:2", "reg.io/tools:3"]
        );
    }
}
