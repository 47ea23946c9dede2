//! The JSON shapes of the admin API and how stored rows become them.

use serde::Serialize;
use utoipa::ToSchema;

use super::cursor::Cursor;
use crate::auth::api_time;
use crate::store::feed::SummaryRow;

/// Success, failure or neither, as derived from status and event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Info,
}

const FAILURE_STATUSES: &[&str] = &[
    "failed",
    "failure",
    "error",
    "errored",
    "cancelled",
    "canceled",
    "timeout",
    "timed_out",
    "expired",
];
const SUCCESS_STATUSES: &[&str] = &[
    "completed",
    "complete",
    "succeeded",
    "success",
    "ok",
    "done",
];
const FAILURE_EVENT_ENDINGS: &[&str] = &[".failed", ".error", ".cancelled", ".expired"];
const SUCCESS_EVENT_ENDINGS: &[&str] = &[".completed", ".succeeded"];

impl Outcome {
    pub fn of(status: Option<&str>, event: &str) -> Outcome {
        let status = status.map(str::to_ascii_lowercase);
        let status = status.as_deref();
        let event = event.to_ascii_lowercase();
        let in_list = |list: &[&str]| status.is_some_and(|s| list.contains(&s));
        let ends = |list: &[&str]| list.iter().any(|end| event.ends_with(end));
        if in_list(FAILURE_STATUSES) || ends(FAILURE_EVENT_ENDINGS) {
            Outcome::Failure
        } else if in_list(SUCCESS_STATUSES) || ends(SUCCESS_EVENT_ENDINGS) {
            Outcome::Success
        } else {
            Outcome::Info
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Signature {
    /// `verified` (only verified callbacks are stored).
    pub verdict: String,
    pub scheme: String,
    pub secret_label: String,
    pub verified_at: String,
}

/// One callback in a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Summary {
    pub id: i64,
    /// Opaque; pass it back as `after`, `before` or `up_to`.
    pub cursor: String,
    /// The sender's job id.
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
    pub signature: Signature,
}

impl From<SummaryRow> for Summary {
    fn from(row: SummaryRow) -> Summary {
        Summary {
            id: row.id,
            cursor: Cursor::at(row.id).encode(),
            outcome: Outcome::of(row.status.as_deref(), &row.event),
            callback_id: row.callback_id,
            source: row.source,
            event: row.event,
            workflow_name: row.workflow_name,
            status: row.status,
            error_message: row.error_message,
            received_at: api_time(row.received_at),
            sent_at: row.sent_at.map(api_time),
            preview: row.preview,
            payload_size: row.payload_size,
            signature: Signature {
                verdict: row.signature_verdict,
                scheme: row.signature_scheme,
                secret_label: row.secret_label,
                verified_at: api_time(row.verified_at),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn outcome_follows_status_then_event() {
        assert_eq!(Outcome::of(Some("FAILED"), "x"), Outcome::Failure);
        assert_eq!(Outcome::of(Some("timed_out"), "x"), Outcome::Failure);
        assert_eq!(Outcome::of(None, "workflow.cancelled"), Outcome::Failure);
        assert_eq!(Outcome::of(Some("done"), "x"), Outcome::Success);
        assert_eq!(Outcome::of(None, "llm.step.completed"), Outcome::Success);
        assert_eq!(
            Outcome::of(Some("running"), "llm.step.started"),
            Outcome::Info
        );
        assert_eq!(
            Outcome::of(Some("completed"), "workflow.failed"),
            Outcome::Failure
        );
    }
}
