//! Request extractors whose refusals are AWS errors (400 InvalidRequestException with the
//! parser's reason) instead of axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. An empty body reads as `{}`: the AWS CLI sends none for operations
/// whose body fields are all optional.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            ApiError::invalid(format!(
                "the request body is not valid for this operation: {e}; send a JSON object with the fields docs/admin-api.md lists"
            ))
        })
    }
}

/// Query parameters.
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                ApiError::invalid(format!(
                    "invalid query parameters: {}",
                    e.body_text()
                        .trim_start_matches("Failed to deserialize query string: ")
                ))
            })
    }
}

/// Path parameters.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid(format!("invalid path: {}", e.body_text())))
    }
}

/// The `x-amzn-principal` header, if present and text.
pub(crate) struct Principal(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("x-amzn-principal") {
            None => Ok(Principal(None)),
            Some(v) => v
                .to_str()
                .map(|s| Principal(Some(s.trim().to_string())))
                .map_err(|_| ApiError::invalid("header x-amzn-principal is not visible ASCII")),
        }
    }
}

impl Principal {
    /// The header's value, or a 400 naming the header.
    pub(crate) fn required(self) -> Result<String, ApiError> {
        self.0.filter(|s| !s.is_empty()).ok_or_else(|| {
            ApiError::invalid(
                "header x-amzn-principal is required: give the certificate ARN or certificate id",
            )
        })
    }
}
