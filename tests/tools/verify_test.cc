// `wfstore verify --dir D` run as a real process: prints the head hash of a
// sound log, exits 1 with a message naming segment and offset on damage.

#include <array>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testutil/log_test_util.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;
using wfstore::testutil::run_tool;
using wfstore::testutil::ToolRun;

TEST(VerifyToolTest, PrintsTheHeadHashOfASoundLogAndFailsOnDamage) {
  wfstore::testutil::TempDir tmp;
  const auto dir = tmp / "store";
  Hash head{};
  {
    const StoreDir store = StoreDir::create_or_open(posix_file_system(), dir);
    auto w = Writer::open(posix_file_system(), store.log_dir(), store.id());
    for (std::uint64_t lsn = 1; lsn <= 5; ++lsn)
      w->append(lsn, 1, 0, body_for(lsn, 200));
    w->sync();
    head = w->last_hash();
  }
  const ToolRun ok = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("commits:   5"));
  EXPECT_THAT(ok.output, HasSubstr("last lsn:  5"));
  EXPECT_THAT(ok.output, HasSubstr("head hash: " + to_hex(head)));

  const auto segment = dir / "log" / segment_file_name(1);
  flip_bit(segment, kHeaderSize + kSegmentHeaderSize + 50);
  const ToolRun bad = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(
      bad.output,
      HasSubstr("wfstore: log segment " + segment.string() + ": offset " +
                std::to_string(kHeaderSize + kSegmentHeaderSize) + ":"));

  const ToolRun missing =
      run_tool("verify --dir " + (tmp / "nothing").string());
  EXPECT_EQ(missing.status, 1) << missing.output;
}

}  // namespace
}  // namespace wfstore::log::testutil
