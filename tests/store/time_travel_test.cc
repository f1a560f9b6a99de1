// Time travel over a real store (docs/history.md): the workflow and the queue
// as of every LSN of a seeded random workload equal what the store returned
// right after that commit; diffs name each changed field of the workflow, its
// stages and tasks with the event, LSN, time and actor that last changed it;
// entity histories; the checklist items 77 and 80-82; bad input refused with
// nothing written.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tests/store/time_travel_workload.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testutil::FakeClock;
using testutil::TempDir;

constexpr std::int64_t kStart = 1'700'000'000'000;

class TimeTravelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options = testutil::quiet_options(Durability::kBuffered);
    options.clock = clock_;
    db_ = Database::open(dir_.path(), options);
  }

  WorkflowStore& store() { return db_->workflow_store(); }
  std::uint64_t lsn() { return db_->stats().applied_lsn; }

  TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kStart);
  std::unique_ptr<Database> db_;
};

// ---- the property ----

TEST_F(TimeTravelTest, EveryLsnOfARandomWorkloadReplaysToTheRecordedState) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const testutil::TimeTravelRun run =
      testutil::run_time_travel_workload(*db_, *clock_, seed, 250);
  // The workload reached the states the property is about.
  EXPECT_GT(run.commits.size(), 150u);
  EXPECT_GT(run.multi_event_commits, 5u);
  bool deleted = false;
  bool queued = false;
  bool dead = false;
  for (const testutil::RecordedCommit& commit : run.commits) {
    for (const auto& [id, wf] : commit.workflows) deleted |= !wf.has_value();
    queued |= commit.queued.size() > 2;
    dead |= !commit.dead_letters.empty();
  }
  EXPECT_TRUE(deleted);
  EXPECT_TRUE(queued);
  EXPECT_TRUE(dead);
  testutil::expect_time_travel_matches(*db_, run, 7);
}

// The diff between two points, applied to the first point's entities, gives
// the second point's: every change is real and none is missing.
using Entities = std::map<std::pair<EntityKind, std::string>, nlohmann::json>;

Entities entities_of(const std::optional<Workflow>& workflow) {
  Entities out;
  if (!workflow) return out;
  nlohmann::json json = workflow_to_json(*workflow);
  for (nlohmann::json& stage : json["stages"]) {
    for (nlohmann::json& task : stage["tasks"]) {
      out[{EntityKind::kTask, task["id"].get<std::string>()}] = task;
    }
    stage.erase("tasks");
    out[{EntityKind::kStage, stage["id"].get<std::string>()}] = stage;
  }
  json.erase("stages");
  out[{EntityKind::kWorkflow, workflow->id}] = json;
  return out;
}

TEST_F(TimeTravelTest, ADiffAppliedToTheEarlierStateGivesTheLaterOne) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const testutil::TimeTravelRun run =
      testutil::run_time_travel_workload(*db_, *clock_, seed, 150);
  History history(*db_);
  const std::uint64_t last = history.current_lsn();
  std::mt19937 rng(seed);
  std::size_t changes = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string& id = run.workflow_ids[rng() % run.workflow_ids.size()];
    std::uint64_t from = rng() % (last + 1);
    std::uint64_t to = rng() % (last + 1);
    if (from > to) std::swap(from, to);
    const WorkflowDiff diff = history.diff(id, from, to);
    SCOPED_TRACE(::testing::Message() << id << " " << from << ".." << to);
    Entities state = entities_of(history.workflow_as_of(id, from));
    for (const FieldChange& change : diff.changes) {
      ASSERT_GT(change.lsn, diff.from_lsn);
      ASSERT_LE(change.lsn, diff.to_lsn);
      const std::pair key(change.entity.kind, change.entity.id);
      if (change.field.empty()) {
        EXPECT_EQ(state.count(key) != 0, !change.before.is_null());
        if (change.after.is_null()) {
          state.erase(key);
        } else {
          state[key] = change.after;
        }
      } else {
        ASSERT_EQ(state.count(key), 1u) << change.field;
        EXPECT_EQ(state[key][change.field], change.before) << change.field;
        state[key][change.field] = change.after;
      }
    }
    EXPECT_EQ(state, entities_of(history.workflow_as_of(id, to)));
    changes += diff.changes.size();
  }
  EXPECT_GT(changes, 40u);
}

// ---- diff ----

