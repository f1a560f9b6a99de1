// Waiting for a condition in tests that run threads.

#pragma once

#include <chrono>
#include <thread>

namespace wfstore::testutil {

// Polls `condition` every millisecond until it holds; false after a minute (a
// hang, not a timing margin).
template <typename Condition>
bool wait_until(Condition condition) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds{60};
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

}  // namespace wfstore::testutil
