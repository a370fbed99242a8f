//! The one error type of the REST API and its JSON shape:
//! `{"error": {"code": "not_found", "message": "…", "field": "title"}}`.
//! Codes are stable; messages are for people. Database details are logged, never returned.

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
    },
    #[error("authentication required")]
    Unauthorized,
    /// The request needs the caller signed in as a particular account (401).
    #[error("{0}")]
    SignInRequired(&'static str),
    /// Too many attempts: try again after this many seconds (429 with `Retry-After`).
    #[error("too many attempts: try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: bad_request, invalid, unauthorized, sign_in_required,
    /// too_many_requests, forbidden, not_found, conflict, payload_too_large,
    /// unsupported_media_type, unavailable, internal.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, as a dotted path, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "bad_request",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::SignInRequired(_) => (StatusCode::UNAUTHORIZED, "sign_in_required"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn from_body_rejection(r: BytesRejection, limit: usize) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::BadRequest {
                code: "bad_request",
                message: "could not read the request body".into(),
                field: None,
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "request failed");
        }
        let field = match &self {
            ApiError::BadRequest { field, .. } | ApiError::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
                field,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests(secs) = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        resp
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict => ApiError::Conflict("it already exists"),
            store::StoreError::MissingReference => {
                ApiError::invalid("", "refers to something that does not exist")
            }
            store::StoreError::Refused => ApiError::Forbidden("not allowed"),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// An automerge error while the server reads or edits a document is the server's own trouble.
impl From<automerge::AutomergeError> for ApiError {
    fn from(e: automerge::AutomergeError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<domain::validate::FieldError> for ApiError {
    fn from(e: domain::validate::FieldError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A server-side change that was not applied, as the API answers it: storage trouble and an
/// unloadable document are "try again later" (503); a change the document's rules refuse is
/// unprocessable (422, with the rule broken); anything else means the server wrote a bad
/// change, which is its own fault (500, logged).
impl From<crate::live::ApplyError> for ApiError {
    fn from(e: crate::live::ApplyError) -> Self {
        use crate::live::ApplyError;
        use sync::Refusal;
        match e {
            ApplyError::Unavailable => {
                ApiError::Unavailable("the document cannot be opened just now; try again later")
            }
            ApplyError::Refused(r) if r.is_storage() => {
                ApiError::Unavailable("storage is unavailable: nothing was saved; try again")
            }
            ApplyError::Refused(
                r @ (Refusal::Schema(_)
                | Refusal::OutOfScope(_)
                | Refusal::UnknownKey(_)
                | Refusal::Reserved(_)
                | Refusal::TooLarge { .. }),
            ) => ApiError::Invalid {
                message: r.to_string(),
                field: None,
            },
            ApplyError::Refused(r) => {
                ApiError::Internal(anyhow::anyhow!("a server-side change was refused: {r}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ApplyError;
    use sync::Refusal;

    /// Each kind of refusal of a server-side change answers once, by kind: never a guess from
    /// the message's words.
    #[test]
    fn refusals_of_server_side_changes_map_to_statuses_by_kind() {
        let status = |e: ApplyError| ApiError::from(e).status_and_code().0;
        assert_eq!(
            status(ApplyError::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        for storage in [Refusal::StorageUnavailable, Refusal::NotSaved] {
            assert_eq!(
                status(storage.into()),
                StatusCode::SERVICE_UNAVAILABLE,
                "storage trouble is not the request's fault"
            );
        }
        for rule in [
            Refusal::Schema("title: must be text".into()),
            Refusal::OutOfScope("only actions".into()),
            Refusal::UnknownKey("planted".into()),
            Refusal::Reserved("signOffs".into()),
            Refusal::TooLarge { ops: 9, max: 1 },
        ] {
            assert_eq!(status(rule.into()), StatusCode::UNPROCESSABLE_ENTITY);
        }
        for bug in [
            Refusal::ForeignActor,
            Refusal::MissingDependencies,
            Refusal::InvalidChanges("x".into()),
            Refusal::Malformed("x".into()),
            Refusal::ReadOnly,
        ] {
            assert_eq!(status(bug.into()), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}
