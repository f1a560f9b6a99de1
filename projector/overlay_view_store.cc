// OverlayViewStore: pending writes merged over a base reader.

#include "wfstore_internal/overlay_view_store.h"

#include <iterator>

#include "projector/map_scan.h"

namespace wfstore {

std::optional<std::string> OverlayViewStore::get(Table table,
                                                 std::string_view key) const {
  const Pending& pending = pending_[table_index(table)];
  auto it = pending.find(key);
  if (it != pending.end()) return it->second;
  return base_.get(table, key);
}

void OverlayViewStore::get_with(Table table, std::string_view key,
                                const ValueFn& fn) const {
  const Pending& pending = pending_[table_index(table)];
  auto it = pending.find(key);
  if (it == pending.end()) {
    base_.get_with(table, key, fn);
  } else if (it->second) {
    fn(std::string_view(*it->second));
  } else {
    fn(std::nullopt);
  }
}

namespace {

// Merges the pending range [it, end) into the base's scan. `before(a, b)` is
// true when key a comes before key b in scan direction. Stops when fn returns
// false.
template <typename It, typename Before>
void merge_scan(const ViewReader& base, Table table, std::string_view from_key,
                std::string_view to_key, const ScanFn& fn, bool reverse, It it,
                It end, Before before) {
  bool stopped = false;
  auto emit_pending = [&](const auto& entry) {
    if (entry.second.has_value() && !fn(entry.first, *entry.second))
      stopped = true;
    return !stopped;
  };
  base.scan(
      table, from_key, to_key,
      [&](std::string_view key, std::string_view value) {
        for (; it != end && before(std::string_view(it->first), key); ++it) {
          if (!emit_pending(*it)) return false;
        }
        if (it != end && std::string_view(it->first) == key) {
          const auto& entry = *it;
          ++it;
          return emit_pending(entry);
        }
        if (!fn(key, value)) stopped = true;
        return !stopped;
      },
      reverse);
  for (; !stopped && it != end; ++it) emit_pending(*it);
}

}  // namespace

void OverlayViewStore::scan(Table table, std::string_view from_key,
                            std::string_view to_key, const ScanFn& fn,
                            bool reverse) const {
  const auto [lo, hi] =
      map_range(pending_[table_index(table)], from_key, to_key);
  if (!reverse) {
    merge_scan(base_, table, from_key, to_key, fn, false, lo, hi,
               [](std::string_view a, std::string_view b) { return a < b; });
  } else {
    merge_scan(base_, table, from_key, to_key, fn, true,
               std::make_reverse_iterator(hi), std::make_reverse_iterator(lo),
               [](std::string_view a, std::string_view b) { return a > b; });
  }
}

void OverlayViewStore::put(Table table, std::string_view key,
                           std::string_view value) {
  check_view_key(table, key);
  map_assign(pending_[table_index(table)], key, std::string(value));
  if (keep_journal_) {
    journal_.push_back({table, std::string(key), std::string(value)});
  }
}

void OverlayViewStore::del(Table table, std::string_view key) {
  check_view_key(table, key);
  map_assign(pending_[table_index(table)], key, std::nullopt);
  if (keep_journal_) journal_.push_back({table, std::string(key), {}});
}

std::size_t OverlayViewStore::pending_count() const {
  std::size_t count = 0;
  for (const Pending& pending : pending_) count += pending.size();
  return count;
}

void OverlayViewStore::clear() {
  for (Pending& pending : pending_) pending.clear();
  journal_.clear();
}

void replay_journal(const std::vector<OverlayViewStore::Write>& journal,
                    ViewStore& target) {
  for (const OverlayViewStore::Write& write : journal) {
    if (write.value) {
      target.put(write.table, write.key, *write.value);
    } else {
      target.del(write.table, write.key);
    }
  }
}

}  // namespace wfstore
