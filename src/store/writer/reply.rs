//! How a written batch's answers reach the requests waiting for them: every answer is filled in
//! first, then one waiting request per HTTP worker thread is woken (the batch's "leader" on
//! that thread), and it wakes the others of its thread when it runs.
//!
//! Why not a `tokio::sync::oneshot` per request: a task of an HTTP worker woken from the
//! writer's thread wakes that worker's event loop with a system call (a write to its eventfd)
//! whenever the worker has polled its tasks since the previous wake-up, and a worker on the other
//! core does so within the time of that very call: measured, one such write per request, so a
//! batch of seven woke its two workers seven times (docs/performance.md, 2026-12-05). A request
//! woken by its leader on its own worker thread is queued there without any system call.
//!
//! Every answer is in its slot before any request is woken, so a request that runs early for any
//! reason finds its answer. A leader that stops waiting (its request was dropped) wakes the others
//! itself, one that already ran leaves them to the writer (`Slot::lead`), and a reply dropped
//! unanswered (the writer stopped) wakes its request with `WriterGone`, so no request is left
//! waiting.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::StoreOutcome;
use crate::store::StoreError;

pub(super) type Answer = Result<StoreOutcome, StoreError>;

/// The writer stopped without answering.
#[derive(Debug)]
pub(super) struct WriterGone;

/// A reply slot: the writer's half is `Reply`, the request's half is `ReplyWait`.
pub(super) fn channel() -> (Reply, ReplyWait) {
    let slot = Arc::new(Slot::default());
    let reply = Reply {
        slot: Some(slot.clone()),
        thread: this_thread(),
    };
    (reply, ReplyWait { slot })
}

/// Answers each reply and wakes, per thread the requests were made on, one waiting request,
/// which wakes the rest of its thread's (see the module comment).
pub(super) fn deliver(answers: impl IntoIterator<Item = (Reply, Answer)>) {
    wake_leaders(fill_in(answers));
}

/// Puts every answer in its slot; returns, per thread, the waiting request to wake first and
/// the others of that thread that wait.
fn fill_in(answers: impl IntoIterator<Item = (Reply, Answer)>) -> Vec<ThreadWakeUps> {
    let mut threads: Vec<ThreadWakeUps> = Vec::new();
    for (reply, answer) in answers {
        let thread = reply.thread;
        let Some((slot, waker)) = reply.answer(answer) else {
            continue;
        };
        match threads.iter_mut().find(|t| t.thread == thread) {
            Some(wake_ups) => wake_ups.others.push(waker),
            None => threads.push(ThreadWakeUps {
                thread,
                leader: (slot, waker),
                others: Vec::new(),
            }),
        }
    }
    threads
}

/// Wakes each thread's leader, which wakes the others when it runs; a leader that already ran
/// (woken for another reason after its answer was filled in) would never do so, so the others
/// of its thread are woken here.
fn wake_leaders(threads: Vec<ThreadWakeUps>) {
    for ThreadWakeUps {
        leader: (slot, waker),
        others,
        ..
    } in threads
    {
        match slot.lead(others) {
            Ok(()) => waker.wake(),
            Err(others) => others.into_iter().for_each(Waker::wake),
        }
    }
}

struct ThreadWakeUps {
    thread: usize,
    leader: (Arc<Slot>, Waker),
    others: Vec<Waker>,
}

/// The writer's half: answered once, or dropped (which tells the request the writer is gone).
pub(super) struct Reply {
    slot: Option<Arc<Slot>>,
    /// The thread the request was made on (`this_thread`).
    thread: usize,
}

