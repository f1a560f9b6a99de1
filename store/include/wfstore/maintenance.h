// Offline maintenance of a store's views: rebuilding them from the log, and
// checking that they equal a rebuild (the `wfstore rebuild` and `wfstore
// verify` subcommands).
//
// Thread-safety: each function opens the store itself; call them from any
// thread.

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wfstore/logger.h"

namespace wfstore {

struct RebuildReport {
  std::uint64_t applied_lsn = 0;  // the log's last LSN, now the views'
  std::uint64_t events = 0;       // events folded
  std::string checksum;           // the views' checksum, lowercase hex
  double seconds = 0;
};

// Drops the views of the store in `dir` and folds its whole log into them
// again. Takes the writer's LOCK (recovering the log's tail like an open).
// Throws StoreLockedError, CorruptionError, IOError, InvalidArgumentError (not
// a store, or a read replica).
RebuildReport rebuild_store_views(const std::filesystem::path& dir,
                                  const Logger& logger = {});

struct ViewsVerifyReport {
  std::uint64_t applied_lsn = 0;  // the views' LSN; the rebuild stopped there
  std::string checksum;           // the views' stored checksum, lowercase hex
  std::string rebuilt_checksum;   // the rebuild's checksum, lowercase hex
  // First, when the views are of another schema version than this build's,
  // why ("view schema version 1 differs from this build's 2"); then one line
  // per table that differs ("table 'stages': 3 keys differ, first ...").
  // Empty when the views equal the rebuild.
  std::vector<std::string> differences;
  bool equal() const {
    return differences.empty() && checksum == rebuilt_checksum;
  }
};

// Folds the log of the store in `dir` up to the views' applied LSN into memory
// and compares the ordered dump of every table and the checksum with the stored
// views. Never writes and takes no lock (a live writer may go on). Throws
// CorruptionError (damaged log or views), IOError, InvalidArgumentError (not a
// store, or a read replica).
ViewsVerifyReport verify_store_views(const std::filesystem::path& dir);

}  // namespace wfstore
