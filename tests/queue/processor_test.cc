// QueueProcessor (docs/semantics.md §4.5): dedup against the store across a
// restart (item 40), the lease heartbeat (item 53), the periodic DLQ sweep
// (item 65), handlers by type, unhandled types, graceful stop, config
// validation.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"

#include "tests/testutil/sample_messages.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using testutil::run_task;
using testutil::start_stage;

using std::chrono::milliseconds;
using testutil::TempDir;

// Polls `done` every few milliseconds for up to `limit` (generous: the
// machine is shared). Returns its last value.
bool wait_for(const std::function<bool()>& done,
              milliseconds limit = milliseconds{30000}) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds{5});
  }
  return done();
}

// The system clock plus an offset a test moves forward, as if that much time
// had passed, without waiting for it.
// While `throw_without_message` is set it throws an exception whose what()
// is null, as a caller's clock may.
class ShiftedClock final : public Clock {
 public:
  std::int64_t now_ms() override {
    if (throw_without_message.load()) throw testutil::NullMessageError();
    return system_->now_ms() + offset_ms.load();
  }
  std::atomic<std::int64_t> offset_ms{0};
  std::atomic<bool> throw_without_message{false};

 private:
  std::shared_ptr<Clock> system_ = system_clock();
};

class ProcessorTest : public ::testing::Test {
 protected:
  void open(QueueOptions queue_options = {}) {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    options.queue = queue_options;
    options.clock = clock_;
    options.logger = warnings_.logger();
    db_ = Database::open(dir_.path(), options);
    queue_ = std::make_unique<Queue>(*db_);
  }
  // Opens the store with max_attempts 3 and pushes one StartStage; returns
  // its delivery id.
  std::uint64_t open_with_one_failing_delivery() {
    QueueOptions options;
    options.max_attempts = 3;
    open(options);
    return queue().push(start_stage("w1", "w1.a"));
  }
  // A started processor of two workers (retry delay 10 ms, the DLQ sweep
  // every `dlq_check_interval`) whose StartStage handler always throws.
  std::unique_ptr<QueueProcessor> start_always_failing(
      milliseconds dlq_check_interval) {
    QueueProcessorConfig config;
    config.max_workers = 2;
    config.retry_delay = milliseconds{10};
    config.dlq_check_interval = dlq_check_interval;
    auto processor = std::make_unique<QueueProcessor>(store(), queue(), config);
    processor->register_handler("StartStage", "boom", [](const Delivery&) {
      throw std::runtime_error("always fails");
    });
    processor->start();
    return processor;
  }
  void close() {
    queue_.reset();
    db_->close();
    db_.reset();
  }
  void TearDown() override {
    if (db_) close();
  }

  WorkflowStore& store() { return db_->workflow_store(); }
  Queue& queue() { return *queue_; }

  TempDir dir_;
  std::shared_ptr<ShiftedClock> clock_ = std::make_shared<ShiftedClock>();
  testutil::Warnings warnings_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Queue> queue_;
};

// Item 40: a message marked processed (by the handler's own transaction)
// before a crash, and redelivered after the restart, is not executed again by
// a fresh processor; it is still acked.
TEST_F(ProcessorTest, Item40MarkedBeforeRestartIsNotReExecuted) {
  // The default 60 s lease: a short one could also lapse while the fresh
  // message's handler runs on a slow (sanitizer) build, and a second worker
  // would then run it again, as at-least-once delivery allows. The clock is
  // moved past the dead lease instead.
  const QueueOptions options;
  open(options);
  const std::uint64_t done_id = queue().push(start_stage("w1", "w1.a"));
  const std::uint64_t fresh_id = queue().push(start_stage("w1", "w1.b"));
  {
    // The first life: the handler committed its mark, then the process died
    // before the ack, so the delivery is still queued.
    const std::optional<Delivery> delivery = queue().poll_one();
    ASSERT_TRUE(delivery);
    ASSERT_EQ(delivery->id, done_id);
    store().mark_message_processed(delivery->message_id(), "StartStageHandler",
                                   "w1");
  }
  close();
  clock_->offset_ms += options.lease_duration.count() + 1;

  open(options);
  std::mutex mu;
  std::vector<std::string> executed;
  QueueProcessorConfig config;
  config.max_workers = 2;
  config.dlq_check_interval = milliseconds{0};
  QueueProcessor processor(store(), queue(), config);
  processor.register_handler("StartStage", "StartStageHandler",
                             [&](const Delivery& d) {
                               std::scoped_lock lock(mu);
                               executed.push_back(d.message_id());
                             });
  processor.start();
  EXPECT_TRUE(wait_for([&] { return queue().size() == 0; }));
  processor.stop();

  EXPECT_EQ(executed, std::vector<std::string>{std::to_string(fresh_id)});
  EXPECT_EQ(processor.stats().deduplicated, 1u);
  EXPECT_EQ(processor.stats().handled, 1u);
  EXPECT_TRUE(store().is_message_processed(std::to_string(fresh_id)));
}

