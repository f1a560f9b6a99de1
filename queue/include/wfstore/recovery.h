// recover_pending: re-queues the work a crash interrupted, rule by rule as the
// reference's WorkflowRecovery (spec §13).
//
// Thread-safety: safe to call concurrently with other store and queue calls.

#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "wfstore/queue.h"
#include "wfstore/workflow_store.h"

namespace wfstore {

struct RecoveryOptions {
  // Only this application's workflows (retrieve_by_application) when set;
  // else get_all_pending_workflows().
  std::optional<std::string> application;
  // Page size of the candidate query.
  std::size_t batch_size = 100;
  // Candidates started at or after now - max_age (never-started ones always).
  std::chrono::milliseconds max_age{std::chrono::hours{24}};
};

struct RecoveryResult {
  enum class Outcome { kRecovered, kPartial, kSkipped, kFailed };
  std::string workflow_id;
  Outcome outcome = Outcome::kSkipped;
  // Why: "no stage needs recovery", the error text of a failure, ...
  std::string message;
  // Messages pushed for this workflow (in one transaction).
  std::size_t messages_pushed = 0;
  // Stages found needing recovery.
  std::size_t stages_recovered = 0;
};

// "recovered", "partial", "skipped", "failed".
const char* outcome_name(RecoveryResult::Outcome outcome);

// Spec §13: candidates by the recovery query, each workflow re-read in full,
// stages classified in order, the messages of one workflow pushed in one
// transaction. Running it twice does not grow the queue for RUNNING tasks.
// One result per candidate, in query order. A failure of one workflow is
// reported as kFailed and does not stop the others. Throws IOError when the
// candidate query fails.
std::vector<RecoveryResult> recover_pending(
    WorkflowStore& store, Queue& queue, const RecoveryOptions& options = {});

}  // namespace wfstore
