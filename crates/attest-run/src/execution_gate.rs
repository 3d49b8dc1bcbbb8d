//! A gate that holds back the first step to execute until the run is on record.
//!
//! The run history is written on a thread of its own so that a run of cache hits never
//! waits for the database. A step that executes has effects, though, and a run killed
//! during one must read back as interrupted: so no step executes before the caller
//! opens the gate (once the run's start is committed). Cache hits never wait.

use std::sync::{Arc, Condvar, Mutex};

/// Where executing steps wait; cloned into the run's options.
#[derive(Debug, Clone)]
pub struct ExecutionGate {
    shared: Arc<Shared>,
}

/// What opens an [`ExecutionGate`]: [`GateOpener::open`], or dropping it (a recorder that
/// failed or never started must not hold the run up).
#[derive(Debug)]
pub struct GateOpener {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Whether the gate is open. Only steps about to execute look (cache hits never do),
    /// so an uncontended lock per look is nothing next to starting a process.
    open: Mutex<bool>,
    opened: Condvar,
}

impl ExecutionGate {
    /// A shut gate and the one thing that opens it.
    pub fn shut() -> (Self, GateOpener) {
        let shared = Arc::new(Shared::default());
        (Self { shared: Arc::clone(&shared) }, GateOpener { shared })
    }

    /// Returns once the gate is open.
    pub fn wait(&self) {
        let open = self.shared.open.lock().expect("gate lock is never poisoned");
        drop(self.shared.opened.wait_while(open, |open| !*open).expect("gate lock is never poisoned"));
    }
}

impl GateOpener {
    /// Opens the gate: every waiting step goes on, and no step waits again.
    pub fn open(self) {
        drop(self);
    }
}

impl Drop for GateOpener {
    fn drop(&mut self) {
        *self.shared.open.lock().expect("gate lock is never poisoned") = true;
        self.shared.opened.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn waiters_are_held_until_the_gate_opens() {
        let (gate, opener) = ExecutionGate::shut();
        let (passed, passes) = mpsc::channel();
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let gate = gate.clone();
                let passed = passed.clone();
                std::thread::spawn(move || {
                    gate.wait();
                    passed.send(i).expect("the test holds the receiver");
                })
            })
            .collect();
        assert!(passes.recv_timeout(Duration::from_millis(100)).is_err(), "a waiter passed a shut gate");
        opener.open();
        let mut through: Vec<i32> = (0..3)
            .map(|_| passes.recv_timeout(Duration::from_secs(10)).expect("an open gate lets every waiter pass"))
            .collect();
        through.sort_unstable();
        assert_eq!(through, [0, 1, 2]);
        waiters.into_iter().for_each(|w| w.join().expect("waiter finished"));
        gate.wait();
    }

    #[test]
    fn a_dropped_opener_opens_the_gate() {
        let (gate, opener) = ExecutionGate::shut();
        std::thread::spawn(move || drop(opener)).join().expect("dropping thread finished");
        gate.wait();
    }
}
