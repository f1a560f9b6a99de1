// Bringing the views up to the log: folding the log's commits after a given LSN
// into a view store (catch-up, rebuild), and the bookkeeping records in meta.
//
// Thread-safety: functions keep no state; the caller owns the views
// exclusively.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

// Where a fold of the log ended.
struct FoldProgress {
  std::uint64_t applied_lsn = 0;
  ViewChecksum checksum{};
  std::int64_t last_timestamp_ms = 0;
  std::uint64_t events = 0;
};

// The u64 (or i64) stored under `key` in meta, or nullopt. Throws
// CorruptionError for a value of the wrong size.
std::optional<std::uint64_t> meta_u64(const ViewReader& views,
                                      std::string_view key);
std::optional<std::int64_t> meta_i64(const ViewReader& views,
                                     std::string_view key);

// Folds every commit of the log in `log_dir` whose LSNs lie after
// `start.applied_lsn` (and at most `up_to_lsn` when non-zero) into `views`,
// continuing `start`'s checksum, writing applied LSN and checksum to meta as it
// goes. Throws CorruptionError for damage in the log, a commit that straddles
// start.applied_lsn or a gap; IOError.
FoldProgress fold_log_into(ViewStore& views, std::shared_ptr<FileSystem> fs,
                           const std::filesystem::path& log_dir,
                           const StoreId& store_id, FoldProgress start,
                           std::uint64_t up_to_lsn = 0);

// The same into LMDB, committing every few thousand events.
FoldProgress fold_log_into(LmdbViews& views, std::shared_ptr<FileSystem> fs,
                           const std::filesystem::path& log_dir,
                           const StoreId& store_id, FoldProgress start);

// Empties the views and folds the whole log into them, writing the schema
// version.
FoldProgress rebuild_views(LmdbViews& views, std::shared_ptr<FileSystem> fs,
                           const std::filesystem::path& log_dir,
                           const StoreId& store_id);

// The progress recorded in `views`' meta.
FoldProgress read_progress(const ViewReader& views);

// Why `views` are not of this build's kViewSchemaVersion ("view schema
// version 1 differs from this build's 2", or "the views have no schema
// version" when they hold folded events), or empty when they are (or are
// empty). Throws CorruptionError for a malformed meta value.
std::string schema_mismatch(const ViewReader& views);

}  // namespace wfstore
