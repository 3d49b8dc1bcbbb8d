//! [`EventBus`]: delivers events to the pipeline's handlers without ever slowing the run.
//!
//! Each handler has a bounded queue drained by its own thread. [`EventBus::emit`] only
//! serialises the event and offers it to the queues (an event that finds a queue full is
//! dropped and counted, never waited for). [`EventBus::finish`] closes the queues and waits
//! for them to drain until a deadline; what is still undelivered then is reported.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attest_pipeline::{EventHandler, HandlerTarget};

use crate::Event;
use crate::file_sink::FileSink;
use crate::webhook::Webhook;

/// Events a handler may have waiting before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;

/// A delivery that did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryProblem {
    /// The handler, for people: `webhook https://…` or `file events.jsonl`.
    pub handler: String,
    /// Whether the handler is `required: true` (the run fails).
    pub required: bool,
    /// What went wrong, with the event type when it is about one event.
    pub message: String,
}

struct Queued {
    kind: &'static str,
    body: Arc<Vec<u8>>,
}

struct Sink {
    name: String,
    required: bool,
    handler: EventHandler,
    queue: SyncSender<Queued>,
    dropped: AtomicUsize,
}

/// The deadline of the final flush, shared with the delivery threads (0 = none yet).
#[derive(Default)]
struct FlushDeadline {
    started: Option<Instant>,
    millis: AtomicU64,
}

impl FlushDeadline {
    fn get(&self) -> Option<Instant> {
        let ms = self.millis.load(Ordering::SeqCst);
        (ms > 0).then(|| self.started.map(|s| s + Duration::from_millis(ms))).flatten()
    }
}

/// Delivers events to handlers in the background.
pub struct EventBus {
    sinks: Vec<Sink>,
    done: Mutex<Receiver<(String, Vec<DeliveryProblem>)>>,
    problems: Vec<DeliveryProblem>,
    deadline: Arc<FlushDeadline>,
    sequence: AtomicU64,
    run_id: String,
}

fn describe(handler: &EventHandler) -> String {
    match &handler.target {
        HandlerTarget::File { path } => format!("file {path}"),
        HandlerTarget::Webhook { url } => format!("webhook {url}"),
    }
}

impl EventBus {
    /// Starts a delivery thread per handler. File paths are relative to `root`; a webhook's
    /// `secret_env` is read from `env`. A handler that cannot start (file not writable,
    /// secret not set) is reported by [`finish`](Self::finish) and receives nothing.
    pub fn start(handlers: &[EventHandler], root: &Path, env: &BTreeMap<String, String>, run_id: &str) -> Self {
        let (done_tx, done) = channel();
        let deadline = Arc::new(FlushDeadline { started: Some(Instant::now()), millis: AtomicU64::new(0) });
        let mut sinks = Vec::new();
        let mut problems = Vec::new();
        for handler in handlers {
            let name = describe(handler);
            let problem =
                |message: String| DeliveryProblem { handler: name.clone(), required: handler.required, message };
            let (queue, receiver) = sync_channel::<Queued>(QUEUE_CAPACITY);
            let report = done_tx.clone();
            let worker_deadline = Arc::clone(&deadline);
            match &handler.target {
                HandlerTarget::File { path } => match FileSink::open(&path.under(root)) {
                    Ok(mut file) => {
                        let name = name.clone();
                        let required = handler.required;
                        std::thread::spawn(move || {
                            let mut problems = Vec::new();
                            for event in receiver {
                                let mut line = event.body.to_vec();
                                line.push(b'\n');
                                if let Err(err) = file.append(&line) {
                                    problems.push(DeliveryProblem {
                                        handler: name.clone(),
                                        required,
                                        message: format!("{}: {err}", event.kind),
                                    });
                                }
                            }
                            let _ = report.send((name, problems));
                        });
                    }
                    Err(err) => {
                        problems.push(problem(format!("cannot open {}: {err}", path.under(root).display())));
                        continue;
                    }
                },
                HandlerTarget::Webhook { url } => {
                    let secret = match &handler.secret_env {
                        None => None,
                        Some(var) => match env.get(var) {
                            Some(value) if !value.is_empty() => Some(value.as_bytes().to_vec()),
                            _ => {
                                problems.push(problem(format!(
                                    "`secret_env: {var}` is not set in the environment: nothing is sent unsigned"
                                )));
                                continue;
                            }
                        },
                    };
                    let webhook =
                        Webhook { url: url.clone(), secret, timeout: handler.timeout, retries: handler.retries };
                    let name = name.clone();
                    let required = handler.required;
                    std::thread::spawn(move || {
                        let mut problems = Vec::new();
                        let give_up = || worker_deadline.get();
                        for event in receiver {
                            let delivery = delivery_id();
                            if let Err(message) = webhook.deliver(event.kind, &delivery, &event.body, &give_up) {
                                problems.push(DeliveryProblem {
                                    handler: name.clone(),
                                    required,
                                    message: format!("{}: {message}", event.kind),
                                });
                            }
                        }
                        let _ = report.send((name, problems));
                    });
                }
            }
            sinks.push(Sink {
                name,
                required: handler.required,
                handler: handler.clone(),
                queue,
                dropped: AtomicUsize::new(0),
            });
        }
        Self {
            sinks,
            done: Mutex::new(done),
            problems,
            deadline,
            sequence: AtomicU64::new(0),
            run_id: run_id.to_owned(),
        }
    }

