// A seeded random workload over every WorkflowStore method, for the
// rebuild-equivalence and crash tests. Rejections the reference semantics allow
// (a stale version, a missing id) are part of the workload and are swallowed.

#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/sample_workflows.h"

namespace wfstore::testutil {

// Runs `ops` random operations with ids prefixed by `prefix`. After each write
// that returned, calls `acked` (may be empty).
inline void run_workload(WorkflowStore& store, std::uint32_t seed, int ops,
                         const std::string& prefix,
                         const std::function<void()>& acked = {}) {
  std::mt19937 rng(seed);
  std::vector<std::string> workflows;
  int next_workflow = 0;
  int next_message = 0;
  const auto pick = [&]() -> std::string {
    if (workflows.empty() || rng() % 10 == 0) return prefix + "-missing";
    return workflows[rng() % workflows.size()];
  };
  const char* refs[] = {"setup", "build_linux", "build_mac", "deploy",
                        "deploy_precheck"};
  for (int i = 0; i < ops; ++i) {
    const auto op = static_cast<std::uint32_t>(rng() % 17);
    try {
      switch (op) {
        case 0:
        case 1: {
          const std::string id =
              fmt::format("{}-wf{}", prefix, next_workflow++);
          Workflow wf = diamond_workflow(id);
          wf.application = fmt::format("app{}", rng() % 3);
          if (rng() % 2 == 0)
            wf.pipeline_config_id = fmt::format("cfg{}", rng() % 3);
          wf.start_time = static_cast<std::int64_t>(rng() % 1000);
          store.store(wf);
          workflows.push_back(id);
          break;
        }
        case 2:
        case 3:
        case 4: {
          const std::string id = pick() + "." + refs[rng() % 5];
          StageInExecution found = store.retrieve_stage(id);
          StageExecution& stage = found.stage();
          stage.status = static_cast<WorkflowStatus>(rng() % 12);
          stage.context.mutable_value()["n"] = static_cast<int>(rng() % 100);
          if (!stage.tasks.empty())
            stage.tasks[0].status = WorkflowStatus::kRunning;
          if (rng() % 3 == 0) stage.version += 1;  // stale: a ConcurrencyError
          store.store_stage(stage, rng() % 4 == 0
                                       ? std::optional<std::string>("RUNNING")
                                       : std::nullopt);
          break;
        }
        case 5: {
          const std::string wf = pick();
          StageExecution stage;
          stage.id = fmt::format("{}.extra{}", wf, i);
          stage.execution_id = wf;
          stage.ref_id = fmt::format("extra{}", i);
          stage.type = "wait";
          stage.name = "extra";
          stage.requisite_stage_ref_ids = {"deploy"};
          store.add_stage(stage);
          break;
        }
        case 6: {
          const std::string wf = pick();
          store.remove_stage(wf, wf + "." + refs[rng() % 5]);
          break;
        }
        case 7: {
          Workflow wf = store.retrieve(pick());
          wf.status = static_cast<WorkflowStatus>(rng() % 12);
          wf.end_time = static_cast<std::int64_t>(rng() % 5000);
          store.update_status(wf);
          break;
        }
        case 8:
          store.pause(pick(), "ops");
          break;
        case 9:
          store.resume(pick());
          break;
        case 10:
          store.cancel(pick(), "ops", "workload");
          break;
        case 11:
          if (rng() % 4 == 0) store.delete_workflow(pick());
          break;
        case 12:
        case 13:
          store.mark_message_processed(
              fmt::format("{}-m{}", prefix, next_message++),
              std::string("Handler"), pick());
          break;
        case 14:
          if (rng() % 20 == 0)
            store.cleanup_old_processed_messages(std::chrono::milliseconds(1));
          break;
        case 15: {
          const std::string wf = pick();
          (void)store.get_merged_ancestor_outputs(wf, "deploy");
          (void)store.get_upstream_stages(wf, "deploy");
          (void)store.get_downstream_stages(wf, "setup");
          (void)store.get_synthetic_stages(wf, wf + ".deploy");
          (void)store.count_by_application("app1");
          break;
        }
        default: {
          WorkflowCriteria criteria;
          criteria.page_size = 5;
          for (const Workflow& wf :
               store.retrieve_by_application("app0", criteria)) {
            (void)wf;
          }
          (void)store.get_all_pending_workflows(criteria).ids();
          (void)store.get_processed_message_ids(10);
          break;
        }
      }
      if (acked && op <= 14) acked();
    } catch (const NotFoundError&) {
    } catch (const ConcurrencyError&) {
    } catch (const DuplicateError&) {
    }
  }
}

}  // namespace wfstore::testutil
