// recover_pending: docs/semantics.md §13, rule by rule.

#include "wfstore/recovery.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/message.h"
#include "wfstore/model.h"
#include "wfstore/transaction.h"

#include "wfstore_internal/exception_text.h"

namespace wfstore {
namespace {

using Outcome = RecoveryResult::Outcome;

// Rule 3, "has started": a NOT_STARTED stage with a start time, or with a
// task that has one, crashed before its status was written.
bool has_started(const StageExecution& stage) {
  if (stage.start_time) return true;
  return std::any_of(stage.tasks.begin(), stage.tasks.end(),
                     [](const TaskExecution& t) { return t.start_time; });
}

// Python truthiness of a JSON value, as context.get(key, False) is tested.
bool truthy(const nlohmann::json& value) {
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) return value.get<std::int64_t>() != 0;
  if (value.is_number_unsigned()) return value.get<std::uint64_t>() != 0;
  if (value.is_number_float()) return value.get<double>() != 0.0;
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  return !value.empty();  // array, object, binary
}

// Rule 3, "can start": the stage's upstream condition holds now, so the
// message that would have started it may have been lost.
bool can_start(const Workflow& workflow, const StageExecution& stage) {
  if (stage.requisite_stage_ref_ids.empty()) return true;
  if (stage.join_type == JoinType::kDiscriminator ||
      stage.join_type == JoinType::kNOfM) {
    const nlohmann::json& context = stage.context.value();
    const auto fired = context.find("_join_fired");
    if (fired != context.end() && truthy(*fired)) return false;
  }
  std::vector<const StageExecution*> upstreams;
  for (const std::string& ref : stage.requisite_stage_ref_ids) {
    const StageExecution* upstream = workflow.find_stage_by_ref(ref);
    if (upstream == nullptr) return false;  // a definition error: never ready
    upstreams.push_back(upstream);
  }
  const auto continuable = [](const StageExecution* s) {
    return is_continuable(s->status);
  };
  if (stage.join_type == JoinType::kNOfM) {
    const auto total = static_cast<std::int64_t>(upstreams.size());
    if (stage.join_threshold > total) return false;  // unreachable
    return std::count_if(upstreams.begin(), upstreams.end(), continuable) >=
           stage.join_threshold;
  }
  return std::all_of(upstreams.begin(), upstreams.end(), continuable);
}

// Rule 3 as a whole.
bool needs_recovery(const Workflow& workflow, const StageExecution& stage) {
  if (stage.status == WorkflowStatus::kRunning) return true;
  if (stage.status != WorkflowStatus::kNotStarted) return false;
  return has_started(stage) || can_start(workflow, stage);
}

template <typename M>
M workflow_message(const Workflow& workflow) {
  M message;
  message.execution_type = std::string(workflow_type_name(workflow.type));
  message.execution_id = workflow.id;
  return message;
}

template <typename M>
M stage_message(const Workflow& workflow, const StageExecution& stage) {
  M message = workflow_message<M>(workflow);
  message.stage_id = stage.id;
  return message;
}

// Rule 5 for one stage needing recovery; appends to `out`.
void recovery_messages(const Workflow& workflow, const StageExecution& stage,
                       const Queue& queue, std::vector<Message>& out) {
  if (stage.status != WorkflowStatus::kRunning) {
    out.emplace_back(stage_message<StartStage>(workflow, stage));
    return;
  }
  const auto has_status = [](WorkflowStatus status) {
    return [status](const TaskExecution& t) { return t.status == status; };
  };
  const bool any_running = std::any_of(stage.tasks.begin(), stage.tasks.end(),
                                       has_status(WorkflowStatus::kRunning));
  if (any_running) {
    for (const TaskExecution& task : stage.tasks) {
      if (task.status != WorkflowStatus::kRunning) continue;
      if (queue.has_pending_message_for_task(task.id)) continue;
      auto run = stage_message<RunTask>(workflow, stage);
      run.task_id = task.id;
      run.task_type = stage.type;
      out.emplace_back(std::move(run));
    }
    return;
  }
  const auto first_not_started =
      std::find_if(stage.tasks.begin(), stage.tasks.end(),
                   has_status(WorkflowStatus::kNotStarted));
  if (first_not_started != stage.tasks.end() && stage.start_time) {
    if (!queue.has_pending_message_for_task(first_not_started->id)) {
      auto start = stage_message<StartTask>(workflow, stage);
      start.task_id = first_not_started->id;
      out.emplace_back(std::move(start));
    }
    return;
  }
  out.emplace_back(stage_message<StartStage>(workflow, stage));
}

// Rule 6: every message of one workflow in one transaction.
std::size_t push_all(WorkflowStore& store, Queue& queue,
                     const std::vector<Message>& messages) {
  Transaction txn = store.transaction(&queue);
  for (const Message& message : messages) txn.push_message(message);
  txn.commit();
  return messages.size();
}

RecoveryResult recover_workflow(WorkflowStore& store, Queue& queue,
                                const Workflow& candidate) {
  RecoveryResult result;
  result.workflow_id = candidate.id;
  // Rule 2.
  if (is_complete(candidate.status)) {
    result.outcome = Outcome::kSkipped;
    result.message = fmt::format("Workflow already complete ({})",
                                 status_name(candidate.status));
    return result;
  }
  const Workflow workflow = store.retrieve(candidate.id);

  // Rule 3.
  std::vector<const StageExecution*> to_recover;
  for (const StageExecution& stage : workflow.stages) {
    if (needs_recovery(workflow, stage)) to_recover.push_back(&stage);
  }

  // Rule 4.
  if (to_recover.empty()) {
    if (workflow.status != WorkflowStatus::kNotStarted) {
      result.outcome = Outcome::kSkipped;
      result.message = "No stages need recovery";
      return result;
    }
    try {
      result.messages_pushed = push_all(
          store, queue, {Message(workflow_message<StartWorkflow>(workflow))});
    } catch (const std::exception& e) {
      result.outcome = Outcome::kFailed;
      result.message =
          fmt::format("Failed to re-queue workflow start: {}", what_of(e));
      return result;
    }
    result.outcome = Outcome::kRecovered;
    result.message = "Re-queued workflow start";
    return result;
  }

  // Rule 5.
  result.stages_recovered = to_recover.size();
  std::vector<Message> messages;
  for (const StageExecution* stage : to_recover) {
    recovery_messages(workflow, *stage, queue, messages);
  }
  if (messages.empty()) {
    result.outcome = Outcome::kSkipped;
    result.message = "No recovery messages to push";
    return result;
  }

  // Rules 6 and 7. As in the reference, a failed push of the batch is
  // "partial" (stages were found, nothing was queued).
  try {
    result.messages_pushed = push_all(store, queue, messages);
  } catch (const std::exception& e) {
    result.outcome = Outcome::kPartial;
    result.message =
        fmt::format("Re-queued {} stages (0 messages, {} failed): {}",
                    to_recover.size(), messages.size(), what_of(e));
    return result;
  }
  result.outcome = Outcome::kRecovered;
  result.message = fmt::format("Re-queued {} stages ({} messages, 0 failed)",
                               to_recover.size(), result.messages_pushed);
  return result;
}

}  // namespace