    /// Whether any handler is listening (to skip building events nobody wants).
    pub fn is_active(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Whether a handler wants events of `kind` (to skip costly data nobody receives).
    pub fn wants(&self, kind: &str) -> bool {
        self.sinks.iter().any(|s| s.handler.wants(kind))
    }

    /// Offers an event of type `kind` to every handler that wants it. Never blocks.
    pub fn emit(&self, kind: &'static str, step: Option<&str>, data: serde_json::Value) {
        let wanted: Vec<&Sink> = self.sinks.iter().filter(|s| s.handler.wants(kind)).collect();
        if wanted.is_empty() {
            return;
        }
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        let event = Event {
            kind,
            id: format!("{}-{sequence}", self.run_id),
            time: now_rfc3339(),
            run_id: self.run_id.clone(),
            step: step.map(str::to_owned),
            data,
        };
        let body = Arc::new(serde_json::to_vec(&event).unwrap_or_default());
        for sink in wanted {
            match sink.queue.try_send(Queued { kind, body: Arc::clone(&body) }) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    sink.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Closes the queues and waits until they are delivered or `within` has passed.
    /// Returns every delivery that did not happen.
    pub fn finish(self, within: Duration) -> Vec<DeliveryProblem> {
        let Self { sinks, done, mut problems, deadline, .. } = self;
        let done = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = deadline.started.unwrap_or_else(Instant::now);
        let at = Instant::now() + within;
        deadline
            .millis
            .store(u64::try_from(at.duration_since(started).as_millis()).unwrap_or(u64::MAX).max(1), Ordering::SeqCst);
        let waiting = sinks.len();
        let mut pending: Vec<(String, bool)> = Vec::new();
        for sink in sinks {
            let dropped = sink.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                problems.push(DeliveryProblem {
                    handler: sink.name.clone(),
                    required: sink.required,
                    message: format!("{dropped} events dropped: more than {QUEUE_CAPACITY} were waiting"),
                });
            }
            pending.push((sink.name, sink.required));
            drop(sink.queue);
        }
        for _ in 0..waiting {
            let left = at.saturating_duration_since(Instant::now());
            match done.recv_timeout(left) {
                Ok((name, found)) => {
                    problems.extend(found);
                    if let Some(i) = pending.iter().position(|(n, _)| *n == name) {
                        pending.remove(i);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        if !pending.is_empty() {
            let names: Vec<String> = pending.iter().map(|(n, _)| n.clone()).collect();
            problems.push(DeliveryProblem {
                handler: names.join(", "),
                required: pending.iter().any(|(_, r)| *r),
                message: format!("deliveries still pending after {within:?} were abandoned"),
            });
        }
        problems
    }
}

/// A unique delivery id (128 random bits, hex), the same for every retry of a delivery.
fn delivery_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        static FALLBACK: Mutex<u64> = Mutex::new(0);
        let mut n = FALLBACK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *n += 1;
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes[8..].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now, RFC 3339 UTC with milliseconds.
fn now_rfc3339() -> String {
    attest_receipt::rfc3339(std::time::SystemTime::now())
}
