// summarize_store: a store at a glance (`wfstore stats`). Table sizes, the
// applied and durable LSNs and the checksum come from one views snapshot; the
// events per type from the history's counts; the log's size from its segment
// files.

#include <memory>
#include <variant>

#include "wfstore/database.h"
#include "wfstore/file_system.h"
#include "wfstore/history.h"

#include "store/database_impl.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/view_meta.h"

namespace wfstore {
namespace {

// Every event type of the catalogue, in type order.
template <std::size_t... I>
std::vector<EventType> catalogue_types(std::index_sequence<I...>) {
  return {std::variant_alternative_t<I, EventPayload>::kType...};
}

}  // namespace

StoreSummary summarize_store(Database& database) {
  Database::Impl& impl = database_impl(database);
  StoreSummary summary;
  summary.store_id = store_id(database);
  summary.origin = fork_origin(database);
  {
    LmdbViews& views = impl.views();
    const LmdbViews::Snapshot snapshot = views.begin_read();
    for (Table table : kAllTables) {
      summary.tables.emplace_back(table_name(table), snapshot.entries(table));
    }
    summary.workflows = snapshot.entries(Table::kWorkflows);
    summary.applied_lsn = meta_u64(snapshot, kMetaAppliedLsn).value_or(0);
    summary.durable_lsn = meta_u64(snapshot, kMetaDurableLsn).value_or(0);
    summary.view_checksum = to_hex(read_checksum(snapshot));
    summary.map_bytes = views.map_size();
    summary.map_used_bytes = views.used_size();
  }
  summary.events = summary.applied_lsn;
  const History history(database);
  const std::vector<EventType> types = catalogue_types(
      std::make_index_sequence<std::variant_size_v<EventPayload>>());
  for (EventType type : types) {
    if (summary.applied_lsn == 0) break;  // an empty store
    EventQuery query;
    query.types = {type};
    query.to_lsn = summary.applied_lsn;
    const std::uint64_t n = history.count(query);
    if (n != 0) summary.events_by_type.emplace_back(type, n);
  }
  const FileSystem& fs = *impl.file_system();
  const std::filesystem::path log_dir = impl.store_dir().log_dir();
  for (std::uint64_t first_lsn : log::list_segments(fs, log_dir)) {
    ++summary.log_segments;
    summary.log_bytes +=
        fs.open_readable(log_dir / log::segment_file_name(first_lsn))->size();
  }
  return summary;
}

}  // namespace wfstore
