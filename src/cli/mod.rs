//! Subcommands, one file each, with the help text beside the code it describes.

pub mod backup;
pub mod bootstrap;
pub mod check;
pub mod install;
pub mod keys;
pub mod migrate;
pub mod postback_url;
pub mod restore;
pub mod serve;
pub mod verify_statement;

use std::process::ExitCode;

/// What a subcommand returns: success, or a message for stderr and an exit code.
pub type Outcome = Result<(), Failure>;

pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// A runtime failure (exit code 1).
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 1 }
    }

    /// Wrong usage (exit code 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 2 }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::runtime(message)
    }
}

pub fn exit(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("affiliated: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