impl Reply {
    /// Fills in the answer; returns the slot and the request's waker if the request is waiting.
    fn answer(mut self, answer: Answer) -> Option<(Arc<Slot>, Waker)> {
        let slot = self.slot.take()?;
        let waker = {
            let mut state = slot.state();
            if state.done_waiting {
                return None;
            }
            state.answer = Some(answer);
            state.waker.take()
        };
        waker.map(|waker| (slot, waker))
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let waker = {
                let mut state = slot.state();
                state.writer_gone = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The request's half: resolves to the answer, or to `WriterGone`.
pub(super) struct ReplyWait {
    slot: Arc<Slot>,
}

impl Future for ReplyWait {
    type Output = Result<Answer, WriterGone>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state();
        if let Some(answer) = state.answer.take() {
            state.done_waiting = true;
            let others = mem::take(&mut state.wake_next);
            drop(state);
            // On this request's own thread: queued there, no system call (module comment).
            others.into_iter().for_each(Waker::wake);
            return Poll::Ready(Ok(answer));
        }
        if state.writer_gone {
            return Poll::Ready(Err(WriterGone));
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for ReplyWait {
    fn drop(&mut self) {
        let others = {
            let mut state = self.slot.state();
            state.done_waiting = true;
            mem::take(&mut state.wake_next)
        };
        others.into_iter().for_each(Waker::wake);
    }
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    answer: Option<Answer>,
    /// The request's waker while it waits.
    waker: Option<Waker>,
    /// Requests of the same thread to wake once this one has its answer.
    wake_next: Vec<Waker>,
    /// The request has its answer or stopped waiting (its future was dropped): waking it would
    /// wake nothing, so it leads no one.
    done_waiting: bool,
    /// The reply was dropped unanswered.
    writer_gone: bool,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        // A panic while the lock is held leaves no half-done state behind: every field is
        // written in one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes this request the one that wakes `others`; gives them back if it is no longer
    /// waiting.
    fn lead(&self, others: Vec<Waker>) -> Result<(), Vec<Waker>> {
        let mut state = self.state();
        if state.done_waiting {
            return Err(others);
        }
        state.wake_next.extend(others);
        Ok(())
    }
}

/// A number for the current thread, the same for every call on it.
fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static THIS: usize = NEXT.fetch_add(1, Ordering::Relaxed));
    THIS.with(|this| *this)
}

#[cfg(test)]
mod tests {
    use std::task::Wake;

    use super::*;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Counting {
        fn woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn outcome(id: i64) -> Answer {
        Ok(StoreOutcome {
            id,
            duplicate: false,
            body_differs: false,
        })
    }

    /// Polls `wait` once with a fresh counting waker.
    fn poll_once(wait: &mut ReplyWait) -> (Poll<Result<Answer, WriterGone>>, Arc<Counting>) {
        let counter = Arc::new(Counting::default());
        let waker = Waker::from(counter.clone());
        let polled = Pin::new(wait).poll(&mut Context::from_waker(&waker));
        (polled, counter)
    }

    /// A request that has polled once and waits; the counter counts its wake-ups.
    fn waiting_request() -> (Reply, ReplyWait, Arc<Counting>) {
        let (reply, mut wait) = channel();
        let (polled, counter) = poll_once(&mut wait);
        assert!(polled.is_pending());
        (reply, wait, counter)
    }

    fn answered_id(polled: Poll<Result<Answer, WriterGone>>) -> i64 {
        match polled {
            Poll::Ready(Ok(Ok(outcome))) => outcome.id,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn a_batch_wakes_one_request_per_thread_and_it_wakes_the_others() {
        let mut waits = Vec::new();
        let mut replies = Vec::new();
        for _ in 0..3 {
            let (reply, wait) = channel();
            replies.push(reply);
            waits.push(wait);
        }
        let counters: Vec<_> = waits
            .iter_mut()
            .map(|wait| {
                let (polled, counter) = poll_once(wait);
                assert!(polled.is_pending());
                counter
            })
            .collect();

        deliver(
            replies
                .into_iter()
                .zip([outcome(1), outcome(2), outcome(3)]),
        );
        let woken: Vec<_> = counters.iter().map(|c| c.woken()).collect();
        assert_eq!(woken, [1, 0, 0], "only the leader is woken by the writer");

        // Every answer is already in place, so any request finds its own when it runs.
        assert_eq!(answered_id(poll_once(&mut waits[2]).0), 3);
        assert_eq!(answered_id(poll_once(&mut waits[0]).0), 1);
        let woken: Vec<_> = counters.iter().map(|c| c.woken()).collect();
        assert_eq!(woken, [1, 1, 1], "the leader woke the others when it ran");
        assert_eq!(answered_id(poll_once(&mut waits[1]).0), 2);
    }

    #[test]
    fn requests_of_different_threads_each_get_a_wake_up_from_the_writer() {
        let (here, mut wait_here) = channel();
        let (there, mut wait_there) = std::thread::spawn(channel).join().expect("the thread ran");
        assert_ne!(here.thread, there.thread);
        let (_, counter_here) = poll_once(&mut wait_here);
        let (_, counter_there) = poll_once(&mut wait_there);

        deliver([(here, outcome(1)), (there, outcome(2))]);
        assert_eq!(counter_here.woken(), 1);
        assert_eq!(counter_there.woken(), 1);
    }

    #[test]
    fn a_leader_that_stopped_waiting_still_wakes_the_others() {
        let (first, first_wait, first_counter) = waiting_request();
        let (second, mut second_wait, second_counter) = waiting_request();

        deliver([(first, outcome(1)), (second, outcome(2))]);
        assert_eq!((first_counter.woken(), second_counter.woken()), (1, 0));
        drop(first_wait);
        assert_eq!(second_counter.woken(), 1);
        assert_eq!(answered_id(poll_once(&mut second_wait).0), 2);
    }

    #[test]
    fn a_leader_that_already_ran_gives_the_others_back_to_the_writer() {
        // The leader ran between getting its answer and being made leader, so it would never
        // wake the others: `lead` refuses and `deliver` wakes them itself.
        let (reply, mut wait) = channel();
        assert!(poll_once(&mut wait).0.is_pending());
        let (slot, _waker) = reply.answer(outcome(1)).expect("the request is waiting");
        assert_eq!(answered_id(poll_once(&mut wait).0), 1);
        let other = Arc::new(Counting::default());
        let given_back = slot
            .lead(vec![Waker::from(other.clone())])
            .expect_err("a leader that has its answer leads no one");
        assert_eq!(given_back.len(), 1, "the other request's waker comes back");
        assert_eq!(other.woken(), 0, "and is left to the writer to wake");
    }

    #[test]
    fn when_the_leader_ran_before_it_was_made_leader_the_writer_wakes_the_others() {
        let (first, mut first_wait, first_counter) = waiting_request();
        let (second, mut second_wait, second_counter) = waiting_request();

        let threads = fill_in([(first, outcome(1)), (second, outcome(2))]);
        // The first request runs between getting its answer and being made leader.
        assert_eq!(answered_id(poll_once(&mut first_wait).0), 1);
        wake_leaders(threads);
        assert_eq!(
            second_counter.woken(),
            1,
            "the other request is woken by the writer, not left waiting"
        );
        assert_eq!(
            first_counter.woken(),
            0,
            "the leader has its answer already"
        );
        assert_eq!(answered_id(poll_once(&mut second_wait).0), 2);
    }

    #[test]
    fn a_request_gone_before_the_answer_is_skipped_as_leader() {
        let (first, first_wait) = channel();
        let (second, mut second_wait, second_counter) = waiting_request();
        drop(first_wait);

        deliver([(first, outcome(1)), (second, outcome(2))]);
        assert_eq!(second_counter.woken(), 1);
        assert_eq!(answered_id(poll_once(&mut second_wait).0), 2);
    }

    #[test]
    fn an_answer_that_arrives_before_the_first_poll_is_ready_at_once() {
        let (reply, mut wait) = channel();
        deliver([(reply, outcome(7))]);
        assert_eq!(answered_id(poll_once(&mut wait).0), 7);
    }

    #[test]
    fn a_reply_dropped_unanswered_wakes_its_request_with_writer_gone() {
        let (reply, mut wait) = channel();
        let (polled, counter) = poll_once(&mut wait);
        assert!(polled.is_pending());
        drop(reply);
        assert_eq!(counter.woken(), 1);
        assert!(matches!(
            poll_once(&mut wait).0,
            Poll::Ready(Err(WriterGone))
        ));
    }
}
