// Copying a prefix of a log into a new store's log directory: the commit
// records byte for byte, each segment header rewritten with the new store's
// UUID (docs/formats.md#origin). What fork-and-replay builds a fork's log
// with.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "wfstore/file_system.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log {

struct CopiedLog {
  std::uint64_t segments = 0;
  std::uint64_t commits = 0;
  std::uint64_t events = 0;
  std::uint64_t last_lsn = 0;  // == the requested end LSN
  Hash last_hash{};            // the hash of the last commit copied
  std::uint64_t bytes = 0;     // bytes written (segment files' sizes)
};

// Copies the log in `from_dir` (of store `from_id`) through the commit whose
// last LSN is `end_lsn` into `to_dir` (an existing, empty directory) for store
// `to_id`. Every segment that holds a commit at or below `end_lsn` is copied:
// its header record rewritten with `to_id` (its record checksum recomputed),
// the rest copied unchanged with large reads and writes, the last one cut just
// after the commit that ends at `end_lsn`. The copied commits keep their
// hashes, so the hash chain holds. The source is read through the Reader
// (record checksums, headers, commit hashes and the chain checked) and never
// written; a writer may append to it meanwhile. Each file written is
// fdatasynced, and `to_dir` fsynced.
//
// Throws InvalidArgumentError when no commit of the log ends at `end_lsn` (an
// LSN inside a commit, or 0), CorruptionError (naming segment and offset) for
// damage at or before `end_lsn` or a log that ends before it, IOError.
CopiedLog copy_log_prefix(const std::shared_ptr<FileSystem>& fs,
                          const std::filesystem::path& from_dir,
                          const StoreId& from_id, std::uint64_t end_lsn,
                          const std::filesystem::path& to_dir,
                          const StoreId& to_id);

}  // namespace wfstore::log
