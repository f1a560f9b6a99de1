// decide() of every command, and the decisions of the workflow, stage,
// processed message and claim commands (the queue's are in queue_decide.cc).

#include <map>
#include <set>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/model.h"

#include "store/command/queue_decide.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/overloaded.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using records::find_stage;
using records::FoundStage;
using records::load_workflow_record;
using records::stage_exists;
using records::workflow_surrogate;
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

// ---- reads ----

std::optional<WorkflowRecord> find_workflow(const ViewReader& views,
                                            std::string_view id) {
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, id);
  if (!surrogate) return std::nullopt;
  return load_workflow_record(views, *surrogate);
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

// Throws DuplicateError naming `field` when two of `tasks` share an id.
void check_unique_tasks(const std::vector<TaskExecution>& tasks,
                        std::string_view field) {
  std::set<std::string_view> ids;
  for (const TaskExecution& task : tasks) {
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

// The rules a stored workflow's stages keep among themselves: no stage id, ref
// id or (within a stage) task id twice. Throws DuplicateError naming the field
// after `prefix` ("" or "events[0].workflow.").
void check_unique_stages(const Workflow& workflow, std::string_view prefix) {
  std::set<std::string_view> stage_ids;
  std::set<std::string_view> ref_ids;
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    const StageExecution& stage = workflow.stages[i];
    const std::string field = fmt::format("{}stages[{}]", prefix, i);
    if (!stage_ids.insert(stage.id).second) {
      throw DuplicateError(
          fmt::format("{}.id: stage {} appears twice", field, stage.id));
    }
    if (!ref_ids.insert(stage.ref_id).second) {
      throw DuplicateError(
          fmt::format("{}.ref_id: ref_id {} appears twice in workflow {}",
                      field, stage.ref_id, workflow.id));
    }
    check_unique_tasks(stage.tasks, field);
  }
}

// check_parent_workflow() for each stage of `workflow` whose parent is not a
// stage of `workflow` itself.
void check_stage_parents(const ViewReader& views, const Workflow& workflow) {
  std::set<std::string_view> stage_ids;
  for (const StageExecution& stage : workflow.stages) {
    stage_ids.insert(stage.id);
  }
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    const StageExecution& stage = workflow.stages[i];
    if (stage.parent_stage_id && stage_ids.count(*stage.parent_stage_id) == 0) {
      check_parent_workflow(views, stage, workflow.id,
                            fmt::format("stages[{}]", i));
    }
  }
}

