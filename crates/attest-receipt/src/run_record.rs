//! What a run hands over to become a receipt, and how it becomes statements: line 1 for
//! the run, then (with `sign_all_steps`) one per executed or cached step.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::statement::{
    Annotations, BUILD_TYPE, BUILDER_ID, BuildDefinition, BuildMetadata, Builder, EnvironmentSnapshot,
    ExternalParameters, InternalParameters, PipelineRef, Provenance, ResourceDescriptor, RunDetails, RunInfo,
    SLSA_PROVENANCE, STATEMENT_TYPE, Scope, SignerRef, Statement, StepParameters,
};
use crate::timestamp::rfc3339;

/// One output file of a step with both digests (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Workspace-relative path.
    pub path: String,
    /// SHA-256 (the subject digest standard verifiers read).
    pub sha256: String,
    /// BLAKE3 (attest's own digest).
    pub blake3: String,
}

/// A step's log (redacted), by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDigest {
    /// SHA-256 of the log bytes.
    pub sha256: String,
    /// BLAKE3 of the log bytes (the cache blob holding it).
    pub blake3: String,
}

/// One step as the receipt records it.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Everything but the file digests; `inputs` and `outputs` are filled from below.
    pub parameters: StepParameters,
    /// Input files: path and BLAKE3 hex.
    pub inputs: Vec<(String, String)>,
    /// Output files.
    pub outputs: Vec<OutputFile>,
    /// The command's log, when it ran or its result was restored.
    pub log: Option<LogDigest>,
}

/// A finished run, as the receipt records it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run id (the SLSA invocation id).
    pub run_id: String,
    /// When the run started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// The pipeline file.
    pub pipeline: PipelineRef,
    /// Steps named on the command line.
    pub requested_steps: Vec<String>,
    /// The machine and workspace.
    pub environment: EnvironmentSnapshot,
    /// Whether each executed or cached step gets its own statement.
    pub sign_all_steps: bool,
    /// The selected steps, in pipeline order.
    pub steps: Vec<StepRecord>,
}

fn hex_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl StepRecord {
    fn parameters(&self) -> StepParameters {
        let mut parameters = self.parameters.clone();
        parameters.inputs = self.inputs.iter().map(|(path, _)| path.clone()).collect();
        parameters.outputs = self.outputs.iter().map(|o| o.path.clone()).collect();
        parameters
    }

    fn subjects(&self) -> impl Iterator<Item = ResourceDescriptor> + '_ {
        self.outputs.iter().map(|o| ResourceDescriptor {
            name: o.path.clone(),
            digest: hex_map(&[("sha256", &o.sha256)]),
            media_type: None,
            annotations: Annotations { blake3: Some(o.blake3.clone()), step: Some(self.parameters.name.clone()) },
        })
    }

    fn dependencies(&self) -> impl Iterator<Item = ResourceDescriptor> + '_ {
        self.inputs.iter().map(|(path, blake3)| ResourceDescriptor {
            name: path.clone(),
            digest: hex_map(&[("blake3", blake3)]),
            media_type: None,
            annotations: Annotations::default(),
        })
    }

    fn byproduct(&self) -> Option<ResourceDescriptor> {
        self.log.as_ref().map(|log| ResourceDescriptor {
            name: format!("log/{}", self.parameters.name),
            digest: hex_map(&[("sha256", &log.sha256)]),
            media_type: Some("text/plain".to_owned()),
            annotations: Annotations { blake3: Some(log.blake3.clone()), step: Some(self.parameters.name.clone()) },
        })
    }
}

impl RunRecord {
    fn statement<'a>(
        &self,
        scope: Scope,
        steps: impl Iterator<Item = &'a StepRecord> + Clone,
        signer: Option<&SignerRef>,
    ) -> Statement {
        let mut dependencies: Vec<ResourceDescriptor> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for dependency in steps.clone().flat_map(StepRecord::dependencies) {
            if seen.insert(dependency.name.clone()) {
                dependencies.push(dependency);
            }
        }
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: steps.clone().flat_map(StepRecord::subjects).collect(),
            predicate_type: SLSA_PROVENANCE.to_owned(),
            predicate: Provenance {
                build_definition: BuildDefinition {
                    build_type: BUILD_TYPE.to_owned(),
                    external_parameters: ExternalParameters {
                        pipeline: self.pipeline.clone(),
                        steps: self.requested_steps.clone(),
                    },
                    internal_parameters: InternalParameters {
                        run: RunInfo {
                            scope,
                            status: self.status.clone(),
                            duration_secs: seconds(self.finished.duration_since(self.started).unwrap_or_default()),
                            sign_all_steps: self.sign_all_steps,
                        },
                        environment: (scope == Scope::Run).then(|| self.environment.clone()),
                        steps: steps.clone().map(StepRecord::parameters).collect(),
                        signer: signer.cloned(),
                    },
                    resolved_dependencies: dependencies,
                },
                run_details: RunDetails {
                    builder: Builder {
                        id: BUILDER_ID.to_owned(),
                        version: hex_map(&[("attest", &self.environment.attest_version)]),
                    },
                    metadata: BuildMetadata {
                        invocation_id: self.run_id.clone(),
                        started_on: rfc3339(self.started),
                        finished_on: rfc3339(self.finished),
                    },
                    byproducts: steps.filter_map(StepRecord::byproduct).collect(),
                },
            },
        }
    }

    /// The statements of the receipt: the run's first, then one per executed or cached
    /// step when `sign_all_steps`.
    pub fn statements(&self, signer: Option<&SignerRef>) -> Vec<Statement> {
        let mut statements = vec![self.statement(Scope::Run, self.steps.iter(), signer)];
        if self.sign_all_steps {
            for step in self.steps.iter().filter(|s| s.parameters.status == "succeeded") {
                statements.push(self.statement(Scope::Step, std::iter::once(step), signer));
            }
        }
        statements
    }
}

/// Seconds, rounded to milliseconds.
pub fn seconds(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A new run id: 16 random lowercase hex digits.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: fall back to the clock, which is unique enough for a file name.
        let nanos = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = (nanos as u64).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
