//! [`RunAnalysis`]: what the run history of a period says (`attest audit analyze`), and
//! the optimisation opportunities that follow from it, each with the number behind it.

use std::collections::BTreeMap;
use std::time::Duration;

use attest_pipeline::Pipeline;
use attest_store::{RunRow, RunStatus, StepRow};
use serde::Serialize;

/// A step with `cache: false` is worth caching when it takes at least this long on average.
pub const SLOW_UNCACHED: Duration = Duration::from_secs(1);
/// A step "never hits the cache" only after missing it in at least this many runs.
pub const NEVER_HITS_MIN_RUNS: usize = 3;
/// A step dominates the critical path when its median is at least this share of it.
pub const DOMINANT_SHARE: f64 = 0.5;

/// The analysis of the runs of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunAnalysis {
    /// The period, in days.
    pub period_days: u32,
    /// Runs in the period.
    pub runs: usize,
    /// Runs by status.
    pub succeeded: usize,
    /// Runs in which a step failed or was skipped.
    pub failed: usize,
    /// Runs interrupted (signal, or the process died).
    pub interrupted: usize,
    /// Share of finished runs that succeeded (0 to 1; `null` without finished runs).
    pub success_rate: Option<f64>,
    /// Wall time of finished runs.
    pub duration: DurationStats,
    /// Share of cache lookups that hit, over every step of every run.
    pub cache_hit_rate: Option<f64>,
    /// Per step, by name.
    pub steps: Vec<StepStats>,
    /// Steps by average execution time (cache hits excluded), slowest first.
    pub slowest_steps: Vec<NamedSeconds>,
    /// Steps by how many runs had them on the critical path, most first.
    pub critical_path_steps: Vec<NamedCount>,
    /// What to change, most valuable first.
    pub opportunities: Vec<Opportunity>,
}

/// Average and percentiles of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct DurationStats {
    /// How many durations.
    pub count: usize,
    /// Mean.
    pub average_seconds: Option<f64>,
    /// Median (nearest rank).
    pub p50_seconds: Option<f64>,
    /// 95th percentile (nearest rank).
    pub p95_seconds: Option<f64>,
}

/// One step over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStats {
    /// The step.
    pub step: String,
    /// Runs that included it.
    pub runs: usize,
    /// Cache hits.
    pub hits: usize,
    /// Cache misses (it executed).
    pub misses: usize,
    /// `hits / (hits + misses)`.
    pub hit_rate: Option<f64>,
    /// Failures.
    pub failures: usize,
    /// Time spent executing it (cache hits excluded).
    pub executed: DurationStats,
    /// Runs in which it was on the critical path.
    pub on_critical_path: usize,
}

/// A step and a number of seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedSeconds {
    /// The step.
    pub step: String,
    /// Seconds.
    pub seconds: f64,
}

/// A step and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedCount {
    /// The step.
    pub step: String,
    /// How many.
    pub count: usize,
}

