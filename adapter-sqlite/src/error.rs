//! rusqlite errors as the core's failure classes (the core owns the retry policy).

use rusqlite::ErrorCode;
use torpor_core::StoreFailure;

/// Maps a rusqlite error to a [`StoreFailure`] class.
pub(crate) fn classify(err: &rusqlite::Error) -> StoreFailure {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreFailure::Busy,
        Some(ErrorCode::ConstraintViolation) => StoreFailure::Constraint(err.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreFailure::Corrupt(err.to_string())
        }
        _ => StoreFailure::Io(err.to_string()),
    }
}

/// Why the store could not be opened.
#[derive(Debug)]
pub struct OpenError {
    message: String,
    /// Another connection holds the database's lock.
    pub(crate) locked: bool,
}

impl OpenError {
    pub(crate) fn plain(message: String) -> Self {
        Self {
            message,
            locked: false,
        }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpenError {}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        Self {
            locked: matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            message: e.to_string(),
        }
    }
}
