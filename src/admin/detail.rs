//! `GET /api/admin/llm-callbacks/{id}`: everything stored about one callback, or `?raw=1`
//! for the body exactly as received. Reading does not mark it viewed.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::parse_id;
use super::summary::{Outcome, Signature, Summary};
use crate::auth::handlers::ErrorBody;
use crate::auth::{api_time, AdminReader, ApiError, Deferred};
use crate::store::feed::SummaryRow;
use crate::store::{views, Db};

#[derive(Deserialize, IntoParams)]
pub struct DetailQuery {
    /// `1` for the raw body as an attachment, `0` (the default) for the JSON detail.
    #[param(inline)]
    pub raw: Option<BodyForm>,
}

/// How the detail answers; any other `raw` value is refused rather than read as "no".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum BodyForm {
    #[serde(rename = "1")]
    Raw,
    #[default]
    #[serde(rename = "0")]
    Json,
}

#[derive(Serialize, ToSchema)]
pub struct DetailSignature {
    #[serde(flatten)]
    pub signature: Signature,
    /// The signature header as received.
    pub header: String,
}

/// A `Summary` whose signature also has the header, plus everything else stored.
#[derive(Serialize, ToSchema)]
pub struct Detail {
    pub id: i64,
    pub cursor: String,
    pub callback_id: String,
    pub source: String,
    pub event: String,
    pub workflow_name: Option<String>,
    pub status: Option<String>,
    pub error_message: Option<String>,
    pub outcome: Outcome,
    pub received_at: String,
    pub sent_at: Option<String>,
    pub preview: String,
    pub payload_size: i32,
    pub signature: DetailSignature,
    pub viewed_at: Option<String>,
    pub delivery_key: String,
    /// The body as JSON, as it was received.
    #[schema(value_type = serde_json::Value)]
    pub payload: Box<RawValue>,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/llm-callbacks/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Callback id"), DetailQuery),
    responses(
        (status = 200, description = "The callback (or, with `raw=1`, its raw bytes)", body = Detail),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn detail(
    admin: AdminReader,
    id: web::Path<String>,
    query: Deferred<web::Query<DetailQuery>>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (form, (row, viewed_at)) = admin
        .read(move |user_id, credential| async move {
            let id = parse_id(&id)?;
            // Before the read: a query that cannot be answered costs the database nothing.
            let form = query.take()?.raw.unwrap_or_default();
            let found = views::find_with_viewed_at(&db, user_id, id, credential).await?;
            Ok(found.map(|row| (form, row)))
        })
        .await?;
    if form == BodyForm::Raw {
        return Ok(HttpResponse::Ok()
            .content_type("application/octet-stream")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"callback-{}.json\"", row.id),
            ))
            .body(row.body));
    }
    let payload = payload_as_received(&row.body);
    let header = row.signature_header.clone();
    let summary = Summary::from(SummaryRow {
        id: row.id,
        source: row.source,
        callback_id: row.callback_id,
        event: row.event,
        workflow_name: row.workflow_name,
        status: row.status,
        error_message: row.error_message,
        sent_at: row.sent_at,
        preview: row.preview,
        payload_size: row.payload_size,
        signature_verdict: row.signature_verdict,
        signature_scheme: row.signature_scheme,
        secret_label: row.secret_label,
        verified_at: row.verified_at,
        received_at: row.received_at,
    });
    Ok(HttpResponse::Ok().json(Detail {
        id: summary.id,
        cursor: summary.cursor,
        callback_id: summary.callback_id,
        source: summary.source,
        event: summary.event,
        workflow_name: summary.workflow_name,
        status: summary.status,
        error_message: summary.error_message,
        outcome: summary.outcome,
        received_at: summary.received_at,
        sent_at: summary.sent_at,
        preview: summary.preview,
        payload_size: summary.payload_size,
        signature: DetailSignature {
            signature: summary.signature,
            header,
        },
        viewed_at: viewed_at.map(api_time),
        delivery_key: row.delivery_key,
        payload,
        remote_addr: row.remote_addr,
        user_agent: row.user_agent,
        content_type: row.content_type,
    }))
}

/// The stored body, passed on as JSON without building it. Ingest reads only the fields it
/// needs and checks no more of the rest than its syntax, as this does: a lone surrogate
/// escape (a model's output cut in the middle of an emoji), a number beyond `f64`, nesting
/// deeper than 128 levels, bytes that are not UTF-8 in a string. Built as a
/// `serde_json::Value`, each of those failed, and the dashboard showed the body as one string.
/// Bytes that are not UTF-8 are replaced (U+FFFD); `?raw=1` has them as received. A body that
/// is not JSON at all (never stored by ingest) is answered as a JSON string.
fn payload_as_received(body: &[u8]) -> Box<RawValue> {
    let text = String::from_utf8_lossy(body).into_owned();
    RawValue::from_string(text).unwrap_or_else(|error| {
        let text = String::from_utf8_lossy(body);
        tracing::warn!(%error, "a stored body is not JSON; answered as a string");
        let quoted = serde_json::to_string(&text).unwrap_or_else(|_| "null".to_owned());
        RawValue::from_string(quoted).unwrap_or_else(|_| RawValue::NULL.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::payload_as_received;

    #[test]
    fn bodies_ingest_accepts_are_passed_on_as_json() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for body in [
            r#"{"job_id":"j1","output":"cut\ud83d"}"#.to_owned(),
            r#"{"job_id":"j1","x":1e400}"#.to_owned(),
            format!(r#"{{"job_id":"j1","input":{deep}}}"#),
        ] {
            assert_eq!(payload_as_received(body.as_bytes()).get(), body);
        }
        let latin1 = b"{\"job_id\":\"j1\",\"x\":\"caf\xe9\"}";
        assert_eq!(
            payload_as_received(latin1).get(),
            "{\"job_id\":\"j1\",\"x\":\"caf\u{fffd}\"}"
        );
        assert_eq!(payload_as_received(b"not json").get(), "\"not json\"");
    }
}