Decision decide_store(const StoreWorkflow& command, const ViewReader& views) {
  const Workflow& workflow = command.workflow;
  validate_workflow(workflow);
  check_unique_stages(workflow, "");
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
  check_stage_parents(views, workflow);
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
  decision.events.emplace_back(WorkflowStatusUpdated(command));
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
  check_unique_tasks(stage.tasks, "stage");
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
  // The workflow id is ignored, as in the reference (docs/semantics.md §5.8):
  // the event names the stage's own workflow.
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
  if (is_message_processed(views, command.message_id)) return decision;
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
            views.get(Table::kClaims, records::claim_key(*execution, *claim))) {
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

// The limits of the fields an imported event carries that its envelope
// check does not cover.
void validate_imported(const EventPayload& payload, std::string_view field) {
  std::visit(
      Overloaded{
          [&](const WorkflowStored& e) { validate_workflow(e.workflow); },
          [&](const StageAdded& e) {
            validate_stage(e.stage, fmt::format("{}.stage", field));
          },
          [&](const StageUpdated& e) {
            validate_key(e.stage_id, fmt::format("{}.stage_id", field));
            for (std::size_t i = 0; i < e.tasks.size(); ++i) {
              validate_task(e.tasks[i], fmt::format("{}.tasks[{}]", field, i));
            }
          },
          [&](const StageRemoved& e) {
            validate_key(e.stage_id, fmt::format("{}.stage_id", field));
          },
          [&](const WorkflowPaused& e) {
            validate_string(e.paused_by, fmt::format("{}.paused_by", field));
          },
          [&](const WorkflowCancelRequested& e) {
            validate_string(e.canceled_by,
                            fmt::format("{}.canceled_by", field));
            validate_string(e.reason, fmt::format("{}.reason", field));
          },
          [&](const ClaimAcquired& e) {
            validate_key(e.claim_key, fmt::format("{}.claim_key", field));
            validate_key(e.stage_id, fmt::format("{}.stage_id", field));
          },
          [&](const ClaimTransferred& e) {
            validate_key(e.claim_key, fmt::format("{}.claim_key", field));
            validate_key(e.from_stage_id,
                         fmt::format("{}.from_stage_id", field));
            validate_key(e.to_stage_id, fmt::format("{}.to_stage_id", field));
          },
          [](const auto&) {},
      },
      payload);
}

// True when the store holds claim `claim_key` of `execution_id`.
bool claim_held(const ViewReader& views, std::string_view execution_id,
                std::string_view claim_key) {
  const std::optional<std::uint64_t> execution =
      keys::lookup_id(views, execution_id);
  const std::optional<std::uint64_t> claim = keys::lookup_id(views, claim_key);
  return execution && claim &&
         views.get(Table::kClaims, records::claim_key(*execution, *claim));
}

// The imported workflow's stages as its events leave them, one event at a
// time: each event must be one the store's own decisions could have written
// at that point (the rules of decide_store and decide_store_stage), or its
// fold would break a rule the views keep (a ref id twice in a workflow, a
// stage_order entry with no stage, a task id twice in a stage). A parent
// stage id is not checked against the target: no rule of the views depends on
// it, and a stage may name a parent that another workflow stores later, so a
// check would refuse an export of a store the store's own writes made.
class ImportedStages {
 public:
  // Checks `payload` (validated, of the imported workflow) against the state
  // the events before it left, then applies it. Throws InvalidArgumentError
  // (DuplicateError from the checks shared with decide_store) naming `field`.
  void follow(const EventPayload& payload, const std::string& field) {
    if (const auto* stored = std::get_if<WorkflowStored>(&payload)) {
      const Workflow& workflow = stored->workflow;
      if (stored_) {
        throw InvalidArgumentError(
            fmt::format("{}: workflow {} is stored again while it exists",
                        field, workflow.id));
      }
      check_unique_stages(workflow, field + ".workflow.");
      stored_ = true;
      for (const StageExecution& stage : workflow.stages) add(stage);
      return;
    }
    if (std::holds_alternative<ClaimAcquired>(payload) ||
        std::holds_alternative<ClaimTransferred>(payload)) {
      return;
    }
    if (!stored_) {
      throw InvalidArgumentError(fmt::format(
          "{}: a {} while workflow {} is not stored", field,
          event_type_name(event_type(payload)), event_workflow_id(payload)));
    }
    if (const auto* added = std::get_if<StageAdded>(&payload)) {
      const StageExecution& stage = added->stage;
      if (ref_ids_.count(stage.id) != 0) {
        throw InvalidArgumentError(fmt::format(
            "{}.stage.id: stage {} is added while it exists", field, stage.id));
      }
      if (live_refs_.count(stage.ref_id) != 0) {
        throw InvalidArgumentError(fmt::format(
            "{}.stage.ref_id: ref_id {} already exists in workflow {}", field,
            stage.ref_id, stage.execution_id));
      }
      check_unique_tasks(stage.tasks, field + ".stage");
      add(stage);
    } else if (const auto* updated = std::get_if<StageUpdated>(&payload)) {
      require_stage(updated->stage_id, field);
      check_unique_tasks(updated->tasks, field);
    } else if (const auto* removed = std::get_if<StageRemoved>(&payload)) {
      const auto it = require_stage(removed->stage_id, field);
      live_refs_.erase(it->second);
      ref_ids_.erase(it);
    } else if (std::holds_alternative<WorkflowDeleted>(payload)) {
      stored_ = false;
      ref_ids_.clear();
      live_refs_.clear();
    }
  }

 private:
  using RefIds = std::map<std::string, std::string, std::less<>>;

  void add(const StageExecution& stage) {
    ref_ids_.emplace(stage.id, stage.ref_id);
    live_refs_.insert(stage.ref_id);
  }

  RefIds::iterator require_stage(const std::string& stage_id,
                                 const std::string& field) {
    const auto it = ref_ids_.find(stage_id);
    if (it == ref_ids_.end()) {
      throw InvalidArgumentError(fmt::format(
          "{}.stage_id: stage {} is not a stage of the workflow at that point",
          field, stage_id));
    }
    return it;
  }

  bool stored_ = false;
  RefIds ref_ids_;                                // stage id -> ref id
  std::set<std::string, std::less<>> live_refs_;  // the ref ids of ref_ids_
};

Decision decide_import(const ImportWorkflowHistory& command,
                       const ViewReader& views) {
  validate_key(command.workflow_id, "workflow_id");
  if (command.events.empty()) {
    throw InvalidArgumentError(
        fmt::format("import of workflow {}: no workflow state events to replay",
                    command.workflow_id));
  }
  if (workflow_surrogate(views, command.workflow_id)) {
    throw InvalidArgumentError(
        fmt::format("import of workflow {}: this store already holds a "
                    "workflow with that id",
                    command.workflow_id));
  }
  const auto conflict = [&](std::string_view what, std::string_view id) {
    return InvalidArgumentError(
        fmt::format("import of workflow {}: this store already holds {} {}",
                    command.workflow_id, what, id));
  };
  ImportedStages stages;
  for (std::size_t i = 0; i < command.events.size(); ++i) {
    const EventPayload& payload = command.events[i];
    const std::string field = fmt::format("events[{}]", i);
    if (!is_workflow_state_event(payload) ||
        event_workflow_id(payload) != command.workflow_id) {
      throw InvalidArgumentError(fmt::format(
          "{}: a {} of workflow '{}' is not a state event of workflow {}",
          field, event_type_name(event_type(payload)),
          event_workflow_id(payload), command.workflow_id));
    }
    validate_imported(payload, field);
    try {
      stages.follow(payload, field);
    } catch (const DuplicateError& e) {
      // A bundle's own duplicates are bad input, not a conflict with the
      // store.
      throw InvalidArgumentError(fmt::format("import of workflow {}: {}",
                                             command.workflow_id, e.what()));
    }
    std::vector<std::string_view> added;
    if (const auto* stored = std::get_if<WorkflowStored>(&payload)) {
      for (const StageExecution& stage : stored->workflow.stages) {
        added.push_back(stage.id);
      }
    } else if (const auto* stage = std::get_if<StageAdded>(&payload)) {
      added.push_back(stage->stage.id);
    } else if (const auto* claim = std::get_if<ClaimAcquired>(&payload)) {
      if (claim_held(views, claim->execution_id, claim->claim_key)) {
        throw conflict("claim", claim->claim_key);
      }
    } else if (const auto* moved = std::get_if<ClaimTransferred>(&payload)) {
      if (claim_held(views, moved->execution_id, moved->claim_key)) {
        throw conflict("claim", moved->claim_key);
      }
    }
    for (std::string_view stage_id : added) {
      if (stage_exists(views, stage_id)) throw conflict("stage", stage_id);
    }
  }
  Decision decision;
  decision.events = command.events;
  return decision;
}

}  // namespace

