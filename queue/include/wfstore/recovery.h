// recover_pending: re-queues the work a crash interrupted, rule by rule as the
// reference's WorkflowRecovery (docs/semantics.md §13).
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
  // Page size of the candidate query: as in the reference, one call looks at
  // this many candidates at most (0: no limit).
  std::size_t batch_size = 100;
  // Candidates started after now - max_age, now by the store's clock.
  // get_all_pending_workflows() also keeps workflows with no start_time;
  // retrieve_by_application() (with `application`) drops them, as the
  // reference's two queries do. >= 0.
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

// docs/semantics.md §13: candidates by the recovery query, each workflow
// re-read in full, stages classified in order, the messages of one workflow
// pushed in one transaction (one log record). Running it twice does not grow
// the queue for RUNNING tasks (nor for a RUNNING stage's first NOT_STARTED
// task); StartStage and StartWorkflow are pushed again on every run, as in the
// reference. One result per candidate, in query order. A failure of one
// workflow is reported as kFailed (kPartial when only its push failed, as in
// the reference) and does not stop the others. `store` must be the
// WorkflowStore of the queue's Database. Throws InvalidArgumentError (negative
// max_age, an application over the string limits), IOError when the candidate
// query fails.
std::vector<RecoveryResult> recover_pending(
    WorkflowStore& store, Queue& queue, const RecoveryOptions& options = {});

}  // namespace wfstore
