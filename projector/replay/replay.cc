// Replay: fold() into a MemoryViewStore, read back through views.h.

#include "wfstore_internal/replay.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "wfstore_internal/fold.h"
#include "wfstore_internal/keys.h"

namespace wfstore {

void WorkflowReplay::apply(const Event& event) { fold(event, views_); }

std::optional<Workflow> WorkflowReplay::workflow() const {
  return load_workflow(views_, workflow_id_, /*with_stages=*/true);
}

std::optional<Workflow> WorkflowReplay::summary() const {
  return load_workflow(views_, workflow_id_, /*with_stages=*/false);
}

std::optional<StageExecution> WorkflowReplay::stage(
    std::string_view stage_id) const {
  return load_stage(views_, stage_id);
}

std::optional<Workflow> replay_workflow(const std::vector<Event>& events,
                                        std::string_view workflow_id) {
  WorkflowReplay replay{std::string(workflow_id)};
  for (const Event& event : events) replay.apply(event);
  return replay.workflow();
}

ReplayedQueue replay_queue(const std::vector<Event>& events) {
  MemoryViewStore views;
  for (const Event& event : events) fold(event, views);
  ReplayedQueue queue;
  std::vector<std::uint64_t> deliveries;
  views.scan(Table::kQueueMessages, "", "",
             [&](std::string_view key, std::string_view) {
               deliveries.push_back(keys::decode_u64(key));
               return true;
             });
  queue.queued.reserve(deliveries.size());
  for (std::uint64_t delivery : deliveries) {
    queue.queued.push_back(*find_queued_message(views, delivery));
  }
  queue.dead_letters = list_dead_letters(
      views, std::numeric_limits<std::size_t>::max(), std::nullopt);
  std::sort(queue.dead_letters.begin(), queue.dead_letters.end(),
            [](const StoredDeadLetter& a, const StoredDeadLetter& b) {
              return a.id < b.id;
            });
  return queue;
}

}  // namespace wfstore
