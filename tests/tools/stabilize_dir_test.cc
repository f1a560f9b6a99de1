// WFSTORE_STABILIZE_DIR, the CMake setting tools/run passes: when set, it names
// stabilize's source tree, which the tests and benchmarks that run against
// stabilize use; when empty, they are skipped.

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace wfstore {
namespace {

TEST(StabilizeDirTest, WhenSetHoldsStabilizesPackage) {
  const std::string dir = WFSTORE_STABILIZE_DIR;
  if (dir.empty()) GTEST_SKIP() << "WFSTORE_STABILIZE_DIR is not set";
  EXPECT_TRUE(std::filesystem::is_regular_file(
      std::filesystem::path(dir) / "src" / "stabilize" / "__init__.py"))
      << dir;
}

}  // namespace
}  // namespace wfstore
