// Transactions (docs/write-path.md#transactions, docs/semantics.md §6): the
// reference's transaction checklist (docs/semantics.md §10.3, §10.4, items 16,
// 21, 22, 27, 28, 39), the subtle semantics of docs/semantics.md §12 items 3, 4
// and 12, and bad input, on the real Database in a fresh store directory. Queue
// effects are read through the projector's queue queries.

#include "wfstore/transaction.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/model.h"
#include "wfstore/workflow_store.h"

#include "store/commit_pipeline.h"
#include "store/database_impl.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using testutil::run_task;
using testutil::start_stage;
using testutil::start_workflow;

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// 2024-06-01 12:00:00 UTC in epoch milliseconds.
constexpr std::int64_t kNow = 1'717'243'200'000;

TaskExecution make_task(const std::string& id) {
  TaskExecution task;
  task.id = id;
  task.name = "task " + id;
  task.implementing_class = "stabilize.tasks.Shell";
  return task;
}

// A stage "<wf>.<ref>" with one task "<wf>.<ref>.t0" (none when `with_task`
// is false).
StageExecution make_stage(const std::string& workflow_id,
                          const std::string& ref_id, bool with_task = true) {
  StageExecution stage =
      testutil::make_stage(workflow_id, ref_id, "test", "Stage " + ref_id,
                           WorkflowStatus::kNotStarted);
  if (with_task) stage.tasks.push_back(make_task(stage.id + ".t0"));
  return stage;
}

// A workflow with NOT_STARTED stages `refs`, each with one task.
Workflow make_workflow(const std::string& id,
                       const std::vector<std::string>& refs) {
  Workflow workflow;
  workflow.id = id;
  workflow.application = "test-app";
  workflow.name = "Test Workflow";
  for (const std::string& ref : refs) {
    workflow.stages.push_back(make_stage(id, ref));
  }
  return workflow;
}

// Every view table in order, and the log's size: equal before and after means
// nothing was appended or changed.
struct StoreState {
  testutil::TableDump tables;
  std::uint64_t log_size = 0;
  std::uint64_t applied_lsn = 0;
};

// A queued delivery's type and payload.
struct Queued {
  std::uint64_t delivery_id = 0;
  std::string message_type;
  json payload;
};

class TransactionTest : public ::testing::Test {
 protected:
  TransactionTest() { open(); }

  void TearDown() override {
    ASSERT_TRUE(db_);
    db_->close();
    db_.reset();
    // Whatever the test committed, the views equal a rebuild from the log.
    const ViewsVerifyReport report = verify_store_views(dir_.path());
    EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
  }

  WorkflowStore& store() { return db_->workflow_store(); }
  Database& db() { return *db_; }

  StageExecution fetch(const std::string& stage_id) {
    return store().retrieve_stage(stage_id).stage();
  }

  StoreState state() {
    return StoreState{testutil::dump_all(db()),
                      testutil::log_bytes(dir_.path()),
                      db().stats().applied_lsn};
  }
  void expect_unchanged(const StoreState& before) {
    const StoreState after = state();
    EXPECT_EQ(after.applied_lsn, before.applied_lsn);
    EXPECT_EQ(after.log_size, before.log_size);
    EXPECT_TRUE(after.tables == before.tables) << "a view table changed";
  }

  // txn.commit() throws ConcurrencyError naming `what` and changes nothing.
  void expect_commit_conflicts(Transaction& txn, const std::string& what) {
    const StoreState before = state();
    EXPECT_THAT([&] { txn.commit(); },
                ThrowsMessage<ConcurrencyError>(HasSubstr(what)));
    expect_unchanged(before);
  }

  std::uint64_t queue_size() {
    const LmdbViews::Snapshot snapshot =
        database_impl(db()).views().begin_read();
    return wfstore::queue_size(snapshot);
  }
  bool pending_for_task(const std::string& task_id) {
    const LmdbViews::Snapshot snapshot =
        database_impl(db()).views().begin_read();
    return has_pending_message_for_task(snapshot, task_id);
  }
  // Every queued delivery, in delivery order.
  std::vector<Queued> queued() {
    std::vector<Queued> out;
    const LmdbViews::Snapshot snapshot =
        database_impl(db()).views().begin_read();
    for (const auto& [key, value] :
         database_impl(db()).views().dump(Table::kQueueMessages)) {
      const std::uint64_t id = keys::decode_u64(key);
      const std::optional<QueuedMessage> message =
          find_queued_message(snapshot, id);
      if (!message) continue;
      out.push_back(Queued{id, message->message_type,
                           json::from_cbor(message->payload_cbor)});
    }
    return out;
  }

  testutil::TempDir dir_;
  std::shared_ptr<testutil::FakeClock> clock_ =
      std::make_shared<testutil::FakeClock>(kNow);

 private:
  void open() {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    options.clock = clock_;
    db_ = Database::open(dir_.path(), options);
  }

  std::unique_ptr<Database> db_;
};

// ---------------------------------------------------------------------------
// docs/semantics.md §10.2: expected_phase inside transactions.

// A transaction whose views nothing changed since its operations, committed
// at their timestamp, is not decided again: the writer takes the operations'
// decisions and their fold's writes (and the views still equal a rebuild:
// TearDown). A commit in between, or a tick of the clock, makes the writer
// decide again, and a decision that differs still throws ConcurrencyError.
TEST_F(TransactionTest, CommitTakesTheEagerDecisionsWhenNothingChanged) {
  CommitPipeline& pipeline = *database_impl(db()).pipeline();
  std::atomic<int> decided{0};
  pipeline.set_decide_hook_for_testing([&](const Command&) { ++decided; });
  store().store(testutil::diamond_workflow("wp"));
  const std::uint64_t taken = pipeline.prepared_taken_for_testing();
  StageExecution stage = fetch("wp.deploy_verify");
  ASSERT_EQ(stage.status, WorkflowStatus::kNotStarted);

  int before = decided.load();
  stage.status = WorkflowStatus::kRunning;
  {
    Transaction txn = store().transaction();
    txn.store_stage(stage, "NOT_STARTED");
    txn.mark_message_processed("prepared-1", "H", "wp");
    txn.commit();
  }
  EXPECT_EQ(decided.load(), before);
  EXPECT_EQ(pipeline.prepared_taken_for_testing(), taken + 1);
  EXPECT_EQ(fetch(stage.id).status, WorkflowStatus::kRunning);
  EXPECT_EQ(fetch(stage.id).version, 1);
  EXPECT_TRUE(store().is_message_processed("prepared-1"));

  // A rival commit after the operations: decided again, and it still holds.
  stage.status = WorkflowStatus::kSucceeded;
  {
    Transaction txn = store().transaction();
    txn.store_stage(stage, "RUNNING");
    store().mark_message_processed("rival");
    before = decided.load();
    txn.commit();
  }
  EXPECT_EQ(decided.load(), before + 1);
  EXPECT_EQ(pipeline.prepared_taken_for_testing(), taken + 1);
  EXPECT_EQ(fetch(stage.id).version, 2);

  // The clock moved between the operations and the commit: decided again.
  {
    Transaction txn = store().transaction();
    txn.mark_message_processed("prepared-2", "H", "wp");
    clock_->advance(1);
    before = decided.load();
    txn.commit();
  }
  EXPECT_EQ(decided.load(), before + 1);
  EXPECT_EQ(pipeline.prepared_taken_for_testing(), taken + 1);

  // A rival that changes what the transaction decided: ConcurrencyError.
  stage.status = WorkflowStatus::kTerminal;
  Transaction txn = store().transaction();
  txn.store_stage(stage, "SUCCEEDED");
  store().remove_stage("wp", stage.id);
  expect_commit_conflicts(txn, stage.id);
  EXPECT_EQ(pipeline.prepared_taken_for_testing(), taken + 1);
  pipeline.set_decide_hook_for_testing({});
}

