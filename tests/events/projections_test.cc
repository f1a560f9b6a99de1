// The projections over hand-built events: the mapping of wfstore events to
// the reference's transitions (docs/projections.md), the timeline's entries
// and spans, the metrics' figures and dedup rules, incremental use.

#include "wfstore/projections.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "tests/testutil/sample_workflows.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using testutil::make_stage;
using testutil::make_task;

constexpr std::int64_t kT0 = 1'800'000'000'000;

// Builds a workflow's events with increasing LSNs, one second apart.
class Script {
 public:
  explicit Script(std::string wf) : wf_(std::move(wf)) {}

  Event next(EventPayload payload) {
    Event e;
    e.lsn = ++lsn_;
    e.commit_id = e.lsn;
    e.timestamp_ms = kT0 + static_cast<std::int64_t>(e.lsn) * 1000;
    e.payload = std::move(payload);
    e.workflow_id = event_workflow_id(e.payload);
    return e;
  }
  Event stored(const std::vector<StageExecution>& stages) {
    Workflow w;
    w.id = wf_;
    w.name = "release";
    w.application = "app";
    w.stages = stages;
    return next(WorkflowStored{w});
  }
  Event stage(const StageExecution& s, WorkflowStatus status,
              std::optional<std::int64_t> start = std::nullopt,
              std::optional<std::int64_t> end = std::nullopt,
              std::vector<TaskExecution> tasks = {}) {
    StageUpdated u;
    u.execution_id = wf_;
    u.stage_id = s.id;
    u.version = ++versions_[s.id];
    u.status = status;
    u.start_time = start;
    u.end_time = end;
    u.tasks = std::move(tasks);
    return next(u);
  }
  Event workflow(WorkflowStatus status, std::optional<std::int64_t> start,
                 std::optional<std::int64_t> end = std::nullopt) {
    WorkflowStatusSet s;
    s.workflow_id = wf_;
    s.status = status;
    s.start_time = start;
    s.end_time = end;
    return next(s);
  }
  std::uint64_t lsn() const { return lsn_; }
  std::string wf_;

 private:
  std::uint64_t lsn_ = 0;
  std::map<std::string, std::int64_t> versions_;
};

std::vector<std::string> types_of(const std::vector<Transition>& ts) {
  std::vector<std::string> out;
  for (const Transition& t : ts) out.push_back(t.event_type());
  return out;
}

std::vector<std::string> types_of(const std::vector<TimelineEntry>& es) {
  std::vector<std::string> out;
  for (const TimelineEntry& e : es) out.push_back(e.event_type);
  return out;
}

TEST(TransitionTrackerTest, StageStatusChangesMapToTheReferenceTransitions) {
  Script s("wf");
  const StageExecution build =
      make_stage("wf", "build", "shell", "Build", WorkflowStatus::kNotStarted);
  TransitionTracker tracker;
  EXPECT_THAT(types_of(tracker.apply(s.stored({build}))),
              ElementsAre("workflow.created"));
  const std::vector<Transition> started =
      tracker.apply(s.stage(build, WorkflowStatus::kRunning, kT0));
  ASSERT_THAT(types_of(started), ElementsAre("stage.started"));
  EXPECT_EQ(started[0].stage_type, "shell");
  EXPECT_EQ(started[0].entity_name, "Build");
  EXPECT_EQ(started[0].version, 1);
  // A status-only change inside RUNNING (pause of a stage) or a context
  // change makes no transition: the reference leaves them out of timelines.
  EXPECT_TRUE(
      tracker.apply(s.stage(build, WorkflowStatus::kRunning, kT0)).empty());
  const std::vector<Transition> done =
      tracker.apply(s.stage(build, WorkflowStatus::kTerminal, kT0, kT0 + 250));
  ASSERT_THAT(types_of(done), ElementsAre("stage.failed"));
  EXPECT_EQ(done[0].duration_ms, 250);
  EXPECT_EQ(done[0].details.at("error"), "Unknown error");
  // Restarted from a complete status: retried, then started again.
  EXPECT_THAT(types_of(tracker.apply(s.stage(build, WorkflowStatus::kRunning))),
              ElementsAre("stage.retried", "stage.started"));
  EXPECT_THAT(types_of(tracker.apply(s.stage(build, WorkflowStatus::kSkipped))),
              ElementsAre("stage.skipped"));
}

