//! The classic receipt view (`attest receipt show`): the fields the original attest
//! receipt listed, derived from a run statement and its envelope.

use serde::Serialize;

use crate::Envelope;
use crate::statement::{EnvironmentSnapshot, Statement};

/// A file and its digest.
#[derive(Debug, Clone, Serialize)]
pub struct FileHash {
    /// Workspace-relative path.
    pub path: String,
    /// `sha256:<hex>` for outputs, `blake3:<hex>` for inputs.
    pub hash: String,
}

/// One step in the classic view.
#[derive(Debug, Clone, Serialize)]
pub struct ClassicStep {
    /// Step name.
    pub name: String,
    /// The command.
    pub command: String,
    /// Exit code, when the command ran to one (cached steps: the recorded 0).
    pub exit_code: Option<i32>,
    /// Time spent on the step.
    pub duration_secs: f64,
    /// Whether it came from the cache.
    pub cache_hit: bool,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    /// Input files.
    pub inputs: Vec<FileHash>,
    /// Output files.
    pub outputs: Vec<FileHash>,
}

/// The classic receipt.
#[derive(Debug, Clone, Serialize)]
pub struct ClassicView {
    /// The run id.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// `sha256:<hex>` of the pipeline file.
    pub pipeline_hash: String,
    /// When the run started (RFC 3339).
    pub timestamp: String,
    /// Wall time of the run.
    pub total_duration_secs: f64,
    /// The run's status.
    pub status: String,
    /// attest's version.
    pub attest_version: String,
    /// The steps.
    pub steps: Vec<ClassicStep>,
    /// The machine and workspace.
    pub environment: Option<EnvironmentSnapshot>,
    /// Base64 of the first signature, if signed.
    pub signature: Option<String>,
    /// The signer's keyid.
    pub signer_keyid: Option<String>,
    /// The signer's public key (SPKI PEM), as the statement declares it.
    pub signer_public_key: Option<String>,
}

impl ClassicView {
    /// The classic view of a run statement and its envelope.
    pub fn new(statement: &Statement, envelope: &Envelope) -> Self {
        let build = &statement.predicate.build_definition;
        let params = &build.internal_parameters;
        let signature = envelope.signatures.first();
        let dependencies = statement.dependencies_by_name();
        let subjects = statement.subjects_by_name();
        let pipeline = &build.external_parameters.pipeline;
        let steps = params
            .steps
            .iter()
            .map(|step| ClassicStep {
                name: step.name.clone(),
                command: step.command.clone(),
                exit_code: step.exit_code,
                duration_secs: step.duration_secs,
                cache_hit: step.cache_hit,
                status: step.status.clone(),
                // Ranges outside the dependencies list nothing here; `attest verify` says so.
                inputs: statement
                    .step_inputs(step)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|path| FileHash {
                        path: path.to_owned(),
                        hash: dependencies
                            .get(path)
                            .and_then(|d| d.digest.blake3)
                            .map_or_else(String::new, |h| format!("blake3:{h}")),
                    })
                    .collect(),
                outputs: step
                    .outputs
                    .iter()
                    .map(|path| FileHash {
                        path: path.clone(),
                        hash: subjects
                            .get(path.as_str())
                            .and_then(|s| s.digest.sha256)
                            .map_or_else(String::new, |h| format!("sha256:{h}")),
                    })
                    .collect(),
            })
            .collect();
        Self {
            run_id: statement.predicate.run_details.metadata.invocation_id.clone(),
            pipeline: pipeline.name.clone(),
            pipeline_hash: pipeline.digest.sha256.map_or_else(String::new, |h| format!("sha256:{h}")),
            timestamp: statement.predicate.run_details.metadata.started_on.clone(),
            total_duration_secs: params.run.duration_secs,
            status: params.run.status.clone(),
            attest_version: statement.predicate.run_details.builder.version.get("attest").cloned().unwrap_or_default(),
            steps,
            environment: params.environment.clone(),
            signature: signature.map(|s| s.sig.clone()),
            signer_keyid: signature.map(|s| s.keyid.clone()),
            signer_public_key: params.signer.as_ref().map(|s| s.public_key.clone()),
        }
    }
}
