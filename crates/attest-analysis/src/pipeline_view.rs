//! [`PipelineView`]: what the step graph says about a pipeline, computed once and then
//! drawn or serialised.
//!
//! Weights: the critical path is the heaviest chain of dependent steps. With a median
//! duration for every step it is weighed in time; otherwise every step weighs one and the
//! path is the longest chain by step count. Durations are not mixed with unit weights,
//! because one step weighing "1" next to steps weighing seconds would give a path that is
//! neither; a step added since the last run therefore shows the view by step count until
//! it has run (the view says how many durations were known).

use std::collections::BTreeMap;
use std::time::Duration;

use attest_pipeline::{Graph, Pipeline};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A step is listed as a bottleneck when at least this many steps wait on it, directly or
/// transitively.
pub const BOTTLENECK_MIN_DEPENDENTS: usize = 2;

/// The version of the JSON form of [`PipelineView`].
const VIEW_VERSION: u32 = 1;

/// Levels, critical path, depth, parallelism and bottlenecks of a pipeline's step graph.
///
/// Its `Serialize` form is the JSON of `attest pipeline show --format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineView {
    /// Version of this JSON form.
    pub version: u32,
    /// The pipeline's `name:`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every step, in declaration order.
    pub steps: Vec<StepView>,
    /// Step names by level: level 0 holds the steps that need nothing, level `n + 1` the
    /// steps whose deepest dependency is at level `n`. Steps of one level can run in
    /// parallel.
    pub levels: Vec<Vec<String>>,
    /// The heaviest chain of dependent steps.
    pub critical_path: CriticalPath,
    /// Number of levels: the longest chain of dependent steps, counted in steps.
    pub depth: usize,
    /// Number of steps in the widest level.
    pub max_parallelism: usize,
    /// Steps that at least [`BOTTLENECK_MIN_DEPENDENTS`] steps wait on, most waited on first.
    pub bottlenecks: Vec<Bottleneck>,
}

/// One step of a [`PipelineView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    /// The step's name.
    pub name: String,
    /// Its level (see [`PipelineView::levels`]).
    pub level: usize,
    /// Names of the steps it needs, as declared.
    pub needs: Vec<String>,
    /// Number of steps that wait on it, directly or transitively.
    pub dependents: usize,
    /// Whether it is on the critical path.
    pub on_critical_path: bool,
    /// Its median duration, if known (`weight_seconds` in JSON, `null` when unknown).
    #[serde(rename = "weight_seconds", serialize_with = "optional_seconds")]
    pub weight: Option<Duration>,
}

/// The heaviest chain of dependent steps, first to last.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalPath {
    /// Step names, each needing the one before it.
    pub steps: Vec<String>,
    /// Its length: the sum of the steps' medians, or its number of steps.
    pub length: PathLength,
    /// How many steps of the pipeline had a median duration.
    pub durations_known: usize,
    /// How many runs the medians come from, when the caller said so.
    pub runs: Option<usize>,
}

/// How long the critical path is, and in which unit it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathLength {
    /// Chosen by step count (some step's duration is unknown): the number of steps.
    Steps(usize),
    /// Chosen by median duration: the sum of the steps' medians.
    Duration(Duration),
}

/// A step that many others wait on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bottleneck {
    /// The step's name.
    pub step: String,
    /// Number of steps that wait on it, directly or transitively.
    pub dependents: usize,
}

impl PipelineView {
    /// The view of a checked pipeline. `medians` maps step names to their median duration
    /// (from run history; empty when there is none); names that are not steps are ignored.
    pub fn new(pipeline: &Pipeline, medians: &BTreeMap<String, Duration>) -> Self {
        let names: Vec<String> = pipeline.steps.iter().map(|step| step.name.clone()).collect();
        let mut view = Self::from_graph(&names, pipeline.graph(), medians);
        view.name = pipeline.name.clone();
        view
    }

