//! One coordinator owns the run state; a bounded pool of workers runs steps and reports
//! back through a [`Mailbox`]. Nothing about the graph is shared between threads.
//!
//! The coordinator keeps one step queued per worker beyond those running, so that a worker
//! done with a step (a cache hit takes well under a millisecond) starts the next at once
//! instead of sleeping until the coordinator has woken up to hand it one. A queued step
//! counts from when a worker starts it (its timeout included), and one that a worker takes
//! after the run stopped starting steps (Ctrl-C, `--fail-fast`) is handed back unstarted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use attest_cache::{CacheLock, CacheStore, GcPolicy, LockMode};
use attest_exec::{Executor, Signal};
use attest_hash::{Digest, DirListings, Manifest, WatchToken, WorkspaceFilter};
use attest_pipeline::{Pipeline, ReadyQueue};

use crate::mailbox::{Mailbox, Received};
use crate::stat_source::StatSource;
use crate::step_runner::{StepRunner, StepRunnerParts, Upstream, error_chain};
use crate::{
    KeyRecords, LastKeys, Reporter, RunError, RunEvent, RunOptions, RunSummary, StepReport, StepStatus, Workspace,
};

/// How long a step gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How often the coordinator looks at the interrupt flag and deadlines.
const TICK: Duration = Duration::from_millis(25);
/// Steps handed to the workers at a time, per worker: one running, the rest queued (by
/// priority, so that a step that becomes ready later still goes first when its chain is
/// longer). Cache hits take a worker about as long as the coordinator's turn per step
/// (reporting it, finding what became ready), and a woken coordinator often shares a core
/// with the worker that woke it: with one step queued per worker, the workers ran out of
/// work and took turns on one core for the first third of a 200-step null run.
const IN_FLIGHT_PER_WORKER: usize = 8;

/// Why the run stopped starting steps.
enum Stop {
    Interrupted,
    /// `--fail-fast`: the reason the steps not started are skipped.
    FailFast(String),
}

/// Whether the run still starts steps; once not, why. Shared by the coordinator and the
/// workers: a worker whose step fails under `--fail-fast` stops the run before it takes
/// the step queued for it.
#[derive(Default)]
struct Stopping {
    stopped: AtomicBool,
    why: Mutex<Option<Stop>>,
}

impl Stopping {
    /// Stops starting steps (the first reason given is kept).
    fn stop(&self, why: Stop) {
        self.why.lock().expect("stop lock is never poisoned").get_or_insert(why);
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// What becomes of a step that was not started: skipped under `--fail-fast`, else
    /// cancelled.
    fn unstarted_status(&self) -> StepStatus {
        match &*self.why.lock().expect("stop lock is never poisoned") {
            Some(Stop::FailFast(because)) => StepStatus::Skipped { because: because.clone() },
            _ => StepStatus::Cancelled,
        }
    }
}

enum Message {
    Finished(usize, Box<StepReport>),
    /// A queued step a worker took after the run stopped starting steps.
    NotStarted(usize),
    /// A worker ended (its jobs closed, or it panicked).
    WorkerGone,
}

/// Tells the coordinator that its worker ended, however it ended.
struct Leaving<'a>(&'a Mailbox<Message>);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.send(Message::WorkerGone);
    }
}

struct Job {
    step: usize,
    upstream: Vec<Upstream>,
}