// Item 40 on the calling thread: process_one() skips a processed id.
TEST_F(ProcessorTest, Item40ProcessOneSkipsProcessedIdAndAcks) {
  open();
  const std::uint64_t id = queue().push(start_stage("w1", "w1.a"));
  store().mark_message_processed(std::to_string(id));
  QueueProcessor processor(store(), queue());
  int calls = 0;
  processor.register_handler("StartStage", "h",
                             [&](const Delivery&) { ++calls; });
  EXPECT_TRUE(processor.process_one());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_FALSE(processor.process_one());
}

// With deduplication off the processed id runs again (the check above is
// what skipped it).
TEST_F(ProcessorTest, DeduplicationOffRunsProcessedIdAgain) {
  open();
  const std::uint64_t id = queue().push(start_stage("w1", "w1.a"));
  store().mark_message_processed(std::to_string(id));
  QueueProcessorConfig config;
  config.enable_deduplication = false;
  QueueProcessor processor(store(), queue(), config);
  int calls = 0;
  processor.register_handler("StartStage", "h",
                             [&](const Delivery&) { ++calls; });
  EXPECT_TRUE(processor.process_one());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(processor.stats().deduplicated, 0u);
}

// Runs one handler of 4x the lease under a processor with 3 workers; returns
// how often it was invoked.
int run_long_handler(Database& db, Queue& queue, bool heartbeat) {
  queue.push(start_stage("w1", "w1.a"));
  QueueProcessorConfig config;
  config.max_workers = 3;
  config.poll_frequency = milliseconds{20};
  config.enable_lock_heartbeat = heartbeat;
  config.dlq_check_interval = milliseconds{0};
  config.retry_delay = milliseconds{0};
  std::atomic<int> calls{0};
  std::atomic<int> finished{0};
  QueueProcessor processor(db.workflow_store(), queue, config);
  processor.register_handler("StartStage", "slow", [&](const Delivery&) {
    ++calls;
    std::this_thread::sleep_for(queue.options().lease_duration * 4);
    ++finished;
  });
  processor.start();
  EXPECT_TRUE(wait_for([&] { return finished.load() >= 1; }));
  // Time for a second delivery to start if the lease had lapsed.
  std::this_thread::sleep_for(queue.options().lease_duration * 2);
  processor.stop();
  return calls.load();
}

// Item 53 (second half): lease 1 s, a handler of 4 s, the heartbeat on: the
// message is invoked once. The heartbeat extends every half lease, so a beat
// may come up to 500 ms late (sanitizer builds on a loaded machine) before
// the lease lapses.
TEST_F(ProcessorTest, Item53HeartbeatKeepsLongHandlerSingle) {
  QueueOptions options;
  options.lease_duration = milliseconds{1000};
  open(options);
  EXPECT_EQ(run_long_handler(*db_, queue(), /*heartbeat=*/true), 1);
  EXPECT_EQ(queue().size(), 0u);
}

// The control: without the heartbeat the lease lapses and another worker
// takes the message while the first handler still runs.
TEST_F(ProcessorTest, Item53WithoutHeartbeatTheLeaseLapses) {
  QueueOptions options;
  options.lease_duration = milliseconds{1000};
  open(options);
  EXPECT_GE(run_long_handler(*db_, queue(), /*heartbeat=*/false), 2);
}

