// recover_pending: one test per rule of docs/semantics.md §13, and item 45 (a
// second run does not grow the queue for RUNNING tasks).

#include "wfstore/recovery.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/message.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"

#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using Outcome = RecoveryResult::Outcome;
using testutil::TempDir;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TaskExecution task(const std::string& stage_id, int index,
                   WorkflowStatus status) {
  return testutil::make_task(stage_id, index, "task" + std::to_string(index),
                             "ShellTask", status);
}

// A stage "<workflow>.<ref>" of type "<ref>-type".
StageExecution stage(const std::string& workflow_id, const std::string& ref,
                     WorkflowStatus status,
                     std::set<std::string> requisites = {}) {
  StageExecution s =
      testutil::make_stage(workflow_id, ref, ref + "-type", ref, status);
  s.requisite_stage_ref_ids = std::move(requisites);
  return s;
}

Workflow workflow(const std::string& id, WorkflowStatus status,
                  std::optional<std::int64_t> start_time,
                  std::vector<StageExecution> stages = {},
                  const std::string& application = "app") {
  Workflow w = testutil::bare_workflow(id, application, status, start_time);
  w.name = id;
  w.stages = std::move(stages);
  return w;
}

// A RUNNING workflow started now whose only interesting stage is `s`, plus a
// SUCCEEDED upstream "up" when `s` requires it.
Workflow running_with(const std::string& id, std::vector<StageExecution> s) {
  return workflow(id, WorkflowStatus::kRunning, now_ms(), std::move(s));
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    db_ = Database::open(dir_.path(), options);
    queue_ = std::make_unique<Queue>(*db_);
  }
  void TearDown() override {
    queue_.reset();
    db_->close();
  }

  WorkflowStore& store() { return db_->workflow_store(); }
  Queue& queue() { return *queue_; }

  // Every queued message, in delivery order (leases them).
  std::vector<Message> drain() {
    std::vector<Message> out;
    while (std::optional<Delivery> d = queue().poll_one()) {
      out.push_back(d->message);
    }
    return out;
  }

  // The single result for `id`; fails the test when absent or repeated.
  static RecoveryResult result_for(const std::vector<RecoveryResult>& results,
                                   const std::string& id) {
    std::optional<RecoveryResult> found;
    for (const RecoveryResult& r : results) {
      if (r.workflow_id != id) continue;
      EXPECT_FALSE(found) << "two results for " << id;
      found = r;
    }
    EXPECT_TRUE(found) << "no result for " << id;
    return found.value_or(RecoveryResult{});
  }

  static std::set<std::string> ids(const std::vector<RecoveryResult>& results) {
    std::set<std::string> out;
    for (const RecoveryResult& r : results) out.insert(r.workflow_id);
    return out;
  }

  // Stores `w`, runs recovery, and returns the messages it queued.
  std::vector<Message> recover_one(const Workflow& w, RecoveryResult* result) {
    store().store(w);
    const std::vector<RecoveryResult> results =
        recover_pending(store(), queue());
    *result = result_for(results, w.id);
    return drain();
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Queue> queue_;
};

StartStage expected_start_stage(const std::string& workflow_id,
                                const std::string& ref) {
  return testutil::start_stage(workflow_id, workflow_id + "." + ref);
}

// Rule 1: RUNNING and NOT_STARTED candidates, one with a NULL start_time;
// those started before now - max_age and complete ones are not candidates.
TEST_F(RecoveryTest, Rule1Candidates) {
  const std::int64_t now = now_ms();
  const std::int64_t hour = 3'600'000;
  store().store(workflow("fresh", WorkflowStatus::kRunning, now,
                         {stage("fresh", "a", WorkflowStatus::kRunning)}));
  store().store(workflow("never", WorkflowStatus::kNotStarted, std::nullopt,
                         {stage("never", "a", WorkflowStatus::kNotStarted)}));
  store().store(workflow("old", WorkflowStatus::kRunning, now - 100 * hour,
                         {stage("old", "a", WorkflowStatus::kRunning)}));
  store().store(workflow("done", WorkflowStatus::kSucceeded, now,
                         {stage("done", "a", WorkflowStatus::kSucceeded)}));
  store().store(workflow("paused", WorkflowStatus::kPaused, now,
                         {stage("paused", "a", WorkflowStatus::kRunning)}));

  const std::vector<RecoveryResult> results = recover_pending(store(), queue());
  EXPECT_EQ(ids(results), (std::set<std::string>{"fresh", "never"}));
  EXPECT_EQ(queue().size(), 2u);

  // A wider max_age takes the old one too.
  RecoveryOptions wide;
  wide.max_age = std::chrono::hours{200};
  EXPECT_EQ(ids(recover_pending(store(), queue(), wide)),
            (std::set<std::string>{"fresh", "never", "old"}));
}

