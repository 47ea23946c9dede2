//! Turning the senders' tallies into the figures a run prints.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::drive::Tally;

pub struct Summary {
    pub requests: u64,
    pub elapsed: Duration,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub duplicates_sent: u64,
    pub malformed: u64,
    /// Sorted, microseconds.
    latencies_us: Vec<u32>,
}

impl Summary {
    pub fn new(tallies: &mut [Tally], elapsed: Duration) -> Summary {
        let mut latencies_us = Vec::new();
        let mut statuses = BTreeMap::new();
        let (mut transport_errors, mut duplicates_sent, mut malformed) = (0, 0, 0);
        for tally in tallies.iter_mut() {
            latencies_us.append(&mut tally.latencies_us);
            for (status, count) in &tally.statuses {
                *statuses.entry(*status).or_insert(0) += count;
            }
            transport_errors += tally.transport_errors;
            duplicates_sent += tally.duplicates_sent;
            malformed += tally.malformed;
        }
        latencies_us.sort_unstable();
        Summary {
            requests: latencies_us.len() as u64,
            elapsed,
            statuses,
            transport_errors,
            duplicates_sent,
            malformed,
            latencies_us,
        }
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `quantile` of the measured requests finished, in milliseconds.
    pub fn percentile_ms(&self, quantile: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = (quantile * self.latencies_us.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[index]) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us
            .last()
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    }

    pub fn not_ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(_, count)| count)
            .sum::<u64>()
            + self.transport_errors
    }

    pub fn print(&self) {
        println!(
            "requests   {} in {:.2} s = {:.0} req/s ({} redeliveries sent)",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.duplicates_sent
        );
        println!(
            "latency    p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.max_ms()
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        println!(
            "statuses   {}  transport errors: {}  malformed 200s: {}",
            statuses.join("  "),
            self.transport_errors,
            self.malformed
        );
    }

    /// One line of `key=value` pairs for scripts (bench/run.sh builds its table from these).
    pub fn line(&self, label: &str, concurrency: usize, check: &str) -> String {
        format!(
            "summary label={label} senders={concurrency} rps={:.0} p50_ms={:.2} p90_ms={:.2} \
             p99_ms={:.2} max_ms={:.2} requests={} not_ok={} check={check}",
            self.per_second(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.max_ms(),
            self.requests,
            self.not_ok(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut tallies = vec![Tally {
            latencies_us: (1..=100).rev().map(|ms| ms * 1000).collect(),
            ..Tally::default()
        }];
        let summary = Summary::new(&mut tallies, Duration::from_secs(1));
        assert_eq!(summary.percentile_ms(0.50), 50.0);
        assert_eq!(summary.percentile_ms(0.99), 99.0);
        assert_eq!(summary.max_ms(), 100.0);
        assert_eq!(summary.per_second(), 100.0);
    }
}