// A handler whose exception has no message (what() is null) fails that
// attempt like any other: the message is retried and then handled.
TEST_F(ProcessorTest, HandlerExceptionWithoutAMessageIsRetried) {
  open(QueueOptions());
  queue().push(start_stage("w1", "w1.a"));
  QueueProcessorConfig config;
  config.max_workers = 1;
  config.retry_delay = milliseconds{10};
  config.dlq_check_interval = milliseconds{0};
  QueueProcessor processor(store(), queue(), config);
  std::atomic<int> calls{0};
  processor.register_handler("StartStage", "StartStageHandler",
                             [&](const Delivery&) {
                               if (calls.fetch_add(1) == 0)
                                 throw testutil::NullMessageError();
                             });
  processor.start();
  EXPECT_TRUE(wait_for([&] { return queue().size() == 0; }));
  processor.stop();
  EXPECT_EQ(processor.stats().failed, 1u);
  EXPECT_EQ(processor.stats().handled, 1u);
}

// A clock whose exception has no message (what() is null) fails the
// workers' polls, which log it as "(no message)" and go on: formatting the
// null message threw inside a worker, and the process terminated.
TEST_F(ProcessorTest, ClockExceptionWithoutAMessageIsLoggedAndPollsGoOn) {
  open(QueueOptions());
  QueueProcessorConfig config;
  config.max_workers = 1;
  config.poll_frequency = milliseconds{5};
  config.dlq_check_interval = milliseconds{0};
  QueueProcessor processor(store(), queue(), config);
  std::atomic<int> handled{0};
  processor.register_handler("StartStage", "StartStageHandler",
                             [&](const Delivery&) { handled.fetch_add(1); });
  clock_->throw_without_message = true;
  processor.start();
  EXPECT_TRUE(wait_for(
      [&] { return warnings_.contains("queue poll failed: (no message)"); }));
  clock_->throw_without_message = false;
  queue().push(start_stage("w1", "w1.a"));
  EXPECT_TRUE(wait_for([&] { return handled.load() == 1; }));
  processor.stop();
  EXPECT_EQ(queue().size(), 0u);
}

// Item 65: a handler that always throws: attempts are kept across the
// reschedules, and the periodic sweep moves the message to the DLQ.
TEST_F(ProcessorTest, Item65AlwaysThrowingHandlerReachesDlqBySweep) {
  const std::uint64_t id = open_with_one_failing_delivery();
  const std::unique_ptr<QueueProcessor> processor =
      start_always_failing(milliseconds{50});
  EXPECT_TRUE(wait_for([&] { return queue().dlq_size() == 1; }));
  processor->stop();

  EXPECT_EQ(queue().size(), 0u);
  const std::vector<DeadLetter> dead = queue().list_dlq();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, id);
  EXPECT_EQ(dead[0].attempts, 3);
  EXPECT_EQ(dead[0].error, "Exceeded max_attempts (3)");
  EXPECT_EQ(processor->stats().failed, 3u);
  EXPECT_EQ(processor->stats().dead_lettered, 1u);
  EXPECT_FALSE(store().is_message_processed(std::to_string(id)));
}

// Item 65: with the sweep disabled the exhausted message stays queued.
TEST_F(ProcessorTest, Item65WithoutSweepTheMessageStays) {
  open_with_one_failing_delivery();
  const std::unique_ptr<QueueProcessor> processor =
      start_always_failing(milliseconds{0});
  EXPECT_TRUE(wait_for([&] { return processor->stats().failed == 3; }));
  std::this_thread::sleep_for(milliseconds{300});
  processor->stop();
  EXPECT_EQ(processor->stats().failed, 3u);
  EXPECT_GE(queue().size(), 1u);
  EXPECT_EQ(queue().dlq_size(), 0u);
}

