// The commands of the store's state machine: one struct per write of the
// WorkflowStore and of its transactions, as decide() takes them (DESIGN.md
// "The write path"). Commands are plain values; decide() validates them.
//
// Queue commands (issue 5) join the Command variant as further alternatives;
// decide() and the code that visits commands handle every alternative, so
// adding one is a compile error until it is decided.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "wfstore/model.h"

namespace wfstore {

// store(workflow) (spec §5.1).
struct StoreWorkflow {
  Workflow workflow;
};

// update_status(workflow): the id and exactly the 7 fields of spec §5.4.
struct UpdateStatus {
  std::string workflow_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  bool is_canceled = false;
  std::optional<std::string> canceled_by;
  std::optional<std::string> cancellation_reason;
  std::optional<PausedDetails> paused;

  // The command for update_status(workflow).
  static UpdateStatus of(const Workflow& workflow);
};

// delete_workflow(id) (spec §5.5).
struct DeleteWorkflow {
  std::string workflow_id;
};

// store_stage(stage, expected_phase) and add_stage(stage) (no phase) (spec
// §5.6, §5.7).
struct StoreStage {
  StageExecution stage;
  std::optional<std::string> expected_phase;
};

// remove_stage(workflow_id, stage_id) (spec §5.8; workflow_id is only
// validated).
struct RemoveStage {
  std::string workflow_id;
  std::string stage_id;
};

// pause(id, paused_by) (spec §5.13).
struct Pause {
  std::string workflow_id;
  std::string paused_by;
};

// resume(id) (spec §5.14).
struct Resume {
  std::string workflow_id;
};

// cancel(id, canceled_by, reason) (spec §5.15).
struct Cancel {
  std::string workflow_id;
  std::string canceled_by;
  std::string reason;
};

// mark_message_processed(id, handler_type, execution_id) (spec §5.16).
struct MarkMessageProcessed {
  std::string message_id;
  std::optional<std::string> handler_type;
  std::optional<std::string> execution_id;
};

// cleanup_old_processed_messages(max_age): marks processed before
// now - max_age go (exact times, Q4).
struct CleanupProcessedMessages {
  std::int64_t max_age_ms = 0;
};

// txn.update_workflow_status(workflow): status and times only (spec §6.1).
struct SetWorkflowStatus {
  std::string workflow_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;

  static SetWorkflowStatus of(const Workflow& workflow);
};

// txn.acquire_claim(...) (spec §5.17, §12.12).
struct AcquireClaim {
  std::string execution_id;
  std::string claim_key;
  std::string stage_id;
  bool steal_if_owner_terminal = false;
};

// cleanup_completed_stage_claims() (spec §5.17).
struct CleanupCompletedStageClaims {};

using Command =
    std::variant<StoreWorkflow, UpdateStatus, DeleteWorkflow, StoreStage,
                 RemoveStage, Pause, Resume, Cancel, MarkMessageProcessed,
                 CleanupProcessedMessages, SetWorkflowStatus, AcquireClaim,
                 CleanupCompletedStageClaims>;

// "StoreWorkflow", "StoreStage", ...: for messages and logs.
const char* command_name(const Command& command);

}  // namespace wfstore
