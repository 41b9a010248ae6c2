//! One module per command.

pub mod build;
pub mod deploy;
pub mod lock;
pub mod login;
pub mod push;
pub mod status;
pub mod tag;
