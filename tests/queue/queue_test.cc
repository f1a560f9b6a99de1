// The Queue over a real store: the reference's queue and DLQ checklist
// (docs/semantics.md §10.7-10.8, items 46-64), the attempt accounting of
// docs/semantics.md §12 item 5, the blocking poll, failed appends and crashes,
// and bad input that must change nothing. Time is a fake store clock except
// where a test waits for real.

#include "wfstore/queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/limits.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/workflow_store.h"

#include "store/database_impl.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

using testutil::run_task;
using testutil::start_stage;
using testutil::start_workflow;

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testutil::FakeClock;
using namespace std::chrono_literals;

// 2024-06-01 12:00:00 UTC in epoch milliseconds.
constexpr std::int64_t kNow = 1'717'243'200'000;
constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kLeaseMs = 60'000;

// What bad input must leave unchanged: every view table and the log's size.
struct StoreState {
  testutil::TableDump tables;
  std::uint64_t log_bytes = 0;
  friend bool operator==(const StoreState& a, const StoreState& b) {
    return a.tables == b.tables && a.log_bytes == b.log_bytes;
  }
};

class QueueTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (verify_views_ && db_) {
      const ViewsVerifyReport report = verify_store_views(dir_.path());
      EXPECT_TRUE(report.equal())
          << ::testing::PrintToString(report.differences);
    }
    queue_.reset();
    if (db_) {
      try {
        db_->close();
      } catch (const IOError&) {
        // A test that failed the log on purpose.
      }
    }
  }

  // Rewrites delivery `id`'s record in the views behind the log (the test
  // must set verify_views_ = false).
  void rewrite_queue_record(
      std::uint64_t id,
      const std::function<void(records::QueueRecord&)>& change) {
    database_impl(db()).views().write([&](LmdbViews::WriteTxn& txn) {
      const std::string key = keys::encode_u64(id);
      records::QueueRecord record =
          records::decode_queue(*txn.get(Table::kQueueMessages, key));
      change(record);
      txn.put(Table::kQueueMessages, key, records::encode_queue(record));
    });
  }
  Database& db() {
    if (!db_) open();
    return *db_;
  }
  Queue& queue() {
    if (!db_) open();
    return *queue_;
  }
  // The next delivery, for tests that use it at once. When there is none
  // the test fails there (an exception gtest reports) instead of reading an
  // empty optional.
  Delivery polled() {
    std::optional<Delivery> delivery = queue().poll_one();
    if (!delivery) throw std::runtime_error("poll_one() found no delivery");
    return std::move(*delivery);
  }

  void open() {
    DatabaseOptions options = options_;
    if (options.clock == nullptr && !system_clock_) options.clock = clock_;
    options.file_system = fs_;
    options.logger = warnings_.logger();
    db_ = Database::open(dir_.path(), options);
    queue_ = std::make_unique<Queue>(*db_);
  }

  // `delivery` stays invisible for `invisible_ms` of the fake clock (polls
  // find nothing until then), then is polled again as its second attempt.
  void expect_polled_again_after(const Delivery& delivery,
                                 std::int64_t invisible_ms) {
    clock_->advance(invisible_ms - 1);
    EXPECT_FALSE(queue().poll_one());
    clock_->advance(1);
    const std::optional<Delivery> again = queue().poll_one();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->id, delivery.id);
    EXPECT_EQ(again->attempts, 2);
  }

  // Closes the store (tolerating a poisoned writer) and opens it again.
  void reopen() {
    queue_.reset();
    try {
      db_->close();
    } catch (const IOError&) {
      // The failed append poisoned the writer; the reopen recovers.
    }
    db_.reset();
    open();
  }

  // Drops the writer as a killed process would, then reopens.
  void crash_and_reopen() {
    queue_.reset();
    database_impl(*db_).simulate_crash_for_testing();
    db_.reset();
    open();
  }

  StoreState state() {
    return StoreState{testutil::dump_all(db()),
                      testutil::log_bytes(dir_.path())};
  }

  std::size_t warnings_containing(std::string_view text) const {
    std::size_t n = 0;
    for (const std::string& m : warnings_.messages()) {
      if (m.find(text) != std::string::npos) ++n;
    }
    return n;
  }

  testutil::TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  bool system_clock_ = false;
  DatabaseOptions options_;
  std::shared_ptr<FileSystem> fs_;
  testutil::Warnings warnings_;
  bool verify_views_ = true;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Queue> queue_;
};

// ---------------------------------------------------------------------------
// docs/semantics.md §10.7: the queue.

TEST_F(QueueTest, Item46PushPollAck) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  EXPECT_EQ(queue().size(), 1u);
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  EXPECT_EQ(delivery->id, id);
  EXPECT_EQ(delivery->message_id(), std::to_string(id));
  EXPECT_EQ(delivery->attempts, 1);
  ASSERT_TRUE(std::holds_alternative<StartWorkflow>(delivery->message));
  EXPECT_EQ(std::get<StartWorkflow>(delivery->message).execution_id, "wf-1");
  EXPECT_EQ(std::get<StartWorkflow>(delivery->message).execution_type,
            "PIPELINE");
  EXPECT_EQ(queue().size(), 1u);
  queue().ack(delivery->id);
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_FALSE(queue().poll_one());
}

