// decide() and fold() of every store command and event.

#include "wfstore_internal/state_machine.h"

#include <map>
#include <set>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/model.h"

#include "projector/overloaded.h"
#include "projector/queue_machine.h"
#include "projector/view_records.h"
#include "wfstore_internal/keys.h"

namespace wfstore {
namespace {

using records::find_stage;
using records::FoundStage;
using records::load_workflow_record;
using records::WorkflowRecord;

void check_status(WorkflowStatus status, std::string_view field) {
  if (static_cast<int>(status) >= kWorkflowStatusCount) {
    throw InvalidArgumentError(
        fmt::format("{}: invalid status {}", field, static_cast<int>(status)));
  }
}

void check_optional(const std::optional<std::string>& value,
                    std::string_view field) {
  if (value) validate_string(*value, field);
}

// ---- reads shared by decide and fold ----

std::optional<std::uint64_t> workflow_surrogate(const ViewReader& views,
                                                std::string_view id) {
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, id);
  if (!surrogate) return std::nullopt;
  if (!views.get(Table::kWorkflows, keys::encode_u64(*surrogate))) {
    return std::nullopt;
  }
  return surrogate;
}

std::optional<WorkflowRecord> find_workflow(const ViewReader& views,
                                            std::string_view id) {
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, id);
  if (!surrogate) return std::nullopt;
  return load_workflow_record(views, *surrogate);
}

bool stage_exists(const ViewReader& views, std::string_view stage_id) {
  const std::optional<std::uint64_t> surrogate =
      keys::lookup_id(views, stage_id);
  return surrogate &&
         views.get(Table::kStages, keys::encode_u64(*surrogate)).has_value();
}

// True when a stage of workflow `wf` has `ref_id`.
bool ref_in_use(const ViewReader& views, std::uint64_t wf,
                std::string_view ref_id) {
  const std::string prefix = keys::encode_u64(wf);
  bool found = false;
  views.scan(Table::kStageOrder, prefix, keys::prefix_end(prefix),
             [&](std::string_view, std::string_view value) {
               found = records::decode_stage_order(value).ref_id == ref_id;
               return !found;
             });
  return found;
}

void check_unique_tasks(const StageExecution& stage, std::string_view field) {
  std::set<std::string_view> ids;
  for (const TaskExecution& task : stage.tasks) {
    if (!ids.insert(task.id).second) {
      throw DuplicateError(
          fmt::format("{}: task id {} appears twice", field, task.id));
    }
  }
}

// A set parent_stage_id must not name a stored stage of another workflow than
// `execution_id` (a missing parent is accepted, as the reference's plain
// column does).
void check_parent_workflow(const ViewReader& views, const StageExecution& stage,
                           std::string_view execution_id,
                           std::string_view field) {
  if (!stage.parent_stage_id) return;
  const std::optional<FoundStage> parent =
      find_stage(views, *stage.parent_stage_id);
  if (parent && parent->record->stage.execution_id != execution_id) {
    throw InvalidArgumentError(fmt::format(
        "{}.parent_stage_id: stage '{}' belongs to workflow '{}', not '{}'",
        field, *stage.parent_stage_id, parent->record->stage.execution_id,
        execution_id));
  }
}

// ---- decide, one function per command ----

const char* kind_name(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kNoOp:
      return "a no-op";
    case DecisionKind::kInsert:
      return "an insert";
    case DecisionKind::kUpdate:
      return "an update";
  }
  return "?";
}

// Throws ConcurrencyError when a transaction's eager decision (`expected`)
// was of another kind than `actual`: a rival commit changed what the
// operation saw. The message is "{subject()}: the transaction decided {kind},
// the commit {kind} ({why})".
template <typename Subject>
void check_kind(const std::optional<DecisionKind>& expected,
                DecisionKind actual, const Subject& subject,
                std::string_view why) {
  if (!expected || *expected == actual) return;
  throw ConcurrencyError(
      fmt::format("{}: the transaction decided {}, the commit {} ({})",
                  subject(), kind_name(*expected), kind_name(actual), why));
}

