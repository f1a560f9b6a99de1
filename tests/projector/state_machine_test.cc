// Unit tests of decide() and fold() over the memory view store: every command's
// semantics and errors (docs/semantics.md §5, §12), no-ops, rejected commands
// changing nothing, and determinism across view stores and transaction
// groupings.

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "tests/projector/state_machine_harness.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::dump_all;
using testutil::Harness;
using testutil::make_events;

Workflow stored_form(Workflow workflow) {
  for (StageExecution& stage : workflow.stages) {
    for (TaskExecution& task : stage.tasks) task.version = 0;
  }
  return workflow;
}

StageExecution new_stage(const std::string& workflow_id, const std::string& id,
                         const std::string& ref_id) {
  return testutil::bare_stage(workflow_id, id, ref_id, "custom");
}

TaskExecution new_task(const std::string& id, std::int64_t version = 0) {
  TaskExecution task;
  task.id = id;
  task.name = "task " + id;
  task.implementing_class = "Impl";
  task.version = version;
  return task;
}

// Checks that `command` throws E with `message_part` and changes nothing.
template <typename E>
void expect_rejected(Harness& h, const Command& command,
                     const std::string& message_part) {
  const auto before = dump_all(h.views);
  EXPECT_THAT([&] { h.apply(command); },
              ThrowsMessage<E>(HasSubstr(message_part)));
  EXPECT_EQ(dump_all(h.views), before);
}

class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(
        h_.apply(StoreWorkflow{testutil::diamond_workflow("wf")}).events.size(),
        1u);
  }
  Workflow load(const std::string& id = "wf") {
    std::optional<Workflow> w = load_workflow(h_.views, id, true);
    EXPECT_TRUE(w.has_value());
    return w.value_or(Workflow{});
  }
  StageExecution stage(const std::string& id) {
    std::optional<StageExecution> s = load_stage(h_.views, id);
    EXPECT_TRUE(s.has_value()) << id;
    return s.value_or(StageExecution{});
  }
  Harness h_;
};

TEST_F(StateMachineTest, StoreRoundTripsEveryFieldWithTasksAtVersionZero) {
  const Workflow original = testutil::diamond_workflow("wf");
  EXPECT_EQ(load(), stored_form(original));
  EXPECT_EQ(stage("wf.setup").version, 3);  // stages keep stage.version
  Workflow summary = *load_workflow(h_.views, "wf", false);
  EXPECT_TRUE(summary.stages.empty());
  Workflow full = testutil::full_workflow("full");
  ASSERT_EQ(h_.apply(StoreWorkflow{full}).events.size(), 1u);
  EXPECT_EQ(load("full"), stored_form(full));
}

TEST_F(StateMachineTest, StoreOfAnExistingIdIsDuplicateAndChangesNothing) {
  expect_rejected<DuplicateError>(
      h_, StoreWorkflow{testutil::diamond_workflow("wf")}, "wf already exists");
}

TEST_F(StateMachineTest, StoreRejectsDuplicateStageIdsRefIdsAndTaskIds) {
  Workflow w = testutil::diamond_workflow("w2");
  w.stages[1].id = w.stages[0].id;
  expect_rejected<DuplicateError>(h_, StoreWorkflow{w},
                                  "stage w2.setup appears twice");
  w = testutil::diamond_workflow("w2");
  w.stages[2].ref_id = "setup";
  expect_rejected<DuplicateError>(h_, StoreWorkflow{w},
                                  "ref_id setup appears twice");
  w = testutil::diamond_workflow("w2");
  w.stages[1].tasks[1].id = w.stages[1].tasks[0].id;
  expect_rejected<DuplicateError>(h_, StoreWorkflow{w}, "appears twice");
  // A stage id that another workflow already uses.
  w = testutil::diamond_workflow("w2");
  w.stages[3].id = "wf.deploy";
  expect_rejected<DuplicateError>(h_, StoreWorkflow{w},
                                  "wf.deploy already exists");
  EXPECT_FALSE(workflow_exists(h_.views, "w2"));
}

