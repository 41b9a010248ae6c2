//! The words of an instruction as docker reads them: split at whitespace outside quotes,
//! quotes and `\` escapes removed, and `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`,
//! `${NAME:+word}` and `${NAME+word}` expanded (not inside single quotes; an expansion is
//! never split again).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::Chars;

/// The variables an instruction sees (`None`: declared without a value).
pub(crate) struct Vars<'a> {
    map: &'a BTreeMap<String, Option<String>>,
}

impl<'a> Vars<'a> {
    pub(crate) fn new(map: &'a BTreeMap<String, Option<String>>) -> Self {
        Self { map }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(|v| v.as_deref())
    }
}

/// Reads one instruction's text.
pub(crate) struct Lexer<'a, 'v> {
    chars: Peekable<Chars<'a>>,
    vars: &'v Vars<'v>,
}

impl<'a, 'v> Lexer<'a, 'v> {
    pub(crate) fn new(text: &'a str, vars: &'v Vars<'v>) -> Self {
        Self {
            chars: text.chars().peekable(),
            vars,
        }
    }

    /// Every word.
    pub(crate) fn words(mut self) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        while let Some(word) = self.next_word(true)? {
            words.push(word);
        }
        Ok(words)
    }

    /// The whole text as one word (whitespace kept).
    pub(crate) fn word(mut self) -> Result<String, String> {
        Ok(self.next_word(false)?.unwrap_or_default())
    }

    fn next_word(&mut self, split: bool) -> Result<Option<String>, String> {
        if split {
            while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
        }
        let mut word = String::new();
        let mut any = false;
        while let Some(&c) = self.chars.peek() {
            if split && c.is_whitespace() {
                break;
            }
            self.chars.next();
            any = true;
            match c {
                '\'' => loop {
                    match self.chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a quote `'` is not closed".into()),
                    }
                },
                '"' => loop {
                    match self.chars.next() {
                        Some('"') => break,
                        Some('\\') => match self.chars.next() {
                            Some(c @ ('"' | '\\' | '$')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a quote `\"` is not closed".into()),
                        },
                        Some('$') => word.push_str(&self.dollar()?),
                        Some(c) => word.push(c),
                        None => return Err("a quote `\"` is not closed".into()),
                    }
                },
                '\\' => match self.chars.next() {
                    Some(c) => word.push(c),
                    None => word.push('\\'),
                },
                '$' => word.push_str(&self.dollar()?),
                c => word.push(c),
            }
        }
        Ok(any.then_some(word))
    }

    /// What follows a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        if self.chars.next_if_eq(&'{').is_some() {
            let mut name = String::new();
            while let Some(c) = self
                .chars
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                name.push(c);
            }
            let mut modifier = String::new();
            while let Some(c) = self.chars.next_if(|c| matches!(c, ':' | '-' | '+')) {
                modifier.push(c);
                if c != ':' {
                    break;
                }
            }
            let mut word = String::new();
            let mut depth = 0;
            loop {
                match self.chars.next() {
                    Some('}') if depth == 0 => break,
                    Some(c) => {
                        depth += usize::from(c == '{');
                        depth -= usize::from(c == '}' && depth > 0);
                        word.push(c);
                    }
                    None => return Err(format!("`${{{name}` is not closed")),
                }
            }
            if name.is_empty() {
                return Err(format!("`${{{modifier}{word}}}` names no variable"));
            }
            let value = self.vars.get(&name);
            let alternative = || Lexer::new(&word, self.vars).word();
            return match modifier.as_str() {
                "" if word.is_empty() => Ok(value.unwrap_or_default().to_string()),
                ":-" => match value.filter(|v| !v.is_empty()) {
                    Some(v) => Ok(v.to_string()),
                    None => alternative(),
                },
                "-" => match value {
                    Some(v) => Ok(v.to_string()),
                    None => alternative(),
                },
                ":+" => match value.filter(|v| !v.is_empty()) {
                    Some(_) => alternative(),
                    None => Ok(String::new()),
                },
                "+" => match value {
                    Some(_) => alternative(),
                    None => Ok(String::new()),
                },
                _ => Err(format!(
                    "`${{{name}{modifier}{word}}}`: the native builder expands ${{NAME}}, ${{NAME:-word}} and ${{NAME:+word}}"
                )),
            };
        }
        let mut name = String::new();
        while let Some(c) = self
            .chars
            .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            name.push(c);
        }
        Ok(match name.is_empty() {
            true => "$".to_string(),
            false => self.vars.get(&name).unwrap_or_default().to_string(),
        })
    }
}