Decision decide_store(const StoreWorkflow& command, const ViewReader& views) {
  const Workflow& workflow = command.workflow;
  validate_workflow(workflow);
  std::set<std::string_view> stage_ids;
  std::set<std::string_view> ref_ids;
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    const StageExecution& stage = workflow.stages[i];
    const std::string field = fmt::format("stages[{}]", i);
    if (!stage_ids.insert(stage.id).second) {
      throw DuplicateError(
          fmt::format("{}.id: stage {} appears twice", field, stage.id));
    }
    if (!ref_ids.insert(stage.ref_id).second) {
      throw DuplicateError(
          fmt::format("{}.ref_id: ref_id {} appears twice in workflow {}",
                      field, stage.ref_id, workflow.id));
    }
    check_unique_tasks(stage, field);
  }
  if (workflow_surrogate(views, workflow.id)) {
    throw DuplicateError(
        fmt::format("id: workflow {} already exists", workflow.id));
  }
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    if (stage_exists(views, workflow.stages[i].id)) {
      throw DuplicateError(fmt::format("stages[{}].id: stage {} already exists",
                                       i, workflow.stages[i].id));
    }
  }
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    const StageExecution& stage = workflow.stages[i];
    if (stage.parent_stage_id && stage_ids.count(*stage.parent_stage_id) == 0) {
      check_parent_workflow(views, stage, workflow.id,
                            fmt::format("stages[{}]", i));
    }
  }
  WorkflowStored event{workflow};
  for (StageExecution& stage : event.workflow.stages) {
    for (TaskExecution& task : stage.tasks) task.version = 0;
  }
  Decision decision;
  decision.events.emplace_back(std::move(event));
  return decision;
}

Decision decide_update_status(const UpdateStatus& command,
                              const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  check_status(command.status, "status");
  check_optional(command.canceled_by, "canceled_by");
  check_optional(command.cancellation_reason, "cancellation_reason");
  if (command.paused)
    validate_string(command.paused->paused_by, "paused.paused_by");
  Decision decision;
  if (!workflow_surrogate(views, command.workflow_id)) return decision;
  decision.events.emplace_back(WorkflowStatusUpdated{
      command.workflow_id, command.status, command.start_time, command.end_time,
      command.is_canceled, command.canceled_by, command.cancellation_reason,
      command.paused});
  return decision;
}

Decision decide_set_status(const SetWorkflowStatus& command,
                           const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  check_status(command.status, "status");
  Decision decision;
  const bool exists =
      workflow_surrogate(views, command.workflow_id).has_value();
  check_kind(
      command.expected_kind,
      exists ? DecisionKind::kUpdate : DecisionKind::kNoOp,
      [&] {
        return fmt::format("Workflow {} changed concurrently",
                           command.workflow_id);
      },
      "a rival commit stored or deleted the workflow");
  if (!exists) return decision;
  decision.events.emplace_back(
      WorkflowStatusSet{command.workflow_id, command.status, command.start_time,
                        command.end_time});
  return decision;
}

Decision decide_delete(const DeleteWorkflow& command, const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  Decision decision;
  if (!workflow_surrogate(views, command.workflow_id)) return decision;
  decision.events.emplace_back(WorkflowDeleted{command.workflow_id});
  return decision;
}

