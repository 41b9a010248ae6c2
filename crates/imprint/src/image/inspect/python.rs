//! What a Python source imports, read statically: `import`, `from … import`,
//! `importlib.import_module("literal")` and `__import__("literal")`, relative imports, and the
//! calls whose module name is computed (which static reading cannot follow).

use serde::{Deserialize, Serialize};

/// One import a module makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// Leading dots of a relative import (0: absolute).
    pub level: u8,
    /// The dotted module after the dots (empty for `from . import x`).
    pub module: String,
    /// The names of `from … import a, b` (each may be a submodule), empty for `import m`.
    pub names: Vec<String>,
}

/// What one source file imports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imports {
    /// Every import it makes, anywhere in the file (a function's body too).
    pub imports: Vec<Import>,
    /// Lines of `import_module(…)` / `__import__(…)` calls with a computed module name.
    pub computed: Vec<u32>,
    /// String literals shaped like a module name, kept only when there is a computed import
    /// (a name the computed call may be given).
    pub literals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(String),
    /// A string literal: its text (`None` for an f-string, which is computed).
    Str(Option<String>),
    Op(u8),
    /// The end of a logical line.
    End,
}

/// The imports of a Python source (bytes that are not UTF-8 are read lossily).
pub fn imports(source: &[u8]) -> Imports {
    let text = String::from_utf8_lossy(source);
    let tokens = tokenize(&text);
    let mut out = Imports::default();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = i == 0 || matches!(tokens[i - 1].0, Token::End | Token::Op(b';' | b':'));
        match &tokens[i].0 {
            Token::Name(n) if starts && n == "import" => i = plain_import(&tokens, i + 1, &mut out),
            Token::Name(n) if starts && n == "from" => i = from_import(&tokens, i + 1, &mut out),
            Token::Name(n) if n == "import_module" || n == "__import__" => {
                let defined = i > 0 && matches!(&tokens[i - 1].0, Token::Name(d) if d == "def");
                if !defined {
                    call_import(&tokens, i, &mut out);
                }
                i += 1;
            }
            Token::Str(Some(s)) => {
                if is_module_name(s) {
                    literals.push(s.clone());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !out.computed.is_empty() {
        literals.sort();
        literals.dedup();
        out.literals = literals;
    }
    out
}

fn is_module_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// A dotted name from `i`: the name and the index after it.
fn dotted(tokens: &[(Token, u32)], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some((Token::Name(part), _)) = tokens.get(i) {
        name.push_str(part);
        i += 1;
        if matches!(tokens.get(i), Some((Token::Op(b'.'), _)))
            && matches!(tokens.get(i + 1), Some((Token::Name(_), _)))
        {
            name.push('.');
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

/// Skips `as NAME`.
fn skip_alias(tokens: &[(Token, u32)], i: usize) -> usize {
    match tokens.get(i) {
        Some((Token::Name(a), _)) if a == "as" => i + 2,
        _ => i,
    }
}

/// `import a.b as c, d`
fn plain_import(tokens: &[(Token, u32)], mut i: usize, out: &mut Imports) -> usize {
    loop {
        let (module, next) = dotted(tokens, i);
        if module.is_empty() {
            return next.max(i + 1);
        }
        out.imports.push(Import {
            level: 0,
            module,
            names: Vec::new(),
        });
        i = skip_alias(tokens, next);
        match tokens.get(i) {
            Some((Token::Op(b','), _)) => i += 1,
            _ => return i,
        }
    }
}

/// `from ..a.b import (c as d, e)`
fn from_import(tokens: &[(Token, u32)], mut i: usize, out: &mut Imports) -> usize {
    let mut level = 0u8;
    while let Some((Token::Op(b'.'), _)) = tokens.get(i) {
        level = level.saturating_add(1);
        i += 1;
    }
    let (module, next) = match tokens.get(i) {
        Some((Token::Name(n), _)) if n == "import" => (String::new(), i),
        _ => dotted(tokens, i),
    };
    i = next;
    if !matches!(tokens.get(i), Some((Token::Name(n), _)) if n == "import") {
        return i.max(1);
    }
    i += 1;
    let mut names = Vec::new();
    let parenthesized = matches!(tokens.get(i), Some((Token::Op(b'('), _)));
    if parenthesized {
        i += 1;
    }
    loop {
        match tokens.get(i) {
            Some((Token::Name(name), _)) => {
                names.push(name.clone());
                i = skip_alias(tokens, i + 1);
            }
            Some((Token::Op(b'*'), _)) => i += 1,
            _ => break,
        }
        match tokens.get(i) {
            Some((Token::Op(b','), _)) => i += 1,
            _ => break,
        }
    }
    if parenthesized && matches!(tokens.get(i), Some((Token::Op(b')'), _))) {
        i += 1;
    }
    out.imports.push(Import {
        level,
        module,
        names,
    });
    i
}

/// `import_module("a.b")`, `import_module(".b", "pkg")`, `__import__("a")`: a literal name is
/// an import; anything else is a computed one.
fn call_import(tokens: &[(Token, u32)], i: usize, out: &mut Imports) {
    if !matches!(tokens.get(i + 1), Some((Token::Op(b'('), _))) {
        return;
    }
    let line = tokens[i].1;
    let literal = match (tokens.get(i + 2), tokens.get(i + 3)) {
        (Some((Token::Str(Some(name)), _)), Some((Token::Op(b')' | b','), _))) => name,
        _ => {
            out.computed.push(line);
            return;
        }
    };
    let level = literal.chars().take_while(|&c| c == '.').count();
    let rest = &literal[level..];
    if level == 0 {
        if is_module_name(rest) {
            out.imports.push(Import {
                level: 0,
                module: rest.to_string(),
                names: Vec::new(),
            });
        } else {
            out.computed.push(line);
        }
        return;
    }
    // Relative: against a literal package argument, else the module's own package.
    let package = match (tokens.get(i + 3), tokens.get(i + 4)) {
        (Some((Token::Op(b','), _)), Some((Token::Str(Some(p)), _))) if is_module_name(p) => {
            Some(p.clone())
        }
        _ => None,
    };
    let module = match package {
        Some(package) if level == 1 => Import {
            level: 0,
            module: if rest.is_empty() {
                package
            } else {
                format!("{package}.{rest}")
            },
            names: Vec::new(),
        },
        _ => Import {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            module: rest.to_string(),
            names: Vec::new(),
        },
    };
    out.imports.push(module);
}

/// Python's tokens, as far as imports need them: names, string literals, single-character
/// operators, logical line ends (newlines outside brackets); comments and continuations gone.
fn tokenize(text: &str) -> Vec<(Token, u32)> {
    let bytes = text.as_bytes();
    let (mut tokens, mut i, mut line, mut depth) = (Vec::new(), 0usize, 1u32, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                if depth == 0 && !matches!(tokens.last(), None | Some((Token::End, _))) {
                    tokens.push((Token::End, line));
                }
                line += 1;
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => {
                line += 1;
                i += 2;
            }
            b'\'' | b'"' => {
                let (token, next, lines) = string(bytes, i, false, false);
                tokens.push((token, line));
                line += lines;
                i = next;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &text[start..i];
                let quote = bytes.get(i).is_some_and(|&q| q == b'\'' || q == b'"');
                if quote && word.len() <= 2 && word.chars().all(|c| "rRbBuUfF".contains(c)) {
                    let raw = word.contains(['r', 'R']);
                    let formatted = word.contains(['f', 'F']);
                    let (token, next, lines) = string(bytes, i, raw, formatted);
                    tokens.push((token, line));
                    line += lines;
                    i = next;
                } else {
                    tokens.push((Token::Name(word.to_string()), line));
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                tokens.push((Token::Op(c), line));
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                tokens.push((Token::Op(c), line));
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => i += 1,
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push((Token::Op(b'0'), line));
            }
            _ => {
                tokens.push((Token::Op(c), line));
                i += 1;
            }
        }
    }
    tokens
}

/// The string literal whose quote is at `start`: the token, the index after it, and the
/// newlines it spans.
fn string(bytes: &[u8], start: usize, raw: bool, formatted: bool) -> (Token, usize, u32) {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let open = if triple { 3 } else { 1 };
    let (mut i, mut lines) = (start + open, 0u32);
    let mut text = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && i + 1 < bytes.len() {
            if bytes[i + 1] == b'\n' {
                lines += 1;
            }
            if raw {
                text.extend_from_slice(&bytes[i..i + 2]);
            }
            i += 2;
            continue;
        }
        if c == quote && (!triple || bytes[i..].starts_with(&[quote, quote, quote])) {
            i += open;
            let token = if formatted {
                Token::Str(None)
            } else {
                Token::Str(Some(String::from_utf8_lossy(&text).into_owned()))
            };
            return (token, i, lines);
        }
        if c == b'\n' {
            lines += 1;
            if !triple {
                break;
            }
        }
        text.push(c);
        i += 1;
    }
    (Token::Str(None), i, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(source: &str) -> Vec<(u8, String, Vec<String>)> {
        imports(source.as_bytes())
            .imports
            .into_iter()
            .map(|i| (i.level, i.module, i.names))
            .collect()
    }

    fn m(level: u8, module: &str, names: &[&str]) -> (u8, String, Vec<String>) {
        (
            level,
            module.into(),
            names.iter().map(|n| n.to_string()).collect(),
        )
    }

    #[test]
    fn statements_of_every_form_are_read() {
        let source = "import os, a.b as c\nfrom x.y import (p,\n  q as r)\nfrom . import s\nfrom ..t import *\ndef f():\n    import inner\nif 1: import one; import two\ntry:\n    from lazy import z  # comment import no\nexcept ImportError:\n    pass\n";
        assert_eq!(
            modules(source),
            vec![
                m(0, "os", &[]),
                m(0, "a.b", &[]),
                m(0, "x.y", &["p", "q"]),
                m(1, "", &["s"]),
                m(2, "t", &[]),
                m(0, "inner", &[]),
                m(0, "one", &[]),
                m(0, "two", &[]),
                m(0, "lazy", &["z"]),
            ]
        );
    }

    #[test]
    fn strings_comments_and_other_froms_are_not_imports() {
        let source = "x = 'import fake'\ny = \"\"\"\nimport doc\nfrom doc import x\n\"\"\"\n# import c\nraise E from err\nyield_ = (yield from g)\nz = r'\\'import q'\n";
        assert_eq!(modules(source), vec![]);
    }

    #[test]
    fn literal_calls_are_imports_and_computed_ones_are_said_with_the_names_nearby() {
        let source = "import importlib\nm = importlib.import_module('pkg.mod')\nn = __import__(\"other\")\nr = importlib.import_module('.sub', 'base')\ns = importlib.import_module('.near', __package__)\nplugin = os.environ.get('CODEC', 'six')\nc = importlib.import_module(plugin)\nd = importlib.import_module(f'x{plugin}')\n";
        let got = imports(source.as_bytes());
        let names: Vec<_> = got.imports.iter().map(|i| (i.level, &*i.module)).collect();
        assert_eq!(
            names,
            vec![
                (0, "importlib"),
                (0, "pkg.mod"),
                (0, "other"),
                (0, "base.sub"),
                (1, "near"),
            ]
        );
        assert_eq!(got.computed, vec![7, 8]);
        assert!(got.literals.contains(&"six".to_string()), "{got:?}");
        assert!(got.literals.contains(&"CODEC".to_string()));
    }

    #[test]
    fn a_definition_of_import_module_is_no_call_and_no_computed_import_keeps_no_literals() {
        let got = imports(b"def import_module(name):\n    return name\nx = 'requests'\n");
        assert_eq!(got, Imports::default());
    }

    #[test]
    fn continuations_and_brackets_keep_one_logical_line() {
        let source = "from a import \\\n    b\nx = [\n  1,\n]; import c\n";
        assert_eq!(modules(source), vec![m(0, "a", &["b"]), m(0, "c", &[])]);
    }
}
