// The in-memory view store: one ordered map per table. Used by tests, as-of
// (time travel) reads, and stores that keep their views in memory.

#pragma once

#include <array>
#include <map>
#include <string>

#include "wfstore_internal/view_store.h"

namespace wfstore {

// Views held in std::map, ordered bytewise like LMDB. Copyable (a copy is a
// snapshot).
//
// Not thread-safe for writes; concurrent const calls are safe.
class MemoryViewStore final : public ViewStore {
 public:
  MemoryViewStore() = default;

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;
  void put(Table table, std::string_view key, std::string_view value) override;
  void del(Table table, std::string_view key) override;

  // Number of keys in `table`.
  std::size_t size(Table table) const {
    return tables_[table_index(table)].size();
  }
  // Removes every key of every table.
  void clear();

 private:
  std::array<std::map<std::string, std::string, std::less<>>, kTableCount>
      tables_;
};

}  // namespace wfstore
