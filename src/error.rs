//! The one error type handlers, the store and the writer return. Each error carries the HTTP
//! status, a stable machine-readable code and a message that tells the caller what to do; it
//! becomes `{"error":{"code","message"}}` (plus, for some conflicts, the existing object).
//! Internal details (SQL errors, panics) go to the log, never to the client.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Error {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Values to return next to the error, e.g. the original conversion on a duplicate.
    pub extra: Vec<(&'static str, Value)>,
    /// What went wrong inside, for the log only.
    pub detail: Option<String>,
}

impl Error {
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Error {
        Error { status, code: code.into(), message: message.into(), extra: Vec::new(), detail: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(400, code, message)
    }

    /// 400 `missing_<field>`.
    pub fn missing(field: &str) -> Error {
        Error::new(400, format!("missing_{field}"), format!("`{field}` is required"))
    }

    /// 400 `invalid_<field>` with the reason.
    pub fn invalid(field: &str, reason: impl fmt::Display) -> Error {
        Error::new(400, format!("invalid_{field}"), format!("`{field}` {reason}"))
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(404, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(409, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(401, "unauthorized", message)
    }

    /// 500 for a failure the caller cannot fix; `detail` is logged, not shown.
    pub fn internal(detail: impl Into<String>) -> Error {
        Error {
            detail: Some(detail.into()),
            ..Error::new(500, "internal_error", "the server failed to handle the request; it was logged, retry later")
        }
    }

    /// 503: the write could not be confirmed; nothing was acknowledged, so retrying is safe.
    pub fn unavailable(detail: impl Into<String>) -> Error {
        Error {
            detail: Some(detail.into()),
            ..Error::new(503, "unavailable", "the server could not store this right now; nothing was saved, retry")
        }
    }

    pub fn with_extra(mut self, key: &'static str, value: Value) -> Error {
        self.extra.push((key, value));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        for (key, value) in &self.extra {
            body[*key] = value.clone();
        }
        body
    }
}

/// The message of a caught panic, for the log (a handler's, a write job's, a slow request's).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::unavailable(format!("database busy: {e}"))
            }
            Some(rusqlite::ErrorCode::DiskFull) => Error::unavailable(format!("disk full: {e}")),
            _ => Error::internal(format!("database: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_one_error_shape() {
        let e = Error::missing("external_id");
        assert_eq!(e.status, 400);
        assert_eq!(e.body(), json!({"error": {"code": "missing_external_id", "message": "`external_id` is required"}}));
        let dup = Error::conflict("duplicate_external_id", "exists").with_extra("conversion", json!({"id": 1}));
        assert_eq!(dup.body()["conversion"]["id"], 1);
        assert_eq!(dup.body()["error"]["code"], "duplicate_external_id");
    }

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let e = Error::internal("no such table: secret_stuff");
        assert!(!e.body().to_string().contains("secret_stuff"));
        assert!(e.to_string().contains("secret_stuff"));
    }
}
