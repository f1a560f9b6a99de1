// `wfstore timeline` and `wfstore metrics` run as real processes on real
// stores: tables, --json documents, the SVG picture parsed as XML with one bar
// per stage coloured by its final status, the exit codes of bad input, and
// both commands on a store another process is writing.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/timeline_svg.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/log_test_util.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/xml_check.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testutil::run_tool;
using testutil::TempDir;
using testutil::ToolRun;

constexpr std::int64_t kTen = 1796464800000;

json ok_json(const std::string& args) {
  const ToolRun run = run_tool(args, false);
  EXPECT_EQ(run.status, 0) << args << ": " << run.output;
  if (run.status != 0) return json();
  return json::parse(run.output);
}

std::string ok_text(const std::string& args) {
  const ToolRun run = run_tool(args, false);
  EXPECT_EQ(run.status, 0) << args << ": " << run.output;
  return run.output;
}

// wf-1: build SUCCEEDED (250 ms), test TERMINAL, ship SKIPPED, docs never
// started; the workflow TERMINAL. wf-2: stored only.
class ProjectionsToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options = testutil::quiet_options();
    auto clock = std::make_shared<testutil::FakeClock>(kTen);
    options.clock = clock;
    auto db = Database::open(dir_, options);
    WorkflowStore& store = db->workflow_store();
    Workflow wf =
        testutil::bare_workflow("wf-1", "app", WorkflowStatus::kNotStarted, {});
    wf.name = "release <1> & co";
    for (const char* ref : {"build", "test", "ship", "docs"}) {
      wf.stages.push_back(testutil::make_stage("wf-1", ref, "shell", ref,
                                               WorkflowStatus::kNotStarted));
    }
    store.store(wf);
    store.store(testutil::bare_workflow("wf-2", "app",
                                        WorkflowStatus::kNotStarted, {}));
    const auto move = [&](const std::string& id, WorkflowStatus status,
                          std::optional<std::int64_t> start,
                          std::optional<std::int64_t> end) {
      clock->advance(1000);
      StageExecution s = store.retrieve_stage(id).stage();
      s.status = status;
      s.start_time = start;
      s.end_time = end;
      store.store_stage(s);
    };
    move("wf-1.build", WorkflowStatus::kRunning, kTen, {});
    move("wf-1.build", WorkflowStatus::kSucceeded, kTen, kTen + 250);
    move("wf-1.test", WorkflowStatus::kRunning, kTen + 250, {});
    move("wf-1.test", WorkflowStatus::kTerminal, kTen + 250, kTen + 900);
    move("wf-1.ship", WorkflowStatus::kSkipped, {}, {});
    wf = store.retrieve_execution_summary("wf-1");
    wf.status = WorkflowStatus::kTerminal;
    wf.start_time = kTen;
    wf.end_time = kTen + 1000;
    clock->advance(1000);
    store.update_status(wf);
    db->close();
  }

  std::string d() const { return " --dir " + dir_.string(); }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
};

TEST_F(ProjectionsToolTest, MetricsTableAndJson) {
  const json m = ok_json("metrics --json" + d());
  const json& shell = m.at("stages").at("shell");
  EXPECT_EQ(shell.at("execution_count"), 2);
  EXPECT_EQ(shell.at("success_count"), 1);
  EXPECT_EQ(shell.at("failure_count"), 1);
  EXPECT_EQ(shell.at("skip_count"), 1);
  EXPECT_EQ(shell.at("success_rate"), 50.0);
  EXPECT_EQ(shell.at("min_duration_ms"), 250);
  EXPECT_EQ(shell.at("max_duration_ms"), 650);
  EXPECT_EQ(shell.at("p95_duration_ms"), 650.0);
  EXPECT_EQ(m.at("top_failing_stages").at(0).at(0), "shell");
  const std::string table = ok_text("metrics" + d());
  EXPECT_THAT(table, HasSubstr("STAGE TYPE"));
  EXPECT_THAT(table, HasSubstr("TASK NAME"));
  EXPECT_THAT(table, HasSubstr("shell"));
  EXPECT_THAT(table, HasSubstr("50.00"));
  // One workflow, and as of an earlier point (after build's start only).
  EXPECT_EQ(ok_json("metrics --json --workflow wf-2" + d()).at("stages"),
            json::object());
  const json early = ok_json("metrics --json --at 3" + d());
  EXPECT_EQ(early.at("stages").at("shell").at("execution_count"), 1);
  EXPECT_EQ(early.at("stages").at("shell").at("success_count"), 0);
}

TEST_F(ProjectionsToolTest, TimelineTableAndJson) {
  const json tl = ok_json("timeline wf-1 --json" + d());
  EXPECT_EQ(tl.at("workflow_id"), "wf-1");
  EXPECT_EQ(tl.at("status"), "TERMINAL");
  EXPECT_EQ(tl.at("total_duration_ms"), 1000);
  std::vector<std::string> types;
  for (const json& e : tl.at("entries")) types.push_back(e.at("event_type"));
  EXPECT_THAT(types, ::testing::ElementsAre(
                         "workflow.created", "stage.started", "stage.completed",
                         "stage.started", "stage.failed", "stage.skipped",
                         // NOT_STARTED -> TERMINAL: both
                         "workflow.started", "workflow.failed"));
  EXPECT_EQ(tl.at("stages").size(), 4U);
  const std::string text = ok_text("timeline wf-1" + d());
  EXPECT_THAT(text, HasSubstr("stage.failed"));
  EXPECT_THAT(text, HasSubstr("TERMINAL"));
  EXPECT_THAT(text, HasSubstr("stages:"));
}

