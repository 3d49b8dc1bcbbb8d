//! What leaves the machine about a run: events delivered to the handlers of
//! `events.handlers` (JSON Lines files, webhooks signed with HMAC-SHA256) and run metrics
//! pushed to a Prometheus Pushgateway.
//!
//! - [`EventBus`]: bounded background delivery that never slows the steps, flushed at the
//!   end with a deadline; [`Event`] is what handlers receive.
//! - [`request`]: the small HTTP/1.1 client both use (http and https via rustls/ring).
//! - [`hmac_sha256`], [`signature_header`]: the `X-Attest-Signature` scheme.
//! - [`push_metrics`]: [`RunMetrics`] in the Prometheus text format, to a Pushgateway.

mod event;
mod event_bus;
mod file_sink;
mod hmac_sha256;
mod http_client;
mod metrics_push;
#[cfg(feature = "test-server")]
pub mod test_server;
mod webhook;

pub use event::Event;
pub use event_bus::{DeliveryProblem, EventBus, QUEUE_CAPACITY};
pub use hmac_sha256::{hmac_sha256, signature_header};
pub use http_client::{HttpError, HttpResponse, request};
pub use metrics_push::{RunMetrics, StepMetric, prometheus_text, push_metrics, push_url};
pub use webhook::{FIRST_BACKOFF, MAX_BACKOFF};
