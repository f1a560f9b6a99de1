// Replay for time travel (docs/history.md): events folded into fresh
// in-memory views with the views' own fold(), then read back with the views'
// own read code (views.h). A workflow's events alone give the workflow as it
// was after them; the queue's events alone give the queue and dead letters.
//
// Thread-safety: a WorkflowReplay is not thread-safe for apply(); concurrent
// const calls are safe. The functions keep no state.

#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/views.h"

namespace wfstore {

// The event types whose folds write the queue's tables (and only those):
// the events queue replay needs.
inline constexpr std::array<EventType, 9> kQueueEventTypes = {
    EventType::kMessagePushed,          EventType::kMessageLeased,
    EventType::kMessageAcked,           EventType::kMessageRescheduled,
    EventType::kMessageLeaseExtended,   EventType::kMessageDeadLettered,
    EventType::kDeadLetterReplayed,     EventType::kQueueCleared,
    EventType::kDeadLetterQueueCleared,
};

// One workflow replayed from its events, one event at a time, so a reader
// can look at it between events.
class WorkflowReplay {
 public:
  explicit WorkflowReplay(std::string workflow_id)
      : workflow_id_(std::move(workflow_id)) {}

  // Folds `event` (an event of this workflow, in LSN order after those
  // applied before) into the views. Throws what fold() throws.
  void apply(const Event& event);

  // The workflow with every stage and task, as load_workflow() reads it, or
  // nullopt when it does not exist after the events applied.
  std::optional<Workflow> workflow() const;
  // The workflow without its stages, or nullopt.
  std::optional<Workflow> summary() const;
  // The stage `stage_id` with its tasks, or nullopt.
  std::optional<StageExecution> stage(std::string_view stage_id) const;

 private:
  std::string workflow_id_;
  MemoryViewStore views_;
};

// The workflow `workflow_id` after `events` (its events, in LSN order), or
// nullopt when it does not exist after them. Throws what fold() throws.
std::optional<Workflow> replay_workflow(const std::vector<Event>& events,
                                        std::string_view workflow_id);

// The queue after a log's queue events (kQueueEventTypes, in LSN order):
// queued deliveries and dead letters, each by delivery id ascending.
struct ReplayedQueue {
  std::vector<QueuedMessage> queued;
  std::vector<StoredDeadLetter> dead_letters;
};
ReplayedQueue replay_queue(const std::vector<Event>& events);

}  // namespace wfstore