// Rule 1: the application filter, and batch_size as the page size.
TEST_F(RecoveryTest, Rule1ApplicationFilterAndBatchSize) {
  const std::int64_t now = now_ms();
  store().store(workflow("a1", WorkflowStatus::kRunning, now,
                         {stage("a1", "s", WorkflowStatus::kRunning)}, "a"));
  store().store(workflow("a2", WorkflowStatus::kRunning, now - 1,
                         {stage("a2", "s", WorkflowStatus::kRunning)}, "a"));
  store().store(workflow("b1", WorkflowStatus::kRunning, now,
                         {stage("b1", "s", WorkflowStatus::kRunning)}, "b"));
  RecoveryOptions only_a;
  only_a.application = "a";
  EXPECT_EQ(ids(recover_pending(store(), queue(), only_a)),
            (std::set<std::string>{"a1", "a2"}));
  EXPECT_EQ(queue().size(), 2u);

  RecoveryOptions one;
  one.batch_size = 1;
  EXPECT_EQ(recover_pending(store(), queue(), one).size(), 1u);
}

// Rule 2: a complete workflow is skipped (it is no candidate; nothing is
// queued for it even when a stage looks RUNNING).
TEST_F(RecoveryTest, Rule2CompleteWorkflowsAreSkipped) {
  for (WorkflowStatus status :
       {WorkflowStatus::kSucceeded, WorkflowStatus::kTerminal,
        WorkflowStatus::kCanceled, WorkflowStatus::kStopped}) {
    const std::string id = std::string(status_name(status));
    store().store(workflow(id, status, now_ms(),
                           {stage(id, "a", WorkflowStatus::kRunning)}));
  }
  EXPECT_TRUE(recover_pending(store(), queue()).empty());
  EXPECT_EQ(queue().size(), 0u);
}

// Rule 3 and 5: a RUNNING stage with no tasks gets StartStage.
TEST_F(RecoveryTest, Rule3RunningStageNeedsRecovery) {
  RecoveryResult result;
  const std::vector<Message> messages = recover_one(
      running_with("w", {stage("w", "up", WorkflowStatus::kSucceeded),
                         stage("w", "a", WorkflowStatus::kRunning, {"up"})}),
      &result);
  EXPECT_EQ(result.outcome, Outcome::kRecovered);
  EXPECT_EQ(result.stages_recovered, 1u);
  EXPECT_EQ(result.messages_pushed, 1u);
  EXPECT_EQ(messages, std::vector<Message>{expected_start_stage("w", "a")});
}

// Rule 3: a NOT_STARTED stage that "has started" (its start_time, or a
// task's) needs recovery even when its upstreams are not done.
TEST_F(RecoveryTest, Rule3NotStartedButHasStarted) {
  StageExecution by_stage =
      stage("w", "b", WorkflowStatus::kNotStarted, {"up"});
  by_stage.start_time = now_ms();
  StageExecution by_task = stage("w", "c", WorkflowStatus::kNotStarted, {"up"});
  by_task.tasks.push_back(task(by_task.id, 0, WorkflowStatus::kNotStarted));
  by_task.tasks[0].start_time = now_ms();
  StageExecution waiting = stage("w", "d", WorkflowStatus::kNotStarted, {"up"});
  RecoveryResult result;
  const std::vector<Message> messages =
      recover_one(running_with("w", {stage("w", "up", WorkflowStatus::kRunning),
                                     by_stage, by_task, waiting}),
                  &result);
  EXPECT_EQ(result.stages_recovered, 3u);  // up (RUNNING), b, c
  EXPECT_EQ(messages, (std::vector<Message>{expected_start_stage("w", "up"),
                                            expected_start_stage("w", "b"),
                                            expected_start_stage("w", "c")}));
}

// Rule 3 "can start", AND join: all upstreams CONTINUABLE; a missing
// requisite ref never starts.
TEST_F(RecoveryTest, Rule3CanStartAndJoin) {
  RecoveryResult result;
  const std::vector<Message> messages = recover_one(
      running_with(
          "w",
          {stage("w", "root", WorkflowStatus::kNotStarted),
           stage("w", "ok1", WorkflowStatus::kSucceeded),
           stage("w", "ok2", WorkflowStatus::kFailedContinue),
           stage("w", "ok3", WorkflowStatus::kSkipped),
           stage("w", "bad", WorkflowStatus::kTerminal),
           stage("w", "ready", WorkflowStatus::kNotStarted,
                 {"ok1", "ok2", "ok3"}),
           stage("w", "blocked", WorkflowStatus::kNotStarted, {"ok1", "bad"}),
           stage("w", "orphan", WorkflowStatus::kNotStarted, {"missing"})}),
      &result);
  EXPECT_EQ(messages,
            (std::vector<Message>{expected_start_stage("w", "root"),
                                  expected_start_stage("w", "ready")}));
}