Decision decide_store_stage(const StoreStage& command,
                            const ViewReader& views) {
  const StageExecution& stage = command.stage;
  validate_stage(stage, "stage");
  std::optional<WorkflowStatus> phase;
  if (command.expected_phase) {
    phase = find_status(*command.expected_phase);
    if (!phase) {
      throw InvalidArgumentError(
          fmt::format("expected_phase: {:?} is not a status name",
                      *command.expected_phase));
    }
  }
  check_unique_tasks(stage, "stage");
  Decision decision;
  std::optional<FoundStage> stored = find_stage(views, stage.id);
  // A stage added or removed since the transaction decided: its versions
  // (already given to the caller) would be wrong.
  check_kind(
      command.expected_kind,
      stored ? DecisionKind::kUpdate : DecisionKind::kInsert,
      [&] {
        return fmt::format("Optimistic lock failed for stage {} (version {})",
                           stage.id, stage.version);
      },
      "a rival commit added or removed the stage");
  if (!stored) {
    const std::optional<std::uint64_t> wf =
        workflow_surrogate(views, stage.execution_id);
    if (!wf) throw WorkflowNotFoundError(stage.execution_id);
    if (ref_in_use(views, *wf, stage.ref_id)) {
      throw DuplicateError(
          fmt::format("stage.ref_id: ref_id {} already exists in workflow {}",
                      stage.ref_id, stage.execution_id));
    }
    check_parent_workflow(views, stage, stage.execution_id, "stage");
    StageAdded event{stage};
    for (TaskExecution& task : event.stage.tasks) task.version = 0;
    decision.events.emplace_back(std::move(event));
    return decision;
  }
  const StageExecution& current = stored->record->stage;
  // A stage never moves between workflows: an execution_id naming another (or
  // a missing) workflow is a caller's error, not a field to ignore.
  if (stage.execution_id != current.execution_id) {
    throw InvalidArgumentError(
        fmt::format("stage.execution_id: '{}' does not match workflow '{}' of "
                    "stored stage {}",
                    stage.execution_id, current.execution_id, stage.id));
  }
  if (current.version != stage.version || (phase && current.status != *phase)) {
    if (command.expected_phase) {
      throw ConcurrencyError(fmt::format(
          "Optimistic lock failed for stage {} (version {}, expected_phase {})",
          stage.id, stage.version, *command.expected_phase));
    }
    throw ConcurrencyError(
        fmt::format("Optimistic lock failed for stage {} (version {})",
                    stage.id, stage.version));
  }
  StageUpdated event;
  event.execution_id = current.execution_id;
  event.stage_id = stage.id;
  event.version = current.version + 1;
  event.status = stage.status;
  event.context = stage.context;
  event.outputs = stage.outputs;
  event.start_time = stage.start_time;
  event.end_time = stage.end_time;
  event.tasks.reserve(stage.tasks.size());
  for (const TaskExecution& task : stage.tasks) {
    TaskExecution upserted = task;
    const TaskExecution* existing = nullptr;
    for (const TaskExecution& candidate : current.tasks) {
      if (candidate.id == task.id) {
        existing = &candidate;
        break;
      }
    }
    if (existing == nullptr) {
      upserted.version = 0;
    } else if (existing->version != task.version) {
      throw ConcurrencyError(
          fmt::format("Task {} was modified concurrently (expected version {})",
                      task.id, task.version));
    } else {
      upserted.version = task.version + 1;
    }
    event.tasks.push_back(std::move(upserted));
  }
  decision.events.emplace_back(std::move(event));
  return decision;
}

// decide_store_stage for a command a transaction decided eagerly (its
// expected_kind is set): the eager decision passed every check that depends on
// the command alone, so a not-found, duplicate or invalid-argument failure now
// (the stage's workflow deleted, its ref_id taken, its parent moved) comes from
// a rival's commit, and is a ConcurrencyError like a changed version, which
// run_transaction reruns.
Decision decide_transaction_store_stage(const StoreStage& command,
                                        const ViewReader& views) {
  if (!command.expected_kind) return decide_store_stage(command, views);
  const auto conflict = [&](const Error& e) {
    return ConcurrencyError(
        fmt::format("Stage {} changed concurrently: the transaction's "
                    "store_stage no longer holds ({})",
                    command.stage.id, e.what()));
  };
  try {
    return decide_store_stage(command, views);
  } catch (const NotFoundError& e) {
    throw conflict(e);
  } catch (const DuplicateError& e) {
    throw conflict(e);
  } catch (const InvalidArgumentError& e) {
    throw conflict(e);
  }
}

Decision decide_remove_stage(const RemoveStage& command,
                             const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  validate_key(command.stage_id, "stage_id");
  Decision decision;
  const std::optional<FoundStage> stored = find_stage(views, command.stage_id);
  if (!stored) return decision;
  // The workflow id is ignored, as in the reference (spec §5.8): the event
  // names the stage's own workflow.
  decision.events.emplace_back(
      StageRemoved{stored->record->stage.execution_id, command.stage_id});
  return decision;
}

Decision decide_pause(const Pause& command, const ViewReader& views,
                      const DecideContext& context) {
  validate_key(command.workflow_id, "workflow_id");
  validate_string(command.paused_by, "paused_by");
  Decision decision;
  if (!workflow_surrogate(views, command.workflow_id)) return decision;
  decision.events.emplace_back(
      WorkflowPaused{command.workflow_id, command.paused_by, context.now_ms});
  return decision;
}

Decision decide_resume(const Resume& command, const ViewReader& views,
                       const DecideContext& context) {
  validate_key(command.workflow_id, "workflow_id");
  Decision decision;
  const std::optional<WorkflowRecord> record =
      find_workflow(views, command.workflow_id);
  if (!record || record->summary.status != WorkflowStatus::kPaused) {
    return decision;
  }
  decision.events.emplace_back(
      WorkflowResumed{command.workflow_id, context.now_ms});
  return decision;
}

