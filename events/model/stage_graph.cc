// Topological order over requisite edges and the ancestor-output merge of
// docs/semantics.md §5.9.

#include "wfstore_internal/stage_graph.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wfstore_internal/outputs_merge.h"

namespace wfstore::internal {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// Up to this many stages, a ref_id is found by a linear search: cheaper than
// building a hash map for the small graphs most workflows have.
constexpr std::size_t kLinearSearchUpTo = 32;

// The first stage with a given ref_id.
class RefIndex {
 public:
  explicit RefIndex(const std::vector<StageNode>& stages) : stages_(stages) {
    if (stages.size() <= kLinearSearchUpTo) return;
    first_.reserve(stages.size());
    for (std::size_t i = 0; i < stages.size(); ++i) {
      first_.emplace(stages[i].ref_id, i);
    }
  }

  // The index of the first stage whose ref_id is `ref`, or kNone.
  std::size_t find(std::string_view ref) const {
    if (stages_.size() <= kLinearSearchUpTo) {
      for (std::size_t i = 0; i < stages_.size(); ++i) {
        if (stages_[i].ref_id == ref) return i;
      }
      return kNone;
    }
    const auto found = first_.find(ref);
    return found == first_.end() ? kNone : found->second;
  }

 private:
  const std::vector<StageNode>& stages_;
  std::unordered_map<std::string_view, std::size_t> first_;
};

using Edge = std::pair<std::size_t, std::size_t>;  // (from, to)

// Kahn's algorithm over nodes 0..n-1 and `edges` (REQUIRES: both ends below
// n), taking among the ready nodes the smallest. Nodes on a cycle, and nodes
// downstream of one, are omitted.
std::vector<std::size_t> kahn_order(std::size_t n,
                                    const std::vector<Edge>& edges) {
  // Successors in compressed rows: those of i are successors[first[i],
  // first[i + 1]).
  std::vector<std::size_t> first(n + 1, 0);
  std::vector<std::size_t> in_degree(n, 0);
  for (const auto& [from, to] : edges) {
    ++first[from + 1];
    ++in_degree[to];
  }
  for (std::size_t i = 0; i < n; ++i) first[i + 1] += first[i];
  std::vector<std::size_t> successors(edges.size());
  {
    std::vector<std::size_t> fill(first.begin(), first.end() - 1);
    for (const auto& [from, to] : edges) successors[fill[from]++] = to;
  }

  // A min-heap of ready indices: the earliest-inserted ready stage goes first.
  std::vector<std::size_t> heap;
  heap.reserve(n);
  std::priority_queue<std::size_t, std::vector<std::size_t>,
                      std::greater<std::size_t>>
      ready(std::greater<std::size_t>(), std::move(heap));
  for (std::size_t i = 0; i < n; ++i) {
    if (in_degree[i] == 0) ready.push(i);
  }
  std::vector<std::size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (std::size_t e = first[i]; e < first[i + 1]; ++e) {
      if (--in_degree[successors[e]] == 0) ready.push(successors[e]);
    }
  }
  return order;
}

}  // namespace

std::vector<std::size_t> topological_order(
    const std::vector<StageNode>& stages) {
  const std::size_t n = stages.size();
  std::unordered_multimap<std::string_view, std::size_t> by_ref;
  by_ref.reserve(n);
  for (std::size_t i = 0; i < n; ++i) by_ref.emplace(stages[i].ref_id, i);
  std::vector<Edge> edges;
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::string_view req : stages[i].requisites) {
      const auto [first, last] = by_ref.equal_range(req);
      for (auto it = first; it != last; ++it) edges.emplace_back(it->second, i);
    }
  }
  return kahn_order(n, edges);
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
  const RefIndex index(stages);
  const std::size_t target = index.find(stage_ref_id);
  if (target == kNone) return {};

  // Breadth-first over requisites; dangling refs are neither nodes nor
  // ancestors (the reference would raise KeyError on them). `reached` holds
  // the target, then the ancestors as found; `edges` the requisite edges
  // between ancestors (every ancestor's requisites are walked once, and a
  // requisite that is a node is an ancestor), as topological_order() over
  // the ancestors alone would find them.
  std::vector<std::size_t> reached;
  reached.reserve(stages.size());
  reached.push_back(target);
  std::vector<bool> is_reached(stages.size(), false);
  is_reached[target] = true;
  std::vector<Edge> edges;
  edges.reserve(stages.size());
  for (std::size_t next = 0; next < reached.size(); ++next) {
    const std::size_t stage = reached[next];
    for (const std::string_view req : stages[stage].requisites) {
      if (req == stage_ref_id) continue;
      const std::size_t node = index.find(req);
      if (node == kNone) continue;
      if (stage != target) edges.emplace_back(node, stage);
      if (!is_reached[node]) {
        is_reached[node] = true;
        reached.push_back(node);
      }
    }
  }

  // The ancestors in insertion order, and the edges over their positions in
  // it.
  std::vector<std::size_t> members(reached.begin() + 1, reached.end());
  std::sort(members.begin(), members.end());
  const auto position = [&members](std::size_t stage) {
    return static_cast<std::size_t>(
        std::lower_bound(members.begin(), members.end(), stage) -
        members.begin());
  };
  for (auto& [from, to] : edges) {
    from = position(from);
    to = position(to);
  }
  std::vector<std::size_t> order = kahn_order(members.size(), edges);
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