TEST_F(TimeTravelTest, DiffNamesChangedFieldsWithTheEventAndActorThatChanged) {
  Workflow wf = testutil::bare_workflow(
      "wf", "app", WorkflowStatus::kNotStarted, std::nullopt);
  StageExecution build = testutil::make_stage("wf", "build", "custom", "build",
                                              WorkflowStatus::kNotStarted);
  build.tasks = {testutil::make_task(build.id, 0, "compile", "Impl",
                                     WorkflowStatus::kNotStarted)};
  wf.stages = {build};
  {
    AuditScope audit({"alice", "req-1", "", "api"});
    store().store(wf);
  }
  const std::uint64_t stored = lsn();
  clock_->advance(1000);
  std::uint64_t staged = 0;
  {
    AuditScope audit({"bob", "req-2", "", "worker"});
    StageExecution stage = store().retrieve_stage(build.id).stage();
    stage.status = WorkflowStatus::kRunning;
    stage.tasks[0].status = WorkflowStatus::kSucceeded;
    store().store_stage(stage);
    staged = lsn();
  }
  clock_->advance(1000);
  {
    AuditScope audit({"carol", "req-3", "", "api"});
    Workflow status = store().retrieve("wf");
    status.status = WorkflowStatus::kRunning;
    status.start_time = kStart + 2000;
    store().update_status(status);
  }
  const std::uint64_t end = lsn();

  History history(*db_);
  const WorkflowDiff diff = history.diff("wf", stored, end);
  EXPECT_EQ(diff.workflow_id, "wf");
  EXPECT_EQ(diff.from_lsn, stored);
  EXPECT_EQ(diff.to_lsn, end);
  std::vector<std::tuple<EntityKind, std::string, std::string>> fields;
  for (const FieldChange& c : diff.changes) {
    fields.emplace_back(c.entity.kind, c.entity.id, c.field);
  }
  // Workflow first, then the stage, then its task; fields in field-table
  // order.
  EXPECT_THAT(
      fields,
      ElementsAre(std::tuple(EntityKind::kWorkflow, "wf", "status"),
                  std::tuple(EntityKind::kWorkflow, "wf", "start_time"),
                  std::tuple(EntityKind::kStage, build.id, "status"),
                  std::tuple(EntityKind::kStage, build.id, "version"),
                  std::tuple(EntityKind::kTask, build.tasks[0].id, "status"),
                  std::tuple(EntityKind::kTask, build.tasks[0].id, "version")));
  const FieldChange& status = diff.changes[0];
  EXPECT_EQ(status.before, "NOT_STARTED");
  EXPECT_EQ(status.after, "RUNNING");
  EXPECT_EQ(status.lsn, end);
  EXPECT_EQ(status.timestamp_ms, kStart + 2000);
  EXPECT_EQ(status.type, EventType::kWorkflowStatusUpdated);
  EXPECT_EQ(status.audit.actor, "carol");
  EXPECT_EQ(status.audit.correlation_id, "req-3");
  EXPECT_EQ(diff.changes[1].before, nullptr);
  EXPECT_EQ(diff.changes[1].after, kStart + 2000);
  for (std::size_t i = 2; i < diff.changes.size(); ++i) {
    EXPECT_EQ(diff.changes[i].lsn, staged);
    EXPECT_EQ(diff.changes[i].timestamp_ms, kStart + 1000);
    EXPECT_EQ(diff.changes[i].type, EventType::kStageUpdated);
    EXPECT_EQ(diff.changes[i].audit.actor, "bob");
    EXPECT_EQ(diff.changes[i].audit.source, "worker");
  }
  EXPECT_EQ(diff.changes[4].before, "NOT_STARTED");
  EXPECT_EQ(diff.changes[4].after, "SUCCEEDED");

  // A point to itself, and between points with no event of the workflow.
  EXPECT_THAT(history.diff("wf", end, end).changes, IsEmpty());
  EXPECT_THAT(history.diff("wf", staged, staged).changes, IsEmpty());
}

