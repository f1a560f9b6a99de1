// A view store made of a read-only base plus pending writes held in memory:
// what a transaction's eager checks decide against (its read snapshot plus its
// own pending events).

#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  // One put (value set) or del (value nullopt) as the journal keeps it.
  struct Write {
    Table table;
    std::string key;
    std::optional<std::string> value;
  };

  // With `keep_journal`, every put and del is also kept in call order, so
  // that replay_journal() can give another store the exact write sequence
  // (the view checksum depends on it) without running the folds again.
  explicit OverlayViewStore(const ViewReader& base, bool keep_journal = false)
      : base_(base), keep_journal_(keep_journal) {}

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void get_with(Table table, std::string_view key,
                const ValueFn& fn) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;
  void put(Table table, std::string_view key, std::string_view value) override;
  void del(Table table, std::string_view key) override;

  // Number of pending puts and deletes (one per key).
  std::size_t pending_count() const;
  // Forgets every pending write (and the journal).
  void clear();
  // The writes so far in call order (empty without keep_journal); leaves the
  // journal empty.
  std::vector<Write> take_journal() { return std::move(journal_); }

 private:
  using Pending =
      std::map<std::string, std::optional<std::string>, std::less<>>;

  const ViewReader& base_;
  std::array<Pending, kTableCount> pending_;  // nullopt: deleted.
  bool keep_journal_ = false;
  std::vector<Write> journal_;
};

// Applies `journal`'s writes to `target` in order. Throws what target's put and
// del throw; a failure leaves the earlier writes applied.
void replay_journal(const std::vector<OverlayViewStore::Write>& journal,
                    ViewStore& target);

}  // namespace wfstore