TEST_F(QueueTest, Item46EnsureIsPushWithoutDedup) {
  const std::uint64_t a = queue().ensure(start_workflow("wf-1"));
  const std::uint64_t b = queue().ensure(start_workflow("wf-1"));
  EXPECT_NE(a, b);
  EXPECT_EQ(queue().size(), 2u);
}

TEST_F(QueueTest, Item47DelayedMessageCountsButIsNotPolled) {
  queue().push(start_workflow("wf-1"), std::chrono::milliseconds{kHourMs});
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(kHourMs - 1);
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(1);
  EXPECT_TRUE(queue().poll_one());
}

TEST_F(QueueTest, Item48OneSecondDelayIsPollableAfterOneAndAHalfSeconds) {
  queue().push(start_workflow("wf-1"), 1s);
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(1500);
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  EXPECT_EQ(std::get<StartWorkflow>(delivery->message).execution_id, "wf-1");
}

TEST_F(QueueTest, Item49FifoAcrossTypesAndEnumsByName) {
  queue().push(start_workflow("wf-1"));
  queue().push(start_stage("wf-1", "stage-1"));
  CompleteTask complete;
  complete.execution_id = "wf-1";
  complete.stage_id = "stage-1";
  complete.task_id = "task-1";
  queue().push(complete);
  std::optional<Delivery> first = queue().poll_one();
  std::optional<Delivery> second = queue().poll_one();
  std::optional<Delivery> third = queue().poll_one();
  ASSERT_TRUE(first && second && third);
  EXPECT_TRUE(std::holds_alternative<StartWorkflow>(first->message));
  EXPECT_TRUE(std::holds_alternative<StartStage>(second->message));
  ASSERT_TRUE(std::holds_alternative<CompleteTask>(third->message));
  EXPECT_EQ(std::get<CompleteTask>(third->message).status,
            WorkflowStatus::kSucceeded);
  EXPECT_EQ(third->message, Message{complete});
  EXPECT_FALSE(queue().poll_one());
}

TEST_F(QueueTest, Item50LeasedMessageIsInvisibleToASecondPoll) {
  queue().push(start_workflow("wf-1"));
  ASSERT_TRUE(queue().poll_one());
  EXPECT_FALSE(queue().poll_one());
  EXPECT_EQ(queue().size(), 1u);
}

TEST_F(QueueTest, Item51RescheduleHidesForTheDelayAndStillCounts) {
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  queue().reschedule(delivery->id, 10s);
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_FALSE(queue().poll_one());
  expect_polled_again_after(*delivery, 10'000);
}

TEST_F(QueueTest, Item52ClearAfterFivePushesEmptiesTheQueueOnly) {
  const std::uint64_t dead = queue().push(start_workflow("dead"));
  queue().move_to_dlq(dead, "boom");
  for (int i = 0; i < 5; ++i) queue().push(start_workflow("wf-1"));
  EXPECT_EQ(queue().size(), 5u);
  ASSERT_TRUE(queue().poll_one());
  queue().clear();
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_FALSE(queue().poll_one());
  EXPECT_EQ(queue().dlq_size(), 1u);
  // Clearing an empty queue appends nothing.
  const StoreState before = state();
  queue().clear();
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, Item53ExtendLockKeepsTheMessagePastTheOriginalLease) {
  options_.queue.lease_duration = 300ms;
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  clock_->advance(200);
  EXPECT_TRUE(queue().extend_lock(delivery->id, 1s));
  clock_->advance(500);  // past the original 300 ms lease
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(500);  // now + 1000 ms from the extension: still leased
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(1);
  const std::optional<Delivery> again = queue().poll_one();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
}

TEST_F(QueueTest, Item53ExtendLockDefaultsToTheLeaseDuration) {
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  clock_->advance(kLeaseMs - 10);
  EXPECT_TRUE(queue().extend_lock(delivery->id));
  clock_->advance(kLeaseMs);
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(1);
  EXPECT_TRUE(queue().poll_one());
}

TEST_F(QueueTest, Item54HasPendingMessageForTaskIsAnExactMatch) {
  const std::uint64_t id =
      queue().push(run_task("wf-1", "stage-1", "task-abc-123"), 1s);
  queue().push(start_stage("wf-1", "task-abc-123"));
  EXPECT_TRUE(queue().has_pending_message_for_task("task-abc-123"));
  EXPECT_FALSE(queue().has_pending_message_for_task("task-abc"));
  EXPECT_FALSE(queue().has_pending_message_for_task("task-abc-1234"));
  EXPECT_FALSE(queue().has_pending_message_for_task("unrelated"));
  EXPECT_FALSE(queue().has_pending_message_for_task(""));
  // Delayed and leased deliveries count; an acked one does not.
  clock_->advance(1000);
  queue().ack(polled().id);  // the StartStage
  const std::optional<Delivery> leased = queue().poll_one();
  ASSERT_TRUE(leased);
  EXPECT_EQ(leased->id, id);
  EXPECT_TRUE(queue().has_pending_message_for_task("task-abc-123"));
  queue().ack(id);
  EXPECT_FALSE(queue().has_pending_message_for_task("task-abc-123"));
}

// ---------------------------------------------------------------------------
// docs/semantics.md §10.8: the dead-letter queue.

TEST_F(QueueTest, Item55MoveToDlqWithTheDeliveryId) {
  const StartStage message = start_stage("wf-1", "stage-1");
  queue().push(message);
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  const std::uint64_t id = std::stoull(delivery->message_id());
  clock_->advance(5);
  queue().move_to_dlq(id, "Test error");
  const std::vector<DeadLetter> letters = queue().list_dlq();
  ASSERT_THAT(letters, SizeIs(1));
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(queue().dlq_size(), 1u);
  EXPECT_EQ(letters[0].id, id);
  EXPECT_EQ(letters[0].error, "Test error");
  EXPECT_EQ(letters[0].message_type, "StartStage");
  EXPECT_EQ(letters[0].message, Message{message});
  EXPECT_EQ(letters[0].attempts, 1);
  EXPECT_EQ(letters[0].moved_at, kNow + 5);
  EXPECT_FALSE(queue().poll_one());
}

TEST_F(QueueTest, Item55MoveToDlqDefaultError) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  queue().move_to_dlq(id);
  ASSERT_THAT(queue().list_dlq(), SizeIs(1));
  EXPECT_EQ(queue().list_dlq()[0].error, "Max attempts exceeded");
}

