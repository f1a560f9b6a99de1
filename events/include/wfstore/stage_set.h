// The results of the WorkflowStore's stage queries (workflow_store.h), which
// the read side computes over the views.
//
// Thread-safety: plain values; the usual rules for concurrent access to one
// object apply.

#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "wfstore/model.h"

namespace wfstore {

// retrieve_stage()'s result: the stage at `execution.stages[index]` inside the
// partial parent of docs/semantics.md §5.11 (metadata; the stage with tasks;
// its direct upstream stages with tasks; its direct synthetic children with
// tasks).
struct StageInExecution {
  Workflow execution;
  std::size_t index = 0;

  StageExecution& stage() { return execution.stages.at(index); }
  const StageExecution& stage() const { return execution.stages.at(index); }
};

// The graph queries' result (docs/semantics.md §5.10): `stages` with tasks, in
// insertion order, and `execution` holding all stages of the workflow without
// tasks.
struct StageSet {
  std::shared_ptr<const Workflow> execution;
  std::vector<StageExecution> stages;
};

}  // namespace wfstore
