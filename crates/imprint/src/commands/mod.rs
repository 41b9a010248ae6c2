//! The command layer: one file per command that reads its arguments, calls the library, reports.

pub mod build;
pub mod completions;
pub mod deploy;
pub mod doctor;
pub mod gc;
pub mod history;
pub mod iam_policy;
pub mod init;
pub mod inspect;
pub mod lock;
pub mod login;
pub mod preview;
pub mod push;
pub mod rollback;
pub mod run_local;
pub mod status;
pub mod tag;
pub mod verify;
pub mod version;