TEST_F(TransactionTest, Item21ExpectedPhaseClaimsAndZombieReplan) {
  Workflow workflow = make_workflow("wf", {"a", "z"});
  // A zombie: RUNNING with no tasks.
  workflow.stages[1].tasks.clear();
  workflow.stages[1].status = WorkflowStatus::kRunning;
  store().store(workflow);

  // NOT_STARTED -> RUNNING under expected_phase NOT_STARTED.
  StageExecution a = fetch("wf.a");
  StageExecution stale = a;
  a.status = WorkflowStatus::kRunning;
  {
    Transaction txn = store().transaction();
    txn.store_stage(a, "NOT_STARTED");
    EXPECT_EQ(a.version, 1);
    txn.commit();
  }
  EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kRunning);
  EXPECT_EQ(fetch("wf.a").version, 1);
  // The version must match too, and the phase must match the stored one.
  {
    Transaction txn = store().transaction();
    EXPECT_THROW(txn.store_stage(stale, "NOT_STARTED"), ConcurrencyError);
    StageExecution current = fetch("wf.a");
    EXPECT_THAT(
        [&] { txn.store_stage(current, "NOT_STARTED"); },
        ThrowsMessage<ConcurrencyError>(HasSubstr("Optimistic lock failed")));
    EXPECT_EQ(current.version, 1);
  }

  // The zombie is re-claimed with expected_phase RUNNING and re-planned in
  // one transaction.
  StageExecution zombie = fetch("wf.z");
  ASSERT_TRUE(zombie.tasks.empty());
  ASSERT_EQ(zombie.status, WorkflowStatus::kRunning);
  zombie.tasks = {make_task("wf.z.t0"), make_task("wf.z.t1")};
  {
    Transaction txn = store().transaction();
    txn.store_stage(zombie, "RUNNING");
    for (const TaskExecution& task : zombie.tasks) {
      txn.push_message(run_task("wf", zombie.id, task.id));
    }
    txn.commit();
  }
  const StageExecution replanned = fetch("wf.z");
  EXPECT_EQ(replanned.status, WorkflowStatus::kRunning);
  ASSERT_EQ(replanned.tasks.size(), 2u);
  EXPECT_EQ(replanned.tasks[0].id, "wf.z.t0");
  EXPECT_EQ(replanned.tasks[1].id, "wf.z.t1");
  EXPECT_EQ(replanned.tasks[0].version, 0);
  EXPECT_EQ(queue_size(), 2u);
  EXPECT_TRUE(pending_for_task("wf.z.t0"));
  EXPECT_TRUE(pending_for_task("wf.z.t1"));
}

TEST_F(TransactionTest, Item22ConcurrencyErrorFromTxnStoreStageIsSwallowable) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution winner = fetch("wf.a");
  StageExecution loser = winner;
  winner.status = WorkflowStatus::kRunning;
  store().store_stage(winner, "NOT_STARTED");

  // The StartStage handler's shape: the error is caught, nothing propagates.
  const StoreState before = state();
  auto handler = [&](StageExecution& stage) {
    try {
      stage.status = WorkflowStatus::kRunning;
      Transaction txn = store().transaction();
      txn.store_stage(stage, "NOT_STARTED");
      txn.commit();
      return true;
    } catch (const ConcurrencyError&) {
      return false;
    }
  };
  bool started = true;
  EXPECT_NO_THROW(started = handler(loser));
  EXPECT_FALSE(started);
  EXPECT_EQ(loser.version, 0);
  expect_unchanged(before);

  // The same when the rival commits between the operation and commit().
  StageExecution late = fetch("wf.a");
  StageExecution rival = late;
  late.context = json{{"by", "late"}};
  bool swallowed = false;
  try {
    Transaction txn = store().transaction();
    txn.store_stage(late, "RUNNING");
    EXPECT_EQ(late.version, 2);
    rival.context = json{{"by", "rival"}};
    store().store_stage(rival);
    txn.commit();
  } catch (const ConcurrencyError& e) {
    swallowed = true;
    EXPECT_THAT(e.what(), HasSubstr("Optimistic lock failed"));
  }
  EXPECT_TRUE(swallowed);
  EXPECT_EQ(late.version, 1);
  EXPECT_EQ(fetch("wf.a").context.value(), (json{{"by", "rival"}}));
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.3: transactions.

TEST_F(TransactionTest, Item24CommitMakesStageAndPushVisible) {
  store().store(make_workflow("wf", {"a", "b"}));
  StageExecution a = fetch("wf.a");
  a.status = WorkflowStatus::kRunning;
  a.outputs = json{{"output", "value"}};
  Transaction txn = store().transaction();
  txn.store_stage(a);
  txn.push_message(start_stage("wf", "wf.b"));
  // Nothing is visible outside the transaction before commit().
  EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(queue_size(), 0u);
  const std::uint64_t lsn_before = db().stats().applied_lsn;
  const CommitRange range = txn.commit();
  EXPECT_EQ(range.first_lsn, lsn_before + 1);
  EXPECT_EQ(range.last_lsn, range.first_lsn + 1);  // two events, one record
  const StageExecution stored = fetch("wf.a");
  EXPECT_EQ(stored.status, WorkflowStatus::kRunning);
  EXPECT_EQ(stored.outputs.value(), (json{{"output", "value"}}));
  EXPECT_EQ(stored.version, 1);
  EXPECT_EQ(a.version, 1);
  ASSERT_EQ(queue_size(), 1u);
  const std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].message_type, "StartStage");
  EXPECT_EQ(messages[0].payload.value("stage_id", ""), "wf.b");
}

TEST_F(TransactionTest, Item25ExceptionInsideBlockRollsBack) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution a = fetch("wf.a");
  a.outputs = json{{"before", 1}};
  store().store_stage(a);
  const StoreState before = state();
  EXPECT_EQ(a.version, 1);

  a.status = WorkflowStatus::kRunning;
  a.outputs = json{{"after", 2}};
  EXPECT_THROW(run_transaction(store(), nullptr,
                               [&](Transaction& txn) {
                                 txn.store_stage(a);
                                 EXPECT_EQ(a.version, 2);
                                 EXPECT_EQ(a.tasks[0].version, 2);
                                 throw std::runtime_error("handler failed");
                               }),
               std::runtime_error);
  expect_unchanged(before);
  const StageExecution stored = fetch("wf.a");
  EXPECT_EQ(stored.status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(stored.outputs.value(), (json{{"before", 1}}));
  // The caller's versions are restored, so it can retry with the same object.
  EXPECT_EQ(a.version, 1);
  EXPECT_EQ(a.tasks[0].version, 1);
  run_transaction(store(), nullptr,
                  [&](Transaction& txn) { txn.store_stage(a); });
  EXPECT_EQ(fetch("wf.a").outputs.value(), (json{{"after", 2}}));
}

// Also docs/semantics.md §10.3 item 31: the failed transaction appended
// nothing.
TEST_F(TransactionTest, Item26FailingPushAfterStoreStageCommitsNeither) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution a = fetch("wf.a");
  a.status = WorkflowStatus::kRunning;
  store().store_stage(a);
  const StoreState before = state();

  a.status = WorkflowStatus::kSucceeded;
  a.outputs = json{{"result", "done"}};
  EXPECT_THAT(
      [&] {
        run_transaction(store(), nullptr, [&](Transaction& txn) {
          txn.store_stage(a);
          CompleteWorkflow complete;
          complete.execution_id = "wf";
          txn.push_message(complete, std::chrono::milliseconds{-1});
        });
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("delay")));
  expect_unchanged(before);
  EXPECT_EQ(queue_size(), 0u);
  const StageExecution stored = fetch("wf.a");
  EXPECT_EQ(stored.status, WorkflowStatus::kRunning);
  EXPECT_EQ(stored.outputs.value(), json::object());
  EXPECT_EQ(a.version, 1);
}

