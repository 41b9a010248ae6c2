//! One module per command.

pub mod build;
pub mod push;
pub mod tag;