// Rule 3 "can start", N_OF_M: join_threshold CONTINUABLE upstreams, a
// threshold above the number of upstreams never, and a fired join never.
TEST_F(RecoveryTest, Rule3CanStartNOfM) {
  const auto n_of_m = [](const std::string& ref, std::int64_t threshold) {
    StageExecution s =
        stage("w", ref, WorkflowStatus::kNotStarted, {"u1", "u2", "u3"});
    s.join_type = JoinType::kNOfM;
    s.join_threshold = threshold;
    return s;
  };
  StageExecution fired = n_of_m("fired", 1);
  fired.context = nlohmann::json{{"_join_fired", true}};
  RecoveryResult result;
  const std::vector<Message> messages = recover_one(
      running_with(
          "w", {stage("w", "u1", WorkflowStatus::kSucceeded),
                stage("w", "u2", WorkflowStatus::kSucceeded),
                stage("w", "u3", WorkflowStatus::kRunning), n_of_m("two", 2),
                n_of_m("three", 3), n_of_m("four", 4), fired}),
      &result);
  EXPECT_EQ(messages, (std::vector<Message>{expected_start_stage("w", "u3"),
                                            expected_start_stage("w", "two")}));
}

// Rule 3 "can start", DISCRIMINATOR: a fired join (_join_fired truthy) is not
// started again; an unfired one needs all upstreams CONTINUABLE.
TEST_F(RecoveryTest, Rule3CanStartDiscriminator) {
  const auto discriminator = [](const std::string& ref,
                                std::set<std::string> upstreams,
                                nlohmann::json context) {
    StageExecution s =
        stage("w", ref, WorkflowStatus::kNotStarted, std::move(upstreams));
    s.join_type = JoinType::kDiscriminator;
    s.context = std::move(context);
    return s;
  };
  RecoveryResult result;
  const std::vector<Message> messages = recover_one(
      running_with("w",
                   {stage("w", "u1", WorkflowStatus::kSucceeded),
                    stage("w", "u2", WorkflowStatus::kSucceeded),
                    stage("w", "u3", WorkflowStatus::kTerminal),
                    discriminator("fired", {"u1", "u2"},
                                  nlohmann::json{{"_join_fired", true}}),
                    discriminator("fired_int", {"u1", "u2"},
                                  nlohmann::json{{"_join_fired", 1}}),
                    discriminator("unfired", {"u1", "u2"},
                                  nlohmann::json{{"_join_fired", false}}),
                    discriminator("partial", {"u1", "u3"}, nlohmann::json{})}),
      &result);
  EXPECT_EQ(messages,
            (std::vector<Message>{expected_start_stage("w", "unfired")}));
}

// Rule 4: a NOT_STARTED workflow with no stage needing recovery gets
// StartWorkflow; a RUNNING one is skipped.
TEST_F(RecoveryTest, Rule4StartWorkflowOrSkip) {
  store().store(workflow("idle", WorkflowStatus::kNotStarted, std::nullopt));
  store().store(
      workflow("stuck", WorkflowStatus::kRunning, now_ms(),
               {stage("stuck", "done", WorkflowStatus::kSucceeded),
                stage("stuck", "wait", WorkflowStatus::kNotStarted, {"other"}),
                stage("stuck", "other", WorkflowStatus::kRunning)}));
  // "stuck" has a RUNNING stage: make a RUNNING workflow with none.
  store().store(
      workflow("quiet", WorkflowStatus::kRunning, now_ms(),
               {stage("quiet", "done", WorkflowStatus::kSucceeded),
                stage("quiet", "w", WorkflowStatus::kNotStarted, {"gone"})}));
  const std::vector<RecoveryResult> results = recover_pending(store(), queue());

  const RecoveryResult idle = result_for(results, "idle");
  EXPECT_EQ(idle.outcome, Outcome::kRecovered);
  EXPECT_EQ(idle.message, "Re-queued workflow start");
  EXPECT_EQ(idle.messages_pushed, 1u);
  EXPECT_EQ(idle.stages_recovered, 0u);

  const RecoveryResult quiet = result_for(results, "quiet");
  EXPECT_EQ(quiet.outcome, Outcome::kSkipped);
  EXPECT_EQ(quiet.message, "No stages need recovery");
  EXPECT_EQ(quiet.messages_pushed, 0u);

  const StartWorkflow start = testutil::start_workflow("idle");
  const std::vector<Message> messages = drain();
  EXPECT_EQ(std::count(messages.begin(), messages.end(), Message(start)), 1);
  EXPECT_EQ(messages.size(), 2u);  // StartWorkflow + StartStage(stuck.other)
}

