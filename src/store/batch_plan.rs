//! Which deliveries of a batch are written, and what each request is answered once the
//! batch's transaction has told us, per key, which row holds it.

use std::collections::HashMap;

use super::batch_insert::DeliveryKey;
use super::callbacks::NewCallback;
use super::writer::StoreOutcome;
use super::StoreError;

/// Which deliveries of a batch are written, and which repeat an earlier one in the same batch.
pub(super) struct BatchPlan {
    /// Index of the first delivery of each distinct key, in batch order.
    pub(super) leaders: Vec<usize>,
    /// For every delivery, the index of its key's leader.
    leader_of: Vec<usize>,
}

impl BatchPlan {
    pub(super) fn new(callbacks: &[NewCallback]) -> BatchPlan {
        let mut first_seen: HashMap<(&str, &str), usize> = HashMap::new();
        let mut leaders = Vec::new();
        let leader_of = callbacks
            .iter()
            .enumerate()
            .map(|(index, cb)| {
                *first_seen
                    .entry((cb.source.as_str(), cb.delivery_key.as_str()))
                    .or_insert_with(|| {
                        leaders.push(index);
                        index
                    })
            })
            .collect();
        BatchPlan { leaders, leader_of }
    }

    pub(super) fn outcomes(
        &self,
        callbacks: &[NewCallback],
        stored: &HashMap<DeliveryKey, (i64, String, bool)>,
        lookup_failed: Option<&StoreError>,
    ) -> Vec<Result<StoreOutcome, StoreError>> {
        callbacks
            .iter()
            .enumerate()
            .map(|(index, cb)| {
                let key = (cb.source.clone(), cb.delivery_key.clone());
                let Some((id, stored_sha, inserted_now)) = stored.get(&key) else {
                    return Err(match lookup_failed {
                        Some(error) => error.copied(),
                        // The conflicting row vanished between insert and lookup (retention).
                        None => StoreError::Unavailable("conflicting row disappeared".into()),
                    });
                };
                let is_leader = self.leader_of[index] == index;
                Ok(StoreOutcome {
                    id: *id,
                    duplicate: !(*inserted_now && is_leader),
                    body_differs: *stored_sha != cb.body_sha256,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(source: &str, key: &str, sha: &str) -> NewCallback {
        NewCallback::for_tests(source, key, sha)
    }

    type Stored = HashMap<DeliveryKey, (i64, String, bool)>;

    fn stored(rows: &[(&str, &str, i64, &str, bool)]) -> Stored {
        rows.iter()
            .map(|(source, key, id, sha, new)| {
                (
                    (source.to_string(), key.to_string()),
                    (*id, sha.to_string(), *new),
                )
            })
            .collect()
    }

    fn outcome(id: i64, duplicate: bool, body_differs: bool) -> StoreOutcome {
        StoreOutcome {
            id,
            duplicate,
            body_differs,
        }
    }

    #[test]
    fn only_the_first_delivery_of_each_key_is_written() {
        let batch = [
            delivery("s", "a", "h1"),
            delivery("s", "b", "h2"),
            delivery("s", "a", "h1"),
            delivery("other", "a", "h3"),
        ];
        let plan = BatchPlan::new(&batch);
        assert_eq!(
            plan.leaders,
            vec![0, 1, 3],
            "the same key of another source is distinct"
        );
    }

    #[test]
    fn a_repeat_within_the_batch_is_a_duplicate_of_the_row_its_leader_wrote() {
        let batch = [delivery("s", "a", "h1"), delivery("s", "a", "h1")];
        let plan = BatchPlan::new(&batch);
        let answers = plan.outcomes(&batch, &stored(&[("s", "a", 7, "h1", true)]), None);
        let answers: Vec<_> = answers.into_iter().map(|a| a.unwrap()).collect();
        assert_eq!(
            answers,
            vec![outcome(7, false, false), outcome(7, true, false)]
        );
    }

    #[test]
    fn a_repeat_within_the_batch_with_another_body_keeps_the_first_and_says_so() {
        let batch = [delivery("s", "a", "first"), delivery("s", "a", "second")];
        let plan = BatchPlan::new(&batch);
        let answers = plan.outcomes(&batch, &stored(&[("s", "a", 3, "first", true)]), None);
        let answers: Vec<_> = answers.into_iter().map(|a| a.unwrap()).collect();
        assert_eq!(
            answers,
            vec![outcome(3, false, false), outcome(3, true, true)]
        );
    }

    #[test]
    fn a_key_stored_before_the_batch_makes_every_delivery_a_duplicate() {
        let batch = [delivery("s", "a", "h1"), delivery("s", "a", "h2")];
        let plan = BatchPlan::new(&batch);
        let answers = plan.outcomes(&batch, &stored(&[("s", "a", 1, "h1", false)]), None);
        let answers: Vec<_> = answers.into_iter().map(|a| a.unwrap()).collect();
        assert_eq!(
            answers,
            vec![outcome(1, true, false), outcome(1, true, true)]
        );
    }

    #[test]
    fn new_and_known_keys_in_one_batch_each_get_their_own_answer() {
        let batch = [delivery("s", "new", "h1"), delivery("s", "old", "h2")];
        let plan = BatchPlan::new(&batch);
        let answers = plan.outcomes(
            &batch,
            &stored(&[("s", "new", 10, "h1", true), ("s", "old", 2, "h2", false)]),
            None,
        );
        let answers: Vec<_> = answers.into_iter().map(|a| a.unwrap()).collect();
        assert_eq!(
            answers,
            vec![outcome(10, false, false), outcome(2, true, false)]
        );
    }

    #[test]
    fn a_key_the_database_did_not_report_is_unavailable_never_a_success() {
        let batch = [delivery("s", "a", "h1"), delivery("s", "gone", "h2")];
        let plan = BatchPlan::new(&batch);
        let answers = plan.outcomes(&batch, &stored(&[("s", "a", 1, "h1", true)]), None);
        assert!(answers[0].is_ok());
        assert!(
            matches!(answers[1], Err(StoreError::Unavailable(_))),
            "a delivery without a stored row must not be answered 200"
        );
    }

    #[test]
    fn when_the_stored_rows_cannot_be_read_only_their_keys_get_the_error() {
        let batch = [
            delivery("s", "new", "h1"),
            delivery("s", "old", "h2"),
            delivery("s", "new", "h1"),
        ];
        let plan = BatchPlan::new(&batch);
        let lookup_failed = StoreError::Unavailable("connection lost".into());
        let answers = plan.outcomes(
            &batch,
            &stored(&[("s", "new", 10, "h1", true)]),
            Some(&lookup_failed),
        );
        assert_eq!(answers[0].as_ref().ok(), Some(&outcome(10, false, false)));
        assert!(
            matches!(&answers[1], Err(StoreError::Unavailable(m)) if m == "connection lost"),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2].as_ref().ok(), Some(&outcome(10, true, false)));
    }
}
