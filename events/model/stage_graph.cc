// Topological order over requisite edges and the ancestor-output merge of
// docs/semantics.md §5.9.

#include "wfstore_internal/stage_graph.h"

#include <cstddef>
#include <deque>
#include <functional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace wfstore::internal {

std::vector<std::size_t> topological_order(
    const std::vector<const StageExecution*>& stages) {
  const std::size_t n = stages.size();
  std::unordered_multimap<std::string_view, std::size_t> by_ref;
  by_ref.reserve(n);
  for (std::size_t i = 0; i < n; ++i) by_ref.emplace(stages[i]->ref_id, i);

  std::vector<std::size_t> in_degree(n, 0);
  std::vector<std::vector<std::size_t>> successors(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::string& req : stages[i]->requisite_stage_ref_ids) {
      const auto [first, last] = by_ref.equal_range(req);
      for (auto it = first; it != last; ++it) {
        successors[it->second].push_back(i);
        ++in_degree[i];
      }
    }
  }

  // A min-heap of ready indices: the earliest-inserted ready stage goes first.
  std::priority_queue<std::size_t, std::vector<std::size_t>,
                      std::greater<std::size_t>>
      ready;
  for (std::size_t i = 0; i < n; ++i) {
    if (in_degree[i] == 0) ready.push(i);
  }
  std::vector<std::size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (const std::size_t next : successors[i]) {
      if (--in_degree[next] == 0) ready.push(next);
    }
  }
  return order;
}

nlohmann::json merged_ancestor_outputs(const Workflow& workflow,
                                       std::string_view stage_ref_id) {
  nlohmann::json merged = nlohmann::json::object();
  std::unordered_map<std::string_view, const StageExecution*> nodes;
  nodes.reserve(workflow.stages.size());
  for (const StageExecution& stage : workflow.stages) {
    nodes.emplace(stage.ref_id, &stage);
  }
  const auto target = nodes.find(stage_ref_id);
  if (target == nodes.end()) return merged;

  // Breadth-first over requisites; dangling refs are neither nodes nor
  // ancestors (the reference would raise KeyError on them).
  std::unordered_set<std::string_view> ancestors;
  std::deque<const StageExecution*> frontier{target->second};
  while (!frontier.empty()) {
    const StageExecution* stage = frontier.front();
    frontier.pop_front();
    for (const std::string& req : stage->requisite_stage_ref_ids) {
      if (req == stage_ref_id) continue;
      const auto node = nodes.find(req);
      if (node == nodes.end()) continue;
      if (ancestors.insert(node->first).second) {
        frontier.push_back(node->second);
      }
    }
  }

  std::vector<const StageExecution*> subgraph;
  subgraph.reserve(ancestors.size());
  for (const StageExecution& stage : workflow.stages) {
    if (ancestors.count(stage.ref_id) != 0 &&
        nodes.find(stage.ref_id)->second == &stage) {
      subgraph.push_back(&stage);
    }
  }
  for (const std::size_t i : topological_order(subgraph)) {
    merge_outputs(merged, subgraph[i]->outputs.value());
  }
  return merged;
}

}  // namespace wfstore::internal
