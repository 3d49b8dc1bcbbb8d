//! What a pipeline's step graph says about it, for `attest pipeline show`.
//!
//! [`PipelineView::new`] computes, from a checked [`Pipeline`] and the steps' median
//! durations, the levels (steps that can run in parallel), the critical path and its
//! length, the depth, the widest level and the bottlenecks (steps that many others wait
//! on). The view is plain data (`Serialize`, the JSON form); the drawings are functions of
//! it: [`ascii_drawing`] (text for a terminal, at most `width` columns), [`dot`] (Graphviz)
//! and [`mermaid`] (a Mermaid flowchart).
//!
//! [`analyze`] reads recorded runs (`attest-store` rows) for `attest audit analyze`: rates,
//! percentiles, per-step statistics and optimisation opportunities with their numbers.
//!
//! [`ReportData`] adds to an analysis the last run (its timeline) and the cache hit rate
//! run by run, for `attest audit report`: it is the report's JSON form, and
//! [`markdown_report`] and [`html_report`] render it (the HTML one self-contained, with
//! charts as inline SVG built here; all text from the history is escaped).
//!
//! Pure: no files, no processes. Durations come from the caller (run history), so the
//! view is by step count until there is history.
//!
//! [`Pipeline`]: attest_pipeline::Pipeline

mod analysis_text;
mod ascii_drawing;
mod dot;
mod duration_text;
mod html_escape;
mod html_report;
mod line_wrap;
mod markdown_escape;
mod markdown_report;
mod mermaid;
mod message_spans;
mod pipeline_view;
mod rate_text;
mod report_data;
mod run_analysis;
mod svg_charts;
mod utc_text;

pub use analysis_text::analysis_text;
pub use ascii_drawing::{DEFAULT_WIDTH, ascii_drawing};
pub use dot::dot;
pub use html_report::html_report;
pub use markdown_report::markdown_report;
pub use mermaid::mermaid;
pub use pipeline_view::{BOTTLENECK_MIN_DEPENDENTS, Bottleneck, CriticalPath, PathLength, PipelineView, StepView};
pub use report_data::{REPORT_VERSION, ReportData, RunHitRate};
pub use run_analysis::{
    DOMINANT_SHARE, DurationStats, NEVER_HITS_MIN_RUNS, NamedCount, NamedSeconds, Opportunity, RunAnalysis,
    SLOW_UNCACHED, StepStats, analyze, median_durations,
};
