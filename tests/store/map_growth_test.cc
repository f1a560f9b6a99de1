// Growing the views' LMDB map (docs/read-models.md): growth waits for
// every transaction of the process, so nothing may hold one while it waits for
// a commit. An open Transaction holds no snapshot between operations, a
// thread's own snapshot makes growth (and a commit) fail instead of waiting
// for itself, and the growth ahead of need never waits for a snapshot. Each
// test runs under a watchdog that fails the binary, rather than hanging it,
// when a commit deadlocks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "projector/lmdb.h"
#include "store/database_impl.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Ends the process with a message when not disarmed within `bound`: a
// deadlocked commit fails the test binary instead of hanging it.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds bound = std::chrono::seconds{120})
      : thread_([this, bound] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, bound, [this] { return done_; })) {
            std::fprintf(stderr,
                         "watchdog: %s did not finish within %lld s: a "
                         "commit is deadlocked on map growth\n",
                         name_.c_str(), static_cast<long long>(bound.count()));
            std::fflush(stderr);
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::scoped_lock lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  const std::string name_ =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class MapGrowthTest : public ::testing::Test {
 protected:
  MapGrowthTest() {
    DatabaseOptions options;
    options.map_size = std::uint64_t{1} << 20;  // 1 MiB: growth comes soon
    options.durability = Durability::kBuffered;
    db_ = Database::open(dir_.path(), options);
    store().store(testutil::full_workflow("base"));
  }

  WorkflowStore& store() { return db_->workflow_store(); }
  LmdbViews& views() { return database_impl(*db_).views(); }
  std::uint64_t map_size() { return views().map_size(); }

  // Stores workflows until the map is at least `factor` times `initial`.
  // Returns how many it stored.
  int store_until_grown(std::uint64_t initial, std::uint64_t factor) {
    int stored = 0;
    while (map_size() < initial * factor && stored < 5000) {
      store().store(
          testutil::full_workflow(fmt::format("grow-{}", next_workflow_++)));
      ++stored;
    }
    return stored;
  }

  StageExecution first_stage() {
    const Workflow base = store().retrieve("base");
    return store().retrieve_stage(base.stages.front().id).stage();
  }

  testutil::TempDir dir_;
  std::unique_ptr<Database> db_;
  int next_workflow_ = 0;
};

TEST_F(MapGrowthTest, OpenTransactionLetsItsOwnThreadsCommitsGrowTheMap) {
  const Watchdog watchdog;
  const std::uint64_t initial = map_size();
  StageExecution stage = first_stage();
  Transaction txn = store().transaction();
  txn.store_stage(stage);
  txn.push_message(testutil::start_stage("base", stage.id));
  // Non-transactional commits of the same thread while the transaction is
  // open, until the map has doubled twice.
  store_until_grown(initial, 4);
  EXPECT_GE(map_size(), initial * 4);
  EXPECT_NO_THROW(txn.commit());
  EXPECT_EQ(first_stage().version, stage.version);
}

TEST_F(MapGrowthTest, LongTransactionOnAnotherThreadDoesNotStallGrowth) {
  const Watchdog watchdog;
  const std::uint64_t initial = map_size();
  std::latch opened(1);
  std::latch grown(1);
  StageExecution stage = first_stage();
  bool committed = false;
  std::thread long_running([&] {
    Transaction txn = store().transaction();
    txn.store_stage(stage);
    txn.mark_message_processed("long-1", "Long", "base");
    opened.count_down();
    // The transaction stays open until the other thread's commits have
    // grown the map.
    grown.wait();
    txn.push_message(testutil::start_stage("base", stage.id));
    txn.commit();
    committed = true;
  });
  opened.wait();
  store_until_grown(initial, 4);
  EXPECT_GE(map_size(), initial * 4);
  grown.count_down();
  long_running.join();
  EXPECT_TRUE(committed);
  EXPECT_TRUE(store().is_message_processed("long-1"));
  EXPECT_EQ(first_stage().version, stage.version);
}

TEST_F(MapGrowthTest, SnapshotOfThisThreadMakesGrowthAndCommitsFailNotHang) {
  const Watchdog watchdog;
  const std::uint64_t initial = map_size();
  {
    const LmdbViews::Snapshot snapshot = views().begin_read();
    EXPECT_EQ(views().transactions_held_by_this_thread(), 1);
    EXPECT_THAT([&] { views().grow_map(initial); },
                ThrowsMessage<IOError>(HasSubstr("this thread holds")));
    EXPECT_THAT([&] { store().store(testutil::full_workflow("held")); },
                ThrowsMessage<IOError>(HasSubstr("holds a views snapshot")));
    // Reads of the same thread still work (a second snapshot).
    EXPECT_FALSE(store().exists("held"));
  }
  EXPECT_EQ(views().transactions_held_by_this_thread(), 0);
  EXPECT_EQ(map_size(), initial);
  views().grow_map(initial);
  EXPECT_EQ(map_size(), initial * 2);
  store().store(testutil::full_workflow("held"));
  EXPECT_TRUE(store().exists("held"));
}

TEST_F(MapGrowthTest,
       SnapshotOnAnotherThreadDoesNotStallCommitsPastHalfTheMap) {
  const Watchdog watchdog;
  // The views' environment, shared with the store (one per directory per
  // process), for its used size.
  const std::shared_ptr<lmdb::Env> env = lmdb::Env::open(
      database_impl(*db_).store_dir().views_dir(), lmdb::EnvOptions{});
  const std::uint64_t initial = map_size();
  std::latch held(1);
  std::latch done(1);
  std::thread reader([&] {
    const LmdbViews::Snapshot snapshot = views().begin_read();
    held.count_down();
    done.wait();
  });
  held.wait();
  // Small commits past half the map, where every write would like to grow
  // it, while the other thread's snapshot is open: none waits for it.
  int commits = 0;
  while (env->used_size() <= initial / 2 && commits < 5000) {
    store().mark_message_processed(fmt::format("m-{}", commits++));
  }
  for (int i = 0; i < 3; ++i) {
    store().mark_message_processed(fmt::format("m-{}", commits++));
  }
  EXPECT_GT(env->used_size(), initial / 2);
  EXPECT_EQ(map_size(), initial);  // growth skipped while the snapshot lives
  done.count_down();
  reader.join();
  // With the snapshot gone the next commit grows the map ahead of need.
  store().mark_message_processed("after");
  EXPECT_EQ(map_size(), initial * 2);
}

TEST_F(MapGrowthTest, RangeIterationLetsCommitsGrowTheMapBetweenItems) {
  const Watchdog watchdog;
  for (int i = 0; i < 3; ++i) {
    store().store(testutil::full_workflow(fmt::format("listed-{}", i)));
  }
  const std::string application =
      store().retrieve_execution_summary("base").application;
  const std::uint64_t initial = map_size();
  int seen = 0;
  // Each item is loaded in its own snapshot: none is held while the loop
  // body commits.
  for (const Workflow& workflow :
       store().retrieve_by_application(application)) {
    EXPECT_FALSE(workflow.id.empty());
    if (seen < 2) store_until_grown(map_size(), 2);
    ++seen;
  }
  EXPECT_EQ(seen, 4);
  EXPECT_GE(map_size(), initial * 4);
}

TEST(ResizeLockTest, NestedHoldOfAThreadDoesNotWaitBehindAWaitingResize) {
  const Watchdog watchdog;
  lmdb::ResizeLock lock;
  std::atomic<bool> resized{false};
  lmdb::ResizeLock::Hold first = lock.lock_shared();
  std::thread resizer([&] {
    lock.lock("test");
    resized = true;
    lock.unlock();
  });
  while (lock.resizes_waiting() == 0) std::this_thread::yield();
  // This thread already holds the lock: a second hold does not queue behind
  // the resize (which waits for the first).
  lmdb::ResizeLock::Hold second = lock.lock_shared();
  EXPECT_EQ(lock.held_by_this_thread(), 2);
  EXPECT_FALSE(resized);
  // A new reader of another thread waits for the resize.
  bool reader_saw_resize = false;
  std::thread reader([&] {
    const lmdb::ResizeLock::Hold hold = lock.lock_shared();
    reader_saw_resize = resized;
  });
  second.release();
  first.release();
  resizer.join();
  reader.join();
  EXPECT_TRUE(reader_saw_resize);
  EXPECT_EQ(lock.held_by_this_thread(), 0);
  // The resize of a thread that holds the lock fails instead of waiting.
  const lmdb::ResizeLock::Hold held = lock.lock_shared();
  EXPECT_THAT([&] { lock.lock("views"); },
              ThrowsMessage<IOError>(HasSubstr("this thread holds")));
}

}  // namespace
}  // namespace wfstore
