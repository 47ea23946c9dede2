//! `--failed-signature-limit <failures>/<window>`, e.g. `20/1m`: how many failed signature
//! checks one address may cause on one source at once, and the window over which that
//! allowance refills.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest window accepted: longer ones are more likely a typo than a plan.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedSignatureLimit {
    failures: u32,
    window: Duration,
}

impl FailedSignatureLimit {
    pub fn new(failures: u32, window: Duration) -> Result<FailedSignatureLimit, String> {
        if failures == 0 {
            return Err("the number of failures must be at least 1".into());
        }
        if window < Duration::from_secs(1) || window > MAX_WINDOW {
            return Err("the window must be from 1s to 24h".into());
        }
        Ok(FailedSignatureLimit { failures, window })
    }

    /// Failures allowed at once (the bucket's size).
    pub fn burst(&self) -> f64 {
        f64::from(self.failures)
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// How fast the allowance comes back: `failures` per `window`.
    pub fn per_second(&self) -> f64 {
        f64::from(self.failures) / self.window.as_secs_f64()
    }
}

impl FromStr for FailedSignatureLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let explain = |why: &str| {
            format!(
                "{why}; expected <failures>/<window> such as 20/1m \
                 (window in s, m or h, from 1s to 24h)"
            )
        };
        let (failures, window) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| explain("no `/` between failures and window"))?;
        let failures = failures
            .trim()
            .parse::<u32>()
            .map_err(|_| explain("the number of failures is not a whole number"))?;
        let window = parse_window(window.trim()).ok_or_else(|| explain("unreadable window"))?;
        FailedSignatureLimit::new(failures, window).map_err(|why| explain(&why))
    }
}

/// `30s`, `1m`, `2h`, or a bare unit meaning one of it (`m`).
fn parse_window(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (amount, unit) = text.split_at(unit_at);
    let amount: u64 = if amount.is_empty() {
        1
    } else {
        amount.parse().ok()?
    };
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    amount.checked_mul(unit_secs).map(Duration::from_secs)
}

impl fmt::Display for FailedSignatureLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.window.as_secs();
        let window = match secs {
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        write!(f, "{}/{window}", self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FailedSignatureLimit, String> {
        text.parse()
    }

    #[test]
    fn counts_and_windows_in_seconds_minutes_and_hours_are_read() {
        let cases = [
            ("20/1m", 20, 60),
            ("20/m", 20, 60),
            (" 5 / 30s ", 5, 30),
            ("100/2h", 100, 7200),
            ("1/24h", 1, 86_400),
        ];
        for (text, failures, secs) in cases {
            let limit = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(limit.burst(), f64::from(failures), "{text}");
            assert!(
                (limit.per_second() - f64::from(failures) / secs as f64).abs() < 1e-12,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_expected_form() {
        for text in [
            "",
            "20",
            "20/",
            "/1m",
            "0/1m",
            "-1/1m",
            "20/0s",
            "20/25h",
            "20/1d",
            "20/1.5m",
            "20/1 m",
            "x/1m",
            "20/m1",
            "99999999999/1m",
        ] {
            let error = parse(text).expect_err(text);
            assert!(
                error.contains("expected <failures>/<window> such as 20/1m"),
                "{text}: {error}"
            );
        }
        assert!(parse("0/1m").unwrap_err().contains("at least 1"));
        assert!(parse("20/25h").unwrap_err().contains("from 1s to 24h"));
    }

    #[test]
    fn it_prints_in_the_form_it_is_read() {
        for text in ["20/1m", "7/90s", "3/2h"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
        assert_eq!(parse("5/60s").unwrap().to_string(), "5/1m");
    }
}
