// Adversarial checks of the write path and the queue: the queue's public API
// against an independent in-memory model of docs/semantics.md §4 (FIFO by
// (deliver_at, id), attempts counted at poll, lease expiry redelivers,
// exhausted deliveries never polled but counted until the sweep, a message's
// own max_attempts wins, reschedule keeps attempts, replay a new delivery),
// across reopens that change the queue-wide max_attempts; failures injected at
// every point of a group; the background syncer making a lone buffered commit
// durable.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/maintenance.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"

#include "store/commit_pipeline.h"
#include "store/database_impl.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using testutil::TempDir;
using namespace std::chrono_literals;

using testutil::wait_until;

// --- the queue against a model of docs/semantics.md §4 -----------------------

struct ModelMessage {
  std::int64_t deliver_at = 0;
  int attempts = 0;
  std::optional<int> own_limit;
  std::optional<std::int64_t> lease_until;
  std::string task_id;
};

struct ModelLetter {
  ModelMessage message;
  std::string error;
};

// docs/semantics.md §4.3/4.4 with the store's one rule for limits (a message's
// own max_attempts wins, for the poll and the sweep alike).
class QueueModel {
 public:
  std::uint64_t push(std::int64_t now, std::int64_t delay,
                     std::optional<int> own, std::string task_id) {
    const std::uint64_t id = next_id_++;
    queue_[id] =
        ModelMessage{now + delay, 0, own, std::nullopt, std::move(task_id)};
    return id;
  }
  // The delivery a poll leases and the attempt it counts.
  std::optional<std::pair<std::uint64_t, int>> poll(std::int64_t now,
                                                    std::int64_t lease,
                                                    int queue_limit) {
    std::optional<std::pair<std::int64_t, std::uint64_t>> best;
    for (const auto& [id, m] : queue_) {
      if (m.deliver_at > now) continue;
      if (m.lease_until && *m.lease_until >= now) continue;
      if (m.attempts >= m.own_limit.value_or(queue_limit)) continue;
      const std::pair<std::int64_t, std::uint64_t> order{m.deliver_at, id};
      if (!best || order < *best) best = order;
    }
    if (!best) return std::nullopt;
    ModelMessage& m = queue_[best->second];
    ++m.attempts;
    m.lease_until = now + lease;
    return std::pair(best->second, m.attempts);
  }
  void ack(std::uint64_t id) { queue_.erase(id); }
  void reschedule(std::uint64_t id, std::int64_t now, std::int64_t delay) {
    auto it = queue_.find(id);
    if (it == queue_.end()) return;
    it->second.deliver_at = now + delay;
    it->second.lease_until.reset();
  }
  bool extend(std::uint64_t id, std::int64_t now, std::int64_t duration) {
    auto it = queue_.find(id);
    if (it == queue_.end()) return false;
    it->second.lease_until = now + duration;
    return true;
  }
  bool move_to_dlq(std::uint64_t id, std::string error) {
    auto it = queue_.find(id);
    if (it == queue_.end()) return false;
    dlq_[id] = ModelLetter{it->second, std::move(error)};
    queue_.erase(it);
    return true;
  }
  std::size_t sweep(int queue_limit) {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, m] : queue_) {
      if (m.attempts >= m.own_limit.value_or(queue_limit)) ids.push_back(id);
    }
    for (const std::uint64_t id : ids) {
      move_to_dlq(id, fmt::format("Exceeded max_attempts ({})",
                                  queue_.at(id).attempts));
    }
    return ids.size();
  }
  std::optional<std::uint64_t> replay(std::uint64_t id, std::int64_t now) {
    auto it = dlq_.find(id);
    if (it == dlq_.end()) return std::nullopt;
    ModelMessage m = it->second.message;
    dlq_.erase(it);
    const std::uint64_t new_id = next_id_++;
    m.attempts = 0;
    m.deliver_at = now;
    m.lease_until.reset();
    queue_[new_id] = m;
    return new_id;
  }
  void clear() { queue_.clear(); }
  std::size_t clear_dlq() {
    const std::size_t n = dlq_.size();
    dlq_.clear();
    return n;
  }
  bool has_task(const std::string& task_id) const {
    for (const auto& [id, m] : queue_) {
      if (m.task_id == task_id) return true;
    }
    return false;
  }
  std::size_t size() const { return queue_.size(); }
  std::size_t dlq_size() const { return dlq_.size(); }
  const std::map<std::uint64_t, ModelLetter>& dlq() const { return dlq_; }
  std::uint64_t next_id() const { return next_id_; }

 private:
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, ModelMessage> queue_;
  std::map<std::uint64_t, ModelLetter> dlq_;
};