    /// The view of a graph whose step `i` is called `names[i]`.
    ///
    /// # Panics
    ///
    /// If `names` and `graph` do not have the same number of steps.
    pub fn from_graph(names: &[String], graph: &Graph, medians: &BTreeMap<String, Duration>) -> Self {
        assert_eq!(names.len(), graph.len(), "a step graph should have one name per step");
        let known: Vec<Option<Duration>> = names.iter().map(|name| medians.get(name).copied()).collect();
        let durations_known = known.iter().flatten().count();
        let by_duration = !names.is_empty() && durations_known == names.len();
        let weights: Vec<u64> = if by_duration {
            known.iter().map(|d| d.map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))).collect()
        } else {
            vec![1; names.len()]
        };

        let path = if graph.is_empty() { Vec::new() } else { graph.critical_path(&weights) };
        let mut on_path = vec![false; names.len()];
        for &step in &path {
            on_path[step] = true;
        }
        let length = if by_duration {
            PathLength::Duration(path.iter().filter_map(|&step| known[step]).sum())
        } else {
            PathLength::Steps(path.len())
        };

        let level = graph.levels();
        let depth = level.iter().max().map_or(0, |deepest| deepest + 1);
        let mut levels = vec![Vec::new(); depth];
        for (step, &l) in level.iter().enumerate() {
            levels[l].push(names[step].clone());
        }

        let steps: Vec<StepView> = (0..names.len())
            .map(|step| StepView {
                name: names[step].clone(),
                level: level[step],
                needs: graph.dependencies(step).iter().map(|&dep| names[dep].clone()).collect(),
                dependents: graph.downstream(step).len(),
                on_critical_path: on_path[step],
                weight: known[step],
            })
            .collect();

        let mut bottlenecks: Vec<Bottleneck> = steps
            .iter()
            .filter(|step| step.dependents >= BOTTLENECK_MIN_DEPENDENTS)
            .map(|step| Bottleneck { step: step.name.clone(), dependents: step.dependents })
            .collect();
        // Stable: equal counts keep declaration order.
        bottlenecks.sort_by_key(|b| std::cmp::Reverse(b.dependents));

        Self {
            version: VIEW_VERSION,
            name: None,
            max_parallelism: levels.iter().map(Vec::len).max().unwrap_or(0),
            steps,
            levels,
            critical_path: CriticalPath {
                steps: path.iter().map(|&s| names[s].clone()).collect(),
                length,
                durations_known,
                runs: None,
            },
            depth,
            bottlenecks,
        }
    }

    /// Records how many runs the medians come from, for the caption ("by median duration
    /// from 12 runs").
    #[must_use]
    pub fn with_run_count(mut self, runs: usize) -> Self {
        self.critical_path.runs = Some(runs);
        self
    }

    /// The steps of `level`, in declaration order, with their indexes in [`Self::steps`].
    pub fn level_steps(&self, level: usize) -> impl Iterator<Item = (usize, &StepView)> {
        self.steps.iter().enumerate().filter(move |(_, step)| step.level == level)
    }

    /// The first level with [`Self::max_parallelism`] steps.
    pub fn widest_level(&self) -> Option<usize> {
        self.levels.iter().position(|level| level.len() == self.max_parallelism)
    }
}

impl Serialize for CriticalPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CriticalPath", 5)?;
        s.serialize_field("steps", &self.steps)?;
        match self.length {
            PathLength::Steps(count) => {
                s.serialize_field("length", &count)?;
                s.serialize_field("unit", "steps")?;
            }
            PathLength::Duration(total) => {
                s.serialize_field("length", &seconds(total))?;
                s.serialize_field("unit", "seconds")?;
            }
        }
        s.serialize_field("durations_known", &self.durations_known)?;
        match self.runs {
            Some(runs) => s.serialize_field("runs", &runs)?,
            None => s.skip_field("runs")?,
        }
        s.end()
    }
}

/// Seconds, to the millisecond.
fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

