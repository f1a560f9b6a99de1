// Reading a store's committed events by LSN range for subscribers and the
// Kafka exporter: the views say how far the store has committed (their
// applied LSN, which a read-only open sees advance as the writer process
// commits), the log holds the events (read forward through LogCursor, one
// commit decoded at a time).

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"

#include "wfstore_internal/log_format.h"

namespace wfstore {

struct CommittedEvents {
  // The events (after, min(after + max, current_lsn)], in LSN order.
  std::vector<Event> events;
  // With `with_commit_hashes`: the hash of each event's commit record, one
  // per event; otherwise empty.
  std::vector<log::Hash> commit_hashes;
  // With `with_commit_hashes`: the last LSN of each event's commit, one per
  // event; otherwise empty.
  std::vector<std::uint64_t> commit_last_lsns;
  // The views' applied LSN when they were read.
  std::uint64_t current_lsn = 0;
};

// Reads at most `max` events after `after` from one views snapshot, released
// before returning (so the caller may commit). Throws InvalidArgumentError
// when `after` is beyond the current LSN, IOError for a closed or failed
// store, CorruptionError for a log that lacks what the views hold.
CommittedEvents read_committed_events(Database& database, std::uint64_t after,
                                      std::size_t max,
                                      bool with_commit_hashes = false);

struct CommittedCommits {
  // The commit records holding the events (after, min(after + max,
  // current_lsn)], in LSN order, undecoded: the first may start before
  // after + 1 and the last end beyond the range.
  std::vector<log::Commit> commits;
  // The views' applied LSN when they were read.
  std::uint64_t current_lsn = 0;
};

// read_committed_events without decoding: the commits as the log stores them
// (read forward, one after the other). Throws as read_committed_events does,
// except that a commit body is not decoded, so its damage is not seen here.
CommittedCommits read_committed_commits(Database& database, std::uint64_t after,
                                        std::size_t max);

// Makes the log durable up to `lsn` at least (an LSN read_committed_events
// returned), so that what a checkpoint or an export names survives a machine
// crash: a writer open fdatasyncs its log (up to the views' applied LSN)
// unless it is there already; a read-only open, whose writer may be a
// buffered one in another process, fdatasyncs the log segment that holds
// the views' applied LSN unless the views say the writer made `lsn` durable
// (every earlier segment was synced when the writer sealed it), and then
// needs no sync up to that LSN (a catch-up in many batches syncs once).
// Does nothing for a read replica (no log) or `lsn` 0. Thread-safe. Throws
// IOError.
void make_log_durable(Database& database, std::uint64_t lsn);

// Where an open store lives, for the files a module keeps beside the store
// (subscription checkpoints, export positions).
struct StoreFiles {
  std::filesystem::path dir;
  std::shared_ptr<FileSystem> fs;
  std::string store_id;  // StoreId::to_string()
  bool read_only = false;
};
StoreFiles store_files(Database& database);

// Sleeps `interval` (> 0) in slices of at most a few milliseconds, returning
// early once `stop` (may be empty) returns true, so a long poll interval
// never delays a stop; never overflows for any interval.
void sleep_unless_stopped(std::chrono::milliseconds interval,
                          const std::function<bool()>& stop);

}  // namespace wfstore
