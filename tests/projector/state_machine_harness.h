// A small harness for the state machine's tests: apply(command) decides the
// command against a MemoryViewStore, assigns LSNs and folds the events, the
// way the store's writer does; dumps of every table compare whole views.

#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/event.h"

#include "wfstore_internal/commands.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::testutil {

using TableDump = std::vector<std::pair<std::string, std::string>>;

// Ordered dumps of every table, meta included.
inline std::vector<TableDump> dump_all(const ViewReader& views) {
  std::vector<TableDump> dumps;
  for (Table table : kAllTables) dumps.push_back(dump_table(views, table));
  return dumps;
}

// Whether `table` is one of the history indexes (the events recorded, by
// entity, type, commit, audit field and count) rather than state.
inline bool is_history_index(Table table) {
  return table == Table::kWorkflowEvents ||
         (table >= Table::kEntityEvents && table <= Table::kEventCounts);
}

// Ordered dumps of every state table (meta included, history indexes left
// out): what an event that changes nothing leaves as it was.
inline std::vector<TableDump> dump_state(const ViewReader& views) {
  std::vector<TableDump> dumps;
  for (Table table : kAllTables) {
    if (!is_history_index(table)) dumps.push_back(dump_table(views, table));
  }
  return dumps;
}

// Envelopes for `payloads` starting at `first_lsn`, as the writer makes them.
inline std::vector<Event> make_events(std::vector<EventPayload> payloads,
                                      std::uint64_t first_lsn,
                                      std::int64_t now_ms) {
  std::vector<Event> events;
  for (EventPayload& payload : payloads) {
    Event event;
    event.lsn = first_lsn + events.size();
    event.commit_id = first_lsn;
    event.timestamp_ms = now_ms;
    event.workflow_id = event_workflow_id(payload);
    event.payload = std::move(payload);
    events.push_back(std::move(event));
  }
  return events;
}

class Harness {
 public:
  // decide + assign LSNs + fold; returns the decision (events included).
  Decision apply(const Command& command) {
    Decision decision = decide(command, views, DecideContext{now_ms});
    std::vector<Event> events = make_events(decision.events, next_lsn, now_ms);
    next_lsn += events.size();
    fold_events(events, views);
    log.insert(log.end(), events.begin(), events.end());
    return decision;
  }

  MemoryViewStore views;
  std::vector<Event> log;
  std::uint64_t next_lsn = 1;
  std::int64_t now_ms = 1'000'000;
};

}  // namespace wfstore::testutil