// An imported history is replayed event by event only if the store's own
// writes could have made it: what its folds would otherwise store (a ref id
// twice in a workflow, a task id twice in a stage, a stage event for a stage
// the workflow does not hold) is an InvalidArgumentError that changes nothing.
TEST_F(StateMachineTest, ImportRejectsHistoriesTheStoreDoesNotWrite) {
  const Workflow base = testutil::diamond_workflow("w2");
  const auto import = [](std::vector<EventPayload> events) {
    return ImportWorkflowHistory{"w2", std::move(events)};
  };
  const auto reject = [&](std::vector<EventPayload> events,
                          const std::string& message_part) {
    SCOPED_TRACE(message_part);
    expect_rejected<InvalidArgumentError>(h_, import(std::move(events)),
                                          message_part);
  };
  Workflow w = base;
  w.stages[1].id = w.stages[0].id;
  reject({WorkflowStored{w}},
         "events[0].workflow.stages[1].id: stage w2.setup appears twice");
  w = base;
  w.stages[2].ref_id = "setup";
  reject({WorkflowStored{w}}, "ref_id setup appears twice");
  w = base;
  w.stages[1].tasks[1].id = w.stages[1].tasks[0].id;
  reject({WorkflowStored{w}}, "events[0].workflow.stages[1]: task id");
  reject({WorkflowStored{base}, WorkflowStored{base}},
         "events[1]: workflow w2 is stored again");

  StageExecution added = new_stage("w2", "w2.extra", "extra");
  reject({StageAdded{added}, WorkflowStored{base}},
         "events[0]: a StageAdded while workflow w2 is not stored");
  reject({WorkflowStored{base}, WorkflowDeleted{"w2"},
          WorkflowPaused{"w2", "ops", 1}},
         "events[2]: a WorkflowPaused while workflow w2 is not stored");
  added.ref_id = "deploy";
  reject({WorkflowStored{base}, StageAdded{added}},
         "events[1].stage.ref_id: ref_id deploy already exists");
  reject({WorkflowStored{base}, StageAdded{base.stages[2]}},
         "stage w2.build_mac is added while it exists");
  added = new_stage("w2", "w2.extra", "extra");
  added.tasks = {new_task("t"), new_task("t")};
  reject({WorkflowStored{base}, StageAdded{added}},
         "events[1].stage: task id t appears twice");

  StageUpdated update;
  update.execution_id = "w2";
  update.stage_id = "w2.deploy";
  reject({WorkflowStored{base}, StageRemoved{"w2", "w2.deploy"}, update},
         "events[2].stage_id: stage w2.deploy is not a stage");
  reject({WorkflowStored{base}, StageRemoved{"w2", "w2.nope"}},
         "stage w2.nope is not a stage");
  update.tasks = {new_task("t"), new_task("t")};
  reject({WorkflowStored{base}, update}, "events[1]: task id t appears twice");
  EXPECT_FALSE(workflow_exists(h_.views, "w2"));

  // What the store writes: a removed stage's id and ref id free again, a
  // deleted workflow stored again, a parent stage id another workflow holds
  // now (stored after the stage that names it; no rule of the views depends
  // on it).
  StageExecution again = new_stage("w2", "w2.deploy", "deploy");
  Workflow with_parent = base;
  with_parent.stages[3].parent_stage_id = "wf.setup";
  h_.apply(import({WorkflowStored{base}, StageRemoved{"w2", "w2.deploy"},
                   StageAdded{again}, WorkflowDeleted{"w2"},
                   WorkflowStored{with_parent}}));
  EXPECT_EQ(load("w2"), with_parent);  // as it was, task versions included
}

TEST_F(StateMachineTest, StoreValidatesLimitsAndChangesNothing) {
  Workflow w = testutil::diamond_workflow("");
  expect_rejected<InvalidArgumentError>(h_, StoreWorkflow{w}, "id");
  w = testutil::diamond_workflow("w3");
  w.stages[2].tasks[0].name = std::string(kMaxStringBytes + 1, 'x');
  expect_rejected<InvalidArgumentError>(h_, StoreWorkflow{w},
                                        "stages[2].tasks[0].name");
  w = testutil::diamond_workflow("w3");
  w.stages[0].execution_id = "other";
  expect_rejected<InvalidArgumentError>(h_, StoreWorkflow{w}, "execution_id");
}

