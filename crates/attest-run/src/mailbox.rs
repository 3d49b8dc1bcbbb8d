//! [`Mailbox`]: a queue between threads whose receiver sleeps at once when it is empty.
//!
//! std's channels spin, then yield, before they put a waiting receiver to sleep. In a
//! null run every core is busy with a worker, and a coordinator waiting for the next
//! report would spend on spinning the CPU time the workers need.
//!
//! Items may carry a rank ([`Mailbox::send_ranked`]): a receiver gets the highest-ranked
//! item first, and items of one rank in the order they were sent. The scheduler ranks
//! the steps it hands to workers ahead of time, so that a step on the critical path that
//! becomes ready later still starts before those queued earlier.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What [`Mailbox::recv_timeout`] got.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received<T> {
    Item(T),
    TimedOut,
    /// Closed, and every item taken.
    Closed,
}

/// A queue for any number of senders and receivers: highest rank first, then first in,
/// first out.
pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: BinaryHeap<Queued<T>>,
    /// Items sent so far: the next one's place among those of its rank.
    sent: u64,
    closed: bool,
    /// Receivers asleep on the condition variable: a send wakes one only when there is
    /// one (a wake is a system call, and busy receivers need none).
    sleeping: usize,
}

/// An item with its rank and the order it was sent in.
struct Queued<T> {
    rank: u64,
    sent: u64,
    item: T,
}

impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank).then_with(|| other.sent.cmp(&self.sent))
    }
}

impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Queued<T> {}

impl<T> State<T> {
    fn take(&mut self) -> Option<T> {
        self.items.pop().map(|queued| queued.item)
    }
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Self {
        let state = State { items: BinaryHeap::new(), sent: 0, closed: false, sleeping: 0 };
        Self { state: Mutex::new(state), ready: Condvar::new() }
    }

    /// Adds `item` behind every item sent before it, waking one waiting receiver.
    pub(crate) fn send(&self, item: T) {
        self.send_ranked(item, 0);
    }

    /// Adds `item` ahead of every item of a lower rank, waking one waiting receiver.
    pub(crate) fn send_ranked(&self, item: T, rank: u64) {
        let mut state = self.state.lock().expect("mailbox lock is never poisoned");
        let sent = state.sent;
        state.sent += 1;
        state.items.push(Queued { rank, sent, item });
        let sleeping = state.sleeping > 0;
        drop(state);
        if sleeping {
            self.ready.notify_one();
        }
    }

    /// No more items will come: receivers get what is left, then [`Received::Closed`].
    pub(crate) fn close(&self) {
        self.state.lock().expect("mailbox lock is never poisoned").closed = true;
        self.ready.notify_all();
    }

    /// The next item, waiting as long as it takes; `None` once closed and empty.
    pub(crate) fn recv(&self) -> Option<T> {
        let mut state = self.state.lock().expect("mailbox lock is never poisoned");
        loop {
            if let Some(item) = state.take() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state.sleeping += 1;
            state = self.ready.wait(state).expect("mailbox lock is never poisoned");
            state.sleeping -= 1;
        }
    }

    /// The next item, waiting at most `timeout`.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Received<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().expect("mailbox lock is never poisoned");
        loop {
            if let Some(item) = state.take() {
                return Received::Item(item);
            }
            if state.closed {
                return Received::Closed;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return Received::TimedOut;
            };
            state.sleeping += 1;
            state = self.ready.wait_timeout(state, left).expect("mailbox lock is never poisoned").0;
            state.sleeping -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_in_order_then_closed() {
        let mailbox = Mailbox::new();
        mailbox.send(1);
        mailbox.send(2);
        mailbox.close();
        assert_eq!(mailbox.recv(), Some(1));
        assert_eq!(mailbox.recv_timeout(Duration::from_secs(1)), Received::Item(2));
        assert_eq!(mailbox.recv(), None);
        assert_eq!(mailbox.recv_timeout(Duration::from_secs(1)), Received::Closed);
    }

    #[test]
    fn higher_ranks_come_first_and_equal_ranks_in_order() {
        let mailbox = Mailbox::new();
        for (item, rank) in [("a", 1), ("b", 3), ("c", 1), ("d", 3), ("e", 0), ("f", 2)] {
            mailbox.send_ranked(item, rank);
        }
        mailbox.close();
        let order: Vec<&str> = std::iter::from_fn(|| mailbox.recv()).collect();
        assert_eq!(order, ["b", "d", "f", "a", "c", "e"]);
    }

    #[test]
    fn an_empty_mailbox_times_out_after_the_timeout() {
        let mailbox: Mailbox<u8> = Mailbox::new();
        let started = Instant::now();
        assert_eq!(mailbox.recv_timeout(Duration::from_millis(30)), Received::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_waiting_receiver_gets_what_another_thread_sends() {
        let mailbox = Mailbox::new();
        std::thread::scope(|scope| {
            let receiver = scope.spawn(|| (0..100).map(|_| mailbox.recv().expect("an item")).collect::<Vec<u32>>());
            for i in 0..100 {
                mailbox.send(i);
            }
            assert_eq!(receiver.join().expect("receives"), (0..100).collect::<Vec<_>>());
        });
    }

    /// Senders wake only sleeping receivers: with several of each, no item is lost, none
    /// comes twice, and nobody sleeps through an item.
    #[test]
    fn many_senders_and_receivers_lose_nothing() {
        let mailbox = Mailbox::new();
        let got: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let receivers: Vec<_> =
                (0..4).map(|_| scope.spawn(|| std::iter::from_fn(|| mailbox.recv()).collect::<Vec<u32>>())).collect();
            let senders: Vec<_> = (0..2u32)
                .map(|s| {
                    let mailbox = &mailbox;
                    scope.spawn(move || {
                        for i in 0..5000 {
                            mailbox.send_ranked(s * 5000 + i, u64::from(i % 3));
                        }
                    })
                })
                .collect();
            for sender in senders {
                sender.join().expect("sends");
            }
            mailbox.close();
            receivers.into_iter().map(|r| r.join().expect("receives")).collect()
        });
        let mut all: Vec<u32> = got.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
    }
}
