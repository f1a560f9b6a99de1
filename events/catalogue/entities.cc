// The entities an event touches (event_entities) and the names of entity
// kinds: what the views' entity index is keyed by and what an entity query
// checks a decoded event against.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wfstore/event.h"

namespace wfstore {
namespace {

// Collects entity references in order, without repeats.
class Entities {
 public:
  void add(EntityKind kind, const std::string& id) {
    for (const EntityRef& ref : refs_) {
      if (ref.kind == kind && ref.id == id) return;
    }
    refs_.push_back(EntityRef{kind, id});
  }
  void workflow(const std::string& id) {
    if (!id.empty()) add(EntityKind::kWorkflow, id);
  }
  void stage(const std::string& id) { add(EntityKind::kStage, id); }
  void task(const std::string& id) { add(EntityKind::kTask, id); }
  void delivery(std::uint64_t id) {
    add(EntityKind::kDelivery, std::to_string(id));
  }
  // The stage, then its tasks in order.
  void stage_with_tasks(const StageExecution& stage) {
    add(EntityKind::kStage, stage.id);
    for (const TaskExecution& task : stage.tasks) this->task(task.id);
  }
  std::vector<EntityRef> take() { return std::move(refs_); }

 private:
  std::vector<EntityRef> refs_;
};

// False for every type: a static_assert that fires only where instantiated.
template <typename>
struct Undecided : std::false_type {};

template <typename T, typename... Ts>
constexpr bool kIsOneOf = (std::is_same_v<T, Ts> || ...);

}  // namespace

std::string_view entity_kind_name(EntityKind kind) {
  switch (kind) {
    case EntityKind::kWorkflow:
      return "workflow";
    case EntityKind::kStage:
      return "stage";
    case EntityKind::kTask:
      return "task";
    case EntityKind::kDelivery:
      return "delivery";
  }
  return "unknown";
}

std::optional<EntityKind> find_entity_kind(std::string_view name) {
  for (EntityKind kind : {EntityKind::kWorkflow, EntityKind::kStage,
                          EntityKind::kTask, EntityKind::kDelivery}) {
    if (entity_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

// Names every payload type, so a new one is a compile error until decided.
std::vector<EntityRef> event_entities(const EventPayload& payload) {
  Entities out;
  std::visit(
      [&out](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, WorkflowStored>) {
          out.workflow(p.workflow.id);
          for (const StageExecution& stage : p.workflow.stages) {
            out.stage_with_tasks(stage);
          }
        } else if constexpr (std::is_same_v<P, StageAdded>) {
          out.workflow(p.stage.execution_id);
          out.stage_with_tasks(p.stage);
        } else if constexpr (std::is_same_v<P, StageUpdated>) {
          out.workflow(p.execution_id);
          out.stage(p.stage_id);
          for (const TaskExecution& task : p.tasks) out.task(task.id);
        } else if constexpr (kIsOneOf<P, StageRemoved, ClaimAcquired>) {
          out.workflow(p.execution_id);
          out.stage(p.stage_id);
        } else if constexpr (std::is_same_v<P, ClaimTransferred>) {
          out.workflow(p.execution_id);
          out.stage(p.from_stage_id);
          out.stage(p.to_stage_id);
        } else if constexpr (std::is_same_v<P, MessageProcessed>) {
          if (p.execution_id) out.workflow(*p.execution_id);
        } else if constexpr (kIsOneOf<P, WorkflowStatusUpdated,
                                      WorkflowStatusSet, WorkflowPaused,
                                      WorkflowResumed, WorkflowCancelRequested,
                                      WorkflowDeleted>) {
          out.workflow(p.workflow_id);
        } else if constexpr (kIsOneOf<P, MessagePushed, MessageLeased,
                                      MessageAcked, MessageRescheduled,
                                      MessageLeaseExtended,
                                      MessageDeadLettered>) {
          out.workflow(p.execution_id);
          out.delivery(p.delivery_id);
        } else if constexpr (std::is_same_v<P, DeadLetterReplayed>) {
          out.workflow(p.execution_id);
          out.delivery(p.delivery_id);
          out.delivery(p.new_delivery_id);
        } else if constexpr (kIsOneOf<P, ProcessedMessagesPurged, ClaimsPurged,
                                      QueueCleared, DeadLetterQueueCleared>) {
          // A purge or a clear names no single entity.
        } else {
          static_assert(Undecided<P>::value,
                        "event_entities: decide this event type's entities");
        }
      },
      payload);
  return out.take();
}

}  // namespace wfstore
