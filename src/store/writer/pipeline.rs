//! The writer's loop: which deliveries go to the database together, and when.
//!
//! On Postgres two batches may be on their way at once, pipelined on the writer's one
//! connection (pg_writer_connection.rs): the second waits there behind the first, which holds
//! the order lock until its commit is flushed, so the database starts it the moment that commit
//! is done instead of waiting for a round trip through Hookbox; ids still become visible in the
//! order they were drawn. The second batch is sent
//! once the writer holds as many deliveries as the first carries (or a full batch; arrivals.rs
//! wakes the writer when that many have queued): sent
//! earlier, it would split the senders that arrive during one commit into several small
//! batches, each paying for a commit of its own. A lone delivery is sent at once.
//! Behind a batch of more than `PIPELINE_UP_TO_ROWS` the next one waits for it to finish: its
//! commit is already shared by many, and a second batch only makes both smaller (see
//! docs/performance.md, 2026-12-02).
//! While a read runs on the Postgres pool (an admin page, a token lookup: reads_in_flight.rs),
//! the writer sends no second batch: with one always waiting behind the first, the writer's
//! database process never leaves its core, and on a small machine the read's process waits for
//! a core behind it. Alternated with the build before in 24 pairs of polling runs during
//! 16-sender ingest (1,000,000 callbacks), the polls' worst p99 was lower in 20, its median 4.05
//! against 4.97 ms, for 3 % fewer callbacks stored meanwhile (docs/performance.md, 2026-12-06
//! 16:22). With no read running nothing changes.
//! SQLite writes through its one write connection, so there one batch is on its way at a time.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Instant;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::mpsc::{self, error::TryRecvError};

use super::{write_batch, Answers, Batches, Pending};
use crate::store::Db;

/// The largest batch on its way behind which a second one is sent. Measured: at 16 senders
/// (batches of 7–8) the second batch raised throughput by a sixth to a third; at 64 senders
/// (batches of about 29) it split them into batches of 23, with no more throughput and a higher p99.
const PIPELINE_UP_TO_ROWS: usize = 16;

/// When the deliveries the writer holds are sent to the database.
#[derive(Clone, Copy, Debug)]
pub(super) struct DispatchRule {
    /// Batches on their way at once.
    pub(super) depth: usize,
}

impl DispatchRule {
    pub(super) fn for_db(db: &Db) -> DispatchRule {
        let depth = match db {
            Db::Postgres { .. } => 2,
            Db::Sqlite { .. } => 1,
        };
        DispatchRule { depth }
    }

    /// The rule while reads run on the pool: one batch on its way at a time.
    pub(super) fn yielding_to_reads(self, reading: bool) -> DispatchRule {
        if reading {
            DispatchRule { depth: 1 }
        } else {
            self
        }
    }

    /// `newest_in_flight`: the rows of the batch sent last, if any is still on its way.
    pub(super) fn ready(
        &self,
        held: usize,
        in_flight: usize,
        newest_in_flight: Option<usize>,
        full: bool,
        closing: bool,
    ) -> bool {
        if held == 0 || !self.has_room(in_flight, newest_in_flight) {
            return false;
        }
        match newest_in_flight {
            None => true,
            Some(rows) => full || closing || held >= rows,
        }
    }

    /// Whether another batch may join those on their way. While none may, a delivery that
    /// arrives cannot change what the writer does before a batch finishes, so the writer leaves
    /// arrivals in the queue, where they wake nothing, and takes them when one finishes.
    pub(super) fn has_room(&self, in_flight: usize, newest_in_flight: Option<usize>) -> bool {
        in_flight < self.depth && newest_in_flight.is_none_or(|rows| rows <= PIPELINE_UP_TO_ROWS)
    }
}

/// The batches on their way to the database.
#[derive(Default)]
struct InFlight<'a> {
    writing: Vec<(usize, BoxFuture<'a, Answers>)>,
    done: Vec<Answers>,
}

impl<'a> InFlight<'a> {
    fn len(&self) -> usize {
        self.writing.len() + self.done.len()
    }

    fn newest_rows(&self) -> Option<usize> {
        self.writing.last().map(|(rows, _)| *rows)
    }

