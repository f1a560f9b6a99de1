// The queue and processor under load and under crashes:
// - buffered durability, 8 producer threads and a processor with 8 workers
//   over WFSTORE_QUEUE_STRESS_MESSAGES messages (default 100,000): every
//   message handled, no delivery held by two workers at once, each message's
//   effect applied exactly once with the dedup ledger;
// - a poison message whose handler SIGKILLs its process (a real child,
//   restarted by the parent) reaches the DLQ after exactly max_attempts
//   deliveries, while the other messages are handled.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"
#include "wfstore/transaction.h"

#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using std::chrono::milliseconds;
using testutil::TempDir;

RunTask numbered(std::int64_t n) {
  RunTask m;
  m.execution_id = "stress";
  m.stage_id = "stress.s";
  m.task_id = "m" + std::to_string(n);
  m.task_type = "shell";
  return m;
}

std::int64_t number_of(const Delivery& delivery) {
  return std::stoll(std::get<RunTask>(delivery.message).task_id.substr(1));
}

TEST(ProcessorStressSlowTest, EightProducersEightWorkersExactlyOnce) {
  const long total =
      testutil::env_knob("WFSTORE_QUEUE_STRESS_MESSAGES", 100000);
  constexpr int kProducers = 8;
  constexpr int kWorkers = 8;
  std::printf("WFSTORE_QUEUE_STRESS_MESSAGES=%ld\n", total);
  const TempDir dir;
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  auto db = Database::open(dir.path(), options);
  Queue queue(*db);
  WorkflowStore& store = db->workflow_store();

  std::vector<std::atomic<int>> effects(static_cast<std::size_t>(total));
  std::atomic<long> effects_total{0};
  std::atomic<int> violations{0};
  std::mutex holders_mu;
  std::set<std::uint64_t> holders;

  QueueProcessorConfig config;
  config.max_workers = kWorkers;
  config.poll_frequency = milliseconds{20};
  config.dlq_check_interval = milliseconds{0};
  QueueProcessor processor(store, queue, config);
  processor.register_handler(
      "RunTask", "StressHandler", [&](const Delivery& d) {
        {
          std::scoped_lock lock(holders_mu);
          if (!holders.insert(d.id).second) ++violations;  // held twice at once
        }
        // The handler's effect and its dedup mark commit together; a rerun of a
        // marked message applies nothing.
        bool applied = false;
        run_transaction(store, &queue, [&](Transaction& txn) {
          applied = !store.is_message_processed(d.message_id());
          txn.mark_message_processed(d.message_id(), "StressHandler", "stress");
        });
        if (applied) {
          ++effects[static_cast<std::size_t>(number_of(d))];
          ++effects_total;
        }
        std::scoped_lock lock(holders_mu);
        holders.erase(d.id);
      });
  processor.start();

  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> producers;
  producers.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (long n = p; n < total; n += kProducers) queue.push(numbered(n));
    });
  }
  for (std::thread& t : producers) t.join();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::minutes{20};
  while (effects_total.load() < total &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds{20});
  }
  processor.stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  std::printf("%ld messages in %.1f s (%.0f/s)\n", total, seconds,
              static_cast<double>(total) / seconds);

  EXPECT_EQ(effects_total.load(), total);
  EXPECT_EQ(violations.load(), 0);
  long wrong = 0;
  for (long n = 0; n < total; ++n) {
    if (effects[static_cast<std::size_t>(n)].load() != 1) ++wrong;
  }
  EXPECT_EQ(wrong, 0) << "messages whose effect count is not 1";
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.dlq_size(), 0u);
  const QueueProcessorStats stats = processor.stats();
  EXPECT_EQ(stats.handled + stats.deduplicated,
            static_cast<std::uint64_t>(total));
  EXPECT_EQ(stats.failed, 0u);
}

constexpr int kPoisonMaxAttempts = 3;
constexpr milliseconds kPoisonLease{300};

