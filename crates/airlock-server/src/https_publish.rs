//! AWS IoT's HTTPS publish (`POST /topics/{topic}`, the iot-data Publish API) on the HTTPS
//! endpoint: the device's certificate is the principal, authorized as `iot:Publish` (and
//! `iot:RetainPublish`) exactly as an MQTT PUBLISH would be, and the message enters the broker
//! like one. With `qos=1` the answer waits until the message is durable for every persistent
//! subscriber, as a PUBACK does.

use std::sync::Arc;

use airlock_broker::{
    Authorization, Authorizer, Broker, ConnectionContext, Message, MessageProperties,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

/// What the publish route needs.
#[derive(Clone)]
pub struct PublishState {
    /// The broker messages go into.
    pub broker: Broker,
    /// The authorizer MQTT publishes go through.
    pub authorizer: Arc<dyn Authorizer>,
}

/// `POST /topics/{*topic}`. Every request must carry the connection's
/// `Arc<ConnectionContext>` as an extension (the HTTPS server adds it per connection).
pub fn router(state: PublishState) -> Router {
    Router::new()
        .route("/topics/{*topic}", post(publish))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishQuery {
    qos: Option<String>,
    retain: Option<String>,
    content_type: Option<String>,
    response_topic: Option<String>,
    message_expiry: Option<String>,
}

/// AWS's REST-JSON error: status, `x-amzn-ErrorType`, `{"message"}`.
fn error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "message": message.into() }).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn invalid(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
}

async fn publish(
    State(state): State<PublishState>,
    Extension(ctx): Extension<Arc<ConnectionContext>>,
    Path(topic): Path<String>,
    Query(q): Query<PublishQuery>,
    headers: HeaderMap,
    payload: Bytes,
) -> Response {
    let cfg = state.broker.config();
    if !airlock_mqtt::topic::valid_topic_name(&topic) {
        return invalid(format!(
            "topic {topic:?} is not a valid MQTT topic name (no '+' or '#', not empty)"
        ));
    }
    if topic.len() > cfg.max_topic_len {
        return invalid(format!(
            "topic is {} bytes; the limit is {} (mqtt.max_topic_len)",
            topic.len(),
            cfg.max_topic_len
        ));
    }
    if topic.starts_with("$aws/events/") {
        return error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "topics under $aws/events/ are published by Airlock only",
        );
    }
    if payload.len() > cfg.max_payload_size {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!(
                "payload is {} bytes; the limit is {} (mqtt.max_payload_size)",
                payload.len(),
                cfg.max_payload_size
            ),
        );
    }
    let qos = match q.qos.as_deref() {
        None | Some("0") => 0,
        Some("1") => 1,
        Some(other) => return invalid(format!("qos {other:?} is invalid: use 0 or 1")),
    };
    let retain = match q.retain.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return invalid(format!("retain {other:?} is invalid: use true or false")),
    };
    let properties = match properties(&q, &headers) {
        Ok(p) => p,
        Err(message) => return invalid(message),
    };
    let expires_at_ms = match q.message_expiry.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(secs)) => Some(now_ms().saturating_add(secs.saturating_mul(1000))),
        Some(Err(_)) => return invalid("messageExpiry must be a whole number of seconds"),
    };
    // HTTPS has no client id; policies see an empty iot:ClientId, as AWS documents for it.
    if let Authorization::Deny { reason } = state.authorizer.publish(&ctx, "", &topic, retain) {
        return error(StatusCode::FORBIDDEN, "ForbiddenException", reason);
    }
    let commit = state.broker.publish(Message {
        topic,
        payload,
        qos,
        retain,
        properties,
        expires_at_ms,
        publisher: None,
    });
    if qos == 1 && commit.await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "the message could not be stored; retry",
        );
    }
    metrics::counter!("airlock_https_publish_total").increment(1);
    let mut r = (
        StatusCode::OK,
        serde_json::json!({ "message": "OK", "traceId": trace_id() }).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// MQTT 5 properties from AWS's query parameters and `x-amz-mqtt5-*` headers; the error
/// says which one is wrong.
fn properties(q: &PublishQuery, headers: &HeaderMap) -> Result<MessageProperties, String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let header = |name: &str| -> Result<Option<&str>, String> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| format!("header {name} is not ASCII"))
            })
            .transpose()
    };
    let payload_format_indicator = match header("x-amz-mqtt5-payload-format-indicator")? {
        None => None,
        Some("UTF8_DATA") => Some(1),
        Some("UNSPECIFIED_BYTES") => Some(0),
        Some(other) => {
            return Err(format!(
                "x-amz-mqtt5-payload-format-indicator {other:?} is invalid: use UTF8_DATA or UNSPECIFIED_BYTES"
            ));
        }
    };
    let correlation_data = header("x-amz-mqtt5-correlation-data")?
        .map(|v| {
            b64.decode(v)
                .map(Bytes::from)
                .map_err(|_| "x-amz-mqtt5-correlation-data must be base64".to_string())
        })
        .transpose()?;
    let mut user_properties = Vec::new();
    if let Some(v) = header("x-amz-mqtt5-user-properties")? {
        // AWS: base64 of a JSON array of one-pair objects, e.g. [{"deviceName":"alpha"}].
        let json = b64.decode(v).map_err(|_| {
            "x-amz-mqtt5-user-properties must be base64 of a JSON array".to_string()
        })?;
        let list: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&json)
            .map_err(|_| {
            "x-amz-mqtt5-user-properties must be a JSON array of objects like [{\"key\":\"value\"}]"
                .to_string()
        })?;
        for object in list {
            for (k, v) in object {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                user_properties.push((k, v));
            }
        }
    }
    if let Some(t) = &q.response_topic
        && !airlock_mqtt::topic::valid_topic_name(t)
    {
        return Err(format!("responseTopic {t:?} is not a valid topic name"));
    }
    Ok(MessageProperties {
        payload_format_indicator,
        content_type: q.content_type.clone(),
        response_topic: q.response_topic.clone(),
        correlation_data,
        user_properties,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn trace_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:016x}-{:x}",
        now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