TEST_F(StateMachineTest, UpdateStatusWritesExactlySevenFields) {
  Workflow w = load();
  w.status = WorkflowStatus::kSucceeded;
  w.start_time = 5;
  w.end_time = 9;
  w.is_canceled = true;
  w.canceled_by = "bob";
  w.cancellation_reason = "why";
  w.paused = PausedDetails{"al", 1, 2, 1};
  w.context = nlohmann::json{{"ignored", true}};
  w.name = "ignored";
  ASSERT_EQ(h_.apply(UpdateStatus::of(w)).events.size(), 1u);
  Workflow after = load();
  EXPECT_EQ(after.status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(after.start_time, 5);
  EXPECT_EQ(after.end_time, 9);
  EXPECT_TRUE(after.is_canceled);
  EXPECT_EQ(after.canceled_by, "bob");
  EXPECT_EQ(after.cancellation_reason, "why");
  EXPECT_EQ(after.paused, (PausedDetails{"al", 1, 2, 1}));
  EXPECT_EQ(after.context, testutil::diamond_workflow("wf").context);  // Q6
  EXPECT_EQ(after.name, testutil::diamond_workflow("wf").name);
  // Transitions are never validated: back to NOT_STARTED is accepted.
  w.status = WorkflowStatus::kNotStarted;
  h_.apply(UpdateStatus::of(w));
  EXPECT_EQ(load().status, WorkflowStatus::kNotStarted);
}

TEST_F(StateMachineTest, WritesToMissingWorkflowsAreNoOps) {
  const auto before = dump_all(h_.views);
  Workflow ghost = testutil::diamond_workflow("ghost");
  EXPECT_TRUE(h_.apply(UpdateStatus::of(ghost)).events.empty());
  EXPECT_TRUE(h_.apply(SetWorkflowStatus::of(ghost)).events.empty());
  EXPECT_TRUE(h_.apply(DeleteWorkflow{"ghost"}).events.empty());
  EXPECT_TRUE(h_.apply(Pause{"ghost", "al"}).events.empty());
  EXPECT_TRUE(h_.apply(Resume{"ghost"}).events.empty());
  EXPECT_TRUE(h_.apply(Cancel{"ghost", "al", "r"}).events.empty());
  EXPECT_TRUE(h_.apply(RemoveStage{"wf", "no-such-stage"}).events.empty());
  EXPECT_EQ(dump_all(h_.views), before);
}

TEST_F(StateMachineTest, SetWorkflowStatusWritesThreeFields) {
  h_.apply(Cancel{"wf", "carol", "stop"});
  h_.apply(Pause{"wf", "al"});
  Workflow w = load();
  w.status = WorkflowStatus::kCanceled;
  w.end_time = 77;
  w.is_canceled = false;
  w.paused.reset();
  ASSERT_EQ(h_.apply(SetWorkflowStatus::of(w)).events.size(), 1u);
  const Workflow after = load();
  EXPECT_EQ(after.status, WorkflowStatus::kCanceled);
  EXPECT_EQ(after.end_time, 77);
  EXPECT_TRUE(after.is_canceled);  // Q7: cancel and pause flags untouched
  EXPECT_TRUE(after.paused.has_value());
}

TEST_F(StateMachineTest, PauseAndResumeArithmetic) {
  h_.now_ms = 1000;
  h_.apply(Pause{"wf", "al"});
  Workflow w = load();
  EXPECT_EQ(w.status, WorkflowStatus::kPaused);
  EXPECT_EQ(w.paused, (PausedDetails{"al", 1000, std::nullopt, 0}));
  h_.now_ms = 1500;
  ASSERT_EQ(h_.apply(Resume{"wf"}).events.size(), 1u);
  w = load();
  EXPECT_EQ(w.status, WorkflowStatus::kRunning);
  EXPECT_EQ(w.paused, (PausedDetails{"al", 1000, 1500, 500}));
  // Not PAUSED: resume is a no-op.
  EXPECT_TRUE(h_.apply(Resume{"wf"}).events.empty());
  // A second cycle overwrites (does not accumulate) paused_ms.
  h_.now_ms = 2000;
  h_.apply(Pause{"wf", "bo"});
  EXPECT_EQ(load().paused, (PausedDetails{"bo", 2000, std::nullopt, 0}));
  h_.now_ms = 2100;
  h_.apply(Resume{"wf"});
  EXPECT_EQ(load().paused, (PausedDetails{"bo", 2000, 2100, 100}));
  // Pause is unconditional, even of a completed workflow.
  w = load();
  w.status = WorkflowStatus::kSucceeded;
  h_.apply(SetWorkflowStatus::of(w));
  EXPECT_EQ(h_.apply(Pause{"wf", "cy"}).events.size(), 1u);
  EXPECT_EQ(load().status, WorkflowStatus::kPaused);
}

TEST_F(StateMachineTest, CancelSetsTheCancelFieldsOnly) {
  const Workflow before = load();
  ASSERT_EQ(h_.apply(Cancel{"wf", "carol", "budget"}).events.size(), 1u);
  const Workflow after = load();
  EXPECT_TRUE(after.is_canceled);
  EXPECT_EQ(after.canceled_by, "carol");
  EXPECT_EQ(after.cancellation_reason, "budget");
  EXPECT_EQ(after.status, before.status);
  EXPECT_EQ(after.end_time, before.end_time);
}

TEST_F(StateMachineTest, DeleteRemovesStagesButKeepsDedupClaimsAndHistory) {
  h_.apply(MarkMessageProcessed{"m1", "h", "wf"});
  h_.apply(AcquireClaim{"wf", "mutex:x", "wf.deploy", false});
  const std::size_t history = workflow_event_lsns(h_.views, "wf").size();
  ASSERT_EQ(h_.apply(DeleteWorkflow{"wf"}).events.size(), 1u);
  EXPECT_FALSE(workflow_exists(h_.views, "wf"));
  EXPECT_FALSE(load_stage(h_.views, "wf.setup").has_value());
  EXPECT_EQ(dump_table(h_.views, Table::kStages).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kStageOrder).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kByApplication).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kByPipelineConfig).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kByStartTime).size(), 0u);
  EXPECT_TRUE(is_message_processed(h_.views, "m1"));
  EXPECT_EQ(claim_holder(h_.views, "wf", "mutex:x"), "wf.deploy");
  EXPECT_EQ(workflow_event_lsns(h_.views, "wf").size(), history + 1);
  // The id is free again.
  EXPECT_EQ(
      h_.apply(StoreWorkflow{testutil::diamond_workflow("wf")}).events.size(),
      1u);
}

TEST_F(StateMachineTest, AddStageInsertsIgnoringVersionAndPhase) {
  StageExecution s = new_stage("wf", "wf.extra", "extra");
  s.version = 7;
  s.tasks = {new_task("x.t0", 4)};
  Decision d = h_.apply(StoreStage{s, "SUCCEEDED"});  // phase ignored on insert
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<StageAdded>(d.events[0]));
  const StageExecution stored = stage("wf.extra");
  EXPECT_EQ(stored.version, 7);
  EXPECT_EQ(stored.tasks.at(0).version, 0);
  EXPECT_EQ(load().stages.back().id, "wf.extra");  // insertion order
  apply_store_stage_result(d.events, s);
  EXPECT_EQ(s.version, 7);
  EXPECT_EQ(s.tasks[0].version, 0);
}

TEST_F(StateMachineTest, NewStageErrors) {
  expect_rejected<WorkflowNotFoundError>(
      h_, StoreStage{new_stage("nope", "n.s", "s"), std::nullopt},
      "Execution not found: nope");
  expect_rejected<DuplicateError>(
      h_, StoreStage{new_stage("wf", "wf.other", "deploy"), std::nullopt},
      "ref_id deploy already exists in workflow wf");
  StageExecution s = new_stage("wf", "wf.new", "new");
  s.tasks = {new_task("t"), new_task("t")};
  expect_rejected<DuplicateError>(h_, StoreStage{s, std::nullopt}, "task id t");
  expect_rejected<InvalidArgumentError>(
      h_, StoreStage{new_stage("wf", "wf.new", "new"), "RUNNING_FAST"},
      "expected_phase");
  expect_rejected<InvalidArgumentError>(
      h_, StoreStage{new_stage("wf", "", "new"), std::nullopt}, "stage.id");
}

