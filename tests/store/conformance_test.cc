// The conformance suite: the reference's checklist (docs/semantics.md §10), its
// subtlest semantics (docs/semantics.md §12) and our decisions on its quirks
// (Q1-Q10 of docs/semantics.md §9), each ported onto the real Database and
// WorkflowStore in a fresh store directory.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/model.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::ThrowsMessage;
using ::testing::UnorderedElementsAre;

// 2024-06-01 12:00:00 UTC in epoch milliseconds.
constexpr std::int64_t kNow = 1'717'243'200'000;
constexpr std::int64_t kHourMs = 3'600'000;

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now) : now_(now) {}
  std::int64_t now_ms() override { return now_.load(); }
  void advance(std::int64_t ms) { now_ += ms; }
  void set(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

// A ULID-shaped id (26 Crockford base32 characters), unique in the process.
std::string ulid() {
  static std::atomic<std::uint64_t> counter{0};
  constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::uint64_t n = ++counter * 7919;
  std::string random(16, '0');
  for (std::size_t i = random.size(); i-- > 0;) {
    random[i] = kAlphabet[n % 32];
    n /= 32;
  }
  return "01J0C7Q5KT" + random;
}

TaskExecution make_task(std::string name) {
  TaskExecution task;
  task.id = ulid();
  task.name = std::move(name);
  task.implementing_class = "stabilize.tasks.Shell";
  return task;
}

StageExecution make_stage(const std::string& workflow_id, std::string ref_id,
                          std::set<std::string> requisites = {}) {
  StageExecution stage;
  stage.id = ulid();
  stage.execution_id = workflow_id;
  stage.ref_id = std::move(ref_id);
  stage.type = "test";
  stage.name = "Stage " + stage.ref_id;
  stage.requisite_stage_ref_ids = std::move(requisites);
  return stage;
}

// The reference tests' workflow: one stage "1" with context {"key": "value"}.
Workflow make_workflow(const std::string& id,
                       const std::string& application = "test-app") {
  Workflow workflow;
  workflow.id = id;
  workflow.application = application;
  workflow.name = "Test Workflow";
  StageExecution stage = make_stage(id, "1");
  stage.name = "Test Stage";
  stage.context = json{{"key", "value"}};
  workflow.stages.push_back(std::move(stage));
  return workflow;
}

// A workflow of `application` with a make_stage() for each {ref id,
// requisite ref ids} of `stages`, in order.
Workflow graph_workflow(
    const std::string& id, const std::string& application,
    const std::vector<std::pair<std::string, std::set<std::string>>>& stages =
        {}) {
  Workflow workflow;
  workflow.id = id;
  workflow.application = application;
  for (const auto& [ref, requisites] : stages) {
    workflow.stages.push_back(make_stage(id, ref, requisites));
  }
  return workflow;
}

// `workflow` as the store returns it: tasks are stored at version 0.
Workflow as_stored(Workflow workflow) {
  for (StageExecution& stage : workflow.stages) {
    for (TaskExecution& task : stage.tasks) task.version = 0;
  }
  return workflow;
}

std::vector<std::string> ids_of(const WorkflowRange& range) {
  std::vector<std::string> ids;
  for (const Workflow& workflow : range) ids.push_back(workflow.id);
  return ids;
}

std::vector<std::string> stage_ids(const std::vector<StageExecution>& stages) {
  std::vector<std::string> ids;
  for (const StageExecution& stage : stages) ids.push_back(stage.id);
  return ids;
}

const StageExecution& stage_by_ref(const Workflow& workflow,
                                   std::string_view ref_id) {
  const StageExecution* stage = workflow.find_stage_by_ref(ref_id);
  if (stage == nullptr) {
    throw std::runtime_error(fmt::format("no stage with ref {}", ref_id));
  }
  return *stage;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

class ConformanceTest : public ::testing::Test {
 protected:
  // Opens the store on first use with durability_.
  WorkflowStore& store() {
    if (!db_) open();
    return db_->workflow_store();
  }
  Database& db() {
    if (!db_) open();
    return *db_;
  }
  // Closes the Database and opens the directory again, so every later read
  // comes from what is on disk.
  void reopen() {
    if (db_) db_->close();
    db_.reset();
    open();
  }
  // The LSN of the last event folded into the views: unchanged means nothing
  // was appended.
  std::uint64_t lsn() { return db().stats().applied_lsn; }
  // A stored make_workflow() whose stage "1" has a make_task() named after
  // each of `task_names`, in order.
  Workflow store_workflow_with_tasks(
      std::initializer_list<std::string> task_names) {
    Workflow workflow = make_workflow(ulid());
    for (const std::string& name : task_names) {
      workflow.stages[0].tasks.push_back(make_task(name));
    }
    store().store(workflow);
    return workflow;
  }
  // Expects store_stage(stage, phase) to fail its optimistic lock, naming the
  // stage's `version` and the phase.
  void expect_phase_lock_failure(StageExecution& stage,
                                 const std::string& phase,
                                 std::int64_t version) {
    EXPECT_THAT([&] { store().store_stage(stage, phase); },
                ThrowsMessage<ConcurrencyError>(HasSubstr(fmt::format(
                    "Optimistic lock failed for stage {} (version {}, "
                    "expected_phase {})",
                    stage.id, version, phase))));
  }
  // Two stored workflows of make_workflow().
  std::pair<Workflow, Workflow> store_two_workflows() {
    std::pair<Workflow, Workflow> stored{make_workflow(ulid()),
                                         make_workflow(ulid())};
    store().store(stored.first);
    store().store(stored.second);
    return stored;
  }
  std::vector<std::string> warnings() {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return warnings_;
  }

  Durability durability_ = Durability::kBuffered;
  testutil::TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);

 private:
  void open() {
    DatabaseOptions options;
    options.durability = durability_;
    options.clock = clock_;
    options.logger = [this](LogLevel level, std::string_view message) {
      if (level < LogLevel::kWarning) return;
      std::lock_guard<std::mutex> lock(log_mutex_);
      warnings_.emplace_back(message);
    };
    db_ = Database::open(dir_.path(), options);
  }

  std::mutex log_mutex_;
  std::vector<std::string> warnings_;
  std::unique_ptr<Database> db_;
};

// ---------------------------------------------------------------------------
// docs/semantics.md §10.1: CRUD and round-trips.

TEST_F(ConformanceTest, Item1IsHealthyOnWorkingStore) {
  EXPECT_TRUE(store().is_healthy());
  store().store(make_workflow(ulid()));
  EXPECT_TRUE(store().is_healthy());
  reopen();
  EXPECT_TRUE(store().is_healthy());
}

TEST_F(ConformanceTest, Item2StoreThenRetrieveReturnsTheWorkflow) {
  durability_ = Durability::kSync;
  const Workflow workflow = make_workflow(ulid());
  const std::uint64_t syncs_before = db().stats().fdatasyncs;
  store().store(workflow);
  EXPECT_GT(db().stats().fdatasyncs, syncs_before);
  for (int pass = 0; pass < 2; ++pass) {
    const Workflow got = store().retrieve(workflow.id);
    EXPECT_EQ(got.id, workflow.id);
    EXPECT_EQ(got.application, "test-app");
    EXPECT_EQ(got.name, "Test Workflow");
    EXPECT_EQ(got.status, WorkflowStatus::kNotStarted);
    ASSERT_THAT(got.stages, SizeIs(1));
    EXPECT_EQ(got.stages[0].ref_id, "1");
    EXPECT_EQ(got.stages[0].context.value(), (json{{"key", "value"}}));
    EXPECT_EQ(got, workflow);
    reopen();
  }
}

TEST_F(ConformanceTest, Item3StageTasksRoundTrip) {
  Workflow workflow = make_workflow(ulid());
  TaskExecution task = make_task("task1");
  task.stage_start = true;
  task.stage_end = true;
  workflow.stages[0].tasks.push_back(task);
  store().store(workflow);
  reopen();
  const Workflow got = store().retrieve(workflow.id);
  ASSERT_THAT(got.stages, SizeIs(1));
  ASSERT_THAT(got.stages[0].tasks, SizeIs(1));
  EXPECT_EQ(got.stages[0].tasks[0].id, task.id);
  EXPECT_EQ(got.stages[0].tasks[0].name, "task1");
  EXPECT_TRUE(got.stages[0].tasks[0].stage_start);
  EXPECT_TRUE(got.stages[0].tasks[0].stage_end);
  EXPECT_EQ(got.stages[0].tasks[0], task);
}

TEST_F(ConformanceTest, Item4UpdateStatusIsVisibleThroughRetrieve) {
  Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  workflow.status = WorkflowStatus::kRunning;
  workflow.start_time = 1234567890;
  store().update_status(workflow);
  const Workflow got = store().retrieve(workflow.id);
  EXPECT_EQ(got.status, WorkflowStatus::kRunning);
  EXPECT_EQ(got.start_time, 1234567890);
}

TEST_F(ConformanceTest, Item5StoreStagePersistsStatusAndOutputs) {
  durability_ = Durability::kSync;
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  StageExecution stage = store().retrieve(workflow.id).stages[0];
  stage.status = WorkflowStatus::kRunning;
  stage.outputs = json{{"output", "value"}};
  store().store_stage(stage);
  const Workflow got = store().retrieve(workflow.id);
  EXPECT_EQ(got.stages[0].status, WorkflowStatus::kRunning);
  EXPECT_EQ(got.stages[0].outputs.value(), (json{{"output", "value"}}));
}

TEST_F(ConformanceTest, Item6CancelStoresBothFieldsVerbatim) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  store().cancel(workflow.id, "user@test.com", "Testing cancellation");
  const Workflow got = store().retrieve(workflow.id);
  EXPECT_TRUE(got.is_canceled);
  EXPECT_EQ(got.canceled_by, "user@test.com");
  EXPECT_EQ(got.cancellation_reason, "Testing cancellation");
}