TEST(ReviewQueueModelTest, QueueApiMatchesAModelOfSpecSection4AcrossReopens) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  auto pick = [&](std::uint32_t n) { return static_cast<int>(rng() % n); };
  const long steps = testutil::env_knob("WFSTORE_REVIEW_QUEUE_STEPS", 1500);
  constexpr std::int64_t kLease = 1000;

  TempDir dir;
  auto clock = std::make_shared<testutil::FakeClock>(1'700'000'000'000);
  QueueModel model;
  int queue_limit = 3;
  auto open = [&] {
    DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
    o.clock = clock;
    o.queue.lease_duration = std::chrono::milliseconds(kLease);
    o.queue.max_attempts = queue_limit;
    return Database::open(dir.path(), o);
  };
  auto db = open();
  auto queue = std::make_unique<Queue>(*db);
  auto some_id = [&]() -> std::uint64_t {
    return 1 + static_cast<std::uint64_t>(
                   pick(static_cast<std::uint32_t>(model.next_id()) + 1));
  };

  for (long step = 0; step < steps; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    clock->advance(pick(3) == 0 ? 0 : pick(700));
    const std::int64_t now = clock->now_ms();
    switch (pick(14)) {
      case 0:
      case 1:
      case 2: {
        const std::string task = "t-" + std::to_string(pick(10));
        Message message = testutil::run_task("wf", "stage", task);
        std::optional<int> own;
        if (pick(3) == 0) {
          own = 1 + pick(5);
          message_common(message).max_attempts = own;
        }
        const std::int64_t delay = pick(3) * 400;
        const std::uint64_t id =
            queue->push(message, std::chrono::milliseconds(delay));
        ASSERT_EQ(id, model.push(now, delay, own, task));
        break;
      }
      case 3:
      case 4:
      case 5: {
        const auto expected = model.poll(now, kLease, queue_limit);
        const std::optional<Delivery> got = queue->poll_one();
        ASSERT_EQ(got.has_value(), expected.has_value());
        if (got) {
          ASSERT_EQ(got->id, expected->first);
          ASSERT_EQ(got->attempts, expected->second);
        }
        break;
      }
      case 6: {
        const std::uint64_t id = some_id();
        queue->ack(id);
        model.ack(id);
        break;
      }
      case 7: {
        const std::uint64_t id = some_id();
        const std::int64_t delay = pick(3) * 300;
        queue->reschedule(id, std::chrono::milliseconds(delay));
        model.reschedule(id, now, delay);
        break;
      }
      case 8: {
        const std::uint64_t id = some_id();
        const std::int64_t duration = 1 + pick(2500);
        ASSERT_EQ(queue->extend_lock(id, std::chrono::milliseconds(duration)),
                  model.extend(id, now, duration));
        break;
      }
      case 9: {
        const std::uint64_t id = some_id();
        queue->move_to_dlq(id, "review");
        model.move_to_dlq(id, "review");
        break;
      }
      case 10:
        ASSERT_EQ(queue->check_and_move_expired(), model.sweep(queue_limit));
        break;
      case 11: {
        const std::uint64_t id = some_id();
        const std::optional<std::uint64_t> expected = model.replay(id, now);
        ASSERT_EQ(queue->replay_dlq(id), expected.has_value());
        break;
      }
      case 12:
        if (pick(15) == 0) {
          queue->clear();
          model.clear();
        } else if (pick(15) == 0) {
          ASSERT_EQ(queue->clear_dlq(), model.clear_dlq());
        }
        break;
      default:
        if (pick(8) == 0) {
          // Reopen with another queue-wide limit (deliveries keep theirs).
          queue.reset();
          db->close();
          db.reset();
          queue_limit = 1 + pick(5);
          db = open();
          queue = std::make_unique<Queue>(*db);
        }
        break;
    }
    ASSERT_EQ(queue->size(), model.size());
    ASSERT_EQ(queue->dlq_size(), model.dlq_size());
    const std::string task = "t-" + std::to_string(pick(10));
    ASSERT_EQ(queue->has_pending_message_for_task(task), model.has_task(task))
        << task;
    if (step % 50 == 0) {
      const std::vector<DeadLetter> letters = queue->list_dlq(1000);
      ASSERT_EQ(letters.size(), model.dlq_size());
      for (const DeadLetter& letter : letters) {
        const ModelLetter& expected = model.dlq().at(letter.id);
        EXPECT_EQ(letter.attempts, expected.message.attempts) << letter.id;
        EXPECT_EQ(letter.error, expected.error) << letter.id;
      }
    }
  }
  queue.reset();
  db->close();
  db.reset();
  const ViewsVerifyReport report = verify_store_views(dir.path());
  EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
}

