//! `attest.yaml`: from text to a checked [`Pipeline`] and its step [`Graph`].
//!
//! The flow is parse, check, act: [`Pipeline::parse`] reads YAML into a located node tree,
//! checks it against the JSON Schema generated from [`RawPipeline`] (every structural
//! problem at once, each with file, line, column and a hint), deserialises the typed
//! [`RawPipeline`], then runs the semantic checks (unknown `needs`, cycles, escaping
//! paths, overlapping outputs, units, unsupported features). Code past this point works
//! on [`Pipeline`] and never sees raw YAML.
//!
//! The graph side is pure: [`Graph`] (order, levels, critical path) and [`ReadyQueue`],
//! the scheduler's ordering of ready steps.

mod did_you_mean;
mod error;
mod graph;
mod node;
mod pipeline;
mod raw_pipeline;
mod ready_queue;
mod schema_check;
mod units;

pub use error::{PipelineError, PipelineErrors};
pub use graph::Graph;
pub use node::Location;
pub use pipeline::{
    AttestationSettings, CacheSettings, ContainerImage, DEFAULT_WEBHOOK_RETRIES, DEFAULT_WEBHOOK_TIMEOUT, EVENT_TYPES,
    EventHandler, HandlerTarget, Pipeline, SandboxSettings, Step, VmImage, WORKSPACE_STEP_NAME_RULE,
};
pub use raw_pipeline::{
    HandlerKind, Isolation, RawAttestation, RawCacheSettings, RawEvents, RawHandler, RawPipeline, RawSandbox, RawStep,
    RawStepAttestation, RawVmImage, json_schema,
};
pub use ready_queue::ReadyQueue;
pub use units::parse_size;