TEST_F(QueueTest, Item56FailedDeadLetterAppendLeavesTheMessageQueued) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  fs_ = fs;
  queue().push(start_stage("wf-1", "stage-1"));
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  fs->fail_nth_write(1, testutil::name_ends_with(".log"));
  EXPECT_THROW(queue().move_to_dlq(delivery->id, "Test error"), IOError);
  reopen();
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_EQ(queue().dlq_size(), 0u);
  EXPECT_TRUE(queue().list_dlq().empty());
  clock_->advance(kLeaseMs + 1);
  const std::optional<Delivery> again = queue().poll_one();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, delivery->id);
}

TEST_F(QueueTest, Item56FailedReplayAppendLeavesTheMessageDeadLettered) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  fs_ = fs;
  const std::uint64_t id = queue().push(start_stage("wf-1", "stage-1"));
  queue().move_to_dlq(id, "Test error");
  fs->fail_nth_write(1, testutil::name_ends_with(".log"));
  EXPECT_THROW(queue().replay_dlq(id), IOError);
  reopen();
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(queue().dlq_size(), 1u);
  EXPECT_FALSE(queue().poll_one());
  EXPECT_TRUE(queue().replay_dlq(id));
  EXPECT_EQ(queue().size(), 1u);
}

TEST_F(QueueTest, Item57ConcurrentMovesOfOneMessageMakeOneDeadLetter) {
  const std::uint64_t id = queue().push(start_stage("wf-1", "stage-1"));
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      queue().move_to_dlq(id, "Test error");
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(queue().dlq_size(), 1u);
  EXPECT_THAT(queue().list_dlq(), SizeIs(1));
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(warnings_containing("is not in the queue"),
            static_cast<std::size_t>(kThreads - 1));
}