TEST_F(ProjectionsToolTest, TheSvgHasOneBarPerStageInItsFinalColour) {
  const std::filesystem::path file = tmp_ / "wf-1.svg";
  const std::string out = ok_text("timeline wf-1 --svg " + file.string() + d());
  EXPECT_THAT(out, HasSubstr(file.string()));
  const testutil::XmlElement root =
      testutil::parse_xml(log::testutil::read_file_bytes(file));
  const auto bars = root.find_all("rect", "data-stage");
  ASSERT_EQ(bars.size(), 4U);
  const std::vector<std::pair<std::string, WorkflowStatus>> expected = {
      {"wf-1.build", WorkflowStatus::kSucceeded},
      {"wf-1.test", WorkflowStatus::kTerminal},
      {"wf-1.ship", WorkflowStatus::kSkipped},
      {"wf-1.docs", WorkflowStatus::kNotStarted}};
  for (std::size_t i = 0; i < bars.size(); ++i) {
    EXPECT_EQ(bars[i]->attributes.at("data-stage"), expected[i].first);
    EXPECT_EQ(bars[i]->attributes.at("fill"),
              timeline_status_color(expected[i].second));
  }
  EXPECT_THAT(root.all_text(), HasSubstr("release <1> & co"));
  // --svg with --json writes the picture and prints the document.
  const std::filesystem::path again = tmp_ / "again.svg";
  EXPECT_EQ(ok_json("timeline wf-1 --json --svg " + again.string() + d())
                .at("workflow_id"),
            "wf-1");
  EXPECT_TRUE(std::filesystem::exists(again));
}

// The picture is a file for anyone to open: the mode a new file gets (0666
// less the umask), as any file the user writes, not a store's private 0600.
TEST_F(ProjectionsToolTest, TheSvgHasTheModeOfANewFile) {
  const mode_t old_mask = ::umask(022);
  const std::filesystem::path file = tmp_ / "shared.svg";
  const ToolRun run = run_tool("timeline wf-1 --svg " + file.string() + d());
  ::umask(old_mask);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(std::filesystem::status(file).permissions(),
            std::filesystem::perms::owner_read |
                std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read |
                std::filesystem::perms::others_read);
}

TEST_F(ProjectionsToolTest, BadInputIsAClearErrorAndChangesNothing) {
  const std::string before =
      log::testutil::read_file_bytes(dir_ / "log" / "00000000000000000001.log");
  ToolRun run = run_tool("timeline nope" + d());
  EXPECT_EQ(run.status, 3) << run.output;
  EXPECT_THAT(run.output, HasSubstr("wfstore: Execution not found: nope"));
  run = run_tool("metrics --workflow nope" + d());
  EXPECT_EQ(run.status, 3) << run.output;
  const std::filesystem::path missing = tmp_ / "no-such-dir" / "t.svg";
  run = run_tool("timeline wf-1 --svg " + missing.string() + d());
  EXPECT_EQ(run.status, 3) << run.output;
  EXPECT_THAT(run.output, HasSubstr("does not exist"));
  EXPECT_FALSE(std::filesystem::exists(missing.parent_path()));
  run = run_tool("timeline wf-1 --at 999" + d());
  EXPECT_EQ(run.status, 3) << run.output;
  run = run_tool("metrics --at yesterday" + d());
  EXPECT_EQ(run.status, 2) << run.output;
  run = run_tool("metrics --dir " + (tmp_ / "nothing").string());
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_EQ(
      log::testutil::read_file_bytes(dir_ / "log" / "00000000000000000001.log"),
      before);
}

TEST_F(ProjectionsToolTest, BothReadAStoreAnotherProcessIsWriting) {
  const std::filesystem::path dir = dir_;
  testutil::ChildProcess child = testutil::ChildProcess::spawn([dir](int fd) {
    auto db = Database::open(dir);
    WorkflowStore& store = db->workflow_store();
    for (int i = 0;; ++i) {
      StageExecution s = store.retrieve_stage("wf-1.docs").stage();
      s.status =
          i % 2 == 0 ? WorkflowStatus::kRunning : WorkflowStatus::kSucceeded;
      store.store_stage(s);
      if (i == 20) {
        const char line[] = "ready\n";
        if (::write(fd, line, sizeof(line) - 1) < 0) return;
      }
    }
  });
  ASSERT_EQ(child.read_line(), "ready");
  const json m = ok_json("metrics --json" + d());
  EXPECT_GE(m.at("stages").at("shell").at("execution_count").get<int>(), 12);
  const json tl = ok_json("timeline wf-1 --json" + d());
  EXPECT_GE(tl.at("entries").size(), 28U);
  const std::filesystem::path file = tmp_ / "live.svg";
  ok_text("timeline wf-1 --svg " + file.string() + d());
  EXPECT_EQ(testutil::parse_xml(log::testutil::read_file_bytes(file))
                .find_all("rect", "data-stage")
                .size(),
            4U);
}

}  // namespace
}  // namespace wfstore
