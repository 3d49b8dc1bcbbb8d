//! Command-line arguments. The doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// attest: run a pipeline as a parallel DAG with a content-addressed cache, and make
/// every run a verifiable artifact.
///
/// Start with `attest init`, then `attest run`. A second `attest run` restores every
/// unchanged step from the cache; `attest explain STEP` says why a step would run.
#[derive(Debug, Parser)]
#[command(name = "attest", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// Run as if attest was started in DIR.
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true)]
    pub(crate) directory: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Format {
    /// Text for people, on stderr (data on stdout).
    #[default]
    Human,
    /// JSON on stdout (JSON Lines for `run`).
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create attest.yaml (a working starter), .attest/, .attestignore and .gitignore entries.
    Init(InitArgs),
    /// Run the pipeline (or STEP... and what they need).
    ///
    /// Steps run in parallel as their `needs` allow. A step whose cache key (inputs,
    /// command, environment, upstream outputs) is unchanged is not run: its outputs are
    /// restored from the cache. Exit status: 0 all steps succeeded, 1 a step failed,
    /// 2 attest could not do its job, 130 interrupted.
    Run(RunArgs),
    /// Explain a step's cache key: its parts and what changed since its last run.
    Explain(ExplainArgs),
    /// Print BLAKE3 digests of files as attest sees them (`b3sum` format).
    ///
    /// Each PATH is a file or a pattern as in `inputs` (a directory, a glob, `dir/**`);
    /// files are hashed in parallel, large ones through a memory map.
    Hash(HashArgs),
    /// Work with the pipeline file.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Inspect and maintain the local cache (.attest/cache).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Verify a receipt: format, signatures, trust, revocation, pipeline, inputs, outputs
    /// and the chain between steps; every check is reported, not only the first failure.
    ///
    /// Exit status: 0 every check passed, 1 a check failed, 2 the receipt could not be read.
    Verify(VerifyArgs),
    /// Show and list run receipts (.attest/receipts).
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Manage signing keys (.attest/keys) and the trust store (.attest/trust).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Workspace settings in .attest/config.yaml (`attest config set deterministic true`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Policy templates: named, immutable policies that decisions use.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Decisions: a request to run the pipeline (or some steps) in a mode, approved by N
    /// distinct approvers before it may execute. Everything is an event in the
    /// hash-chained governance log in .attest/attest.db.
    #[command(subcommand)]
    Decision(DecisionCommand),
    /// Approve a decision (or, with --revoke, withdraw your approval before it executes).
    ///
    /// Examples: `attest approve 3f2a --as release-manager --comment lgtm --expires 24h`,
    /// `attest approve 3f2a --as security-lead --key security-lead.key` (a signed
    /// approval), `attest approve --revoke 3f2a --as security-lead --reason "found a bug"`.
    Approve(ApproveArgs),
    /// Run history, analysis and reports; audit packages and the governance log's hash
    /// chain (.attest/attest.db). Every run is recorded, also failed and interrupted ones.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Report credentials (private keys, cloud and forge tokens, password assignments) in
    /// files. Exit status 1 when a high-severity finding is reported.
    Scan(ScanArgs),
    /// Watch the workspace for changes (inotify), so that runs skip stat'ing the files in
    /// directories nothing touched (as git's fsmonitor or turbo's daemon).
    ///
    /// Runs in the foreground until stopped; `--background` starts it detached. A run asks
    /// the watcher of its workspace, when one answers on .attest/watch.sock, which
    /// directories changed since the run that saved the stat cache; when the watcher
    /// cannot tell (restarted, events lost, a directory renamed), the run checks every file
    /// as it does without one. Writes through a shared memory map raise no inotify event:
    /// do not use a watcher with tools that edit inputs that way. Examples:
    /// `attest watch --background`, `attest watch --status`, `attest watch --stop`.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) file: FileArgs,

    /// Start the watcher detached and return once it answers.
    #[arg(long, conflicts_with_all = ["status", "stop"])]
    pub(crate) background: bool,

    /// Show whether a watcher runs for this workspace (exit status 1 when none does).
    #[arg(long, conflicts_with = "stop")]
    pub(crate) status: bool,

    /// Stop the workspace's watcher.
    #[arg(long)]
    pub(crate) stop: bool,

    /// Output format (of `--status`).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Overwrite an existing attest.yaml.
    #[arg(long)]
    pub(crate) force: bool,
}

/// Which pipeline file to use.
#[derive(Debug, Args, Clone)]
pub(crate) struct FileArgs {
    /// The pipeline file [default: attest.yaml, looked up in the current directory and its
    /// parents].
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Steps to run, with everything they need [default: all steps].
    #[arg(value_name = "STEP")]
    pub(crate) steps: Vec<String>,

    #[command(flatten)]
    pub(crate) file: FileArgs,

    /// Steps to run at once [default: number of cores].
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,

    /// Start no new step after the first failure (running steps finish).
    #[arg(long)]
    pub(crate) fail_fast: bool,

    /// Neither read nor write the cache: run every step.
    #[arg(long)]
    pub(crate) no_cache: bool,

    /// Deterministic mode for every step: only declared variables plus TZ=UTC,
    /// LC_ALL=LANG=C.UTF-8, SOURCE_DATE_EPOCH (the last commit's time), PYTHONHASHSEED=0
    /// and a fresh HOME; umask 022; outputs' mtimes set to SOURCE_DATE_EPOCH. Also on with
    /// `deterministic: true` in attest.yaml or `attest config set deterministic true`.
    #[arg(long)]
    pub(crate) deterministic: bool,

    /// Build every executed step a second time from a clean copy of its inputs in another
    /// directory and compare the outputs bit for bit; a difference is named (file, both
    /// digests, first differing offset, diffoscope's summary when installed) and is a
    /// warning, or a failure for steps with `attestation.reproducible` (or the pipeline's
    /// `require_reproducible`, which check without this flag). Cache hits are not rebuilt:
    /// add --no-cache to check everything.
    #[arg(long)]
    pub(crate) check_reproducibility: bool,

    /// With the second build, vary what reprotest varies: time (faketime, when installed),
    /// time zone, locale and umask (implies --check-reproducibility).
    #[arg(long)]
    pub(crate) vary: bool,

    /// Sign the receipt: with `--key`, `ATTEST_SIGNING_KEY`, or the workspace's default key
    /// (generated in .attest/keys/ on first use).
    #[arg(long)]
    pub(crate) sign: bool,

    /// Sign with this PKCS#8 PEM private key (implies --sign).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,

    /// Write a Chrome trace-event file of the run (one bar per step, one track per worker,
    /// cache hits in their own colour): open it in https://ui.perfetto.dev or
    /// chrome://tracing.
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,

    /// Push the run's metrics (duration, steps by outcome, cache hits and misses, each
    /// step's duration) to this Prometheus Pushgateway, e.g. `http://127.0.0.1:9091`.
    /// They land in the group `job="attest", pipeline="<name>"`.
    #[arg(long, value_name = "URL", env = "ATTEST_METRICS_ENDPOINT")]
    pub(crate) metrics_endpoint: Option<String>,

    /// Print the plan (predicted cache hit or miss per step) and run nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Show the output of every step, not only of failed ones.
    #[arg(short, long)]
    pub(crate) verbose: bool,

    /// Stream step output live, each line prefixed with its step.
    #[arg(long)]
    pub(crate) stream: bool,

    /// Print only failures (no progress, no per-step lines, no summary).
    #[arg(short, long, conflicts_with_all = ["verbose", "stream"])]
    pub(crate) quiet: bool,

    /// `json` prints JSON Lines events (step started/finished, run finished) on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,

    /// Run every step at this isolation level, whatever its `isolation:` says. `sandbox`
    /// needs bubblewrap (`bwrap`); `container` needs podman, or runc and umoci for local
    /// OCI images (`ATTEST_CONTAINER_ENGINE=podman|runc` chooses); `vm` needs QEMU.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub(crate) isolation: Option<IsolationLevel>,

    /// When a sandboxed step runs, trace its file accesses (strace) and name the workspace
    /// files it tried to open that it did not declare.
    #[arg(long)]
    pub(crate) explain_sandbox: bool,
}

/// The isolation levels `attest run --isolation` can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IsolationLevel {
    /// A child process with a strict environment.
    Process,
    /// Hermetic: Linux namespaces through bubblewrap, Landlock on top where the kernel
    /// has it; only declared inputs visible, only declared outputs writable, no network.
    Sandbox,
    /// A container of each step's `image:` (every step needs one), with podman or runc.
    Container,
    /// A QEMU virtual machine booting each step's `vm_image` (or the default kernel); KVM
    /// when a probe boot proved it works on this host, else TCG.
    Vm,
}

