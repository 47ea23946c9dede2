//! The few metric types Hookbox needs, written out in the Prometheus text format by hand:
//! counters (optionally by one label) and fixed-bucket histograms, all lock-free except the
//! labelled counter's small map.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A counter per value of one label. Values are `&'static str` codes, so the set is closed.
pub struct CounterVec {
    label: &'static str,
    values: Mutex<BTreeMap<&'static str, u64>>,
}

impl CounterVec {
    pub fn new(label: &'static str, initial: &[&'static str]) -> CounterVec {
        CounterVec {
            label,
            values: Mutex::new(initial.iter().map(|v| (*v, 0)).collect()),
        }
    }

    pub fn inc(&self, value: &'static str) {
        self.inc_by(value, 1);
    }

    pub fn inc_by(&self, value: &'static str, n: u64) {
        // A poisoned lock only means another thread panicked mid-increment; the map is fine.
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *values.entry(value).or_insert(0) += n;
    }

    pub fn get(&self, value: &str) -> u64 {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.get(value).copied().unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Observations in integer base units (nanoseconds, bytes) against fixed upper bounds;
/// `scale` converts base units to the exported unit (1e9 for seconds).
pub struct Histogram {
    bounds: &'static [u64],
    scale: f64,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64], scale: f64) -> Histogram {
        Histogram {
            bounds,
            scale,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: u64) {
        if let Some(index) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Builds one exposition document.
#[derive(Default)]
pub struct Exposition(String);

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    pub fn counter(&mut self, name: &str, help: &str, counter: &Counter) {
        self.header(name, "counter", help);
        let _ = writeln!(self.0, "{name} {}", counter.get());
    }

    pub fn counter_vec(&mut self, name: &str, help: &str, counters: &CounterVec) {
        self.header(name, "counter", help);
        for (value, count) in counters.snapshot() {
            let _ = writeln!(self.0, "{name}{{{}=\"{value}\"}} {count}", counters.label);
        }
    }

    /// A gauge with one labelled sample per entry.
    pub fn gauge(&mut self, name: &str, help: &str, label: &str, samples: &[(&str, u64)]) {
        self.header(name, "gauge", help);
        for (value, sample) in samples {
            let _ = writeln!(self.0, "{name}{{{label}=\"{value}\"}} {sample}");
        }
    }

    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.header(name, "histogram", help);
        let mut cumulative = 0;
        for (bound, bucket) in histogram.bounds.iter().zip(&histogram.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = *bound as f64 / histogram.scale;
            let _ = writeln!(self.0, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = histogram.count.load(Ordering::Relaxed);
        let sum = histogram.sum.load(Ordering::Relaxed) as f64 / histogram.scale;
        let _ = writeln!(self.0, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(self.0, "{name}_sum {sum}");
        let _ = writeln!(self.0, "{name}_count {count}");
    }

    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        static BOUNDS: [u64; 3] = [10, 100, 1000];
        let histogram = Histogram::new(&BOUNDS, 1000.0);
        for value in [5, 50, 50, 5000] {
            histogram.observe(value);
        }
        let mut out = Exposition::default();
        out.histogram("t_seconds", "test", &histogram);
        let text = out.finish();
        assert!(text.contains("t_seconds_bucket{le=\"0.01\"} 1\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"0.1\"} 3\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"1\"} 3\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("t_seconds_sum 5.105\n"), "{text}");
        assert!(text.contains("t_seconds_count 4\n"), "{text}");
        assert!(text.contains("# TYPE t_seconds histogram\n"), "{text}");
    }

    #[test]
    fn labelled_counters_list_every_seen_value() {
        let counters = CounterVec::new("outcome", &["accepted"]);
        counters.inc("invalid_signature");
        counters.inc("invalid_signature");
        let mut out = Exposition::default();
        out.counter_vec("x_total", "test", &counters);
        let text = out.finish();
        assert!(text.contains("x_total{outcome=\"accepted\"} 0\n"), "{text}");
        assert!(
            text.contains("x_total{outcome=\"invalid_signature\"} 2\n"),
            "{text}"
        );
    }
}
