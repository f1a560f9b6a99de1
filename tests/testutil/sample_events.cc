#include "tests/testutil/sample_events.h"

#include <cstdint>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

namespace wfstore::testutil {

using nlohmann::json;

std::vector<EventPayload> payloads_for(const Workflow& w) {
  const StageExecution& stage = w.stages.back();
  // The version after the stage's, wrapping at the int64 edge (a hostile
  // workflow's stage may carry the largest version).
  const auto next_version =
      static_cast<std::int64_t>(static_cast<std::uint64_t>(stage.version) + 1);
  PausedDetails paused{"erin", 10, std::nullopt, 0};
  return {
      WorkflowStored{w},
      WorkflowStatusUpdated{w.id, WorkflowStatus::kTerminal,
                            std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::int64_t>::max(), true,
                            "frank", "quota ✗", paused},
      WorkflowStatusSet{w.id, WorkflowStatus::kSucceeded, 11, 12},
      WorkflowPaused{w.id, "grace", 13},
      WorkflowResumed{w.id, 14},
      WorkflowCancelRequested{w.id, "heidi", "no longer needed"},
      WorkflowDeleted{w.id},
      StageAdded{stage},
      StageUpdated{w.id, stage.id, next_version, WorkflowStatus::kRunning,
                   stage.context, Json(json{{"out", "✓"}}), 15, 16,
                   stage.tasks},
      StageRemoved{w.id, stage.id},
      MessageProcessed{"msg-1", "StartStageHandler", w.id, 17},
      ProcessedMessagesPurged{18, std::numeric_limits<std::uint64_t>::max()},
      ClaimAcquired{w.id, "mutex:deploy", stage.id, 19},
      ClaimTransferred{w.id, "mutex:deploy", "old-stage", stage.id, 20},
      ClaimsPurged{{{w.id, "mutex:deploy"}, {"wf-other", "choice:g"}}},
      MessagePushed{
          std::numeric_limits<std::uint64_t>::max(), w.id, "StartStage",
          Json(json{{"execution_id", w.id}, {"stage_id", stage.id}}), 21, 5},
      MessageLeased{1, w.id, 2, 22},
      MessageAcked{2, w.id},
      MessageRescheduled{3, w.id, 23},
      MessageLeaseExtended{4, w.id, 24},
      MessageDeadLettered{5, w.id, "Exceeded max_attempts (10)", 25},
      DeadLetterReplayed{5, 6, w.id, 26},
      QueueCleared{},
      DeadLetterQueueCleared{},
  };
}

}  // namespace wfstore::testutil
