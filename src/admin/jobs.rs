//! `GET /api/admin/jobs/{job_id}`: one job's callbacks in the order the sender says they
//! happened, and whether the job reported both success and failure.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::summary::{Outcome, Summary};
use crate::auth::error::detached;
use crate::auth::handlers::ErrorBody;
use crate::auth::{AdminUser, ApiError};
use crate::store::feed::{self, SummaryRow};
use crate::store::Db;

#[derive(Serialize, ToSchema)]
pub struct JobResponse {
    pub job_id: String,
    /// By the sender's `timestamp` (arrival time when it has none), then by arrival. The
    /// newest 1,000 that arrived when the job has more.
    pub callbacks: Vec<Summary>,
    /// The job has older callbacks than those listed, left out; `conflict` and `outcome`
    /// cover the listed ones.
    pub truncated: bool,
    /// The job reported both a success and a failure.
    pub conflict: bool,
    /// The outcome of the last callback that reported one (`info` if none did).
    pub outcome: Outcome,
}

#[utoipa::path(get, path = "/api/admin/jobs/{job_id}", tag = "admin",
    params(("job_id" = String, Path, description = "The sender's job id")),
    responses(
        (status = 200, body = JobResponse),
        (status = 400, description = "`invalid_request`: the job id holds a NUL character", body = ErrorBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`: no callback of this job", body = ErrorBody),
    ))]
pub async fn job(
    _user: AdminUser,
    job_id: web::Path<String>,
    db: web::Data<Db>,
) -> Result<web::Json<JobResponse>, ApiError> {
    // Ingest refuses job ids with NUL (src/ingest/payload.rs), and Postgres refuses NUL in text.
    if job_id.contains('\0') {
        return Err(ApiError::InvalidRequest(
            "the job id must not contain NUL characters".into(),
        ));
    }
    let job = job_id.clone();
    let found = detached(async move { Ok(feed::job(&db, &job).await?) }).await?;
    if found.newest.is_empty() {
        return Err(ApiError::NotFound);
    }
    let rows = in_sender_order(found.newest);
    let callbacks: Vec<Summary> = rows.into_iter().map(Summary::from).collect();
    let (conflict, outcome) = job_outcome(callbacks.iter().map(|c| c.outcome));
    Ok(web::Json(JobResponse {
        job_id: job_id.into_inner(),
        callbacks,
        truncated: found.older_left_out,
        conflict,
        outcome,
    }))
}

fn in_sender_order(mut rows: Vec<SummaryRow>) -> Vec<SummaryRow> {
    rows.sort_by_key(|row| (row.sent_at.unwrap_or(row.received_at), row.id));
    rows
}

/// (both success and failure seen, the last non-info outcome).
fn job_outcome(outcomes: impl Iterator<Item = Outcome>) -> (bool, Outcome) {
    let mut success = false;
    let mut failure = false;
    let mut last = Outcome::Info;
    for outcome in outcomes {
        match outcome {
            Outcome::Success => success = true,
            Outcome::Failure => failure = true,
            Outcome::Info => continue,
        }
        last = outcome;
    }
    (success && failure, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_with_success_and_failure_is_a_conflict() {
        use Outcome::*;
        assert_eq!(job_outcome([Info, Success].into_iter()), (false, Success));
        assert_eq!(
            job_outcome([Info, Failure, Info].into_iter()),
            (false, Failure)
        );
        assert_eq!(job_outcome([Success, Failure].into_iter()), (true, Failure));
        assert_eq!(job_outcome([Info].into_iter()), (false, Info));
    }
}
