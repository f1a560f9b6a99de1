// A view store made of a read-only base plus pending writes held in memory:
// what a transaction's eager checks decide against (its read snapshot plus its
// own pending events).

#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>

#include "wfstore_internal/view_store.h"

namespace wfstore {

// Reads see the pending writes first: a pending put shadows the base's value, a
// pending delete hides the base's key, and scans merge both in key order.
// Writes never reach the base.
//
// Not thread-safe. REQUIRES: `base` outlives the overlay and does not change
// while the overlay is read (a snapshot).
class OverlayViewStore final : public ViewStore {
 public:
  explicit OverlayViewStore(const ViewReader& base) : base_(base) {}

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;
  void put(Table table, std::string_view key, std::string_view value) override;
  void del(Table table, std::string_view key) override;

  // Number of pending puts and deletes (one per key).
  std::size_t pending_count() const;
  // Forgets every pending write.
  void clear();

 private:
  using Pending =
      std::map<std::string, std::optional<std::string>, std::less<>>;

  const ViewReader& base_;
  std::array<Pending, kTableCount> pending_;  // nullopt: deleted.
};

}  // namespace wfstore