TEST_F(ConformanceTest, Item7PauseThenResume) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  store().pause(workflow.id, "admin@test.com");
  Workflow got = store().retrieve(workflow.id);
  EXPECT_EQ(got.status, WorkflowStatus::kPaused);
  ASSERT_TRUE(got.paused.has_value());
  EXPECT_EQ(got.paused->paused_by, "admin@test.com");
  store().resume(workflow.id);
  got = store().retrieve(workflow.id);
  EXPECT_EQ(got.status, WorkflowStatus::kRunning);
}

TEST_F(ConformanceTest, Item8RetrieveByApplicationReturnsOnlyThatApplication) {
  const std::string a1 = ulid();
  const std::string a2 = ulid();
  const std::string b1 = ulid();
  store().store(make_workflow(a1, "app-a"));
  store().store(make_workflow(b1, "app-b"));
  store().store(make_workflow(a2, "app-a"));
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_THAT(ids_of(store().retrieve_by_application("app-a")),
                UnorderedElementsAre(a1, a2));
    EXPECT_THAT(ids_of(store().retrieve_by_application("app-b")),
                ElementsAre(b1));
    EXPECT_THAT(ids_of(store().retrieve_by_application("app-c")), IsEmpty());
    reopen();
  }
}

TEST_F(ConformanceTest, Item9RequisiteStageRefIdsRoundTripAsSets) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "test-app",
                                     {{"a", {}},
                                      {"b", {"a"}},
                                      {"c", {"a"}},
                                      {"d", {"b", "c"}},
                                      {"1", {}},
                                      {"2", {}}});
  const std::vector<std::string> as_list = {"2", "1", "2"};
  workflow.stages.push_back(make_stage(
      id, "e", std::set<std::string>(as_list.begin(), as_list.end())));
  store().store(workflow);
  reopen();
  const Workflow got = store().retrieve(id);
  using Refs = std::set<std::string>;
  EXPECT_EQ(stage_by_ref(got, "a").requisite_stage_ref_ids, Refs{});
  EXPECT_EQ(stage_by_ref(got, "b").requisite_stage_ref_ids, Refs{"a"});
  EXPECT_EQ(stage_by_ref(got, "d").requisite_stage_ref_ids, (Refs{"b", "c"}));
  EXPECT_EQ(stage_by_ref(got, "e").requisite_stage_ref_ids, (Refs{"1", "2"}));
}

TEST_F(ConformanceTest, Item10JsonContextRoundTripsEveryType) {
  const json context = {
      {"string", "value"},
      {"int", 42},
      {"float", 3.14},
      {"bool", true},
      {"null", nullptr},
      {"array", json::array({1, 2, 3})},
      {"nested", {{"level1", {{"level2", {{"level3", "deep"}}}}}}}};
  Workflow workflow = make_workflow(ulid());
  workflow.context = context;
  workflow.stages[0].context = context;
  store().store(workflow);
  reopen();
  const Workflow got = store().retrieve(workflow.id);
  for (const json& value :
       {got.context.value(), got.stages[0].context.value()}) {
    EXPECT_EQ(value, context);
    EXPECT_TRUE(value.at("int").is_number_integer());
    EXPECT_EQ(value.at("int").get<std::int64_t>(), 42);
    EXPECT_TRUE(value.at("float").is_number_float());
    EXPECT_DOUBLE_EQ(value.at("float").get<double>(), 3.14);
    EXPECT_TRUE(value.at("bool").is_boolean());
    EXPECT_TRUE(value.at("null").is_null());
    EXPECT_EQ(value.at("/nested/level1/level2/level3"_json_pointer), "deep");
  }
}

TEST_F(ConformanceTest, Item11OutputsWithNestedDictsAndListsRoundTrip) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  const json outputs = {
      {"result", {{"status", "ok"}, {"metrics", {{"p99_ms", 12.5}}}}},
      {"items",
       json::array({json{{"name", "a"}, {"size", 1}},
                    json{{"name", "b"}, {"tags", json::array({"x", "y"})}}})}};
  StageInExecution in = store().retrieve_stage(workflow.stages[0].id);
  in.stage().outputs = outputs;
  store().store_stage(in.stage());
  EXPECT_EQ(
      store().retrieve_stage(workflow.stages[0].id).stage().outputs.value(),
      outputs);
}

TEST_F(ConformanceTest, Item12UpdateStatusAcceptsAnyStatusSequence) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  const std::vector<WorkflowStatus> sequence = {
      WorkflowStatus::kRunning, WorkflowStatus::kPaused,
      WorkflowStatus::kRunning, WorkflowStatus::kSucceeded};
  for (WorkflowStatus status : sequence) {
    Workflow current = store().retrieve(workflow.id);
    current.status = status;
    store().update_status(current);
    EXPECT_EQ(store().retrieve(workflow.id).status, status);
  }
}

TEST_F(ConformanceTest, Item13PausedDetailsAfterPauseAndResume) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  store().pause(workflow.id, "admin@test.com");
  Workflow got = store().retrieve(workflow.id);
  ASSERT_TRUE(got.paused.has_value());
  ASSERT_TRUE(got.paused->pause_time.has_value());
  EXPECT_GT(*got.paused->pause_time, 0);
  clock_->advance(1);
  store().resume(workflow.id);
  reopen();
  got = store().retrieve(workflow.id);
  ASSERT_TRUE(got.paused.has_value());
  ASSERT_TRUE(got.paused->resume_time.has_value());
  EXPECT_GT(*got.paused->resume_time, 0);
  EXPECT_GE(got.paused->paused_ms, 0);
}

TEST_F(ConformanceTest, Item14EmptyStageContextReadsBackAsEmptyObject) {
  Workflow workflow = make_workflow(ulid());
  workflow.stages[0].context = json::object();
  store().store(workflow);
  const json context =
      store().retrieve_stage(workflow.stages[0].id).stage().context.value();
  EXPECT_TRUE(context.is_object());
  EXPECT_TRUE(context.empty());
}

TEST_F(ConformanceTest, Item15TaskExceptionDetailsRoundTripAfterStoreStage) {
  const Workflow workflow = store_workflow_with_tasks({"deploy"});
  const json details = {
      {"exception",
       {{"type", "RuntimeError"},
        {"details", {{"code", 500}, {"retryable", nullptr}}},
        {"traceback",
         "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
         "RuntimeError: boom"}}},
      {"attempt", nullptr}};
  StageInExecution in = store().retrieve_stage(workflow.stages[0].id);
  in.stage().tasks[0].status = WorkflowStatus::kTerminal;
  in.stage().tasks[0].task_exception_details = details;
  store().store_stage(in.stage());
  reopen();
  const StageInExecution got = store().retrieve_stage(workflow.stages[0].id);
  ASSERT_THAT(got.stage().tasks, SizeIs(1));
  EXPECT_EQ(got.stage().tasks[0].status, WorkflowStatus::kTerminal);
  EXPECT_EQ(got.stage().tasks[0].task_exception_details.value(), details);
}

TEST_F(ConformanceTest, Item17DeleteRemovesAnExistingWorkflow) {
  const Workflow workflow = store_workflow_with_tasks({"t"});
  EXPECT_NO_THROW(store().delete_workflow(workflow.id));
  EXPECT_FALSE(store().exists(workflow.id));
  reopen();
  EXPECT_FALSE(store().exists(workflow.id));
  EXPECT_THAT([&] { store().retrieve(workflow.id); },
              ThrowsMessage<WorkflowNotFoundError>(
                  HasSubstr("Execution not found: " + workflow.id)));
  EXPECT_THROW(store().retrieve_stage(workflow.stages[0].id),
               StageNotFoundError);
  EXPECT_EQ(store().count_by_application("test-app"), 0U);
  EXPECT_THAT(ids_of(store().retrieve_by_application("test-app")), IsEmpty());
  EXPECT_THAT(store().get_downstream_stages(workflow.id, "1").stages,
              IsEmpty());

  Workflow successor = make_workflow(ulid(), "other-app");
  successor.stages[0].id = workflow.stages[0].id;
  successor.stages[0].execution_id = successor.id;
  store().store(successor);
  EXPECT_EQ(store().retrieve_stage(successor.stages[0].id).execution.id,
            successor.id);
  EXPECT_THROW(store().store(workflow), DuplicateError);
  store().delete_workflow(successor.id);
  store().store(workflow);
  EXPECT_THROW(store().store(workflow), DuplicateError);
  EXPECT_EQ(store().retrieve(workflow.id), workflow);
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.2: versions, optimistic locking, expected_phase.

TEST_F(ConformanceTest, Item18StageVersionStartsAtZeroAndIncrements) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  StageExecution stage = store().retrieve_stage(workflow.stages[0].id).stage();
  EXPECT_EQ(stage.version, 0);
  for (std::int64_t expected = 1; expected <= 2; ++expected) {
    stage.context.mutable_value()["round"] = expected;
    store().store_stage(stage);
    EXPECT_EQ(stage.version, expected);
    EXPECT_EQ(store().retrieve_stage(stage.id).stage().version, expected);
  }
}

