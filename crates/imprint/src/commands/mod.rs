//! One module per command.

pub mod tag;
