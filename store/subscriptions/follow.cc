// follow_events(), WorkflowStream and the filter: polling the views'
// applied LSN and reading what is new from the log (committed_events.h) or,
// for one workflow, from the history index (History::events).

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/subscriptions.h"

#include "wfstore_internal/committed_events.h"

namespace wfstore {
namespace {

// Events read per batch while following.
constexpr std::size_t kFollowBatch = 1024;

// Checks a poll interval option.
void check_interval(std::chrono::milliseconds interval) {
  if (interval.count() <= 0) {
    throw InvalidArgumentError(fmt::format(
        "poll_interval must be positive (got {} ms)", interval.count()));
  }
}

}  // namespace

bool SubscriptionFilter::matches(const Event& event) const {
  if (workflow_id && event.workflow_id != *workflow_id) return false;
  if (!types.empty() &&
      std::find(types.begin(), types.end(), event.type()) == types.end()) {
    return false;
  }
  if (entity_kinds.empty()) return true;
  for (const EntityRef& entity : event_entities(event.payload)) {
    if (std::find(entity_kinds.begin(), entity_kinds.end(), entity.kind) !=
        entity_kinds.end()) {
      return true;
    }
  }
  return false;
}

bool ends_workflow(const Event& event) {
  return std::visit(
      [](const auto& payload) {
        using T = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<T, WorkflowStatusUpdated> ||
                      std::is_same_v<T, WorkflowStatusSet>) {
          return is_complete(payload.status);
        } else if constexpr (std::is_same_v<T, WorkflowStored>) {
          return is_complete(payload.workflow.status);
        } else {
          return std::is_same_v<T, WorkflowDeleted>;
        }
      },
      event.payload);
}

std::uint64_t follow_events(Database& database, std::uint64_t after_lsn,
                            const std::function<bool(const Event&)>& visit,
                            const std::function<bool()>& stop,
                            std::chrono::milliseconds poll_interval) {
  check_interval(poll_interval);
  std::uint64_t last = after_lsn;
  for (;;) {
    if (stop && stop()) return last;
    CommittedEvents read = read_committed_events(database, last, kFollowBatch);
    for (const Event& event : read.events) {
      last = event.lsn;
      if (!visit(event)) return last;
    }
    if (read.events.empty()) sleep_unless_stopped(poll_interval, stop);
  }
}

WorkflowStream::WorkflowStream(Database& database, std::string workflow_id)
    : database_(database), workflow_id_(std::move(workflow_id)) {}

std::vector<Event> WorkflowStream::replay() const {
  const History history(database_);
  std::vector<Event> out;
  EventQuery query;
  query.workflow_id = workflow_id_;
  for (;;) {
    std::vector<Event> page = history.events(query);
    const bool more = page.size() == query.limit;
    if (!page.empty()) query.from_lsn = page.back().lsn;
    for (Event& event : page) out.push_back(std::move(event));
    if (!more) return out;
  }
}

WorkflowStream::End WorkflowStream::follow(
    const std::function<bool(const Item&)>& visit, bool include_history,
    std::optional<std::chrono::milliseconds> timeout,
    std::chrono::milliseconds poll_interval) const {
  check_interval(poll_interval);
  using SteadyClock = std::chrono::steady_clock;
  // The timeout counts from the last event visited (the reference's: time
  // without new events), or from the start.
  auto last_event = SteadyClock::now();
  const History history(database_);
  // Events up to here are the history; later ones are live.
  const std::uint64_t replay_end = history.current_lsn();
  EventQuery query;
  query.workflow_id = workflow_id_;
  for (;;) {
    const std::vector<Event> page = history.events(query);
    for (const Event& event : page) {
      // Each page starts after the last LSN seen: every event once.
      query.from_lsn = event.lsn;
      const Source source =
          event.lsn <= replay_end ? Source::kReplay : Source::kLive;
      if (source == Source::kLive || include_history) {
        if (!visit(Item{event, source})) return End::kStopped;
        last_event = SteadyClock::now();
      }
      if (ends_workflow(event)) return End::kTerminal;
    }
    if (page.size() == query.limit) continue;
    // In milliseconds, so no timeout or interval can overflow the clock's
    // nanoseconds.
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        SteadyClock::now() - last_event);
    if (timeout && elapsed >= *timeout) return End::kTimeout;
    std::chrono::milliseconds wait = poll_interval;
    if (timeout) wait = std::min(wait, *timeout - elapsed);
    sleep_unless_stopped(wait, {});
  }
}

}  // namespace wfstore
