//! One module per command.

pub mod build;
pub mod deploy;
pub mod doctor;
pub mod history;
pub mod lock;
pub mod login;
pub mod preview;
pub mod push;
pub mod rollback;
pub mod run_local;
pub mod status;
pub mod tag;