Decision decide_cancel(const Cancel& command, const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  validate_string(command.canceled_by, "canceled_by");
  validate_string(command.reason, "reason");
  Decision decision;
  if (!workflow_surrogate(views, command.workflow_id)) return decision;
  decision.events.emplace_back(WorkflowCancelRequested{
      command.workflow_id, command.canceled_by, command.reason});
  return decision;
}

Decision decide_mark(const MarkMessageProcessed& command,
                     const ViewReader& views, const DecideContext& context) {
  validate_key(command.message_id, "message_id");
  check_optional(command.handler_type, "handler_type");
  check_optional(command.execution_id, "execution_id");
  Decision decision;
  const std::optional<std::uint64_t> surrogate =
      keys::lookup_id(views, command.message_id);
  if (surrogate &&
      views.get(Table::kProcessedMessages, keys::encode_u64(*surrogate))) {
    return decision;
  }
  decision.events.emplace_back(
      MessageProcessed{command.message_id, command.handler_type,
                       command.execution_id, context.now_ms});
  return decision;
}

Decision decide_cleanup_processed(const CleanupProcessedMessages& command,
                                  const ViewReader& views,
                                  const DecideContext& context) {
  if (command.max_age_ms < 0) {
    throw InvalidArgumentError(fmt::format(
        "max_age: must not be negative, got {} ms", command.max_age_ms));
  }
  const std::int64_t cutoff = context.now_ms - command.max_age_ms;
  std::uint64_t count = 0;
  views.scan(Table::kProcessedByTime, "", keys::encode_i64(cutoff),
             [&](std::string_view, std::string_view) {
               ++count;
               return true;
             });
  Decision decision;
  decision.count = count;
  if (count > 0) {
    decision.events.emplace_back(ProcessedMessagesPurged{cutoff, count});
  }
  return decision;
}

std::string claim_key_bytes(std::uint64_t execution, std::uint64_t claim) {
  return keys::make_key({execution, claim});
}

Decision decide_acquire_claim_as_is(const AcquireClaim& command,
                                    const ViewReader& views,
                                    const DecideContext& context) {
  validate_key(command.execution_id, "execution_id");
  validate_key(command.claim_key, "claim_key");
  validate_key(command.stage_id, "stage_id");
  Decision decision;
  std::optional<records::ClaimRecord> held;
  const std::optional<std::uint64_t> execution =
      keys::lookup_id(views, command.execution_id);
  const std::optional<std::uint64_t> claim =
      keys::lookup_id(views, command.claim_key);
  if (execution && claim) {
    if (const std::optional<std::string> value =
            views.get(Table::kClaims, claim_key_bytes(*execution, *claim))) {
      held = records::decode_claim(*value);
    }
  }
  if (!held) {
    decision.events.emplace_back(
        ClaimAcquired{command.execution_id, command.claim_key, command.stage_id,
                      context.now_ms});
    return decision;
  }
  if (held->stage_id == command.stage_id) return decision;
  if (command.steal_if_owner_terminal) {
    const std::optional<FoundStage> owner = find_stage(views, held->stage_id);
    if (!owner || is_complete(owner->record->stage.status)) {
      decision.events.emplace_back(
          ClaimTransferred{command.execution_id, command.claim_key,
                           held->stage_id, command.stage_id, context.now_ms});
      return decision;
    }
  }
  decision.result = false;
  return decision;
}

Decision decide_acquire_claim(const AcquireClaim& command,
                              const ViewReader& views,
                              const DecideContext& context) {
  Decision decision = decide_acquire_claim_as_is(command, views, context);
  if (command.expected_result && *command.expected_result != decision.result) {
    throw ConcurrencyError(fmt::format(
        "claim {}/{} changed hands: acquire_claim for stage {} returned {} in "
        "the transaction but {} at commit",
        command.execution_id, command.claim_key, command.stage_id,
        *command.expected_result, decision.result));
  }
  return decision;
}

Decision decide_cleanup_claims(const ViewReader& views) {
  ClaimsPurged purged;
  std::map<std::uint64_t, bool> complete;  // execution surrogate -> verdict
  views.scan(Table::kClaims, "", "",
             [&](std::string_view key, std::string_view value) {
               keys::KeyReader reader(key);
               const std::uint64_t execution = reader.u64();
               auto it = complete.find(execution);
               if (it == complete.end()) {
                 const std::optional<WorkflowRecord> record =
                     load_workflow_record(views, execution);
                 it =
                     complete
                         .emplace(execution,
                                  record && is_complete(record->summary.status))
                         .first;
               }
               if (it->second) {
                 records::ClaimRecord claim = records::decode_claim(value);
                 purged.claims.push_back(ClaimId{std::move(claim.execution_id),
                                                 std::move(claim.claim_key)});
               }
               return true;
             });
  Decision decision;
  decision.count = purged.claims.size();
  if (!purged.claims.empty()) decision.events.emplace_back(std::move(purged));
  return decision;
}