// The child: a processor whose handler kills the process on the poison
// message. Exits 0 once the queue is empty and the poison is dead-lettered.
[[noreturn]] void run_poison_child(const std::filesystem::path& dir) {
  try {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    options.queue.max_attempts = kPoisonMaxAttempts;
    options.queue.lease_duration = kPoisonLease;
    auto db = Database::open(dir, options);
    {
      Queue queue(*db);
      WorkflowStore& store = db->workflow_store();
      QueueProcessorConfig config;
      config.max_workers = 2;
      config.poll_frequency = milliseconds{20};
      config.retry_delay = milliseconds{0};
      config.dlq_check_interval = milliseconds{50};
      QueueProcessor processor(store, queue, config);
      processor.register_handler("RunTask", "Normal", [&](const Delivery& d) {
        run_transaction(store, &queue, [&](Transaction& txn) {
          txn.mark_message_processed(d.message_id(), "Normal", "stress");
        });
      });
      processor.register_handler("StartStage", "Poison",
                                 [](const Delivery&) { raise(SIGKILL); });
      processor.start();
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds{60};
      while (!(queue.size() == 0 && queue.dlq_size() == 1)) {
        if (std::chrono::steady_clock::now() > deadline) _exit(3);
        std::this_thread::sleep_for(milliseconds{10});
      }
      processor.stop();
    }
    db->close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
    _exit(2);
  }
  _exit(0);
}

TEST(ProcessorStressSlowTest, PoisonMessageKillingItsConsumerReachesDlq) {
  const long normals =
      testutil::env_knob("WFSTORE_POISON_NORMAL_MESSAGES", 200);
  std::printf("WFSTORE_POISON_NORMAL_MESSAGES=%ld\n", normals);
  const TempDir dir;
  std::vector<std::uint64_t> normal_ids;
  std::uint64_t poison_id = 0;
  {
    DatabaseOptions options;
    options.queue.max_attempts = kPoisonMaxAttempts;
    auto db = Database::open(dir.path(), options);
    {
      Queue queue(*db);
      for (long n = 0; n < normals; ++n) {
        if (n == normals / 4) {
          StartStage poison;
          poison.execution_id = "poison";
          poison.stage_id = "poison.s";
          poison_id = queue.push(poison);
        }
        // A normal message may be in flight when the poison kills the
        // process; its own limit keeps it out of the DLQ.
        RunTask normal = numbered(n);
        normal.max_attempts = 100;
        normal_ids.push_back(queue.push(normal));
      }
    }
    db->close();
  }
  ASSERT_NE(poison_id, 0u);

  int killed = 0;
  bool finished = false;
  for (int run = 0; run < kPoisonMaxAttempts + 5 && !finished; ++run) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) run_poison_child(dir.path());
    int status = 0;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds{120};
    pid_t waited = 0;
    while ((waited = waitpid(pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds{10});
    }
    if (waited == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "run " << run << ": the child hung";
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++killed;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "run " << run << ": child status " << status;
      finished = true;
    }
  }
  std::printf("consumers killed by the poison message: %d\n", killed);
  ASSERT_TRUE(finished);
  // One killed consumer per delivery of the poison: attempts are counted at
  // poll and survive the crash, so the limit ends the cycle.
  EXPECT_EQ(killed, kPoisonMaxAttempts);

  DatabaseOptions options;
  options.queue.max_attempts = kPoisonMaxAttempts;
  auto db = Database::open(dir.path(), options);
  {
    Queue queue(*db);
    EXPECT_EQ(queue.size(), 0u);
    const std::vector<DeadLetter> dead = queue.list_dlq();
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].id, poison_id);
    EXPECT_EQ(dead[0].message_type, "StartStage");
    EXPECT_EQ(dead[0].attempts, kPoisonMaxAttempts);
    EXPECT_EQ(dead[0].error, "Exceeded max_attempts (3)");
    long unprocessed = 0;
    for (std::uint64_t id : normal_ids) {
      if (!db->workflow_store().is_message_processed(std::to_string(id))) {
        ++unprocessed;
      }
    }
    EXPECT_EQ(unprocessed, 0);
    EXPECT_FALSE(
        db->workflow_store().is_message_processed(std::to_string(poison_id)));
  }
  db->close();
}

}  // namespace
}  // namespace wfstore
