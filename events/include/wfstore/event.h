// The typed event catalogue (docs/events.md): one payload struct
// per event type, the Event envelope that carries a payload with its log
// position and audit metadata, and the documented JSON form of an event.
//
// Types here are plain values. Thread-safety: as for standard value types.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/json.h"
#include "wfstore/model.h"

namespace wfstore {

// Stable identity of an event type: the encoded integer never changes and is
// never reused. 0xFF00-0xFFFF is reserved for test-only types.
enum class EventType : std::uint16_t {
  kWorkflowStored = 1,
  kWorkflowStatusUpdated = 2,
  kWorkflowStatusSet = 3,
  kWorkflowPaused = 4,
  kWorkflowResumed = 5,
  kWorkflowCancelRequested = 6,
  kWorkflowDeleted = 7,
  kStageAdded = 20,
  kStageUpdated = 21,
  kStageRemoved = 22,
  kMessageProcessed = 40,
  kProcessedMessagesPurged = 41,
  kClaimAcquired = 50,
  kClaimTransferred = 51,
  kClaimsPurged = 52,
  kMessagePushed = 100,
  kMessageLeased = 101,
  kMessageAcked = 102,
  kMessageRescheduled = 103,
  kMessageLeaseExtended = 104,
  kMessageDeadLettered = 105,
  kDeadLetterReplayed = 106,
  kQueueCleared = 107,
  kDeadLetterQueueCleared = 108,
};

// First type id of the range reserved for test-only event types.
inline constexpr std::uint16_t kFirstTestEventType = 0xFF00;

// Audit metadata of a commit: who, why, from where. Every field may be empty.
struct AuditMetadata {
  std::string actor;
  std::string correlation_id;
  std::string causation_id;
  std::string source;