/// One thing worth changing, with the number behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opportunity {
    /// `uncached_slow_step`, `never_hits_cache`, `dominates_critical_path` or
    /// `unused_parallelism`.
    pub kind: &'static str,
    /// The step it is about, when one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The number behind it (seconds, a share, a count: see `message`).
    pub value: f64,
    /// What was seen and what to do, in one sentence for people.
    pub message: String,
    /// Seconds per run it could save, when that can be estimated (orders the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saving_seconds: Option<f64>,
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn nearest_rank(sorted: &[u64], percentile: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percentile * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl DurationStats {
    /// Statistics of durations in milliseconds.
    pub fn of_millis(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        let count = values.len();
        let average = (count > 0).then(|| values.iter().sum::<u64>() as f64 / count as f64 / 1000.0);
        Self {
            count,
            average_seconds: average,
            p50_seconds: nearest_rank(&values, 0.5).map(seconds),
            p95_seconds: nearest_rank(&values, 0.95).map(seconds),
        }
    }
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The median duration of each step over `runs`, for the critical path of `attest
/// pipeline show`: of its executions when it executed at all (what it costs when its inputs
/// change), else of its cache hits.
pub fn median_durations(runs: &[RunRow]) -> BTreeMap<String, Duration> {
    let mut executed: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut restored: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for step in runs.iter().flat_map(|r| &r.steps).filter(|s| s.worker.is_some()) {
        let bucket = if step.cache_hit() { &mut restored } else { &mut executed };
        bucket.entry(&step.step).or_default().push(step.duration_ms);
    }
    for (name, ms) in restored {
        executed.entry(name).or_insert(ms);
    }
    executed
        .into_iter()
        .filter_map(|(name, mut ms)| {
            ms.sort_unstable();
            Some((name.to_owned(), Duration::from_millis(nearest_rank(&ms, 0.5)?)))
        })
        .collect()
}

/// The miss reason of a step whose caching is off (attest-run's `MissReason::CacheDisabled`).
const CACHE_DISABLED: &str = "cache disabled";

/// The changed input a miss reason names (`input changed: src/v.h and 2 more` → `src/v.h`).
fn changed_input(reason: &str) -> Option<&str> {
    let path = reason.strip_prefix("input changed: ")?;
    Some(path.split(" and ").next().unwrap_or(path))
}

/// The critical path of one run: the pipeline's graph weighed by that run's step durations.
fn run_critical_path(pipeline: &Pipeline, run: &RunRow) -> Vec<String> {
    let by_name: BTreeMap<&str, &StepRow> = run.steps.iter().map(|s| (s.step.as_str(), s)).collect();
    let weights: Vec<u64> = pipeline
        .steps
        .iter()
        .map(|s| by_name.get(s.name.as_str()).filter(|r| r.worker.is_some()).map_or(0, |r| r.duration_ms + 1))
        .collect();
    if weights.iter().all(|w| *w == 0) {
        return Vec::new();
    }
    pipeline
        .graph()
        .critical_path(&weights)
        .into_iter()
        .filter(|&i| weights[i] > 0)
        .map(|i| pipeline.steps[i].name.clone())
        .collect()
}

/// Analyses `runs` (the runs of the last `period_days`). With the current `pipeline`, the
/// analysis also weighs critical paths and checks `cache: false` and the widest level.
pub fn analyze(runs: &[RunRow], pipeline: Option<&Pipeline>, period_days: u32) -> RunAnalysis {
    let count = |status: RunStatus| runs.iter().filter(|r| r.status == status).count();
    let (succeeded, failed, interrupted) =
        (count(RunStatus::Succeeded), count(RunStatus::Failed), count(RunStatus::Interrupted));
    let finished = runs.iter().filter(|r| r.status != RunStatus::Running).count();
    let duration = DurationStats::of_millis(runs.iter().filter_map(RunRow::duration_ms).collect());

    let mut critical_counts: BTreeMap<String, usize> = BTreeMap::new();
    // Per step on a critical path: (its duration, the path's length) in that run.
    let mut critical_shares: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    if let Some(pipeline) = pipeline {
        for run in runs {
            let path = run_critical_path(pipeline, run);
            let durations: BTreeMap<&str, u64> = run.steps.iter().map(|s| (s.step.as_str(), s.duration_ms)).collect();
            let length: u64 = path.iter().filter_map(|s| durations.get(s.as_str())).sum();
            for step in path {
                if length > 0 {
                    let own = durations.get(step.as_str()).copied().unwrap_or(0);
                    critical_shares.entry(step.clone()).or_default().push((own, length));
                }
                *critical_counts.entry(step).or_default() += 1;
            }
        }
    }

    let mut rows_by_step: BTreeMap<&str, Vec<&StepRow>> = BTreeMap::new();
    for step in runs.iter().flat_map(|r| &r.steps) {
        rows_by_step.entry(&step.step).or_default().push(step);
    }
    let steps: Vec<StepStats> = rows_by_step
        .iter()
        .map(|(name, rows)| {
            let hits = rows.iter().filter(|r| r.cache_hit()).count();
            let misses = rows.iter().filter(|r| r.cache_miss()).count();
            let executed: Vec<u64> =
                rows.iter().filter(|r| r.worker.is_some() && !r.cache_hit()).map(|r| r.duration_ms).collect();
            StepStats {
                step: (*name).to_owned(),
                runs: rows.len(),
                hits,
                misses,
                hit_rate: rate(hits, hits + misses),
                failures: rows.iter().filter(|r| r.status == "failed").count(),
                executed: DurationStats::of_millis(executed),
                on_critical_path: critical_counts.get(*name).copied().unwrap_or(0),
            }
        })
        .collect();
    let (hits, lookups) = steps.iter().fold((0, 0), |(h, l), s| (h + s.hits, l + s.hits + s.misses));

    let mut slowest_steps: Vec<NamedSeconds> = steps
        .iter()
        .filter_map(|s| Some(NamedSeconds { step: s.step.clone(), seconds: s.executed.average_seconds? }))
        .collect();
    slowest_steps.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then_with(|| a.step.cmp(&b.step)));
    let mut critical_path_steps: Vec<NamedCount> =
        critical_counts.into_iter().map(|(step, count)| NamedCount { step, count }).collect();
    critical_path_steps.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.step.cmp(&b.step)));

    let mut opportunities = Vec::new();
    if let Some(pipeline) = pipeline {
        opportunities.extend(uncached_slow_steps(pipeline, &steps));
        opportunities.extend(dominant_steps(&steps, &critical_shares, runs.len()));
        opportunities.extend(unused_parallelism(pipeline, runs));
    }
    opportunities.extend(never_hits(&steps, &rows_by_step));
    opportunities.sort_by(|a, b| {
        b.saving_seconds.unwrap_or(0.0).total_cmp(&a.saving_seconds.unwrap_or(0.0)).then_with(|| a.kind.cmp(b.kind))
    });

    RunAnalysis {
        period_days,
        runs: runs.len(),
        succeeded,
        failed,
        interrupted,
        success_rate: rate(succeeded, finished),
        duration,
        cache_hit_rate: rate(hits, lookups),
        steps,
        slowest_steps,
        critical_path_steps,
        opportunities,
    }
}