TEST_F(ConformanceTest, Item19StaleCopyRaisesConcurrencyError) {
  durability_ = Durability::kSync;
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  const std::string& stage_id = workflow.stages[0].id;
  StageExecution a = store().retrieve_stage(stage_id).stage();
  StageExecution b = store().retrieve_stage(stage_id).stage();
  a.context = json{{"writer", "A"}};
  b.context = json{{"writer", "B"}};
  store().store_stage(a);
  const StageExecution b_before = b;
  EXPECT_THAT(
      [&] { store().store_stage(b); },
      ThrowsMessage<ConcurrencyError>(HasSubstr(fmt::format(
          "Optimistic lock failed for stage {} (version 0)", stage_id))));
  EXPECT_EQ(b, b_before);
  const StageExecution stored = store().retrieve_stage(stage_id).stage();
  EXPECT_EQ(stored.context.value(), (json{{"writer", "A"}}));
  EXPECT_EQ(stored.version, 1);
}

TEST_F(ConformanceTest, Item19ConcurrentCopiesExactlyOneWins) {
  constexpr int kThreads = 6;
  constexpr int kRounds = 15;
  const Workflow workflow = store_workflow_with_tasks({"contended"});
  const std::string& stage_id = workflow.stages[0].id;
  for (int round = 0; round < kRounds; ++round) {
    const StageExecution base = store().retrieve_stage(stage_id).stage();
    std::atomic<int> ready{0};
    std::atomic<int> wins{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        StageExecution copy = base;
        copy.context = json{{"writer", t}, {"round", round}};
        copy.tasks[0].status = WorkflowStatus::kRunning;
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();
        try {
          store().store_stage(copy);
          ++wins;
        } catch (const ConcurrencyError&) {
          ++conflicts;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    ASSERT_EQ(wins.load(), 1) << "round " << round;
    ASSERT_EQ(conflicts.load(), kThreads - 1) << "round " << round;
    const StageExecution stored = store().retrieve_stage(stage_id).stage();
    EXPECT_EQ(stored.version, base.version + 1);
    EXPECT_EQ(stored.tasks[0].version, base.tasks[0].version + 1);
    EXPECT_EQ(stored.context.value().at("round"), round);
  }
}

TEST_F(ConformanceTest, Item20LosingWritersTaskChangesAreNotPersisted) {
  durability_ = Durability::kSync;
  const Workflow workflow = store_workflow_with_tasks({"first", "second"});
  const std::string& stage_id = workflow.stages[0].id;
  StageExecution a = store().retrieve_stage(stage_id).stage();
  StageExecution b = store().retrieve_stage(stage_id).stage();
  a.tasks[0].status = WorkflowStatus::kSucceeded;
  b.tasks[1].status = WorkflowStatus::kSucceeded;
  store().store_stage(a);
  EXPECT_THAT(
      [&] { store().store_stage(b); },
      ThrowsMessage<ConcurrencyError>(HasSubstr("Optimistic lock failed")));
  reopen();
  const StageExecution stored = store().retrieve_stage(stage_id).stage();
  ASSERT_THAT(stored.tasks, SizeIs(2));
  EXPECT_EQ(stored.tasks[0].status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(stored.tasks[1].status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(stored.version, 1);
}

TEST_F(ConformanceTest, Item23RepeatedIdempotentCompletionChangesStateOnce) {
  Workflow workflow = make_workflow(ulid());
  workflow.stages[0].status = WorkflowStatus::kRunning;
  workflow.stages[0].tasks.push_back(make_task("wait"));
  store().store(workflow);
  const std::string& stage_id = workflow.stages[0].id;
  const std::uint64_t before = lsn();
  int writes = 0;
  for (int delivery = 0; delivery < 5; ++delivery) {
    StageInExecution in = store().retrieve_stage(stage_id);
    TaskExecution& task = in.stage().tasks[0];
    if (!is_complete(task.status)) {
      task.status = WorkflowStatus::kSucceeded;
      task.end_time = kNow;
      store().store_stage(in.stage());
      ++writes;
    }
  }
  EXPECT_EQ(writes, 1);
  EXPECT_EQ(lsn(), before + 1);
  const StageExecution stored = store().retrieve_stage(stage_id).stage();
  EXPECT_EQ(stored.version, 1);
  EXPECT_EQ(stored.tasks[0].version, 1);
  EXPECT_EQ(stored.tasks[0].status, WorkflowStatus::kSucceeded);
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.6: criteria and recovery queries.

Workflow workflow_with(const std::string& id, WorkflowStatus status,
                       std::optional<std::int64_t> start_time,
                       const std::string& application = "test-app") {
  Workflow workflow = make_workflow(id, application);
  workflow.status = status;
  workflow.start_time = start_time;
  workflow.pipeline_config_id = "config-" + application;
  return workflow;
}

TEST_F(ConformanceTest, Item43PendingWorkflowsIncludeRunningAndNotStarted) {
  const std::string running = ulid();
  const std::string never_started = ulid();
  const std::string succeeded = ulid();
  store().store(workflow_with(running, WorkflowStatus::kRunning, kNow));
  store().store(
      workflow_with(never_started, WorkflowStatus::kNotStarted, std::nullopt));
  store().store(workflow_with(succeeded, WorkflowStatus::kSucceeded, kNow));
  WorkflowCriteria criteria;
  criteria.statuses = {WorkflowStatus::kRunning, WorkflowStatus::kNotStarted};
  criteria.page_size = 100;
  std::vector<Workflow> found;
  for (const Workflow& workflow : store().get_all_pending_workflows(criteria)) {
    found.push_back(workflow);
  }
  std::vector<std::string> ids;
  for (const Workflow& workflow : found) ids.push_back(workflow.id);
  EXPECT_THAT(ids, ElementsAre(running, never_started));
  for (const Workflow& workflow : found) {
    ASSERT_THAT(workflow.stages, SizeIs(1));
    EXPECT_EQ(workflow.stages[0].ref_id, "1");
  }
}

TEST_F(ConformanceTest, Item44PendingWorkflowsHonourStartTimeAfterCutoff) {
  const std::string old_run = ulid();
  const std::string fresh_run = ulid();
  store().store(
      workflow_with(old_run, WorkflowStatus::kRunning, kNow - 100 * kHourMs));
  store().store(workflow_with(fresh_run, WorkflowStatus::kRunning, kNow));
  WorkflowCriteria criteria;
  criteria.statuses = {WorkflowStatus::kRunning, WorkflowStatus::kNotStarted};
  criteria.page_size = 100;
  criteria.start_time_after = kNow - kHourMs;
  EXPECT_THAT(ids_of(store().get_all_pending_workflows(criteria)),
              ElementsAre(fresh_run));
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.9: data flow through get_merged_ancestor_outputs.

// Completes `ref_id` the way the engine does: retrieve_stage, set outputs and
// SUCCEEDED, store_stage with the phase it read.
void complete_stage(WorkflowStore& store, const Workflow& workflow,
                    std::string_view ref_id, const json& outputs) {
  StageInExecution in = store.retrieve_stage(stage_by_ref(workflow, ref_id).id);
  const std::string phase(status_name(in.stage().status));
  in.stage().status = WorkflowStatus::kSucceeded;
  in.stage().outputs = outputs;
  store.store_stage(in.stage(), phase);
}

TEST_F(ConformanceTest, Item66ChainLaterAncestorReplacesEarlierValue) {
  const std::string id = ulid();
  Workflow workflow =
      graph_workflow(id, "data-flow", {{"A", {}}, {"B", {"A"}}, {"C", {"B"}}});
  store().store(workflow);

  const json a_result = {{"producer", "A"}, {"a_only", 1}};
  complete_stage(store(), workflow, "A", json{{"result", a_result}});
  const json seen_by_b = store().get_merged_ancestor_outputs(id, "B");
  EXPECT_EQ(seen_by_b, (json{{"result", a_result}}));
  const json b_result = {{"producer", "B"},
                         {"copied_from_a", seen_by_b.at("result")}};
  complete_stage(store(), workflow, "B", json{{"result", b_result}});

  const json seen_by_c = store().get_merged_ancestor_outputs(id, "C");
  EXPECT_EQ(seen_by_c, (json{{"result", b_result}}));
  EXPECT_FALSE(seen_by_c.at("result").contains("a_only"));
  EXPECT_EQ(seen_by_c.at("/result/copied_from_a/a_only"_json_pointer), 1);
}

// The ancestors' outputs are read from the stage_order entries
// (docs/read-models.md): each update that changes a stage's outputs must
// reach them, one that does not must leave them, a synthetic stage's (its
// parent interned) included, and a reopen must read the same.
TEST_F(ConformanceTest, AncestorOutputsFollowEveryUpdateOfTheirStages) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "data-flow", {{"A", {}}});
  StageExecution synthetic = make_stage(id, "S");
  synthetic.parent_stage_id = ulid();
  synthetic.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  workflow.stages.push_back(synthetic);
  workflow.stages.push_back(make_stage(id, "C", {"A", "S"}));
  store().store(workflow);
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), json::object());

  complete_stage(store(), workflow, "A", json{{"a", 1}, {"list", {1}}});
  complete_stage(store(), workflow, "S", json{{"s", 1}, {"list", {2}}});
  const json both = {{"a", 1}, {"s", 1}, {"list", {1, 2}}};
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), both);

  // An update that leaves the outputs as they are.
  StageInExecution a = store().retrieve_stage(stage_by_ref(workflow, "A").id);
  a.stage().status = WorkflowStatus::kRunning;
  store().store_stage(a.stage(), "SUCCEEDED");
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), both);

  // Outputs replaced, then emptied.
  StageInExecution s = store().retrieve_stage(stage_by_ref(workflow, "S").id);
  s.stage().outputs = json{{"s", 2}};
  store().store_stage(s.stage(), "SUCCEEDED");
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"),
            (json{{"a", 1}, {"s", 2}, {"list", {1}}}));
  a = store().retrieve_stage(stage_by_ref(workflow, "A").id);
  a.stage().outputs = json::object();
  store().store_stage(a.stage(), "RUNNING");
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), (json{{"s", 2}}));
  reopen();
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), (json{{"s", 2}}));
  EXPECT_EQ(
      store().retrieve_stage(stage_by_ref(workflow, "S").id).stage().outputs,
      Json(json{{"s", 2}}));

  // Outputs larger than the reader copies while it scans the graph: read
  // again for an ancestor, skipped for a stage that is none.
  const std::string large(3000, 'x');
  s = store().retrieve_stage(stage_by_ref(workflow, "S").id);
  s.stage().outputs = json{{"s", large}};
  store().store_stage(s.stage(), "SUCCEEDED");
  StageInExecution c = store().retrieve_stage(stage_by_ref(workflow, "C").id);
  c.stage().outputs = json{{"c", large}};
  store().store_stage(c.stage(), "NOT_STARTED");
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "C"), (json{{"s", large}}));
}