// Rule 5: RunTask for each RUNNING task without a pending message, with the
// stage's type as task_type; NOT_STARTED tasks get nothing then.
TEST_F(RecoveryTest, Rule5RunTaskPerRunningTaskWithoutPendingMessage) {
  StageExecution s = stage("w", "a", WorkflowStatus::kRunning);
  s.start_time = now_ms();
  s.tasks = {task(s.id, 0, WorkflowStatus::kSucceeded),
             task(s.id, 1, WorkflowStatus::kRunning),
             task(s.id, 2, WorkflowStatus::kRunning),
             task(s.id, 3, WorkflowStatus::kNotStarted)};
  const RunTask pending =
      testutil::run_task("w", s.id, s.tasks[2].id, "a-type");
  queue().push(pending);
  // A task id that merely starts like t1's is not a pending message for it.
  RunTask prefix = pending;
  prefix.task_id = s.tasks[1].id.substr(0, s.tasks[1].id.size() - 1);
  queue().push(prefix);

  RecoveryResult result;
  const std::vector<Message> messages =
      recover_one(running_with("w", {s}), &result);
  const RunTask expected =
      testutil::run_task("w", s.id, s.tasks[1].id, "a-type");
  EXPECT_EQ(result.messages_pushed, 1u);
  EXPECT_EQ(messages,
            (std::vector<Message>{pending, prefix, expected}));  // FIFO
}

// Rule 5: a RUNNING stage with a start_time, no RUNNING task and NOT_STARTED
// tasks gets StartTask for the first of them (none when it has one pending).
TEST_F(RecoveryTest, Rule5StartTaskForFirstNotStartedTask) {
  StageExecution s = stage("w", "a", WorkflowStatus::kRunning);
  s.start_time = now_ms();
  s.tasks = {task(s.id, 0, WorkflowStatus::kSucceeded),
             task(s.id, 1, WorkflowStatus::kNotStarted),
             task(s.id, 2, WorkflowStatus::kNotStarted)};
  RecoveryResult result;
  const std::vector<Message> messages =
      recover_one(running_with("w", {s}), &result);
  const StartTask expected = testutil::start_task("w", s.id, s.tasks[1].id);
  EXPECT_EQ(messages, std::vector<Message>{expected});

  // With that StartTask still queued (leased by drain()), a second run
  // queues nothing more.
  ASSERT_EQ(queue().size(), 1u);
  const RecoveryResult again =
      result_for(recover_pending(store(), queue()), "w");
  EXPECT_EQ(again.outcome, Outcome::kSkipped);
  EXPECT_EQ(again.message, "No recovery messages to push");
  EXPECT_EQ(queue().size(), 1u);
}

// Rule 5: any other RUNNING stage (no start_time, or no NOT_STARTED task)
// gets StartStage.
TEST_F(RecoveryTest, Rule5StartStageOtherwise) {
  StageExecution no_start = stage("w", "a", WorkflowStatus::kRunning);
  no_start.tasks = {task(no_start.id, 0, WorkflowStatus::kNotStarted)};
  StageExecution all_done = stage("w", "b", WorkflowStatus::kRunning);
  all_done.start_time = now_ms();
  all_done.tasks = {task(all_done.id, 0, WorkflowStatus::kSucceeded)};
  RecoveryResult result;
  const std::vector<Message> messages =
      recover_one(running_with("w", {no_start, all_done}), &result);
  EXPECT_EQ(messages, (std::vector<Message>{expected_start_stage("w", "a"),
                                            expected_start_stage("w", "b")}));
  EXPECT_EQ(result.message, "Re-queued 2 stages (2 messages, 0 failed)");
}