/// Runs the selected steps of `pipeline` in `workspace`.
///
/// `interrupted` is the Ctrl-C/SIGTERM flag (set by the caller's signal handler): when it
/// turns true, running steps' process groups get SIGTERM (then SIGKILL), nothing new
/// starts, and the summary says `interrupted`.
pub fn run(
    workspace: &Workspace,
    pipeline: &Pipeline,
    options: &RunOptions,
    executor: &dyn Executor,
    reporter: &dyn Reporter,
    interrupted: &AtomicBool,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let selected = crate::select(pipeline, &options.targets)?;
    let (_lock, waited) = lock(workspace, reporter)?;
    // Loads started early serve only when no other run changed the files since.
    let listings = match options.dir_listings.as_ref().filter(|_| !waited) {
        Some(pending) => pending.wait(),
        None => DirListings::load(&workspace.dir_listings_path()),
    };
    if let Some(warning) = &listings.warning {
        reporter.report(RunEvent::Warning(warning));
    }
    let filter = WorkspaceFilter::with_listings(&workspace.root, listings.listings)
        .map_err(|e| RunError::Workspace { message: error_chain(&e) })?;
    let pending = options.stat_cache.clone().filter(|_| !waited);
    let stat_cache = StatSource::new(pending, workspace.stat_cache_path(), reporter);
    let use_cache = pipeline.cache.enabled && !options.no_cache;
    let store = if use_cache {
        Some(CacheStore::open(&workspace.cache_dir()).map_err(|e| RunError::Cache { message: error_chain(&e) })?)
    } else {
        None
    };
    // Asked before any file is looked at: its answer speaks for that moment.
    let watch = match crate::WatchView::ask(workspace, stat_cache.get().token()) {
        Ok(view) => view,
        Err(message) => {
            reporter.report(RunEvent::Warning(&format!("{message}; checking every file")));
            None
        }
    };
    let records = KeyRecords::new(&workspace.state_dir());
    let last_keys = LastKeys::load(&workspace.state_dir());
    let runner = StepRunner::new(StepRunnerParts {
        root: &workspace.root,
        pipeline,
        filter: filter.clone(),
        stat_cache: &stat_cache,
        store: store.as_ref(),
        records: &records,
        last_keys: last_keys.map(),
        host_env: &options.host_env,
        deterministic: options.deterministic,
        check_reproducibility: options.check_reproducibility,
        vary: options.vary,
        explain_sandbox: options.explain_sandbox,
        use_cache,
        reporter,
        executor,
        cancelled: interrupted,
        execution_gate: options.execution_gate.as_ref(),
        watch: watch.as_ref(),
    });
    let jobs = options.jobs.max(1);
    let count = selected.iter().filter(|s| **s).count();
    let watcher = watch.as_ref().map(crate::WatchView::changed_directories);
    reporter.report(RunEvent::Started { selected: count, jobs: jobs.min(count.max(1)), watcher });
    let reports = schedule(&runner, pipeline, selected, jobs, options.fail_fast, interrupted, started);
    let new_keys = runner.into_new_keys();
    let stat_cache = stat_cache.into_cache();

    // Persist what the run learned, even when it failed or was interrupted.
    let token = watch_token(&stat_cache, watch.as_ref().map(crate::WatchView::token));
    if (stat_cache.is_dirty() || token != stat_cache.token())
        && let Err(err) = stat_cache.save(&workspace.stat_cache_path(), token)
    {
        reporter.report(RunEvent::Warning(&format!("failed to save the stat cache: {err}")));
    }
    if let Some(listings) = filter.listings().filter(|l| l.is_dirty())
        && let Err(err) = listings.save(&workspace.dir_listings_path())
    {
        reporter.report(RunEvent::Warning(&format!("failed to save the directory listings: {err}")));
    }
    if let Err(err) = last_keys.save(&workspace.state_dir(), new_keys) {
        reporter.report(RunEvent::Warning(&format!("failed to save step keys: {err}")));
    }
    if let Some(store) = &store {
        let policy = GcPolicy {
            max_size: pipeline.cache.max_size,
            max_age: pipeline.cache.retention_days.map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        };
        if (policy.max_size.is_some() || policy.max_age.is_some())
            && let Err(err) = store.gc(policy, std::time::SystemTime::now())
        {
            reporter.report(RunEvent::Warning(&format!("cache eviction failed: {}", error_chain(&err))));
        }
    }
    let watch_token = watch.as_ref().map(crate::WatchView::token);
    Ok(RunSummary::new(reports, interrupted.load(Ordering::SeqCst), started.elapsed(), stat_cache, watch_token))
}

/// The watch token to save the stat cache with, given the point the watcher's answer
/// spoke for (`now`). The loaded file's token stays true of every entry: one checked
/// since was checked after it. The cache speaks for `now` only when this run checked every
/// entry (after asking); it moves there when it is saved anyway, or when it had no token
/// from this watcher (a new or restarted watcher: saved once, so that the next run can
/// use it).
fn watch_token(cache: &attest_hash::StatCache, now: Option<WatchToken>) -> Option<WatchToken> {
    let loaded = cache.token();
    match now {
        Some(now) if (cache.is_dirty() || loaded.is_none_or(|t| t.instance != now.instance)) && cache.all_checked() => {
            Some(now)
        }
        _ => loaded,
    }
}

/// The workspace lock, and whether another process held it first.
fn lock(workspace: &Workspace, reporter: &dyn Reporter) -> Result<(CacheLock, bool), RunError> {
    let path = workspace.lock_path();
    let to_error = |e: attest_cache::CacheError| RunError::Cache { message: error_chain(&e) };
    if let Some(lock) = CacheLock::try_acquire(&path, LockMode::Exclusive).map_err(to_error)? {
        return Ok((lock, false));
    }
    reporter.report(RunEvent::Warning(&format!("waiting for another attest process to release `{}`", path.display())));
    Ok((CacheLock::acquire(&path, LockMode::Exclusive).map_err(to_error)?, true))
}