// --- faults at every point of a group ---------------------------------------

enum class FaultKind { kSync, kWrite, kShortWrite };

// Three threads commit kSync marks while a fourth pushes, polls and acks
// (buffered leases, so the background syncer runs beside the leaders); the
// n-th log fdatasync or append fails. No kSync commit that started after the
// failing call began may succeed; after a power cut and a reopen every
// acknowledged mark is present and the views equal a rebuild.
void run_fault_point(FaultKind kind, std::uint64_t n) {
  SCOPED_TRACE(::testing::Message()
               << "fault " << static_cast<int>(kind) << " at call " << n);
  TempDir dir;
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  fs->set_real_syncs(false);
  DatabaseOptions o = testutil::quiet_options();
  o.file_system = fs;
  o.buffered_sync_interval = 1ms;
  auto db = Database::open(dir.path(), o);
  auto queue = std::make_unique<Queue>(*db);
  queue->push(testutil::start_workflow("wf-0"));

  std::atomic<bool> fault_begun{false};
  std::atomic<std::uint64_t> calls{0};
  const testutil::PathPredicate is_log = testutil::name_ends_with(".log");
  if (kind == FaultKind::kSync) {
    fs->set_sync_hook([&](const std::filesystem::path& path) {
      if (is_log(path) && ++calls == n) fault_begun = true;
    });
    fs->fail_nth_sync(n, is_log);
  } else if (kind == FaultKind::kWrite) {
    fs->fail_nth_write(n, is_log);
  } else {
    fs->short_write_nth(n, 7, is_log);
  }
  const std::uint64_t appends_before = fs->stats().appends;

  std::vector<std::vector<std::string>> acknowledged(3);
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 12; ++i) {
        const std::string id = fmt::format("m-{}-{}", t, i);
        const bool after_fault =
            fault_begun.load() || (kind != FaultKind::kSync &&
                                   fs->stats().appends - appends_before >= n);
        try {
          db->workflow_store().mark_message_processed(id, "handler", "wf-0");
          acknowledged[static_cast<std::size_t>(t)].push_back(id);
          if (after_fault) ++violations;
        } catch (const IOError&) {
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 12; ++i) {
      try {
        queue->push(testutil::start_workflow("wf-q"));
        if (std::optional<Delivery> d = queue->poll_one()) queue->ack(d->id);
      } catch (const IOError&) {
      }
    }
  });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0)
      << "kSync commits acknowledged after the failing call began";
  try {
    db->close();
  } catch (const IOError&) {
  }
  queue.reset();
  db.reset();
  fs->set_sync_hook({});
  fs->clear_faults();
  fs->power_cut(static_cast<std::uint32_t>(n));
  db = Database::open(dir.path(), o);
  for (const auto& ids : acknowledged) {
    for (const std::string& id : ids) {
      EXPECT_TRUE(db->workflow_store().is_message_processed(id)) << id;
    }
  }
  db->close();
  db.reset();
  const ViewsVerifyReport report = verify_store_views(dir.path());
  EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
}

TEST(ReviewWriteFaultTest, FailedLogSyncAtEveryPointAcknowledgesNothingAfter) {
  for (std::uint64_t n = 1; n <= 12 && !::testing::Test::HasFailure(); ++n) {
    run_fault_point(FaultKind::kSync, n);
  }
}