fn uncached_slow_steps(pipeline: &Pipeline, steps: &[StepStats]) -> Vec<Opportunity> {
    steps
        .iter()
        .filter(|s| pipeline.steps.iter().any(|p| p.name == s.step && !p.cache))
        .filter_map(|s| {
            let average = s.executed.average_seconds?;
            (average >= SLOW_UNCACHED.as_secs_f64()).then(|| Opportunity {
                kind: "uncached_slow_step",
                step: Some(s.step.clone()),
                value: average,
                message: format!(
                    "`{}` takes {average:.1}s on average and has `cache: false`: declare its inputs and outputs and \
                     let the cache skip it when nothing changed",
                    s.step
                ),
                saving_seconds: Some(average),
            })
        })
        .collect()
}

fn never_hits(steps: &[StepStats], rows_by_step: &BTreeMap<&str, Vec<&StepRow>>) -> Vec<Opportunity> {
    steps
        .iter()
        .filter(|s| s.hits == 0 && s.misses >= NEVER_HITS_MIN_RUNS)
        // `cache: false` (or --no-cache) is a choice, reported as `uncached_slow_step`.
        .filter(|s| rows_by_step[s.step.as_str()].iter().any(|r| r.miss_reason.as_deref() != Some(CACHE_DISABLED)))
        .map(|s| {
            let mut inputs: BTreeMap<&str, usize> = BTreeMap::new();
            for row in &rows_by_step[s.step.as_str()] {
                if let Some(path) = row.miss_reason.as_deref().and_then(changed_input) {
                    *inputs.entry(path).or_default() += 1;
                }
            }
            let top = inputs.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)));
            let because = match top {
                Some((path, n)) => format!(
                    "; {n} of them because `{path}` changed: an input that changes on every run (a timestamp, a \
                     generated file?) defeats the cache, exclude it with `!{path}` or make it deterministic"
                ),
                None => String::new(),
            };
            Opportunity {
                kind: "never_hits_cache",
                step: Some(s.step.clone()),
                value: s.misses as f64,
                message: format!("`{}` missed the cache in all {} runs{because}", s.step, s.misses),
                saving_seconds: s.executed.average_seconds,
            }
        })
        .collect()
}

fn dominant_steps(steps: &[StepStats], shares: &BTreeMap<String, Vec<(u64, u64)>>, runs: usize) -> Vec<Opportunity> {
    steps
        .iter()
        .filter(|s| s.on_critical_path * 2 >= runs.max(1))
        .filter_map(|s| {
            let mut seen = shares.get(&s.step)?.clone();
            seen.sort_by(|a, b| (a.0 as f64 / a.1 as f64).total_cmp(&(b.0 as f64 / b.1 as f64)));
            let (step_ms, path_ms) = seen[(seen.len() - 1) / 2];
            let share = step_ms as f64 / path_ms as f64;
            (share >= DOMINANT_SHARE && Duration::from_millis(step_ms) >= SLOW_UNCACHED).then(|| Opportunity {
                kind: "dominates_critical_path",
                step: Some(s.step.clone()),
                value: share,
                message: format!(
                    "`{}` is {:.0}% of the critical path in the median run ({:.1}s of {:.1}s): split it or narrow \
                     its inputs, nothing else shortens the run as much",
                    s.step,
                    share * 100.0,
                    seconds(step_ms),
                    seconds(path_ms)
                ),
                saving_seconds: Some(seconds(step_ms) / 2.0),
            })
        })
        .collect()
}