// ---- fold ----

// The keys of a workflow's entries in the three start-time indexes.
struct IndexKeys {
  std::string application;
  std::optional<std::string> pipeline_config;
  std::string start_time;
};

IndexKeys index_keys(ViewStore& views, std::uint64_t wf,
                     const Workflow& summary) {
  IndexKeys keys;
  keys.application = records::start_index_key(
      keys::intern_id(views, summary.application), summary.start_time, wf);
  if (summary.pipeline_config_id) {
    keys.pipeline_config = records::start_index_key(
        keys::intern_id(views, *summary.pipeline_config_id), summary.start_time,
        wf);
  }
  keys.start_time =
      records::start_index_key(std::nullopt, summary.start_time, wf);
  return keys;
}

void reindex_one(ViewStore& views, Table table,
                 const std::optional<std::string>& old_key,
                 const std::optional<std::string>& new_key, bool status_changed,
                 const std::string& value) {
  if (old_key && old_key != new_key) views.del(table, *old_key);
  if (new_key && (old_key != new_key || status_changed)) {
    views.put(table, *new_key, value);
  }
}

// Moves the workflow's index entries from `before` to `after` (either may be
// null: added or deleted).
void reindex(ViewStore& views, std::uint64_t wf, const Workflow* before,
             const Workflow* after) {
  std::optional<IndexKeys> old_keys;
  std::optional<IndexKeys> new_keys;
  if (before != nullptr) old_keys = index_keys(views, wf, *before);
  if (after != nullptr) new_keys = index_keys(views, wf, *after);
  const bool status_changed =
      before == nullptr || after == nullptr || before->status != after->status;
  const std::string value =
      after == nullptr ? std::string()
                       : records::start_index_value(after->status, after->id);
  auto part = [](const std::optional<IndexKeys>& k,
                 std::string IndexKeys::*member) -> std::optional<std::string> {
    if (!k) return std::nullopt;
    return (*k).*member;
  };
  reindex_one(views, Table::kByApplication,
              part(old_keys, &IndexKeys::application),
              part(new_keys, &IndexKeys::application), status_changed, value);
  reindex_one(views, Table::kByPipelineConfig,
              old_keys ? old_keys->pipeline_config : std::nullopt,
              new_keys ? new_keys->pipeline_config : std::nullopt,
              status_changed, value);
  reindex_one(views, Table::kByStartTime,
              part(old_keys, &IndexKeys::start_time),
              part(new_keys, &IndexKeys::start_time), status_changed, value);
}

Workflow summary_of(const Workflow& workflow) {
  Workflow summary = workflow;
  summary.stages.clear();
  return summary;
}

void put_stage(ViewStore& views, std::uint64_t wf, std::uint64_t position,
               const StageExecution& stage) {
  const std::uint64_t stage_surrogate = keys::intern_id(views, stage.id);
  const std::uint64_t parent =
      stage.parent_stage_id ? keys::intern_id(views, *stage.parent_stage_id)
                            : 0;
  views.put(Table::kStages, keys::encode_u64(stage_surrogate),
            records::encode_stage_record(stage, wf, position));
  views.put(Table::kStageOrder, keys::make_key({wf, position}),
            records::encode_stage_order(stage_surrogate, parent, stage.ref_id));
}

void fold_stored(const WorkflowStored& event, ViewStore& views) {
  const Workflow& workflow = event.workflow;
  const std::uint64_t wf = keys::intern_id(views, workflow.id);
  if (views.get(Table::kWorkflows, keys::encode_u64(wf))) return;
  const Workflow summary = summary_of(workflow);
  views.put(Table::kWorkflows, keys::encode_u64(wf),
            records::encode_workflow_record(summary, workflow.stages.size()));
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    put_stage(views, wf, i, workflow.stages[i]);
  }
  reindex(views, wf, nullptr, &summary);
}

