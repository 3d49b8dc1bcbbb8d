//! Run metrics in the Prometheus text exposition format (version 0.0.4), pushed to a
//! Pushgateway (`attest run --metrics-endpoint URL`): `PUT
//! URL/metrics/job/attest/pipeline@base64/<name>`, which replaces the pipeline's group.

use std::fmt::Write as _;
use std::time::Duration;

use crate::http_client::request;

/// One step's line in the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMetric {
    /// The step.
    pub step: String,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: &'static str,
    /// `hit`, `miss` or `none`.
    pub cache: &'static str,
    /// Its duration.
    pub seconds: f64,
}

/// What a run reports to Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    /// The pipeline's name (its `name:`, else its file name): the grouping key.
    pub pipeline: String,
    /// The run id.
    pub run_id: String,
    /// Whether every step succeeded.
    pub success: bool,
    /// Wall time of the run.
    pub seconds: f64,
    /// When it finished, seconds since the Unix epoch.
    pub finished_at: f64,
    /// Steps executed, restored, failed, skipped.
    pub ran: usize,
    /// Steps restored from the cache.
    pub cached: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps skipped or cancelled.
    pub skipped: usize,
    /// Every step.
    pub steps: Vec<StepMetric>,
}

/// A label value escaped as the text format requires (`\\`, `\"`, `\n`).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The metrics in the Prometheus text format.
pub fn prometheus_text(m: &RunMetrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let run = format!("{{run_id=\"{}\"}}", label(&m.run_id));
    family("attest_run_duration_seconds", "Wall time of the last run.", &[(run.clone(), m.seconds.to_string())]);
    family(
        "attest_run_success",
        "1 when every step of the last run succeeded, else 0.",
        &[(run.clone(), u8::from(m.success).to_string())],
    );
    family(
        "attest_run_finished_timestamp_seconds",
        "When the last run finished (Unix time).",
        &[(run, m.finished_at.to_string())],
    );
    let by_status = [("ran", m.ran), ("cached", m.cached), ("failed", m.failed), ("skipped", m.skipped)];
    let samples: Vec<(String, String)> =
        by_status.iter().map(|(s, n)| (format!("{{status=\"{s}\"}}"), n.to_string())).collect();
    family("attest_run_steps", "Steps of the last run by outcome.", &samples);
    let hits = m.steps.iter().filter(|s| s.cache == "hit").count();
    let misses = m.steps.iter().filter(|s| s.cache == "miss").count();
    family("attest_cache_hits", "Cache hits in the last run.", &[(String::new(), hits.to_string())]);
    family("attest_cache_misses", "Cache misses in the last run.", &[(String::new(), misses.to_string())]);
    let samples: Vec<(String, String)> = m
        .steps
        .iter()
        .map(|s| {
            (
                format!("{{step=\"{}\",status=\"{}\",cache=\"{}\"}}", label(&s.step), s.status, s.cache),
                s.seconds.to_string(),
            )
        })
        .collect();
    family("attest_step_duration_seconds", "Duration of each step in the last run.", &samples);
    out
}

/// URL-safe base64 without padding, for a Pushgateway grouping-key value (`label@base64`).
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    // The Pushgateway spells the empty value `=`.
    if bytes.is_empty() { "=".to_owned() } else { base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes) }
}

/// The Pushgateway URL of a pipeline's group under `endpoint`.
pub fn push_url(endpoint: &str, pipeline: &str) -> String {
    format!("{}/metrics/job/attest/pipeline@base64/{}", endpoint.trim_end_matches('/'), base64_url(pipeline.as_bytes()))
}

/// Pushes `metrics` to the Pushgateway at `endpoint` (e.g. `http://127.0.0.1:9091`).
pub fn push_metrics(endpoint: &str, metrics: &RunMetrics, timeout: Duration) -> Result<(), String> {
    let url = push_url(endpoint, &metrics.pipeline);
    let body = prometheus_text(metrics);
    let response =
        request("PUT", &url, &[("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body.as_bytes(), timeout)
            .map_err(|e| format!("{url}: {e}"))?;
    if response.is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}: {}", response.status, String::from_utf8_lossy(&response.body).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_url_matches_rfc4648_without_padding() {
        assert_eq!(base64_url(b""), "=");
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foob"), "Zm9vYg");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn text_format_escapes_label_values_and_types_every_family() {
        let metrics = RunMetrics {
            pipeline: "p".to_owned(),
            run_id: "r1".to_owned(),
            success: false,
            seconds: 1.5,
            finished_at: 1.0e9,
            ran: 1,
            cached: 1,
            failed: 0,
            skipped: 0,
            steps: vec![
                StepMetric { step: "a\"b\\c".to_owned(), status: "succeeded", cache: "miss", seconds: 0.25 },
                StepMetric { step: "d".to_owned(), status: "succeeded", cache: "hit", seconds: 0.0 },
            ],
        };
        let text = prometheus_text(&metrics);
        assert!(
            text.contains(
                "attest_step_duration_seconds{step=\"a\\\"b\\\\c\",status=\"succeeded\",cache=\"miss\"} 0.25\n"
            ),
            "{text}"
        );
        assert!(text.contains("attest_run_success{run_id=\"r1\"} 0\n"));
        assert!(text.contains("attest_cache_hits 1\n") && text.contains("attest_cache_misses 1\n"));
        let families = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(families, text.lines().filter(|l| l.starts_with("# HELP")).count());
        assert_eq!(families, 7);
    }
}