TEST_F(TransactionTest, Item27ConcurrentMarksOfOneIdAllCommit) {
  for (const int threads : {2, 20}) {
    const std::string id = fmt::format("msg-{}", threads);
    std::latch all_marked(threads);
    std::atomic<int> committed{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&, i] {
        try {
          Transaction txn = store().transaction();
          txn.mark_message_processed(id, fmt::format("Handler{}", i), "wf");
          all_marked.arrive_and_wait();  // every mark is decided eagerly
          txn.commit();
          ++committed;
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    for (std::thread& t : workers) t.join();
    EXPECT_EQ(errors.load(), 0) << threads << " threads";
    EXPECT_EQ(committed.load(), threads);
    EXPECT_TRUE(store().is_message_processed(id));
    const std::vector<std::string> ids = store().get_processed_message_ids();
    EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 1);
  }

  // docs/semantics.md §10.5 item 39: a mark inside an open transaction is
  // invisible to the store until commit, and absent after a rollback.
  {
    Transaction txn = store().transaction();
    txn.mark_message_processed("cs-after-1", "CompleteStage", "wf");
    txn.mark_message_processed("cs-after-1", "Again", "wf");
    EXPECT_FALSE(store().is_message_processed("cs-after-1"));
    const CommitRange range = txn.commit();
    EXPECT_EQ(range.last_lsn, range.first_lsn);  // the repeat was a no-op
  }
  EXPECT_TRUE(store().is_message_processed("cs-after-1"));
  {
    Transaction txn = store().transaction();
    txn.mark_message_processed("cs-fail-1", "CompleteStage", "wf");
    txn.rollback();
  }
  EXPECT_FALSE(store().is_message_processed("cs-fail-1"));
}

TEST_F(TransactionTest, Item28MarkAcceptsOddIdsAndNullHandler) {
  const std::vector<std::string> ids = {
      std::string(600, 'x'),
      "it's \"quoted\"",
      "back\\slash\\",
      "'; DROP TABLE processed_messages; --",
      "1 OR 1=1",
  };
  {
    Transaction txn = store().transaction();
    for (const std::string& id : ids) {
      txn.mark_message_processed(id, std::nullopt, std::nullopt);
    }
    txn.commit();
  }
  for (const std::string& id : ids) {
    EXPECT_TRUE(store().is_message_processed(id)) << id;
  }
  EXPECT_FALSE(store().is_message_processed(std::string(599, 'x')));
  EXPECT_FALSE(store().is_message_processed("1 OR 1="));
}

TEST_F(TransactionTest, Item29CommittedTransactionIsNotifiedOnceAfterCommit) {
  store().store(make_workflow("wf", {"a"}));
  std::mutex mu;
  std::vector<CommitNotice> notices;
  const std::uint64_t listener =
      db().add_commit_listener([&](const CommitNotice& notice) {
        std::scoped_lock lock(mu);
        notices.push_back(notice);
      });
  auto notices_now = [&] {
    std::scoped_lock lock(mu);
    return notices;
  };
  auto containing = [&](const CommitRange& range) {
    int count = 0;
    for (const CommitNotice& n : notices_now()) {
      if (n.first_lsn <= range.first_lsn && range.last_lsn <= n.last_lsn) {
        ++count;
      }
    }
    return count;
  };

  StageExecution a = fetch("wf.a");
  Transaction txn = store().transaction();
  txn.store_stage(a);
  txn.push_message(start_stage("wf", "wf.a"));
  EXPECT_TRUE(notices_now().empty());  // nothing before commit
  const CommitRange range = txn.commit();
  EXPECT_EQ(containing(range), 1);
  ASSERT_EQ(notices_now().size(), 1u);
  EXPECT_TRUE(notices_now()[0].queue_changed);

  // Concurrent transactions: each one inside exactly one notice.
  constexpr int kThreads = 8;
  std::vector<CommitRange> ranges(kThreads);
  std::vector<std::thread> workers;
  workers.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    workers.emplace_back([&, i] {
      ranges[static_cast<std::size_t>(i)] =
          run_transaction(store(), nullptr, [&](Transaction& t) {
            t.mark_message_processed(fmt::format("m{}", i), "H", "wf");
            t.push_message(start_stage("wf", "wf.a"));
          });
    });
  }
  for (std::thread& t : workers) t.join();
  for (const CommitRange& r : ranges) {
    EXPECT_NE(r.first_lsn, 0u);
    EXPECT_EQ(containing(r), 1);
  }
  db().remove_commit_listener(listener);
}

TEST_F(TransactionTest, Item30RolledBackOrRejectedTransactionIsNeverNotified) {
  store().store(make_workflow("wf", {"a"}));
  std::atomic<int> notices{0};
  const std::uint64_t listener = db().add_commit_listener(
      [&](const CommitNotice&) { notices.fetch_add(1); });
  StageExecution a = fetch("wf.a");
  {
    Transaction txn = store().transaction();
    txn.store_stage(a);
    txn.mark_message_processed("rolled-back", "H", "wf");
    txn.rollback();
  }
  {
    Transaction txn = store().transaction();
    txn.mark_message_processed("destroyed", "H", "wf");
  }
  EXPECT_EQ(notices.load(), 0);
  // A transaction rejected at commit: the rival's commit is notified, the
  // transaction is not.
  StageExecution rival = fetch("wf.a");
  Transaction txn = store().transaction();
  StageExecution mine = fetch("wf.a");
  txn.store_stage(mine);
  txn.push_message(start_stage("wf", "wf.a"));
  store().store_stage(rival);
  EXPECT_EQ(notices.load(), 1);
  EXPECT_THROW(txn.commit(), ConcurrencyError);
  EXPECT_EQ(notices.load(), 1);
  EXPECT_EQ(queue_size(), 0u);
  db().remove_commit_listener(listener);
}

// A jump over several stages, plus a mark and a push, in one transaction.
TEST_F(TransactionTest, Item32TransactionOverSeveralStagesIsAllOrNothing) {
  store().store(make_workflow("wf", {"source", "middle", "target"}));
  StageExecution source = fetch("wf.source");
  source.status = WorkflowStatus::kRunning;
  store().store_stage(source);

  auto jump = [&](Transaction& txn, StageExecution& src, StageExecution& mid,
                  StageExecution& tgt) {
    src.status = WorkflowStatus::kSucceeded;
    txn.store_stage(src, "RUNNING");
    mid.status = WorkflowStatus::kSkipped;
    txn.store_stage(mid, "NOT_STARTED");
    tgt.context.mutable_value()["_jump_bypass"] = true;
    tgt.context.mutable_value()["_jump_count"] = 1;
    txn.store_stage(tgt, "NOT_STARTED");
    txn.mark_message_processed("jmp-atomic-2", "JumpToStage", "wf");
    txn.push_message(start_stage("wf", tgt.id));
  };

  // Failure: a rival bumps the middle stage between the operation and commit.
  StageExecution src = fetch("wf.source");
  StageExecution mid = fetch("wf.middle");
  StageExecution tgt = fetch("wf.target");
  {
    Transaction txn = store().transaction();
    jump(txn, src, mid, tgt);
    EXPECT_EQ(src.version, 2);
    EXPECT_EQ(mid.version, 1);
    EXPECT_EQ(tgt.version, 1);
    StageExecution rival = fetch("wf.middle");
    rival.context = json{{"rival", true}};
    store().store_stage(rival);
    expect_commit_conflicts(txn, "Optimistic lock");
  }
  EXPECT_EQ(src.version, 1);
  EXPECT_EQ(src.tasks[0].version, 1);
  EXPECT_EQ(mid.version, 0);
  EXPECT_EQ(tgt.version, 0);
  EXPECT_EQ(fetch("wf.source").status, WorkflowStatus::kRunning);
  EXPECT_EQ(fetch("wf.middle").status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(fetch("wf.target").status, WorkflowStatus::kNotStarted);
  EXPECT_FALSE(fetch("wf.target").context.value().contains("_jump_bypass"));
  EXPECT_FALSE(store().is_message_processed("jmp-atomic-2"));
  EXPECT_EQ(queue_size(), 0u);

  // Success with fresh copies.
  src = fetch("wf.source");
  mid = fetch("wf.middle");
  tgt = fetch("wf.target");
  {
    Transaction txn = store().transaction();
    jump(txn, src, mid, tgt);
    txn.commit();
  }
  EXPECT_EQ(fetch("wf.source").status, WorkflowStatus::kSucceeded);
  EXPECT_EQ(fetch("wf.middle").status, WorkflowStatus::kSkipped);
  const StageExecution target = fetch("wf.target");
  EXPECT_EQ(target.status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(target.context.value().value("_jump_bypass", false), true);
  EXPECT_EQ(target.context.value().value("_jump_count", 0), 1);
  EXPECT_EQ(src.version, fetch("wf.source").version);
  EXPECT_EQ(mid.version, fetch("wf.middle").version);
  EXPECT_EQ(tgt.version, target.version);
  EXPECT_TRUE(store().is_message_processed("jmp-atomic-2"));
  const std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].message_type, "StartStage");
  EXPECT_EQ(messages[0].payload.value("stage_id", ""), "wf.target");
}

