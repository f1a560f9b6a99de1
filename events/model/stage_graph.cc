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

#include "wfstore_internal/outputs_merge.h"

namespace wfstore::internal {

std::vector<std::size_t> topological_order(
    const std::vector<StageNode>& stages) {
  const std::size_t n = stages.size();
  std::unordered_multimap<std::string_view, std::size_t> by_ref;
  by_ref.reserve(n);
  for (std::size_t i = 0; i < n; ++i) by_ref.emplace(stages[i].ref_id, i);

  std::vector<std::size_t> in_degree(n, 0);
  std::vector<std::vector<std::size_t>> successors(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::string_view req : stages[i].requisites) {
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

std::vector<std::size_t> topological_order(
    const std::vector<const StageExecution*>& stages) {
  std::vector<StageNode> nodes;
  nodes.reserve(stages.size());
  for (const StageExecution* stage : stages) nodes.push_back(node_of(*stage));
  return topological_order(nodes);
}

StageNode node_of(const StageExecution& stage) {
  StageNode node;
  node.ref_id = stage.ref_id;
  node.requisites.assign(stage.requisite_stage_ref_ids.begin(),
                         stage.requisite_stage_ref_ids.end());
  return node;
}

std::vector<std::size_t> ancestor_merge_order(
    const std::vector<StageNode>& stages, std::string_view stage_ref_id) {
  // The first stage with a ref_id is its node.
  std::unordered_map<std::string_view, std::size_t> nodes;
  nodes.reserve(stages.size());
  for (std::size_t i = 0; i < stages.size(); ++i) {
    nodes.emplace(stages[i].ref_id, i);
  }
  const auto target = nodes.find(stage_ref_id);
  if (target == nodes.end()) return {};

  // Breadth-first over requisites; dangling refs are neither nodes nor
  // ancestors (the reference would raise KeyError on them).
  std::unordered_set<std::string_view> ancestors;
  std::deque<std::size_t> frontier{target->second};
  while (!frontier.empty()) {
    const StageNode& stage = stages[frontier.front()];
    frontier.pop_front();
    for (const std::string_view req : stage.requisites) {
      if (req == stage_ref_id) continue;
      const auto node = nodes.find(req);
      if (node == nodes.end()) continue;
      if (ancestors.insert(node->first).second) {
        frontier.push_back(node->second);
      }
    }
  }

  std::vector<std::size_t> members;
  std::vector<StageNode> subgraph;
  members.reserve(ancestors.size());
  subgraph.reserve(ancestors.size());
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (ancestors.count(stages[i].ref_id) != 0 &&
        nodes.find(stages[i].ref_id)->second == i) {
      members.push_back(i);
      subgraph.push_back(stages[i]);
    }
  }
  std::vector<std::size_t> order = topological_order(subgraph);
  for (std::size_t& i : order) i = members[i];
  return order;
}

nlohmann::json merged_ancestor_outputs(const Workflow& workflow,
                                       std::string_view stage_ref_id) {
  std::vector<StageNode> nodes;
  nodes.reserve(workflow.stages.size());
  for (const StageExecution& stage : workflow.stages) {
    nodes.push_back(node_of(stage));
  }
  OutputsMerge merge;
  for (const std::size_t i : ancestor_merge_order(nodes, stage_ref_id)) {
    merge.add(workflow.stages[i].outputs);
  }
  return merge.take();
}

}  // namespace wfstore::internal