TEST_F(QueueTest, Item58FiftyConcurrentMovesAllSucceed) {
  std::vector<std::uint64_t> ids;
  ids.reserve(50);
  for (int i = 0; i < 50; ++i) {
    ids.push_back(queue().push(start_workflow(std::to_string(i))));
  }
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  threads.reserve(ids.size());
  for (const std::uint64_t id : ids) {
    threads.emplace_back([&, id] {
      ready.fetch_add(1);
      while (ready.load() < 50) std::this_thread::yield();
      queue().move_to_dlq(id, "Test error");
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(queue().dlq_size(), 50u);
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(warnings_containing("is not in the queue"), 0u);
}

TEST_F(QueueTest, Item59UnknownIdsDoNotThrow) {
  queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_NO_THROW(queue().move_to_dlq(999999));
  EXPECT_EQ(warnings_containing("delivery 999999 is not in the queue"), 1u);
  EXPECT_FALSE(queue().replay_dlq(999999));
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, Item60ReplayDlqRequeuesAsANewDelivery) {
  const StartStage message = start_stage("wf-1", "stage-1");
  const std::uint64_t id = queue().push(message);
  ASSERT_TRUE(queue().poll_one());
  queue().move_to_dlq(id, "Test error");
  EXPECT_TRUE(queue().replay_dlq(id));
  EXPECT_EQ(queue().dlq_size(), 0u);
  EXPECT_EQ(queue().size(), 1u);
  const std::optional<Delivery> replayed = queue().poll_one();
  ASSERT_TRUE(replayed);
  EXPECT_NE(replayed->id, id);
  EXPECT_GT(replayed->id, id);
  EXPECT_EQ(replayed->attempts, 1);
  EXPECT_EQ(replayed->message, Message{message});
  // Replaying the same dead letter again finds nothing.
  EXPECT_FALSE(queue().replay_dlq(id));
}

// A dead letter whose stored record is damaged: replay_dlq reports the damage
// (CorruptionError, as every read of damaged views does) and the rejected
// commit appends nothing and changes no view.
TEST_F(QueueTest, ReplayOfADamagedDeadLetterIsCorruptionAndChangesNothing) {
  verify_views_ = false;  // The views are damaged on purpose.
  const std::uint64_t id = queue().push(start_stage("wf-1", "stage-1"));
  ASSERT_TRUE(queue().poll_one());
  queue().move_to_dlq(id, "Test error");
  database_impl(db()).views().write([&](LmdbViews::WriteTxn& txn) {
    const auto rows = dump_table(txn, Table::kDeadLetters);
    ASSERT_EQ(rows.size(), 1u);
    txn.put(Table::kDeadLetters, rows[0].first,
            rows[0].second.substr(0, rows[0].second.size() - 1));
  });
  const StoreState before = state();
  EXPECT_THROW(queue().replay_dlq(id), CorruptionError);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, Item61ClearDlqReturnsTheCount) {
  for (const int n : {3, 5}) {
    for (int i = 0; i < n; ++i) {
      queue().move_to_dlq(queue().push(start_workflow("wf-1")), "e");
    }
    EXPECT_EQ(queue().dlq_size(), static_cast<std::size_t>(n));
    EXPECT_EQ(queue().clear_dlq(), static_cast<std::size_t>(n));
    EXPECT_EQ(queue().dlq_size(), 0u);
  }
  const StoreState before = state();
  EXPECT_EQ(queue().clear_dlq(), 0u);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, Item62ListDlqFiltersByTypeNewestFirstWithALimit) {
  std::vector<std::uint64_t> stage_ids;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t id = queue().push(start_stage("wf-1", "s"));
    stage_ids.push_back(id);
    queue().move_to_dlq(id, "stage");
    clock_->advance(10);
    queue().move_to_dlq(queue().push(start_workflow("wf-1")), "workflow");
    clock_->advance(10);
  }
  const std::vector<DeadLetter> stages = queue().list_dlq(100, "StartStage");
  ASSERT_THAT(stages, SizeIs(3));
  for (const DeadLetter& letter : stages) {
    EXPECT_EQ(letter.message_type, "StartStage");
    EXPECT_TRUE(std::holds_alternative<StartStage>(letter.message));
  }
  EXPECT_EQ(stages[0].id, stage_ids[2]);
  EXPECT_EQ(stages[2].id, stage_ids[0]);
  EXPECT_THAT(queue().list_dlq(100, "StartWorkflow"), SizeIs(3));
  EXPECT_THAT(queue().list_dlq(100, "CompleteTask"), SizeIs(0));
  EXPECT_THAT(queue().list_dlq(), SizeIs(6));
  const std::vector<DeadLetter> two = queue().list_dlq(2);
  ASSERT_THAT(two, SizeIs(2));
  EXPECT_EQ(two[0].message_type, "StartWorkflow");
  EXPECT_EQ(two[1].id, stage_ids[2]);
}

TEST_F(QueueTest, Item63LargePayloadAndAwkwardErrorText) {
  JumpToStage message;
  message.execution_id = "wf-1";
  message.stage_id = "stage-1";
  message.jump_context = {{"blob", std::string(10'000, 'x')}};
  const std::uint64_t id = queue().push(message);
  const std::string error = "bad \"quote\" back\\slash\nnew line";
  queue().move_to_dlq(id, error);
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<DeadLetter> letters = queue().list_dlq();
    ASSERT_THAT(letters, SizeIs(1));
    EXPECT_EQ(letters[0].error, error);
    EXPECT_EQ(letters[0].message, Message{message});
    reopen();
  }
}

TEST_F(QueueTest, Item64CheckAndMoveExpiredMovesExhaustedDeliveries) {
  options_.queue.max_attempts = 1;
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  queue().push(start_workflow("untouched"), 1s);
  EXPECT_EQ(queue().check_and_move_expired(), 0u);
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  queue().reschedule(delivery->id, 0ms);
  EXPECT_FALSE(queue().poll_one());  // exhausted: never polled again
  EXPECT_GE(queue().check_and_move_expired(), 1u);
  EXPECT_EQ(queue().dlq_size(), 1u);
  EXPECT_EQ(queue().size(), 1u);
  const std::vector<DeadLetter> letters = queue().list_dlq();
  ASSERT_THAT(letters, SizeIs(1));
  EXPECT_EQ(letters[0].id, id);
  EXPECT_EQ(letters[0].error, "Exceeded max_attempts (1)");
  EXPECT_EQ(letters[0].attempts, 1);
}

TEST_F(QueueTest, Item64MessageMaxAttemptsWinsOverTheQueues) {
  StartWorkflow message = start_workflow("wf-1");
  message.max_attempts = 2;
  queue().push(message);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const std::optional<Delivery> delivery = queue().poll_one();
    ASSERT_TRUE(delivery);
    EXPECT_EQ(delivery->attempts, attempt);
    EXPECT_EQ(queue().check_and_move_expired(), attempt == 2 ? 1u : 0u);
    clock_->advance(kLeaseMs + 1);
  }
  EXPECT_EQ(queue().dlq_size(), 1u);
  ASSERT_THAT(queue().list_dlq(), SizeIs(1));
  EXPECT_EQ(queue().list_dlq()[0].error, "Exceeded max_attempts (2)");
}

// ---------------------------------------------------------------------------
// docs/semantics.md §12 item 5: attempt accounting.

TEST_F(QueueTest, Subtle5AttemptsIncrementAtPoll) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const std::optional<Delivery> delivery = queue().poll_one();
    ASSERT_TRUE(delivery);
    EXPECT_EQ(delivery->id, id);
    EXPECT_EQ(delivery->attempts, attempt);
    clock_->advance(kLeaseMs + 1);
  }
}

TEST_F(QueueTest, Subtle5RescheduleKeepsAttemptsAndClearsTheLease) {
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> first = queue().poll_one();
  ASSERT_TRUE(first);
  queue().reschedule(first->id, 0ms);
  const std::optional<Delivery> second = queue().poll_one();
  ASSERT_TRUE(second);  // the lease is gone at once
  EXPECT_EQ(second->attempts, 2);
  queue().reschedule(second->id, 0ms);
  EXPECT_EQ(polled().attempts, 3);
}

TEST_F(QueueTest, Subtle5ExhaustedDeliveriesAreInvisibleButCountedUntilSweep) {
  StartWorkflow message = start_workflow("wf-1");
  message.max_attempts = 2;
  queue().push(message);
  queue().push(start_workflow("later"), 10s);
  ASSERT_TRUE(queue().poll_one());
  clock_->advance(kLeaseMs + 1);
  ASSERT_TRUE(queue().poll_one());
  clock_->advance(kLeaseMs + 1);
  // Exhausted; only the delayed message is deliverable.
  const std::optional<Delivery> later = queue().poll_one();
  ASSERT_TRUE(later);
  EXPECT_EQ(std::get<StartWorkflow>(later->message).execution_id, "later");
  queue().ack(later->id);
  EXPECT_FALSE(queue().poll_one());
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_EQ(queue().check_and_move_expired(), 1u);
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_EQ(queue().dlq_size(), 1u);
}

TEST_F(QueueTest, Subtle5ExpiredLeaseRedeliversCountingAnotherAttempt) {
  options_.queue.lease_duration = 1s;
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> first = queue().poll_one();
  ASSERT_TRUE(first);
  // At 1000 ms lease_until == now: still leased.
  expect_polled_again_after(*first, 1001);
}

TEST_F(QueueTest, Subtle5ExtendLockRenewsTheLease) {
  options_.queue.lease_duration = 1s;
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> delivery = queue().poll_one();
  ASSERT_TRUE(delivery);
  for (int i = 0; i < 5; ++i) {
    clock_->advance(800);
    EXPECT_TRUE(queue().extend_lock(delivery->id));
    EXPECT_FALSE(queue().poll_one());
  }
  clock_->advance(1001);
  EXPECT_EQ(polled().attempts, 2);
}

TEST_F(QueueTest, Subtle5FifoByDeliverAtThenId) {
  const std::uint64_t a = queue().push(start_workflow("a"), 100ms);
  const std::uint64_t b = queue().push(start_workflow("b"));
  const std::uint64_t c = queue().push(start_workflow("c"));
  clock_->advance(50);
  const std::uint64_t d = queue().push(start_workflow("d"));
  clock_->advance(50);
  std::vector<std::uint64_t> order;
  while (std::optional<Delivery> delivery = queue().poll_one()) {
    order.push_back(delivery->id);
    if (delivery->id == b && delivery->attempts == 1) {
      queue().reschedule(b, 0ms);  // deliver_at now
    }
  }
  // b (kNow), c (kNow), d (kNow+50), a (kNow+100), b again (kNow+100, but a
  // larger id than a).
  EXPECT_EQ(order, (std::vector<std::uint64_t>{b, c, d, a, b}));
}

TEST_F(QueueTest, Subtle5ExpiredLeaseKeepsItsPlaceByDeliverAt) {
  options_.queue.lease_duration = 1s;
  const std::uint64_t a = queue().push(start_workflow("a"));
  ASSERT_EQ(polled().id, a);
  clock_->advance(10);
  const std::uint64_t b = queue().push(start_workflow("b"));
  clock_->advance(1000);
  // a's lease expired; its deliver_at (kNow) is before b's.
  EXPECT_EQ(polled().id, a);
  EXPECT_EQ(polled().id, b);
}

TEST_F(QueueTest, Subtle5AttemptsCountedAtPollSurviveAProcessCrash) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  ASSERT_EQ(polled().attempts, 1);
  ASSERT_EQ(options_.queue.lease_durability, Durability::kBuffered);
  crash_and_reopen();
  EXPECT_FALSE(queue().poll_one());  // still leased after the crash
  clock_->advance(kLeaseMs + 1);
  const std::optional<Delivery> again = queue().poll_one();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
}