TEST_F(TimeTravelTest, AFieldChangedAndChangedBackIsNotADifference) {
  Workflow wf = testutil::bare_workflow(
      "wf", "app", WorkflowStatus::kNotStarted, std::nullopt);
  wf.stages = {testutil::make_stage("wf", "build", "custom", "build",
                                    WorkflowStatus::kNotStarted)};
  store().store(wf);
  const std::uint64_t from = lsn();
  Workflow status = store().retrieve("wf");
  status.status = WorkflowStatus::kRunning;
  store().update_status(status);
  status.status = WorkflowStatus::kNotStarted;
  store().update_status(status);
  StageExecution stage = store().retrieve_stage("wf.build").stage();
  stage.context = nlohmann::json{{"tmp", 1}};
  store().store_stage(stage);
  const std::uint64_t changed_context = lsn();
  stage.context = nlohmann::json::object();
  store().store_stage(stage);

  History history(*db_);
  const WorkflowDiff diff = history.diff("wf", from, lsn());
  // The status went back; the stage's context went back, its version did
  // not.
  ASSERT_EQ(diff.changes.size(), 1u);
  EXPECT_EQ(diff.changes[0].entity.kind, EntityKind::kStage);
  EXPECT_EQ(diff.changes[0].field, "version");
  EXPECT_EQ(diff.changes[0].before, 0);
  EXPECT_EQ(diff.changes[0].after, 2);
  EXPECT_EQ(diff.changes[0].lsn, lsn());
  // Up to the middle, the context and status did differ.
  const WorkflowDiff middle = history.diff("wf", from, changed_context);
  std::vector<std::string> fields;
  for (const FieldChange& c : middle.changes) fields.push_back(c.field);
  EXPECT_THAT(fields, ElementsAre("context", "version"));
}

TEST_F(TimeTravelTest, StagesAndTasksAppearingAndDisappearingAreOneChangeEach) {
  Workflow wf =
      testutil::bare_workflow("wf", "app", WorkflowStatus::kRunning, kStart);
  StageExecution a =
      testutil::make_stage("wf", "a", "custom", "a", WorkflowStatus::kRunning);
  a.tasks = {
      testutil::make_task(a.id, 0, "ta", "Impl", WorkflowStatus::kRunning)};
  StageExecution b = testutil::make_stage("wf", "b", "custom", "b",
                                          WorkflowStatus::kNotStarted);
  b.tasks = {
      testutil::make_task(b.id, 0, "tb", "Impl", WorkflowStatus::kNotStarted)};
  wf.stages = {a, b};
  {
    AuditScope audit({"alice", "", "", ""});
    store().store(wf);
  }
  const std::uint64_t stored = lsn();
  StageExecution c = testutil::bare_stage("wf", "wf.c", "c", "wait");
  c.tasks = {
      testutil::make_task(c.id, 0, "tc", "Impl", WorkflowStatus::kNotStarted)};
  {
    AuditScope audit({"bob", "", "", ""});
    store().add_stage(c);
  }
  const std::uint64_t added = lsn();
  {
    AuditScope audit({"carol", "", "", ""});
    store().remove_stage("wf", a.id);
  }
  const std::uint64_t removed = lsn();
  // A new task in an existing stage.
  StageExecution stage_b = store().retrieve_stage(b.id).stage();
  stage_b.tasks.push_back(
      testutil::make_task(b.id, 1, "tb2", "Impl", WorkflowStatus::kNotStarted));
  store().store_stage(stage_b);
  const std::uint64_t end = lsn();

  History history(*db_);
  const WorkflowDiff diff = history.diff("wf", stored, end);
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> changes;
  for (const FieldChange& ch : diff.changes) {
    changes.emplace_back(ch.entity.id, ch.field, ch.lsn);
  }
  // Stage order: a (gone) before b, then c; each stage before its tasks.
  EXPECT_THAT(changes, ElementsAre(std::tuple(a.id, "", removed),
                                   std::tuple(a.tasks[0].id, "", removed),
                                   std::tuple(b.id, "version", end),
                                   std::tuple(b.tasks[0].id, "version", end),
                                   std::tuple(b.id + ".t1", "", end),
                                   std::tuple(c.id, "", added),
                                   std::tuple(c.tasks[0].id, "", added)));
  const FieldChange& gone = diff.changes[0];
  EXPECT_EQ(gone.entity.kind, EntityKind::kStage);
  EXPECT_EQ(gone.before["name"], "a");
  EXPECT_FALSE(gone.before.contains("tasks"));
  EXPECT_EQ(gone.after, nullptr);
  EXPECT_EQ(gone.type, EventType::kStageRemoved);
  EXPECT_EQ(gone.audit.actor, "carol");
  EXPECT_EQ(diff.changes[1].entity.kind, EntityKind::kTask);
  EXPECT_EQ(diff.changes[1].before["name"], "ta");
  const FieldChange& appeared = diff.changes[5];
  EXPECT_EQ(appeared.before, nullptr);
  EXPECT_EQ(appeared.after["ref_id"], "c");
  EXPECT_EQ(appeared.type, EventType::kStageAdded);
  EXPECT_EQ(appeared.audit.actor, "bob");
  EXPECT_EQ(diff.changes[6].after["name"], "tc");

  // From before the workflow existed: everything appears, by its store.
  const WorkflowDiff all = history.diff("wf", 0, stored);
  ASSERT_EQ(all.changes.size(), 5u);  // the workflow, 2 stages, 2 tasks
  for (const FieldChange& ch : all.changes) {
    EXPECT_EQ(ch.field, "");
    EXPECT_EQ(ch.before, nullptr);
    EXPECT_EQ(ch.type, EventType::kWorkflowStored);
    EXPECT_EQ(ch.audit.actor, "alice");
  }
  EXPECT_EQ(all.changes[0].entity.kind, EntityKind::kWorkflow);
  EXPECT_EQ(all.changes[0].after["status"], "RUNNING");
  EXPECT_FALSE(all.changes[0].after.contains("stages"));
}