TEST_F(StateMachineTest, StoreStageCasOnVersionAndPhase) {
  StageExecution s = stage("wf.deploy");
  ASSERT_EQ(s.version, 2);
  StageExecution stale = s;
  stale.version = 1;
  expect_rejected<ConcurrencyError>(
      h_, StoreStage{stale, std::nullopt},
      "Optimistic lock failed for stage wf.deploy (version 1)");
  expect_rejected<ConcurrencyError>(
      h_, StoreStage{s, "NOT_STARTED"},
      "Optimistic lock failed for stage wf.deploy (version 2, expected_phase "
      "NOT_STARTED)");
  expect_rejected<InvalidArgumentError>(h_, StoreStage{s, "running"},
                                        "expected_phase");
  s.status = WorkflowStatus::kSucceeded;
  s.outputs = nlohmann::json{{"done", true}};
  s.end_time = 99;
  s.name = "renamed";                 // structural: ignored (Q8)
  s.requisite_stage_ref_ids = {"x"};  // ignored
  Decision d = h_.apply(StoreStage{s, "RUNNING"});
  ASSERT_EQ(d.events.size(), 1u);
  apply_store_stage_result(d.events, s);
  EXPECT_EQ(s.version, 3);
  const StageExecution stored = stage("wf.deploy");
  EXPECT_EQ(stored.version, 3);
  EXPECT_EQ(stored.status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(stored.outputs, nlohmann::json({{"done", true}}));
  EXPECT_EQ(stored.end_time, 99);
  EXPECT_EQ(stored.name, "Deploy");
  EXPECT_EQ(stored.requisite_stage_ref_ids,
            (std::set<std::string>{"build_linux", "build_mac"}));
  // The phase is compared with the stored status before the update.
  EXPECT_EQ(h_.apply(StoreStage{s, "SUCCEEDED"}).events.size(), 1u);
  EXPECT_EQ(stage("wf.deploy").version, 4);
}

TEST_F(StateMachineTest, TaskUpsertRules) {
  StageExecution s = stage("wf.build_linux");
  ASSERT_EQ(s.tasks.size(), 2u);
  const std::string kept = s.tasks[1].id;
  // List: existing task 0 (version 0), a new task; task 1 is not listed.
  s.tasks.erase(s.tasks.begin() + 1);
  s.tasks[0].status = WorkflowStatus::kSucceeded;
  s.tasks.push_back(new_task("wf.build_linux.new", 5));
  Decision d = h_.apply(StoreStage{s, std::nullopt});
  ASSERT_EQ(d.events.size(), 1u);
  apply_store_stage_result(d.events, s);
  EXPECT_EQ(s.tasks[0].version, 1);
  EXPECT_EQ(s.tasks[1].version, 0);
  const StageExecution stored = stage("wf.build_linux");
  ASSERT_EQ(stored.tasks.size(), 3u);
  EXPECT_EQ(stored.tasks[0].status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(stored.tasks[0].version, 1);
  EXPECT_EQ(stored.tasks[1].id, kept);  // kept, in place
  EXPECT_EQ(stored.tasks[1].version, 0);
  EXPECT_EQ(stored.tasks[2].id, "wf.build_linux.new");
  EXPECT_EQ(stored.tasks[2].version, 0);
  // Every listed task is bumped, changed or not.
  d = h_.apply(StoreStage{s, std::nullopt});
  apply_store_stage_result(d.events, s);
  EXPECT_EQ(stage("wf.build_linux").tasks[2].version, 1);
  // A listed task stored at another version: all-or-nothing conflict (Q3).
  StageExecution conflicting = s;
  conflicting.tasks[1].version = 0;
  expect_rejected<ConcurrencyError>(
      h_, StoreStage{conflicting, std::nullopt},
      "Task wf.build_linux.new was modified concurrently (expected version 0)");
  EXPECT_EQ(stage("wf.build_linux").version, s.version);
}

TEST_F(StateMachineTest, RemoveStageDeletesOnlyThatStage) {
  Decision d = h_.apply(RemoveStage{"wf", "wf.deploy"});
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(std::get<StageRemoved>(d.events[0]).execution_id, "wf");
  EXPECT_FALSE(load_stage(h_.views, "wf.deploy").has_value());
  // Synthetic children and other stages' requisites stay.
  const Workflow w = load();
  EXPECT_EQ(w.stages.size(), 6u);
  EXPECT_NE(w.find_stage("wf.deploy_verify"), nullptr);
  // The id can be added again, at the end.
  StageExecution again = new_stage("wf", "wf.deploy", "deploy");
  EXPECT_EQ(h_.apply(StoreStage{again, std::nullopt}).events.size(), 1u);
  EXPECT_EQ(load().stages.back().id, "wf.deploy");
}

TEST_F(StateMachineTest, MarkProcessedFirstWriterWinsAndCleanupIsExact) {
  h_.now_ms = 100;
  ASSERT_EQ(
      h_.apply(MarkMessageProcessed{"m1", "A", std::nullopt}).events.size(),
      1u);
  h_.now_ms = 200;
  EXPECT_TRUE(h_.apply(MarkMessageProcessed{"m1", "B", "wf"}).events.empty());
  const std::string odd(600, '\'');
  h_.apply(MarkMessageProcessed{odd, std::nullopt, std::nullopt});
  h_.now_ms = 300;
  h_.apply(MarkMessageProcessed{"m3", std::nullopt, std::nullopt});
  EXPECT_TRUE(is_message_processed(h_.views, "m1"));
  EXPECT_TRUE(is_message_processed(h_.views, odd));
  EXPECT_FALSE(is_message_processed(h_.views, "m2"));
  EXPECT_EQ(processed_message_ids(h_.views, std::nullopt),
            (std::vector<std::string>{"m1", odd, "m3"}));
  EXPECT_EQ(processed_message_ids(h_.views, 2),
            (std::vector<std::string>{"m1", odd}));
  expect_rejected<InvalidArgumentError>(
      h_, MarkMessageProcessed{"", std::nullopt, std::nullopt}, "message_id");
  expect_rejected<InvalidArgumentError>(h_, CleanupProcessedMessages{-1},
                                        "max_age");
  // cutoff = 400 - 200 = 200: only m1 (at 100) is older; odd (at 200) stays.
  h_.now_ms = 400;
  Decision d = h_.apply(CleanupProcessedMessages{200});
  EXPECT_EQ(d.count, 1u);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_FALSE(is_message_processed(h_.views, "m1"));
  EXPECT_TRUE(is_message_processed(h_.views, odd));
  // Nothing to purge: a no-op.
  d = h_.apply(CleanupProcessedMessages{200});
  EXPECT_EQ(d.count, 0u);
  EXPECT_TRUE(d.events.empty());
  // A purged id can be marked again.
  EXPECT_EQ(
      h_.apply(MarkMessageProcessed{"m1", "C", std::nullopt}).events.size(),
      1u);
}

TEST_F(StateMachineTest, ClaimsAreReentrantAndStealOnlyFromTerminalOwners) {
  Decision d = h_.apply(AcquireClaim{"wf", "mutex:m", "wf.deploy", true});
  EXPECT_TRUE(d.result);
  ASSERT_EQ(d.events.size(), 1u);
  d = h_.apply(AcquireClaim{"wf", "mutex:m", "wf.deploy", true});
  EXPECT_TRUE(d.result);
  EXPECT_TRUE(d.events.empty());
  // deploy is RUNNING: no steal.
  d = h_.apply(AcquireClaim{"wf", "mutex:m", "wf.setup", true});
  EXPECT_FALSE(d.result);
  EXPECT_TRUE(d.events.empty());
  // deploy completes: a mutex transfers, a choice never does.
  h_.apply(AcquireClaim{"wf", "choice:c", "wf.deploy", false});
  StageExecution s = stage("wf.deploy");
  s.status = WorkflowStatus::kSucceeded;
  h_.apply(StoreStage{s, std::nullopt});
  EXPECT_FALSE(
      h_.apply(AcquireClaim{"wf", "choice:c", "wf.setup", false}).result);
  d = h_.apply(AcquireClaim{"wf", "mutex:m", "wf.setup", true});
  EXPECT_TRUE(d.result);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ClaimTransferred>(d.events[0]));
  EXPECT_EQ(claim_holder(h_.views, "wf", "mutex:m"), "wf.setup");
  // A missing owner stage counts as terminal.
  h_.apply(AcquireClaim{"wf", "mutex:n", "wf.build_mac", true});
  h_.apply(RemoveStage{"wf", "wf.build_mac"});
  EXPECT_TRUE(h_.apply(AcquireClaim{"wf", "mutex:n", "wf.setup", true}).result);
  // REDIRECT is not complete.
  StageExecution linux_build = stage("wf.build_linux");
  h_.apply(AcquireClaim{"wf", "mutex:r", linux_build.id, true});
  linux_build.status = WorkflowStatus::kRedirect;
  h_.apply(StoreStage{linux_build, std::nullopt});
  EXPECT_FALSE(
      h_.apply(AcquireClaim{"wf", "mutex:r", "wf.setup", true}).result);
}

TEST_F(StateMachineTest, CleanupCompletedStageClaimsKeepsLiveExecutions) {
  h_.apply(StoreWorkflow{testutil::diamond_workflow("live")});
  h_.apply(AcquireClaim{"wf", "mutex:a", "wf.deploy", true});
  h_.apply(AcquireClaim{"wf", "choice:b", "wf.deploy", false});
  h_.apply(AcquireClaim{"live", "mutex:a", "live.deploy", true});
  h_.apply(AcquireClaim{"gone", "mutex:a", "gone.deploy", true});
  Decision d = h_.apply(CleanupCompletedStageClaims{});
  EXPECT_EQ(d.count, 0u);
  EXPECT_TRUE(d.events.empty());
  Workflow w = load();
  w.status = WorkflowStatus::kCanceled;
  h_.apply(SetWorkflowStatus::of(w));
  d = h_.apply(CleanupCompletedStageClaims{});
  EXPECT_EQ(d.count, 2u);
  EXPECT_FALSE(claim_holder(h_.views, "wf", "mutex:a").has_value());
  EXPECT_FALSE(claim_holder(h_.views, "wf", "choice:b").has_value());
  EXPECT_EQ(claim_holder(h_.views, "live", "mutex:a"), "live.deploy");
  EXPECT_EQ(claim_holder(h_.views, "gone", "mutex:a"), "gone.deploy");
}

TEST_F(StateMachineTest, EnumsOutOfRangeAreInvalidArguments) {
  UpdateStatus bad = UpdateStatus::of(load());
  bad.status = static_cast<WorkflowStatus>(40);
  expect_rejected<InvalidArgumentError>(h_, bad, "status");
}

TEST_F(StateMachineTest, IdsAreInternedOnceAcrossRoles) {
  // "payments" is the application; used as a workflow id it keeps its
  // surrogate.
  const std::optional<std::uint64_t> app =
      keys::lookup_id(h_.views, "payments");
  ASSERT_TRUE(app.has_value());
  Workflow w = testutil::diamond_workflow("payments");
  h_.apply(StoreWorkflow{w});
  EXPECT_EQ(keys::lookup_id(h_.views, "payments"), app);
  EXPECT_TRUE(workflow_exists(h_.views, "payments"));
  // Every key of every table but ids and meta is fixed-width: surrogates
  // and other u64s, after a one-byte kind or a two-byte event type.
  for (Table table : kAllTables) {
    if (table == Table::kIds || table == Table::kMeta) continue;
    const bool by_type =
        table == Table::kTypeEvents || table == Table::kEventCounts;
    for (const auto& [key, value] : dump_table(h_.views, table)) {
      if (by_type) {
        EXPECT_EQ(key.size() % 8, 2u) << table_name(table);
      } else {
        EXPECT_EQ(key.size() % 8 == 0 || key.size() % 8 == 1, true)
            << table_name(table);
      }
    }
  }
}

TEST_F(StateMachineTest, WorkflowEventIndexListsEveryEventOfTheWorkflow) {
  h_.apply(Pause{"wf", "a"});
  h_.apply(MarkMessageProcessed{"m", std::nullopt, "wf"});
  h_.apply(MarkMessageProcessed{"n", std::nullopt, std::nullopt});
  EXPECT_EQ(workflow_event_lsns(h_.views, "wf"),
            (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(applied_lsn(h_.views), 4u);
}

TEST_F(StateMachineTest, QueueEventsKeepRecords) {
  std::vector<EventPayload> payloads;
  payloads.emplace_back(MessagePushed{5, "wf", "StartStage",
                                      nlohmann::json{{"stage_id", "s"}}, 10,
                                      std::nullopt});
  payloads.emplace_back(
      MessagePushed{6, "", "StartWorkflow", nlohmann::json::object(), 20, 3});
  payloads.emplace_back(MessageLeased{5, "wf", 1, 110});
  payloads.emplace_back(MessageLeaseExtended{5, "wf", 210});
  payloads.emplace_back(MessageRescheduled{5, "wf", 300});
  payloads.emplace_back(MessageDeadLettered{6, "", "boom", 400});
  payloads.emplace_back(DeadLetterReplayed{6, 7, "", 500});
  fold_events(make_events(payloads, 100, 0), h_.views);
  EXPECT_EQ(next_delivery_id(h_.views), 8u);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueMessages).size(), 2u);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueReady).size(), 2u);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueLeases).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kDeadLetters).size(), 0u);
  payloads.clear();
  payloads.emplace_back(MessageLeased{7, "", 1, 600});
  payloads.emplace_back(MessageAcked{7, ""});
  payloads.emplace_back(MessageDeadLettered{5, "wf", "late", 700});
  payloads.emplace_back(MessageAcked{99, ""});  // unknown: nothing
  fold_events(make_events(payloads, 200, 0), h_.views);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueMessages).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueReady).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kDeadLetters).size(), 1u);
  payloads.clear();
  payloads.emplace_back(
      MessagePushed{8, "", "X", nlohmann::json::object(), 1, std::nullopt});
  payloads.emplace_back(QueueCleared{});
  payloads.emplace_back(DeadLetterQueueCleared{});
  fold_events(make_events(payloads, 300, 0), h_.views);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueMessages).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kQueueReady).size(), 0u);
  EXPECT_EQ(dump_table(h_.views, Table::kDeadLetters).size(), 0u);
  EXPECT_EQ(next_delivery_id(h_.views), 9u);
}