// A handler exception reschedules after retry_delay and keeps the attempts.
TEST_F(ProcessorTest, HandlerExceptionReschedulesAfterRetryDelay) {
  open();
  queue().push(start_stage("w1", "w1.a"));
  QueueProcessorConfig config;
  config.retry_delay = std::chrono::hours{1};
  QueueProcessor processor(store(), queue(), config);
  processor.register_handler("StartStage", "boom", [](const Delivery&) {
    throw std::runtime_error("fails");
  });
  EXPECT_TRUE(processor.process_one());
  EXPECT_EQ(processor.stats().failed, 1u);
  EXPECT_EQ(queue().size(), 1u);
  EXPECT_FALSE(queue().poll_one());  // due in an hour
}

// Each message goes to the handler of its type; the mark records the
// handler after it returns.
TEST_F(ProcessorTest, HandlersByType) {
  open();
  const std::uint64_t a = queue().push(start_stage("w1", "w1.a"));
  const std::uint64_t b = queue().push(run_task("w2", "w2.s", "w2.s.t0"));
  QueueProcessor processor(store(), queue());
  std::vector<std::string> seen;
  processor.register_handler(
      "StartStage", "StartStageHandler", [&](const Delivery& d) {
        ASSERT_TRUE(std::holds_alternative<StartStage>(d.message));
        seen.push_back("stage:" + d.message_id());
      });
  processor.register_handler("RunTask", "RunTaskHandler",
                             [&](const Delivery& d) {
                               const auto& m = std::get<RunTask>(d.message);
                               EXPECT_EQ(m.task_id, "w2.s.t0");
                               seen.push_back("task:" + d.message_id());
                             });
  EXPECT_TRUE(processor.process_one());
  EXPECT_TRUE(processor.process_one());
  EXPECT_FALSE(processor.process_one());
  EXPECT_EQ(seen, (std::vector<std::string>{"stage:" + std::to_string(a),
                                            "task:" + std::to_string(b)}));
  EXPECT_TRUE(store().is_message_processed(std::to_string(a)));
  EXPECT_TRUE(store().is_message_processed(std::to_string(b)));
  EXPECT_EQ(processor.stats().handled, 2u);
  EXPECT_EQ(queue().size(), 0u);
}

// A type with no handler is rescheduled and logged; it cycles until its
// attempts run out, and the sweep moves it to the DLQ.
TEST_F(ProcessorTest, UnhandledTypeCyclesToDlq) {
  QueueOptions options;
  options.max_attempts = 2;
  open(options);
  const std::uint64_t id = queue().push(run_task("w1", "w1.s", "w1.s.t0"));
  QueueProcessorConfig config;
  config.retry_delay = milliseconds{0};
  config.dlq_check_interval = milliseconds{20};
  QueueProcessor processor(store(), queue(), config);
  processor.register_handler("StartStage", "h", [](const Delivery&) {});
  processor.start();
  EXPECT_TRUE(wait_for([&] { return queue().dlq_size() == 1; }));
  processor.stop();
  EXPECT_EQ(processor.stats().unhandled, 2u);
  EXPECT_EQ(processor.stats().handled, 0u);
  EXPECT_EQ(queue().list_dlq().at(0).id, id);
  EXPECT_TRUE(
      warnings_.contains("no handler registered for message type "
                         "RunTask"));
}

// stop() waits for a running handler, which is then marked and acked.
TEST_F(ProcessorTest, GracefulStopLetsRunningHandlerFinish) {
  open();
  const std::uint64_t id = queue().push(start_stage("w1", "w1.a"));
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  QueueProcessorConfig config;
  config.max_workers = 2;
  QueueProcessor processor(store(), queue(), config);
  processor.register_handler("StartStage", "h", [&](const Delivery&) {
    entered = true;
    std::this_thread::sleep_for(milliseconds{300});
    finished = true;
  });
  processor.start();
  ASSERT_TRUE(wait_for([&] { return entered.load(); }));
  processor.stop();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(queue().size(), 0u);
  EXPECT_TRUE(store().is_message_processed(std::to_string(id)));
  EXPECT_EQ(processor.stats().handled, 1u);
  processor.stop();  // idempotent
  // No polls after stop: a new message stays queued.
  queue().push(start_stage("w1", "w1.b"));
  std::this_thread::sleep_for(milliseconds{100});
  EXPECT_EQ(queue().size(), 1u);
}

