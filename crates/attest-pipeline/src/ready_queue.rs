//! The scheduler's queue of steps whose dependencies are done: a pure structure (no
//! threads, no I/O) so that ordering and skipping are tested directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::Graph;

/// Tracks which selected steps are waiting, ready, running or finished. Among ready
/// steps the one with the highest priority (longest remaining path) comes first; ties go
/// to the step declared first.
#[derive(Debug)]
pub struct ReadyQueue<'g> {
    graph: &'g Graph,
    selected: Vec<bool>,
    priority: Vec<u64>,
    waiting: Vec<usize>,
    ready: BinaryHeap<(u64, Reverse<usize>)>,
    settled: Vec<bool>,
    pending: usize,
}

impl<'g> ReadyQueue<'g> {
    /// A queue over the `selected` steps of `graph`; `priority` orders ready steps.
    pub fn new(graph: &'g Graph, selected: Vec<bool>, priority: Vec<u64>) -> Self {
        let waiting: Vec<usize> =
            (0..graph.len()).map(|s| graph.dependencies(s).iter().filter(|&&d| selected[d]).count()).collect();
        let ready =
            (0..graph.len()).filter(|&s| selected[s] && waiting[s] == 0).map(|s| (priority[s], Reverse(s))).collect();
        let pending = selected.iter().filter(|s| **s).count();
        Self { graph, selected, priority, waiting, ready, settled: vec![false; graph.len()], pending }
    }

    /// The next step to start, if one is ready.
    pub fn dequeue(&mut self) -> Option<usize> {
        self.ready.pop().map(|(_, Reverse(step))| step)
    }

    /// Records that `step` finished. On success its dependents may become ready; on
    /// failure every selected step downstream of it is skipped, and returned.
    pub fn finish(&mut self, step: usize, success: bool) -> Vec<usize> {
        self.settle(step);
        if success {
            for &next in self.graph.dependents(step) {
                if self.selected[next] && !self.settled[next] {
                    self.waiting[next] -= 1;
                    if self.waiting[next] == 0 {
                        self.ready.push((self.priority[next], Reverse(next)));
                    }
                }
            }
            return Vec::new();
        }
        let skipped: Vec<usize> =
            self.graph.downstream(step).into_iter().filter(|&s| self.selected[s] && !self.settled[s]).collect();
        for &s in &skipped {
            self.settle(s);
        }
        skipped
    }

    /// Removes every step that has not started yet (for `--fail-fast` and cancellation)
    /// and returns them.
    pub fn drain_unstarted(&mut self, running: &[usize]) -> Vec<usize> {
        self.ready.clear();
        let drained: Vec<usize> =
            (0..self.graph.len()).filter(|&s| self.selected[s] && !self.settled[s] && !running.contains(&s)).collect();
        for &s in &drained {
            self.settle(s);
        }
        drained
    }

    fn settle(&mut self, step: usize) {
        if !std::mem::replace(&mut self.settled[step], true) {
            self.pending -= 1;
        }
    }

    /// Steps neither finished nor skipped yet (running, ready or waiting).
    pub fn pending(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A random DAG: each step may need any earlier step.
    fn arb_dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
        (1usize..24).prop_flat_map(|n| {
            proptest::collection::vec(proptest::collection::vec(any::<proptest::sample::Index>(), 0..4), n).prop_map(
                |raw| {
                    raw.into_iter()
                        .enumerate()
                        .map(|(i, picks)| {
                            let mut deps: Vec<usize> =
                                if i == 0 { vec![] } else { picks.iter().map(|p| p.index(i)).collect() };
                            deps.sort_unstable();
                            deps.dedup();
                            deps
                        })
                        .collect()
                },
            )
        })
    }

    #[test]
    fn longest_remaining_path_goes_first() {
        // 0 and 1 are roots; 1 has a long tail.
        let graph = Graph::new(vec![vec![], vec![], vec![1], vec![2]]).unwrap();
        let priority = graph.remaining_path(&[1, 1, 1, 1]);
        let mut queue = ReadyQueue::new(&graph, vec![true; 4], priority);
        assert_eq!(queue.dequeue(), Some(1));
        assert_eq!(queue.dequeue(), Some(0));
        assert_eq!(queue.dequeue(), None);
    }

    proptest! {
        /// Every selected step runs exactly once, after all its dependencies; with
        /// failures, exactly the downstream cone of the failed steps is skipped.
        #[test]
        fn schedules_respect_dependencies(deps in arb_dag(), fail_mask in any::<u32>(), parallel in 1usize..4) {
            let graph = Graph::new(deps.clone()).unwrap();
            let n = graph.len();
            let priority = graph.start_priority();
            let mut queue = ReadyQueue::new(&graph, vec![true; n], priority);
            let mut done = vec![false; n];
            let mut failed = vec![false; n];
            let mut skipped = vec![false; n];
            let mut running: Vec<usize> = Vec::new();
            loop {
                while running.len() < parallel {
                    match queue.dequeue() {
                        Some(step) => {
                            prop_assert!(deps[step].iter().all(|&d| done[d] && !failed[d]), "step {} started early", step);
                            running.push(step);
                        }
                        None => break,
                    }
                }
                let Some(step) = running.first().copied() else { break };
                running.remove(0);
                let fails = fail_mask & (1 << (step % 32)) != 0;
                done[step] = true;
                failed[step] = fails;
                for s in queue.finish(step, !fails) {
                    prop_assert!(!done[s] && !skipped[s]);
                    skipped[s] = true;
                }
            }
            prop_assert_eq!(queue.pending(), 0);
            for step in 0..n {
                let upstream_failed = graph.closure(&[step]).iter().enumerate().any(|(s, inside)| *inside && s != step && failed[s]);
                prop_assert_eq!(skipped[step], upstream_failed, "step {}", step);
                prop_assert_eq!(done[step], !upstream_failed);
            }
        }

        /// One step at a time, every step succeeding, steps start in the graph's
        /// start order (the order a receipt lists them in).
        #[test]
        fn serial_schedules_follow_the_start_order(deps in arb_dag(), mask in any::<u32>()) {
            let graph = Graph::new(deps).unwrap();
            let n = graph.len();
            let selected: Vec<usize> = (0..n).filter(|s| mask & (1 << (s % 32)) != 0).collect();
            let members = graph.closure(&selected);
            let mut queue = ReadyQueue::new(&graph, members.clone(), graph.start_priority());
            let mut started = Vec::new();
            while let Some(step) = queue.dequeue() {
                started.push(step);
                queue.finish(step, true);
            }
            let all: Vec<usize> = (0..n).filter(|&s| members[s]).collect();
            prop_assert_eq!(started, graph.start_order(&all));
        }
    }
}
