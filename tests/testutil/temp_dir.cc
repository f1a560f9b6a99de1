#include "tests/testutil/temp_dir.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

#include <gtest/gtest.h>
#include <stdlib.h>

namespace wfstore::testutil {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
      "/wfstore-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(),
                            "mkdtemp " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::uint32_t random_seed() {
  static const std::uint32_t seed = [] {
    auto s = static_cast<std::uint32_t>(::testing::GTEST_FLAG(random_seed));
    if (s == 0) {
      const long from_env = env_knob("WFSTORE_SEED", 0);
      s = from_env != 0
              ? static_cast<std::uint32_t>(from_env)
              : static_cast<std::uint32_t>(std::chrono::steady_clock::now()
                                               .time_since_epoch()
                                               .count());
    }
    std::fprintf(stderr, "random seed: %u (rerun with WFSTORE_SEED=%u)\n", s,
                 s);
    return s;
  }();
  return seed;
}

long env_knob(const char* name, long fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return end != nullptr && *end == '\0' ? parsed : fallback;
}

}  // namespace wfstore::testutil