TEST_F(TransactionTest, Item33TransactionsAreAtomic) {
  Transaction txn = store().transaction();
  EXPECT_TRUE(txn.is_atomic());
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.4: claims.

TEST_F(TransactionTest, Item34SecondStageLosesTheClaimInOneTransaction) {
  {
    Transaction txn = store().transaction();
    EXPECT_TRUE(txn.acquire_claim("e1", "mutex:db", "stage_a"));
    EXPECT_FALSE(txn.acquire_claim("e1", "mutex:db", "stage_b"));
    EXPECT_TRUE(txn.acquire_claim("e1", "mutex:db", "stage_a"));  // re-entrant
    txn.commit();
  }
  Transaction txn = store().transaction();
  EXPECT_FALSE(txn.acquire_claim("e1", "mutex:db", "stage_b"));
  EXPECT_TRUE(txn.acquire_claim("e1", "mutex:db", "stage_a"));
}

// The StartStage claim of docs/semantics.md §6.6 run by two workers at once.
class ClaimRaceTest : public TransactionTest {
 protected:
  struct Outcome {
    bool started = false;
    int attempts = 0;
    std::vector<bool> claims;  // acquire_claim's answer per attempt
  };

  // Runs the StartStage claim for `stage_id` in run_transaction: the claim,
  // then the CAS to RUNNING; the loser pushes a CancelStage for its stage when
  // `cancel_loser`. `both_claimed` (if set) holds the first attempt until the
  // rival's first attempt claimed too, so both pass the eager check.
  Outcome start(const std::string& stage_id, const std::string& key, bool steal,
                std::latch* both_claimed, bool cancel_loser) {
    Outcome outcome;
    StageExecution stage;
    run_transaction(store(), nullptr, [&](Transaction& txn) {
      ++outcome.attempts;
      stage = fetch(stage_id);
      const bool claimed = txn.acquire_claim("wf", key, stage.id, steal);
      outcome.claims.push_back(claimed);
      if (both_claimed != nullptr && outcome.attempts == 1) {
        both_claimed->arrive_and_wait();
      }
      outcome.started = claimed;
      if (!claimed) {
        if (cancel_loser) {
          CancelStage cancel;
          cancel.execution_id = "wf";
          cancel.stage_id = stage.id;
          txn.push_message(cancel);
        }
        return;
      }
      stage.status = WorkflowStatus::kRunning;
      txn.store_stage(stage, "NOT_STARTED");
    });
    return outcome;
  }

  // Both siblings start at once; returns their outcomes.
  std::pair<Outcome, Outcome> race(const std::string& key, bool steal,
                                   bool cancel_loser) {
    std::latch both_claimed(2);
    Outcome x;
    Outcome y;
    std::thread tx(
        [&] { x = start("wf.x", key, steal, &both_claimed, cancel_loser); });
    std::thread ty(
        [&] { y = start("wf.y", key, steal, &both_claimed, cancel_loser); });
    tx.join();
    ty.join();
    return {x, y};
  }

  void SetUp() override { store().store(make_workflow("wf", {"x", "y"})); }
};

TEST_F(ClaimRaceTest, Item35MutexSiblingsOnlyOneRuns) {
  const auto [x, y] = race("mutex:db", true, false);
  EXPECT_NE(x.started, y.started);
  const Outcome& loser = x.started ? y : x;
  // Both passed the eager check; the loser's commit failed and its rerun saw
  // acquire_claim == false.
  EXPECT_EQ(loser.attempts, 2);
  EXPECT_EQ(loser.claims, (std::vector<bool>{true, false}));
  const int running =
      (fetch("wf.x").status == WorkflowStatus::kRunning ? 1 : 0) +
      (fetch("wf.y").status == WorkflowStatus::kRunning ? 1 : 0);
  EXPECT_EQ(running, 1);
}

TEST_F(ClaimRaceTest, Item36MutexTransfersOnceTheOwnerSucceeded) {
  const auto [x, y] = race("mutex:db", true, false);
  ASSERT_NE(x.started, y.started);
  const std::string winner = x.started ? "wf.x" : "wf.y";
  const std::string loser = x.started ? "wf.y" : "wf.x";
  // While the owner runs, the mutex holds.
  EXPECT_FALSE(start(loser, "mutex:db", true, nullptr, false).started);
  StageExecution owner = fetch(winner);
  owner.status = WorkflowStatus::kSucceeded;
  store().store_stage(owner);
  const Outcome second = start(loser, "mutex:db", true, nullptr, false);
  EXPECT_TRUE(second.started);
  EXPECT_EQ(fetch(loser).status, WorkflowStatus::kRunning);
}

TEST_F(ClaimRaceTest, Item37DeferredChoiceNeverTransfers) {
  const auto [x, y] = race("choice:group", false, true);
  ASSERT_NE(x.started, y.started);
  const std::string winner = x.started ? "wf.x" : "wf.y";
  const std::string loser = x.started ? "wf.y" : "wf.x";
  EXPECT_NE(fetch(loser).status, WorkflowStatus::kRunning);
  std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].message_type, "CancelStage");
  EXPECT_EQ(messages[0].payload.value("stage_id", ""), loser);

  StageExecution owner = fetch(winner);
  owner.status = WorkflowStatus::kSucceeded;
  store().store_stage(owner);
  EXPECT_FALSE(start(loser, "choice:group", false, nullptr, true).started);
  EXPECT_EQ(fetch(loser).status, WorkflowStatus::kNotStarted);
}