bool is_workflow_state_event(const EventPayload& payload) {
  switch (event_type(payload)) {
    case EventType::kWorkflowStored:
    case EventType::kWorkflowStatusUpdated:
    case EventType::kWorkflowStatusSet:
    case EventType::kWorkflowPaused:
    case EventType::kWorkflowResumed:
    case EventType::kWorkflowCancelRequested:
    case EventType::kWorkflowDeleted:
    case EventType::kStageAdded:
    case EventType::kStageUpdated:
    case EventType::kStageRemoved:
    case EventType::kClaimAcquired:
    case EventType::kClaimTransferred:
      return true;
    default:
      return false;
  }
}

UpdateStatus UpdateStatus::of(const Workflow& workflow) {
  return UpdateStatus{{workflow.id, workflow.status, workflow.start_time,
                       workflow.end_time, workflow.is_canceled,
                       workflow.canceled_by, workflow.cancellation_reason,
                       workflow.paused}};
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
          [](const ImportWorkflowHistory&) { return "ImportWorkflowHistory"; },
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
          [&](const ImportWorkflowHistory& c) {
            return decide_import(c, views);
          },
          [&](const queue_decide::QueueCommand auto& c) {
            return queue_decide::decide(c, views, context);
          },
      },
      command);
}

Decision decide_and_fold(const Command& command, ViewStore& views,
                         const DecideContext& context, std::uint64_t commit_id,
                         std::uint64_t& next_lsn, const AuditMetadata& audit) {
  Decision decision = decide(command, views, context);
  for (const EventPayload& payload : decision.events) {
    Event event;
    event.lsn = next_lsn++;
    event.commit_id = commit_id;
    event.timestamp_ms = context.now_ms;
    event.workflow_id = event_workflow_id(payload);
    event.audit = audit;
    event.payload = payload;
    fold(event, views);
  }
  return decision;
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