// The retention sweep deletes old dedup marks.
TEST_F(ProcessorTest, RetentionSweepDeletesOldMarks) {
  open();
  store().mark_message_processed("old-1");
  QueueProcessorConfig config;
  config.dlq_check_interval = milliseconds{0};
  config.retention_sweep_interval = milliseconds{20};
  config.processed_messages_max_age = milliseconds{1};
  QueueProcessor processor(store(), queue(), config);
  processor.start();
  EXPECT_TRUE(wait_for([&] { return !store().is_message_processed("old-1"); }));
  processor.stop();
}

// Bad configuration and registrations: InvalidArgumentError naming the
// field.
TEST_F(ProcessorTest, ConfigValidation) {
  open();

  // A default configuration with `edit` applied must be rejected, naming
  // `field`.
  const auto expect_invalid = [&](auto edit, const std::string& field) {
    QueueProcessorConfig config;
    edit(config);
    try {
      QueueProcessor processor(store(), queue(), config);
      ADD_FAILURE() << "no error for " << field;
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos)
          << e.what();
    }
  };
  using Config = QueueProcessorConfig;
  expect_invalid([](Config& c) { c.max_workers = 0; }, "max_workers");
  expect_invalid([](Config& c) { c.max_workers = 100000; }, "max_workers");
  expect_invalid([](Config& c) { c.poll_frequency = milliseconds{0}; },
                 "poll_frequency");
  expect_invalid([](Config& c) { c.retry_delay = milliseconds{-1}; },
                 "retry_delay");
  expect_invalid([](Config& c) { c.dlq_check_interval = milliseconds{-5}; },
                 "dlq_check_interval");
  expect_invalid(
      [](Config& c) { c.retention_sweep_interval = milliseconds{-1}; },
      "retention_sweep_interval");
  expect_invalid(
      [](Config& c) { c.processed_messages_max_age = milliseconds{-1}; },
      "processed_messages_max_age");

  QueueProcessor processor(store(), queue());
  EXPECT_THROW(
      processor.register_handler("NoSuchMessage", "h", [](const Delivery&) {}),
      InvalidArgumentError);
  EXPECT_THROW(processor.register_handler("StartStage", "h", nullptr),
               InvalidArgumentError);
  processor.register_handler("StartStage", "h", [](const Delivery&) {});
  QueueProcessorConfig idle;
  idle.dlq_check_interval = milliseconds{0};
  {
    QueueProcessor started(store(), queue(), idle);
    started.start();
    EXPECT_THROW(started.start(), InvalidArgumentError);
    EXPECT_THROW(
        started.register_handler("StartStage", "h", [](const Delivery&) {}),
        InvalidArgumentError);
    started.stop();
  }
}

// The same validation changes nothing in the store (checked before any
// processor runs).
TEST_F(ProcessorTest, BadConfigChangesNothing) {
  open();
  queue().push(start_stage("w1", "w1.a"));
  const testutil::TableDump before = testutil::dump_all(*db_);
  const std::uint64_t log_before = testutil::log_bytes(dir_.path());
  QueueProcessorConfig c;
  c.max_workers = -1;
  EXPECT_THROW(QueueProcessor(store(), queue(), c), InvalidArgumentError);
  QueueProcessor processor(store(), queue());
  EXPECT_THROW(processor.register_handler("Bogus", "h", [](const Delivery&) {}),
               InvalidArgumentError);
  EXPECT_EQ(testutil::dump_all(*db_), before);
  EXPECT_EQ(testutil::log_bytes(dir_.path()), log_before);
}

// A store that is not the queue's is rejected.
TEST_F(ProcessorTest, StoreOfAnotherDatabaseIsRejected) {
  open();
  const TempDir other_dir;
  auto other = Database::open(other_dir.path());
  EXPECT_THROW(QueueProcessor(other->workflow_store(), queue()),
               InvalidArgumentError);
  other->close();
}

}  // namespace
}  // namespace wfstore