TEST_F(TimeTravelTest, ADeletedAndReStoredWorkflowDiffsFieldsByTheReStore) {
  Workflow wf =
      testutil::bare_workflow("wf", "app", WorkflowStatus::kRunning, kStart);
  wf.stages = {testutil::make_stage("wf", "build", "custom", "build",
                                    WorkflowStatus::kRunning)};
  store().store(wf);
  const std::uint64_t stored = lsn();
  store().delete_workflow("wf");
  const std::uint64_t deleted = lsn();
  wf.name = "second";
  store().store(wf);
  const std::uint64_t restored = lsn();

  History history(*db_);
  const WorkflowDiff gone = history.diff("wf", stored, deleted);
  ASSERT_EQ(gone.changes.size(), 2u);
  EXPECT_EQ(gone.changes[0].entity.kind, EntityKind::kWorkflow);
  EXPECT_EQ(gone.changes[0].after, nullptr);
  EXPECT_EQ(gone.changes[1].entity.id, "wf.build");
  EXPECT_EQ(gone.changes[1].type, EventType::kWorkflowDeleted);
  const WorkflowDiff back = history.diff("wf", stored, restored);
  ASSERT_EQ(back.changes.size(), 1u);
  EXPECT_EQ(back.changes[0].field, "name");
  EXPECT_EQ(back.changes[0].before, "");
  EXPECT_EQ(back.changes[0].after, "second");
  EXPECT_EQ(back.changes[0].lsn, restored);
  EXPECT_EQ(back.changes[0].type, EventType::kWorkflowStored);
}

// ---- entity history ----

TEST_F(TimeTravelTest, EntityHistoryListsTheEventsThatTouchedEachEntity) {
  Queue queue(*db_);
  Workflow wf =
      testutil::bare_workflow("wf", "app", WorkflowStatus::kRunning, kStart);
  StageExecution build = testutil::make_stage("wf", "build", "custom", "build",
                                              WorkflowStatus::kRunning);
  build.tasks = {testutil::make_task(build.id, 0, "compile", "Impl",
                                     WorkflowStatus::kRunning)};
  wf.stages = {build};
  store().store(wf);
  store().store(testutil::bare_workflow("other", "app",
                                        WorkflowStatus::kRunning, kStart));
  const std::uint64_t delivery =
      queue.push(testutil::start_stage("wf", build.id));
  StageExecution stage = store().retrieve_stage(build.id).stage();
  stage.status = WorkflowStatus::kSucceeded;
  stage.tasks.clear();  // the task is not listed: not touched
  store().store_stage(stage);
  ASSERT_TRUE(queue.poll_one());
  queue.ack(delivery);
  store().pause("other", "ops");

  History history(*db_);
  auto types = [](const std::vector<Event>& events) {
    std::vector<EventType> out;
    out.reserve(events.size());
    for (const Event& e : events) out.push_back(e.type());
    return out;
  };
  EXPECT_THAT(
      types(history.entity_history({EntityKind::kStage, build.id})),
      ElementsAre(EventType::kWorkflowStored, EventType::kStageUpdated));
  EXPECT_THAT(
      types(history.entity_history({EntityKind::kTask, build.tasks[0].id})),
      ElementsAre(EventType::kWorkflowStored));
  EXPECT_THAT(types(history.entity_history(
                  {EntityKind::kDelivery, std::to_string(delivery)})),
              ElementsAre(EventType::kMessagePushed, EventType::kMessageLeased,
                          EventType::kMessageAcked));
  const std::vector<Event> workflow =
      history.entity_history({EntityKind::kWorkflow, "wf"});
  EXPECT_THAT(types(workflow),
              ElementsAre(EventType::kWorkflowStored, EventType::kMessagePushed,
                          EventType::kStageUpdated, EventType::kMessageLeased,
                          EventType::kMessageAcked));
  EXPECT_TRUE(std::is_sorted(
      workflow.begin(), workflow.end(),
      [](const Event& a, const Event& b) { return a.lsn < b.lsn; }));
  EXPECT_THAT(history.entity_history({EntityKind::kStage, "nope"}), IsEmpty());
}

