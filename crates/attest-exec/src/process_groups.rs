use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, Signal as RawSignal, kill_process_group};

/// Signals the coordinator sends to a step's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ask politely.
    Terminate,
    /// Stop now.
    Kill,
}

/// The process groups of running commands, by a token the caller chooses (the step
/// index). Clones share the same registry.
#[derive(Debug, Clone, Default)]
pub struct ProcessGroups {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: Mutex<HashMap<usize, i32>>,
    cancelled: AtomicBool,
}

fn send(pid: i32, signal: Signal) {
    let raw = match signal {
        Signal::Terminate => RawSignal::TERM,
        Signal::Kill => RawSignal::KILL,
    };
    if let Some(pid) = Pid::from_raw(pid) {
        // The group may already be gone; that is the outcome we wanted.
        let _ = kill_process_group(pid, raw);
    }
}

impl ProcessGroups {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a started group. If everything was already cancelled, the group is
    /// terminated at once, so a step started during shutdown cannot escape it.
    pub(crate) fn register(&self, token: usize, pid: i32) {
        self.inner.groups.lock().expect("process registry lock is never poisoned").insert(token, pid);
        if self.inner.cancelled.load(Ordering::SeqCst) {
            send(pid, Signal::Terminate);
        }
    }

    pub(crate) fn unregister(&self, token: usize) {
        self.inner.groups.lock().expect("process registry lock is never poisoned").remove(&token);
    }

    /// Sends `signal` to the group of the command registered under `token`, if running.
    pub fn signal(&self, token: usize, signal: Signal) {
        let pid = self.inner.groups.lock().expect("process registry lock is never poisoned").get(&token).copied();
        if let Some(pid) = pid {
            send(pid, signal);
        }
    }

    /// Marks everything cancelled and sends `signal` to every running group.
    pub fn signal_all(&self, signal: Signal) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let pids: Vec<i32> =
            self.inner.groups.lock().expect("process registry lock is never poisoned").values().copied().collect();
        for pid in pids {
            send(pid, signal);
        }
    }

    /// How many commands are running.
    pub fn running(&self) -> usize {
        self.inner.groups.lock().expect("process registry lock is never poisoned").len()
    }
}
