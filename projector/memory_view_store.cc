// MemoryViewStore: std::map per table.

#include "wfstore_internal/memory_view_store.h"

#include "projector/map_scan.h"

namespace wfstore {

std::optional<std::string> MemoryViewStore::get(Table table,
                                                std::string_view key) const {
  const auto& map = tables_[table_index(table)];
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

void MemoryViewStore::scan(Table table, std::string_view from_key,
                           std::string_view to_key, const ScanFn& fn,
                           bool reverse) const {
  const auto [lo, hi] =
      map_range(tables_[table_index(table)], from_key, to_key);
  if (!reverse) {
    for (auto it = lo; it != hi; ++it) {
      if (!fn(it->first, it->second)) return;
    }
    return;
  }
  for (auto it = hi; it != lo;) {
    --it;
    if (!fn(it->first, it->second)) return;
  }
}

void MemoryViewStore::put(Table table, std::string_view key,
                          std::string_view value) {
  check_view_key(table, key);
  map_assign(tables_[table_index(table)], key, value);
}

void MemoryViewStore::del(Table table, std::string_view key) {
  check_view_key(table, key);
  auto& map = tables_[table_index(table)];
  auto it = map.find(key);
  if (it != map.end()) map.erase(it);
}

void MemoryViewStore::clear() {
  for (auto& map : tables_) map.clear();
}

}  // namespace wfstore