TEST_F(TransactionTest, Item38CleanupRemovesOnlyClaimsOfCompleteExecutions) {
  store().store(make_workflow("done", {"a", "b"}));
  store().store(make_workflow("live", {"a", "b"}));
  {
    Transaction txn = store().transaction();
    EXPECT_TRUE(txn.acquire_claim("done", "mutex:m", "done.a"));
    EXPECT_TRUE(txn.acquire_claim("live", "mutex:m", "live.a"));
    txn.commit();
  }
  Workflow done = store().retrieve("done");
  done.status = WorkflowStatus::kSucceeded;
  store().update_status(done);
  EXPECT_EQ(store().cleanup_completed_stage_claims(), 1u);
  EXPECT_EQ(store().cleanup_completed_stage_claims(), 0u);
  Transaction txn = store().transaction();
  EXPECT_TRUE(txn.acquire_claim("done", "mutex:m", "done.b"));
  EXPECT_FALSE(txn.acquire_claim("live", "mutex:m", "live.b"));
  txn.commit();
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.1 item 16, its transaction half: values the reference
// stringifies (datetimes, paths) arrive as strings and round-trip through
// txn.store_stage.

TEST_F(TransactionTest, Item16OutputsAndTaskExceptionDetailsRoundTripInTxn) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution a = fetch("wf.a");
  const json outputs = {
      {"finished_at", "2024-06-01 12:00:00.123456+00:00"},
      {"report", "/var/lib/runs/42/report.txt"},
      {"count", 42},
      {"nested", {{"list", {{{"k", "v"}}, {{"k", nullptr}}}}}}};
  const json details = {{"exception", "ValueError"},
                        {"details", {{"error", "line 1\nline 2\n"}}},
                        {"cause", nullptr},
                        {"when", "2024-06-01T12:00:00"}};
  a.outputs = outputs;
  a.tasks[0].status = WorkflowStatus::kTerminal;
  a.tasks[0].task_exception_details = details;
  run_transaction(store(), nullptr,
                  [&](Transaction& txn) { txn.store_stage(a); });
  const StageExecution stored = fetch("wf.a");
  EXPECT_EQ(stored.outputs.value(), outputs);
  EXPECT_TRUE(stored.outputs.value()["finished_at"].is_string());
  EXPECT_TRUE(stored.outputs.value()["report"].get<std::string>().ends_with(
      "report.txt"));
  EXPECT_EQ(stored.outputs.value()["count"], 42);
  EXPECT_EQ(stored.tasks[0].task_exception_details.value(), details);
  EXPECT_EQ(stored.tasks[0].status, WorkflowStatus::kTerminal);
}

// A transaction ended on another thread than the one that opened it (moved
// there; a garbage collector's thread in a binding), after its opener exited:
// it commits, its opener's registration ends with it, and the thread ending it
// can open its own (sanitizer builds caught the opener's freed registry
// being used before).
TEST_F(TransactionTest, ATransactionEndsOnAnotherThreadAfterItsOpenerExited) {
  store().store(make_workflow("wf", {"a", "b"}));
  // The stages outlive the transactions that store them (store_stage's
  // contract: a rollback writes their versions back), not the threads.
  StageExecution a = fetch("wf.a");
  StageExecution b = fetch("wf.b");
  std::optional<Transaction> moved;
  std::thread opener([&] {
    Transaction txn = store().transaction();
    a.status = WorkflowStatus::kRunning;
    txn.store_stage(a);
    moved.emplace(std::move(txn));
  });
  opener.join();
  {
    // This thread has none open: it can open one beside the moved one.
    Transaction mine = store().transaction();
    mine.rollback();
  }
  moved->commit();
  EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kRunning);
  moved.reset();

  std::thread again([&] {
    // Another thread opens one, which this thread rolls back by destroying it.
    moved.emplace(store().transaction());
    b.status = WorkflowStatus::kRunning;
    moved->store_stage(b);
  });
  again.join();
  moved.reset();
  EXPECT_EQ(fetch("wf.b").status, WorkflowStatus::kNotStarted);
  EXPECT_EQ(b.version, fetch("wf.b").version);  // the rollback restored it
  Transaction last = store().transaction();
  EXPECT_THROW((void)store().transaction(), InvalidArgumentError);
}

// ---------------------------------------------------------------------------
// docs/semantics.md §12: the subtle semantics.

// Item 3: all or nothing over every kind of operation; nothing visible
// outside before commit; rollback restores versions; no nesting.
TEST_F(TransactionTest, Subtle3AtomicityOverEveryKindOfOperation) {
  store().store(make_workflow("wf", {"a"}));
  auto run = [&](Transaction& txn, StageExecution& a) {
    a.status = WorkflowStatus::kRunning;
    txn.store_stage(a);
    Workflow wf = store().retrieve("wf");
    wf.status = WorkflowStatus::kRunning;
    wf.start_time = kNow;
    txn.update_workflow_status(wf);
    txn.push_message(run_task("wf", a.id, a.tasks[0].id));
    txn.mark_message_processed("m1", "StartStage", "wf");
    EXPECT_TRUE(txn.acquire_claim("wf", "mutex:m", a.id, true));
    // Nothing is visible outside the transaction.
    EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kNotStarted);
    EXPECT_EQ(store().retrieve("wf").status, WorkflowStatus::kNotStarted);
    EXPECT_FALSE(pending_for_task(a.tasks[0].id));
    EXPECT_FALSE(store().is_message_processed("m1"));
    // No nesting on this thread.
    EXPECT_THROW((void)store().transaction(), InvalidArgumentError);
  };

  const StoreState before = state();
  StageExecution a = fetch("wf.a");
  {
    Transaction txn = store().transaction();
    run(txn, a);
    EXPECT_EQ(a.version, 1);
  }  // destroyed without commit
  expect_unchanged(before);
  EXPECT_EQ(a.version, 0);
  {
    Transaction other = store().transaction();
    EXPECT_TRUE(other.acquire_claim("wf", "mutex:m", "someone-else", false));
  }

  a = fetch("wf.a");
  Transaction txn = store().transaction();
  run(txn, a);
  txn.commit();
  EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kRunning);
  EXPECT_EQ(store().retrieve("wf").status, WorkflowStatus::kRunning);
  EXPECT_EQ(store().retrieve("wf").start_time, kNow);
  EXPECT_TRUE(pending_for_task(a.tasks[0].id));
  EXPECT_TRUE(store().is_message_processed("m1"));
  Transaction after = store().transaction();
  EXPECT_FALSE(after.acquire_claim("wf", "mutex:m", "someone-else", false));
}

// Item 4: the delivery id is assigned at push (commit), never reused; marks
// are insert-if-absent, first writer wins, both the handler's and the
// processor's mark are idempotent.
TEST_F(TransactionTest, Subtle4DeliveryIdsAreFreshAndMarksIdempotent) {
  {
    Transaction txn = store().transaction();
    txn.push_message(start_stage("wf", "s1"));
    txn.push_message(start_stage("wf", "s2"));
    txn.commit();
  }
  std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_LT(messages[0].delivery_id, messages[1].delivery_id);
  const std::uint64_t first = messages[0].delivery_id;
  const std::uint64_t last = messages[1].delivery_id;

  // The handler marks the delivery inside its transaction, the processor after
  // it: the second mark appends nothing.
  const std::string id = std::to_string(first);
  run_transaction(store(), nullptr, [&](Transaction& txn) {
    txn.mark_message_processed(id, "StartStageHandler", "wf");
  });
  const std::uint64_t lsn = db().stats().applied_lsn;
  store().mark_message_processed(id, "Processor", "wf");
  run_transaction(store(), nullptr, [&](Transaction& txn) {
    txn.mark_message_processed(id, "Again", "wf");
  });
  EXPECT_EQ(db().stats().applied_lsn, lsn);
  EXPECT_TRUE(store().is_message_processed(id));

  // Acked ids are never handed out again.
  std::vector<Command> acks;
  acks.emplace_back(AckMessage{first});
  acks.emplace_back(AckMessage{last});
  (void)database_impl(db()).pipeline()->commit(std::move(acks));
  EXPECT_EQ(queue_size(), 0u);
  run_transaction(store(), nullptr, [&](Transaction& txn) {
    txn.push_message(start_stage("wf", "s3"));
  });
  messages = queued();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_GT(messages[0].delivery_id, last);
  EXPECT_FALSE(
      store().is_message_processed(std::to_string(messages[0].delivery_id)));
}

