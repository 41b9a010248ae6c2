//! How the library tells the user what it does: a `Reporter` (notes, warnings, steps, and
//! `Meter`s for long work) that the commands' printer implements. Below `commands/`, nothing
//! writes to the terminal.

use std::sync::Arc;

/// Where the library's messages and progress go.
pub trait Reporter: Send + Sync {
    /// Something the user should know (`note:`).
    fn note(&self, message: &str);
    /// Something that may be wrong but does not stop the run (`warning:`).
    fn warn(&self, message: &str);
    /// One finished step of a long operation, a line of its progress.
    fn step(&self, message: &str);
    /// A line about one item of many (a function of hundreds): shown with `-v` only.
    fn detail(&self, message: &str);
    /// A meter counting `total` items (functions updated, versions published): its rate and
    /// what is left while it runs (on a terminal), a line when it finishes; each item's own
    /// line (`Meter::line`) with `-v` only.
    fn count(&self, what: &str, total: u64) -> Arc<dyn Meter>;
    /// A meter of bytes (hashing, pushing): its total grows as work is found.
    fn bytes(&self, what: &'static str) -> Arc<dyn Meter>;
    /// A meter of a program's output (a build): its latest line, or every line when the user
    /// asked for them (`-v`).
    fn lines(&self, what: &'static str) -> Arc<dyn Meter>;
}

/// The progress of one long operation.
pub trait Meter: Send + Sync {
    /// The work to do is `total` bytes.
    fn set_total(&self, total: u64);
    /// `more` bytes of work were found.
    fn grow(&self, more: u64);
    /// `done` more bytes are done.
    fn advance(&self, done: u64);
    /// A program said `line`.
    fn line(&self, line: &str);
    /// The operation is over: the meter goes away.
    fn finish(&self);
}
