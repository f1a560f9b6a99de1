// The commands of the store's state machine: one struct per write of the
// WorkflowStore and of its transactions, as decide() takes them
// (docs/write-path.md). Commands are plain values; decide() validates them.
//
// decide() and the code that visits commands handle every alternative, so
// adding one is a compile error until it is decided.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/message.h"
#include "wfstore/model.h"

namespace wfstore {

// What a transaction's eager decision of a command did. The writer decides
// the command again at commit; a command that carries the eager kind and is
// decided as another kind there throws ConcurrencyError, since a rival commit
// changed what the operation saw (a stage added or removed, a workflow stored
// or deleted). kNoOp: nothing to write; kInsert: a new row; kUpdate: a change
// of an existing one.
enum class DecisionKind { kNoOp, kInsert, kUpdate };

// store(workflow) (docs/semantics.md §5.1).
struct StoreWorkflow {
  Workflow workflow;
};

// update_status(workflow): the id and exactly the 7 fields of
// docs/semantics.md §5.4. They are the fields of the event that records the
// command.
struct UpdateStatus : WorkflowStatusUpdated {
  // The command for update_status(workflow).
  static UpdateStatus of(const Workflow& workflow);
};

// delete_workflow(id) (docs/semantics.md §5.5).
struct DeleteWorkflow {
  std::string workflow_id;
};

// store_stage(stage, expected_phase) and add_stage(stage) (no phase)
// (docs/semantics.md §5.6, §5.7).
// `expected_kind` (transactions only): kInsert or kUpdate, as decided eagerly.
struct StoreStage {
  StageExecution stage;
  std::optional<std::string> expected_phase;
  std::optional<DecisionKind> expected_kind = std::nullopt;
};

// remove_stage(workflow_id, stage_id) (docs/semantics.md §5.8; workflow_id is
// only validated).
struct RemoveStage {
  std::string workflow_id;
  std::string stage_id;
};

// pause(id, paused_by) (docs/semantics.md §5.13).
struct Pause {
  std::string workflow_id;
  std::string paused_by;
};

// resume(id) (docs/semantics.md §5.14).
struct Resume {
  std::string workflow_id;
};

// cancel(id, canceled_by, reason) (docs/semantics.md §5.15).
struct Cancel {
  std::string workflow_id;
  std::string canceled_by;
  std::string reason;
};

// mark_message_processed(id, handler_type, execution_id)
// (docs/semantics.md §5.16).
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

// txn.update_workflow_status(workflow): status and times only
// (docs/semantics.md §6.1). `expected_kind`: kNoOp (the workflow was missing)
// or kUpdate, as decided eagerly.
struct SetWorkflowStatus {
  std::string workflow_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  std::optional<DecisionKind> expected_kind = std::nullopt;

  static SetWorkflowStatus of(const Workflow& workflow);
};

// txn.acquire_claim(...) (docs/semantics.md §5.17, §12.12).
// `expected_result` is what a transaction's eager decision returned to its
// caller: when set, a decision with another result throws ConcurrencyError
// (a rival took or freed the claim between the operation and the commit).
struct AcquireClaim {
  std::string execution_id;
  std::string claim_key;
  std::string stage_id;
  bool steal_if_owner_terminal = false;
  std::optional<bool> expected_result = std::nullopt;
};

// cleanup_completed_stage_claims() (docs/semantics.md §5.17).
struct CleanupCompletedStageClaims {};

// The queue's commands (docs/write-path.md#the-queues-leases,
// docs/semantics.md §4.3-4.4). Times are the decide context's clock; durations
// are milliseconds. `queue_max_attempts` is the queue's limit, used for a
// message pushed without its own (Q5).

// push / ensure / txn.push_message: a new delivery id (meta next_delivery_id),
// deliver_at = now + delay_ms, the message's max_attempts when set.
struct PushMessage {
  Message message;
  std::int64_t delay_ms = 0;
};

// poll_one: leases the first deliverable message by (deliver_at, delivery):
// deliver_at <= now, not leased or lease_until < now, attempts below its
// max_attempts (or queue_max_attempts). attempts + 1, lease_until = now +
// lease_ms. No deliverable message: no events.
struct LeaseNext {
  std::int64_t lease_ms = 0;
  std::int64_t queue_max_attempts = 0;
};

// ack(id): removes the delivery; an unknown id is a no-op.
struct AckMessage {
  std::uint64_t delivery_id = 0;
};

// reschedule(id, delay): deliver_at = now + delay_ms, lease cleared, attempts
// kept; an unknown id is a no-op.
struct RescheduleMessage {
  std::uint64_t delivery_id = 0;
  std::int64_t delay_ms = 0;
};

// extend_lock(id, duration): lease_until = now + lease_ms for an existing
// delivery, leased or not (the reference's UPDATE); Decision::result is false
// for an unknown id.
struct ExtendLease {
  std::uint64_t delivery_id = 0;
  std::int64_t lease_ms = 0;
};

// move_to_dlq(id, error): Decision::result false (no events) for an unknown id.
struct MoveToDeadLetters {
  std::uint64_t delivery_id = 0;
  std::string error = "Max attempts exceeded";
};

// check_and_move_expired(): every delivery with attempts >= its max_attempts
// (or queue_max_attempts) moves with error "Exceeded max_attempts
// ({attempts})", in delivery order; Decision::count is the number moved.
struct MoveExpiredToDeadLetters {
  std::int64_t queue_max_attempts = 0;
};

// replay_dlq(id): the dead letter becomes a new delivery (new id, attempts 0,
// deliver_at now, its max_attempts kept). Decision::result false for an
// unknown id; Decision::delivery_id is the new id.
struct ReplayDeadLetter {
  std::uint64_t delivery_id = 0;
};

// clear(): every queued delivery goes (not the dead letters). Decision::count
// is the number removed; an empty queue appends nothing.
struct ClearQueue {};

// clear_dlq(): every dead letter goes; Decision::count is the number removed.
struct ClearDeadLetters {};

// import_bundle(file): one workflow's state events (workflow, stage and claim
// events, in their original order) replayed as they were. Decided only when
// the store holds no workflow `workflow_id`, none of the stages the events
// add and none of the claims they take.
struct ImportWorkflowHistory {
  std::string workflow_id;
  std::vector<EventPayload> events;
};

// True for the events ImportWorkflowHistory replays: workflow events, stage
// events, ClaimAcquired and ClaimTransferred.
bool is_workflow_state_event(const EventPayload& payload);

using Command =
    std::variant<StoreWorkflow, UpdateStatus, DeleteWorkflow, StoreStage,
                 RemoveStage, Pause, Resume, Cancel, MarkMessageProcessed,
                 CleanupProcessedMessages, SetWorkflowStatus, AcquireClaim,
                 CleanupCompletedStageClaims, PushMessage, LeaseNext,
                 AckMessage, RescheduleMessage, ExtendLease, MoveToDeadLetters,
                 MoveExpiredToDeadLetters, ReplayDeadLetter, ClearQueue,
                 ClearDeadLetters, ImportWorkflowHistory>;

// "StoreWorkflow", "StoreStage", ...: for messages and logs.
const char* command_name(const Command& command);

}  // namespace wfstore