// Item 12: one row per (execution, key), re-entrant, steals only with the
// flag from a missing or complete owner, rolled back with the stage CAS.
TEST_F(TransactionTest, Subtle12ClaimRules) {
  store().store(make_workflow("wf", {"a", "b", "c"}));
  StageExecution a = fetch("wf.a");
  a.status = WorkflowStatus::kRunning;
  store().store_stage(a);
  {
    Transaction txn = store().transaction();
    EXPECT_TRUE(txn.acquire_claim("wf", "mutex:k", "wf.a", true));
    EXPECT_TRUE(txn.acquire_claim("wf", "mutex:ghost", "wf.gone", true));
    txn.commit();
  }
  Transaction txn = store().transaction();
  EXPECT_TRUE(txn.acquire_claim("wf", "mutex:k", "wf.a", true));  // re-entrant
  // The owner is RUNNING: no steal, with or without the flag.
  EXPECT_FALSE(txn.acquire_claim("wf", "mutex:k", "wf.b", true));
  EXPECT_FALSE(txn.acquire_claim("wf", "mutex:k", "wf.b", false));
  // A missing owner: only the flag steals.
  EXPECT_FALSE(txn.acquire_claim("wf", "mutex:ghost", "wf.b", false));
  EXPECT_TRUE(txn.acquire_claim("wf", "mutex:ghost", "wf.b", true));
  // Once stolen (inside the transaction), it is wf.b's.
  EXPECT_FALSE(txn.acquire_claim("wf", "mutex:ghost", "wf.c", false));
  txn.commit();
  EXPECT_EQ(database_impl(db()).views().dump(Table::kClaims).size(), 2u);

  // A claim is rolled back with a failing stage CAS in its transaction.
  StageExecution stale = fetch("wf.c");
  StageExecution rival = stale;
  store().store_stage(rival);
  {
    Transaction claim = store().transaction();
    EXPECT_TRUE(claim.acquire_claim("wf", "choice:g", "wf.c"));
    stale.status = WorkflowStatus::kRunning;
    EXPECT_THROW(claim.store_stage(stale, "NOT_STARTED"), ConcurrencyError);
    // The handler gives up; its transaction rolls back.
  }
  Transaction other = store().transaction();
  EXPECT_TRUE(other.acquire_claim("wf", "choice:g", "wf.b"));
  other.commit();
}

// ---------------------------------------------------------------------------
// run_transaction.

TEST_F(TransactionTest, RunTransactionRerunsOnConflictsBounded) {
  store().store(make_workflow("wf", {"a"}));
  // A rival bumps the stage between the operation and every commit.
  int attempts = 0;
  StageExecution a;
  EXPECT_THROW(run_transaction(
                   store(), nullptr,
                   [&](Transaction& txn) {
                     ++attempts;
                     a = fetch("wf.a");
                     txn.store_stage(a);
                     StageExecution rival = fetch("wf.a");
                     store().store_stage(rival);
                   },
                   3),
               ConcurrencyError);
  EXPECT_EQ(attempts, 3);

  // A stale object fails the operation's eager check on every run.
  attempts = 0;
  StageExecution stale = fetch("wf.a");
  stale.version = 0;
  EXPECT_THROW(run_transaction(
                   store(), nullptr,
                   [&](Transaction& txn) {
                     ++attempts;
                     txn.store_stage(stale);
                   },
                   3),
               ConcurrencyError);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(stale.version, 0);
  EXPECT_THROW(run_transaction(
                   store(), nullptr, [](Transaction&) {}, 0),
               InvalidArgumentError);
}

// ---------------------------------------------------------------------------
// Eager checks read the latest committed state plus the transaction's own
// pending operations; the commit decides every operation as the same kind.

// Commits `fn` on another thread and waits for it: a rival handler.
template <typename Fn>
void on_other_thread(Fn fn) {
  std::thread rival(fn);
  rival.join();
}

TEST_F(TransactionTest,
       JumpToStageReReadInsideTransactionPassesAfterRivalCommit) {
  store().store(make_workflow("wf", {"source", "middle", "target"}));
  store().store(make_workflow("other", {"x"}));
  StageExecution source = fetch("wf.source");
  source.status = WorkflowStatus::kRunning;
  store().store_stage(source);

  // stabilize's JumpToStageHandler._apply_jump: open the transaction, then
  // re-read each stage (retrieve_stage), mutate it and store it through the
  // transaction.
  Transaction txn = store().transaction();
  // Between the open and the operations another thread commits: an unrelated
  // workflow's stage and, before its re-read, the middle stage itself.
  on_other_thread([&] {
    StageExecution x = fetch("other.x");
    x.status = WorkflowStatus::kRunning;
    store().store_stage(x);
    StageExecution middle = fetch("wf.middle");
    middle.context = json{{"touched", true}};
    store().store_stage(middle);
  });
  std::vector<StageExecution> fresh;
  fresh.reserve(3);
  for (const char* id : {"wf.source", "wf.middle", "wf.target"}) {
    fresh.push_back(fetch(id));
  }
  fresh[0].status = WorkflowStatus::kSucceeded;
  fresh[1].status = WorkflowStatus::kSkipped;
  fresh[2].context.mutable_value()["_jump_bypass"] = true;
  for (StageExecution& stage : fresh) EXPECT_NO_THROW(txn.store_stage(stage));
  txn.mark_message_processed("jump-1", "JumpToStage", "wf");
  txn.push_message(start_stage("wf", "wf.target"));
  // Another commit between the operations and the commit: unrelated, so
  // the commit holds.
  on_other_thread([&] {
    StageExecution x = fetch("other.x");
    x.status = WorkflowStatus::kSucceeded;
    store().store_stage(x);
  });
  EXPECT_NO_THROW(txn.commit());
  EXPECT_EQ(fetch("wf.source").status, WorkflowStatus::kSucceeded);
  const StageExecution middle = fetch("wf.middle");
  EXPECT_EQ(middle.status, WorkflowStatus::kSkipped);
  EXPECT_EQ(middle.version, 2);
  EXPECT_EQ(fresh[1].version, 2);
  EXPECT_TRUE(fetch("wf.target").context.value().value("_jump_bypass", false));
  EXPECT_TRUE(store().is_message_processed("jump-1"));
  EXPECT_EQ(queue_size(), 1u);
}

TEST_F(TransactionTest, RealConflictAfterTheOperationStillFailsAtCommit) {
  store().store(make_workflow("wf", {"a"}));
  Transaction txn = store().transaction();
  on_other_thread([&] {
    StageExecution a = fetch("wf.a");
    store().store_stage(a);
  });
  StageExecution a = fetch("wf.a");
  a.status = WorkflowStatus::kRunning;
  txn.store_stage(a, "NOT_STARTED");
  on_other_thread([&] {
    StageExecution rival = fetch("wf.a");
    rival.context = json{{"by", "rival"}};
    store().store_stage(rival);
  });
  expect_commit_conflicts(txn, "Optimistic lock");
  EXPECT_EQ(a.version, 1);
  EXPECT_EQ(fetch("wf.a").version, 2);
}

TEST_F(TransactionTest, PendingOperationsAreDecidedAgainOverLaterCommits) {
  store().store(make_workflow("wf", {"a", "b"}));
  Transaction txn = store().transaction();
  StageExecution a = fetch("wf.a");
  txn.store_stage(a);  // pending: a at version 1
  txn.push_message(start_stage("wf", "wf.a"));
  // Rivals change b and push a message between the operations.
  on_other_thread([&] {
    StageExecution b = fetch("wf.b");
    store().store_stage(b);
    Transaction rival = store().transaction();
    rival.push_message(start_stage("wf", "wf.b"));
    rival.commit();
  });
  // The second store of a sees this transaction's version 1 over the latest
  // state; b is re-read at its latest version.
  EXPECT_NO_THROW(txn.store_stage(a));
  EXPECT_EQ(a.version, 2);
  StageExecution b = fetch("wf.b");
  EXPECT_NO_THROW(txn.store_stage(b));
  txn.push_message(start_stage("wf", "wf.b"));
  txn.commit();
  EXPECT_EQ(fetch("wf.a").version, 2);
  EXPECT_EQ(fetch("wf.b").version, 2);
  // Delivery ids are assigned at commit: three distinct deliveries.
  const std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(queue_size(), 3u);
}

