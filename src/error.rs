//! The one error type of the binary; `main` maps it to an exit status.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A bad setting: one line naming the variable (never a secret's value).
    Config(String),
    /// The data directory or a store in it cannot be used.
    Store(String),
    /// An I/O failure with what we were doing.
    Io(String, std::io::Error),
    /// A bad command line.
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Store(m) => write!(f, "{m}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Usage(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
