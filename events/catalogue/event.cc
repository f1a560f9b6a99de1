// The event catalogue's identities: type ids and names, the envelope's
// workflow id, and value equality of payloads and events.

#include "wfstore/event.h"

#include <type_traits>

namespace wfstore {

bool operator==(const AuditMetadata& a, const AuditMetadata& b) = default;
bool operator==(const WorkflowStored& a, const WorkflowStored& b) = default;
bool operator==(const WorkflowStatusUpdated& a,
                const WorkflowStatusUpdated& b) = default;
bool operator==(const WorkflowStatusSet& a,
                const WorkflowStatusSet& b) = default;
bool operator==(const WorkflowPaused& a, const WorkflowPaused& b) = default;
bool operator==(const WorkflowResumed& a, const WorkflowResumed& b) = default;
bool operator==(const WorkflowCancelRequested& a,
                const WorkflowCancelRequested& b) = default;
bool operator==(const WorkflowDeleted& a, const WorkflowDeleted& b) = default;
bool operator==(const StageAdded& a, const StageAdded& b) = default;
bool operator==(const StageUpdated& a, const StageUpdated& b) = default;
bool operator==(const StageRemoved& a, const StageRemoved& b) = default;
bool operator==(const MessageProcessed& a, const MessageProcessed& b) = default;
bool operator==(const ProcessedMessagesPurged& a,
                const ProcessedMessagesPurged& b) = default;
bool operator==(const ClaimAcquired& a, const ClaimAcquired& b) = default;
bool operator==(const ClaimTransferred& a, const ClaimTransferred& b) = default;
bool operator==(const ClaimId& a, const ClaimId& b) = default;
bool operator==(const ClaimsPurged& a, const ClaimsPurged& b) = default;
bool operator==(const MessagePushed& a, const MessagePushed& b) = default;
bool operator==(const MessageLeased& a, const MessageLeased& b) = default;
bool operator==(const MessageAcked& a, const MessageAcked& b) = default;
bool operator==(const MessageRescheduled& a,
                const MessageRescheduled& b) = default;
bool operator==(const MessageLeaseExtended& a,
                const MessageLeaseExtended& b) = default;
bool operator==(const MessageDeadLettered& a,
                const MessageDeadLettered& b) = default;
bool operator==(const DeadLetterReplayed& a,
                const DeadLetterReplayed& b) = default;
bool operator==(const Event& a, const Event& b) = default;

EventType event_type(const EventPayload& payload) {
  return std::visit([](const auto& p) { return p.kType; }, payload);
}

std::uint16_t Event::schema_version() const {
  return std::visit([](const auto& p) { return p.kVersion; }, payload);
}

namespace {

template <typename T, typename... Ts>
constexpr bool kIsOneOf = (std::is_same_v<T, Ts> || ...);

// False for every type: a static_assert that fires only where instantiated.
template <typename>
struct Undecided : std::false_type {};

}  // namespace

// Names every payload type, so a new one is a compile error until decided.
std::string event_workflow_id(const EventPayload& payload) {
  return std::visit(
      [](const auto& p) -> std::string {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, WorkflowStored>) {
          return p.workflow.id;
        } else if constexpr (std::is_same_v<P, StageAdded>) {
          return p.stage.execution_id;
        } else if constexpr (std::is_same_v<P, MessageProcessed>) {
          return p.execution_id.value_or("");
        } else if constexpr (kIsOneOf<P, WorkflowStatusUpdated,
                                      WorkflowStatusSet, WorkflowPaused,
                                      WorkflowResumed, WorkflowCancelRequested,
                                      WorkflowDeleted>) {
          return p.workflow_id;
        } else if constexpr (kIsOneOf<P, StageUpdated, StageRemoved,
                                      ClaimAcquired, ClaimTransferred,
                                      MessagePushed, MessageLeased,
                                      MessageAcked, MessageRescheduled,
                                      MessageLeaseExtended, MessageDeadLettered,
                                      DeadLetterReplayed>) {
          return p.execution_id;
        } else if constexpr (kIsOneOf<P, ProcessedMessagesPurged, ClaimsPurged,
                                      QueueCleared, DeadLetterQueueCleared>) {
          return {};
        } else {
          static_assert(Undecided<P>::value,
                        "event_workflow_id: decide this event type's workflow");
        }
      },
      payload);
}

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kWorkflowStored:
      return "WorkflowStored";
    case EventType::kWorkflowStatusUpdated:
      return "WorkflowStatusUpdated";
    case EventType::kWorkflowStatusSet:
      return "WorkflowStatusSet";
    case EventType::kWorkflowPaused:
      return "WorkflowPaused";
    case EventType::kWorkflowResumed:
      return "WorkflowResumed";
    case EventType::kWorkflowCancelRequested:
      return "WorkflowCancelRequested";
    case EventType::kWorkflowDeleted:
      return "WorkflowDeleted";
    case EventType::kStageAdded:
      return "StageAdded";
    case EventType::kStageUpdated:
      return "StageUpdated";
    case EventType::kStageRemoved:
      return "StageRemoved";
    case EventType::kMessageProcessed:
      return "MessageProcessed";
    case EventType::kProcessedMessagesPurged:
      return "ProcessedMessagesPurged";
    case EventType::kClaimAcquired:
      return "ClaimAcquired";
    case EventType::kClaimTransferred:
      return "ClaimTransferred";
    case EventType::kClaimsPurged:
      return "ClaimsPurged";
    case EventType::kMessagePushed:
      return "MessagePushed";
    case EventType::kMessageLeased:
      return "MessageLeased";
    case EventType::kMessageAcked:
      return "MessageAcked";
    case EventType::kMessageRescheduled:
      return "MessageRescheduled";
    case EventType::kMessageLeaseExtended:
      return "MessageLeaseExtended";
    case EventType::kMessageDeadLettered:
      return "MessageDeadLettered";
    case EventType::kDeadLetterReplayed:
      return "DeadLetterReplayed";
    case EventType::kQueueCleared:
      return "QueueCleared";
    case EventType::kDeadLetterQueueCleared:
      return "DeadLetterQueueCleared";
  }
  return "Unknown";
}

}  // namespace wfstore