TEST_F(ConformanceTest, Item68FanInWinnerIsConsistentAcrossWorkflows) {
  constexpr int kWorkflows = 12;
  const std::vector<std::string> branches = {"branch_1", "branch_2",
                                             "branch_3"};
  std::vector<Workflow> workflows;
  for (int i = 0; i < kWorkflows; ++i) {
    const std::string id = ulid();
    Workflow workflow = graph_workflow(id, "fan-in", {{"start", {}}});
    for (const std::string& branch : branches) {
      workflow.stages.push_back(make_stage(id, branch, {"start"}));
    }
    workflow.stages.push_back(make_stage(
        id, "join", std::set<std::string>(branches.begin(), branches.end())));
    store().store(workflow);
    complete_stage(store(), workflow, "start", json{{"value", "start"}});
    for (std::size_t k = 0; k < branches.size(); ++k) {
      const std::string& branch =
          branches[(k + static_cast<std::size_t>(i)) % branches.size()];
      complete_stage(store(), workflow, branch, json{{"value", branch}});
    }
    workflows.push_back(std::move(workflow));
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const Workflow& workflow : workflows) {
      const json merged =
          store().get_merged_ancestor_outputs(workflow.id, "join");
      EXPECT_EQ(merged, (json{{"value", "branch_3"}})) << workflow.id;
    }
    reopen();
  }
}

// ---------------------------------------------------------------------------
// docs/semantics.md §12: the subtlest semantics.

TEST_F(ConformanceTest, Spec12Item1VersionAndExpectedPhaseMustBothMatch) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  const std::string& stage_id = workflow.stages[0].id;

  StageExecution wrong_phase = store().retrieve_stage(stage_id).stage();
  wrong_phase.status = WorkflowStatus::kSucceeded;
  const StageExecution wrong_phase_before = wrong_phase;
  const std::uint64_t before = lsn();
  expect_phase_lock_failure(wrong_phase, "RUNNING", 0);
  EXPECT_EQ(wrong_phase, wrong_phase_before);
  EXPECT_EQ(lsn(), before);
  EXPECT_EQ(store().retrieve_stage(stage_id).stage().status,
            WorkflowStatus::kNotStarted);

  StageExecution claim = store().retrieve_stage(stage_id).stage();
  claim.status = WorkflowStatus::kRunning;
  store().store_stage(claim, "NOT_STARTED");
  EXPECT_EQ(claim.version, 1);

  StageExecution finish = store().retrieve_stage(stage_id).stage();
  finish.status = WorkflowStatus::kSucceeded;
  store().store_stage(finish, "RUNNING");
  EXPECT_EQ(finish.version, 2);

  claim.status = WorkflowStatus::kTerminal;
  const std::uint64_t before_stale = lsn();
  expect_phase_lock_failure(claim, "SUCCEEDED", 1);
  EXPECT_EQ(lsn(), before_stale);
  const StageExecution stored = store().retrieve_stage(stage_id).stage();
  EXPECT_EQ(stored.status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(stored.version, 2);
}

TEST_F(ConformanceTest, Spec12Item1SuccessBumpsTheStageAndEveryListedTask) {
  Workflow workflow = make_workflow(ulid());
  for (const char* name : {"one", "two", "three"}) {
    workflow.stages[0].tasks.push_back(make_task(name));
  }
  store().store(workflow);
  StageExecution stage = store().retrieve_stage(workflow.stages[0].id).stage();
  for (int round = 1; round <= 2; ++round) {
    stage.context = json{{"round", round}};
    store().store_stage(stage);
    EXPECT_EQ(stage.version, round);
    const StageExecution stored = store().retrieve_stage(stage.id).stage();
    EXPECT_EQ(stored.version, round);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(stage.tasks[i].version, round);
      EXPECT_EQ(stored.tasks[i].version, round);
    }
  }
}

TEST_F(ConformanceTest, Spec12Item1InsertPathIgnoresVersionAndExpectedPhase) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  StageExecution added = make_stage(workflow.id, "2", {"1"});
  added.version = 5;
  added.tasks.push_back(make_task("t"));
  added.tasks[0].version = 3;
  store().store_stage(added, "SUCCEEDED");
  EXPECT_EQ(added.version, 5);
  EXPECT_EQ(added.tasks[0].version, 0);
  reopen();
  const StageExecution stored = store().retrieve_stage(added.id).stage();
  EXPECT_EQ(stored.status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(stored.version, 5);
  EXPECT_EQ(stored.tasks[0].version, 0);
  EXPECT_EQ(stored.requisite_stage_ref_ids, std::set<std::string>{"1"});

  StageExecution orphan = make_stage(ulid(), "x");
  EXPECT_THROW(store().store_stage(orphan), WorkflowNotFoundError);
  StageExecution same_ref = make_stage(workflow.id, "1");
  EXPECT_THROW(store().add_stage(same_ref), DuplicateError);

  StageExecution again = store().retrieve_stage(added.id).stage();
  again.status = WorkflowStatus::kRunning;
  store().add_stage(again);
  EXPECT_EQ(again.version, 6);
  EXPECT_EQ(store().retrieve_stage(added.id).stage().status,
            WorkflowStatus::kRunning);
  EXPECT_THAT(stage_ids(store().retrieve(workflow.id).stages),
              ElementsAre(workflow.stages[0].id, added.id));
}

