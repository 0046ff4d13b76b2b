//! Exit codes, so scripts and service managers can tell failures apart (sysexits.h where one fits).

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done, nothing wrong.
    Success = 0,
    /// `ledger verify` found a violation.
    Violations = 1,
    /// The configuration or the command line is wrong (EX_USAGE).
    Config = 64,
    /// The file to work on does not exist (EX_NOINPUT).
    NoInput = 66,
    /// Reading or writing failed, or the data is damaged (EX_IOERR).
    Io = 74,
    /// The ledger is in use by another process; try again once it stops (EX_TEMPFAIL).
    InUse = 75,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}