TEST(ReviewWriteFaultTest, FailedLogWriteAtEveryPointLosesNothingAcknowledged) {
  for (std::uint64_t n = 1; n <= 12 && !::testing::Test::HasFailure(); ++n) {
    run_fault_point(FaultKind::kWrite, n);
  }
}

TEST(ReviewWriteFaultTest, ShortLogWriteAtEveryPointLosesNothingAcknowledged) {
  for (std::uint64_t n = 1; n <= 12 && !::testing::Test::HasFailure(); ++n) {
    run_fault_point(FaultKind::kShortWrite, n);
  }
}

// A lone buffered commit becomes durable without any later commit: the
// background syncer, asleep while nothing is buffered, is woken by it.
TEST(ReviewWriteFaultTest, LoneBufferedCommitBecomesDurableWithoutMoreCommits) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  auto db = Database::open(dir.path(), o);
  for (int round = 0; round < 20; ++round) {
    db->workflow_store().mark_message_processed(fmt::format("b-{}", round), "h",
                                                "wf");
    const std::uint64_t applied = db->stats().applied_lsn;
    ASSERT_TRUE(wait_until([&] { return db->stats().durable_lsn >= applied; }))
        << "round " << round << ": durable " << db->stats().durable_lsn
        << " applied " << applied;
  }
  db->close();
}

// --- bad input --------------------------------------------------------------

// A clock that counts the calls made by one thread, so a test can tell when
// a blocking poll has looked once and passed its deadline check.
class ProbeClock final : public Clock {
 public:
  std::int64_t now_ms() override {
    if (std::this_thread::get_id() == watched_.load()) {
      const std::scoped_lock lock(mu_);
      ++calls_;
      cv_.notify_all();
    }
    return 1'700'000'000'000;
  }
  int calls() {
    const std::scoped_lock lock(mu_);
    return calls_;
  }
  void watch(std::thread::id id) {
    const std::scoped_lock lock(mu_);
    calls_ = 0;
    watched_ = id;
  }
  // Waits until the watched thread made `n` calls or `done` holds.
  template <typename Done>
  void wait_for_calls(int n, Done done) {
    std::unique_lock lock(mu_);
    while (calls_ < n && !done()) cv_.wait_for(lock, 1ms);
  }

 private:
  std::atomic<std::thread::id> watched_{};
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;  // Guarded by mu_.
};

// A quiet buffered store in `dir` timed by `clock`.
std::unique_ptr<Database> open_buffered(const TempDir& dir,
                                        std::shared_ptr<Clock> clock) {
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  o.clock = std::move(clock);
  return Database::open(dir.path(), o);
}

// A timeout as long as the duration type holds ("wait forever") waits for a
// delivery; it must not overflow the deadline into the past and return at
// once. The poller's thread reads the clock once leading its empty lease
// commit and once more only after its deadline check, before it waits.
TEST(ReviewQueueInputTest, PollWithTheLongestTimeoutWaitsForAPush) {
  TempDir dir;
  auto clock = std::make_shared<ProbeClock>();
  auto db = open_buffered(dir, clock);
  Queue queue(*db);
  for (const std::chrono::milliseconds timeout :
       {std::chrono::milliseconds::max(),
        std::chrono::milliseconds(std::chrono::hours(24 * 365 * 400))}) {
    std::optional<Delivery> got;
    std::atomic<bool> done{false};
    std::atomic<bool> watching{false};
    std::thread poller([&] {
      clock->watch(std::this_thread::get_id());
      watching = true;
      got = queue.poll_one(timeout);
      done = true;
    });
    while (!watching.load()) std::this_thread::yield();
    clock->wait_for_calls(2, [&] { return done.load(); });
    const std::uint64_t id = queue.push(testutil::start_workflow("wf"));
    poller.join();
    clock->watch(std::thread::id());
    ASSERT_TRUE(got.has_value())
        << "poll_one(" << timeout.count() << " ms) returned at once";
    EXPECT_EQ(got->id, id);
    queue.ack(id);
  }
  db->close();
}

