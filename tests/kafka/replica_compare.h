// Comparing a read replica with its source store through the read API: the
// view checksum at the same applied LSN, every checksummed table, and
// retrieve plus every WorkflowStore query for every workflow.

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/store_test_util.h"

namespace wfstore::testutil {

inline std::vector<std::string> ids_of(const WorkflowRange& range) {
  std::vector<std::string> out;
  for (const Workflow& w : range) out.push_back(w.id);
  return out;
}

inline std::vector<std::string> stage_ids(const StageSet& set) {
  std::vector<std::string> out;
  for (const StageExecution& s : set.stages) out.push_back(s.id);
  return out;
}

// Expects the stores in `source` and `replica` (both opened read-only here)
// to answer every read alike. `prefix` is the workload's id prefix.
inline void expect_replica_equals_source(const std::filesystem::path& source,
                                         const std::filesystem::path& replica,
                                         const std::string& prefix) {
  auto a = Database::open_read_only(source, quiet_options());
  auto b = Database::open_read_only(replica, quiet_options());
  const StoreSummary sa = summarize_store(*a);
  const StoreSummary sb = summarize_store(*b);
  EXPECT_EQ(sb.store_id, sa.store_id);
  EXPECT_EQ(sb.applied_lsn, sa.applied_lsn);
  EXPECT_EQ(sb.view_checksum, sa.view_checksum);
  EXPECT_EQ(sb.workflows, sa.workflows);
  EXPECT_TRUE(dump_all(*b, false) == dump_all(*a, false))
      << "a checksummed table differs";
  WorkflowStore& x = a->workflow_store();
  WorkflowStore& y = b->workflow_store();
  WorkflowCriteria all;
  all.page_size = 1000000;
  for (int s = 0; s < kWorkflowStatusCount; ++s) {
    all.statuses.insert(static_cast<WorkflowStatus>(s));
  }
  const std::vector<std::string> pending =
      ids_of(x.get_all_pending_workflows(all));
  EXPECT_EQ(ids_of(y.get_all_pending_workflows(all)), pending);
  for (int i = 0; i < 3; ++i) {
    const std::string app = fmt::format("app{}", i);
    const std::string cfg = fmt::format("cfg{}", i);
    EXPECT_EQ(ids_of(y.retrieve_by_application(app)),
              ids_of(x.retrieve_by_application(app)));
    EXPECT_EQ(ids_of(y.retrieve_by_application(app, all)),
              ids_of(x.retrieve_by_application(app, all)));
    EXPECT_EQ(ids_of(y.retrieve_by_pipeline_config_id(cfg)),
              ids_of(x.retrieve_by_pipeline_config_id(cfg)));
    EXPECT_EQ(y.count_by_application(app), x.count_by_application(app));
  }
  EXPECT_EQ(y.get_processed_message_ids(), x.get_processed_message_ids());
  int compared = 0;
  for (int n = 0; n < 1000; ++n) {
    const std::string id = fmt::format("{}-wf{}", prefix, n);
    EXPECT_EQ(y.exists(id), x.exists(id)) << id;
    if (!x.exists(id)) continue;
    ++compared;
    const Workflow w = x.retrieve(id);
    EXPECT_EQ(y.retrieve(id), w) << id;
    EXPECT_EQ(y.retrieve_execution_summary(id),
              x.retrieve_execution_summary(id))
        << id;
    for (const StageExecution& stage : w.stages) {
      EXPECT_EQ(y.retrieve_stage(stage.id).stage(),
                x.retrieve_stage(stage.id).stage());
      EXPECT_EQ(stage_ids(y.get_upstream_stages(id, stage.ref_id)),
                stage_ids(x.get_upstream_stages(id, stage.ref_id)));
      EXPECT_EQ(stage_ids(y.get_downstream_stages(id, stage.ref_id)),
                stage_ids(x.get_downstream_stages(id, stage.ref_id)));
      EXPECT_EQ(stage_ids(y.get_synthetic_stages(id, stage.id)),
                stage_ids(x.get_synthetic_stages(id, stage.id)));
      EXPECT_EQ(y.get_merged_ancestor_outputs(id, stage.ref_id),
                x.get_merged_ancestor_outputs(id, stage.ref_id));
    }
  }
  EXPECT_GT(compared, 0);
}

}  // namespace wfstore::testutil