fn unused_parallelism(pipeline: &Pipeline, runs: &[RunRow]) -> Option<Opportunity> {
    let widest = {
        let levels = pipeline.graph().levels();
        let mut width: BTreeMap<usize, usize> = BTreeMap::new();
        for level in levels {
            *width.entry(level).or_default() += 1;
        }
        width.into_values().max()?
    };
    let jobs = runs.iter().filter(|r| r.targets.is_empty()).map(|r| r.jobs as usize).max()?;
    (jobs > widest).then(|| Opportunity {
        kind: "unused_parallelism",
        step: None,
        value: jobs as f64,
        message: format!(
            "runs asked for -j {jobs} but at most {widest} step{} can ever run at once (the widest \
             level): the extra workers idle; split wide steps or lower -j",
            if widest == 1 { "" } else { "s" }
        ),
        saving_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use attest_store::{RunRow, RunStatus, StepRow};

    use super::*;

    const PIPELINE: &str = r#"version: "0.1"
steps:
  fetch: { run: "true", inputs: [], cache: false }
  stamp: { run: "true", inputs: [], needs: [fetch] }
  build: { run: "true", inputs: [], needs: [stamp] }
"#;

    fn pipeline() -> Pipeline {
        Pipeline::parse("attest.yaml", PIPELINE).expect("valid pipeline")
    }

    fn step(name: &str, cache: &str, ms: u64, reason: Option<&str>) -> StepRow {
        StepRow {
            step: name.to_owned(),
            status: "succeeded".to_owned(),
            detail: None,
            cache: Some(cache.to_owned()),
            miss_reason: reason.map(str::to_owned),
            exit_code: Some(0),
            start_ms: 0,
            duration_ms: ms,
            worker: Some(0),
            cache_key: None,
        }
    }

    fn run(i: i64, status: RunStatus, build_hit: bool) -> RunRow {
        let build = if build_hit { step("build", "hit", 10, None) } else { step("build", "miss", 9_000, None) };
        let steps = vec![
            step("fetch", "miss", 2_000, Some(CACHE_DISABLED)),
            step("stamp", "miss", 1_000, Some("input changed: gen/stamp.txt and 1 more")),
            build,
        ];
        RunRow {
            run_id: format!("run{i}"),
            started_ms: i * 100_000,
            finished_ms: Some(i * 100_000 + 12_000 + i * 1_000),
            status,
            pipeline: "attest.yaml".to_owned(),
            pipeline_digest: String::new(),
            targets: Vec::new(),
            jobs: 4,
            attest_version: "0.1.0".to_owned(),
            receipt: None,
            ran: 0,
            cached: 0,
            failed: 0,
            skipped: 0,
            steps,
        }
    }

    #[test]
    fn rates_percentiles_and_every_kind_of_opportunity_come_from_the_rows() {
        let runs = vec![
            run(1, RunStatus::Succeeded, false),
            run(2, RunStatus::Succeeded, false),
            run(3, RunStatus::Failed, true),
            run(4, RunStatus::Succeeded, false),
        ];
        let analysis = analyze(&runs, Some(&pipeline()), 30);
        assert_eq!((analysis.runs, analysis.succeeded, analysis.failed), (4, 3, 1));
        assert_eq!(analysis.success_rate, Some(0.75));
        assert_eq!(analysis.duration.p50_seconds, Some(14.0));
        assert_eq!(analysis.duration.p95_seconds, Some(16.0));
        // 1 hit out of 12 lookups.
        assert_eq!(analysis.cache_hit_rate, Some(1.0 / 12.0));
        assert_eq!(analysis.slowest_steps[0].step, "build");
        assert_eq!(analysis.slowest_steps[0].seconds, 9.0);
        assert_eq!(analysis.critical_path_steps.iter().find(|s| s.step == "build").map(|s| s.count), Some(4));

        let kinds: Vec<(&str, Option<&str>)> =
            analysis.opportunities.iter().map(|o| (o.kind, o.step.as_deref())).collect();
        assert!(kinds.contains(&("uncached_slow_step", Some("fetch"))), "{kinds:?}");
        assert!(kinds.contains(&("never_hits_cache", Some("stamp"))), "{kinds:?}");
        assert!(kinds.contains(&("dominates_critical_path", Some("build"))), "{kinds:?}");
        assert!(kinds.contains(&("unused_parallelism", None)), "{kinds:?}");
        let stamp = analysis.opportunities.iter().find(|o| o.kind == "never_hits_cache").expect("found");
        assert!(stamp.message.contains("all 4 runs; 4 of them because `gen/stamp.txt` changed"), "{}", stamp.message);
        let build = analysis.opportunities.iter().find(|o| o.kind == "dominates_critical_path").expect("found");
        assert!((build.value - 9.0 / 12.0).abs() < 1e-9, "{}", build.value);
    }

    #[test]
    fn no_runs_no_rates() {
        let analysis = analyze(&[], Some(&pipeline()), 7);
        assert_eq!(analysis.runs, 0);
        assert_eq!(analysis.success_rate, None);
        assert_eq!(analysis.cache_hit_rate, None);
        assert!(analysis.opportunities.is_empty());
    }

    #[test]
    fn medians_prefer_executions_over_cache_hits() {
        let runs = vec![run(1, RunStatus::Succeeded, true), run(2, RunStatus::Succeeded, false)];
        let medians = median_durations(&runs);
        assert_eq!(medians["build"], Duration::from_millis(9_000));
        assert_eq!(medians["fetch"], Duration::from_millis(2_000));
    }
}