std::uint64_t colliding_hash(std::string_view) { return 42; }

TEST(StateMachineInterningTest, HashCollisionsKeepEveryIdApart) {
  keys::ScopedIdHashForTesting all_collide(&colliding_hash);
  Harness h;
  h.apply(StoreWorkflow{testutil::diamond_workflow("a")});
  h.apply(StoreWorkflow{testutil::diamond_workflow("b")});
  h.apply(MarkMessageProcessed{"m", std::nullopt, "a"});
  EXPECT_EQ(dump_table(h.views, Table::kIds).size(), 1u);  // one hash bucket
  EXPECT_EQ(load_workflow(h.views, "a", true),
            stored_form(testutil::diamond_workflow("a")));
  EXPECT_EQ(load_workflow(h.views, "b", true),
            stored_form(testutil::diamond_workflow("b")));
  EXPECT_TRUE(is_message_processed(h.views, "m"));
  EXPECT_FALSE(is_message_processed(h.views, "a"));
  EXPECT_FALSE(workflow_exists(h.views, "m"));
  h.apply(DeleteWorkflow{"a"});
  EXPECT_FALSE(workflow_exists(h.views, "a"));
  EXPECT_TRUE(workflow_exists(h.views, "b"));
}

TEST(StateMachineInterningTest, ProcessedIdsSharingAHashKeepApart) {
  keys::ScopedIdHashForTesting all_collide(&colliding_hash);
  Harness h;
  h.apply(MarkMessageProcessed{"m1", std::nullopt, std::nullopt});
  h.apply(MarkMessageProcessed{"m2", "H", "wf"});
  h.now_ms += 10'000;
  h.apply(MarkMessageProcessed{"m3", std::nullopt, std::nullopt});
  // One key holds the three entries; no message id is interned.
  EXPECT_EQ(dump_table(h.views, Table::kProcessedMessages).size(), 1u);
  for (const char* id : {"m1", "m2", "m3"}) {
    EXPECT_TRUE(is_message_processed(h.views, id)) << id;
    EXPECT_EQ(keys::lookup_id(h.views, id), std::nullopt) << id;
  }
  EXPECT_FALSE(is_message_processed(h.views, "m"));
  EXPECT_FALSE(is_message_processed(h.views, "m4"));
  // Marking one again changes nothing.
  const auto before = dump_all(h.views);
  EXPECT_TRUE(h.apply(MarkMessageProcessed{"m2", std::nullopt, std::nullopt})
                  .events.empty());
  EXPECT_EQ(dump_all(h.views), before);
  // Purging the two older ones keeps the third under the shared key.
  EXPECT_EQ(h.apply(CleanupProcessedMessages{5'000}).count, 2u);
  EXPECT_FALSE(is_message_processed(h.views, "m1"));
  EXPECT_FALSE(is_message_processed(h.views, "m2"));
  EXPECT_TRUE(is_message_processed(h.views, "m3"));
  EXPECT_EQ(processed_message_ids(h.views, std::nullopt),
            std::vector<std::string>{"m3"});
  h.now_ms += 1;
  EXPECT_EQ(h.apply(CleanupProcessedMessages{0}).count, 1u);
  EXPECT_EQ(dump_table(h.views, Table::kProcessedMessages).size(), 0u);
  EXPECT_EQ(dump_table(h.views, Table::kProcessedByTime).size(), 0u);
}

TEST(ProcessedRecordTest, EveryFieldRoundTripsAndATruncatedOneIsCorruption) {
  const records::ProcessedRecord full{-7, 42, "Handler", "wf-1"};
  const std::string bytes = records::encode_processed(full);
  const records::ProcessedRecord back = records::decode_processed(bytes);
  EXPECT_EQ(back.processed_at, -7);
  EXPECT_EQ(back.lsn, 42u);
  EXPECT_EQ(back.handler_type, "Handler");
  EXPECT_EQ(back.execution_id, "wf-1");
  const records::ProcessedRecord bare =
      records::decode_processed(records::encode_processed({5, 6, {}, {}}));
  EXPECT_EQ(bare.processed_at, 5);
  EXPECT_EQ(bare.lsn, 6u);
  EXPECT_EQ(bare.handler_type, std::nullopt);
  EXPECT_EQ(bare.execution_id, std::nullopt);
  EXPECT_THROW(records::decode_processed(bytes.substr(0, bytes.size() - 1)),
               CorruptionError);
}

TEST(StateMachineInterningTest, ADamagedProcessedValueIsCorruption) {
  Harness h;
  h.apply(MarkMessageProcessed{"m", std::nullopt, std::nullopt});
  const auto rows = dump_table(h.views, Table::kProcessedMessages);
  ASSERT_EQ(rows.size(), 1u);
  h.views.put(Table::kProcessedMessages, rows[0].first,
              rows[0].second.substr(0, rows[0].second.size() - 1));
  EXPECT_THROW(is_message_processed(h.views, "m"), CorruptionError);
  EXPECT_THROW(h.apply(MarkMessageProcessed{"m", std::nullopt, std::nullopt}),
               CorruptionError);
  // An empty value: the fold deletes an emptied key, so it is damage too
  // (not "no entry").
  h.views.put(Table::kProcessedMessages, rows[0].first, "");
  EXPECT_THROW(is_message_processed(h.views, "m"), CorruptionError);
}

TEST(StateMachineInterningTest, APurgeOfAnIdItsBucketLacksIsCorruption) {
  keys::ScopedIdHashForTesting all_collide(&colliding_hash);  // One bucket.
  Harness h;
  h.apply(MarkMessageProcessed{"m", std::nullopt, std::nullopt});
  h.apply(MarkMessageProcessed{"n", std::nullopt, std::nullopt});
  // processed_by_time names "x" where it named "m": the bucket (that of every
  // id here) has no "x".
  const auto by_time = dump_table(h.views, Table::kProcessedByTime);
  ASSERT_EQ(by_time.size(), 2u);
  h.views.put(Table::kProcessedByTime, by_time[0].first, "x");
  h.now_ms += 1;
  EXPECT_THROW(h.apply(CleanupProcessedMessages{0}), CorruptionError);
  // And a by-time entry whose bucket is gone altogether.
  h.views.put(Table::kProcessedByTime, by_time[0].first, "m");
  h.views.del(Table::kProcessedMessages, records::processed_key("m"));
  EXPECT_THROW(h.apply(CleanupProcessedMessages{0}), CorruptionError);
}

TEST_F(StateMachineTest, DecidingOverAnOverlaySeesPendingEventsOnly) {
  // A transaction's eager checks: decide over a snapshot plus pending events.
  OverlayViewStore overlay(h_.views);
  const auto before = dump_all(h_.views);
  StageExecution s = stage("wf.deploy");
  Decision first =
      decide(StoreStage{s, std::nullopt}, overlay, DecideContext{5});
  for (const Event& e : make_events(first.events, 0, 5)) fold(e, overlay);
  // Storing the same copy again conflicts; the bumped copy succeeds.
  EXPECT_THROW(decide(StoreStage{s, std::nullopt}, overlay, DecideContext{5}),
               ConcurrencyError);
  apply_store_stage_result(first.events, s);
  EXPECT_EQ(decide(StoreStage{s, std::nullopt}, overlay, DecideContext{5})
                .events.size(),
            1u);
  Decision mark = decide(MarkMessageProcessed{"m", std::nullopt, std::nullopt},
                         overlay, DecideContext{5});
  for (const Event& e : make_events(mark.events, 0, 5)) fold(e, overlay);
  EXPECT_TRUE(decide(MarkMessageProcessed{"m", std::nullopt, std::nullopt},
                     overlay, DecideContext{5})
                  .events.empty());
  EXPECT_TRUE(is_message_processed(overlay, "m"));
  EXPECT_FALSE(is_message_processed(h_.views, "m"));
  EXPECT_EQ(dump_all(h_.views), before);
}

// ---- determinism ----

// A seeded random command sequence touching every command.
std::vector<Command> random_commands(std::uint32_t seed, int count) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) {
    return static_cast<int>(rng() % static_cast<std::uint32_t>(n));
  };
  std::vector<Command> commands;
  for (int i = 0; i < 4; ++i) {
    commands.emplace_back(
        StoreWorkflow{testutil::diamond_workflow("w" + std::to_string(i))});
  }
  static const char* kRefs[] = {"setup",  "build_linux",     "build_mac",
                                "deploy", "deploy_precheck", "deploy_verify"};
  for (int i = 0; i < count; ++i) {
    const std::string wf = "w" + std::to_string(pick(5));
    const std::string stage_id = wf + "." + kRefs[pick(6)];
    switch (pick(12)) {
      case 0: {
        UpdateStatus u;
        u.workflow_id = wf;
        u.status = static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
        if (pick(3) != 0) u.start_time = pick(5) * 1000;
        commands.emplace_back(u);
        break;
      }
      case 1:
        commands.emplace_back(SetWorkflowStatus{
            wf, static_cast<WorkflowStatus>(pick(kWorkflowStatusCount)),
            pick(2) != 0 ? std::optional<std::int64_t>(pick(5) * 1000)
                         : std::nullopt,
            std::nullopt});
        break;
      case 2:
        commands.emplace_back(Pause{wf, "p"});
        break;
      case 3:
        commands.emplace_back(Resume{wf});
        break;
      case 4:
        commands.emplace_back(Cancel{wf, "c", "r"});
        break;
      case 5:
        if (pick(8) == 0) {
          commands.emplace_back(DeleteWorkflow{wf});
        } else {
          commands.emplace_back(StoreWorkflow{testutil::diamond_workflow(wf)});
        }
        break;
      case 6: {
        StageExecution s = new_stage(wf, wf + ".x" + std::to_string(pick(4)),
                                     "x" + std::to_string(pick(4)));
        s.tasks = {new_task(s.id + ".t", pick(2))};
        s.version = pick(3);
        commands.emplace_back(StoreStage{s, std::nullopt});
        break;
      }
      case 7: {
        StageExecution s = new_stage(wf, stage_id, "ignored");
        s.version = pick(4);
        s.status = static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
        s.outputs = nlohmann::json{{"n", i}};
        s.tasks = {new_task(stage_id + ".t0", pick(2)),
                   new_task(stage_id + ".n", 0)};
        commands.emplace_back(
            StoreStage{s, pick(2) != 0 ? std::optional<std::string>("RUNNING")
                                       : std::nullopt});
        break;
      }
      case 8:
        commands.emplace_back(RemoveStage{wf, stage_id});
        break;
      case 9:
        commands.emplace_back(
            MarkMessageProcessed{"m" + std::to_string(pick(20)), "h", wf});
        break;
      case 10:
        if (pick(4) == 0) {
          commands.emplace_back(CleanupProcessedMessages{pick(3) * 50});
        } else if (pick(3) == 0) {
          commands.emplace_back(CleanupCompletedStageClaims{});
        } else {
          commands.emplace_back(AcquireClaim{
              wf, "mutex:" + std::to_string(pick(3)), stage_id, pick(2) != 0});
        }
        break;
      default:
        commands.emplace_back(
            StoreStage{new_stage(wf, wf + ".y" + std::to_string(i), "setup"),
                       std::nullopt});
        break;
    }
  }
  return commands;
}

// Runs `commands` through a harness; errors are expected for some commands
// and must change nothing. Returns the harness.
Harness run(const std::vector<Command>& commands) {
  Harness h;
  for (const Command& command : commands) {
    h.now_ms += 37;
    const auto before = dump_all(h.views);
    try {
      h.apply(command);
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kConcurrency ||
                  e.code() == ErrorCode::kDuplicate ||
                  e.code() == ErrorCode::kWorkflowNotFound)
          << command_name(command) << ": " << e.what();
      EXPECT_EQ(dump_all(h.views), before) << command_name(command);
    }
  }
  return h;
}

