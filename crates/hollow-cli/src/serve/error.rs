//! What a request can get wrong, and how it is answered: a JSON error under `/api/`, a page
//! elsewhere, with 400 (malformed), 404 (unknown type, key, version, index, page) or 503 (no
//! version served yet, the store failing). Never a 500 with a stack trace.

use axum::http::StatusCode;
use hollow::{LookupError, RefreshError};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The request is malformed (a bad number, a missing parameter, a bad key value).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown type, key, version, index or page.
    #[error("{0}")]
    NotFound(String),
    /// Nothing served yet, or the store or a blob failed.
    #[error("{0}")]
    Unavailable(String),
}

impl PageError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short title for the page.
    pub fn title(&self) -> &'static str {
        match self {
            PageError::BadRequest(_) => "Bad request",
            PageError::NotFound(_) => "Not found",
            PageError::Unavailable(_) => "Unavailable",
        }
    }
}

impl From<LookupError> for PageError {
    fn from(e: LookupError) -> Self {
        let message = hollow::error_chain(&e);
        match e {
            LookupError::UnknownType { .. }
            | LookupError::UnknownField { .. }
            | LookupError::UnknownIndex { .. } => PageError::NotFound(message),
            LookupError::InvalidKey { .. } | LookupError::Schema(_) => {
                PageError::BadRequest(message)
            }
            _ => PageError::Unavailable(message),
        }
    }
}

impl From<RefreshError> for PageError {
    fn from(e: RefreshError) -> Self {
        let message = hollow::error_chain(&e);
        match e {
            RefreshError::NoSuchVersion { .. } => PageError::NotFound(message),
            _ => PageError::Unavailable(message),
        }
    }
}

impl From<hollow::Error> for PageError {
    fn from(e: hollow::Error) -> Self {
        match e {
            hollow::Error::Lookup(l) => l.into(),
            hollow::Error::Refresh(r) => r.into(),
            other => PageError::Unavailable(hollow::error_chain(&other)),
        }
    }
}

impl From<hollow::StoreError> for PageError {
    fn from(e: hollow::StoreError) -> Self {
        PageError::Unavailable(hollow::error_chain(&e))
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::Unavailable(format!("{e:#}"))
    }
}

/// The JSON body of an error: `{"error":{"status":404,"message":"…"}}`.
#[derive(serde::Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// See [`ErrorBody`].
#[derive(serde::Serialize)]
pub struct ErrorDetail<'a> {
    pub status: u16,
    pub message: &'a str,
}
