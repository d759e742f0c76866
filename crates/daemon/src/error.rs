//! Errors of the daemon and how they map to HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

/// Why a daemon operation failed.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The configuration is unusable.
    #[error("config: {0}")]
    Config(String),
    /// The request is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// No torrent has that id or hash.
    #[error("no torrent {0}")]
    NotFound(String),
    /// The torrent is already there.
    #[error("torrent {hash} is already added (id {id})")]
    Duplicate {
        /// Its id.
        id: u64,
        /// Its info-hash.
        hash: String,
    },
    /// The engine does not do this yet.
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    /// The state directory or the disk failed.
    #[error("{0}")]
    Io(String),
    /// The engine refused.
    #[error(transparent)]
    Engine(#[from] shoal_engine::EngineError),
}

impl DaemonError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            DaemonError::BadRequest(_) | DaemonError::Config(_) => StatusCode::BAD_REQUEST,
            DaemonError::NotFound(_) => StatusCode::NOT_FOUND,
            DaemonError::Duplicate { .. } => StatusCode::CONFLICT,
            DaemonError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            DaemonError::Engine(shoal_engine::EngineError::InvalidTorrent(_)) => {
                StatusCode::BAD_REQUEST
            }
            DaemonError::Io(_) | DaemonError::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for DaemonError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let DaemonError::Duplicate { id, .. } = &self {
            body["id"] = (*id).into();
        }
        (self.status(), axum::Json(body)).into_response()
    }
}
