// Reading a store's committed events by LSN range for subscribers: the
// views say how far the store has committed (their applied LSN, which a
// read-only open sees advance as the writer process commits), the log holds
// the events (read forward through LogCursor, one commit decoded at a time).

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/event.h"

namespace wfstore {

struct CommittedEvents {
  // The events (after, min(after + max, current_lsn)], in LSN order.
  std::vector<Event> events;
  // The views' applied LSN when they were read.
  std::uint64_t current_lsn = 0;
};

// Reads at most `max` events after `after` from one views snapshot, released
// before returning (so the caller may commit). Throws InvalidArgumentError
// when `after` is beyond the current LSN, IOError for a closed or failed
// store, CorruptionError for a log that lacks what the views hold.
CommittedEvents read_committed_events(Database& database, std::uint64_t after,
                                      std::size_t max);

// Sleeps `interval` (> 0) in slices of at most a few milliseconds, returning
// early once `stop` (may be empty) returns true, so a long poll interval
// never delays a stop; never overflows for any interval.
void sleep_unless_stopped(std::chrono::milliseconds interval,
                          const std::function<bool()>& stop);

}  // namespace wfstore