fn optional_seconds<S: Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serializer.serialize_some(&seconds(*duration)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A graph and names `s0`, `s1`, … from dependency lists.
    pub(crate) fn view_of(dependencies: &[&[usize]], medians: &[(&str, u64)]) -> PipelineView {
        let names: Vec<String> = (0..dependencies.len()).map(|i| format!("s{i}")).collect();
        let graph = Graph::new(dependencies.iter().map(|deps| deps.to_vec()).collect()).unwrap();
        let medians = medians.iter().map(|&(name, ms)| (name.to_owned(), Duration::from_millis(ms))).collect();
        PipelineView::from_graph(&names, &graph, &medians)
    }

    /// The bundled example's shape: configure; compile-main, compile-greet; link; test;
    /// package (needs link and test).
    pub(crate) fn hello_c() -> PipelineView {
        let names: Vec<String> =
            ["configure", "compile-main", "compile-greet", "link", "test", "package"].map(str::to_owned).to_vec();
        let graph = Graph::new(vec![vec![], vec![0], vec![0], vec![1, 2], vec![3], vec![3, 4]]).unwrap();
        PipelineView::from_graph(&names, &graph, &BTreeMap::new())
    }

    #[test]
    fn levels_group_steps_that_can_run_in_parallel() {
        let view = hello_c();
        assert_eq!(
            view.levels,
            [vec!["configure"], vec!["compile-main", "compile-greet"], vec!["link"], vec!["test"], vec!["package"]]
        );
        assert_eq!(view.depth, 5);
        assert_eq!(view.max_parallelism, 2);
        assert_eq!(view.widest_level(), Some(1));
        assert_eq!(view.steps[5].needs, ["link", "test"]);
        assert_eq!(view.level_steps(1).map(|(i, _)| i).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn without_durations_the_critical_path_is_the_longest_chain_by_step_count() {
        let view = hello_c();
        assert_eq!(view.critical_path.steps, ["configure", "compile-main", "link", "test", "package"]);
        assert_eq!(view.critical_path.length, PathLength::Steps(5));
        assert_eq!(view.critical_path.durations_known, 0);
        let marked: Vec<&str> = view.steps.iter().filter(|s| s.on_critical_path).map(|s| s.name.as_str()).collect();
        assert_eq!(marked, ["configure", "compile-main", "link", "test", "package"]);
    }

    #[test]
    fn with_durations_the_critical_path_is_the_heaviest_chain() {
        // 0 -> 1 -> 3 and 0 -> 2 -> 3: the slow branch wins although both are 3 steps.
        let all = [("s0", 100), ("s1", 200), ("s2", 5_000), ("s3", 300)];
        let view = view_of(&[&[], &[0], &[0], &[1, 2]], &all);
        assert_eq!(view.critical_path.steps, ["s0", "s2", "s3"]);
        assert_eq!(view.critical_path.length, PathLength::Duration(Duration::from_millis(5_400)));
        assert_eq!(view.steps[2].weight, Some(Duration::from_millis(5_000)));

        // A long chain of fast steps loses to one slow step.
        let view = view_of(&[&[], &[0], &[1], &[]], &[("s0", 1), ("s1", 1), ("s2", 1), ("s3", 60_000)]);
        assert_eq!(view.critical_path.steps, ["s3"]);
    }

    #[test]
    fn partial_durations_fall_back_to_step_count() {
        let view = view_of(&[&[], &[0], &[]], &[("s0", 10), ("s2", 99_000), ("gone", 5)]);
        assert_eq!(view.critical_path.steps, ["s0", "s1"]);
        assert_eq!(view.critical_path.length, PathLength::Steps(2));
        assert_eq!(view.critical_path.durations_known, 2);
        assert_eq!(view.steps[1].weight, None);
    }

    #[test]
    fn bottlenecks_count_transitive_dependents_most_first() {
        let view = hello_c();
        let counts: Vec<usize> = view.steps.iter().map(|s| s.dependents).collect();
        assert_eq!(counts, [5, 3, 3, 2, 1, 0]);
        let bottlenecks: Vec<(&str, usize)> =
            view.bottlenecks.iter().map(|b| (b.step.as_str(), b.dependents)).collect();
        assert_eq!(bottlenecks, [("configure", 5), ("compile-main", 3), ("compile-greet", 3), ("link", 2)]);

        // Fan-in: a diamond's top is waited on by 3, not counted twice through both sides.
        let view = view_of(&[&[], &[0], &[0], &[1, 2], &[]], &[]);
        assert_eq!(view.bottlenecks, [Bottleneck { step: "s0".into(), dependents: 3 }]);
    }

    #[test]
    fn json_form() {
        let view = view_of(&[&[], &[0]], &[("s0", 1_500), ("s1", 250)]).with_run_count(7);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 1,
                "steps": [
                    {"name": "s0", "level": 0, "needs": [], "dependents": 1, "on_critical_path": true, "weight_seconds": 1.5},
                    {"name": "s1", "level": 1, "needs": ["s0"], "dependents": 0, "on_critical_path": true, "weight_seconds": 0.25},
                ],
                "levels": [["s0"], ["s1"]],
                "critical_path": {"steps": ["s0", "s1"], "length": 1.75, "unit": "seconds", "durations_known": 2, "runs": 7},
                "depth": 2,
                "max_parallelism": 1,
                "bottlenecks": [],
            })
        );
        let json = serde_json::to_value(hello_c()).unwrap();
        assert_eq!(json["critical_path"]["unit"], "steps");
        assert_eq!(json["critical_path"]["length"], 5);
        assert_eq!(json["steps"][0]["weight_seconds"], serde_json::Value::Null);
        assert!(json["critical_path"].get("runs").is_none());
    }

    #[test]
    fn an_empty_graph_has_an_empty_view() {
        let view = view_of(&[], &[]);
        assert_eq!(view.depth, 0);
        assert_eq!(view.max_parallelism, 0);
        assert!(view.critical_path.steps.is_empty());
        assert_eq!(view.critical_path.length, PathLength::Steps(0));
    }

    /// Random DAGs: step `i` needs a subset of the steps before it.
    pub(crate) fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
        (1usize..40).prop_flat_map(|n| {
            (0..n).map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(4))).collect::<Vec<_>>().prop_map(
                |sets| {
                    sets.into_iter().enumerate().map(|(i, set)| set.into_iter().filter(|&d| d < i).collect()).collect()
                },
            )
        })
    }

    proptest! {
        #[test]
        fn levels_follow_dependencies_and_the_critical_path_is_a_chain(
            dependencies in dag(),
            millis in proptest::collection::vec(0u64..10_000, 40),
            with_durations in any::<bool>(),
        ) {
            let n = dependencies.len();
            let names: Vec<String> = (0..n).map(|i| format!("step-{i}")).collect();
            let graph = Graph::new(dependencies.clone()).unwrap();
            let medians: BTreeMap<String, Duration> = if with_durations {
                names.iter().zip(&millis).map(|(name, &ms)| (name.clone(), Duration::from_millis(ms))).collect()
            } else {
                BTreeMap::new()
            };
            let view = PipelineView::from_graph(&names, &graph, &medians);
            let index = |name: &str| names.iter().position(|n| n == name).unwrap();

            for (step, deps) in dependencies.iter().enumerate() {
                for &dep in deps {
                    prop_assert!(view.steps[step].level > view.steps[dep].level);
                }
            }
            prop_assert_eq!(view.levels.iter().map(Vec::len).sum::<usize>(), n);

            // A chain: starts at a step that needs nothing, each step needs the one before,
            // ends at a step nothing needs.
            let path: Vec<usize> = view.critical_path.steps.iter().map(|s| index(s)).collect();
            prop_assert!(!path.is_empty());
            prop_assert!(dependencies[path[0]].is_empty());
            for pair in path.windows(2) {
                prop_assert!(dependencies[pair[1]].contains(&pair[0]));
            }
            let last = *path.last().unwrap();
            prop_assert!(graph.dependents(last).is_empty());

            // And the heaviest one: its weight equals the longest weighted path.
            let weight = |s: usize| if with_durations { millis[s] } else { 1 };
            let mut longest = vec![0u64; n];
            for &s in graph.topological_order() {
                longest[s] = weight(s) + dependencies[s].iter().map(|&d| longest[d]).max().unwrap_or(0);
            }
            let heaviest = longest.iter().copied().max().unwrap();
            prop_assert_eq!(path.iter().map(|&s| weight(s)).sum::<u64>(), heaviest);
            match view.critical_path.length {
                PathLength::Steps(count) => {
                    prop_assert!(!with_durations);
                    prop_assert_eq!(count, view.depth);
                }
                PathLength::Duration(total) => prop_assert_eq!(total, Duration::from_millis(heaviest)),
            }
        }
    }
}