// ---------------------------------------------------------------------------
// poll(callback), the blocking poll, payloads that no longer parse.

TEST_F(QueueTest, PollRunsTheCallbackThenAcks) {
  queue().push(start_workflow("wf-1"));
  std::string seen;
  EXPECT_TRUE(queue().poll([&](const Delivery& delivery) {
    seen = std::get<StartWorkflow>(delivery.message).execution_id;
  }));
  EXPECT_EQ(seen, "wf-1");
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_FALSE(queue().poll([](const Delivery&) { FAIL(); }));
}

TEST_F(QueueTest, PollCallbackExceptionLeavesTheMessageLeased) {
  queue().push(start_workflow("wf-1"));
  EXPECT_THROW(queue().poll([](const Delivery&) {
    throw std::runtime_error("handler failed");
  }),
               std::runtime_error);
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_FALSE(queue().poll_one());
  clock_->advance(kLeaseMs + 1);
  EXPECT_EQ(polled().attempts, 2);
}

TEST_F(QueueTest, BlockingPollIsWokenByAPushFromAnotherThread) {
  system_clock_ = true;
  open();
  std::thread pusher([&] {
    std::this_thread::sleep_for(100ms);
    queue().push(start_workflow("wf-1"));
  });
  const auto start = std::chrono::steady_clock::now();
  const std::optional<Delivery> delivery = queue().poll_one(60s);
  const auto waited = std::chrono::steady_clock::now() - start;
  pusher.join();
  ASSERT_TRUE(delivery);
  EXPECT_EQ(std::get<StartWorkflow>(delivery->message).execution_id, "wf-1");
  EXPECT_LT(waited, 30s);
}

