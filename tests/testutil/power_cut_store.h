// A store for power-cut tests over a FaultFileSystem, and the one-event
// commits they write.

#pragma once

#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"

namespace wfstore::testutil {

// A buffered store on `fs` that never syncs by itself: what a power cut keeps
// is what a sync made durable.
inline DatabaseOptions power_cut_options(
    const std::shared_ptr<FaultFileSystem>& fs) {
  fs->set_real_syncs(false);
  DatabaseOptions o = quiet_options(Durability::kBuffered);
  o.file_system = fs;
  o.buffered_sync_interval = std::chrono::hours{1};
  return o;
}

// Stores running workflows w<from> .. w<from + n - 1>: n commits of one event
// each.
inline void store_bare_workflows(Database& db, int from, int n) {
  for (int i = from; i < from + n; ++i) {
    db.workflow_store().store(bare_workflow(fmt::format("w{}", i), "app",
                                            WorkflowStatus::kRunning, 1));
  }
}

}  // namespace wfstore::testutil