// Loads the workflow `id`, lets `change` modify its summary, and writes the
// record and index entries back. No-op when the workflow is absent.
template <typename Change>
void change_workflow(ViewStore& views, std::string_view id, Change change) {
  const std::optional<std::uint64_t> wf = workflow_surrogate(views, id);
  if (!wf) return;
  std::optional<WorkflowRecord> record = load_workflow_record(views, *wf);
  const Workflow before = record->summary;
  change(record->summary);
  views.put(
      Table::kWorkflows, keys::encode_u64(*wf),
      records::encode_workflow_record(record->summary, record->next_position));
  reindex(views, *wf, &before, &record->summary);
}

void fold_deleted(const WorkflowDeleted& event, ViewStore& views) {
  const std::optional<std::uint64_t> wf =
      workflow_surrogate(views, event.workflow_id);
  if (!wf) return;
  const std::optional<WorkflowRecord> record = load_workflow_record(views, *wf);
  const std::string prefix = keys::encode_u64(*wf);
  std::vector<std::pair<std::string, std::uint64_t>> order;
  views.scan(Table::kStageOrder, prefix, keys::prefix_end(prefix),
             [&](std::string_view key, std::string_view value) {
               order.emplace_back(std::string(key),
                                  records::decode_stage_order(value).stage);
               return true;
             });
  for (const auto& [key, stage] : order) {
    views.del(Table::kStages, keys::encode_u64(stage));
    views.del(Table::kStageOrder, key);
  }
  reindex(views, *wf, &record->summary, nullptr);
  views.del(Table::kWorkflows, prefix);
}

void fold_stage_added(const StageAdded& event, ViewStore& views) {
  const StageExecution& stage = event.stage;
  const std::optional<std::uint64_t> wf =
      workflow_surrogate(views, stage.execution_id);
  if (!wf || stage_exists(views, stage.id)) return;
  const std::string wf_key = keys::encode_u64(*wf);
  std::string value = *views.get(Table::kWorkflows, wf_key);
  const std::uint64_t position =
      keys::decode_u64(std::string_view(value).substr(0, 8));
  put_stage(views, *wf, position, stage);
  // The record starts with next_position: patch it in place.
  std::string next = keys::encode_u64(position + 1);
  value.replace(0, 8, next);
  views.put(Table::kWorkflows, wf_key, value);
}

void fold_stage_updated(const StageUpdated& event, ViewStore& views) {
  const std::optional<FoundStage> found = find_stage(views, event.stage_id);
  if (!found) return;
  StageExecution stage = found->record->stage;
  stage.version = event.version;
  stage.status = event.status;
  stage.context = event.context;
  stage.outputs = event.outputs;
  stage.start_time = event.start_time;
  stage.end_time = event.end_time;
  for (const TaskExecution& task : event.tasks) {
    TaskExecution* existing = nullptr;
    for (TaskExecution& candidate : stage.tasks) {
      if (candidate.id == task.id) {
        existing = &candidate;
        break;
      }
    }
    if (existing != nullptr) {
      *existing = task;
    } else {
      stage.tasks.push_back(task);
    }
  }
  views.put(Table::kStages, keys::encode_u64(found->surrogate),
            records::encode_stage_record(stage, found->record->workflow,
                                         found->record->position));
}

void fold_stage_removed(const StageRemoved& event, ViewStore& views) {
  const std::optional<FoundStage> found = find_stage(views, event.stage_id);
  if (!found) return;
  views.del(Table::kStages, keys::encode_u64(found->surrogate));
  views.del(Table::kStageOrder,
            keys::make_key({found->record->workflow, found->record->position}));
}

void fold_processed(const MessageProcessed& event, std::uint64_t lsn,
                    ViewStore& views) {
  const std::uint64_t message = keys::intern_id(views, event.message_id);
  const std::string key = keys::encode_u64(message);
  if (views.get(Table::kProcessedMessages, key)) return;
  views.put(
      Table::kProcessedMessages, key,
      records::encode_processed(
          {event.processed_at, lsn, event.handler_type, event.execution_id}));
  std::string by_time = keys::encode_i64(event.processed_at);
  keys::append_u64(by_time, lsn);
  records::RecordWriter value;
  value.u64(message);
  value.rest(event.message_id);
  views.put(Table::kProcessedByTime, by_time, value.take());
}

void fold_purged(const ProcessedMessagesPurged& event, ViewStore& views) {
  std::vector<std::pair<std::string, std::uint64_t>> doomed;
  views.scan(Table::kProcessedByTime, "", keys::encode_i64(event.cutoff),
             [&](std::string_view key, std::string_view value) {
               records::RecordReader reader(value, Table::kProcessedByTime);
               doomed.emplace_back(std::string(key), reader.u64());
               return true;
             });
  for (const auto& [key, message] : doomed) {
    views.del(Table::kProcessedMessages, keys::encode_u64(message));
    views.del(Table::kProcessedByTime, key);
  }
}