// A delivery due at the end of time (a saturated delay) makes a blocking
// poll sleep until its timeout, not spin: the poller reads the clock a
// bounded number of times however long it waits.
TEST(ReviewQueueInputTest, PollBesideADeliveryDueAtTheEndOfTimeDoesNotSpin) {
  TempDir dir;
  auto clock = std::make_shared<ProbeClock>();
  auto db = open_buffered(dir, clock);
  Queue queue(*db);
  queue.push(testutil::start_workflow("wf"), std::chrono::milliseconds::max());
  std::optional<Delivery> got;
  std::atomic<bool> done{false};
  std::thread poller([&] {
    clock->watch(std::this_thread::get_id());
    got = queue.poll_one(300ms);
    done = true;
  });
  poller.join();
  EXPECT_FALSE(got.has_value());
  // One empty lease commit and one due-time read per look; a sleeping poll
  // looks once or twice (a spurious wake-up at most adds a look).
  EXPECT_LT(clock->calls(), 20);
  clock->watch(std::thread::id());
  db->close();
}

// The processor's sweeper with an interval as long as milliseconds holds
// never sweeps: its next sweep time saturates instead of overflowing into the
// past (which swept at once and then in a busy loop). An exhausted delivery
// stays queued while the processor runs. The bounded wait can only miss the
// bug under heavy load, never fail correct code.
TEST(ReviewQueueInputTest, ProcessorSweepEveryMaxIntervalNeverSweeps) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  o.queue.max_attempts = 1;
  auto db = Database::open(dir.path(), o);
  Queue queue(*db);
  queue.push(testutil::start_workflow("wf"));
  ASSERT_TRUE(queue.poll_one().has_value());  // attempts 1 of 1: exhausted
  QueueProcessorConfig config;
  config.max_workers = 1;
  config.poll_frequency = 5ms;
  config.dlq_check_interval = std::chrono::milliseconds::max();
  config.retention_sweep_interval = std::chrono::milliseconds::max();
  QueueProcessor processor(db->workflow_store(), queue, config);
  processor.start();
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until && queue.dlq_size() == 0) {
    std::this_thread::sleep_for(5ms);
  }
  processor.stop();
  EXPECT_EQ(queue.dlq_size(), 0U);
  EXPECT_EQ(processor.stats().dead_lettered, 0U);
  db->close();
}

// A lease as long as milliseconds holds: the heartbeat's interval (half of
// it) saturates, so a running handler's lease is never extended, rather than
// extended in a busy loop.
TEST(ReviewQueueInputTest, HeartbeatOfTheLongestLeaseDoesNotSpin) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  o.queue.lease_duration = std::chrono::milliseconds::max();
  auto db = Database::open(dir.path(), o);
  Queue queue(*db);
  queue.push(testutil::start_workflow("wf"));
  QueueProcessorConfig config;
  config.max_workers = 1;
  config.dlq_check_interval = 0ms;
  QueueProcessor processor(db->workflow_store(), queue, config);
  std::uint64_t extensions = 0;
  processor.register_handler("StartWorkflow", "h", [&](const Delivery&) {
    const std::uint64_t before = db->stats().commits;
    const auto until = std::chrono::steady_clock::now() + 300ms;
    while (std::chrono::steady_clock::now() < until &&
           db->stats().commits - before < 50) {
      std::this_thread::sleep_for(5ms);
    }
    extensions = db->stats().commits - before;
  });
  ASSERT_TRUE(processor.process_one());
  EXPECT_LT(extensions, 5U);
  db->close();
}

// --- close ------------------------------------------------------------------