// ---- the checklist ----

// The reference's replay test run: stored, started, stage running, task
// succeeded, stage succeeded, workflow succeeded, and its dedup mark.
struct ReplayRun {
  std::string stage_id;
  std::string task_id;
  std::uint64_t started = 0;  // the LSN of the start
  std::uint64_t end = 0;
};

ReplayRun seven_event_run(WorkflowStore& store, FakeClock& clock) {
  Workflow wf = testutil::bare_workflow(
      "wf-1", "deploy-app", WorkflowStatus::kNotStarted, std::nullopt);
  wf.name = "release";
  wf.context = nlohmann::json{{"env", "prod"}};
  StageExecution build = testutil::make_stage(
      "wf-1", "build", "custom", "build", WorkflowStatus::kNotStarted);
  build.tasks = {testutil::make_task(build.id, 0, "compile", "Impl",
                                     WorkflowStatus::kNotStarted)};
  wf.stages = {build};
  ReplayRun run{build.id, build.tasks[0].id};
  auto step = [&]() { clock.advance(100); };
  store.store(wf);
  step();
  Workflow status = store.retrieve("wf-1");
  status.status = WorkflowStatus::kRunning;
  status.start_time = clock.now_ms();
  store.update_status(status);
  step();
  StageExecution stage = store.retrieve_stage(build.id).stage();
  stage.status = WorkflowStatus::kRunning;
  store.store_stage(stage);
  step();
  stage.tasks[0].status = WorkflowStatus::kSucceeded;
  store.store_stage(stage);
  step();
  stage.status = WorkflowStatus::kSucceeded;
  store.store_stage(stage);
  step();
  status.status = WorkflowStatus::kSucceeded;
  status.end_time = clock.now_ms();
  store.update_status(status);
  step();
  store.mark_message_processed("msg-1", std::string("CompleteWorkflow"),
                               std::string("wf-1"));
  return run;
}

class ChecklistTest : public TimeTravelTest {
 protected:
  void SetUp() override {
    TimeTravelTest::SetUp();
    run_ = seven_event_run(store(), *clock_);
    run_.end = lsn();
    run_.started = 2;
  }
  ReplayRun run_;
};

