//! Settings of the operator-facing features: retention, the rejection log, metrics access.

use crate::metrics::MetricsAccess;
use crate::rejections::RejectionLogLimits;
use crate::retention::RetentionPolicy;

pub struct OpsSettings {
    /// `None` keeps callbacks forever.
    pub retention: Option<RetentionPolicy>,
    pub rejection_log: RejectionLogLimits,
    pub metrics_access: MetricsAccess,
}

impl Default for OpsSettings {
    fn default() -> Self {
        OpsSettings {
            retention: None,
            rejection_log: RejectionLogLimits::default(),
            metrics_access: MetricsAccess::loopback(),
        }
    }
}
