use super::*;

fn limit(text: &str) -> FailedSignatureLimit {
    text.parse().unwrap()
}

fn key(ip: &str, source: &str) -> Key {
    (ip.parse().unwrap(), source.to_owned())
}

#[test]
fn an_address_may_fail_its_budget_then_waits_for_the_refill() {
    let start = Instant::now();
    let mut buckets = Buckets::new(limit("3/1m"), 100);
    let sender = key("203.0.113.9", "llm-callback");
    for _ in 0..3 {
        assert_eq!(buckets.wait(&sender, start), None, "within the budget");
        buckets.charge(sender.clone(), start);
    }
    assert_eq!(
        buckets.wait(&sender, start),
        Some(Duration::from_secs(20)),
        "3 per minute: one more try every 20 s"
    );
    let later = start + Duration::from_secs(20);
    assert_eq!(
        buckets.wait(&sender, later),
        None,
        "one failure has come back"
    );
    buckets.charge(sender.clone(), later);
    assert!(
        buckets.wait(&sender, later).is_some(),
        "and is used up again"
    );
    let much_later = later + Duration::from_secs(3600);
    for _ in 0..3 {
        assert_eq!(
            buckets.wait(&sender, much_later),
            None,
            "refilled to the budget"
        );
        buckets.charge(sender.clone(), much_later);
    }
    assert!(
        buckets.wait(&sender, much_later).is_some(),
        "never beyond it"
    );
}

#[test]
fn asking_does_not_spend_the_budget() {
    let start = Instant::now();
    let mut buckets = Buckets::new(limit("1/1m"), 100);
    let sender = key("203.0.113.9", "llm-callback");
    for _ in 0..50 {
        assert_eq!(buckets.wait(&sender, start), None);
    }
    assert!(buckets.entries.is_empty(), "only failures are tracked");
    buckets.charge(sender.clone(), start);
    assert!(buckets.wait(&sender, start).is_some());
}

#[test]
fn each_address_and_each_source_has_its_own_budget() {
    let start = Instant::now();
    let mut buckets = Buckets::new(limit("2/1h"), 100);
    let prober = key("198.51.100.1", "llm-callback");
    buckets.charge(prober.clone(), start);
    buckets.charge(prober.clone(), start);
    assert!(buckets.wait(&prober, start).is_some());
    assert_eq!(
        buckets.wait(&key("198.51.100.2", "llm-callback"), start),
        None
    );
    assert_eq!(
        buckets.wait(&key("2001:db8::1", "llm-callback"), start),
        None
    );
    assert_eq!(
        buckets.wait(&key("198.51.100.1", "github"), start),
        None,
        "a sender misconfigured for one source does not block the same host on another"
    );
}

#[test]
fn the_tracked_pairs_never_exceed_the_capacity() {
    let start = Instant::now();
    let mut buckets = Buckets::new(limit("5/1h"), 64);
    for i in 0..10_000u32 {
        let ip = IpAddr::from(i.to_be_bytes());
        buckets.charge((ip, "llm-callback".into()), start);
        assert!(
            buckets.entries.len() <= 64,
            "{} after {i}",
            buckets.entries.len()
        );
    }
}

#[test]
fn refilled_buckets_and_then_the_fullest_are_forgotten_first() {
    let start = Instant::now();
    let mut buckets = Buckets::new(limit("2/1m"), 4);
    let throttled = key("192.0.2.1", "llm-callback");
    buckets.charge(throttled.clone(), start);
    buckets.charge(throttled.clone(), start);
    for i in 2..=4 {
        buckets.charge(key(&format!("192.0.2.{i}"), "llm-callback"), start);
    }
    let soon = start + Duration::from_secs(1);
    buckets.charge(key("192.0.2.5", "llm-callback"), soon);
    assert_eq!(buckets.entries.len(), 4);
    assert!(
        buckets.wait(&throttled, soon).is_some(),
        "the emptiest bucket is the last to be forgotten"
    );

    let refilled = start + Duration::from_secs(120);
    buckets.charge(throttled.clone(), refilled);
    buckets.charge(throttled.clone(), refilled);
    buckets.charge(key("192.0.2.6", "llm-callback"), refilled);
    assert_eq!(
        buckets.entries.len(),
        2,
        "every bucket that had refilled was dropped at once"
    );
    assert!(buckets.wait(&throttled, refilled).is_some());
}

#[test]
fn without_a_limit_or_a_peer_nothing_is_refused() {
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let off = SignatureThrottle::disabled();
    for _ in 0..100 {
        off.record_failure(Some(ip), "llm-callback");
    }
    assert_eq!(off.check(Some(ip), "llm-callback"), Ok(()));

    let on = SignatureThrottle::new(Some(limit("1/1h")));
    on.record_failure(None, "llm-callback");
    assert_eq!(on.check(None, "llm-callback"), Ok(()));
    on.record_failure(Some(ip), "llm-callback");
    let wait = on.check(Some(ip), "llm-callback").unwrap_err();
    assert!((3599..=3600).contains(&wait), "{wait}");
}