TEST_F(ChecklistTest, Item80ReplayedWorkflowMatchesTheRun) {
  History history(*db_);
  ASSERT_EQ(run_.end, 7u);
  const std::optional<Workflow> wf = history.workflow_as_of("wf-1", run_.end);
  ASSERT_TRUE(wf);
  EXPECT_EQ(wf->status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(wf->application, "deploy-app");
  EXPECT_EQ(wf->name, "release");
  const StageExecution* stage = wf->find_stage(run_.stage_id);
  ASSERT_NE(stage, nullptr);
  EXPECT_EQ(stage->name, "build");
  EXPECT_EQ(stage->status, WorkflowStatus::kSucceeded);
  ASSERT_EQ(stage->tasks.size(), 1u);
  EXPECT_EQ(stage->tasks[0].name, "compile");
  EXPECT_EQ(stage->tasks[0].status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(wf->context.value(), (nlohmann::json{{"env", "prod"}}));
  // Exactly what the store holds, versions included.
  EXPECT_EQ(*wf, store().retrieve("wf-1"));
}

TEST_F(ChecklistTest, Item81AsOfTheStartIsRunning) {
  History history(*db_);
  EventQuery start;
  start.workflow_id = "wf-1";
  start.types = {EventType::kWorkflowStatusUpdated};
  start.limit = 1;
  const std::vector<Event> started = history.events(start);
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(started[0].lsn, run_.started);
  EXPECT_EQ(history.workflow_as_of("wf-1", run_.started)->status,
            WorkflowStatus::kRunning);
  EXPECT_EQ(history.workflow_as_of("wf-1", run_.end)->status,
            WorkflowStatus::kSucceeded);
  const WorkflowDiff diff = history.diff("wf-1", run_.started, run_.end);
  const auto status = std::find_if(
      diff.changes.begin(), diff.changes.end(), [](const FieldChange& c) {
        return c.entity.kind == EntityKind::kWorkflow && c.field == "status";
      });
  ASSERT_NE(status, diff.changes.end());
  EXPECT_EQ(status->before, "RUNNING");
  EXPECT_EQ(status->after, "SUCCEEDED");
}

TEST_F(ChecklistTest, Item82ReplayFromACheckpointAndEntityHistory) {
  History history(*db_);
  EventQuery checkpoint;  // every event of the workflow after LSN 0
  checkpoint.workflow_id = "wf-1";
  checkpoint.from_lsn = 0;
  checkpoint.limit = SIZE_MAX;
  const std::vector<Event> all = history.events(checkpoint);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all.front().type(), EventType::kWorkflowStored);
  EXPECT_EQ(all.back().type(), EventType::kMessageProcessed);
  EXPECT_EQ(history.entity_history({EntityKind::kWorkflow, "wf-1"}), all);
  // The stage: stored, then its three updates (running, task, succeeded), in
  // LSN order.
  const std::vector<Event> stage =
      history.entity_history({EntityKind::kStage, run_.stage_id});
  std::vector<std::uint64_t> lsns;
  std::vector<WorkflowStatus> statuses;
  for (const Event& e : stage) {
    lsns.push_back(e.lsn);
    if (const auto* u = std::get_if<StageUpdated>(&e.payload)) {
      statuses.push_back(u->status);
    }
  }
  EXPECT_THAT(lsns, ElementsAre(1u, 3u, 4u, 5u));
  EXPECT_THAT(statuses,
              ElementsAre(WorkflowStatus::kRunning, WorkflowStatus::kRunning,
                          WorkflowStatus::kSucceeded));
}

TEST_F(ChecklistTest, Item77TimeTravelReplacesSnapshots) {
  // The reference saves a snapshot of a state at a version and loads it back;
  // here every LSN's state is exact without saving anything.
  History history(*db_);
  const Workflow recorded = store().retrieve("wf-1");
  const std::optional<Workflow> end_state =
      history.workflow_as_of("wf-1", run_.end);
  ASSERT_EQ(end_state, recorded);
  const std::optional<Workflow> started =
      history.workflow_as_of("wf-1", run_.started);
  ASSERT_TRUE(started);
  // Later changes, a delete among them, leave both points as they were.
  store().pause("wf-1", "ops");
  store().delete_workflow("wf-1");
  EXPECT_EQ(history.workflow_as_of("wf-1", lsn()), std::nullopt);
  EXPECT_EQ(history.workflow_as_of("wf-1", run_.end), end_state);
  EXPECT_EQ(history.workflow_as_of("wf-1", run_.started), started);
  // And after reopening the store read-only.
  db_->close();
  std::unique_ptr<Database> reader =
      Database::open_read_only(dir_.path(), testutil::quiet_options());
  History reopened(*reader);
  EXPECT_EQ(reopened.workflow_as_of("wf-1", run_.end), end_state);
  EXPECT_EQ(reopened.workflow_as_of("wf-1", run_.started), started);
}

// ---- bad input ----

// Every file of the store with its size and modification time, but for
// data.mdb's time: the writer's map prefaulter touches the map after a commit
// whenever it runs (its bytes stay; the views are compared by dump_all).
std::map<std::string,
         std::pair<std::uintmax_t, std::filesystem::file_time_type>>
files_of(const std::filesystem::path& dir) {
  std::map<std::string,
           std::pair<std::uintmax_t, std::filesystem::file_time_type>>
      out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    out[entry.path().string()] = {entry.file_size(),
                                  entry.path().filename() == "data.mdb"
                                      ? std::filesystem::file_time_type()
                                      : entry.last_write_time()};
  }
  return out;
}

