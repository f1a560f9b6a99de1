// Verify of the views: a fold of the log into memory compared with them.

#include <map>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/view_recovery.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// Meta keys that are a function of the log alone (the rest is bookkeeping of
// one copy).
constexpr std::string_view kFoldedMetaKeys[] = {
    kMetaAppliedLsn, kMetaNextDeliveryId, kMetaNextId};

std::vector<std::pair<std::string, std::string>> comparable_dump(
    const ViewReader& views, Table table) {
  std::vector<std::pair<std::string, std::string>> out;
  if (table == Table::kLogPositions) return out;  // this copy's bookkeeping
  if (table != Table::kMeta) return dump_table(views, table);
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

ViewsVerification verify_views(const ViewReader& views,
                               std::shared_ptr<FileSystem> fs,
                               const std::filesystem::path& log_dir,
                               const StoreId& store_id, std::string_view name) {
  ViewsVerification report;
  report.applied_lsn = applied_lsn(views);
  report.checksum = read_checksum(views);
  if (std::string mismatch = schema_mismatch(views); !mismatch.empty()) {
    report.differences.push_back(mismatch);
  }
  MemoryViewStore rebuilt;
  const FoldProgress progress =
      fold_log_into(rebuilt, std::move(fs), log_dir, store_id, FoldProgress{},
                    report.applied_lsn);
  if (progress.applied_lsn != report.applied_lsn) {
    throw CorruptionError(
        fmt::format("{}: the views are at lsn {} but the log ends at lsn {}",
                    name, report.applied_lsn, progress.applied_lsn));
  }
  report.rebuilt_checksum = progress.checksum;
  for (Table table : kAllTables) {
    const auto a = comparable_dump(views, table);
    const auto b = comparable_dump(rebuilt, table);
    if (a != b) report.differences.push_back(describe_difference(table, a, b));
  }
  return report;
}

}  // namespace wfstore
