// Range scans over std::map tables with the ViewReader::scan contract, and the
// write of one key, shared by the in-memory and overlay view stores.

#pragma once

#include <iterator>
#include <string>
#include <string_view>
#include <utility>

namespace wfstore {

// The iterator range of [from_key, to_key) in `map` (empty bounds are open),
// empty when the bounds are inverted.
template <typename Map>
std::pair<typename Map::const_iterator, typename Map::const_iterator> map_range(
    const Map& map, std::string_view from_key, std::string_view to_key) {
  if (!from_key.empty() && !to_key.empty() && from_key >= to_key) {
    return {map.end(), map.end()};
  }
  auto lo = from_key.empty() ? map.begin() : map.lower_bound(from_key);
  auto hi = to_key.empty() ? map.end() : map.lower_bound(to_key);
  return {lo, hi};
}

// Sets `key` of `map` to `value`, inserting the key when it is absent.
template <typename Map, typename Value>
void map_assign(Map& map, std::string_view key, Value&& value) {
  auto it = map.find(key);
  if (it == map.end()) {
    map.emplace(std::string(key), std::forward<Value>(value));
  } else {
    it->second = std::forward<Value>(value);
  }
}

}  // namespace wfstore
