// Range scans over std::map tables with the ViewReader::scan contract, shared
// by the in-memory and overlay view stores.

#pragma once

#include <iterator>
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

}  // namespace wfstore