  friend bool operator==(const AuditMetadata& a, const AuditMetadata& b);
};

// Each payload below names its type id (kType) and the schema version that
// this build writes (kVersion). All times are epoch milliseconds. Fields that
// name the workflow (workflow_id, execution_id) are what event_workflow_id()
// puts into the envelope.

// store(wf): the workflow with every persisted field, its stages with their
// tasks, in order.
struct WorkflowStored {
  static constexpr EventType kType = EventType::kWorkflowStored;
  static constexpr std::uint16_t kVersion = 1;
  Workflow workflow;
  friend bool operator==(const WorkflowStored& a, const WorkflowStored& b);
};

// update_status(wf): exactly the fields of docs/semantics.md §5.4.
struct WorkflowStatusUpdated {
  static constexpr EventType kType = EventType::kWorkflowStatusUpdated;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  bool is_canceled = false;
  std::optional<std::string> canceled_by;
  std::optional<std::string> cancellation_reason;
  std::optional<PausedDetails> paused;
  friend bool operator==(const WorkflowStatusUpdated& a,
                         const WorkflowStatusUpdated& b);
};

// txn.update_workflow_status(wf): status and times only
// (docs/semantics.md §6.1).
struct WorkflowStatusSet {
  static constexpr EventType kType = EventType::kWorkflowStatusSet;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  friend bool operator==(const WorkflowStatusSet& a,
                         const WorkflowStatusSet& b);
};

// pause(id, paused_by) (docs/semantics.md §5.13).
struct WorkflowPaused {
  static constexpr EventType kType = EventType::kWorkflowPaused;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  std::string paused_by;
  std::int64_t pause_time = 0;
  friend bool operator==(const WorkflowPaused& a, const WorkflowPaused& b);
};

// resume(id) of a PAUSED workflow (docs/semantics.md §5.14).
struct WorkflowResumed {
  static constexpr EventType kType = EventType::kWorkflowResumed;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  std::int64_t resume_time = 0;
  friend bool operator==(const WorkflowResumed& a, const WorkflowResumed& b);
};

// cancel(id, canceled_by, reason) (docs/semantics.md §5.15).
struct WorkflowCancelRequested {
  static constexpr EventType kType = EventType::kWorkflowCancelRequested;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  std::string canceled_by;
  std::string reason;
  friend bool operator==(const WorkflowCancelRequested& a,
                         const WorkflowCancelRequested& b);
};

// delete_workflow(id) (docs/semantics.md §5.5).
struct WorkflowDeleted {
  static constexpr EventType kType = EventType::kWorkflowDeleted;
  static constexpr std::uint16_t kVersion = 1;
  std::string workflow_id;
  friend bool operator==(const WorkflowDeleted& a, const WorkflowDeleted& b);
};

// store_stage / add_stage of a new stage: every field, tasks in order.
struct StageAdded {
  static constexpr EventType kType = EventType::kStageAdded;
  static constexpr std::uint16_t kVersion = 1;
  StageExecution stage;
  friend bool operator==(const StageAdded& a, const StageAdded& b);
};

// store_stage of an existing stage: the mutable fields of
// docs/semantics.md §5.6 with the new version, and every listed task as
// upserted, with its new version.
struct StageUpdated {
  static constexpr EventType kType = EventType::kStageUpdated;
  static constexpr std::uint16_t kVersion = 1;
  std::string execution_id;
  std::string stage_id;
  std::int64_t version = 0;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  Json context;
  Json outputs;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  std::vector<TaskExecution> tasks;
  friend bool operator==(const StageUpdated& a, const StageUpdated& b);
};

// remove_stage (docs/semantics.md §5.8).
struct StageRemoved {
  static constexpr EventType kType = EventType::kStageRemoved;
  static constexpr std::uint16_t kVersion = 1;
  std::string execution_id;
  std::string stage_id;
  friend bool operator==(const StageRemoved& a, const StageRemoved& b);
};

// mark_message_processed (docs/semantics.md §5.16).
struct MessageProcessed {
  static constexpr EventType kType = EventType::kMessageProcessed;
  static constexpr std::uint16_t kVersion = 1;
  std::string message_id;
  std::optional<std::string> handler_type;
  std::optional<std::string> execution_id;
  std::int64_t processed_at = 0;
  friend bool operator==(const MessageProcessed& a, const MessageProcessed& b);
};

// cleanup_old_processed_messages: rows processed before `cutoff` went.
struct ProcessedMessagesPurged {
  static constexpr EventType kType = EventType::kProcessedMessagesPurged;
  static constexpr std::uint16_t kVersion = 1;
  std::int64_t cutoff = 0;
  std::uint64_t count = 0;
  friend bool operator==(const ProcessedMessagesPurged& a,
                         const ProcessedMessagesPurged& b);
};

// acquire_claim inserted a claim (docs/semantics.md §5.17).
struct ClaimAcquired {
  static constexpr EventType kType = EventType::kClaimAcquired;
  static constexpr std::uint16_t kVersion = 1;
  std::string execution_id;
  std::string claim_key;
  std::string stage_id;
  std::int64_t claimed_at = 0;
  friend bool operator==(const ClaimAcquired& a, const ClaimAcquired& b);
};

// acquire_claim stole a claim from a terminal owner (docs/semantics.md §5.17).
struct ClaimTransferred {
  static constexpr EventType kType = EventType::kClaimTransferred;
  static constexpr std::uint16_t kVersion = 1;
  std::string execution_id;
  std::string claim_key;
  std::string from_stage_id;
  std::string to_stage_id;
  std::int64_t claimed_at = 0;
  friend bool operator==(const ClaimTransferred& a, const ClaimTransferred& b);
};

// One claim's primary key.
struct ClaimId {
  std::string execution_id;
  std::string claim_key;
  friend bool operator==(const ClaimId& a, const ClaimId& b);
};

// cleanup_completed_stage_claims: the claims deleted, in key order.
struct ClaimsPurged {
  static constexpr EventType kType = EventType::kClaimsPurged;
  static constexpr std::uint16_t kVersion = 1;
  std::vector<ClaimId> claims;
  friend bool operator==(const ClaimsPurged& a, const ClaimsPurged& b);
};

// Queue events carry `execution_id`: the message's execution_id, or empty
// when it has none. It only feeds the envelope's workflow id.

// push / ensure / txn.push_message.
struct MessagePushed {
  static constexpr EventType kType = EventType::kMessagePushed;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  // The message type name (docs/semantics.md §4.2), e.g. "StartStage".
  std::string message_type;
  // The message's wire JSON.
  Json payload;
  std::int64_t deliver_at = 0;
  // Unset: the queue's max_attempts applies.
  std::optional<std::int64_t> max_attempts;
  friend bool operator==(const MessagePushed& a, const MessagePushed& b);
};

// poll leased a delivery; `attempt` counts this delivery.
struct MessageLeased {
  static constexpr EventType kType = EventType::kMessageLeased;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::int64_t attempt = 0;
  std::int64_t lease_until = 0;
  friend bool operator==(const MessageLeased& a, const MessageLeased& b);
};

struct MessageAcked {
  static constexpr EventType kType = EventType::kMessageAcked;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  friend bool operator==(const MessageAcked& a, const MessageAcked& b);
};

struct MessageRescheduled {
  static constexpr EventType kType = EventType::kMessageRescheduled;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::int64_t deliver_at = 0;
  friend bool operator==(const MessageRescheduled& a,
                         const MessageRescheduled& b);
};

struct MessageLeaseExtended {
  static constexpr EventType kType = EventType::kMessageLeaseExtended;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::int64_t lease_until = 0;
  friend bool operator==(const MessageLeaseExtended& a,
                         const MessageLeaseExtended& b);
};

// A delivery moved to the dead-letter queue (move_to_dlq or the sweep).
struct MessageDeadLettered {
  static constexpr EventType kType = EventType::kMessageDeadLettered;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::string error;
  std::int64_t moved_at = 0;
  friend bool operator==(const MessageDeadLettered& a,
                         const MessageDeadLettered& b);
};

// replay_dlq: dead letter `delivery_id` became delivery `new_delivery_id`.
struct DeadLetterReplayed {
  static constexpr EventType kType = EventType::kDeadLetterReplayed;
  static constexpr std::uint16_t kVersion = 1;
  std::uint64_t delivery_id = 0;
  std::uint64_t new_delivery_id = 0;
  std::string execution_id;
  std::int64_t deliver_at = 0;
  friend bool operator==(const DeadLetterReplayed& a,
                         const DeadLetterReplayed& b);
};

struct QueueCleared {
  static constexpr EventType kType = EventType::kQueueCleared;
  static constexpr std::uint16_t kVersion = 1;
  friend bool operator==(const QueueCleared&, const QueueCleared&) {
    return true;
  }
};

struct DeadLetterQueueCleared {
  static constexpr EventType kType = EventType::kDeadLetterQueueCleared;
  static constexpr std::uint16_t kVersion = 1;
  friend bool operator==(const DeadLetterQueueCleared&,
                         const DeadLetterQueueCleared&) {
    return true;
  }
};

using EventPayload = std::variant<
    WorkflowStored, WorkflowStatusUpdated, WorkflowStatusSet, WorkflowPaused,
    WorkflowResumed, WorkflowCancelRequested, WorkflowDeleted, StageAdded,
    StageUpdated, StageRemoved, MessageProcessed, ProcessedMessagesPurged,
    ClaimAcquired, ClaimTransferred, ClaimsPurged, MessagePushed, MessageLeased,
    MessageAcked, MessageRescheduled, MessageLeaseExtended, MessageDeadLettered,
    DeadLetterReplayed, QueueCleared, DeadLetterQueueCleared>;

// The type id of `payload`'s alternative.
EventType event_type(const EventPayload& payload);

// The workflow id that goes into the envelope: the workflow's or stage's
// execution id, a queue message's execution_id, or empty for events that
// belong to no workflow (purges, queue clears, a dedup mark without one).
std::string event_workflow_id(const EventPayload& payload);

// The kinds of entity an event touches (History's entity queries).
enum class EntityKind : std::uint8_t {
  kWorkflow = 1,
  kStage = 2,
  kTask = 3,
  kDelivery = 4,  // a queue delivery; its id in decimal
};

// "workflow", "stage", "task", "delivery".
std::string_view entity_kind_name(EntityKind kind);
// The kind named `name`, or nullopt.
std::optional<EntityKind> find_entity_kind(std::string_view name);

// One entity: a workflow, stage or task by its id, a delivery by its id in
// decimal.
struct EntityRef {
  EntityKind kind = EntityKind::kWorkflow;
  std::string id;
  friend bool operator==(const EntityRef& a, const EntityRef& b) = default;
};

// The entities `payload` touches, in payload order, without repeats: the
// workflow it names (when it names one), the stages and tasks it stores,
// updates or removes (a claim's stages), and the deliveries of a queue event
// (a replayed dead letter's old and new one). Purges and queue clears touch
// none.
std::vector<EntityRef> event_entities(const EventPayload& payload);

// "WorkflowStored", "StageUpdated", ... ; "Unknown" for an id outside the
// catalogue.
std::string_view event_type_name(EventType type);

// An event as read back from the log: its payload with the envelope.
struct Event {
  // Log position: the commit's first LSN plus the event's index in it.
  std::uint64_t lsn = 0;
  // The first LSN of the commit the event belongs to.
  std::uint64_t commit_id = 0;
  // Commit time, epoch milliseconds.
  std::int64_t timestamp_ms = 0;
  std::string workflow_id;
  AuditMetadata audit;
  EventPayload payload;