TEST_F(ChecklistTest, BadInputIsRefusedAndWritesNothing) {
  History history(*db_);
  const auto files = files_of(dir_.path());
  const auto views = testutil::dump_all(*db_);
  const std::uint64_t end = run_.end;

  EXPECT_EQ(history.workflow_as_of("nope", end), std::nullopt);
  EXPECT_EQ(history.workflow_as_of("wf-1", 0), std::nullopt);
  EXPECT_THROW(history.diff("nope", 0, end), InvalidArgumentError);
  EXPECT_THROW(history.workflow_as_of("wf-1", end + 1), InvalidArgumentError);
  EXPECT_THROW(history.queue_as_of(end + 1), InvalidArgumentError);
  EXPECT_THROW(history.diff("wf-1", 0, end + 1), InvalidArgumentError);
  EXPECT_THROW(history.diff("wf-1", end + 1, end + 2), InvalidArgumentError);
  EXPECT_THROW(history.diff("wf-1", end, 1), InvalidArgumentError);
  EXPECT_THROW(history.workflow_as_of("wf-1", UINT64_MAX),
               InvalidArgumentError);
  EXPECT_THROW(history.workflow_as_of("", end), InvalidArgumentError);
  EXPECT_THROW(history.diff("", 0, end), InvalidArgumentError);
  EXPECT_THROW(history.entity_history({EntityKind::kStage, ""}),
               InvalidArgumentError);
  try {
    history.diff("wf-1", 5, 3);
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("5"));
  }
  // A diff of a known workflow between points before it existed is empty.
  EXPECT_THAT(history.diff("wf-1", 0, 0).changes, IsEmpty());
  EXPECT_TRUE(history.queue_as_of(0).queued.empty());

  EXPECT_EQ(db_->stats().applied_lsn, end);
  EXPECT_EQ(testutil::dump_all(*db_), views);
  EXPECT_EQ(files_of(dir_.path()), files);
}

TEST_F(TimeTravelTest, QueueAsOfShowsPayloadsLeasesAndDeadLetters) {
  Queue queue(*db_);
  const std::uint64_t first = queue.push(testutil::start_workflow("wf-a"));
  const std::uint64_t second =
      queue.push(testutil::run_task("wf-b", "s", "t1"));
  const std::uint64_t pushed = lsn();
  clock_->advance(10);
  const std::optional<Delivery> leased = queue.poll_one();
  ASSERT_TRUE(leased);
  ASSERT_EQ(leased->id, first);
  const std::uint64_t polled = lsn();
  queue.move_to_dlq(second, "bad task");
  const std::uint64_t dead = lsn();
  queue.ack(first);

  History history(*db_);
  const QueueState at_push = history.queue_as_of(pushed);
  ASSERT_EQ(at_push.queued.size(), 2u);
  EXPECT_EQ(at_push.queued[0].delivery_id, first);
  EXPECT_EQ(at_push.queued[0].message_type, "StartWorkflow");
  EXPECT_EQ(at_push.queued[0].execution_id, "wf-a");
  EXPECT_EQ(at_push.queued[0].payload.value()["execution_id"], "wf-a");
  EXPECT_EQ(at_push.queued[0].lease_until, std::nullopt);
  EXPECT_EQ(at_push.queued[1].payload.value()["task_id"], "t1");
  const QueueState at_poll = history.queue_as_of(polled);
  EXPECT_EQ(at_poll.queued[0].attempts, 1);
  EXPECT_TRUE(at_poll.queued[0].lease_until.has_value());
  const QueueState at_dead = history.queue_as_of(dead);
  ASSERT_EQ(at_dead.queued.size(), 1u);
  ASSERT_EQ(at_dead.dead_letters.size(), 1u);
  EXPECT_EQ(at_dead.dead_letters[0].delivery_id, second);
  EXPECT_EQ(at_dead.dead_letters[0].error, "bad task");
  EXPECT_EQ(at_dead.dead_letters[0].payload.value()["task_id"], "t1");
  const QueueState now = history.queue_as_of(lsn());
  EXPECT_TRUE(now.queued.empty());
  EXPECT_EQ(now.dead_letters.size(), 1u);
  EXPECT_EQ(now.lsn, lsn());
}

}  // namespace
}  // namespace wfstore