TEST(TransitionTrackerTest, TasksAndQueueDeliveriesMapToTaskTransitions) {
  Script s("wf");
  StageExecution build =
      make_stage("wf", "build", "shell", "Build", WorkflowStatus::kNotStarted);
  build.tasks.push_back(make_task(build.id, 0, "compile", "Compile",
                                  WorkflowStatus::kNotStarted));
  TransitionTracker tracker;
  tracker.apply(s.stored({build}));
  TaskExecution task = build.tasks[0];
  task.status = WorkflowStatus::kRunning;
  task.start_time = kT0;
  EXPECT_THAT(types_of(tracker.apply(
                  s.stage(build, WorkflowStatus::kRunning, kT0, {}, {task}))),
              ElementsAre("stage.started", "task.started"));
  MessagePushed push;
  push.delivery_id = 7;
  push.execution_id = "wf";
  push.message_type = "RunTask";
  push.payload = Json(nlohmann::json{
      {"execution_id", "wf"}, {"stage_id", build.id}, {"task_id", task.id}});
  EXPECT_TRUE(tracker.apply(s.next(push)).empty());
  // The first lease is no retry; the second is.
  EXPECT_TRUE(tracker.apply(s.next(MessageLeased{7, "wf", 1, 0})).empty());
  const std::vector<Transition> retry =
      tracker.apply(s.next(MessageLeased{7, "wf", 2, 0}));
  ASSERT_THAT(types_of(retry), ElementsAre("task.retried"));
  EXPECT_EQ(retry[0].entity_name, "compile");
  EXPECT_EQ(retry[0].stage_id, build.id);
  EXPECT_EQ(retry[0].version, 0);
  EXPECT_THAT(types_of(tracker.apply(
                  s.next(MessageDeadLettered{7, "wf", "boom", kT0}))),
              ElementsAre("task.dead_lettered"));
  // Replayed: the new delivery is about the same task.
  tracker.apply(s.next(DeadLetterReplayed{7, 8, "wf", kT0}));
  EXPECT_THAT(types_of(tracker.apply(s.next(MessageLeased{8, "wf", 2, 0}))),
              ElementsAre("task.retried"));
  task.status = WorkflowStatus::kSucceeded;
  task.end_time = kT0 + 40;
  const std::vector<Transition> done = tracker.apply(
      s.stage(build, WorkflowStatus::kSucceeded, kT0, kT0 + 50, {task}));
  EXPECT_THAT(types_of(done), ElementsAre("task.completed", "stage.completed"));
  EXPECT_EQ(done[0].duration_ms, 40);
  EXPECT_EQ(done[1].duration_ms, 50);
}

TEST(TransitionTrackerTest, AnEventAtOrBelowTheLastLsnIsIgnored) {
  Script s("wf");
  const StageExecution build =
      make_stage("wf", "build", "shell", "Build", WorkflowStatus::kNotStarted);
  TransitionTracker tracker;
  const Event stored = s.stored({build});
  const Event started = s.stage(build, WorkflowStatus::kRunning);
  EXPECT_EQ(tracker.apply(stored).size(), 1U);
  EXPECT_EQ(tracker.apply(started).size(), 1U);
  EXPECT_TRUE(tracker.apply(started).empty());
  EXPECT_TRUE(tracker.apply(stored).empty());
  EXPECT_EQ(tracker.last_lsn(), 2U);
  tracker.reset();
  EXPECT_EQ(tracker.apply(stored).size(), 1U);
}

