// The stage graph algorithms shared by Workflow::get_context() and the store's
// get_merged_ancestor_outputs(): a deterministic topological order over
// requisite edges, and the ancestor-output merge of docs/semantics.md §5.9.

#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/model.h"

namespace wfstore::internal {

// A stage as the graph algorithms see it: its ref_id and requisite ref ids,
// borrowed from whoever holds the stage (a StageExecution, a stored record).
struct StageNode {
  std::string_view ref_id;
  std::vector<std::string_view> requisites;
};

// The node of `stage`, borrowing from it.
StageNode node_of(const StageExecution& stage);

// The indices into `stages` in topological order over requisite edges (stage
// a precedes stage b when a.ref_id is in b.requisites), by Kahn's
// algorithm taking, among the ready stages, the one earliest in `stages`. When
// `stages` is already in a topological order, that order is returned
// unchanged. Only edges between the given stages count; requisites naming
// other refs are ignored. Stages on a cycle (a self-edge included), and stages
// downstream of one, are omitted. O((V + E) log V).
std::vector<std::size_t> topological_order(
    const std::vector<StageNode>& stages);
// The same over StageExecutions. REQUIRES: no pointer is null.
std::vector<std::size_t> topological_order(
    const std::vector<const StageExecution*>& stages);

// The indices into `stages` (a workflow's stages in insertion order) of the
// transitive ancestors of the stage whose ref_id is `stage_ref_id`, in the
// order merged_ancestor_outputs() merges their outputs: docs/semantics.md
// §5.9, below. Empty when no stage has that ref_id.
std::vector<std::size_t> ancestor_merge_order(
    const std::vector<StageNode>& stages, std::string_view stage_ref_id);

// docs/semantics.md §5.9: the outputs of every transitive ancestor of the stage
// whose ref_id is `stage_ref_id`, following requisite_stage_ref_ids only
// (synthetic stages are nodes like any other; a synthetic parent is not an
// ancestor), merged with merge_outputs() in topological_order() (ties in
// insertion order, Q10: the later-inserted of two parallel stages wins). The
// target's own outputs are excluded, requisites naming no stage are ignored,
// stages on a cycle are omitted. Returns {} when no stage has that ref_id.
nlohmann::json merged_ancestor_outputs(const Workflow& workflow,
                                       std::string_view stage_ref_id);

}  // namespace wfstore::internal
