// `wfstore bench` as a real process on a tiny workload: every phase of the
// standard workload is measured, checked and printed with its bound and ratio.

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
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

// Both modes, every phase present, checked and with its bound, on stdout as
// exactly one JSON document (fewer dedup ids and shorter side runs than the
// standard workload's, so that sync mode's fdatasyncs fit the test's time).
TEST(BenchToolTest, JsonOfBothModesHoldsEveryPhaseChecked) {
  const testutil::TempDir tmp;
  const ToolRun run = run_tool(
      "bench --n 200 --dedup 1000 --wakeup-samples 100 --thread-seconds 0.2 "
      "--json --dir " +
          tmp.path().string(),
      false);
  ASSERT_EQ(run.status, 0) << run.output;
  const nlohmann::json doc = nlohmann::json::parse(run.output);
  ASSERT_EQ(doc.at("runs").size(), 2U);
  EXPECT_EQ(doc["runs"][0]["durability"], "sync");
  EXPECT_EQ(doc["runs"][1]["durability"], "buffered");
  for (const nlohmann::json& mode : doc["runs"]) {
    ASSERT_EQ(mode.at("phases").size(), kPhases.size()) << mode.dump();
    for (std::size_t i = 0; i < kPhases.size(); ++i) {
      const nlohmann::json& p = mode["phases"][i];
      EXPECT_EQ(p.at("phase"), kPhases[i]);
      EXPECT_EQ(p.at("checked"), true) << p.dump();
      EXPECT_FALSE(p.at("check").get<std::string>().empty()) << p.dump();
      EXPECT_GT(p.at("n").get<std::uint64_t>(), 0U) << p.dump();
      EXPECT_GT(p.at("ops_per_sec").get<double>(), 0) << p.dump();
      EXPECT_GT(p.at("bound").get<double>(), 0) << p.dump();
      EXPECT_GT(p.at("cpu_us_per_op").get<double>(), 0) << p.dump();
      EXPECT_TRUE(p.at("gate") == "pass" || p.at("gate") == "FAIL");
      EXPECT_FALSE(p.contains("x_stabilize")) << "without --vs-stabilize";
    }
    EXPECT_GT(mode.at("rebuild").at("raw_batched_put_per_sec").get<double>(),
              0);
  }
  EXPECT_EQ(doc["runs"][1]["phases"][2]["n"], 2000);  // stage_update: 10 N
  EXPECT_EQ(doc["runs"][1]["phases"][6]["n"], 1000);  // dedup_mark: --dedup
  ASSERT_EQ(doc.at("commit_threads").size(), 5U);
  EXPECT_GT(doc.at("commit_threads_16_over_1").get<double>(), 0);
  // Goal 3's bound form, from both modes' dedup_mark phases.
  const nlohmann::json& goal3 = doc.at("goal3");
  EXPECT_GT(goal3.at("cpu_bound_commits_per_sec").get<double>(), 0);
  EXPECT_GT(goal3.at("sync_bound_commits_per_sec").get<double>(), 0);
  EXPECT_DOUBLE_EQ(
      goal3.at("goal_commits_per_sec").get<double>(),
      0.5 * std::min(goal3.at("cpu_bound_commits_per_sec").get<double>(),
                     goal3.at("sync_bound_commits_per_sec").get<double>()));
  EXPECT_TRUE(goal3.at("result") == "pass" || goal3.at("result") == "FAIL");
  EXPECT_FALSE(doc.contains("stabilize"));
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

// --vs-stabilize: stabilize's SqliteWorkflowStore (WAL) runs the workload in
// the same run; each of the 8 phases is set beside it with goal 1.
TEST(BenchToolTest, VsStabilizeSetsEachPhaseBesideStabilize) {
  if (std::string(WFSTORE_STABILIZE_DIR).empty()) {
    GTEST_SKIP() << "WFSTORE_STABILIZE_DIR is not set";
  }
  const testutil::TempDir tmp;
  const std::string args =
      "bench --n 30 --dedup 500 --durability buffered --vs-stabilize "
      "--wakeup-samples 10 --dir " +
      tmp.path().string();
  const ToolRun json_run = run_tool(args + " --json", false);
  ASSERT_EQ(json_run.status, 0) << json_run.output;
  const nlohmann::json doc = nlohmann::json::parse(json_run.output);
  ASSERT_EQ(doc.at("stabilize").at("phases").size(), 8U);
  EXPECT_THAT(doc["stabilize"]["about"].get<std::string>(),
              HasSubstr("journal_mode=wal"));
  const nlohmann::json& phases = doc.at("runs").at(0).at("phases");
  ASSERT_EQ(phases.size(), kPhases.size());
  for (std::size_t i = 0; i < kPhases.size(); ++i) {
    const nlohmann::json& p = phases[i];
    if (i >= 8) {  // the queue's own phases: stabilize has none
      EXPECT_FALSE(p.contains("goal1")) << p.dump();
      continue;
    }
    EXPECT_EQ(doc["stabilize"]["phases"][i]["phase"], kPhases[i]);
    EXPECT_EQ(doc["stabilize"]["phases"][i]["n"], p.at("n"));
    const double x = p.at("ops_per_sec").get<double>() /
                     p.at("stabilize_wal_ops_per_sec").get<double>();
    EXPECT_NEAR(p.at("x_stabilize").get<double>(), x, 1e-6 * x) << p.dump();
    const nlohmann::json& g = p.at("goal1");
    const double want =
        kPhases[i] == std::string("ancestors")
            ? g.at("stabilize_goal_ops_per_sec").get<double>()
            : std::min(g.at("stabilize_goal_ops_per_sec").get<double>(),
                       g.at("bound_goal_ops_per_sec").get<double>());
    EXPECT_DOUBLE_EQ(g.at("goal_ops_per_sec").get<double>(), want) << p.dump();
    EXPECT_EQ(g.at("bound_counts"), kPhases[i] != std::string("ancestors"));
    EXPECT_EQ(g.at("result") == "pass",
              p.at("ops_per_sec").get<double>() >= want)
        << p.dump();
  }

  const ToolRun text_run = run_tool(args, false);
  ASSERT_EQ(text_run.status, 0) << text_run.output;
  for (std::size_t i = 0; i < 8; ++i) {
    const std::regex line(
        std::string("\n# vs_stabilize durability=buffered phase=") +
        kPhases[i] +
        " ops_per_sec=[0-9]+ stabilize_wal=[0-9]+ x_stabilize=[0-9.]+ "
        "ratio_bound=[0-9.]+ cpu_us_per_op=[0-9.]+ "
        "stabilize_cpu_us_per_op=[0-9.]+ goal1=[0-9]+ "
        "goal1_of=(10x_stabilize|0\\.7_bound) "
        "meets=(both|10x_stabilize|0\\.7_bound|none) "
        "goal1_result=(pass|FAIL)\n");
    EXPECT_TRUE(std::regex_search(text_run.output, line))
        << kPhases[i] << " in:\n"
        << text_run.output;
  }
  EXPECT_TRUE(std::regex_search(
      text_run.output,
      std::regex("\n# goal1 durability=buffered met=[0-8]/8 missed=")))
      << text_run.output;
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

// --scale at tiny sizes: every phase at both sizes with its ratio and
// verdict, the expired-lease poll, ten RSS samples over a growing store, and
// the tally; --json holds the same as one document.
TEST(BenchToolTest, ScalePrintsEveryPhaseAtBothSizesPollsAndMemory) {
  const testutil::TempDir tmp;
  const std::string args =
      "bench --scale --n 20 --scale-n 60 --scale-leases 3000 "
      "--scale-events 11000 --dedup 100 --dir " +
      tmp.path().string();
  const ToolRun run = run_tool(args, false);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output,
              HasSubstr("# scale durability=buffered small_n=20 large_n=60 "
                        "max_ratio=1.5\n"));
  for (const char* phase : kPhases) {
    const std::regex line(
        std::string("\nscale phase=") + phase +
        " small_ops=[1-9][0-9]* large_ops=[1-9][0-9]* "
        "small_us_per_op=[0-9.]+ large_us_per_op=[0-9.]+ "
        "small_cpu_us_per_op=[0-9.]+ large_cpu_us_per_op=[0-9.]+ "
        "wall_ratio=[0-9.]+ ratio=[0-9.]+ result=(pass|FAIL)\n");
    EXPECT_TRUE(std::regex_search(run.output, line))
        << phase << " missing in:\n"
        << run.output;
    const std::regex faults(std::string("\n# scale_faults phase=") + phase +
                            " small_minor_faults_per_op=[0-9.]+ "
                            "large_minor_faults_per_op=[0-9.]+\n");
    EXPECT_TRUE(std::regex_search(run.output, faults))
        << phase << " faults missing in:\n"
        << run.output;
  }
  EXPECT_THAT(run.output, HasSubstr("scale phase=store small_ops=20 "
                                    "large_ops=60 "));
  EXPECT_TRUE(std::regex_search(
      run.output,
      std::regex("\nscale poll_expired small_leases=2000 large_leases=3000 "
                 "small_us_per_poll=[0-9.]+ large_us_per_poll=[0-9.]+ "
                 "small_cpu_us_per_poll=[0-9.]+ large_cpu_us_per_poll=[0-9.]+ "
                 "ratio=[0-9.]+ result=(pass|FAIL)\n")))
      << run.output;
  const std::regex rss_line(
      "\nscale rss events=[1-9][0-9]* rss_mb=[0-9.]+ "
      "anon_mb=[0-9.]+");
  EXPECT_EQ(std::distance(std::sregex_iterator(run.output.begin(),
                                               run.output.end(), rss_line),
                          std::sregex_iterator()),
            10)
      << run.output;
  EXPECT_TRUE(std::regex_search(
      run.output, std::regex("\nscale rss_summary events=[0-9]+ .* "
                             "result=(pass|FAIL)\n# scale met=[0-9]+/12 "
                             "missed=[a-z_,]+\n$")))
      << run.output;
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));

  const ToolRun json_run = run_tool(args + " --json", false);
  ASSERT_EQ(json_run.status, 0) << json_run.output;
  const nlohmann::json doc = nlohmann::json::parse(json_run.output).at("scale");
  ASSERT_EQ(doc.at("phases").size(), kPhases.size());
  for (std::size_t i = 0; i < kPhases.size(); ++i) {
    const nlohmann::json& p = doc["phases"][i];
    EXPECT_EQ(p.at("phase"), kPhases[i]);
    EXPECT_GT(p.at("large_cpu_us_per_op").get<double>(), 0) << p.dump();
    EXPECT_GE(p.at("large_minor_faults_per_op").get<double>(), 0) << p.dump();
    EXPECT_GE(p.at("small_minor_faults_per_op").get<double>(), 0) << p.dump();
    EXPECT_TRUE(p.at("pass").is_boolean());
  }
  EXPECT_EQ(doc.at("poll_expired").at("large_leases"), 3000);
  ASSERT_EQ(doc.at("rss").size(), 10U);
  EXPECT_GE(doc["rss"][0]["events"].get<std::uint64_t>(), 1000U);
  EXPECT_GE(doc["rss"][9]["events"].get<std::uint64_t>(), 10000U);
  EXPECT_TRUE(doc.at("missed").is_array());
  EXPECT_EQ(doc.at("figures"), 12);
  EXPECT_EQ(doc.at("met").get<std::size_t>() + doc["missed"].size(), 12U);
}

// --scale refuses sizes that would compare a run with itself (or the wrong
// way round) and options it would ignore; the benchmarks exclude each other.
TEST(BenchToolTest, ScaleRefusesEqualSizesAndIgnoredOptions) {
  for (const char* args :
       {"bench --scale --n 1000 --scale-n 1000",
        "bench --scale --n 5000 --scale-n 100",
        "bench --scale --scale-leases 2000", "bench --scale --durability sync",
        "bench --scale --vs-stabilize", "bench --scale --history",
        "bench --scale-n 5000", "bench --log --scale-events 20000",
        "bench --log --history", "bench --viewer --scale"}) {
    const ToolRun run = run_tool(args);
    EXPECT_EQ(run.status, 2) << args << "\n" << run.output;
  }
}

TEST(BenchToolTest, RejectsAnUnknownDurability) {
  const ToolRun run = run_tool("bench --durability fast");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.output, HasSubstr("--durability"));
}

}  // namespace
}  // namespace wfstore