TEST(TimelineProjectionTest, SpansAndPausesFollowTheEvents) {
  Script s("wf");
  StageExecution a =
      make_stage("wf", "a", "shell", "A", WorkflowStatus::kNotStarted);
  StageExecution b =
      make_stage("wf", "b", "shell", "", WorkflowStatus::kNotStarted);
  WorkflowTimelineProjection p("wf");
  p.apply(s.stored({a, b}));
  p.apply(s.workflow(WorkflowStatus::kRunning, kT0 + 2000));
  p.apply(s.stage(a, WorkflowStatus::kRunning, kT0 + 3000));
  p.apply(s.next(WorkflowPaused{"wf", "bob", kT0 + 4000}));
  p.apply(s.stage(a, WorkflowStatus::kPaused, kT0 + 3000));
  p.apply(s.stage(a, WorkflowStatus::kRunning, kT0 + 3000));
  p.apply(s.next(WorkflowResumed{"wf", kT0 + 7000}));
  p.apply(s.stage(a, WorkflowStatus::kSucceeded, kT0 + 3000, kT0 + 8500));
  p.apply(s.workflow(WorkflowStatus::kSucceeded, kT0 + 2000, kT0 + 10000));
  const WorkflowTimeline& tl = p.state();
  EXPECT_THAT(
      types_of(tl.entries),
      ElementsAre("workflow.created", "workflow.started", "stage.started",
                  "workflow.paused", "workflow.resumed", "stage.completed",
                  "workflow.completed"));
  EXPECT_EQ(tl.status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(tl.total_duration_ms, 8000);
  ASSERT_EQ(tl.paused.size(), 1U);
  EXPECT_EQ(tl.paused[0].from_ms, kT0 + 4000);
  EXPECT_EQ(tl.paused[0].to_ms, kT0 + 7000);
  ASSERT_EQ(tl.stages.size(), 2U);
  EXPECT_EQ(tl.stages[0].status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(tl.stages[0].duration_ms, 5500);
  EXPECT_EQ(tl.stages[0].executions, 1U);
  ASSERT_EQ(tl.stages[0].paused.size(), 1U);  // the stage's own PAUSED
  EXPECT_EQ(tl.stages[0].paused[0].from_ms, kT0 + 5000);
  EXPECT_EQ(tl.stages[0].paused[0].to_ms, kT0 + 6000);
  EXPECT_EQ(tl.stages[1].name, "b");  // no name: the ref_id
  EXPECT_EQ(tl.stages[1].status, WorkflowStatus::kNotStarted);
  EXPECT_FALSE(tl.stages[1].start_ms);
  // The completion's duration comes from the stage's own times.
  EXPECT_EQ(tl.entries[5].duration_ms, 5500);
  const nlohmann::json j = p.to_json();
  EXPECT_EQ(j.at("stages").size(), 2U);
  EXPECT_EQ(j.at("status"), "SUCCEEDED");
}

TEST(TimelineProjectionTest, DurationFallsBackToTheMatchingStart) {
  Script s("wf");
  const StageExecution a =
      make_stage("wf", "a", "shell", "A", WorkflowStatus::kNotStarted);
  WorkflowTimelineProjection p("wf");
  p.apply(s.stored({a}));
  p.apply(s.stage(a, WorkflowStatus::kRunning));    // at kT0 + 2 s
  p.apply(s.stage(a, WorkflowStatus::kSucceeded));  // at kT0 + 3 s
  EXPECT_EQ(p.state().entries.back().duration_ms, 1000);
  EXPECT_EQ(p.state().stages[0].start_ms, kT0 + 2000);
  EXPECT_EQ(p.state().stages[0].end_ms, kT0 + 3000);
}

// The store takes any int64 times: a duration that does not fit in an int64
// is left unset rather than wrapped.
TEST(TimelineProjectionTest, ADurationBeyondTheInt64RangeIsUnset) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  Script s("wf");
  const StageExecution a =
      make_stage("wf", "a", "shell", "A", WorkflowStatus::kNotStarted);
  WorkflowTimelineProjection p("wf");
  StageMetricsProjection m;
  for (const Event& e :
       {s.stored({a}), s.workflow(WorkflowStatus::kRunning, kMin),
        s.stage(a, WorkflowStatus::kRunning, kMin),
        s.stage(a, WorkflowStatus::kSucceeded, kMin, kMax),
        s.workflow(WorkflowStatus::kSucceeded, kMin, kMax)}) {
    p.apply(e);
    m.apply(e);
  }
  const WorkflowTimeline& tl = p.state();
  EXPECT_EQ(tl.entries.back().event_type, "workflow.completed");
  // The entry falls back to the commit times of its start and end entries.
  EXPECT_EQ(tl.entries.back().duration_ms, 3000);
  EXPECT_FALSE(tl.total_duration_ms);
  ASSERT_EQ(tl.stages.size(), 1U);
  EXPECT_FALSE(tl.stages[0].duration_ms);
  EXPECT_EQ(tl.stages[0].start_ms, kMin);
  EXPECT_EQ(tl.stages[0].end_ms, kMax);
  EXPECT_EQ(m.metrics_for_type("shell")->success_count, 1U);
  EXPECT_TRUE(m.metrics_for_type("shell")->durations_ms.empty());
}

TEST(StageMetricsTest, P95FollowsTheReferenceRule) {
  EntityMetrics m;
  for (int i = 1; i <= 19; ++i) m.durations_ms.push_back(i * 10);
  EXPECT_EQ(m.p95_duration_ms(), 190.0);  // fewer than 20: the max
  m.durations_ms.clear();
  for (int i = 40; i >= 1; --i) m.durations_ms.push_back(i);
  // sorted[int(40 * 0.95)] = sorted[38] = 39
  EXPECT_EQ(m.p95_duration_ms(), 39.0);
  m.durations_ms.push_back(1000);  // 41 samples: sorted[38] still
  EXPECT_EQ(m.p95_duration_ms(), 39.0);
  EXPECT_EQ(m.median_duration_ms(), 21.0);
  EntityMetrics empty;
  EXPECT_EQ(empty.p95_duration_ms(), 0.0);
  EXPECT_EQ(empty.success_rate(), 0.0);
}

TEST(StageMetricsTest, TopFailingOrdersByFailureRate) {
  Script s("wf");
  std::vector<StageExecution> stages;
  for (const char* type : {"flaky", "solid", "broken"}) {
    stages.push_back(
        make_stage("wf", type, type, type, WorkflowStatus::kNotStarted));
  }
  StageMetricsProjection m;
  m.apply(s.stored(stages));
  m.apply(s.stage(stages[0], WorkflowStatus::kTerminal));
  m.apply(s.stage(stages[1], WorkflowStatus::kSucceeded));
  m.apply(s.stage(stages[2], WorkflowStatus::kStopped));
  EXPECT_THAT(m.top_failing_stages(),
              ElementsAre(std::pair<std::string, double>{"broken", 100.0},
                          std::pair<std::string, double>{"flaky", 100.0},
                          std::pair<std::string, double>{"solid", 0.0}));
  EXPECT_EQ(m.top_failing_stages(1).size(), 1U);
  EXPECT_EQ(m.events_applied(), 4U);
}

}  // namespace
}  // namespace wfstore