TEST_F(ConformanceTest, Spec12Item2OnlyTheMutableSurfaceChanges) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "surface", {{"build", {}}});
  StageExecution deploy = make_stage(id, "deploy", {"build"});
  deploy.type = "deploy";
  deploy.name = "Deploy";
  deploy.mutex_key = "prod";
  deploy.start_time_expiry = kNow + kHourMs;
  deploy.tasks.push_back(make_task("first"));
  deploy.tasks.push_back(make_task("second"));
  workflow.stages.push_back(deploy);
  store().store(workflow);

  StageExecution update = store().retrieve_stage(deploy.id).stage();
  update.ref_id = "renamed";
  update.type = "other";
  update.name = "Other";
  update.requisite_stage_ref_ids.clear();
  update.parent_stage_id = workflow.stages[0].id;
  update.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  update.join_type = JoinType::kOr;
  update.split_type = SplitType::kOr;
  update.mutex_key = "staging";
  update.cancel_region = "region";
  update.start_time_expiry = std::nullopt;
  update.scheduled_time = kNow;
  update.status = WorkflowStatus::kRunning;
  update.context = json{{"c", 1}};
  update.outputs = json{{"o", 2}};
  update.start_time = kNow;
  update.end_time = kNow + 5;
  TaskExecution second = update.tasks[1];
  second.status = WorkflowStatus::kRunning;
  TaskExecution third = make_task("third");
  update.tasks = {second, third};
  store().store_stage(update);
  EXPECT_EQ(update.version, 1);
  EXPECT_EQ(update.tasks[0].version, 1);
  EXPECT_EQ(update.tasks[1].version, 0);

  reopen();
  const StageExecution stored = store().retrieve_stage(deploy.id).stage();
  EXPECT_EQ(stored.ref_id, "deploy");
  EXPECT_EQ(stored.type, "deploy");
  EXPECT_EQ(stored.name, "Deploy");
  EXPECT_EQ(stored.requisite_stage_ref_ids, std::set<std::string>{"build"});
  EXPECT_EQ(stored.parent_stage_id, std::nullopt);
  EXPECT_EQ(stored.synthetic_stage_owner, std::nullopt);
  EXPECT_EQ(stored.join_type, JoinType::kAnd);
  EXPECT_EQ(stored.split_type, SplitType::kAnd);
  EXPECT_EQ(stored.mutex_key, "prod");
  EXPECT_EQ(stored.cancel_region, std::nullopt);
  EXPECT_EQ(stored.start_time_expiry, kNow + kHourMs);
  EXPECT_EQ(stored.scheduled_time, std::nullopt);
  EXPECT_EQ(stored.status, WorkflowStatus::kRunning);
  EXPECT_EQ(stored.context.value(), (json{{"c", 1}}));
  EXPECT_EQ(stored.outputs.value(), (json{{"o", 2}}));
  EXPECT_EQ(stored.start_time, kNow);
  EXPECT_EQ(stored.end_time, kNow + 5);
  ASSERT_THAT(stored.tasks, SizeIs(3));
  EXPECT_EQ(stored.tasks[0], deploy.tasks[0]);
  EXPECT_EQ(stored.tasks[1].id, second.id);
  EXPECT_EQ(stored.tasks[1].status, WorkflowStatus::kRunning);
  EXPECT_EQ(stored.tasks[1].version, 1);
  EXPECT_EQ(stored.tasks[2].id, third.id);
  EXPECT_EQ(stored.tasks[2].version, 0);
  EXPECT_EQ(store().get_upstream_stages(id, "deploy").stages.size(), 1U);
}

TEST_F(ConformanceTest, Spec12Item2TaskVersionConflictIsConcurrencyError) {
  const Workflow workflow = store_workflow_with_tasks({"build"});
  StageExecution stage = store().retrieve_stage(workflow.stages[0].id).stage();
  const TaskExecution stale_task = stage.tasks[0];
  store().store_stage(stage);
  stage.tasks[0] = stale_task;
  stage.tasks[0].status = WorkflowStatus::kSucceeded;
  EXPECT_THAT([&] { store().store_stage(stage); },
              ThrowsMessage<ConcurrencyError>(HasSubstr(fmt::format(
                  "Task {} was modified concurrently (expected version 0)",
                  stale_task.id))));
}

TEST_F(ConformanceTest, Spec12Item6MergeWalksRequisitesOnly) {
  const std::string id = ulid();
  const Workflow diamond = testutil::diamond_workflow(id);
  store().store(diamond);
  const json expected = {
      {"artifact_version", "1.4.2"},
      {"artifacts",
       json::array({"manifest.json", "linux.tar.gz", "macos.tar.gz"})},
      {"binary", "payments-macos.tar.gz"},
      {"winner", "build_mac"}};
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "deploy"), expected);
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "deploy_notify"),
            (json{{"winner", "deploy_verify"}}));
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "build_linux"),
            stage_by_ref(diamond, "setup").outputs.value());
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "setup"), json::object());
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "missing"), json::object());
  EXPECT_EQ(store().get_merged_ancestor_outputs(ulid(), "deploy"),
            json::object());
}

TEST_F(ConformanceTest, Spec12Item6MergeRulesForDictsListsAndScalars) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "merge");
  StageExecution a = make_stage(id, "a");
  a.outputs = json{{"dict", {{"x", 1}, {"y", 2}}},
                   {"list", json::array({1, 1, 2})},
                   {"list_then_scalar", json::array({1})},
                   {"scalar_then_list", 5},
                   {"objects", json::array({json{{"k", 1}}})}};
  StageExecution b = make_stage(id, "b", {"a"});
  b.outputs = json{{"dict", {{"z", 3}}},
                   {"list", json::array({2, 3, 1, 4})},
                   {"list_then_scalar", "scalar"},
                   {"scalar_then_list", json::array({7})},
                   {"objects", json::array({json{{"k", 1}}, json{{"k", 2}}})}};
  StageExecution c = make_stage(id, "c", {"b"});
  c.outputs = json{{"own", "excluded"}};
  workflow.stages = {a, b, c};
  store().store(workflow);
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "c"),
            (json{{"dict", {{"z", 3}}},
                  {"list", json::array({1, 1, 2, 3, 4})},
                  {"list_then_scalar", "scalar"},
                  {"scalar_then_list", json::array({7})},
                  {"objects", json::array({json{{"k", 1}}, json{{"k", 2}}})}}));
}

TEST_F(ConformanceTest, Spec12Item6CyclesAreSilentlyOmitted) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "cycle");
  StageExecution w = make_stage(id, "w");
  w.outputs = json{{"w", 1}};
  StageExecution x = make_stage(id, "x", {"y", "w"});
  x.outputs = json{{"x", 1}};
  StageExecution y = make_stage(id, "y", {"x"});
  y.outputs = json{{"y", 1}};
  StageExecution z = make_stage(id, "z", {"x"});
  workflow.stages = {w, x, y, z};
  store().store(workflow);
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "z"), (json{{"w", 1}}));
}

TEST_F(ConformanceTest, Spec12Item7PartialParentHoldsOnlyDirectNeighbours) {
  const std::string id = ulid();
  const Workflow diamond = as_stored(testutil::diamond_workflow(id));
  store().store(diamond);
  const auto sid = [&](std::string_view ref) {
    return stage_by_ref(diamond, ref).id;
  };
  Workflow summary = store().retrieve_execution_summary(id);
  EXPECT_THAT(summary.stages, IsEmpty());

  const StageInExecution deploy = store().retrieve_stage(sid("deploy"));
  EXPECT_EQ(deploy.stage(), stage_by_ref(diamond, "deploy"));
  EXPECT_THAT(stage_ids(deploy.execution.stages),
              UnorderedElementsAre(sid("deploy"), sid("build_linux"),
                                   sid("build_mac"), sid("deploy_precheck"),
                                   sid("deploy_verify"), sid("deploy_notify")));
  for (const StageExecution& stage : deploy.execution.stages) {
    EXPECT_EQ(stage, *diamond.find_stage(stage.id)) << stage.ref_id;
  }
  Workflow metadata = deploy.execution;
  metadata.stages.clear();
  EXPECT_EQ(metadata, summary);

  EXPECT_THAT(
      stage_ids(store().retrieve_stage(sid("build_linux")).execution.stages),
      UnorderedElementsAre(sid("build_linux"), sid("setup")));
  EXPECT_THAT(
      stage_ids(store().retrieve_stage(sid("deploy_notify")).execution.stages),
      UnorderedElementsAre(sid("deploy_notify"), sid("deploy_verify")));
  const StageInExecution verify = store().retrieve_stage(sid("deploy_verify"));
  EXPECT_THAT(stage_ids(verify.execution.stages),
              ElementsAre(sid("deploy_verify")));
  EXPECT_EQ(verify.index, 0U);

  const std::string missing = ulid();
  EXPECT_THAT([&] { store().retrieve_stage(missing); },
              ThrowsMessage<StageNotFoundError>(
                  HasSubstr(fmt::format("Stage {} not found", missing))));
}

