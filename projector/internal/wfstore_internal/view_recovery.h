// Bringing the views up to the log: folding the log's commits after a given LSN
// into a view store (catch-up, rebuild), comparing views with a fold of the
// log (verify), and the bookkeeping records in meta. projector/recovery/ holds
// it; the store's open and maintenance.h call it.
//
// Thread-safety: functions keep no state; the caller owns the views
// exclusively.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

// Where a fold of the log ended.
struct FoldProgress {
  std::uint64_t applied_lsn = 0;
  ViewChecksum checksum{};
  std::int64_t last_timestamp_ms = 0;
  std::uint64_t events = 0;
};

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

// Rebuilds the views of `store` without ever exposing half-built ones: folds
// the whole log into a fresh environment in store.views_rebuild_dir()
// (leftovers there are removed first), writes the schema version and calls
// `finish` in a last transaction (for bookkeeping meta), flushes and closes it,
// fsyncs it, and swaps it in place of store.views_dir() with one atomic
// renameat2(RENAME_EXCHANGE) (where the file system lacks it: views_dir() to
// views.old, then the new one to views_dir()), fsyncs the store directory and
// removes the old views. A crash at any step leaves views_dir() either the old
// views, the new ones, or missing (the next writer open then rebuilds), plus
// leftovers that remove_rebuild_leftovers() clears. REQUIRES: the caller holds
// the LOCK and no LmdbViews of views_dir() is open in this process. Throws
// CorruptionError (damage in the log), IOError.
FoldProgress rebuild_views_swapped(
    const StoreDir& store, const LmdbViewsOptions& options,
    const std::function<void(LmdbViews::WriteTxn&, const FoldProgress&)>&
        finish);

// Removes what an interrupted rebuild left: views.rebuild/ and views.old/.
// REQUIRES: the LOCK. Throws IOError.
void remove_rebuild_leftovers(const StoreDir& store);

// Removes the views' files (views_dir() and everything in it) and fsyncs the
// store directory. REQUIRES: the LOCK; no LmdbViews of them open in this
// process. Throws IOError.
void remove_views(const StoreDir& store);

// Test hooks for rebuild_views_swapped: `at_step` is called with "built" (the
// fresh views are flushed and closed), "swapped" (after the swap, before the
// old views are removed) and, without the exchange, "moved-old" (between the
// two renames); `no_exchange` forces the two-rename swap. Empty restores.
struct RebuildHooks {
  std::function<void(std::string_view step)> at_step;
  bool no_exchange = false;
};
void set_rebuild_hooks_for_testing(RebuildHooks hooks);

// Makes every log open_log_checked opens in this process roll its segments
// past `bytes` (log::WriterOptions::roll_bytes; 0 restores the default), so
// that a test crosses segments without writing 64 MiB.
void set_log_roll_bytes_for_testing(std::uint64_t bytes);

// Opens the log of `store` for appending, refusing to repair it below what is
// known to be durable: the durable LSN recorded in `state` (VIEWS_STATE) and,
// when `views_durable_lsn` is set, the views' durable LSN. A log that would
// end below either is CorruptionError ("the log ends at lsn N below the
// views' durable lsn M: acknowledged commits were lost") and no file is
// changed. `mapped_writes`: log::WriterOptions::mapped_writes. Throws as
// log::Writer::open.
std::unique_ptr<log::Writer> open_log_checked(
    const StoreDir& store, const std::shared_ptr<FileSystem>& fs,
    const Logger& logger, const std::optional<ViewsState>& state,
    std::optional<std::uint64_t> views_durable_lsn, bool mapped_writes = false);

// What verify_views found.
struct ViewsVerification {
  // The views' applied LSN and checksum.
  std::uint64_t applied_lsn = 0;
  ViewChecksum checksum{};
  // The checksum of the log folded into memory up to applied_lsn.
  ViewChecksum rebuilt_checksum{};
  // One line per table whose contents differ (meta: only the keys fold()
  // writes that a copy does not keep for itself), after a schema mismatch.
  std::vector<std::string> differences;
};

// Folds the log in `log_dir` up to `views`' applied LSN into memory and
// compares every table with `views`. `name` names the store in messages.
// Throws CorruptionError when the log ends before the applied LSN or is
// damaged, IOError.
ViewsVerification verify_views(const ViewReader& views,
                               std::shared_ptr<FileSystem> fs,
                               const std::filesystem::path& log_dir,
                               const StoreId& store_id, std::string_view name);

// The progress recorded in `views`' meta.
FoldProgress read_progress(const ViewReader& views);

// Why `views` are not of this build's kViewSchemaVersion ("view schema
// version 1 differs from this build's 2", or "the views have no schema
// version" when they hold folded events), or empty when they are (or are
// empty). Throws CorruptionError for a malformed meta value.
std::string schema_mismatch(const ViewReader& views);

}  // namespace wfstore
