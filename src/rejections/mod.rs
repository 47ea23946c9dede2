//! The rejection log: what operators read when they ask "why are my webhooks failing?".
//! Ingest hands each refused attempt to `RejectionLog::record`, which never blocks and never
//! fails; a background task writes them in batches, bounded in rate and in rows.

mod attempt;
mod explain;
mod log;

pub use attempt::describe;
pub use explain::explain;
pub use log::{RejectionLog, RejectionLogLimits};