TEST_F(ConformanceTest, Spec12Item8GraphQueriesAreDirectAndKeyedById) {
  const std::string id = ulid();
  const Workflow diamond = as_stored(testutil::diamond_workflow(id));
  store().store(diamond);
  const auto stage = [&](std::string_view ref) {
    return stage_by_ref(diamond, ref);
  };

  const StageSet upstream = store().get_upstream_stages(id, "deploy");
  EXPECT_THAT(upstream.stages,
              ElementsAre(stage("build_linux"), stage("build_mac")));
  ASSERT_NE(upstream.execution, nullptr);
  EXPECT_EQ(upstream.execution->id, id);
  ASSERT_THAT(upstream.execution->stages, SizeIs(diamond.stages.size()));
  for (std::size_t i = 0; i < diamond.stages.size(); ++i) {
    EXPECT_EQ(upstream.execution->stages[i].id, diamond.stages[i].id);
    EXPECT_THAT(upstream.execution->stages[i].tasks, IsEmpty());
  }

  EXPECT_THAT(store().get_downstream_stages(id, "setup").stages,
              ElementsAre(stage("build_linux"), stage("build_mac")));
  EXPECT_THAT(store().get_downstream_stages(id, "build_mac").stages,
              ElementsAre(stage("deploy")));
  EXPECT_THAT(store().get_downstream_stages(id, "deploy").stages, IsEmpty());
  EXPECT_THAT(store().get_upstream_stages(id, "setup").stages, IsEmpty());

  EXPECT_THAT(store().get_synthetic_stages(id, stage("deploy").id).stages,
              ElementsAre(stage("deploy_precheck"), stage("deploy_verify"),
                          stage("deploy_notify")));
  EXPECT_THAT(store().get_synthetic_stages(id, "deploy").stages, IsEmpty());

  const std::string missing = ulid();
  EXPECT_THAT(store().get_upstream_stages(missing, "deploy").stages, IsEmpty());
  EXPECT_THAT(store().get_downstream_stages(missing, "setup").stages,
              IsEmpty());
  EXPECT_THAT(store().get_synthetic_stages(missing, stage("deploy").id).stages,
              IsEmpty());
  EXPECT_THAT(store().get_upstream_stages(id, "missing").stages, IsEmpty());
}

TEST_F(ConformanceTest, Spec12Item9UpdateStatusWritesExactlySevenFields) {
  const Workflow original = testutil::diamond_workflow(ulid());
  store().store(original);
  Workflow changed = original;
  changed.status = WorkflowStatus::kSucceeded;
  changed.start_time = kNow - 10;
  changed.end_time = kNow;
  changed.is_canceled = true;
  changed.canceled_by = "ops";
  changed.cancellation_reason = "rollback";
  changed.paused = PausedDetails{"ops", kNow - 5, kNow - 2, 3};
  changed.name = "renamed";
  changed.application = "other-app";
  changed.context = json{{"rewritten", true}};
  changed.trigger.user = "mallory";
  changed.pipeline_config_id = "other-config";
  changed.origin = "cli";
  changed.max_concurrent_executions = 9;
  changed.stages.clear();
  store().update_status(changed);
  reopen();

  Workflow expected = as_stored(original);
  expected.status = changed.status;
  expected.start_time = changed.start_time;
  expected.end_time = changed.end_time;
  expected.is_canceled = true;
  expected.canceled_by = changed.canceled_by;
  expected.cancellation_reason = changed.cancellation_reason;
  expected.paused = changed.paused;
  EXPECT_EQ(store().retrieve(original.id), expected);
  EXPECT_EQ(store().count_by_application("payments"), 1U);
  EXPECT_EQ(store().count_by_application("other-app"), 0U);

  Workflow cleared = expected;
  cleared.status = WorkflowStatus::kNotStarted;
  cleared.start_time = std::nullopt;
  cleared.end_time = std::nullopt;
  cleared.is_canceled = false;
  cleared.canceled_by = std::nullopt;
  cleared.cancellation_reason = std::nullopt;
  cleared.paused = std::nullopt;
  store().update_status(cleared);
  EXPECT_EQ(store().retrieve(original.id), cleared);
}

TEST_F(ConformanceTest, Spec12Item9PauseResumeAndCancelTouchTheirFieldsOnly) {
  Workflow workflow = make_workflow(ulid());
  workflow.status = WorkflowStatus::kSucceeded;
  workflow.end_time = kNow - 1;
  store().store(workflow);

  store().pause(workflow.id, "admin");
  Workflow got = store().retrieve(workflow.id);
  EXPECT_EQ(got.status, WorkflowStatus::kPaused);
  EXPECT_EQ(got.end_time, kNow - 1);
  EXPECT_FALSE(got.is_canceled);

  store().cancel(workflow.id, "user", "stop it");
  got = store().retrieve(workflow.id);
  EXPECT_EQ(got.status, WorkflowStatus::kPaused);
  EXPECT_TRUE(got.is_canceled);
  EXPECT_EQ(got.end_time, kNow - 1);

  store().resume(workflow.id);
  EXPECT_EQ(store().retrieve(workflow.id).status, WorkflowStatus::kRunning);

  const std::uint64_t before = lsn();
  const std::size_t warnings_before = warnings().size();
  store().resume(workflow.id);
  EXPECT_EQ(lsn(), before);
  EXPECT_EQ(store().retrieve(workflow.id), [&] {
    Workflow expected = got;
    expected.status = WorkflowStatus::kRunning;
    expected.paused->resume_time = kNow;
    return expected;
  }());
  const std::vector<std::string> logged = warnings();
  ASSERT_GT(logged.size(), warnings_before);
  EXPECT_THAT(lowercase(logged.back()), HasSubstr("resume"));
}

TEST_F(ConformanceTest, Spec12Item9MissingIdsAreSilentNoOps) {
  store().store(make_workflow(ulid()));
  const std::uint64_t before = lsn();
  const Workflow ghost = make_workflow(ulid());
  EXPECT_NO_THROW(store().update_status(ghost));
  EXPECT_NO_THROW(store().pause(ghost.id, "admin"));
  EXPECT_NO_THROW(store().resume(ghost.id));
  EXPECT_NO_THROW(store().cancel(ghost.id, "user", "reason"));
  EXPECT_NO_THROW(store().delete_workflow(ghost.id));
  EXPECT_NO_THROW(store().remove_stage(ghost.id, ghost.stages[0].id));
  EXPECT_EQ(lsn(), before);
  EXPECT_FALSE(store().exists(ghost.id));
  EXPECT_THAT([&] { store().retrieve(ghost.id); },
              ThrowsMessage<WorkflowNotFoundError>(
                  HasSubstr("Execution not found: " + ghost.id)));
  EXPECT_THAT([&] { store().retrieve_execution_summary(ghost.id); },
              ThrowsMessage<WorkflowNotFoundError>(
                  HasSubstr("Execution not found: " + ghost.id)));
}