// close() while a handler runs with its lease heartbeat beating: close does
// not wait for the handler (it is no commit), the heartbeat's extensions and
// the handler's mark and ack then throw IOError inside the processor (logged),
// stop() returns, and the Queue and processor are destroyed after close().
TEST(ReviewCloseTest, CloseDuringAHandlerWithAHeartbeatThenStopAndDestroy) {
  TempDir dir;
  testutil::Warnings warnings;
  DatabaseOptions o;
  o.durability = Durability::kBuffered;
  o.map_size = std::uint64_t{1} << 26;
  o.logger = warnings.logger();
  o.queue.lease_duration = 4ms;  // a heartbeat every 2 ms
  auto db = Database::open(dir.path(), o);
  auto queue = std::make_unique<Queue>(*db);
  queue->push(testutil::start_workflow("wf"));
  QueueProcessorConfig config;
  config.max_workers = 2;
  config.poll_frequency = 5ms;
  auto processor =
      std::make_unique<QueueProcessor>(db->workflow_store(), *queue, config);
  std::mutex mu;
  std::condition_variable cv;
  bool in_handler = false;
  bool closed = false;
  processor->register_handler("StartWorkflow", "h", [&](const Delivery&) {
    std::unique_lock lock(mu);
    in_handler = true;
    cv.notify_all();
    cv.wait(lock, [&] { return closed; });
  });
  processor->start();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_handler; });
  }
  db->close();
  {
    const std::scoped_lock lock(mu);
    closed = true;
  }
  cv.notify_all();
  processor->stop();
  EXPECT_EQ(processor->stats().handled, 0U);
  processor.reset();
  queue.reset();
  EXPECT_THROW(db->workflow_store().is_message_processed("1"), IOError);
  db.reset();
  // The delivery was neither acked nor marked: it is redelivered.
  o.logger = [](LogLevel, std::string_view) {};
  db = Database::open(dir.path(), o);
  Queue again(*db);
  EXPECT_EQ(again.size(), 1U);
  EXPECT_FALSE(db->workflow_store().is_message_processed("1"));
  db->close();
}

// --- listeners that call into the store -------------------------------------

// Runs `body` on a thread and waits up to a minute for it: a deadlock fails
// the test (and ends the process, whose thread can never be joined) instead of
// hanging the suite.
template <typename Body>
void expect_returns(Body body) {
  std::atomic<bool> done{false};
  std::thread runner([&] {
    body();
    done = true;
  });
  if (!wait_until([&] { return done.load(); })) {
    ADD_FAILURE() << "deadlock: the call did not return within a minute";
    std::fflush(nullptr);
    std::_Exit(1);
  }
  runner.join();
}

// A listener that commits, registers a listener or closes the store would
// wait for its own notice or its own commit: each throws IOError (logged by
// the pipeline, seen here by the listener), and the store stays usable.
TEST(ReviewListenerTest, ListenerCallingIntoItsStoreGetsAnErrorNotADeadlock) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  auto db = Database::open(dir.path(), o);
  std::atomic<int> which{0};
  std::vector<std::string> errors;
  std::mutex errors_mu;
  db->add_commit_listener([&](const CommitNotice&) {
    const int what = which.exchange(0);
    if (what == 0) return;
    try {
      if (what == 1) db->workflow_store().mark_message_processed("inner");
      if (what == 2) db->add_commit_listener([](const CommitNotice&) {});
      if (what == 3) db->close();
    } catch (const IOError& e) {
      const std::scoped_lock lock(errors_mu);
      errors.emplace_back(e.what());
    }
  });
  for (int what = 1; what <= 3; ++what) {
    which = what;
    expect_returns([&] {
      db->workflow_store().mark_message_processed(
          fmt::format("outer-{}", what));
    });
  }
  {
    const std::scoped_lock lock(errors_mu);
    ASSERT_EQ(errors.size(), 3U);
    for (const std::string& e : errors) {
      EXPECT_NE(e.find("commit listener"), std::string::npos) << e;
    }
  }
  // Nothing was committed or closed by the listener; the store goes on.
  EXPECT_FALSE(db->workflow_store().is_message_processed("inner"));
  db->workflow_store().mark_message_processed("after");
  EXPECT_TRUE(db->workflow_store().is_message_processed("outer-3"));
  db->close();
}

// buffered_sync_interval: a negative one is rejected at open; one as long as
// milliseconds holds means the syncer waits (close() still syncs), not that
// it syncs at once because the deadline overflowed. The bounded wait can only
// miss the bug under heavy load, never fail correct code.
TEST(ReviewWriteFaultTest, BufferedSyncIntervalIsValidatedAndSaturates) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
  o.buffered_sync_interval = -1ms;
  EXPECT_THROW(Database::open(dir.path(), o), InvalidArgumentError);
  o.buffered_sync_interval = std::chrono::milliseconds::max();
  auto db = Database::open(dir.path(), o);
  const std::uint64_t syncs = db->stats().fdatasyncs;
  db->workflow_store().mark_message_processed("b");
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until &&
         db->stats().fdatasyncs == syncs) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(db->stats().fdatasyncs, syncs);
  db->close();
  EXPECT_GT(db->stats().fdatasyncs, syncs);
}