  EventType type() const { return event_type(payload); }
  // The payload's current schema version (decoding upcasts older ones).
  std::uint16_t schema_version() const;

  friend bool operator==(const Event& a, const Event& b);
};

// The documented JSON form of an event, what the CLI prints and the Kafka
// exporter sends:
//   {"lsn": 42, "commit_id": 41, "timestamp": 1700000000000,
//    "type": "StageUpdated", "schema_version": 1, "workflow_id": "wf-1",
//    "audit": {"actor": .., "correlation_id": .., "causation_id": ..,
//              "source": ..},
//    "payload": {...every payload field...}}
// Payload fields keep their C++ names; statuses and other enums appear by
// name, unset optionals as null, JSON values inline, times as epoch
// milliseconds. Decodes lazily held JSON values.
nlohmann::json event_to_json(const Event& event);
// The inverse of event_to_json(): the event whose JSON form is `json`, so that
// event_from_json(event_to_json(e)) == e. Reads exactly the members
// event_to_json() writes, through the same field tables: enums by name, null
// for an unset optional, the payload alternative chosen by "type". Throws
// CorruptionError naming the member ("payload.workflow.stages[0].status") for a
// missing, unknown or ill-typed member, an unknown type name, a
// "schema_version" other than the one this build writes for the type, a JSON
// value over the limits of validate_json(), or a "workflow_id" other than the
// one the payload names (a JSON event is data read back, like a log record).
Event event_from_json(const nlohmann::json& json);
// The "payload" member of event_to_json().
nlohmann::json payload_to_json(const EventPayload& payload);
// A workflow with its stages and tasks as the "workflow" member of a
// WorkflowStored payload's JSON (the same field tables).
nlohmann::json workflow_to_json(const Workflow& workflow);

}  // namespace wfstore
