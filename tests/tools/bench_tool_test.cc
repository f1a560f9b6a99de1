// `wfstore bench` as a real process on a tiny workload: every phase of the
// standard workload is measured, checked and printed with its bound and ratio.

#include <array>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using wfstore::testutil::run_tool;
using wfstore::testutil::ToolRun;

// The standard workload's phases, then the queue's.
constexpr std::array<const char*, 10> kPhases = {
    "store",     "retrieve",   "stage_update", "txn",        "query",
    "ancestors", "dedup_mark", "dedup_check",  "queue_push", "queue_poll_ack"};

TEST(BenchToolTest, PrintsEveryPhaseWithItsBoundAndRatio) {
  const testutil::TempDir tmp;
  const ToolRun run =
      run_tool("bench --n 20 --durability buffered --wakeup-samples 20 --dir " +
                   tmp.path().string(),
               false);
  ASSERT_EQ(run.status, 0) << run.output;
  for (const char* phase : kPhases) {
    const std::regex line(std::string("(^|\n)phase=") + phase +
                          " n=[0-9]+ seconds=[0-9.]+ ops_per_sec=[0-9]+ "
                          "bound=[1-9][0-9]* ratio=[0-9]+\\.[0-9]+ "
                          "cpu_us_per_op=[0-9]+\\.[0-9]\n");
    EXPECT_TRUE(std::regex_search(run.output, line))
        << phase << " missing in:\n"
        << run.output;
  }
  EXPECT_THAT(run.output, HasSubstr("phase=stage_update n=200 "));
  EXPECT_THAT(run.output, HasSubstr("phase=dedup_check n=10000 "));
  EXPECT_THAT(run.output, HasSubstr("phase=txn n=20 "));
  EXPECT_THAT(run.output, HasSubstr("phase=queue_push n=20 "));
  EXPECT_THAT(run.output, HasSubstr("phase=queue_poll_ack n=40 "));
  EXPECT_THAT(run.output, HasSubstr("# durability=buffered\n"));
  EXPECT_TRUE(std::regex_search(
      run.output,
      std::regex("\n# wakeup_latency_us durability=buffered "
                 "samples=20 median=[0-9]+ p99=[0-9]+ max=[0-9]+\n")))
      << run.output;
  EXPECT_THAT(run.output, HasSubstr("# rebuild durability=buffered events="));
  EXPECT_THAT(run.output, HasSubstr("nproc="));
  // The scratch directory is removed afterwards.
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST(BenchToolTest, JsonIsOneDocument) {
  const testutil::TempDir tmp;
  const ToolRun run = run_tool(
      "bench --n 10 --durability buffered --json --wakeup-samples 10 --dir " +
          tmp.path().string(),
      false);
  ASSERT_EQ(run.status, 0) << run.output;
  const nlohmann::json doc = nlohmann::json::parse(run.output);
  ASSERT_EQ(doc.at("runs").size(), 1U);
  EXPECT_EQ(doc["runs"][0]["durability"], "buffered");
  ASSERT_EQ(doc["runs"][0]["phases"].size(), kPhases.size());
  for (std::size_t i = 0; i < kPhases.size(); ++i) {
    EXPECT_EQ(doc["runs"][0]["phases"][i]["phase"], kPhases[i]);
    EXPECT_GT(doc["runs"][0]["phases"][i]["bound"].get<double>(), 0);
  }
  EXPECT_EQ(doc["runs"][0]["wakeup_latency_us"]["samples"], 10);
  EXPECT_GE(doc["runs"][0]["wakeup_latency_us"]["p99"].get<double>(),
            doc["runs"][0]["wakeup_latency_us"]["median"].get<double>());
}

TEST(BenchToolTest, RejectsAnUnknownDurability) {
  const ToolRun run = run_tool("bench --durability fast");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.output, HasSubstr("--durability"));
}

}  // namespace
}  // namespace wfstore
