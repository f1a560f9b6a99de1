// rebuild_store_views and verify_store_views: the store directory, its lock
// and VIEWS_STATE around the projector's rebuild and verify of the views.

#include "wfstore/maintenance.h"

#include <chrono>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "store/commit_pipeline.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

// A read replica has no log to rebuild or verify its views from.
InvalidArgumentError replica_without_log(const std::filesystem::path& dir) {
  return InvalidArgumentError(fmt::format(
      "{} is a read replica: it has no log to rebuild or verify its views "
      "from (replicate it again into an empty directory instead)",
      dir.string()));
}

}  // namespace

RebuildReport rebuild_store_views(const std::filesystem::path& dir,
                                  const Logger& logger) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, true);
  if (store.is_replica()) throw replica_without_log(dir);
  const std::optional<ViewsState> prior = store.read_views_state();
  const std::string boot_id = current_boot_id();
  // The views' durable LSN counts only where their pages can be trusted.
  std::optional<std::uint64_t> views_durable;
  if (!prior || prior->clean || prior->boot_id == boot_id) {
    try {
      if (const auto meta = LmdbViews::read_meta_unlocked(store.views_dir())) {
        if (auto it = meta->find(std::string(kMetaDurableLsn));
            it != meta->end()) {
          views_durable = keys::decode_u64(it->second);
        }
      }
    } catch (const CorruptionError& e) {
      // Damaged views are what a rebuild replaces; VIEWS_STATE's durable LSN
      // still guards the log.
      if (logger) {
        logger(LogLevel::kWarning,
               fmt::format("{}: the views' durable lsn is unreadable: {}",
                           dir.string(), e.what()));
      }
    }
  }
  const std::unique_ptr<log::Writer> writer =
      open_log_checked(store, fs, logger, prior, views_durable);
  const std::uint64_t durable = writer->durable_lsn();
  // The rebuild writes only to views.rebuild/ until the swap, so VIEWS_STATE
  // changes only after it.
  const FoldProgress progress = rebuild_views_swapped(
      store, LmdbViewsOptions{},
      [&](LmdbViews::WriteTxn& txn, const FoldProgress&) {
        write_clean_close(txn, true);
        txn.put(Table::kMeta, kMetaDurableLsn, keys::encode_u64(durable));
      });
  store.write_views_state(ViewsState{true, boot_id, durable});
  writer->close();
  RebuildReport report;
  report.applied_lsn = progress.applied_lsn;
  report.events = progress.events;
  report.checksum = to_hex(progress.checksum);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return report;
}

ViewsVerifyReport verify_store_views(const std::filesystem::path& dir) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, false);
  if (store.is_replica()) throw replica_without_log(dir);
  if (!LmdbViews::has_environment(store.views_dir())) {
    throw CorruptionError(
        fmt::format("{}: the store has no views", dir.string()));
  }
  LmdbViewsOptions options;
  options.read_only = true;
  const std::unique_ptr<LmdbViews> views =
      LmdbViews::open(store.views_dir(), options);
  const LmdbViews::Snapshot snapshot = views->begin_read();
  const ViewsVerification verification =
      verify_views(snapshot, fs, store.log_dir(), store.id(), dir.string());
  ViewsVerifyReport report;
  report.applied_lsn = verification.applied_lsn;
  report.checksum = to_hex(verification.checksum);
  report.rebuilt_checksum = to_hex(verification.rebuilt_checksum);
  report.differences = verification.differences;
  return report;
}

}  // namespace wfstore
