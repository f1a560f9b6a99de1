// raise_to: an atomic maximum (std::atomic has no fetch_max before C++26).

#pragma once

#include <atomic>

namespace wfstore {

// Raises `value` to `to` unless it already holds as much. Thread-safe.
template <class T>
void raise_to(std::atomic<T>& value, T to) {
  T seen = value.load();
  while (seen < to && !value.compare_exchange_weak(seen, to)) {
  }
}

}  // namespace wfstore
