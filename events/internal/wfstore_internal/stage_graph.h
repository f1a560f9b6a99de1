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

// The indices into `stages` in topological order over requisite edges (stage
// a precedes stage b when a.ref_id is in b.requisite_stage_ref_ids), by Kahn's
// algorithm taking, among the ready stages, the one earliest in `stages`. When
// `stages` is already in a topological order, that order is returned
// unchanged. Only edges between the given stages count; requisites naming
// other refs are ignored. Stages on a cycle (a self-edge included), and stages
// downstream of one, are omitted. REQUIRES: no pointer is null. O((V + E) log
// V).
std::vector<std::size_t> topological_order(
    const std::vector<const StageExecution*>& stages);

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
