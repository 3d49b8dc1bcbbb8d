//! The step DAG: dependencies, topological order, levels and critical path.

/// Dependencies between steps by index. Built once from a validated pipeline, so it is
/// known to be acyclic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    order: Vec<usize>,
}

impl Graph {
    /// Builds the graph, or returns every cycle found (each as a path of step indexes that
    /// starts and ends with the same step).
    pub fn new(dependencies: Vec<Vec<usize>>) -> Result<Self, Vec<Vec<usize>>> {
        let n = dependencies.len();
        let mut dependents = vec![Vec::new(); n];
        for (step, deps) in dependencies.iter().enumerate() {
            for &dep in deps {
                dependents[dep].push(step);
            }
        }
        let cycles = find_cycles(&dependencies);
        if !cycles.is_empty() {
            return Err(cycles);
        }
        // Kahn's algorithm, lowest index first, for a stable order.
        let mut waiting: Vec<usize> = dependencies.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(step) = ready.pop_first() {
            order.push(step);
            for &next in &dependents[step] {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.insert(next);
                }
            }
        }
        Ok(Self { dependencies, dependents, order })
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    /// Whether the graph has no steps.
    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The steps `step` needs.
    pub fn dependencies(&self, step: usize) -> &[usize] {
        &self.dependencies[step]
    }

    /// The steps that need `step`.
    pub fn dependents(&self, step: usize) -> &[usize] {
        &self.dependents[step]
    }

    /// Every step after all of its dependencies.
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// `roots` and everything they need, transitively, as a membership vector.
    pub fn closure(&self, roots: &[usize]) -> Vec<bool> {
        let mut selected = vec![false; self.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(step) = stack.pop() {
            if !std::mem::replace(&mut selected[step], true) {
                stack.extend(&self.dependencies[step]);
            }
        }
        selected
    }

    /// Everything that depends on `step`, transitively (not `step` itself).
    pub fn downstream(&self, step: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = self.dependents[step].clone();
        let mut out = Vec::new();
        while let Some(next) = stack.pop() {
            if !std::mem::replace(&mut seen[next], true) {
                out.push(next);
                stack.extend(&self.dependents[next]);
            }
        }
        out.sort_unstable();
        out
    }

    /// Level of each step: 0 for steps without dependencies, else one more than the
    /// highest level among its dependencies. Steps of one level can run in parallel.
    pub fn levels(&self) -> Vec<usize> {
        let mut level = vec![0; self.len()];
        for &step in &self.order {
            level[step] = self.dependencies[step].iter().map(|&d| level[d] + 1).max().unwrap_or(0);
        }
        level
    }

    /// For each step, the longest weighted path from it to any sink, itself included.
    /// Scheduling the ready step with the largest value first keeps the critical path busy.
    pub fn remaining_path(&self, weights: &[u64]) -> Vec<u64> {
        let mut remaining = vec![0u64; self.len()];
        for &step in self.order.iter().rev() {
            let tail = self.dependents[step].iter().map(|&d| remaining[d]).max().unwrap_or(0);
            remaining[step] = weights[step].saturating_add(tail);
        }
        remaining
    }

    /// The scheduler's preference among steps: the number of steps on the longest chain
    /// from each step to a sink, itself included. Among ready steps the one with the
    /// highest value starts first, ties going to the step declared first.
    pub fn start_priority(&self) -> Vec<u64> {
        self.remaining_path(&vec![1; self.len()])
    }

    /// The steps `selected` in the order the scheduler prefers them ([`Graph::start_priority`],
    /// highest first, then declaration order): the order in which steps that take no time
    /// (cache hits) finish, close to it otherwise. A topological order: a step's chain is
    /// longer than any of its dependents'.
    pub fn start_order(&self, selected: &[usize]) -> Vec<usize> {
        let priority = self.start_priority();
        let mut order = selected.to_vec();
        order.sort_by_key(|&step| (std::cmp::Reverse(priority[step]), step));
        order
    }

    /// The heaviest chain of dependent steps, first to last.
    pub fn critical_path(&self, weights: &[u64]) -> Vec<usize> {
        let remaining = self.remaining_path(weights);
        let start = (0..self.len())
            .filter(|&s| self.dependencies[s].is_empty())
            .max_by_key(|&s| (remaining[s], std::cmp::Reverse(s)));
        let mut path = Vec::new();
        let mut current = start;
        while let Some(step) = current {
            path.push(step);
            current = self.dependents[step].iter().copied().max_by_key(|&d| (remaining[d], std::cmp::Reverse(d)));
        }
        path
    }
}

fn find_cycles(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let n = dependencies.len();
    let mut mark = vec![Mark::New; n];
    let mut cycles = Vec::new();
    for start in 0..n {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (step, next dependency index).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Active;
        while let Some(&mut (step, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = dependencies[step].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::Active;
                        stack.push((dep, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|(s, _)| *s == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|(s, _)| *s).collect();
                        cycle.push(dep);
                        cycles.push(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[step] = Mark::Done;
                stack.pop();
            }
        }
    }
    cycles
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn diamond() {
        // 0 <- 1, 0 <- 2, {1,2} <- 3
        let graph = Graph::new(vec![vec![], vec![0], vec![0], vec![1, 2]]).unwrap();
        assert_eq!(graph.topological_order(), [0, 1, 2, 3]);
        assert_eq!(graph.levels(), [0, 1, 1, 2]);
        assert_eq!(graph.remaining_path(&[1, 5, 1, 1]), [7, 6, 2, 1]);
        assert_eq!(graph.critical_path(&[1, 5, 1, 1]), [0, 1, 3]);
        assert_eq!(graph.closure(&[1]), [true, true, false, false]);
        assert_eq!(graph.downstream(0), [1, 2, 3]);
        assert_eq!(graph.start_priority(), [3, 2, 2, 1]);
        assert_eq!(graph.start_order(&[3, 2, 1, 0]), [0, 1, 2, 3]);
    }

    /// A short leaf declared first starts after the longer chains, and every step after
    /// the steps it needs.
    #[test]
    fn start_order_puts_long_chains_first_and_dependencies_before_dependents() {
        // 0 alone; 1 <- 2 <- 3 <- 4.
        let graph = Graph::new(vec![vec![], vec![], vec![1], vec![2], vec![3]]).unwrap();
        assert_eq!(graph.start_order(&[0, 1, 2, 3, 4]), [1, 2, 3, 0, 4]);
        assert_eq!(graph.start_order(&[0, 4]), [0, 4], "only the selected steps");
    }

    #[test]
    fn cycles_are_reported_as_paths() {
        let cycles = Graph::new(vec![vec![1], vec![2], vec![0], vec![3]]).unwrap_err();
        assert_eq!(cycles, vec![vec![0, 1, 2, 0], vec![3, 3]]);
    }
}
