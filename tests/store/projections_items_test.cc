// The reference's projections (docs/projections.md; items 84-86 of
// docs/semantics.md §10.12) on real stores: timelines and metrics built from
// History queries, and the same projections maintained one event at a time
// from the log.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/history_projections.h"
#include "wfstore/message.h"
#include "wfstore/projections.h"
#include "wfstore/queue.h"

#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using testutil::make_stage;
using testutil::make_task;
using testutil::TempDir;

constexpr std::int64_t kT0 = 1'800'000'000'000;

std::vector<std::string> types_of(const std::vector<TimelineEntry>& es) {
  std::vector<std::string> out;
  for (const TimelineEntry& e : es) out.push_back(e.event_type);
  return out;
}

class ProjectionItemsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options = testutil::quiet_options();
    options.clock = clock_;
    db_ = Database::open(tmp_ / "store", options);
  }

  WorkflowStore& store() { return db_->workflow_store(); }

  // A workflow `id` whose stages are (ref_id, type) pairs, NOT_STARTED.
  void store_workflow(
      const std::string& id,
      const std::vector<std::pair<std::string, std::string>>& stages) {
    Workflow wf = testutil::bare_workflow(
        id, "app", WorkflowStatus::kNotStarted, std::nullopt);
    wf.name = "release " + id;
    for (const auto& [ref, type] : stages) {
      wf.stages.push_back(
          make_stage(id, ref, type, ref, WorkflowStatus::kNotStarted));
    }
    tick();
    store().store(wf);
  }

  void workflow_status(const std::string& id, WorkflowStatus status) {
    Workflow wf = store().retrieve_execution_summary(id);
    wf.status = status;
    if (status == WorkflowStatus::kRunning) wf.start_time = clock_->now_ms();
    if (is_complete(status)) wf.end_time = clock_->now_ms() + 1000;
    tick();
    store().update_status(wf);
  }

  // Moves a stage to `status` with the given times (each store_stage one
  // commit, one second after the last).
  void stage_status(const std::string& stage_id, WorkflowStatus status,
                    std::optional<std::int64_t> start = std::nullopt,
                    std::optional<std::int64_t> end = std::nullopt) {
    StageExecution s = store().retrieve_stage(stage_id).stage();
    s.status = status;
    if (start) s.start_time = start;
    if (end) s.end_time = end;
    tick();
    store().store_stage(s);
  }

  // RUNNING, then `status`, with start and end times `duration` apart.
  void run_stage(const std::string& stage_id, WorkflowStatus status,
                 std::optional<std::int64_t> duration) {
    stage_status(stage_id, WorkflowStatus::kRunning, kT0);
    stage_status(stage_id, status, std::nullopt,
                 duration ? std::optional(kT0 + *duration) : std::nullopt);
  }

  void tick() { clock_->advance(1000); }

  History history() { return History(*db_); }

  TempDir tmp_;
  std::shared_ptr<testutil::FakeClock> clock_ =
      std::make_shared<testutil::FakeClock>(kT0);
  std::unique_ptr<Database> db_;
};

