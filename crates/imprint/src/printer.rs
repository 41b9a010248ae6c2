//! Output: data on stdout, everything else on stderr, colour only on a terminal without
//! `NO_COLOR`, progress bars only on a terminal. The printer is the library's `Reporter`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{ExitStatus, Failure};
use crate::reporter::{Meter, Reporter};

/// How loud stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Warnings and notes.
    Normal,
    /// `-v`.
    Verbose,
    /// `-vv`.
    Debug,
}

/// Writes results and messages.
#[derive(Debug, Clone)]
pub struct Printer {
    /// `--json`.
    json: bool,
    /// Loudness.
    pub verbosity: Verbosity,
    color: bool,
}

impl Printer {
    /// A printer for this process's stdout and stderr.
    pub fn new(json: bool, verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            json,
            verbosity,
            color,
        }
    }

    fn label(&self, text: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[{ansi}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// `error: …` and `hint: …` (always shown).
    pub fn error(&self, message: &str, hint: Option<&str>) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}: {message}", self.label("error", "1;31"));
        if let Some(hint) = hint {
            let _ = writeln!(err, "{}: {hint}", self.label("hint", "1;36"));
        }
    }

    /// Bars and spinners go to stderr unless quiet (indicatif hides them off a terminal).
    fn draw_target(&self) -> ProgressDrawTarget {
        if self.verbosity >= Verbosity::Normal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// `warning: …`.
    pub fn warn(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {message}",
                self.label("warning", "1;33")
            );
        }
    }

    /// `note: …`.
    pub fn note(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {message}",
                self.label("note", "1;32")
            );
        }
    }

    /// A progress line on stderr (one per finished step, so logs read well too).
    pub fn step(&self, text: &str) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// The exit status of a command whose report is printed: success, or what failed said
    /// after it (`error:` and `hint:`).
    pub fn conclude(&self, failure: Option<Failure>) -> ExitStatus {
        match failure {
            None => ExitStatus::Success,
            Some(failure) => {
                self.error(&failure.message, Some(&failure.hint));
                ExitStatus::Failure
            }
        }
    }

    /// A line of data on stdout.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// A command's result on stdout: pretty JSON with `--json`, else its text (nothing when
    /// the text is empty).
    pub fn report(
        &self,
        report: &(impl serde::Serialize + std::fmt::Display),
    ) -> anyhow::Result<()> {
        if self.json {
            let text = serde_json::to_string_pretty(report)?;
            self.data(&text)?;
        } else {
            let text = report.to_string();
            if !text.is_empty() {
                self.data(&text)?;
            }
        }
        Ok(())
    }
}

/// The library's messages on stderr at the chosen loudness; its meters as progress bars on a
/// terminal.
impl Reporter for Printer {
    fn warn(&self, message: &str) {
        Printer::warn(self, message);
    }

    fn note(&self, message: &str) {
        Printer::note(self, message);
    }

    fn step(&self, message: &str) {
        Printer::step(self, message);
    }

    fn detail(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            let _ = writeln!(std::io::stderr().lock(), "{message}");
        }
    }

    /// A counting bar on stderr (hidden off a terminal or when quiet), and its last count as
    /// a line (unless quiet).
    fn count(&self, what: &str, total: u64) -> Arc<dyn Meter> {
        let bar = ProgressBar::with_draw_target(Some(total), self.draw_target());
        let style =
            ProgressStyle::with_template("  {msg} {bar:30} {pos}/{len} ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_string());
        Arc::new(Bar {
            bar,
            what: what.to_string(),
            every_line: self.verbosity >= Verbosity::Verbose,
            count: Some(Count {
                started: Instant::now(),
                summary: self.verbosity >= Verbosity::Normal,
                finished: AtomicBool::new(false),
            }),
        })
    }

    /// A byte-count progress bar on stderr; hidden off a terminal or when quiet.
    fn bytes(&self, what: &'static str) -> Arc<dyn Meter> {
        let bar = ProgressBar::with_draw_target(Some(0), self.draw_target());
        let style = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what);
        Arc::new(Bar {
            bar,
            what: what.to_string(),
            every_line: false,
            count: None,
        })
    }

    /// A spinner with the program's latest line on stderr (every line above it with `-v`);
    /// hidden off a terminal or when quiet.
    fn lines(&self, what: &'static str) -> Arc<dyn Meter> {
        let bar = ProgressBar::with_draw_target(None, self.draw_target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Arc::new(Bar {
            bar,
            what: what.to_string(),
            every_line: self.verbosity >= Verbosity::Verbose,
            count: None,
        })
    }
}

/// A progress bar or spinner on stderr.
struct Bar {
    bar: ProgressBar,
    what: String,
    /// Print every line said (`-v`), not only show the latest.
    every_line: bool,
    /// A count of items: each item's line is its own (never the bar's message), and the
    /// count it ends at is a line.
    count: Option<Count>,
}

/// How a counting bar ends.
struct Count {
    started: Instant,
    /// Print the last count (unless quiet).
    summary: bool,
    finished: AtomicBool,
}

impl Meter for Bar {
    fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    fn grow(&self, more: u64) {
        self.bar.inc_length(more);
    }

    fn advance(&self, done: u64) {
        self.bar.inc(done);
    }

    fn line(&self, line: &str) {
        if self.every_line {
            self.bar.suspend(|| eprintln!("  {line}"));
        }
        if self.count.is_none() {
            let shown: String = line.chars().take(100).collect();
            self.bar.set_message(format!("{}: {shown}", self.what));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        let Some(count) = &self.count else { return };
        if count.summary && !count.finished.swap(true, Ordering::SeqCst) {
            let seconds = count.started.elapsed().as_secs_f64();
            let done = self.bar.position();
            let _ = writeln!(
                std::io::stderr().lock(),
                "  {} {done}/{} in {seconds:.1} s ({:.1} a second)",
                self.what,
                self.bar.length().unwrap_or(done),
                done as f64 / seconds.max(0.001)
            );
        }
    }
}