TEST_F(TransactionTest,
       OperationAfterARivalBrokeAnEarlierOneThrowsConcurrency) {
  store().store(make_workflow("wf", {"a"}));
  Transaction txn = store().transaction();
  StageExecution a = fetch("wf.a");
  txn.store_stage(a);
  on_other_thread([&] {
    StageExecution rival = fetch("wf.a");
    store().store_stage(rival);
  });
  // The pending store_stage of a no longer holds over the latest state: the
  // next operation reports it, as the commit would.
  EXPECT_THAT([&] { txn.push_message(start_stage("wf", "wf.a")); },
              ThrowsMessage<ConcurrencyError>(HasSubstr("Optimistic lock")));
  const StoreState before = state();
  EXPECT_THROW(txn.commit(), ConcurrencyError);
  expect_unchanged(before);
  EXPECT_EQ(a.version, 0);
}

TEST_F(TransactionTest, RunTransactionRerunsWhenAnOperationFindsAConflict) {
  store().store(make_workflow("wf", {"a"}));
  // The first run stores a copy read before a rival's commit; the rerun
  // re-reads it.
  const StageExecution stale = fetch("wf.a");
  on_other_thread([&] {
    StageExecution rival = fetch("wf.a");
    store().store_stage(rival);
  });
  StageExecution a;
  int attempts = 0;
  run_transaction(store(), nullptr, [&](Transaction& txn) {
    ++attempts;
    a = attempts == 1 ? stale : fetch("wf.a");
    a.status = WorkflowStatus::kRunning;
    txn.store_stage(a);
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(a.version, 2);
  EXPECT_EQ(fetch("wf.a").status, WorkflowStatus::kRunning);
}

TEST_F(TransactionTest, StoreStageDecidedAsInsertFailsWhenARivalAddedItFirst) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution fresh = make_stage("wf", "new");
  {
    // One operation (the writer decides it alone) ...
    Transaction txn = store().transaction();
    txn.store_stage(fresh);
    EXPECT_EQ(fresh.version, 0);
    on_other_thread([&] {
      StageExecution rival = make_stage("wf", "new");
      store().add_stage(rival);
    });
    const StoreState before = state();
    EXPECT_THAT(
        [&] { txn.commit(); },
        ThrowsMessage<ConcurrencyError>(HasSubstr(
            "the transaction decided an insert, the commit an update")));
    expect_unchanged(before);
  }
  EXPECT_EQ(fresh.version, 0);
  EXPECT_EQ(fetch("wf.new").version, 0);

  // ... and among others (the writer folds them while deciding).
  StageExecution another = make_stage("wf", "another");
  {
    Transaction txn = store().transaction();
    txn.store_stage(another);
    txn.push_message(start_stage("wf", "wf.another"));
    on_other_thread([&] {
      StageExecution rival = make_stage("wf", "another");
      store().add_stage(rival);
    });
    const StoreState before = state();
    EXPECT_THROW(txn.commit(), ConcurrencyError);
    expect_unchanged(before);
  }
  EXPECT_EQ(fetch("wf.another").version, 0);
}

// An insert decided eagerly that the commit can no longer make because a
// rival deleted its workflow (or took its ref_id) is a conflict like a changed
// version: ConcurrencyError, so that run_transaction reruns the handler, which
// then finds the workflow gone. Eagerly the insert was valid; only a rival's
// commit can have made it fail.
TEST_F(TransactionTest, InsertWhoseWorkflowARivalDeletedFailsWithConcurrency) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution fresh = make_stage("wf", "new");
  Transaction txn = store().transaction();
  txn.store_stage(fresh);
  on_other_thread([&] { store().delete_workflow("wf"); });
  const StoreState before = state();
  EXPECT_THROW(txn.commit(), ConcurrencyError);
  expect_unchanged(before);
}

TEST_F(TransactionTest, InsertWhoseRefIdARivalTookFailsWithConcurrency) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution fresh = make_stage("wf", "new");
  Transaction txn = store().transaction();
  txn.store_stage(fresh);
  on_other_thread([&] {
    StageExecution rival = make_stage("wf", "new");
    rival.id = "wf.rival";
    rival.tasks[0].id = "wf.rival.t0";
    store().add_stage(rival);
  });
  const StoreState before = state();
  EXPECT_THROW(txn.commit(), ConcurrencyError);
  expect_unchanged(before);
}

// The same when an operation finds it while deciding the pending ones again:
// the operation throws ConcurrencyError, not the earlier insert's
// WorkflowNotFoundError.
TEST_F(TransactionTest,
       OperationAfterARivalDeletedAPendingInsertsWorkflowThrowsConcurrency) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution fresh = make_stage("wf", "new");
  Transaction txn = store().transaction();
  txn.store_stage(fresh);
  on_other_thread([&] { store().delete_workflow("wf"); });
  EXPECT_THROW(txn.mark_message_processed("m-after", "H", "wf"),
               ConcurrencyError);
}

TEST_F(TransactionTest, RunTransactionRerunsWhenARivalDeletedTheWorkflow) {
  store().store(make_workflow("wf", {"a"}));
  int attempts = 0;
  bool saw_it_gone = false;
  StageExecution fresh;  // outlives the transaction, which restores versions
  EXPECT_NO_THROW(run_transaction(store(), nullptr, [&](Transaction& txn) {
    ++attempts;
    if (!store().exists("wf")) {
      saw_it_gone = true;  // the handler's "not found" path
      txn.mark_message_processed("m-gone", "H", "wf");
      return;
    }
    fresh = make_stage("wf", "new");
    txn.store_stage(fresh);
    if (attempts == 1) {
      on_other_thread([&] { store().delete_workflow("wf"); });
    }
    txn.mark_message_processed("m-new", "H", "wf");
  }));
  EXPECT_EQ(attempts, 2);
  EXPECT_TRUE(saw_it_gone);
  EXPECT_TRUE(store().is_message_processed("m-gone"));
  EXPECT_FALSE(store().is_message_processed("m-new"));
}

TEST_F(TransactionTest, StoreStageDecidedAsUpdateFailsWhenARivalRemovedIt) {
  store().store(make_workflow("wf", {"a", "b"}));
  StageExecution a = fetch("wf.a");
  Transaction txn = store().transaction();
  txn.store_stage(a);
  txn.mark_message_processed("m-remove", "H", "wf");
  on_other_thread([&] { store().remove_stage("wf", "wf.a"); });
  expect_commit_conflicts(
      txn, "the transaction decided an update, the commit an insert");
  EXPECT_EQ(a.version, 0);
  EXPECT_THROW(store().retrieve_stage("wf.a"), StageNotFoundError);
}

TEST_F(TransactionTest,
       WorkflowStatusDecidedAsWriteOrNoOpFailsWhenThatChanged) {
  store().store(make_workflow("wf", {"a"}));
  Workflow running = store().retrieve_execution_summary("wf");
  running.status = WorkflowStatus::kRunning;
  {
    // A write, but a rival deletes the workflow before the commit.
    Transaction txn = store().transaction();
    txn.update_workflow_status(running);
    on_other_thread([&] { store().delete_workflow("wf"); });
    expect_commit_conflicts(
        txn, "the transaction decided an update, the commit a no-op");
  }
  {
    // A no-op (no such workflow), but a rival stores it before the commit.
    Transaction txn = store().transaction();
    txn.update_workflow_status(running);
    txn.push_message(start_workflow("wf"));
    on_other_thread([&] { store().store(make_workflow("wf", {"a"})); });
    expect_commit_conflicts(
        txn, "the transaction decided a no-op, the commit an update");
  }
  EXPECT_EQ(store().retrieve_execution_summary("wf").status,
            WorkflowStatus::kNotStarted);
  // Unchanged kinds commit whatever else happened meanwhile.
  Transaction txn = store().transaction();
  txn.update_workflow_status(running);
  on_other_thread([&] { store().pause("wf", "ops"); });
  EXPECT_NO_THROW(txn.commit());
  EXPECT_EQ(store().retrieve_execution_summary("wf").status,
            WorkflowStatus::kRunning);
}