TEST(StateMachineDeterminismTest,
     SeededRandomSequenceRunTwiceGivesIdenticalViews) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const std::vector<Command> commands = random_commands(seed, 400);
  Harness a = run(commands);
  Harness b = run(commands);
  EXPECT_EQ(dump_all(a.views), dump_all(b.views));
  EXPECT_GT(a.log.size(), 100u);
  // Refolding the log from scratch rebuilds the same views.
  MemoryViewStore rebuilt;
  fold_events(a.log, rebuilt);
  EXPECT_EQ(dump_all(rebuilt), dump_all(a.views));
}

TEST(StateMachineDeterminismTest, MemoryAndLmdbFoldsAgreeWhateverTheGrouping) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Harness reference = run(random_commands(seed, 300));
  const std::vector<Event>& log = reference.log;

  MemoryViewStore memory;
  ChecksumViewStore memory_sum(memory);
  fold_events(log, memory_sum);

  testutil::TempDir dir;
  std::unique_ptr<LmdbViews> lmdb = LmdbViews::open(dir.path());
  ViewChecksum lmdb_checksum{};
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < log.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 17, log.size() - i);
    LmdbViews::WriteTxn txn = lmdb->begin_write();
    ChecksumViewStore sum(txn, lmdb_checksum);
    // Half of the groups go through an overlay first, as the writer's
    // per-commit decide/fold does, then into the transaction.
    if (rng() % 2 == 0) {
      OverlayViewStore overlay(sum);
      for (std::size_t j = i; j < i + n; ++j) fold(log[j], overlay);
    }
    fold_events(
        std::vector<Event>(log.begin() + static_cast<std::ptrdiff_t>(i),
                           log.begin() + static_cast<std::ptrdiff_t>(i + n)),
        sum);
    lmdb_checksum = sum.checksum();
    txn.commit();
    i += n;
  }
  for (Table table : kAllTables) {
    EXPECT_EQ(lmdb->dump(table), dump_table(memory, table))
        << table_name(table);
    EXPECT_EQ(dump_table(reference.views, table), dump_table(memory, table))
        << table_name(table);
  }
  EXPECT_EQ(lmdb_checksum, memory_sum.checksum());
  EXPECT_NE(to_hex(lmdb_checksum), to_hex(ViewChecksum{}));
}

}  // namespace
}  // namespace wfstore
