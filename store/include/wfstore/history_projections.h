// The reference's projections (wfstore/projections.h) built from a store's
// history (docs/projections.md): a workflow's timeline from its own events,
// the stage metrics from the events that feed them. Both are History queries
// served from the history indexes, so a timeline costs the workflow's own
// events, not the log's size.
//
// Lifetime and thread-safety: as History (`history`'s Database must stay
// open during the call; calls may run concurrently, also beside a writer in
// another process).

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/projections.h"

namespace wfstore {

// Calls `visit` with every event `query` selects, in LSN order, page by page
// (`query.limit` is the page size; its offset and order are ignored), up to
// the LSN the views held when the call began, until `visit` returns false.
// Returns how many events were visited. Throws as History::events() and
// what `visit` throws.
std::uint64_t for_each_history_event(
    const History& history, EventQuery query,
    const std::function<bool(const Event& event)>& visit);

// The timeline of workflow `workflow_id` from its events up to `to_lsn`
// (default: all). Throws WorkflowNotFoundError when the store holds no event
// of it (up to `to_lsn`), InvalidArgumentError for an id that is not a valid
// key or a `to_lsn` beyond history.current_lsn(), and as History::events().
WorkflowTimeline workflow_timeline(
    const History& history, std::string_view workflow_id,
    std::optional<std::uint64_t> to_lsn = std::nullopt);

// What stage_metrics() covers.
struct MetricsQuery {
  // One workflow's events only; unset: every workflow's.
  std::optional<std::string> workflow_id;
  // Events up to this LSN; unset: all.
  std::optional<std::uint64_t> to_lsn;
};

// The event types the stage metrics read: workflows and stages stored,
// updated, removed and deleted (statuses, names, types, tasks), and the queue
// events that show retries and dead letters (pushes, leases, acks, dead
// letters, replays).
const std::vector<EventType>& metrics_event_types();

// The stage metrics over the events of `metrics_event_types()` that `query`
// selects, applied in LSN order. Throws WorkflowNotFoundError when
// `query.workflow_id` names a workflow with no events; otherwise as
// workflow_timeline().
StageMetricsProjection stage_metrics(const History& history,
                                     const MetricsQuery& query = {});

}  // namespace wfstore
