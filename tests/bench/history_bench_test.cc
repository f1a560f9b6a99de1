// `wfstore bench --history` on a tiny configuration: every figure is measured
// (the subscription figures included),
// checked and set beside a positive raw bound; as a real process, its lines
// and its JSON document.

#include <algorithm>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using bench::HistoryFigure;
using testutil::run_tool;
using testutil::ToolRun;

// The figures in report order.
std::vector<std::string> figures_in_order() {
  return {"raw_commit_read",
          "workflow_query",
          "workflow_query",
          "workflow_query_growth",
          "type_query",
          "time_range_query",
          "lsn_at_time",
          "fork",
          "fork_events",
          "big_workflow_query",
          "show_at",
          "export",
          "subscriber_latency_sync",
          "subscriber_latency_async",
          "subscriber_latency_cross_process",
          "commit_rate_sync_subscriber",
          "commit_rate_async_subscriber",
          "follow_events_catch_up",
          "durable_catch_up",
          "durable_catch_up"};
}

constexpr const char* kTinyArgs =
    "bench --history --history-events 2200 --history-workflow-events 50 "
    "--history-samples 5 --dir ";

TEST(HistoryBenchTest, MeasuresEveryFigureBesideItsBound) {
  const testutil::TempDir tmp;
  bench::HistoryBenchOptions o;
  o.events = 2200;
  o.workflow_events = 50;
  o.samples = 5;
  const std::vector<HistoryFigure> figures =
      bench::run_history_figures(o, tmp.path());
  std::vector<std::string> names;
  for (const HistoryFigure& f : figures) {
    SCOPED_TRACE(f.name);
    names.push_back(f.name);
    EXPECT_FALSE(f.bound.empty());
    EXPECT_GT(f.bound_value, 0);
    if (f.latency) {
      EXPECT_GE(f.measured.samples, 1u);
      EXPECT_LE(f.measured.samples, 5u);
      EXPECT_GT(f.measured.median_us, 0);
      EXPECT_GE(f.measured.p99_us, f.measured.median_us);
    } else {
      EXPECT_GT(f.rate, 0);
    }
  }
  EXPECT_EQ(names, figures_in_order());
  // The large store holds about the events asked for, the small a tenth.
  EXPECT_EQ(figures[1].params.at(0),
            (std::pair<std::string, std::uint64_t>("log_events", 1100)));
  EXPECT_EQ(figures[2].params.at(0),
            (std::pair<std::string, std::uint64_t>("log_events", 2200)));
  const auto exported =
      std::find_if(figures.begin(), figures.end(),
                   [](const auto& f) { return f.name == "export"; });
  ASSERT_NE(exported, figures.end());
  EXPECT_EQ(exported->params.at(0),
            (std::pair<std::string, std::uint64_t>("events", 50)));
  // The subscription figures: every commit reached the subscribers (the
  // bench checks it), the durable subscription read the whole large store.
  const auto named = [&](const std::string& name) {
    return *std::find_if(figures.begin(), figures.end(),
                         [&](const auto& f) { return f.name == name; });
  };
  EXPECT_EQ(named("subscriber_latency_cross_process").measured.samples, 5u);
  EXPECT_EQ(named("subscriber_latency_sync").bound, "commit_latency_us");
  EXPECT_EQ(named("commit_rate_async_subscriber").unit, "commits_per_sec");
  EXPECT_EQ(named("commit_rate_async_subscriber").bound,
            "commit_rate_no_subscriber_commits_per_sec");
  EXPECT_EQ(named("follow_events_catch_up").params.at(0),
            (std::pair<std::string, std::uint64_t>("events", 2200)));
  EXPECT_EQ(named("durable_catch_up").params.at(0),
            (std::pair<std::string, std::uint64_t>("events", 2200)));
  EXPECT_EQ(named("durable_catch_up").bound,
            "log_sequential_read_events_per_sec");
}

TEST(HistoryBenchTest, PrintsOneLinePerFigure) {
  const testutil::TempDir tmp;
  const ToolRun run = run_tool(kTinyArgs + tmp.path().string(), false);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output, ::testing::StartsWith("# wfstore "));
  const std::regex latency(
      "\nhistory=workflow_query log_events=2200 workflows=200 "
      "events_per_workflow=11 samples=[1-5] median_us=[0-9.]+ p99_us=[0-9.]+ "
      "lmdb_get_plus_commit_reads_us=[0-9.]+ ratio=[0-9]+\\.[0-9]{2}\n");
  EXPECT_TRUE(std::regex_search(run.output, latency)) << run.output;
  const std::regex rate(
      "\nhistory=type_query queries=[0-9]+ events=[0-9]+ "
      "events_per_sec=[0-9.]+ log_sequential_read_events_per_sec=[0-9.]+ "
      "ratio=[0-9]+\\.[0-9]{2}\n");
  EXPECT_TRUE(std::regex_search(run.output, rate)) << run.output;
  for (const std::string& name : figures_in_order()) {
    EXPECT_THAT(run.output, ::testing::HasSubstr("\nhistory=" + name + " "))
        << name;
  }
  EXPECT_THAT(run.output, ::testing::Not(::testing::HasSubstr("not_measured")));
  // The scratch directory is removed afterwards.
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST(HistoryBenchTest, JsonIsOneDocument) {
  const testutil::TempDir tmp;
  const ToolRun run =
      run_tool(std::string(kTinyArgs) + tmp.path().string() + " --json", false);
  ASSERT_EQ(run.status, 0) << run.output;
  const nlohmann::json doc = nlohmann::json::parse(run.output);
  EXPECT_EQ(doc.at("history_events"), 2200);
  const std::vector<std::string> names = figures_in_order();
  ASSERT_EQ(doc.at("figures").size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const nlohmann::json& f = doc["figures"][i];
    EXPECT_EQ(f.at("name"), names[i]);
    EXPECT_FALSE(f.contains("not_measured")) << f.dump();
    EXPECT_GT(f.value("bound_value", 0.0), 0) << f.dump();
  }
  EXPECT_EQ(doc["figures"][1]["log_events"], 1100);
  const nlohmann::json& cross = doc["figures"][14];
  EXPECT_EQ(cross.at("name"), "subscriber_latency_cross_process");
  EXPECT_EQ(cross.at("poll_interval_ms"), 2);
  EXPECT_GT(cross.at("median_us").get<double>(), 0);
  EXPECT_GT(doc["figures"][16].at("commits_per_sec").get<double>(), 0);
  EXPECT_GT(doc["figures"][17].at("events_per_sec").get<double>(), 0);
  EXPECT_EQ(doc["figures"][18].at("batch_size"), 100);
  EXPECT_EQ(doc["figures"][19].at("batch_size"), 1000);
  EXPECT_GE(doc["figures"][1]["p99_us"].get<double>(),
            doc["figures"][1]["median_us"].get<double>());
}

TEST(HistoryBenchTest, RejectsATooSmallStore) {
  const ToolRun run = run_tool("bench --history --history-events 10");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.output, ::testing::HasSubstr("--history-events"));
}

}  // namespace
}  // namespace wfstore