TEST_F(TransactionTest, ClaimAnswerChangedMeanwhileFailsAtCommit) {
  store().store(make_workflow("wf", {"x", "y"}));
  Transaction txn = store().transaction();
  EXPECT_TRUE(txn.acquire_claim("wf", "mutex:db", "wf.x"));
  on_other_thread([&] {
    Transaction rival = store().transaction();
    EXPECT_TRUE(rival.acquire_claim("wf", "mutex:db", "wf.y"));
    rival.commit();
  });
  expect_commit_conflicts(txn, "changed hands");
}

TEST_F(TransactionTest, MarksAndPushesCommitWhateverRivalsDidMeanwhile) {
  store().store(make_workflow("wf", {"a"}));
  Transaction txn = store().transaction();
  txn.mark_message_processed("m-both", "Mine", "wf");
  txn.push_message(start_stage("wf", "wf.a"));
  on_other_thread([&] {
    Transaction rival = store().transaction();
    rival.mark_message_processed("m-both", "Rival", "wf");
    rival.push_message(start_stage("wf", "wf.a"));
    rival.commit();
  });
  // The mark is insert-if-absent (docs/semantics.md §10.3 item 27) and the push
  // gets its delivery id at commit: neither conflicts.
  EXPECT_NO_THROW(txn.commit());
  const std::vector<std::string> ids = store().get_processed_message_ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "m-both"), 1);
  const std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].delivery_id, messages[1].delivery_id);
}

// ---------------------------------------------------------------------------
// Bad input: a clear error and nothing changed.

TEST_F(TransactionTest, BadInputUseAfterCommitOrRollback) {
  store().store(make_workflow("wf", {"a"}));
  StageExecution a = fetch("wf.a");
  Transaction committed = store().transaction();
  committed.mark_message_processed("m", "H", "wf");
  committed.commit();
  Transaction rolled_back = store().transaction();
  rolled_back.rollback();
  rolled_back.rollback();  // idempotent
  const StoreState before = state();
  const Workflow workflow = store().retrieve("wf");
  for (auto [txn, what] : {std::pair{&committed, "committed"},
                           std::pair{&rolled_back, "rolled back"}}) {
    const std::string message = fmt::format("transaction already {}", what);
    Transaction& t = *txn;
    EXPECT_THAT([&] { t.store_stage(a); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    EXPECT_THAT([&] { t.update_workflow_status(workflow); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    EXPECT_THAT([&] { t.push_message(start_stage("wf", "wf.a")); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    EXPECT_THAT([&] { t.mark_message_processed("n", "H", "wf"); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    EXPECT_THAT([&] { t.acquire_claim("wf", "mutex:x", "wf.a"); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    EXPECT_THAT([&] { t.commit(); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
  }
  EXPECT_EQ(a.version, 0);
  expect_unchanged(before);
}

TEST_F(TransactionTest, BadInputNestedTransactionIsRejected) {
  store().store(make_workflow("wf", {"a"}));
  Transaction outer = store().transaction();
  outer.mark_message_processed("outer", "H", "wf");
  const StoreState before = state();
  EXPECT_THAT([&] { (void)store().transaction(); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("nest")));
  EXPECT_THAT(
      [&] {
        run_transaction(store(), nullptr, [](Transaction& t) {
          t.mark_message_processed("inner", "H", "wf");
        });
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("nest")));
  expect_unchanged(before);
  // Another thread has its own transactions; another store on this thread
  // too.
  std::thread([&] {
    Transaction txn = store().transaction();
    txn.mark_message_processed("other-thread", "H", "wf");
    txn.commit();
  }).join();
  testutil::TempDir other_dir;
  {
    std::unique_ptr<Database> other = Database::open(other_dir.path());
    Transaction txn = other->workflow_store().transaction();
    txn.mark_message_processed("other-store", "H", "wf");
    txn.commit();
    other->close();
  }
  // A non-transactional call while the transaction is open commits on its own.
  store().mark_message_processed("direct", "H", "wf");
  EXPECT_TRUE(store().is_message_processed("direct"));
  EXPECT_FALSE(store().is_message_processed("outer"));
  outer.commit();
  EXPECT_TRUE(store().is_message_processed("outer"));
  // Once the outer one ended, a new transaction opens.
  Transaction next = store().transaction();
  next.rollback();
}

TEST_F(TransactionTest, BadInputNegativeDelayLeavesTheTransactionUsable) {
  store().store(make_workflow("wf", {"a"}));
  Transaction txn = store().transaction();
  txn.push_message(start_stage("wf", "wf.a"), std::chrono::milliseconds{5});
  const StoreState before = state();
  EXPECT_THAT(
      [&] {
        txn.push_message(start_stage("wf", "wf.b"),
                         std::chrono::milliseconds{-5});
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("delay")));
  expect_unchanged(before);
  const CommitRange range = txn.commit();
  EXPECT_EQ(range.last_lsn, range.first_lsn);  // only the valid push
  const std::vector<Queued> messages = queued();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].payload.value("stage_id", ""), "wf.a");
}

TEST_F(TransactionTest, BadInputStageOverLimitsChangesNothing) {
  store().store(make_workflow("wf", {"a", "b"}));
  StageExecution a = fetch("wf.a");
  a.status = WorkflowStatus::kRunning;
  Transaction txn = store().transaction();
  txn.store_stage(a);
  EXPECT_EQ(a.version, 1);
  const StoreState before = state();

  // The second operation is over the limits: the transaction's own bump of
  // `a` stays, `b` is untouched.
  StageExecution b = fetch("wf.b");
  const StageExecution b_before = b;
  b.tasks[0].name = std::string(kMaxStringBytes + 1, 'n');
  EXPECT_THAT([&] { txn.store_stage(b); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("name")));
  EXPECT_EQ(b.version, b_before.version);
  EXPECT_EQ(b.tasks[0].version, b_before.tasks[0].version);
  // A second store_stage of `a` sees the transaction's version + 1.
  a.outputs = json{{"second", true}};
  txn.store_stage(a);
  EXPECT_EQ(a.version, 2);
  expect_unchanged(before);
  txn.commit();
  EXPECT_EQ(a.version, 2);
  const StageExecution stored = fetch("wf.a");
  EXPECT_EQ(stored.version, 2);
  EXPECT_EQ(stored.outputs.value(), (json{{"second", true}}));
  EXPECT_EQ(fetch("wf.b").version, 0);
}

TEST_F(TransactionTest, BadInputQueueOfAnotherStoreIsRejected) {
  // Queues are only compared, never used: any distinct addresses do.
  int own_storage = 0;
  int foreign_storage = 0;
  auto* own = reinterpret_cast<Queue*>(&own_storage);
  auto* foreign = reinterpret_cast<Queue*>(&foreign_storage);
  EXPECT_THAT([&] { (void)store().transaction(foreign); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("the queue belongs to another store")));
  ASSERT_TRUE(store_core(db()).attach_queue(own));
  EXPECT_THROW((void)store().transaction(foreign), InvalidArgumentError);
  {
    Transaction txn = store().transaction(own);
    txn.mark_message_processed("with-queue", "H", "wf");
    txn.commit();
  }
  EXPECT_TRUE(store().is_message_processed("with-queue"));
  store_core(db()).detach_queue(own);
  EXPECT_THROW((void)store().transaction(own), InvalidArgumentError);
}

}  // namespace
}  // namespace wfstore