impl IsolationLevel {
    pub(crate) fn level(self) -> attest_pipeline::Isolation {
        match self {
            IsolationLevel::Process => attest_pipeline::Isolation::Process,
            IsolationLevel::Sandbox => attest_pipeline::Isolation::Sandbox,
            IsolationLevel::Container => attest_pipeline::Isolation::Container,
            IsolationLevel::Vm => attest_pipeline::Isolation::Vm,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct HashArgs {
    /// Files, directories or patterns.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The step.
    pub(crate) step: String,

    #[command(flatten)]
    pub(crate) file: FileArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelineCommand {
    /// Check the pipeline file and report every problem with file:line:column.
    Validate {
        #[command(flatten)]
        file: FileArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the JSON Schema of attest.yaml (for editors and CI linters).
    Schema,
    /// Show the step graph: its levels (steps that can run in parallel), the critical path
    /// (marked `*`), depth, widest level and bottlenecks (steps many others wait on).
    ///
    /// Without run history the critical path is the longest chain by step count.
    ///
    /// Examples:
    ///
    ///   attest pipeline show
    ///
    ///   attest pipeline show --format dot | dot -Tsvg > pipeline.svg
    ///
    ///   attest pipeline show -f ci/attest.yaml --format json
    #[command(verbatim_doc_comment)]
    Show {
        #[command(flatten)]
        file: FileArgs,
        /// What to print, on stdout: `human` text (fits 80 columns), `json`, Graphviz `dot`
        /// (e.g. `--format dot | dot -Tsvg > pipeline.svg`) or a `mermaid` flowchart.
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: GraphFormat,
    },
}

/// Output format of `pipeline show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum GraphFormat {
    /// Steps by level with their needs, the critical path marked, and a summary.
    #[default]
    Human,
    /// One JSON object: steps, levels, critical path, depth, max parallelism, bottlenecks.
    Json,
    /// A Graphviz digraph, the critical path in bold red.
    Dot,
    /// A Mermaid flowchart (for Markdown), the critical path styled.
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Count entries, blobs and bytes.
    Stats {
        #[command(flatten)]
        file: FileArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Evict entries beyond the size cap or retention period, then unreferenced blobs.
    Gc {
        #[command(flatten)]
        file: FileArgs,
        /// Size cap, e.g. 10GB [default: the pipeline's cache.max_size].
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Evict entries unused for this many days [default: cache.retention_days].
        #[arg(long, value_name = "DAYS")]
        retention_days: Option<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Delete the whole cache.
    Clean {
        #[command(flatten)]
        file: FileArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Re-hash every blob and check every entry; exit 1 on any problem.
    Verify {
        #[command(flatten)]
        file: FileArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The receipt (`.intoto.jsonl`).
    pub(crate) receipt: PathBuf,

    /// Check files against this checkout instead of the current workspace.
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,

    /// Do not check signatures (they are reported as skipped).
    #[arg(long, conflicts_with = "trusted_only")]
    pub(crate) no_signatures: bool,

    /// Fail unless the signer is in the trust store (.attest/trust).
    #[arg(long)]
    pub(crate) trusted_only: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

/// Output format of `receipt show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum ShowFormat {
    /// A summary for people.
    #[default]
    Human,
    /// The classic receipt view as JSON.
    Json,
    /// The classic receipt view as YAML.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Show a receipt in the classic view (pipeline_hash, timestamp, steps, environment,
    /// signature).
    Show {
        /// The receipt [default: the latest in .attest/receipts].
        receipt: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: ShowFormat,
    },
    /// Delete old receipts: all but the newest `--keep`, or those older than
    /// `--older-than` days (receipts are never deleted automatically).
    Prune {
        /// Keep this many of the newest receipts.
        #[arg(long, value_name = "N", required_unless_present = "older_than")]
        keep: Option<usize>,
        /// Delete receipts older than this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List the workspace's receipts, newest first.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Audit packages (v0.6, nexus-attest compatible): a decision and the run it authorised,
    /// bound by one digest.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Check the hash chain of the whole governance log; names the first broken link.
    VerifyLog {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List recorded runs, newest first: status, step counts, wall time.
    ///
    /// With `--step NAME`, one line per run for that step: status, cache hit or miss, the
    /// reason of each miss and its duration (`attest audit history --step build`).
    History {
        /// Show at most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only runs that include this step, showing that step.
        #[arg(long, value_name = "NAME")]
        step: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Analyse the runs of a period: success rate, duration (average, p50, p95), cache hit
    /// rate overall and per step, slowest steps, steps most often on the critical path,
    /// and optimization opportunities, each with the number behind it.
    ///
    /// Example: `attest audit analyze --period 7 --format json`.
    Analyze {
        /// The last this many days.
        #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        period: u32,
        #[command(flatten)]
        file: FileArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Write a report of the runs of a period: the analysis of `audit analyze`, the last
    /// run's timeline (steps by worker, cache hits and failures marked), the cache hit rate
    /// run by run and the slowest steps.
    ///
    /// Markdown and JSON go to stdout unless `-o FILE` is given; HTML goes to
    /// `attest-report.html` unless `-o FILE` is given (`-o -`: stdout). The HTML file is
    /// self-contained: charts are inline SVG, it runs no script and loads nothing.
    ///
    /// Examples: `attest audit report >> "$GITHUB_STEP_SUMMARY"`,
    /// `attest audit report --format html`, `attest audit report -o report.json`.
    Report {
        /// The last this many days.
        #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        period: u32,
        #[command(flatten)]
        file: FileArgs,
        /// Report format [default: from the extension of `-o` (.html/.htm, .json, .md),
        /// else markdown].
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Write the report to FILE (`-` for stdout), replacing it atomically.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// The format of `attest audit report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// GitHub-flavoured Markdown: headings and tables.
    Markdown,
    /// One JSON object: the analysis, `last_run`, `hit_rate_over_time`, `generated_at`,
    /// `version`.
    Json,
    /// One self-contained HTML file with SVG charts.
    Html,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print a setting's value.
    Get {
        /// The setting, e.g. `deterministic`.
        key: String,
    },
    /// Change a setting.
    Set {
        /// The setting, e.g. `deterministic`.
        key: String,
        /// Its new value, e.g. `true`.
        value: String,
    },
    /// Every setting with its value and meaning.
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// The policy fields shared by `template create` and `decision create`.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct PolicyArgs {
    /// Distinct approvers needed before execution.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) min_approvals: Option<u32>,
    /// Modes a decision may use, comma-separated: dry_run, apply.
    #[arg(long, value_name = "MODES", value_delimiter = ',')]
    pub(crate) allowed_modes: Option<Vec<String>>,
    /// At most this many steps may run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_steps: Option<u32>,
    /// Count only approvals signed (`approve --key`) by a key in the trust store.
    #[arg(long)]
    pub(crate) require_signed_approvals: bool,
    /// A governance label (repeat or comma-separate).
    #[arg(long = "label", value_name = "LABEL", value_delimiter = ',')]
    pub(crate) labels: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PackageCommand {
    /// Export the audit package of an executed decision.
    ///
    /// Example: `attest audit package export 3f2a -o release.audit.json` (the receipt by
    /// reference: run id and digest) or with `--embed` (the whole receipt inside).
    Export {
        /// The decision (its id or a unique prefix).
        id: String,
        /// Carry the whole receipt instead of its run id and digest.
        #[arg(long)]
        embed: bool,
        /// Where to write it [default: stdout].
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// With `-o`: `json` prints `{"ok", "file", "binding_digest"}` on stdout.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Verify an audit package: every check, none skipped (binding_digest,
    /// control_bundle_digest, binding_control_match, binding_router_match,
    /// binding_link_match, router_digest when embedded, and attest's
    /// control_router_link_recomputed and router_run_id_match). Exit 0 only if all pass.
    ///
    /// With `--attestation A.json`, also the attestation's checks, in the same report and
    /// named `attestation.<check>`: signature_valid, attestation_version,
    /// claims_non_empty, binding_digest_format (nexus-attest's), binding_digest_match and
    /// attestor_trusted (attest's: it names this package, and its key is trusted here).
    Verify {
        /// The package file.
        file: PathBuf,
        /// Also verify this attestation of the package (from `attest audit package attest`).
        #[arg(long, value_name = "A.json")]
        attestation: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Sign an attestation of a package (v0.7, nexus-attest compatible): a separate
    /// statement that the attestor vouches for CLAIMs about the package, over its binding
    /// digest. The package is not changed, and is verified first: attest refuses to attest
    /// a package that does not verify.
    ///
    /// Example: `attest audit package attest release.audit.json --claim released --key
    /// .attest/keys/<keyid>.key` writes `release.audit.attestation.json`; check it with
    /// `attest audit package verify release.audit.json --attestation
    /// release.audit.attestation.json`.
    Attest {
        /// The package file.
        file: PathBuf,
        /// What the attestor vouches for, e.g. `released` or `controls-reviewed` (repeat for
        /// several; at least one).
        #[arg(long = "claim", value_name = "CLAIM", required = true,
              value_parser = clap::builder::NonEmptyStringValueParser::new())]
        claims: Vec<String>,
        /// Sign with this PKCS#8 PEM Ed25519 private key; the payload names it by its keyid.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Who attests [default: $USER].
        #[arg(long = "as", value_name = "ATTESTOR_ID", env = "USER", hide_env_values = true)]
        attestor: Option<String>,
        /// The attestor's role, recorded outside the signature (`meta.role`).
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
        /// Where to write it [default: FILE with `.json` replaced by `.attestation.json`].
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplateCommand {
    /// Create a template (immutable; unique by name).
    ///
    /// Example: `attest template create prod-release --min-approvals 2 --allowed-modes
    /// dry_run,apply --max-steps 50 --label prod`.
    Create {
        /// Its name.
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Who creates it [default: $USER].
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List templates.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show a template with its digest.
    Show {
        /// Its name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DecisionCommand {
    /// Make a decision: what to run (the pipeline as it is now, or --steps), in which mode,
    /// under which policy (--template, or one approval by default).
    ///
    /// Example: `attest decision create --goal "release 1.4.0" --mode apply --template
    /// prod-release --steps build,publish`.
    Create {
        /// What the run is for.
        #[arg(long)]
        goal: String,
        /// `dry_run` (the plan only) or `apply` (run for real, signed receipt).
        #[arg(long, default_value = "dry_run")]
        mode: String,
        /// The policy template.
        #[arg(long)]
        template: Option<String>,
        /// Steps to run (with what they need), comma-separated [default: all].
        #[arg(long, value_delimiter = ',')]
        steps: Vec<String>,
        /// A free-text plan.
        #[arg(long)]
        plan: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        file: FileArgs,
        /// Who decides [default: $USER].
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List decisions with their status and approvals.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show a decision: policy, approvals (active, expired, revoked), executions, and what
    /// still blocks it.
    Show {
        /// Its id (or a unique prefix).
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Execute a decision: refused with a named reason (NO_POLICY, ALREADY_EXECUTED,
    /// PIPELINE_CHANGED, MODE_NOT_ALLOWED, TOO_MANY_STEPS, APPROVAL_EXPIRED,
    /// MISSING_APPROVALS) without side effects, or run (apply: signed receipt; dry_run: the
    /// plan) and link the run to the decision.
    Execute {
        /// Its id (or a unique prefix).
        id: String,
        #[command(flatten)]
        file: FileArgs,
        /// Sign the receipt with this key [default: the workspace's default key].
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Export a decision with all of its events as a control bundle (v0.5, nexus-attest
    /// compatible), sealed by its digest.
    Export {
        /// Its id (or a unique prefix).
        id: String,
        /// Where to write it [default: stdout].
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// With `-o`: `json` prints `{"ok", "file", "digest"}` on stdout.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Import a control bundle: its digest and every event's digest are checked and its
    /// events replayed before anything is written, then appended in one transaction.
    Import {
        /// The bundle file.
        file: PathBuf,
        /// When the decision id exists here: reject, new-id (import under a fresh id) or
        /// overwrite (the imported history supersedes; the old events stay in the log).
        #[arg(long, default_value = "reject", value_name = "MODE")]
        on_conflict: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The decision (its id or a unique prefix).
    pub(crate) id: String,
    /// Who approves.
    #[arg(long = "as", value_name = "NAME")]
    pub(crate) approver: String,
    /// Why.
    #[arg(long, conflicts_with = "revoke")]
    pub(crate) comment: Option<String>,
    /// The approval stops counting after this long: 30m, 24h, 7d.
    #[arg(long, value_name = "SPAN", conflicts_with = "revoke")]
    pub(crate) expires: Option<String>,
    /// Sign the approval with this PKCS#8 PEM Ed25519 key.
    #[arg(long, value_name = "FILE", conflicts_with = "revoke")]
    pub(crate) key: Option<PathBuf>,
    /// Withdraw your approval instead (only before execution).
    #[arg(long)]
    pub(crate) revoke: bool,
    /// Why it is withdrawn.
    #[arg(long, requires = "revoke", default_value = "")]
    pub(crate) reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate an Ed25519 key pair: .attest/keys/<keyid>.key (PKCS#8 PEM, mode 0600) and
    /// .pub (SPKI PEM). The first key becomes the default signing key; its public half is
    /// trusted.
    Generate {
        /// A name to remember the key by.
        #[arg(long)]
        name: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List the workspace's keys and trusted keys.
    List {
        /// Only keys in the trust store.
        #[arg(long)]
        trusted: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Trust a public key (SPKI PEM, e.g. from `attest keys export`).
    Trust {
        /// The public key file.
        file: PathBuf,
        /// A name to remember the key by.
        #[arg(long)]
        name: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a key (by keyid or a unique prefix): receipts it signed before now stay valid
    /// with a warning, later ones fail verification.
    Revoke {
        /// The keyid or a prefix of at least 4 hex digits.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print a public key (SPKI PEM) to give to verifiers.
    Export {
        /// The keyid or a prefix of at least 4 hex digits.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories (searched recursively, skipping .git and .attest).
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}