TEST_F(ConformanceTest, Spec12Item10PausedDetailsArithmetic) {
  const Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  const std::int64_t first_pause = clock_->now_ms();
  store().pause(workflow.id, "alice");
  EXPECT_EQ(store().retrieve(workflow.id).paused,
            (PausedDetails{"alice", first_pause, std::nullopt, 0}));
  clock_->advance(2'500);
  store().resume(workflow.id);
  reopen();
  EXPECT_EQ(store().retrieve(workflow.id).paused,
            (PausedDetails{"alice", first_pause, first_pause + 2'500, 2'500}));

  clock_->advance(10'000);
  const std::int64_t second_pause = clock_->now_ms();
  store().pause(workflow.id, "bob");
  EXPECT_EQ(store().retrieve(workflow.id).paused,
            (PausedDetails{"bob", second_pause, std::nullopt, 0}));
  clock_->advance(700);
  store().resume(workflow.id);
  EXPECT_EQ(store().retrieve(workflow.id).paused,
            (PausedDetails{"bob", second_pause, second_pause + 700, 700}));
}

TEST_F(ConformanceTest, Spec12Item11EveryStatusPersistsAndResetsAreAccepted) {
  Workflow workflow = make_workflow(ulid());
  store().store(workflow);
  StageExecution stage = store().retrieve_stage(workflow.stages[0].id).stage();
  std::vector<WorkflowStatus> statuses;
  for (int i = 0; i < kWorkflowStatusCount; ++i) {
    statuses.push_back(*status_from_int(i));
  }
  statuses.push_back(WorkflowStatus::kNotStarted);
  for (WorkflowStatus status : statuses) {
    workflow.status = status;
    store().update_status(workflow);
    const std::string phase(status_name(stage.status));
    stage.status = status;
    store().store_stage(stage, phase);
    EXPECT_EQ(store().retrieve(workflow.id).status, status);
    EXPECT_EQ(store().retrieve_stage(stage.id).stage().status, status);
  }

  const StageExecution before_stage = stage;
  const std::uint64_t before = lsn();
  for (const char* bad : {"running", "DONE", ""}) {
    stage.status = WorkflowStatus::kRunning;
    EXPECT_THAT(
        [&] { store().store_stage(stage, std::string(bad)); },
        ThrowsMessage<InvalidArgumentError>(HasSubstr("expected_phase")))
        << bad;
    stage.status = before_stage.status;
    EXPECT_EQ(stage, before_stage);
  }
  EXPECT_EQ(lsn(), before);
  EXPECT_EQ(store().retrieve_stage(stage.id).stage(), before_stage);
}

TEST_F(ConformanceTest, Spec12Item13CriteriaFilterLimitAndOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    const std::string id = ulid();
    ids.push_back(id);
    store().store(workflow_with(
        id, i % 2 == 0 ? WorkflowStatus::kRunning : WorkflowStatus::kSucceeded,
        kNow + i));
  }
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_THAT(ids_of(store().retrieve_by_application("test-app")),
              ElementsAreArray(newest_first));
  EXPECT_THAT(ids_of(store().retrieve_by_pipeline_config_id("config-test-app")),
              ElementsAreArray(newest_first));

  const std::vector<std::string> first_page(newest_first.begin(),
                                            newest_first.begin() + 20);
  EXPECT_THAT(
      ids_of(store().retrieve_by_application("test-app", WorkflowCriteria{})),
      ElementsAreArray(first_page));
  WorkflowCriteria unlimited;
  unlimited.page_size = 0;
  EXPECT_THAT(ids_of(store().retrieve_by_application("test-app", unlimited)),
              SizeIs(25));
  WorkflowCriteria running;
  running.statuses = {WorkflowStatus::kRunning};
  running.page_size = 3;
  EXPECT_THAT(ids_of(store().retrieve_by_pipeline_config_id("config-test-app",
                                                            running)),
              ElementsAre(ids[24], ids[22], ids[20]));

  WorkflowCriteria negative;
  negative.page_size = -1;
  EXPECT_THAT([&] { store().retrieve_by_application("test-app", negative); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("page_size")));

  const WorkflowRange range = store().retrieve_by_application("test-app");
  store().delete_workflow(ids[24]);
  EXPECT_THAT(range.ids(), ElementsAreArray(newest_first));
  std::vector<std::string> loaded;
  for (const Workflow& workflow : range) {
    loaded.push_back(workflow.id);
    ASSERT_THAT(workflow.stages, SizeIs(1));
    EXPECT_EQ(workflow.stages[0].context.value(), (json{{"key", "value"}}));
  }
  EXPECT_THAT(loaded,
              ElementsAreArray(newest_first.begin() + 1, newest_first.end()));
}

TEST_F(ConformanceTest, Spec12Item13RecoveryQueryKeepsNeverStartedWorkflows) {
  const std::string at_cutoff = ulid();
  const std::string before_cutoff = ulid();
  const std::string never_started = ulid();
  const std::string newest = ulid();
  const std::int64_t cutoff = kNow - kHourMs;
  store().store(
      workflow_with(never_started, WorkflowStatus::kRunning, std::nullopt));
  store().store(workflow_with(at_cutoff, WorkflowStatus::kRunning, cutoff));
  store().store(
      workflow_with(before_cutoff, WorkflowStatus::kRunning, cutoff - 1));
  store().store(workflow_with(newest, WorkflowStatus::kNotStarted, kNow));
  WorkflowCriteria criteria;
  criteria.start_time_after = cutoff;
  criteria.page_size = 0;
  EXPECT_THAT(ids_of(store().get_all_pending_workflows(criteria)),
              ElementsAre(newest, at_cutoff, never_started));
  criteria.page_size = 2;
  EXPECT_THAT(ids_of(store().get_all_pending_workflows(criteria)),
              ElementsAre(newest, at_cutoff));
  criteria.page_size = 0;
  criteria.start_time_before = cutoff;
  EXPECT_THAT(ids_of(store().get_all_pending_workflows(criteria)),
              ElementsAre(newest, at_cutoff, never_started));
}

TEST_F(ConformanceTest, Spec12Item15SerializationFidelity) {
  durability_ = Durability::kSync;
  const Workflow full = testutil::full_workflow(ulid());
  store().store(full);

  Workflow defaults;
  defaults.id = ulid();
  store().store(defaults);

  Workflow reducers = make_workflow(ulid());
  reducers.stages[0].set_output_reducers({{"artifacts", "concat"}});
  store().store(reducers);

  const std::string message_id = ulid();
  store().mark_message_processed(message_id, "StartStage", reducers.id);
  store().delete_workflow(reducers.id);

  reopen();
  EXPECT_EQ(store().retrieve(full.id), as_stored(full));
  const Workflow got_defaults = store().retrieve(defaults.id);
  EXPECT_EQ(got_defaults, defaults);
  EXPECT_EQ(got_defaults.name, "");
  EXPECT_EQ(got_defaults.origin, "unknown");
  EXPECT_EQ(got_defaults.max_concurrent_executions, 0);
  EXPECT_EQ(got_defaults.context.value(), json::object());
  EXPECT_EQ(got_defaults.trigger, Trigger{});
  EXPECT_FALSE(store().exists(reducers.id));
  EXPECT_TRUE(store().is_message_processed(message_id));

  store().store(reducers);
  const StageExecution stage =
      store().retrieve_stage(reducers.stages[0].id).stage();
  EXPECT_EQ(stage.output_reducers(),
            (std::map<std::string, std::string>{{"artifacts", "concat"}}));
  EXPECT_EQ(stage.context.value().at("_output_reducers"),
            (json{{"artifacts", "concat"}}));
}

// ---------------------------------------------------------------------------
// get_processed_message_ids.

TEST_F(ConformanceTest, GetProcessedMessageIdsInProcessingOrderWithLimit) {
  EXPECT_THAT(store().get_processed_message_ids(), IsEmpty());
  EXPECT_THAT(store().get_processed_message_ids(3), IsEmpty());
  const std::vector<std::string> order = {"42", "7", "1003", "quote'\"id",
                                          "118"};
  for (const std::string& id : order) {
    store().mark_message_processed(id, "CompleteTask", ulid());
    clock_->advance(10);
  }
  const std::uint64_t before = lsn();
  store().mark_message_processed("7", "Other");
  EXPECT_EQ(lsn(), before);

  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_THAT(store().get_processed_message_ids(), ElementsAreArray(order));
    EXPECT_THAT(store().get_processed_message_ids(std::nullopt),
                ElementsAreArray(order));
    EXPECT_THAT(store().get_processed_message_ids(2), ElementsAre("42", "7"));
    EXPECT_THAT(store().get_processed_message_ids(100),
                ElementsAreArray(order));
    reopen();
  }

  const std::vector<std::string> same_millisecond = {"zz-1", "aa-2", "mm-3"};
  for (const std::string& id : same_millisecond) {
    store().mark_message_processed(id);
  }
  std::vector<std::string> all = order;
  all.insert(all.end(), same_millisecond.begin(), same_millisecond.end());
  EXPECT_THAT(store().get_processed_message_ids(), ElementsAreArray(all));
}

// ---------------------------------------------------------------------------
// The decisions on the reference's quirks (docs/semantics.md §9).

TEST_F(ConformanceTest, Q1TimeBoundsAreExclusiveAndExcludeNull) {
  const std::string t1000 = ulid();
  const std::string t2000 = ulid();
  const std::string t3000 = ulid();
  const std::string never = ulid();
  store().store(workflow_with(t1000, WorkflowStatus::kRunning, 1000));
  store().store(workflow_with(t2000, WorkflowStatus::kRunning, 2000));
  store().store(workflow_with(t3000, WorkflowStatus::kRunning, 3000));
  store().store(workflow_with(never, WorkflowStatus::kRunning, std::nullopt));

  WorkflowCriteria both;
  both.start_time_after = 1000;
  both.start_time_before = 3000;
  WorkflowCriteria after;
  after.start_time_after = 1000;
  WorkflowCriteria before;
  before.start_time_before = 3000;
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_THAT(ids_of(store().retrieve_by_application("test-app", both)),
                ElementsAre(t2000));
    EXPECT_THAT(
        ids_of(store().retrieve_by_pipeline_config_id("config-test-app", both)),
        ElementsAre(t2000));
    EXPECT_THAT(ids_of(store().retrieve_by_application("test-app", after)),
                ElementsAre(t3000, t2000));
    EXPECT_THAT(ids_of(store().retrieve_by_pipeline_config_id("config-test-app",
                                                              before)),
                ElementsAre(t2000, t1000));
    EXPECT_THAT(
        ids_of(store().retrieve_by_application("test-app", WorkflowCriteria{})),
        ElementsAre(t3000, t2000, t1000, never));
    reopen();
  }
}

TEST_F(ConformanceTest, Q2NullStartTimesSortLastThenById) {
  std::vector<std::string> nulls = {ulid(), ulid(), ulid()};
  const std::string early = ulid();
  const std::string late = ulid();
  const std::string tie_a = ulid();
  const std::string tie_b = ulid();
  store().store(
      workflow_with(nulls[2], WorkflowStatus::kRunning, std::nullopt));
  store().store(workflow_with(early, WorkflowStatus::kRunning, kNow - 5));
  store().store(
      workflow_with(nulls[0], WorkflowStatus::kRunning, std::nullopt));
  store().store(workflow_with(tie_b, WorkflowStatus::kRunning, kNow - 1));
  store().store(workflow_with(late, WorkflowStatus::kRunning, kNow));
  store().store(workflow_with(tie_a, WorkflowStatus::kRunning, kNow - 1));
  store().store(
      workflow_with(nulls[1], WorkflowStatus::kRunning, std::nullopt));
  const std::vector<std::string> expected = {late,     tie_a,    tie_b,   early,
                                             nulls[0], nulls[1], nulls[2]};
  EXPECT_THAT(ids_of(store().retrieve_by_application("test-app")),
              ElementsAreArray(expected));
  EXPECT_THAT(ids_of(store().retrieve_by_pipeline_config_id("config-test-app")),
              ElementsAreArray(expected));
  WorkflowCriteria all;
  all.page_size = 0;
  EXPECT_THAT(ids_of(store().get_all_pending_workflows(all)),
              ElementsAreArray(expected));
}

