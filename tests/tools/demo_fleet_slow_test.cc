// `wfstore demo --dir D --summary-json F` end to end as a real process, fleet
// included: it exits 0, its JSON summary shows at least 500 workflows whose
// final statuses equal the plan's counts with every check passed, and
// `wfstore stats --dir D --json` counts the fleet's workflows in D.

#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DemoFleetSlowTest, RunsTheFleetAndItsSummaryShowsEveryCheckPassed) {
  testutil::TempDir tmp;
  const std::string dir = (tmp.path() / "store").string();
  const std::string summary_file = (tmp.path() / "summary.json").string();
  const testutil::ToolRun run = testutil::run_tool(
      "demo --dir " + dir + " --summary-json " + summary_file + " 2>/dev/null",
      /*with_stderr=*/false);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAILED")));
  EXPECT_THAT(run.output, Not(HasSubstr("WRONG")));
  EXPECT_THAT(run.output, HasSubstr("# fleet check: 500 of 500 workflows in "
                                    "their planned final state"));

  std::ifstream in(summary_file);
  ASSERT_TRUE(in) << "no summary file";
  const nlohmann::json summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["ok"], true) << summary.dump(2);
  EXPECT_GE(summary["workflows"].get<int>(), 500);
  EXPECT_EQ(summary["by_status"], summary["planned"]) << summary.dump(2);
  int planned = 0;
  for (const auto& [status, count] : summary["planned"].items()) {
    planned += count.get<int>();
  }
  EXPECT_EQ(planned, summary["workflows"].get<int>());
  // The plan holds every kind of outcome.
  EXPECT_GT(summary["planned"].value("SUCCEEDED", 0), 0);
  EXPECT_GT(summary["planned"].value("TERMINAL", 0), 0);
  EXPECT_GT(summary["planned"].value("CANCELED", 0), 0);
  EXPECT_GT(summary["paused_resumed"].get<int>(), 0);
  EXPECT_GT(summary["transient_faults"].get<int>(), 0);
  EXPECT_EQ(summary["dead_letters"], 1);
  const nlohmann::json& checks = summary["checks"];
  EXPECT_EQ(checks["workflows_checked"], summary["workflows"]);
  EXPECT_EQ(checks["workflows_wrong"], 0) << checks["wrong"].dump(2);
  EXPECT_EQ(checks["drained"], true);
  EXPECT_EQ(checks["retries_as_planned"], true);
  EXPECT_EQ(checks["dead_letter_as_planned"], true);
  EXPECT_EQ(checks["submit_error"], "");
  // Each transient fault and each of the poison message's 3 attempts.
  EXPECT_EQ(summary["processor"]["failed"].get<int>(),
            summary["transient_faults"].get<int>() + 3);
  EXPECT_GT(summary["commits"].get<int>(), summary["workflows"].get<int>());
  EXPECT_GT(summary["events"].get<int>(), summary["commits"].get<int>());
  EXPECT_GT(summary["fdatasyncs"].get<int>(), 0);
  EXPECT_LE(summary["fdatasyncs_per_commit"].get<double>(), 1.0);
  EXPECT_GT(summary["wall_seconds"].get<double>(), 0.0);
  EXPECT_GT(summary["workflows_per_second"].get<double>(), 0.0);

  const testutil::ToolRun stats =
      testutil::run_tool("stats --dir " + dir + " --json", false);
  ASSERT_EQ(stats.status, 0) << stats.output;
  EXPECT_GE(nlohmann::json::parse(stats.output)["workflows"].get<int>(), 500);
}

}  // namespace
}  // namespace wfstore