void put_claim(ViewStore& views, const std::string& execution_id,
               const std::string& claim_key, const std::string& stage_id,
               std::int64_t claimed_at) {
  const std::uint64_t execution = keys::intern_id(views, execution_id);
  const std::uint64_t claim = keys::intern_id(views, claim_key);
  views.put(
      Table::kClaims, claim_key_bytes(execution, claim),
      records::encode_claim({execution_id, claim_key, stage_id, claimed_at}));
}

void fold_claims_purged(const ClaimsPurged& event, ViewStore& views) {
  for (const ClaimId& id : event.claims) {
    const std::optional<std::uint64_t> execution =
        keys::lookup_id(views, id.execution_id);
    const std::optional<std::uint64_t> claim =
        keys::lookup_id(views, id.claim_key);
    if (execution && claim) {
      views.del(Table::kClaims, claim_key_bytes(*execution, *claim));
    }
  }
}

}  // namespace

UpdateStatus UpdateStatus::of(const Workflow& workflow) {
  return UpdateStatus{workflow.id,
                      workflow.status,
                      workflow.start_time,
                      workflow.end_time,
                      workflow.is_canceled,
                      workflow.canceled_by,
                      workflow.cancellation_reason,
                      workflow.paused};
}

SetWorkflowStatus SetWorkflowStatus::of(const Workflow& workflow) {
  return SetWorkflowStatus{workflow.id, workflow.status, workflow.start_time,
                           workflow.end_time};
}

const char* command_name(const Command& command) {
  return std::visit(
      Overloaded{
          [](const StoreWorkflow&) { return "StoreWorkflow"; },
          [](const UpdateStatus&) { return "UpdateStatus"; },
          [](const DeleteWorkflow&) { return "DeleteWorkflow"; },
          [](const StoreStage&) { return "StoreStage"; },
          [](const RemoveStage&) { return "RemoveStage"; },
          [](const Pause&) { return "Pause"; },
          [](const Resume&) { return "Resume"; },
          [](const Cancel&) { return "Cancel"; },
          [](const MarkMessageProcessed&) { return "MarkMessageProcessed"; },
          [](const CleanupProcessedMessages&) {
            return "CleanupProcessedMessages";
          },
          [](const SetWorkflowStatus&) { return "SetWorkflowStatus"; },
          [](const AcquireClaim&) { return "AcquireClaim"; },
          [](const CleanupCompletedStageClaims&) {
            return "CleanupCompletedStageClaims";
          },
          [](const PushMessage&) { return "PushMessage"; },
          [](const LeaseNext&) { return "LeaseNext"; },
          [](const AckMessage&) { return "AckMessage"; },
          [](const RescheduleMessage&) { return "RescheduleMessage"; },
          [](const ExtendLease&) { return "ExtendLease"; },
          [](const MoveToDeadLetters&) { return "MoveToDeadLetters"; },
          [](const MoveExpiredToDeadLetters&) {
            return "MoveExpiredToDeadLetters";
          },
          [](const ReplayDeadLetter&) { return "ReplayDeadLetter"; },
          [](const ClearQueue&) { return "ClearQueue"; },
          [](const ClearDeadLetters&) { return "ClearDeadLetters"; },
      },
      command);
}

Decision decide(const Command& command, const ViewReader& views,
                const DecideContext& context) {
  return std::visit(
      Overloaded{
          [&](const StoreWorkflow& c) { return decide_store(c, views); },
          [&](const UpdateStatus& c) { return decide_update_status(c, views); },
          [&](const DeleteWorkflow& c) { return decide_delete(c, views); },
          [&](const StoreStage& c) {
            return decide_transaction_store_stage(c, views);
          },
          [&](const RemoveStage& c) { return decide_remove_stage(c, views); },
          [&](const Pause& c) { return decide_pause(c, views, context); },
          [&](const Resume& c) { return decide_resume(c, views, context); },
          [&](const Cancel& c) { return decide_cancel(c, views); },
          [&](const MarkMessageProcessed& c) {
            return decide_mark(c, views, context);
          },
          [&](const CleanupProcessedMessages& c) {
            return decide_cleanup_processed(c, views, context);
          },
          [&](const SetWorkflowStatus& c) {
            return decide_set_status(c, views);
          },
          [&](const AcquireClaim& c) {
            return decide_acquire_claim(c, views, context);
          },
          [&](const CleanupCompletedStageClaims&) {
            return decide_cleanup_claims(views);
          },
          [&](const auto& c) {
            return queue_machine::decide(c, views, context);
          },
      },
      command);
}

