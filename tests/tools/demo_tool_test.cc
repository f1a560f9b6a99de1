// `wfstore demo` as a real process: it exits 0 only when every step it
// checks holds (the engine runs, the views equal a rebuild, the re-run on the
// fork succeeds and the original stays byte-identical, every workflow of the
// fleet ends as planned); the test also pins the lines that say so.

#include <filesystem>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DemoToolTest, RunsToTheEndAndChecksWhatItShows) {
  testutil::TempDir tmp;
  const std::string dir = (tmp.path() / "store").string();
  // A small fleet here; demo_fleet_slow_test runs the default one.
  const testutil::ToolRun run =
      testutil::run_tool("demo --fleet 50 --dir " + dir);
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAILED")));
  EXPECT_THAT(run.output, HasSubstr("views equal a rebuild from the log"));
  EXPECT_THAT(run.output,
              HasSubstr("FAILS: 5xx rate 7.3% on the canary, budget 1% -> "
                        "stage and workflow TERMINAL"));
  EXPECT_THAT(run.output,
              HasSubstr("# its state just before the failure at lsn"));
  EXPECT_THAT(run.output, HasSubstr("status         RUNNING -> TERMINAL"));
  EXPECT_THAT(
      run.output,
      HasSubstr("on the fork: 01JDEPLOYBILLING0000000003 is SUCCEEDED"));
  EXPECT_THAT(run.output, HasSubstr("01JDEPLOYBILLING0000000003 is TERMINAL"));
  EXPECT_THAT(run.output, HasSubstr("byte-identical"));
  EXPECT_THAT(run.output,
              HasSubstr("# fleet check: 50 of 50 workflows in their planned "
                        "final state; retries as planned: yes; the poison "
                        "message dead-lettered: yes\n"));
  // Its last line: the command that shows the store it kept in a browser.
  EXPECT_THAT(run.output, testing::EndsWith(
                              "wfstore serve --dir " +
                              std::filesystem::absolute(dir).string() + "\n"));
#ifdef WFSTORE_WITH_KAFKA
  // The export to a mock cluster, read back exactly once, and the replica.
  EXPECT_THAT(run.output, HasSubstr("lag 0 lsns"));
  const std::regex exactly_once(
      "events written ([0-9]+) = events consumed \\1, each exactly once in "
      "LSN order: yes; equal to the log's: yes");
  EXPECT_TRUE(std::regex_search(run.output, exactly_once)) << run.output;
  EXPECT_THAT(run.output, testing::ContainsRegex(
                              "view checksum [0-9a-f]+ equal to the "
                              "source's; retrieve\\(01JDEPLOYBILLING0000000003"
                              "\\) on the replica: TERMINAL with 7 "
                              "stages, equal to the source's"));
#endif
}

}  // namespace
}  // namespace wfstore