TEST_F(QueueTest, BlockingPollIsWokenByDeliverAt) {
  system_clock_ = true;
  open();
  // deliver_at is at least this.
  const std::int64_t deliver_at = db().options().clock->now_ms() + 300;
  queue().push(start_workflow("wf-1"), 300ms);
  const auto start = std::chrono::steady_clock::now();
  const std::optional<Delivery> delivery = queue().poll_one(60s);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(delivery);
  EXPECT_GE(db().options().clock->now_ms(), deliver_at);
  EXPECT_LT(waited, 30s);
}

TEST_F(QueueTest, BlockingPollIsWokenByALeaseExpiry) {
  system_clock_ = true;
  options_.queue.lease_duration = 300ms;
  open();
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> first = queue().poll_one();
  ASSERT_TRUE(first);
  const auto start = std::chrono::steady_clock::now();
  const std::optional<Delivery> second = queue().poll_one(60s);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->attempts, 2);
  EXPECT_LT(waited, 30s);
}

TEST_F(QueueTest, BlockingPollIsWokenByAShortenedLease) {
  system_clock_ = true;
  open();
  queue().push(start_workflow("wf-1"));
  const std::optional<Delivery> first = queue().poll_one();  // 60 s lease
  ASSERT_TRUE(first);
  std::thread shortener([&] {
    std::this_thread::sleep_for(100ms);
    queue().extend_lock(first->id, 1ms);
  });
  // Without a wake-up on the extension the poll would sleep until the
  // original lease ends, past its timeout.
  const auto start = std::chrono::steady_clock::now();
  const std::optional<Delivery> second = queue().poll_one(20s);
  const auto waited = std::chrono::steady_clock::now() - start;
  shortener.join();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->attempts, 2);
  EXPECT_LT(waited, 15s);
}

// A clock that moves 1 ms forward on every read, so time passes between any
// two reads of one call.
class TickingClock final : public Clock {
 public:
  std::int64_t now_ms() override { return now_.fetch_add(1); }

 private:
  std::atomic<std::int64_t> now_{kNow};
};

TEST_F(QueueTest,
       BlockingPollFindsALeaseThatEndsBetweenItsPollAndItsDueLookup) {
  // A lease shortened to end a few ticks later ends, for some length, after
  // the blocking poll's own poll and before it looks up the next due time. A
  // lookup from the later time skips that lease and the poll sleeps until its
  // deadline; every length must be found at once.
  options_.clock = std::make_shared<TickingClock>();
  open();
  for (int ticks = 1; ticks <= 40; ++ticks) {
    SCOPED_TRACE(ticks);
    queue().push(start_workflow("wf-" + std::to_string(ticks)));
    const Delivery first = polled();  // the default 60 s lease
    ASSERT_TRUE(
        queue().extend_lock(first.id, std::chrono::milliseconds{ticks}));
    const auto start = std::chrono::steady_clock::now();
    const std::optional<Delivery> second = queue().poll_one(4s);
    const auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(second);
    EXPECT_EQ(second->id, first.id);
    EXPECT_LT(waited, 2s) << "the poll slept until its deadline";
    queue().ack(second->id);
  }
}

