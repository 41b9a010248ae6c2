//! `imprint inspect`: what an image holds (layers, Python packages, files that should not
//! ship), read layer by layer as it streams (from the registry or the builder's export), and
//! which packages no handler imports.

mod check;
mod packages;
mod python;
mod reach;
mod read;
mod report;
mod run;
mod scan;
#[cfg(test)]
mod tests;
mod waste;

pub use check::after_build;
pub use read::{Commands, Subject};
pub use report::human;
#[cfg(feature = "fuzzing")]
pub use run::fuzz;
pub use run::inspect;
