// The projections fed by History queries (wfstore/history_projections.h).

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/history_projections.h"

namespace wfstore {
namespace {

constexpr std::size_t kPageSize = 4096;

// The end of what a call reads: `to_lsn` checked against the views, or the
// views' current LSN.
std::uint64_t end_lsn(const History& history,
                      const std::optional<std::uint64_t>& to_lsn) {
  const std::uint64_t current = history.current_lsn();
  if (!to_lsn) return current;
  if (*to_lsn > current) {
    throw InvalidArgumentError(fmt::format(
        "to_lsn: {} is beyond the end of the store (its last LSN is {})",
        *to_lsn, current));
  }
  return *to_lsn;
}

}  // namespace

std::uint64_t for_each_history_event(
    const History& history, EventQuery query,
    const std::function<bool(const Event& event)>& visit) {
  const std::uint64_t current = history.current_lsn();
  query.to_lsn = query.to_lsn ? std::min(*query.to_lsn, current) : current;
  query.offset = 0;
  query.order = EventOrder::kLsn;
  query.ascending = true;
  if (query.limit == 0) query.limit = kPageSize;
  std::uint64_t visited = 0;
  if (*query.to_lsn == 0 ||
      (query.from_lsn && *query.from_lsn >= *query.to_lsn)) {
    return visited;
  }
  while (true) {
    const std::vector<Event> page = history.events(query);
    for (const Event& event : page) {
      ++visited;
      if (!visit(event)) return visited;
    }
    if (page.size() < query.limit || page.back().lsn >= *query.to_lsn) {
      return visited;
    }
    query.from_lsn = page.back().lsn;
  }
}

WorkflowTimeline workflow_timeline(const History& history,
                                   std::string_view workflow_id,
                                   std::optional<std::uint64_t> to_lsn) {
  EventQuery query;
  query.workflow_id = std::string(workflow_id);
  query.to_lsn = end_lsn(history, to_lsn);
  query.limit = kPageSize;
  WorkflowTimelineProjection projection{std::string(workflow_id)};
  const std::uint64_t events =
      for_each_history_event(history, query, [&](const Event& event) {
        projection.apply(event);
        return true;
      });
  if (events == 0) throw WorkflowNotFoundError(std::string(workflow_id));
  return projection.state();
}

const std::vector<EventType>& metrics_event_types() {
  static const std::vector<EventType> kTypes = {
      EventType::kWorkflowStored,      EventType::kWorkflowDeleted,
      EventType::kStageAdded,          EventType::kStageUpdated,
      EventType::kStageRemoved,        EventType::kMessagePushed,
      EventType::kMessageLeased,       EventType::kMessageAcked,
      EventType::kMessageDeadLettered, EventType::kDeadLetterReplayed,
  };
  return kTypes;
}

StageMetricsProjection stage_metrics(const History& history,
                                     const MetricsQuery& metrics) {
  EventQuery query;
  query.workflow_id = metrics.workflow_id;
  query.types = metrics_event_types();
  query.to_lsn = end_lsn(history, metrics.to_lsn);
  query.limit = kPageSize;
  StageMetricsProjection projection;
  const std::uint64_t events =
      for_each_history_event(history, query, [&](const Event& event) {
        projection.apply(event);
        return true;
      });
  if (events == 0 && metrics.workflow_id) {
    throw WorkflowNotFoundError(*metrics.workflow_id);
  }
  return projection;
}

}  // namespace wfstore
