//! Turning the senders' tallies into the figures a run prints.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::drive::Tally;

/// Request latencies, sorted, in microseconds.
struct Latencies(Vec<u32>);

impl Latencies {
    fn sorted(mut latencies_us: Vec<u32>) -> Latencies {
        latencies_us.sort_unstable();
        Latencies(latencies_us)
    }

    fn count(&self) -> u64 {
        self.0.len() as u64
    }

    /// The latency below which `quantile` of the requests finished, in milliseconds.
    fn percentile_ms(&self, quantile: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = (quantile * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        f64::from(self.0[index]) / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.0.last().map_or(0.0, |us| f64::from(*us) / 1000.0)
    }
}

pub struct Summary {
    pub requests: u64,
    pub elapsed: Duration,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub duplicates_sent: u64,
    pub malformed: u64,
    latencies: Latencies,
}

impl Summary {
    pub fn new(tallies: &[Tally], elapsed: Duration) -> Summary {
        let mut latencies_us = Vec::new();
        let mut statuses = BTreeMap::new();
        let (mut transport_errors, mut duplicates_sent, mut malformed) = (0, 0, 0);
        for tally in tallies {
            for interval in &tally.latencies_us_by_interval {
                latencies_us.extend_from_slice(interval);
            }
            for (status, count) in &tally.statuses {
                *statuses.entry(*status).or_insert(0) += count;
            }
            transport_errors += tally.transport_errors;
            duplicates_sent += tally.duplicates_sent;
            malformed += tally.malformed;
        }
        let latencies = Latencies::sorted(latencies_us);
        Summary {
            requests: latencies.count(),
            elapsed,
            statuses,
            transport_errors,
            duplicates_sent,
            malformed,
            latencies,
        }
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `quantile` of the measured requests finished, in milliseconds.
    pub fn percentile_ms(&self, quantile: f64) -> f64 {
        self.latencies.percentile_ms(quantile)
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies.max_ms()
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

/// The figures of the requests that started in one interval of the measured window
/// (`--interval-secs`): a long run's p99 can come from a few bad minutes or from all of them.
pub struct Interval {
    from: Duration,
    to: Duration,
    latencies: Latencies,
}

impl Interval {
    /// One per interval of `length`, up to the last in which a request started; an interval
    /// ends at `elapsed` if that comes first.
    pub fn split(tallies: &[Tally], length: Duration, elapsed: Duration) -> Vec<Interval> {
        let count = tallies
            .iter()
            .map(|t| t.latencies_us_by_interval.len())
            .max()
            .unwrap_or(0);
        (0..count)
            .map(|index| {
                let latencies_us = tallies
                    .iter()
                    .filter_map(|t| t.latencies_us_by_interval.get(index))
                    .flatten()
                    .copied()
                    .collect();
                let from = length * index as u32;
                Interval {
                    from,
                    to: (from + length).min(elapsed.max(from)),
                    latencies: Latencies::sorted(latencies_us),
                }
            })
            .collect()
    }

    pub fn per_second(&self) -> f64 {
        self.latencies.count() as f64 / (self.to - self.from).as_secs_f64().max(1e-9)
    }

    pub fn print(&self) {
        println!(
            "interval   {:>5}-{:<5} s  {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.from.as_secs(),
            self.to.as_secs(),
            self.per_second(),
            self.latencies.percentile_ms(0.50),
            self.latencies.percentile_ms(0.99),
            self.latencies.max_ms()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(latencies_us_by_interval: Vec<Vec<u32>>) -> Tally {
        Tally {
            latencies_us_by_interval,
            ..Tally::default()
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let tallies = vec![tally(vec![(1..=100).rev().map(|ms| ms * 1000).collect()])];
        let summary = Summary::new(&tallies, Duration::from_secs(1));
        assert_eq!(summary.percentile_ms(0.50), 50.0);
        assert_eq!(summary.percentile_ms(0.99), 99.0);
        assert_eq!(summary.max_ms(), 100.0);
        assert_eq!(summary.per_second(), 100.0);
    }

    #[test]
    fn intervals_gather_every_senders_requests_and_the_summary_all_of_them() {
        let tallies = vec![
            tally(vec![vec![1000, 2000], vec![9000]]),
            tally(vec![vec![3000], vec![], vec![5000, 4000]]),
        ];
        let elapsed = Duration::from_millis(2500);
        let intervals = Interval::split(&tallies, Duration::from_secs(1), elapsed);
        let figures: Vec<_> = intervals
            .iter()
            .map(|i| (i.from.as_millis(), i.to.as_millis(), i.latencies.0.clone()))
            .collect();
        assert_eq!(
            figures,
            vec![
                (0, 1000, vec![1000, 2000, 3000]),
                (1000, 2000, vec![9000]),
                (2000, 2500, vec![4000, 5000]),
            ]
        );
        // The last interval is half a second long: two requests in it are 4 per second.
        assert_eq!(intervals[2].per_second(), 4.0);
        let summary = Summary::new(&tallies, elapsed);
        assert_eq!(summary.requests, 6);
        assert_eq!(summary.max_ms(), 9.0);
    }
}
