//! [`Mailbox`]: a queue between threads whose receiver sleeps at once when it is empty.
//!
//! std's channels spin, then yield, before they put a waiting receiver to sleep. In a
//! null run every core is busy with a worker, and a coordinator waiting for the next
//! report would spend on spinning the CPU time the workers need.

use std::collections::VecDeque;
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

/// A first-in, first-out queue for any number of senders and receivers.
pub(crate) struct Mailbox<T> {
    state: Mutex<(VecDeque<T>, bool)>,
    ready: Condvar,
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Self {
        Self { state: Mutex::new((VecDeque::new(), false)), ready: Condvar::new() }
    }

    /// Adds `item`, waking one waiting receiver.
    pub(crate) fn send(&self, item: T) {
        self.state.lock().expect("mailbox lock is never poisoned").0.push_back(item);
        self.ready.notify_one();
    }

    /// No more items will come: receivers get what is left, then [`Received::Closed`].
    pub(crate) fn close(&self) {
        self.state.lock().expect("mailbox lock is never poisoned").1 = true;
        self.ready.notify_all();
    }

    /// The next item, waiting as long as it takes; `None` once closed and empty.
    pub(crate) fn recv(&self) -> Option<T> {
        let mut state = self.state.lock().expect("mailbox lock is never poisoned");
        loop {
            if let Some(item) = state.0.pop_front() {
                return Some(item);
            }
            if state.1 {
                return None;
            }
            state = self.ready.wait(state).expect("mailbox lock is never poisoned");
        }
    }

    /// The next item, waiting at most `timeout`.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Received<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().expect("mailbox lock is never poisoned");
        loop {
            if let Some(item) = state.0.pop_front() {
                return Received::Item(item);
            }
            if state.1 {
                return Received::Closed;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return Received::TimedOut;
            };
            state = self.ready.wait_timeout(state, left).expect("mailbox lock is never poisoned").0;
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
}