// A logger that throws (a user callback, e.g. a binding's) never escapes
// the store's threads: a commit listener that throws makes the pipeline log,
// and the next groups still commit and notify (an escaping exception skipped
// the listener turn, so every later leader waited forever); the processor
// logs an unhandled message and goes on.
TEST(ReviewListenerTest, ThrowingLoggerNeitherDeadlocksCommitsNorEscapes) {
  TempDir dir;
  DatabaseOptions o;
  o.durability = Durability::kBuffered;
  o.map_size = std::uint64_t{1} << 26;
  std::atomic<int> logged{0};
  o.logger = [&](LogLevel, std::string_view) {
    ++logged;
    throw std::runtime_error("logger failed");
  };
  auto db = Database::open(dir.path(), o);
  std::atomic<int> notices{0};
  db->add_commit_listener([&](const CommitNotice&) {
    ++notices;
    throw std::runtime_error("listener failed");
  });
  for (int i = 0; i < 3; ++i) {
    expect_returns([&] {
      db->workflow_store().mark_message_processed(fmt::format("m-{}", i));
    });
  }
  EXPECT_EQ(notices.load(), 3);
  EXPECT_GE(logged.load(), 3);
  Queue queue(*db);
  queue.push(testutil::start_workflow("wf"));
  QueueProcessor processor(db->workflow_store(), queue);
  // No handler: logged, rescheduled, counted; the logger's throw stays inside.
  EXPECT_NO_THROW(processor.process_one());
  EXPECT_EQ(processor.stats().unhandled, 1U);
  expect_returns([&] { db->close(); });
}

// A store clock that throws (a user callback) rejects the group it was read
// for, with nothing appended; it is no failure of the log or the views, so
// the store stays usable. A throw of a non-standard type neither escapes the
// leader without waking its group nor leaves close() waiting.
class ThrowingClock final : public Clock {
 public:
  std::int64_t now_ms() override {
    const int mode = mode_.exchange(0);
    if (mode == 1) throw std::runtime_error("clock failed");
    if (mode == 2) throw 42;
    return 1'700'000'000'000;
  }
  void throw_next(int mode) { mode_ = mode; }

 private:
  std::atomic<int> mode_{0};
};

TEST(ReviewListenerTest, ThrowingClockRejectsTheGroupAndTheStoreGoesOn) {
  TempDir dir;
  auto clock = std::make_shared<ThrowingClock>();
  DatabaseOptions o = testutil::quiet_options();
  o.clock = clock;
  auto db = Database::open(dir.path(), o);
  clock->throw_next(1);
  EXPECT_ANY_THROW(db->workflow_store().mark_message_processed("a"));
  EXPECT_FALSE(db->workflow_store().is_message_processed("a"));
  db->workflow_store().mark_message_processed("b");
  clock->throw_next(2);
  expect_returns([&] {
    try {
      db->workflow_store().mark_message_processed("c");
    } catch (...) {
    }
  });
  db->workflow_store().mark_message_processed("d");
  EXPECT_TRUE(db->workflow_store().is_message_processed("d"));
  expect_returns([&] { db->close(); });
  const ViewsVerifyReport report = verify_store_views(dir.path());
  EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
}

// A commit whose decision throws something that is no std::exception is
// rejected alone, like any other exception of its decision (the README:
// "whatever the exception"), and the store goes on.
TEST(ReviewListenerTest, NonStandardExceptionDecidingACommitRejectsItAlone) {
  TempDir dir;
  DatabaseOptions o = testutil::quiet_options();
  auto db = Database::open(dir.path(), o);
  CommitPipeline& pipeline = *database_impl(*db).pipeline();
  std::atomic<bool> throw_next{true};
  pipeline.set_decide_hook_for_testing([&](const Command&) {
    if (throw_next.exchange(false)) throw 42;
  });
  expect_returns([&] {
    EXPECT_THROW(db->workflow_store().mark_message_processed("bad"),
                 InvalidArgumentError);
  });
  db->workflow_store().mark_message_processed("good");
  EXPECT_TRUE(db->workflow_store().is_message_processed("good"));
  EXPECT_FALSE(db->workflow_store().is_message_processed("bad"));
  db->close();
}

}  // namespace
}  // namespace wfstore
