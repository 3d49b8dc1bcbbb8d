//! From a finished run to its receipt: the [`RunRecord`] attest-receipt turns into
//! statements, written to `.attest/receipts/`.

use std::time::SystemTime;

use attest_pipeline::Pipeline;
use attest_receipt::{
    DigestSet, EnvironmentSnapshot, Hex32, LogDigest, OutputFile, PipelineRef, RunRecord, StepParameters, StepRecord,
    seconds,
};

use crate::{CacheStatus, RunSummary, StepReport, StepStatus, Workspace};

/// What a receipt needs beyond the run's summary.
#[derive(Debug, Clone)]
pub struct ReceiptContext<'a> {
    /// The workspace.
    pub workspace: &'a Workspace,
    /// The pipeline that ran.
    pub pipeline: &'a Pipeline,
    /// How the receipt names it ([`pipeline_ref`]).
    pub pipeline_ref: PipelineRef,
    /// Steps named on the command line.
    pub requested_steps: &'a [String],
    /// The run id.
    pub run_id: String,
    /// When the run started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
    /// Machine, git, lock files, tools.
    pub environment: EnvironmentSnapshot,
    /// Deterministic mode, when the run was in it.
    pub deterministic: Option<crate::Deterministic>,
}

fn status_word(status: &StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed { .. } => "failed",
        StepStatus::Skipped { .. } => "skipped",
        StepStatus::Cancelled => "cancelled",
    }
}

/// The receipt's record of step `index`, from its report.
pub(crate) fn step_record(
    pipeline: &Pipeline,
    root: &std::path::Path,
    index: usize,
    report: &StepReport,
) -> StepRecord {
    let step = &pipeline.steps[index];
    let inputs = report.inputs.clone().unwrap_or_default();
    let outputs = if report.succeeded() {
        report
            .outputs
            .iter()
            .flat_map(|m| m.entries())
            .filter_map(|e| {
                let path = e.path.as_str().to_owned();
                let sha256 = Hex32::from(report.output_sha256.get(&path)?);
                Some(OutputFile { blake3: Hex32::from(&e.digest?), sha256, path })
            })
            .collect()
    } else {
        Vec::new()
    };
    let (cache_hit, miss_reason) = match &report.cache {
        Some(CacheStatus::Hit) => (true, None),
        Some(CacheStatus::Miss { reason }) => (false, Some(reason.to_string())),
        None => (false, None),
    };
    StepRecord {
        parameters: StepParameters {
            name: step.name.clone(),
            command: step.run.clone(),
            shell: step.shell.clone(),
            working_dir: step.working_dir.as_ref().map_or_else(|| ".".to_owned(), ToString::to_string),
            env: report.env.clone(),
            needs: step.needs.iter().map(|&n| pipeline.steps[n].name.clone()).collect(),
            status: status_word(&report.status).to_owned(),
            exit_code: report.exit_code,
            duration_secs: seconds(report.duration),
            cache_hit,
            cache_key: report.key.map(|k| k.to_string()),
            miss_reason,
            inputs: Vec::new(),
            input_ranges: Vec::new(),
            outputs: Vec::new(),
            reproducibility: report.reproducibility.as_ref().map(|r| attest_receipt::ReproducibilityClaim {
                verified: r.verified,
                runs: r.runs,
                method: r.method.clone(),
            }),
            isolation: Some(crate::step_sandbox::isolation_parameters(step, root)),
        },
        inputs,
        outputs,
        log: report
            .log_digests
            .map(|(blake3, sha256)| LogDigest { sha256: Hex32::from(&sha256), blake3: Hex32::from(&blake3) }),
    }
}

/// The pipeline as the receipt names it: its name (else the workspace's), its file `path`
/// (relative to the workspace root) and the digests of its `source`.
pub fn pipeline_ref(workspace: &Workspace, pipeline: &Pipeline, path: &str, source: &[u8]) -> PipelineRef {
    let name = pipeline.name.clone().unwrap_or_else(|| {
        workspace.root.file_name().map_or_else(|| "pipeline".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    PipelineRef {
        name,
        path: path.to_owned(),
        digest: DigestSet {
            sha256: Some(Hex32::from(&attest_hash::sha256_bytes(source))),
            blake3: Some(Hex32::from(&pipeline.digest)),
        },
    }
}

/// The record of a run: its selected steps, `steps`, in their start order (as a
/// [`crate::ReceiptFeed`] hands them over).
pub fn run_record(context: &ReceiptContext<'_>, summary: &RunSummary, steps: Vec<StepRecord>) -> RunRecord {
    let pipeline = context.pipeline;
    let status = if summary.interrupted {
        "interrupted"
    } else if summary.success() {
        "succeeded"
    } else {
        "failed"
    };
    RunRecord {
        run_id: context.run_id.clone(),
        started: context.started,
        finished: context.finished,
        status: status.to_owned(),
        pipeline: context.pipeline_ref.clone(),
        requested_steps: context.requested_steps.to_vec(),
        environment: context.environment.clone(),
        sign_all_steps: pipeline.attestation.sign_all_steps,
        deterministic: context.deterministic.map(|d| attest_receipt::DeterministicRun {
            source_date_epoch: d.source_date_epoch,
            umask: u32::from_str_radix(crate::DETERMINISTIC_UMASK, 8).unwrap_or(0o22),
        }),
        steps,
    }
}