TEST_F(QueueTest, BlockingPollReturnsNothingAfterTheTimeoutWithoutBusyPolling) {
  system_clock_ = true;
  open();
  queue().push(start_workflow("later"), std::chrono::milliseconds{kHourMs});
  const std::uint64_t groups_before = db().stats().groups;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(queue().poll_one(300ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  // One lease attempt before the wait and at most a couple after it.
  EXPECT_LE(db().stats().groups - groups_before, 3u);
  EXPECT_FALSE(queue().poll_one(0ms));
}

TEST_F(QueueTest, BlockingPollWithAFakeClockStillTimesOut) {
  queue().push(start_workflow("later"), std::chrono::milliseconds{kHourMs});
  EXPECT_FALSE(queue().poll_one(100ms));
  queue().push(start_workflow("now"));
  EXPECT_TRUE(queue().poll_one(100ms));
}

TEST_F(QueueTest, UnparseablePayloadIsDeadLetteredAtPoll) {
  verify_views_ = false;  // the test rewrites a view record behind the log
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  rewrite_queue_record(id, [](records::QueueRecord& record) {
    record.message_type = "NoSuchType";
  });
  EXPECT_FALSE(queue().poll_one());
  EXPECT_EQ(queue().size(), 0u);
  const std::vector<DeadLetter> letters = queue().list_dlq();
  ASSERT_THAT(letters, SizeIs(1));
  EXPECT_EQ(letters[0].id, id);
  EXPECT_EQ(letters[0].message_type, "NoSuchType");
  EXPECT_EQ(letters[0].error,
            "Deserialization failed for message type: NoSuchType");
  EXPECT_EQ(letters[0].attempts, 1);
  EXPECT_EQ(letters[0].message, Message{});
}

// A damaged payload that nests arrays a million deep (a decode without the
// check first recursed once per level and overflowed the stack) is dead-
// lettered at poll like any payload that no longer parses.
TEST_F(QueueTest, DeeplyNestedDamagedPayloadIsDeadLetteredAtPoll) {
  verify_views_ = false;  // the test rewrites a view record behind the log
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  rewrite_queue_record(id, [](records::QueueRecord& record) {
    record.payload_cbor.assign(1'000'000, '\x81');
    record.payload_cbor.push_back('\x01');
  });
  EXPECT_FALSE(queue().poll_one());
  const std::vector<DeadLetter> letters = queue().list_dlq();
  ASSERT_THAT(letters, SizeIs(1));
  EXPECT_EQ(letters[0].id, id);
  EXPECT_THAT(letters[0].error, HasSubstr("Deserialization failed"));
  EXPECT_EQ(letters[0].message, Message{});
}

// Views written by a build of view schema 1, whose queue records had no task
// id, are rebuilt from the log when this build opens the store as its writer
// (and refused by a read-only open); the rebuilt records carry the task id, so
// acks and dead-letter moves remove the task index entries.
TEST_F(QueueTest, ViewsOfSchemaVersion1AreRebuiltOnOpen) {
  const std::uint64_t first = queue().push(run_task("wf-1", "s-1", "t-1"));
  queue().push(start_workflow("wf-2"));
  const std::uint64_t third = queue().push(run_task("wf-1", "s-1", "t-2"));
  ASSERT_EQ(polled().id, first);
  const testutil::TableDump before = testutil::dump_all(db(), false);
  database_impl(db()).views().write([&](LmdbViews::WriteTxn& txn) {
    std::vector<std::pair<std::string, std::string>> rows;
    txn.scan(Table::kQueueMessages, "", "",
             [&](std::string_view key, std::string_view value) {
               rows.emplace_back(key, value);
               return true;
             });
    ASSERT_THAT(rows, SizeIs(3));
    for (const auto& [key, value] : rows) {
      // Schema 1 ended at lease_until: drop the u32be size and the task id.
      const std::size_t task_bytes =
          records::decode_queue(value).task_id.size();
      txn.put(Table::kQueueMessages, key,
              value.substr(0, value.size() - 4 - task_bytes));
    }
    txn.put(Table::kMeta, kMetaSchemaVersion, keys::encode_u64(1));
  });
  queue_.reset();
  db_->close();
  db_.reset();

  DatabaseOptions options = options_;
  options.logger = warnings_.logger();
  const std::string reason =
      "view schema version 1 differs from this build's " +
      std::to_string(kViewSchemaVersion);
  EXPECT_THAT([&] { Database::open_read_only(dir_.path(), options); },
              ::testing::ThrowsMessage<CorruptionError>(HasSubstr(reason)));
  open();
  EXPECT_EQ(warnings_containing("rebuilding the views from the log: " + reason),
            1u)
      << ::testing::PrintToString(warnings_.messages());
  EXPECT_EQ(testutil::dump_all(db(), false), before);
  EXPECT_EQ(
      meta_u64(database_impl(db()).views().begin_read(), kMetaSchemaVersion),
      kViewSchemaVersion);
  EXPECT_TRUE(queue().has_pending_message_for_task("t-1"));
  queue().ack(first);
  EXPECT_FALSE(queue().has_pending_message_for_task("t-1"));
  EXPECT_TRUE(queue().has_pending_message_for_task("t-2"));
  queue().move_to_dlq(third, "boom");
  EXPECT_FALSE(queue().has_pending_message_for_task("t-2"));
  EXPECT_EQ(queue().size(), 1u);
  // A reopen of the rebuilt views rebuilds nothing.
  reopen();
  EXPECT_EQ(warnings_containing("rebuilding"), 1u);
}

TEST_F(QueueTest, LeasesAndAcksUseTheLeaseDurability) {
  options_.durability = Durability::kSync;
  options_.buffered_sync_interval = std::chrono::hours{1};
  for (const Durability lease : {Durability::kBuffered, Durability::kSync}) {
    options_.queue.lease_durability = lease;
    if (db_) reopen();
    const std::uint64_t syncs = db().stats().fdatasyncs;
    queue().push(start_workflow("wf-1"));
    EXPECT_EQ(db().stats().fdatasyncs, syncs + 1);  // the store's default
    const std::uint64_t id = polled().id;
    queue().extend_lock(id);
    queue().reschedule(id, 0ms);
    queue().ack(polled().id);
    const std::uint64_t lease_syncs = db().stats().fdatasyncs - syncs - 1;
    EXPECT_EQ(lease_syncs, lease == Durability::kSync ? 5u : 0u);
  }
}

TEST_F(QueueTest, DestroyingTheQueueDetachesIt) {
  queue().push(start_workflow("wf-1"));
  queue_.reset();
  db().workflow_store().mark_message_processed("m-1");  // no listener left
  queue_ = std::make_unique<Queue>(db());
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_EQ(&queue().database(), &db());
  EXPECT_EQ(queue().options().max_attempts, 10);
  EXPECT_EQ(queue().options().lease_duration, 60s);
}

// ---------------------------------------------------------------------------
// Bad input: a clear error or the documented no-op, and nothing changed.

TEST_F(QueueTest, BadInputNegativeDelays) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THAT(
      [&] { queue().push(start_workflow("wf-2"), -1ms); },
      ::testing::ThrowsMessage<InvalidArgumentError>(HasSubstr("delay")));
  EXPECT_THROW(queue().ensure(start_workflow("wf-2"), -1ms),
               InvalidArgumentError);
  EXPECT_THAT(
      [&] { queue().reschedule(id, -5ms); },
      ::testing::ThrowsMessage<InvalidArgumentError>(HasSubstr("delay")));
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputExtendLockWithoutAPositiveDuration) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  ASSERT_TRUE(queue().poll_one());
  const StoreState before = state();
  EXPECT_THAT([&] { queue().extend_lock(id, 0ms); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("lease duration")));
  EXPECT_THROW(queue().extend_lock(id, -1s), InvalidArgumentError);
  EXPECT_THROW(queue().extend_lock(999, 0ms), InvalidArgumentError);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputMessagesOverTheLimits) {
  queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THAT(
      [&] {
        queue().push(start_workflow(std::string(kMaxStringBytes + 1, 'x')));
      },
      ::testing::ThrowsMessage<InvalidArgumentError>(
          HasSubstr("execution_id")));
  StartWorkflow zero = start_workflow("wf-1");
  zero.max_attempts = 0;
  EXPECT_THROW(queue().push(zero), InvalidArgumentError);
  JumpToStage deep;
  deep.execution_id = "wf-1";
  nlohmann::json nested = 1;
  for (int i = 0; i < 200; ++i) nested = nlohmann::json::array({nested});
  deep.jump_context = {{"deep", nested}};
  EXPECT_THROW(queue().push(deep), InvalidArgumentError);
  StartWorkflow bad_utf8 = start_workflow("wf-\xff");
  EXPECT_THROW(queue().push(bad_utf8), InvalidArgumentError);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputUnknownTypesAndMalformedWireJson) {
  queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THAT(
      [] { message_from_wire_text("NoSuchType", "{}"); },
      ::testing::ThrowsMessage<InvalidArgumentError>(HasSubstr("NoSuchType")));
  EXPECT_THROW(message_from_wire_text("StartWorkflow", "{\"execution_id\":"),
               InvalidArgumentError);
  EXPECT_THROW(message_from_wire_text("StartWorkflow", "[]"),
               InvalidArgumentError);
  EXPECT_THROW(message_from_wire_text("StartWorkflow", "{\"bogus\": 1}"),
               InvalidArgumentError);
  EXPECT_THROW(
      message_from_wire_text("CompleteTask", "{\"status\": \"NOT_A_STATUS\"}"),
      InvalidArgumentError);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputSecondQueueForTheSameDatabase) {
  queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THAT([&] { Queue second(db()); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("already has a Queue")));
  EXPECT_EQ(state(), before);
  // The first queue is still attached and working.
  EXPECT_EQ(store_core(db()).queue(), queue_.get());
  EXPECT_TRUE(queue().poll_one());
}