    /// Polls the new batch once, so that its statement is handed to the connection now rather
    /// than whenever the loop next waits.
    async fn start(&mut self, rows: usize, mut write: BoxFuture<'a, Answers>) {
        match poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
            Poll::Ready(answers) => self.done.push(answers),
            Poll::Pending => self.writing.push((rows, write)),
        }
    }

    /// The next batch to finish. Pending forever when none is on its way.
    async fn next_done(&mut self) -> Answers {
        if let Some(answers) = self.done.pop() {
            return answers;
        }
        poll_fn(|cx| {
            let finished = self
                .writing
                .iter_mut()
                .enumerate()
                .find_map(|(index, (_, write))| match write.as_mut().poll(cx) {
                    Poll::Ready(answers) => Some((index, answers)),
                    Poll::Pending => None,
                });
            match finished {
                Some((index, answers)) => {
                    drop(self.writing.remove(index));
                    Poll::Ready(answers)
                }
                None => Poll::Pending,
            }
        })
        .await
    }
}

pub(super) struct Pipeline<'a> {
    batches: &'a Batches,
    rule: DispatchRule,
    /// Taken from the queue, not yet sent: at most one batch's worth, so the bounded queue
    /// still pushes back on the requests when the database falls behind.
    held: VecDeque<Pending>,
    held_bytes: usize,
    in_flight: InFlight<'a>,
    /// The queue is still open (some `CallbackWriter` is alive).
    open: bool,
    busy_since: Option<Instant>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(batches: &'a Batches) -> Self {
        Pipeline {
            batches,
            rule: DispatchRule::for_db(&batches.db),
            held: VecDeque::new(),
            held_bytes: 0,
            in_flight: InFlight::default(),
            open: true,
            busy_since: None,
        }
    }

    /// Writes until the queue is closed and everything taken from it is answered.
    pub(super) async fn run(mut self, receiver: &mut mpsc::Receiver<Pending>) {
        loop {
            self.take_queued(receiver);
            if self.dispatch_if_ready().await {
                continue;
            }
            if self.in_flight.len() == 0 {
                if !self.open {
                    return;
                }
                let next = receiver.recv().await;
                self.hold(next);
                continue;
            }
            // A full hold with room would have been dispatched above, so room alone decides.
            let listen = self.open
                && self
                    .rule()
                    .has_room(self.in_flight.len(), self.in_flight.newest_rows());
            if listen {
                // The next batch goes once it is as large as the one on its way (`ready`), so
                // the writer sleeps until that many have queued, not at each arrival. A hold
                // filled by bytes first waits for the batch on its way instead.
                let wanted = self
                    .in_flight
                    .newest_rows()
                    .unwrap_or(1)
                    .saturating_sub(self.held.len())
                    .max(1);
                if self.batches.arrivals.wait_for(wanted, || receiver.len()) {
                    continue;
                }
            }
            tokio::select! {
                answers = self.in_flight.next_done() => {
                    self.batches.arrivals.stop_waiting();
                    self.note_finished();
                    // The next batch goes to the database before this one is answered:
                    // answering wakes the HTTP workers and the senders at once, and the
                    // database, the one serial step, would otherwise wait for a core behind
                    // them. The yield lets the connection task write the statement first.
                    self.take_queued(receiver);
                    if self.dispatch_if_ready().await {
                        tokio::task::yield_now().await;
                    }
                    answers.send();
                }
                () = self.batches.arrivals.enough(), if listen => {}
            }
        }
    }

    fn rule(&self) -> DispatchRule {
        let reading = matches!(&self.batches.db, Db::Postgres { reads, .. } if reads.any());
        self.rule.yielding_to_reads(reading)
    }

    fn held_full(&self) -> bool {
        self.held.len() >= self.batches.limits.max_rows
            || self.held_bytes >= self.batches.limits.max_bytes
    }

    fn hold(&mut self, next: Option<Pending>) {
        match next {
            Some(pending) => {
                self.held_bytes += pending.callback.body.len();
                self.held.push_back(pending);
                self.batches.stats.set_held(self.held.len());
            }
            None => self.open = false,
        }
    }

    /// Takes what is queued right now, up to one batch's worth.
    fn take_queued(&mut self, receiver: &mut mpsc::Receiver<Pending>) {
        while self.open && !self.held_full() {
            match receiver.try_recv() {
                Ok(pending) => self.hold(Some(pending)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.hold(None),
            }
        }
    }

    /// Sends what the writer holds as one batch if the rule says so; true if it did.
    async fn dispatch_if_ready(&mut self) -> bool {
        let ready = self.rule().ready(
            self.held.len(),
            self.in_flight.len(),
            self.in_flight.newest_rows(),
            self.held_full(),
            !self.open,
        );
        if !ready {
            return false;
        }
        let batch: Vec<Pending> = self.held.drain(..).collect();
        self.held_bytes = 0;
        self.batches.stats.set_held(0);
        if self.busy_since.is_none() {
            self.busy_since = Some(Instant::now());
        }
        let rows = batch.len();
        let write = write_batch(self.batches, batch).boxed();
        self.in_flight.start(rows, write).await;
        self.batches.stats.set_on_their_way(self.in_flight.len());
        true
    }

    fn note_finished(&mut self) {
        self.batches.stats.set_on_their_way(self.in_flight.len());
        if self.in_flight.len() == 0 {
            if let Some(since) = self.busy_since.take() {
                self.batches.stats.add_busy(since.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DispatchRule;

    const POSTGRES: DispatchRule = DispatchRule { depth: 2 };
    const SQLITE: DispatchRule = DispatchRule { depth: 1 };

    #[test]
    fn a_lone_delivery_is_sent_at_once() {
        assert!(POSTGRES.ready(1, 0, None, false, false));
        assert!(SQLITE.ready(1, 0, None, false, false));
    }

    #[test]
    fn nothing_held_nothing_sent() {
        assert!(!POSTGRES.ready(0, 0, None, false, false));
        assert!(!POSTGRES.ready(0, 1, Some(8), false, true));
    }

    #[test]
    fn a_second_batch_waits_until_it_is_as_large_as_the_one_on_its_way() {
        assert!(!POSTGRES.ready(7, 1, Some(8), false, false));
        assert!(POSTGRES.ready(8, 1, Some(8), false, false));
        assert!(POSTGRES.ready(1, 1, Some(1), false, false));
    }

    #[test]
    fn a_full_batch_or_a_closing_queue_does_not_wait_for_company() {
        assert!(POSTGRES.ready(3, 1, Some(8), true, false));
        assert!(POSTGRES.ready(3, 1, Some(8), false, true));
    }

    #[test]
    fn behind_a_large_batch_the_next_waits_for_it_to_finish() {
        assert!(POSTGRES.ready(16, 1, Some(16), false, false));
        assert!(!POSTGRES.ready(17, 1, Some(17), false, false));
        assert!(!POSTGRES.ready(256, 1, Some(64), true, false));
    }

    #[test]
    fn arrivals_are_left_queued_while_no_batch_may_join() {
        assert!(POSTGRES.has_room(0, None));
        assert!(POSTGRES.has_room(1, Some(16)));
        assert!(!POSTGRES.has_room(1, Some(17)));
        assert!(!POSTGRES.has_room(2, Some(1)));
        assert!(SQLITE.has_room(0, None));
        assert!(!SQLITE.has_room(1, Some(1)));
    }

    #[test]
    fn while_reads_run_one_batch_at_a_time() {
        let reading = POSTGRES.yielding_to_reads(true);
        assert!(reading.ready(1, 0, None, false, false));
        assert!(!reading.ready(8, 1, Some(8), false, false));
        assert!(!reading.ready(256, 1, Some(1), true, false));
        assert!(!reading.has_room(1, Some(1)));
        assert!(POSTGRES
            .yielding_to_reads(false)
            .ready(8, 1, Some(8), false, false));
    }

    #[test]
    fn never_more_batches_on_their_way_than_the_depth() {
        assert!(!POSTGRES.ready(256, 2, Some(1), true, true));
        assert!(!SQLITE.ready(256, 1, Some(1), true, true));
    }
}