TEST_F(ConformanceTest, Q3StoreStageIsAllOrNothingOnTaskConflict) {
  durability_ = Durability::kSync;
  const Workflow workflow = store_workflow_with_tasks({"fresh", "contended"});
  const std::string& stage_id = workflow.stages[0].id;

  StageExecution rival = store().retrieve_stage(stage_id).stage();
  StageExecution mine = rival;
  store().store_stage(rival);
  mine.version = rival.version;
  mine.tasks[0].version = rival.tasks[0].version;
  mine.status = WorkflowStatus::kSucceeded;
  mine.outputs = json{{"lost", true}};
  mine.tasks[0].status = WorkflowStatus::kSucceeded;
  mine.tasks[1].status = WorkflowStatus::kSucceeded;
  mine.tasks.push_back(make_task("new"));
  const StageExecution mine_before = mine;
  const StageExecution stored_before = store().retrieve_stage(stage_id).stage();
  const std::uint64_t before = lsn();

  EXPECT_THAT([&] { store().store_stage(mine); },
              ThrowsMessage<ConcurrencyError>(HasSubstr(fmt::format(
                  "Task {} was modified concurrently", mine.tasks[1].id))));
  EXPECT_EQ(mine, mine_before);
  EXPECT_EQ(lsn(), before);
  reopen();
  const StageExecution stored = store().retrieve_stage(stage_id).stage();
  EXPECT_EQ(stored, stored_before);
  EXPECT_EQ(stored.version, 1);
  EXPECT_EQ(stored.status, WorkflowStatus::kNotStarted);
  ASSERT_THAT(stored.tasks, SizeIs(2));
  EXPECT_EQ(stored.tasks[0].status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(stored.tasks[0].version, 1);
}

TEST_F(ConformanceTest, Q4CleanupComparesExactTimes) {
  durability_ = Durability::kSync;
  const std::int64_t t0 = 1'717'201'800'000;  // 2024-06-01 00:30:00 UTC
  clock_->set(t0);
  store().mark_message_processed("old");
  clock_->set(t0 + kHourMs);
  store().mark_message_processed("at-cutoff");
  clock_->set(t0 + kHourMs + 1);
  store().mark_message_processed("just-after");
  clock_->set(t0 + 20 * kHourMs);
  store().mark_message_processed("recent");

  clock_->set(t0 + 25 * kHourMs);
  EXPECT_EQ(store().cleanup_old_processed_messages(std::chrono::hours(24)), 1U);
  const std::uint64_t before = lsn();
  EXPECT_EQ(store().cleanup_old_processed_messages(std::chrono::hours(24)), 0U);
  EXPECT_EQ(lsn(), before);
  reopen();
  EXPECT_FALSE(store().is_message_processed("old"));
  EXPECT_TRUE(store().is_message_processed("at-cutoff"));
  EXPECT_TRUE(store().is_message_processed("just-after"));
  EXPECT_TRUE(store().is_message_processed("recent"));
  EXPECT_THAT(store().get_processed_message_ids(),
              ElementsAre("at-cutoff", "just-after", "recent"));

  clock_->set(t0 + 25 * kHourMs + 1);
  EXPECT_EQ(store().cleanup_old_processed_messages(std::chrono::hours(24)), 1U);
  EXPECT_FALSE(store().is_message_processed("at-cutoff"));
  EXPECT_EQ(store().cleanup_old_processed_messages(std::chrono::hours(0)), 2U);
  EXPECT_THAT(store().get_processed_message_ids(), IsEmpty());
}

TEST_F(ConformanceTest, Q10TieBetweenParallelAncestorsLaterInsertedWins) {
  const std::string id = ulid();
  Workflow workflow = graph_workflow(id, "ties",
                                     {{"join", {"zeta", "alpha"}},
                                      {"zeta", {"root"}},
                                      {"alpha", {"root"}},
                                      {"root", {}}});
  store().store(workflow);
  complete_stage(store(), workflow, "root",
                 json{{"winner", "root"}, {"list", json::array({"root"})}});
  complete_stage(store(), workflow, "alpha",
                 json{{"winner", "alpha"}, {"list", json::array({"alpha"})}});
  complete_stage(store(), workflow, "zeta",
                 json{{"winner", "zeta"}, {"list", json::array({"zeta"})}});
  const json expected = {{"winner", "alpha"},
                         {"list", json::array({"root", "zeta", "alpha"})}};
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "join"), expected);
  reopen();
  EXPECT_EQ(store().get_merged_ancestor_outputs(id, "join"), expected);
}

// ---------------------------------------------------------------------------
// A stage never moves between workflows: a call that names another workflow
// than the stage's is an InvalidArgumentError, with nothing appended.

TEST_F(ConformanceTest,
       StoreStageOfAStoredStageWithAnotherWorkflowsIdIsRejected) {
  const auto [a, b] = store_two_workflows();
  StageExecution stage = store().retrieve(a.id).stages[0];
  stage.execution_id = b.id;
  stage.status = WorkflowStatus::kRunning;
  const std::uint64_t before = lsn();
  EXPECT_THAT([&] { store().store_stage(stage); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(fmt::format(
                  "stage.execution_id: '{}' does not match workflow '{}'", b.id,
                  a.id))));
  EXPECT_THAT(
      [&] { store().add_stage(stage); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("stage.execution_id")));
  EXPECT_EQ(stage.version, 0);
  EXPECT_EQ(lsn(), before);
  EXPECT_EQ(store().retrieve(a.id), as_stored(a));
  EXPECT_EQ(store().retrieve(b.id), as_stored(b));
}

TEST_F(ConformanceTest,
       StoreStageOfAStoredStageWithAMissingWorkflowsIdIsRejected) {
  const Workflow a = make_workflow(ulid());
  store().store(a);
  StageExecution stage = store().retrieve(a.id).stages[0];
  const std::string missing = ulid();
  stage.execution_id = missing;
  const std::uint64_t before = lsn();
  EXPECT_THAT([&] { store().store_stage(stage, "NOT_STARTED"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(fmt::format(
                  "stage.execution_id: '{}' does not match workflow '{}'",
                  missing, a.id))));
  EXPECT_EQ(lsn(), before);
  EXPECT_EQ(store().retrieve(a.id), as_stored(a));
}

TEST_F(ConformanceTest, TransactionStoreStageWithAnotherWorkflowsIdIsRejected) {
  const auto [a, b] = store_two_workflows();
  StageExecution stage = store().retrieve(a.id).stages[0];
  stage.execution_id = b.id;
  const std::uint64_t before = lsn();
  {
    Transaction txn = store().transaction();
    EXPECT_THAT(
        [&] { txn.store_stage(stage); },
        ThrowsMessage<InvalidArgumentError>(HasSubstr("stage.execution_id")));
    EXPECT_EQ(stage.version, 0);
    txn.mark_message_processed("after-the-rejected-operation");
    txn.commit();
  }
  EXPECT_EQ(lsn(), before + 1);
  EXPECT_EQ(store().retrieve(a.id), as_stored(a));
}

TEST_F(ConformanceTest, RemoveStageIgnoresTheWorkflowIdAsTheReferenceDoes) {
  // docs/semantics.md §5.8: the execution argument is ignored; the stage is
  // removed from its own workflow.
  const auto [a, b] = store_two_workflows();
  const std::uint64_t before = lsn();
  EXPECT_NO_THROW(store().remove_stage(b.id, ulid()));
  EXPECT_EQ(lsn(), before);
  store().remove_stage(b.id, a.stages[0].id);
  EXPECT_EQ(lsn(), before + 1);
  EXPECT_THAT(store().retrieve(a.id).stages, IsEmpty());
  EXPECT_EQ(store().retrieve(b.id), as_stored(b));
}

TEST_F(ConformanceTest, ParentStageIdNamingAStageOfAnotherWorkflowIsRejected) {
  const auto [a, b] = store_two_workflows();
  const std::uint64_t before = lsn();
  StageExecution child = make_stage(b.id, "child");
  child.parent_stage_id = a.stages[0].id;
  child.synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
  EXPECT_THAT([&] { store().add_stage(child); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(fmt::format(
                  "stage.parent_stage_id: stage '{}' belongs to workflow "
                  "'{}', not '{}'",
                  a.stages[0].id, a.id, b.id))));
  Workflow c = make_workflow(ulid());
  StageExecution orphan = make_stage(c.id, "orphan");
  orphan.parent_stage_id = a.stages[0].id;
  orphan.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  c.stages.push_back(orphan);
  EXPECT_THAT([&] { store().store(c); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("stages[1].parent_stage_id: stage")));
  EXPECT_EQ(lsn(), before);
  EXPECT_FALSE(store().exists(c.id));
  // A parent of the same workflow, and a parent not stored (the reference's
  // plain column), are accepted.
  child.parent_stage_id = b.stages[0].id;
  EXPECT_NO_THROW(store().add_stage(child));
  StageExecution dangling = make_stage(b.id, "dangling");
  dangling.parent_stage_id = ulid();
  dangling.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  EXPECT_NO_THROW(store().add_stage(dangling));
}

}  // namespace
}  // namespace wfstore
