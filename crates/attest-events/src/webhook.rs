//! The `webhook` handler: an HTTP POST of each event's JSON, signed with HMAC-SHA256 when
//! the handler names a secret, retried with exponential backoff.

use std::time::{Duration, Instant};

use crate::hmac_sha256::signature_header;
use crate::http_client::request;

/// The wait before the first retry; each next one doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A webhook target with its settings.
pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
}

impl Webhook {
    /// Delivers `body` (an event of type `kind`), retrying failures until it succeeds,
    /// the retries run out, or `give_up()` says the flush deadline has passed. Returns the
    /// last error when it could not deliver.
    pub(crate) fn deliver(
        &self,
        kind: &str,
        delivery: &str,
        body: &[u8],
        give_up: &dyn Fn() -> Option<Instant>,
    ) -> Result<(), String> {
        let signature = self.secret.as_ref().map(|key| signature_header(key, body));
        let mut headers =
            vec![("Content-Type", "application/json"), ("X-Attest-Event", kind), ("X-Attest-Delivery", delivery)];
        if let Some(signature) = &signature {
            headers.push(("X-Attest-Signature", signature));
        }
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let mut timeout = self.timeout;
            if let Some(deadline) = give_up() {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => timeout = timeout.min(left),
                    _ => return Err("the flush deadline passed before it could be delivered".to_owned()),
                }
            }
            let error = match request("POST", &self.url, &headers, body, timeout) {
                Ok(response) if response.is_success() => return Ok(()),
                Ok(response) => format!("HTTP {}", response.status),
                Err(err) => err.to_string(),
            };
            if attempt >= self.retries {
                let tries = if attempt == 0 { "1 attempt".to_owned() } else { format!("{} attempts", attempt + 1) };
                return Err(format!("{error} (after {tries})"));
            }
            attempt += 1;
            let wake = Instant::now() + backoff;
            if give_up().is_some_and(|deadline| deadline < wake) {
                return Err(format!("{error} (the flush deadline passed before the next attempt)"));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
