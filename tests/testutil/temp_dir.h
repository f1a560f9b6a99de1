// Test helpers: an RAII temporary directory and the run's reproducible random
// seed.

#pragma once

#include <cstdint>
#include <filesystem>

namespace wfstore::testutil {

// A fresh directory under $TMPDIR (default /tmp), removed with everything in it
// when destroyed, also when the test fails.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name.
  std::filesystem::path operator/(const std::filesystem::path& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// The seed for randomized tests: gtest's --gtest_random_seed when given
// (non-zero), otherwise WFSTORE_SEED from the environment, otherwise a
// time-based one. Printed once.
std::uint32_t random_seed();

// An integer knob from the environment (e.g. WFSTORE_KILL_ROUNDS), or
// `fallback`.
long env_knob(const char* name, long fallback);

}  // namespace wfstore::testutil
