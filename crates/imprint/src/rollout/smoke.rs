//! Smoke tests before any traffic moves: every new version whose function a `[deploy.smoke]`
//! entry names is invoked with its event, concurrently, and judged (no `FunctionError`, the
//! expected `statusCode` and JSON).

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use crate::config::Smoke;
use crate::journal::SmokeResult;
use crate::lambda::{self, Lambda};
use crate::reporter::Reporter;

/// How much of an answer is kept in the report and the journal.
const ANSWER_KEPT: usize = 1024;
/// How many lines of a failed test's log tail are kept.
const LOG_LINES_KEPT: usize = 20;
/// Smoke tests run at once at most (Invoke is not paced: each one is a run of the function,
/// against the account's concurrency).
const PARALLEL_TESTS: usize = 50;

/// Runs every smoke test on `versions` (function, new version), at most `concurrency` (and
/// [`PARALLEL_TESTS`]) at once; one result per test run.
/// An entry that names none of the functions is said, not skipped silently.
pub async fn run(
    client: &Lambda,
    versions: &[(&str, &str)],
    smoke: &[Smoke],
    concurrency: usize,
    reporter: &dyn Reporter,
) -> Vec<SmokeResult> {
    for s in smoke {
        if !versions.iter().any(|(f, _)| s.applies_to(f)) {
            reporter.warn(&format!(
                "[deploy.smoke] \"{}\" names none of the functions deployed; its test is not run",
                s.functions
            ));
        }
    }
    let tests: Vec<(&str, &str, &Smoke)> = versions
        .iter()
        .flat_map(|&(f, v)| {
            smoke
                .iter()
                .filter(move |s| s.applies_to(f))
                .map(move |s| (f, v, s))
        })
        .collect();
    if !tests.is_empty() {
        reporter.step(&format!(
            "smoke tests: {} invocation{} of the new versions (no traffic moved yet)",
            tests.len(),
            if tests.len() == 1 { "" } else { "s" }
        ));
    }
    stream::iter(tests.into_iter().map(|(function, version, s)| async move {
        let started = Instant::now();
        let result = test(client, function, version, s).await;
        if result.passed {
            reporter.step(&format!(
                "  passed    {function} ({}, {:.1} s)",
                s.event_file,
                started.elapsed().as_secs_f64()
            ));
        } else {
            reporter.step(&format!(
                "  smoke-failed {function} ({}): {}",
                s.event_file,
                result.error.as_deref().unwrap_or("failed")
            ));
            if let Some(answer) = &result.answer {
                reporter.step(&format!("    answer: {answer}"));
            }
            for line in result.log_tail.iter().flat_map(|t| t.lines()) {
                reporter.step(&format!("    log: {line}"));
            }
        }
        result
    }))
    .buffer_unordered(concurrency.clamp(1, PARALLEL_TESTS))
    .collect()
    .await
}

/// One invocation, judged.
async fn test(client: &Lambda, function: &str, version: &str, smoke: &Smoke) -> SmokeResult {
    let mut result = SmokeResult {
        function: function.to_string(),
        version: version.to_string(),
        event: smoke.event_file.clone(),
        passed: false,
        error: None,
        answer: None,
        log_tail: None,
    };
    let answer = match lambda::invoke(client, function, version, &smoke.event).await {
        Ok(answer) => answer,
        Err(e) => {
            result.error = Some(format!("{e:#}"));
            return result;
        }
    };
    result.answer = Some(shorten(&answer.payload));
    result.error = match &answer.function_error {
        Some(kind) => Some(format!("the function failed ({kind})")),
        None => smoke.judge(&answer.payload),
    };
    result.passed = result.error.is_none();
    if !result.passed {
        result.log_tail = answer.log_tail.as_deref().map(last_lines);
    }
    result
}

/// The answer as text, cut to [`ANSWER_KEPT`] bytes (on a character boundary).
fn shorten(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    if text.len() <= ANSWER_KEPT {
        return text.into_owned();
    }
    let mut end = ANSWER_KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], payload.len())
}

fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES_KEPT)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_logs_are_cut_to_size() {
        assert_eq!(shorten(b"{\"ok\":true}"), "{\"ok\":true}");
        let long = "é".repeat(1000);
        let cut = shorten(long.as_bytes());
        assert!(cut.ends_with("(2000 bytes in all)"), "{cut}");
        assert!(cut.len() < 1100);
        let log: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = last_lines(&log);
        assert!(
            tail.starts_with("line 10") && tail.ends_with("line 29"),
            "{tail}"
        );
    }
}