fn schedule(
    runner: &StepRunner<'_>,
    pipeline: &Pipeline,
    selected: Vec<bool>,
    jobs: usize,
    fail_fast: bool,
    interrupted: &AtomicBool,
    run_started: Instant,
) -> Vec<StepReport> {
    let graph = pipeline.graph();
    let priority = graph.start_priority();
    let mut queue = ReadyQueue::new(graph, selected, priority.clone());
    let mut reports = Vec::new();
    let mut outputs: Vec<Option<(Digest, Arc<Manifest>)>> = vec![None; graph.len()];
    // Handed to a worker (running or queued), with the step's timeout.
    let mut running: HashMap<usize, Option<Duration>> = HashMap::new();
    let started_at: Vec<OnceLock<Instant>> = (0..graph.len()).map(|_| OnceLock::new()).collect();
    let stopping = Stopping::default();
    let mut terminated_at: HashMap<usize, Instant> = HashMap::new();
    let mut cancel_started: Option<Instant> = None;
    let mut killed = false;
    let (jobs_box, done) = (Mailbox::<Job>::new(), Mailbox::<Message>::new());
    let mut workers = jobs;
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let (jobs_box, done, started_at, stopping) = (&jobs_box, &done, &started_at, &stopping);
            scope.spawn(move || {
                let _leaving = Leaving(done);
                while let Some(job) = jobs_box.recv() {
                    // Ctrl-C may have come before the coordinator's next look at the flag.
                    if stopping.stopped() || interrupted.load(Ordering::SeqCst) {
                        done.send(Message::NotStarted(job.step));
                        continue;
                    }
                    let _ = started_at[job.step].set(Instant::now());
                    let started = run_started.elapsed();
                    let mut report = runner.run(job.step, &job.upstream);
                    report.started = started;
                    report.worker = Some(worker);
                    if fail_fast && !report.succeeded() && report.status != StepStatus::Cancelled {
                        stopping.stop(Stop::FailFast(format!("--fail-fast after `{}` failed", report.step)));
                    }
                    done.send(Message::Finished(job.step, Box::new(report)));
                }
            });
        }
        let finish = |reports: &mut Vec<StepReport>, report: StepReport| {
            runner.reporter.report(RunEvent::StepFinished(&report));
            reports.push(report);
        };
        while queue.pending() > 0 {
            if cancel_started.is_none() && interrupted.load(Ordering::SeqCst) {
                cancel_started = Some(Instant::now());
                stopping.stop(Stop::Interrupted);
                runner.groups.signal_all(Signal::Terminate);
                let running_steps: Vec<usize> = running.keys().copied().collect();
                for step in queue.drain_unstarted(&running_steps) {
                    finish(&mut reports, StepReport::unfinished(&pipeline.steps[step].name, StepStatus::Cancelled));
                }
            }
            if let Some(since) = cancel_started
                && !killed
                && since.elapsed() > KILL_GRACE
            {
                runner.groups.signal_all(Signal::Kill);
                killed = true;
            }
            while cancel_started.is_none() && running.len() < jobs * IN_FLIGHT_PER_WORKER {
                let Some(step) = queue.dequeue() else { break };
                let upstream = graph
                    .dependencies(step)
                    .iter()
                    .filter_map(|&d| {
                        let (digest, outputs) = outputs[d].as_ref()?;
                        Some(Upstream {
                            step: pipeline.steps[d].name.clone(),
                            digest: *digest,
                            outputs: Arc::clone(outputs),
                        })
                    })
                    .collect();
                running.insert(step, pipeline.steps[step].timeout);
                // Ahead of queued steps with shorter chains, as the ready queue orders them.
                jobs_box.send_ranked(Job { step, upstream }, priority[step]);
            }
            if running.is_empty() {
                // Nothing running and nothing could start: only possible when cancelled.
                if queue.pending() > 0 && cancel_started.is_none() {
                    let left: Vec<usize> = queue.drain_unstarted(&[]);
                    for step in left {
                        finish(&mut reports, StepReport::unfinished(&pipeline.steps[step].name, StepStatus::Cancelled));
                    }
                }
                if queue.pending() == 0 {
                    break;
                }
            }
            match done.recv_timeout(TICK) {
                Received::Item(Message::Finished(step, report)) => {
                    running.remove(&step);
                    terminated_at.remove(&step);
                    let ok = report.succeeded();
                    outputs[step] = report.outputs.as_ref().map(|m| (m.digest(), Arc::clone(m)));
                    let name = report.step.clone();
                    let was_cancelled = report.status == StepStatus::Cancelled;
                    finish(&mut reports, *report);
                    for skipped in queue.finish(step, ok) {
                        let because = if was_cancelled {
                            format!("needs `{name}`, which was interrupted")
                        } else {
                            format!("needs `{name}`, which failed")
                        };
                        finish(
                            &mut reports,
                            StepReport::unfinished(&pipeline.steps[skipped].name, StepStatus::Skipped { because }),
                        );
                    }
                    if !ok && fail_fast && !was_cancelled {
                        // The worker stopped the run already; the same words for every step.
                        stopping.stop(Stop::FailFast(format!("--fail-fast after `{name}` failed")));
                        let running_steps: Vec<usize> = running.keys().copied().collect();
                        for other in queue.drain_unstarted(&running_steps) {
                            finish(
                                &mut reports,
                                StepReport::unfinished(&pipeline.steps[other].name, stopping.unstarted_status()),
                            );
                        }
                    }
                }
                Received::Item(Message::NotStarted(step)) => {
                    running.remove(&step);
                    let name = &pipeline.steps[step].name;
                    finish(&mut reports, StepReport::unfinished(name, stopping.unstarted_status()));
                    for skipped in queue.finish(step, false) {
                        let because = format!("needs `{name}`, which did not start");
                        finish(
                            &mut reports,
                            StepReport::unfinished(&pipeline.steps[skipped].name, StepStatus::Skipped { because }),
                        );
                    }
                }
                // Only a panic ends a worker before its jobs are closed: the scope passes
                // it on once the others are done.
                Received::Item(Message::WorkerGone) => {
                    workers -= 1;
                    if workers == 0 {
                        break;
                    }
                }
                Received::TimedOut => {
                    let now = Instant::now();
                    for (&step, timeout) in &running {
                        let started = started_at[step].get();
                        if timeout.zip(started).is_some_and(|(timeout, started)| now >= *started + timeout) {
                            match terminated_at.get(&step) {
                                None => {
                                    runner.timed_out.lock().expect("timeout set lock is never poisoned").insert(step);
                                    runner.groups.signal(step, Signal::Terminate);
                                    terminated_at.insert(step, now);
                                }
                                Some(at) if now.duration_since(*at) > KILL_GRACE => {
                                    runner.groups.signal(step, Signal::Kill)
                                }
                                Some(_) => {}
                            }
                        }
                    }
                }
                Received::Closed => break,
            }
        }
        jobs_box.close();
    });
    reports
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use attest_hash::{FileStat, RelPath, StatCache};

    use super::*;

    /// A saved cache of one file (hashed long after its mtime), loaded again.
    fn cache_with(dir: &std::path::Path, token: Option<WatchToken>) -> (StatCache, RelPath, FileStat) {
        let path = dir.join("a.txt");
        std::fs::write(&path, "a").unwrap();
        let past = std::time::SystemTime::now() - Duration::from_secs(10);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(past).unwrap();
        let (rel, stat) = (RelPath::new("a.txt").unwrap(), FileStat::from(&std::fs::symlink_metadata(&path).unwrap()));
        let fresh = StatCache::new();
        fresh.file_digest(dir, &rel, &stat).unwrap();
        fresh.save(&dir.join("cache"), token).unwrap();
        (StatCache::load(&dir.join("cache")).cache, rel, stat)
    }

    #[test]
    fn the_watch_token_moves_only_to_a_point_the_whole_cache_holds_at() {
        let dir = tempfile::tempdir().unwrap();
        let old = WatchToken { instance: 7, generation: 3 };
        let now = WatchToken { instance: 7, generation: 9 };
        let restarted = WatchToken { instance: 8, generation: 2 };

        let (cache, rel, stat) = cache_with(dir.path(), Some(old));
        assert_eq!(watch_token(&cache, None), Some(old), "no watcher: the file's token stays");
        assert_eq!(watch_token(&cache, Some(now)), Some(old), "an entry not checked holds only as of the old token");
        cache.file_digest(dir.path(), &rel, &stat).unwrap();
        assert_eq!(watch_token(&cache, Some(now)), Some(old), "all checked, but nothing to save: keep the old one");
        assert_eq!(watch_token(&cache, Some(restarted)), Some(restarted), "a new watcher: saved once");

        let (untokened, rel, stat) = cache_with(dir.path(), None);
        assert_eq!(watch_token(&untokened, Some(now)), None, "not checked");
        untokened.file_digest(dir.path(), &rel, &stat).unwrap();
        assert_eq!(watch_token(&untokened, Some(now)), Some(now));
    }
}