// Item 84: the timeline holds one entry per transition (5 for 5), its status
// is SUCCEEDED, total_duration_ms > 0, get_stages() has 2 and get_failures()
// 2; other workflows are ignored; reset empties it; to_json has the keys.
TEST_F(ProjectionItemsTest, Item84TimelineEntriesStatusFailuresAndReset) {
  store_workflow("wf-1", {{"build", "shell"}});
  store_workflow("wf-2", {{"build", "shell"}});  // another workflow
  workflow_status("wf-1", WorkflowStatus::kRunning);
  stage_status("wf-1.build", WorkflowStatus::kRunning);
  stage_status("wf-2.build", WorkflowStatus::kRunning);
  stage_status("wf-1.build", WorkflowStatus::kSucceeded);
  workflow_status("wf-1", WorkflowStatus::kSucceeded);

  const WorkflowTimeline tl = workflow_timeline(history(), "wf-1");
  EXPECT_EQ(tl.workflow_id, "wf-1");
  EXPECT_THAT(
      types_of(tl.entries),
      ElementsAre("workflow.created", "workflow.started", "stage.started",
                  "stage.completed", "workflow.completed"));
  EXPECT_EQ(tl.status, WorkflowStatus::kSucceeded);
  ASSERT_TRUE(tl.start_ms && tl.end_ms && tl.total_duration_ms);
  EXPECT_GT(*tl.total_duration_ms, 0);
  EXPECT_EQ(tl.get_stages().size(), 2U);
  EXPECT_TRUE(tl.get_failures().empty());
  EXPECT_EQ(tl.entries[3].duration_ms, 2000);  // from its matching start
  const nlohmann::json j = tl.to_json();
  for (const char* key : {"workflow_id", "entries", "total_duration_ms",
                          "status", "start_time", "end_time"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j.at("entries").size(), 5U);

  // Failures: a failed stage and a failed workflow.
  store_workflow("wf-3", {{"build", "shell"}});
  workflow_status("wf-3", WorkflowStatus::kRunning);
  stage_status("wf-3.build", WorkflowStatus::kRunning);
  stage_status("wf-3.build", WorkflowStatus::kTerminal);
  workflow_status("wf-3", WorkflowStatus::kTerminal);
  const WorkflowTimeline failed = workflow_timeline(history(), "wf-3");
  EXPECT_EQ(failed.get_failures().size(), 2U);
  EXPECT_EQ(failed.status, WorkflowStatus::kTerminal);

  // Fed every event of the store, the projection ignores the other
  // workflows; reset empties it.
  WorkflowTimelineProjection projection("wf-1");
  for (const Event& e : history().events(EventQuery{})) projection.apply(e);
  EXPECT_EQ(projection.to_json(), tl.to_json());
  projection.reset();
  EXPECT_TRUE(projection.state().entries.empty());
  EXPECT_FALSE(projection.state().status);
  EXPECT_TRUE(projection.state().stages.empty());
}

// Item 85: counts per stage type, success and failure counts, success_rate
// 75.0, avg/min/max durations 200/100/300, skip counts, task success and
// retry counts, top-slowest order, reset, to_json.
TEST_F(ProjectionItemsTest, Item85MetricsCountsRatesDurationsAndOrder) {
  store_workflow("wf", {{"s1", "shell"},
                        {"s2", "shell"},
                        {"s3", "shell"},
                        {"s4", "shell"},
                        {"p1", "python"},
                        {"k1", "skipper"},
                        {"k2", "skipper"},
                        {"fast", "fast"},
                        {"medium", "medium"},
                        {"slow", "slow"}});
  run_stage("wf.s1", WorkflowStatus::kSucceeded, 100);
  run_stage("wf.s2", WorkflowStatus::kSucceeded, 200);
  run_stage("wf.s3", WorkflowStatus::kSucceeded, 300);
  run_stage("wf.s4", WorkflowStatus::kTerminal, std::nullopt);
  stage_status("wf.p1", WorkflowStatus::kRunning, kT0);
  stage_status("wf.k1", WorkflowStatus::kSkipped);
  stage_status("wf.k2", WorkflowStatus::kSkipped);
  run_stage("wf.fast", WorkflowStatus::kSucceeded, 100);
  run_stage("wf.medium", WorkflowStatus::kSucceeded, 500);
  run_stage("wf.slow", WorkflowStatus::kSucceeded, 1000);

  // Tasks: "compile" succeeds; "deploy"'s RunTask is delivered twice.
  StageExecution build =
      make_stage("wf", "build", "shell", "build", WorkflowStatus::kNotStarted);
  build.tasks.push_back(make_task(build.id, 0, "compile", "Compile",
                                  WorkflowStatus::kNotStarted));
  build.tasks.push_back(
      make_task(build.id, 1, "deploy", "Deploy", WorkflowStatus::kNotStarted));
  tick();
  store().store_stage(build);
  build = store().retrieve_stage(build.id).stage();
  build.tasks[0].status = WorkflowStatus::kRunning;
  tick();
  store().store_stage(build);
  build.tasks[0].status = WorkflowStatus::kSucceeded;
  tick();
  store().store_stage(build);
  {
    Queue queue(*db_);
    RunTask run;
    run.execution_id = "wf";
    run.stage_id = build.id;
    run.task_id = build.tasks[1].id;
    run.task_type = "deploy";
    const std::uint64_t id = queue.push(run);
    ASSERT_EQ(queue.poll_one()->attempts, 1);
    queue.reschedule(id, std::chrono::milliseconds{0});
    ASSERT_EQ(queue.poll_one()->attempts, 2);
  }

  const StageMetricsProjection m = stage_metrics(history());
  const EntityMetrics* shell = m.metrics_for_type("shell");
  ASSERT_NE(shell, nullptr);
  EXPECT_EQ(shell->execution_count, 4U);
  EXPECT_EQ(shell->success_count, 3U);
  EXPECT_EQ(shell->failure_count, 1U);
  EXPECT_EQ(shell->success_rate(), 75.0);
  EXPECT_EQ(shell->avg_duration_ms(), 200.0);
  EXPECT_EQ(shell->min_duration_ms(), 100);
  EXPECT_EQ(shell->max_duration_ms(), 300);
  EXPECT_EQ(m.metrics_for_type("python")->execution_count, 1U);
  EXPECT_EQ(m.metrics_for_type("skipper")->skip_count, 2U);
  EXPECT_EQ(m.metrics_for_type("skipper")->execution_count, 0U);
  ASSERT_NE(m.task_metrics_for_name("compile"), nullptr);
  EXPECT_EQ(m.task_metrics_for_name("compile")->success_count, 1U);
  EXPECT_EQ(m.task_metrics_for_name("compile")->execution_count, 1U);
  EXPECT_EQ(m.task_metrics_for_name("compile")->implementing_class, "Compile");
  ASSERT_NE(m.task_metrics_for_name("deploy"), nullptr);
  EXPECT_EQ(m.task_metrics_for_name("deploy")->retry_count, 1U);
  const auto slowest = m.top_slowest_stages(2);
  ASSERT_EQ(slowest.size(), 2U);
  EXPECT_EQ(slowest[0].first, "slow");
  EXPECT_EQ(slowest[1].first, "medium");

  const nlohmann::json j = m.to_json();
  EXPECT_EQ(j.at("stages").at("shell").at("success_count"), 3);
  EXPECT_EQ(j.at("stages").at("shell").at("success_rate"), 75.0);
  EXPECT_EQ(j.at("tasks").at("deploy").at("retry_count"), 1);
  EXPECT_EQ(j.at("top_slowest_stages").at(0).at(0), "slow");

  StageMetricsProjection copy = m;
  copy.reset();
  EXPECT_TRUE(copy.stages().empty());
  EXPECT_TRUE(copy.tasks().empty());
}

// Item 86: the same (entity, type, version) seen again at another LSN counts
// once; a new version counts again. In wfstore a stage's versions start over
// when its workflow is deleted and stored again, which replays the same
// transitions at new LSNs.
TEST_F(ProjectionItemsTest, Item86MetricsDedupByEntityTypeAndVersion) {
  store_workflow("wf", {{"s1", "shell"}});
  stage_status("wf.s1", WorkflowStatus::kRunning);  // version 1: started
  tick();
  store().delete_workflow("wf");
  store_workflow("wf", {{"s1", "shell"}});
  stage_status("wf.s1", WorkflowStatus::kRunning);  // version 1 again
  const StageMetricsProjection once = stage_metrics(history());
  EXPECT_EQ(once.metrics_for_type("shell")->execution_count, 1U);

  stage_status("wf.s1", WorkflowStatus::kSucceeded);  // version 2
  stage_status("wf.s1", WorkflowStatus::kRunning);    // version 3: restart
  const StageMetricsProjection twice = stage_metrics(history());
  EXPECT_EQ(twice.metrics_for_type("shell")->execution_count, 2U);
  EXPECT_EQ(twice.metrics_for_type("shell")->retry_count, 1U);
  EXPECT_EQ(twice.metrics_for_type("shell")->success_count, 1U);

  // The tracker saw three starts; the dedup kept two.
  TransitionTracker tracker;
  int starts = 0;
  for (const Event& e : history().events(EventQuery{})) {
    for (const Transition& t : tracker.apply(e)) {
      starts += t.event_type() == "stage.started" ? 1 : 0;
    }
  }
  EXPECT_EQ(starts, 3);

  // Every event handed twice (an at-least-once subscriber) changes nothing.
  StageMetricsProjection live;
  for (const Event& e : history().events(EventQuery{})) {
    live.apply(e);
    live.apply(e);
  }
  EXPECT_EQ(live.to_json(), twice.to_json());
}

TEST_F(ProjectionItemsTest, IncrementalFromTheLogEqualsTheHistoryQuery) {
  store_workflow("wf", {{"a", "shell"}, {"b", "shell"}});
  workflow_status("wf", WorkflowStatus::kRunning);
  run_stage("wf.a", WorkflowStatus::kSucceeded, 300);
  tick();
  store().pause("wf", "bob");
  tick();
  store().resume("wf");
  run_stage("wf.b", WorkflowStatus::kStopped, 50);
  workflow_status("wf", WorkflowStatus::kStopped);
  WorkflowTimelineProjection timeline("wf");
  StageMetricsProjection metrics;
  for_each_event(tmp_ / "store", 0, [&](const Event& e) {
    timeline.apply(e);
    metrics.apply(e);
    return true;
  });
  const WorkflowTimeline batch = workflow_timeline(history(), "wf");
  EXPECT_EQ(timeline.to_json(), batch.to_json());
  EXPECT_EQ(batch.paused.size(), 1U);
  EXPECT_EQ(batch.status, WorkflowStatus::kStopped);
  // The metrics read only the event types that feed them, yet agree.
  EXPECT_EQ(metrics.to_json().at("stages"),
            stage_metrics(history()).to_json().at("stages"));
}

TEST_F(ProjectionItemsTest, BadInputIsAClearErrorAndReadsNothingElse) {
  store_workflow("wf", {{"a", "shell"}});
  EXPECT_THROW(workflow_timeline(history(), "nope"), WorkflowNotFoundError);
  EXPECT_THROW(workflow_timeline(history(), "wf", 99), InvalidArgumentError);
  MetricsQuery query;
  query.workflow_id = "nope";
  EXPECT_THROW(stage_metrics(history(), query), WorkflowNotFoundError);
  // As of an earlier LSN: the workflow existed from LSN 1 on.
  EXPECT_EQ(workflow_timeline(history(), "wf", 1).entries.size(), 1U);
}

}  // namespace
}  // namespace wfstore
