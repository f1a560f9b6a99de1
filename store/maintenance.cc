// rebuild_store_views and verify_store_views.

#include "wfstore/maintenance.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "store/commit_pipeline.h"
#include "store/view_recovery.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/state_machine.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// Meta keys that are a function of the log alone (the rest is bookkeeping of
// one copy).
constexpr std::string_view kFoldedMetaKeys[] = {
    kMetaAppliedLsn, kMetaNextDeliveryId, keys::kMetaNextId};

std::vector<std::pair<std::string, std::string>> comparable_dump(
    const ViewReader& views, Table table) {
  if (table != Table::kMeta) return dump_table(views, table);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view key : kFoldedMetaKeys) {
    if (std::optional<std::string> value = views.get(Table::kMeta, key)) {
      out.emplace_back(std::string(key), std::move(*value));
    }
  }
  return out;
}

std::string describe_difference(
    Table table, const std::vector<std::pair<std::string, std::string>>& views,
    const std::vector<std::pair<std::string, std::string>>& rebuilt) {
  std::map<std::string, std::string> a(views.begin(), views.end());
  std::map<std::string, std::string> b(rebuilt.begin(), rebuilt.end());
  std::size_t differ = 0;
  std::string first;
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (it == b.end() || it->second != value) {
      if (first.empty()) {
        first = fmt::format(
            "key {} {}", keys::hex(key),
            it == b.end() ? "missing from the rebuild" : "has another value");
      }
      ++differ;
    }
  }
  for (const auto& [key, value] : b) {
    if (a.find(key) == a.end()) {
      if (first.empty())
        first = fmt::format("key {} missing from the views", keys::hex(key));
      ++differ;
    }
  }
  return fmt::format("table '{}': {} keys differ, first {}", table_name(table),
                     differ, first);
}

}  // namespace

RebuildReport rebuild_store_views(const std::filesystem::path& dir,
                                  const Logger& logger) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, true);
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
        txn.put(Table::kMeta, kMetaCleanClose, keys::encode_u64(1));
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
  if (!LmdbViews::has_environment(store.views_dir())) {
    throw CorruptionError(
        fmt::format("{}: the store has no views", dir.string()));
  }
  LmdbViewsOptions options;
  options.read_only = true;
  const std::unique_ptr<LmdbViews> views =
      LmdbViews::open(store.views_dir(), options);
  const LmdbViews::Snapshot snapshot = views->begin_read();
  ViewsVerifyReport report;
  report.applied_lsn = applied_lsn(snapshot);
  report.checksum = to_hex(read_checksum(snapshot));
  if (std::string mismatch = schema_mismatch(snapshot); !mismatch.empty()) {
    report.differences.push_back(mismatch);
  }
  MemoryViewStore rebuilt;
  const FoldProgress progress =
      fold_log_into(rebuilt, fs, store.log_dir(), store.id(), FoldProgress{},
                    report.applied_lsn);
  if (progress.applied_lsn != report.applied_lsn) {
    throw CorruptionError(
        fmt::format("{}: the views are at lsn {} but the log ends at lsn {}",
                    dir.string(), report.applied_lsn, progress.applied_lsn));
  }
  report.rebuilt_checksum = to_hex(progress.checksum);
  for (Table table : kAllTables) {
    const auto a = comparable_dump(snapshot, table);
    const auto b = comparable_dump(rebuilt, table);
    if (a != b) report.differences.push_back(describe_difference(table, a, b));
  }
  return report;
}

}  // namespace wfstore