// Rule 6: the messages of one workflow are one transaction: one commit, one
// notice, one log record spanning the three push events.
TEST_F(RecoveryTest, Rule6OneTransactionPerWorkflow) {
  store().store(running_with("w", {stage("w", "a", WorkflowStatus::kRunning),
                                   stage("w", "b", WorkflowStatus::kRunning),
                                   stage("w", "c", WorkflowStatus::kRunning)}));
  std::mutex mu;
  std::vector<CommitNotice> notices;
  const std::uint64_t listener =
      db_->add_commit_listener([&](const CommitNotice& notice) {
        std::scoped_lock lock(mu);
        notices.push_back(notice);
      });
  const std::uint64_t commits_before = db_->stats().commits;
  const std::vector<RecoveryResult> results = recover_pending(store(), queue());
  db_->remove_commit_listener(listener);

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].messages_pushed, 3u);
  EXPECT_EQ(db_->stats().commits, commits_before + 1);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].last_lsn - notices[0].first_lsn + 1, 3u);
  EXPECT_TRUE(notices[0].queue_changed);
  EXPECT_EQ(queue().size(), 3u);
}

// Rule 7: one result per candidate with its outcome name.
TEST_F(RecoveryTest, Rule7OutcomeNames) {
  EXPECT_STREQ(outcome_name(Outcome::kRecovered), "recovered");
  EXPECT_STREQ(outcome_name(Outcome::kPartial), "partial");
  EXPECT_STREQ(outcome_name(Outcome::kSkipped), "skipped");
  EXPECT_STREQ(outcome_name(Outcome::kFailed), "failed");
}

// Item 45: a RUNNING workflow with a RUNNING task is recovered with a RunTask
// (at least one message), and running recovery twice does not grow the
// queue.
TEST_F(RecoveryTest, Item45SecondRunDoesNotGrowQueue) {
  StageExecution s = stage("w", "a", WorkflowStatus::kRunning);
  s.start_time = now_ms();
  s.tasks = {task(s.id, 0, WorkflowStatus::kRunning)};
  store().store(running_with("w", {s}));

  const RecoveryResult first =
      result_for(recover_pending(store(), queue()), "w");
  EXPECT_EQ(first.outcome, Outcome::kRecovered);
  EXPECT_GE(queue().size(), 1u);
  const std::size_t size = queue().size();
  const RecoveryResult second =
      result_for(recover_pending(store(), queue()), "w");
  EXPECT_EQ(second.outcome, Outcome::kSkipped);
  EXPECT_EQ(queue().size(), size);
  EXPECT_TRUE(queue().has_pending_message_for_task(s.tasks[0].id));
}

// Item 45 end to end: a RUNNING task whose RunTask is already queued,
// recover_pending run twice, then a processor draining the queue: the task
// runs exactly once, and nothing else is handled.
TEST_F(RecoveryTest, Item45TwoRecoveriesOfAQueuedRunTaskRunItOnce) {
  StageExecution s = stage("w", "a", WorkflowStatus::kRunning);
  s.start_time = now_ms();
  s.tasks = {task(s.id, 0, WorkflowStatus::kRunning)};
  store().store(running_with("w", {s}));
  queue().push(testutil::run_task("w", s.id, s.tasks[0].id, "a-type"));

  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run);
    const RecoveryResult result =
        result_for(recover_pending(store(), queue()), "w");
    EXPECT_EQ(result.messages_pushed, 0u);
    EXPECT_EQ(queue().size(), 1u);
  }

  QueueProcessorConfig config;
  config.dlq_check_interval = std::chrono::milliseconds{0};
  QueueProcessor processor(store(), queue(), config);
  std::vector<std::string> handled;
  for (std::string_view type : message_type_names()) {
    processor.register_handler(
        type, std::string(type) + "Handler", [&handled](const Delivery& d) {
          handled.emplace_back(message_type_name(d.message));
          if (const auto* run = std::get_if<RunTask>(&d.message)) {
            handled.back() += " " + run->task_id;
          }
        });
  }
  // Bounded: an unexpected message that cycled would not end the loop.
  for (int i = 0; i < 10 && processor.process_one(); ++i) {
  }
  EXPECT_EQ(handled, std::vector<std::string>{"RunTask " + s.tasks[0].id});
  EXPECT_EQ(processor.stats().handled, 1u);
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(queue().dlq_size(), 0u);
}

// Bad options: InvalidArgumentError, nothing queued.
TEST_F(RecoveryTest, BadOptionsChangeNothing) {
  store().store(running_with("w", {stage("w", "a", WorkflowStatus::kRunning)}));
  const testutil::TableDump before = testutil::dump_all(*db_);
  RecoveryOptions negative;
  negative.max_age = std::chrono::milliseconds{-1};
  EXPECT_THROW(recover_pending(store(), queue(), negative),
               InvalidArgumentError);
  RecoveryOptions bad_app;
  bad_app.application = std::string("\xff\xfe", 2);
  EXPECT_THROW(recover_pending(store(), queue(), bad_app),
               InvalidArgumentError);
  EXPECT_EQ(testutil::dump_all(*db_), before);
}

}  // namespace
}  // namespace wfstore