Decision decide_and_fold(const Command& command, ViewStore& views,
                         const DecideContext& context, std::uint64_t commit_id,
                         std::uint64_t& next_lsn) {
  Decision decision = decide(command, views, context);
  for (const EventPayload& payload : decision.events) {
    Event event;
    event.lsn = next_lsn++;
    event.commit_id = commit_id;
    event.timestamp_ms = context.now_ms;
    event.workflow_id = event_workflow_id(payload);
    event.payload = payload;
    fold(event, views);
  }
  return decision;
}

void fold(const Event& event, ViewStore& views) {
  const std::string workflow_id = event_workflow_id(event.payload);
  if (!workflow_id.empty()) {
    const std::uint64_t wf = keys::intern_id(views, workflow_id);
    records::RecordWriter type;
    type.u16(static_cast<std::uint16_t>(event.type()));
    views.put(Table::kWorkflowEvents, keys::make_key({wf, event.lsn}),
              type.take());
  }
  std::visit(
      Overloaded{
          [&](const WorkflowStored& e) { fold_stored(e, views); },
          [&](const WorkflowStatusUpdated& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = e.status;
              w.start_time = e.start_time;
              w.end_time = e.end_time;
              w.is_canceled = e.is_canceled;
              w.canceled_by = e.canceled_by;
              w.cancellation_reason = e.cancellation_reason;
              w.paused = e.paused;
            });
          },
          [&](const WorkflowStatusSet& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = e.status;
              w.start_time = e.start_time;
              w.end_time = e.end_time;
            });
          },
          [&](const WorkflowPaused& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = WorkflowStatus::kPaused;
              w.paused =
                  PausedDetails{e.paused_by, e.pause_time, std::nullopt, 0};
            });
          },
          [&](const WorkflowResumed& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = WorkflowStatus::kRunning;
              if (w.paused) {
                w.paused->resume_time = e.resume_time;
                if (w.paused->pause_time) {
                  w.paused->paused_ms = e.resume_time - *w.paused->pause_time;
                }
              }
            });
          },
          [&](const WorkflowCancelRequested& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.is_canceled = true;
              w.canceled_by = e.canceled_by;
              w.cancellation_reason = e.reason;
            });
          },
          [&](const WorkflowDeleted& e) { fold_deleted(e, views); },
          [&](const StageAdded& e) { fold_stage_added(e, views); },
          [&](const StageUpdated& e) { fold_stage_updated(e, views); },
          [&](const StageRemoved& e) { fold_stage_removed(e, views); },
          [&](const MessageProcessed& e) {
            fold_processed(e, event.lsn, views);
          },
          [&](const ProcessedMessagesPurged& e) { fold_purged(e, views); },
          [&](const ClaimAcquired& e) {
            put_claim(views, e.execution_id, e.claim_key, e.stage_id,
                      e.claimed_at);
          },
          [&](const ClaimTransferred& e) {
            put_claim(views, e.execution_id, e.claim_key, e.to_stage_id,
                      e.claimed_at);
          },
          [&](const ClaimsPurged& e) { fold_claims_purged(e, views); },
          [&](const auto&) { queue_machine::fold(event.payload, views); },
      },
      event.payload);
}

void fold_events(const std::vector<Event>& events, ViewStore& views) {
  for (const Event& event : events) fold(event, views);
  if (!events.empty()) {
    views.put(Table::kMeta, kMetaAppliedLsn,
              keys::encode_u64(events.back().lsn));
  }
}

void apply_store_stage_result(const std::vector<EventPayload>& events,
                              StageExecution& stage) {
  for (const EventPayload& payload : events) {
    if (const auto* updated = std::get_if<StageUpdated>(&payload)) {
      stage.version = updated->version;
      for (std::size_t i = 0;
           i < stage.tasks.size() && i < updated->tasks.size(); ++i) {
        stage.tasks[i].version = updated->tasks[i].version;
      }
    } else if (const auto* added = std::get_if<StageAdded>(&payload)) {
      for (std::size_t i = 0;
           i < stage.tasks.size() && i < added->stage.tasks.size(); ++i) {
        stage.tasks[i].version = added->stage.tasks[i].version;
      }
    }
  }
}

}  // namespace wfstore
