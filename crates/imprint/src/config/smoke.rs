//! Smoke tests: `[deploy.smoke]` maps function names or globs to an event file, with
//! optional expectations of the answer; the event files are read and checked here.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Event files larger than this are refused (Lambda takes 6 MB synchronously).
const MAX_EVENT: u64 = 6 * 1024 * 1024;

/// One `[deploy.smoke]` entry: an event file, or a table with expectations.
#[derive(Debug, Clone)]
pub enum SmokeSpec {
    /// `"name" = "events/healthz.json"`.
    Event(PathBuf),
    /// `"name" = { event = "…", status_code = 200, expect = { … } }`.
    Checked(CheckedSpec),
}

/// A text is the event file; a table is read field by field, so an unknown or misspelt key
/// is named (an untagged enum would only say that nothing matched).
impl<'de> Deserialize<'de> for SmokeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = SmokeSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event file, or a table { event = \"…\", status_code = 200, expect = { … } }")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SmokeSpec, E> {
                Ok(SmokeSpec::Event(PathBuf::from(text)))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SmokeSpec, A::Error> {
                CheckedSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SmokeSpec::Checked)
            }
        }
        deserializer.deserialize_any(Spec)
    }
}

/// A smoke test with expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckedSpec {
    /// The event file, relative to imprint.toml.
    pub event: PathBuf,
    /// The answer's `statusCode` must be this.
    pub status_code: Option<i64>,
    /// The answer must contain this JSON (objects: these keys with these values, recursively).
    pub expect: Option<Value>,
}

/// A smoke test ready to run: which functions, the event, the expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoke {
    /// A function name, or a glob (`*`, `?`) over the names.
    pub functions: String,
    /// The event file as written in imprint.toml (for messages).
    pub event_file: String,
    /// The event.
    pub event: Vec<u8>,
    /// The expected `statusCode`.
    pub status_code: Option<i64>,
    /// The expected JSON subset.
    pub expect: Option<Value>,
}

impl Smoke {
    /// Whether it tests the function `name`.
    pub fn applies_to(&self, name: &str) -> bool {
        glob_match(self.functions.as_bytes(), name.as_bytes())
    }

    /// What is wrong with an answer (`None`: it passes). A `FunctionError` is checked by the
    /// caller; this checks `statusCode` and the expected subset.
    pub fn judge(&self, answer: &[u8]) -> Option<String> {
        if self.status_code.is_none() && self.expect.is_none() {
            return None;
        }
        let Ok(value) = serde_json::from_slice::<Value>(answer) else {
            return Some("the answer is not JSON".into());
        };
        if let Some(want) = self.status_code {
            match value.get("statusCode").and_then(Value::as_i64) {
                Some(got) if got == want => {}
                Some(got) => return Some(format!("statusCode {got}, expected {want}")),
                None => return Some(format!("no statusCode in the answer, expected {want}")),
            }
        }
        if let Some(want) = &self.expect {
            if let Some(path) = missing(want, &value, "") {
                return Some(format!("the answer does not match `expect` at {path}"));
            }
        }
        None
    }
}

/// Where `want` is not contained in `got` (`None`: it is): objects by their keys, everything
/// else equal.
fn missing(want: &Value, got: &Value, at: &str) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().find_map(|(k, v)| {
            let here = format!("{at}.{k}");
            match g.get(k) {
                Some(gv) => missing(v, gv, &here),
                None => Some(here),
            }
        }),
        _ if want == got => None,
        _ => Some(if at.is_empty() { ".".into() } else { at.into() }),
    }
}

/// An event file's bytes: a file (a fifo or a device would block the read, or never end),
/// read once, at most one byte past Lambda's 6 MB so a huge one is refused unread.
fn read_event(path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    let kind = std::fs::metadata(path).map_err(cannot)?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a folder"
        } else {
            "a fifo, socket or device"
        };
        return Err(format!("{shown} is {what}, not a file"));
    }
    let mut event = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_EVENT + 1).read_to_end(&mut event))
        .map_err(cannot)?;
    if event.len() as u64 > MAX_EVENT {
        return Err(format!(
            "{shown} is larger than 6 MB; Lambda takes events up to 6 MB"
        ));
    }
    Ok(event)
}

