//! Settings of the operator-facing features: retention, the rejection log, metrics access,
//! the failed-signature limit.

use crate::ingest::throttle::FailedSignatureLimit;
use crate::metrics::MetricsAccess;
use crate::rejections::RejectionLogLimits;
use crate::retention::RetentionPolicy;

pub struct OpsSettings {
    /// `None` keeps callbacks forever.
    pub retention: Option<RetentionPolicy>,
    pub rejection_log: RejectionLogLimits,
    pub metrics_access: MetricsAccess,
    /// `None` (the default) never refuses a sender for its failed signature checks.
    pub failed_signature_limit: Option<FailedSignatureLimit>,
}

impl Default for OpsSettings {
    fn default() -> Self {
        OpsSettings {
            retention: None,
            rejection_log: RejectionLogLimits::default(),
            metrics_access: MetricsAccess::loopback(),
            failed_signature_limit: None,
        }
    }
}