TEST_F(QueueTest, BadInputQueueOnAReadOnlyStore) {
  queue().push(start_workflow("wf-1"));
  queue_.reset();
  db_->close();
  db_.reset();
  verify_views_ = false;
  std::unique_ptr<Database> read_only = Database::open_read_only(dir_.path());
  EXPECT_THROW(Queue queue(*read_only), IOError);
  EXPECT_EQ(store_core(*read_only).queue(), nullptr);
}

TEST_F(QueueTest, BadInputQueueOfAnotherStoreInATransaction) {
  testutil::TempDir other_dir;
  std::unique_ptr<Database> other = Database::open(other_dir.path());
  Queue other_queue(*other);
  queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THROW(db().workflow_store().transaction(&other_queue),
               InvalidArgumentError);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputUnknownDeliveryIds) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  queue().ack(polled().id);  // id is now finished
  queue().push(start_workflow("wf-2"));
  const StoreState before = state();
  for (const std::uint64_t unknown : {id, std::uint64_t{424242}}) {
    queue().ack(unknown);
    queue().reschedule(unknown, 1s);
    EXPECT_FALSE(queue().extend_lock(unknown));
    EXPECT_FALSE(queue().extend_lock(unknown, 5s));
    queue().move_to_dlq(unknown, "gone");
    EXPECT_FALSE(queue().replay_dlq(unknown));
  }
  EXPECT_EQ(warnings_containing("is not in the queue"), 2u);
  EXPECT_EQ(state(), before);
}

TEST_F(QueueTest, BadInputDeadLetterErrorIsTruncatedAtACharacterBoundary) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  std::string error;
  while (error.size() <= kMaxStringBytes) error += "\xE2\x82\xAC";  // "€"
  queue().move_to_dlq(id, error);
  const std::vector<DeadLetter> letters = queue().list_dlq();
  ASSERT_THAT(letters, SizeIs(1));
  // 341 whole 3-byte characters: 1023 bytes.
  EXPECT_EQ(letters[0].error.size(), 1023u);
  EXPECT_EQ(letters[0].error, error.substr(0, 1023));
}

TEST_F(QueueTest, BadInputDeadLetterErrorThatIsNotUtf8) {
  const std::uint64_t id = queue().push(start_workflow("wf-1"));
  const StoreState before = state();
  EXPECT_THAT(
      [&] { queue().move_to_dlq(id, "bad \xff byte"); },
      ::testing::ThrowsMessage<InvalidArgumentError>(HasSubstr("error")));
  EXPECT_EQ(state(), before);
  EXPECT_EQ(queue().size(), 1u);
}

}  // namespace
}  // namespace wfstore
