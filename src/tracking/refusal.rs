//! Refusals: why a report (a conversion, a customer tie) is not recorded, and of which kind,
//! so that a caller that must tell the kinds apart (a shop's hook log) reads it from the type.
//! Pure.
//!
//! Architecture Invariant: a refusal is never a failure of the store; those stay plain
//! `Error`s beside it (`store::WriteError`).

use crate::error::Error;

/// Why a report (a conversion, a customer tie) is not recorded: the error to answer with, and
/// which of the two kinds of refusal it is. A shop's hook logs a sale nobody referred as
/// `unattributed` and a wrong report as `rejected`; every other caller only answers the error.
/// A refusal is never a failure of the store: those are plain `Error`s beside it.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub reason: Reason,
    pub error: Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Nothing the report names leads to an affiliate: no key, or none that resolves.
    Unattributed,
    /// The report is wrong, or cannot be recorded as it stands.
    Rejected,
}

impl Refusal {
    pub fn unattributed(error: Error) -> Refusal {
        Refusal { reason: Reason::Unattributed, error }
    }

    pub fn rejected(error: Error) -> Refusal {
        Refusal { reason: Reason::Rejected, error }
    }
}

impl std::ops::Deref for Refusal {
    type Target = Error;

    fn deref(&self) -> &Error {
        &self.error
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Error {
        refusal.error
    }
}