/// `*` any run of characters, `?` one; everything else itself.
pub(super) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Reads every event file of `section` (relative to `dir`); `Err` names the file and, for
/// bad JSON, the line.
pub fn load(section: &BTreeMap<String, SmokeSpec>, dir: &Path) -> Result<Vec<Smoke>, String> {
    section
        .iter()
        .map(|(functions, spec)| {
            let (file, status_code, expect) = match spec {
                SmokeSpec::Event(file) => (file, None, None),
                SmokeSpec::Checked(c) => (&c.event, c.status_code, c.expect.clone()),
            };
            let path = dir.join(file);
            let shown = file.display().to_string();
            if let Some(code) = status_code.filter(|c| !(100..=599).contains(c)) {
                return Err(format!(
                    "[deploy.smoke] \"{functions}\": status_code = {code} is not an HTTP status (100 to 599)"
                ));
            }
            let event = read_event(&path, &shown)
                .map_err(|why| format!("[deploy.smoke] \"{functions}\": {why}"))?;
            serde_json::from_slice::<Value>(&event).map_err(|e| {
                format!("{shown}:{}: not JSON ({e}); smoke events are JSON", e.line())
            })?;
            Ok(Smoke {
                functions: functions.clone(),
                event_file: shown,
                event,
                status_code,
                expect,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smoke(status_code: Option<i64>, expect: Option<Value>) -> Smoke {
        Smoke {
            functions: "debt-*-function".into(),
            event_file: "events/x.json".into(),
            event: b"{}".to_vec(),
            status_code,
            expect,
        }
    }

    #[test]
    fn globs_pick_functions() {
        let s = smoke(None, None);
        assert!(s.applies_to("debt-healthz-function"));
        assert!(!s.applies_to("debt-healthz-function-2"));
        assert!(glob_match(b"a?c", b"abc") && !glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"exact", b"exact") && !glob_match(b"exact", b"exac"));
    }

    #[test]
    fn answers_are_judged_by_status_code_and_subset() {
        let answer = json!({"statusCode": 200, "body": {"ok": true, "n": 3}, "headers": {}});
        let text = serde_json::to_vec(&answer).unwrap();
        assert_eq!(
            smoke(None, None).judge(b"not json"),
            None,
            "no expectations"
        );
        assert_eq!(smoke(Some(200), None).judge(&text), None);
        assert!(smoke(Some(201), None)
            .judge(&text)
            .unwrap()
            .contains("statusCode 200, expected 201"));
        let subset = Some(json!({"body": {"ok": true}}));
        assert_eq!(smoke(Some(200), subset).judge(&text), None);
        let wrong = Some(json!({"body": {"ok": false}}));
        assert!(smoke(None, wrong)
            .judge(&text)
            .unwrap()
            .contains(".body.ok"));
        assert!(smoke(Some(200), None)
            .judge(b"[1]")
            .unwrap()
            .contains("no statusCode"));
    }

    #[test]
    fn event_files_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.json"), "{\"a\": 1}").unwrap();
        std::fs::write(dir.path().join("bad.json"), "{\n\"a\": }").unwrap();
        let section: BTreeMap<String, SmokeSpec> = toml::from_str(
            "\"f\" = \"ok.json\"\n\"g-*\" = { event = \"ok.json\", status_code = 200, expect = { a = 1 } }\n",
        )
        .unwrap();
        let loaded = load(&section, dir.path()).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[1].expect, Some(json!({"a": 1})));
        let bad: BTreeMap<String, SmokeSpec> = toml::from_str("\"f\" = \"bad.json\"\n").unwrap();
        let err = load(&bad, dir.path()).unwrap_err();
        assert!(err.starts_with("bad.json:2:"), "{err}");
        let gone: BTreeMap<String, SmokeSpec> = toml::from_str("\"f\" = \"nope.json\"\n").unwrap();
        assert!(load(&gone, dir.path()).unwrap_err().contains("nope.json"));
    }

    #[test]
    fn a_fifo_a_folder_a_bad_status_and_a_misspelt_key_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.json"), "{}").unwrap();
        let fifo = dir.path().join("fifo.json");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        std::fs::create_dir(dir.path().join("events")).unwrap();
        let read = |text: &str| {
            let section: BTreeMap<String, SmokeSpec> = toml::from_str(text).unwrap();
            load(&section, dir.path()).unwrap_err()
        };
        // Read without waiting for a writer that never comes.
        assert!(read("f = \"fifo.json\"\n").contains("fifo.json is a fifo"));
        assert!(read("f = \"events\"\n").contains("events is a folder"));
        for code in ["-1", "999", "99"] {
            let err = read(&format!(
                "f = {{ event = \"ok.json\", status_code = {code} }}\n"
            ));
            assert!(err.contains("is not an HTTP status"), "{code}: {err}");
        }
        let typo = toml::from_str::<BTreeMap<String, SmokeSpec>>(
            "f = { event = \"ok.json\", statuscode = 200 }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            typo.contains("unknown field `statuscode`") && typo.contains("status_code"),
            "{typo}"
        );
    }
}