const char* outcome_name(RecoveryResult::Outcome outcome) {
  switch (outcome) {
    case Outcome::kRecovered:
      return "recovered";
    case Outcome::kPartial:
      return "partial";
    case Outcome::kSkipped:
      return "skipped";
    case Outcome::kFailed:
      return "failed";
  }
  return "unknown";
}

std::vector<RecoveryResult> recover_pending(WorkflowStore& store, Queue& queue,
                                            const RecoveryOptions& options) {
  if (options.max_age.count() < 0) {
    throw InvalidArgumentError(fmt::format(
        "max_age: must not be negative (got {} ms)", options.max_age.count()));
  }
  if (options.application) validate_string(*options.application, "application");

  // Rule 1.
  const std::int64_t now = queue.database().options().clock->now_ms();
  WorkflowCriteria criteria;
  criteria.statuses = {WorkflowStatus::kRunning, WorkflowStatus::kNotStarted};
  criteria.page_size = static_cast<std::int64_t>(std::min<std::size_t>(
      options.batch_size,
      static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
  criteria.start_time_after = now - options.max_age.count();
  const WorkflowRange candidates =
      options.application
          ? store.retrieve_by_application(*options.application, criteria)
          : store.get_all_pending_workflows(criteria);

  std::vector<RecoveryResult> results;
  for (const Workflow& candidate : candidates) {
    try {
      results.push_back(recover_workflow(store, queue, candidate));
    } catch (const std::exception& e) {
      RecoveryResult failed;
      failed.workflow_id = candidate.id;
      failed.outcome = Outcome::kFailed;
      failed.message = std::string(what_of(e));
      results.push_back(std::move(failed));
    }
  }
  return results;
}

}  // namespace wfstore
