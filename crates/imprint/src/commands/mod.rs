//! One module per command.

pub mod build;
pub mod lock;
pub mod push;
pub mod tag;
