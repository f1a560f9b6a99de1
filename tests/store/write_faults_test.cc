// The write path under faults, races and shutdown: one writer state that no
// failure is acknowledged past (a failed background fdatasync, a failed view
// commit, ENOSPC inside a group), a commit whose own decision throws rejected
// alone, close() racing with committers and a processor, commit listeners in
// LSN order, and a background syncer that sleeps while there is nothing to
// sync.

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
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
#include "wfstore_internal/commands.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::TempDir;
using namespace std::chrono_literals;

using testutil::wait_until;

// A one-shot gate: wait() blocks until open().
class Gate {
 public:
  void open() {
    {
      std::scoped_lock lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }
  bool is_open() const {
    std::scoped_lock lock(mu_);
    return open_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

std::vector<Command> mark(const std::string& id) {
  std::vector<Command> commands;
  commands.push_back(MarkMessageProcessed{id, std::nullopt, std::nullopt});
  return commands;
}

// A thread that marks `id` processed in `store` and keeps what that throws in
// `error`.
std::thread marking_thread(WorkflowStore& store, std::string id,
                           std::exception_ptr& error) {
  return std::thread([&store, id = std::move(id), &error] {
    try {
      store.mark_message_processed(id);
    } catch (...) {
      error = std::current_exception();
    }
  });
}

bool is_mark_of(const Command& command, std::string_view id) {
  const auto* m = std::get_if<MarkMessageProcessed>(&command);
  return m != nullptr && m->message_id == id;
}

// Makes the decision of a commit that marks `id` wait until `release` opens.
void hold_decision_of(CommitPipeline& pipeline, std::string id, Gate& release) {
  pipeline.set_decide_hook_for_testing(
      [id = std::move(id), &release](const Command& command) {
        if (is_mark_of(command, id)) release.wait();
      });
}

class WriteFaultsTest : public ::testing::Test {
 protected:
  DatabaseOptions options() {
    DatabaseOptions o;
    o.logger = warnings_.logger();
    o.map_size = std::uint64_t{1} << 26;
    o.file_system = fs_;
    return o;
  }

  std::unique_ptr<Database> open(const DatabaseOptions& o) {
    return Database::open(dir_.path(), o);
  }
  std::unique_ptr<Database> open() { return open(options()); }

  // The views equal a fold of the log, and hold `present` but not `absent`.
  void expect_reopened_views(const std::vector<std::string>& present,
                             const std::vector<std::string>& absent) {
    fs_->clear_faults();
    auto db = open();
    for (const std::string& id : present)
      EXPECT_TRUE(db->workflow_store().is_message_processed(id)) << id;
    for (const std::string& id : absent)
      EXPECT_FALSE(db->workflow_store().is_message_processed(id)) << id;
    db->close();
    const ViewsVerifyReport report = verify_store_views(dir_.path());
    EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
  }

  // The store is healthy until `fail` makes one of its commits fail, then not
  // (close() reports the failure), and healthy again once reopened.
  void expect_unhealthy_until_reopened(
      const std::function<void(Database&)>& fail) {
    auto db = open();
    db->workflow_store().mark_message_processed("a");
    EXPECT_TRUE(db->workflow_store().is_healthy());
    fail(*db);
    EXPECT_FALSE(db->workflow_store().is_healthy());
    EXPECT_THROW(db->close(), IOError);
    db.reset();
    fs_->clear_faults();
    EXPECT_TRUE(open()->workflow_store().is_healthy());
  }

  static CommitPipeline& pipeline(Database& db) {
    return *database_impl(db).pipeline();
  }

  TempDir dir_;
  testutil::Warnings warnings_;
  std::shared_ptr<testutil::FaultFileSystem> fs_ =
      std::make_shared<testutil::FaultFileSystem>();
};

// The background syncer's fdatasync fails while a kSync leader waits for the
// sync lock; the leader's own fdatasync of the same descriptor would answer 0
// (the fault file system, like Linux, reports the error once), so only the
// writer's state, checked under that lock, stops the acknowledgement.
TEST_F(WriteFaultsTest, SyncCommitWaitingBesideAFailingBackgroundSyncThrows) {
  DatabaseOptions o = options();
  o.buffered_sync_interval = 1ms;
  auto db = open(o);
  Gate syncer_parked;
  Gate release_syncer;
  Gate leader_waiting;
  std::atomic<bool> armed{false};
  std::atomic<bool> leader_armed{false};
  fs_->set_sync_hook([&](const std::filesystem::path& path) {
    if (path.extension() != ".log" || !armed.exchange(false)) return;
    syncer_parked.open();
    release_syncer.wait();
  });
  database_impl(*db).writer()->set_sync_wait_hook_for_testing([&] {
    if (leader_armed.exchange(false)) leader_waiting.open();
  });
  fs_->fail_nth_sync(1, testutil::name_ends_with(".log"));
  armed = true;
  // A buffered commit: the background syncer picks it up and parks in its
  // (failing) fdatasync, holding the writer's sync lock.
  pipeline(*db).commit(mark("buffered"), Durability::kBuffered);
  syncer_parked.wait();

  leader_armed = true;
  std::exception_ptr leader_error;
  // A kSync commit.
  std::thread leader =
      marking_thread(db->workflow_store(), "synced", leader_error);
  leader_waiting.wait();  // The leader appended and waits for the lock.
  release_syncer.open();
  leader.join();

  ASSERT_TRUE(leader_error) << "a kSync commit was acknowledged after a "
                               "failed fdatasync";
  EXPECT_THAT([&] { std::rethrow_exception(leader_error); },
              ThrowsMessage<IOError>(HasSubstr("Input/output error")));
  EXPECT_TRUE(database_impl(*db).writer()->poisoned());
  EXPECT_THROW(db->workflow_store().mark_message_processed("later"), IOError);
  EXPECT_THROW(db->workflow_store().is_message_processed("buffered"), IOError);
  EXPECT_THROW(db->close(), IOError);
  db.reset();
  expect_reopened_views({}, {"later"});
}

// A view commit fails after the group's record reached the log: every later
// call throws, nothing writes the views' meta past the lost group, and the
// reopen folds it.
TEST_F(WriteFaultsTest, FailedViewCommitFailsEveryCallAndReopenFoldsTheGroup) {
  auto db = open();
  WorkflowStore& store = db->workflow_store();
  store.mark_message_processed("a");
  database_impl(*db).views().fail_next_commit_for_testing(EIO);
  // Its record is in the log, synced: the commit stands.
  store.mark_message_processed("b");
  EXPECT_THAT([&] { store.mark_message_processed("c"); },
              ThrowsMessage<IOError>(HasSubstr("view commit failed")));
  EXPECT_THROW(store.is_message_processed("a"), IOError);
  EXPECT_FALSE(store.is_healthy());
  EXPECT_THROW(store.transaction(), IOError);
  EXPECT_THROW(Queue queue(*db), IOError);
  EXPECT_THROW(db->close(), IOError);
  {
    // The views' meta still ends at "a" (lsn 1): nothing wrote past "b".
    const LmdbViews::Snapshot snapshot =
        database_impl(*db).views().begin_read();
    EXPECT_EQ(applied_lsn(snapshot), 1u);
  }
  db.reset();
  expect_reopened_views({"a", "b"}, {"c"});
}

// A view commit that fails leaves views that may lack a group the log holds:
// the store is not healthy until it is reopened.
TEST_F(WriteFaultsTest, IsHealthyIsFalseAfterAFailedViewCommit) {
  expect_unhealthy_until_reopened([](Database& db) {
    database_impl(db).views().fail_next_commit_for_testing(EIO);
    // Its record is in the log: the commit stands.
    db.workflow_store().mark_message_processed("b");
  });
}

// A failed fdatasync of the log fails the writer: the views are no longer
// served, so the store is not healthy.
TEST_F(WriteFaultsTest, IsHealthyIsFalseAfterAFailedLogSync) {
  expect_unhealthy_until_reopened([&](Database& db) {
    fs_->fail_nth_sync(1, testutil::name_ends_with(".log"));
    EXPECT_THROW(db.workflow_store().mark_message_processed("b"), IOError);
  });
}

// An exception of any type while one commit is decided (here a
// std::out_of_range, as an encoder's enum lookup throws) rejects that commit
// with a wfstore::Error; the other commits of its group commit.
TEST_F(WriteFaultsTest, ExceptionDecidingOneCommitRejectsOnlyThatCommit) {
  auto db = open();
  CommitPipeline& p = pipeline(*db);
  Gate release;
  p.set_decide_hook_for_testing([&](const Command& command) {
    if (is_mark_of(command, "blocker")) release.wait();
    if (is_mark_of(command, "bad"))
      throw std::out_of_range("enum value 50 out of range");
  });
  WorkflowStore& store = db->workflow_store();
  std::thread blocker([&] { store.mark_message_processed("blocker"); });
  ASSERT_TRUE(wait_until([&] { return p.stats().queued_commits == 1; }));

  // These queue behind the blocked leader, so one group takes them all.
  constexpr int kValid = 6;
  std::exception_ptr bad_error;
  std::atomic<int> valid_failures{0};
  std::vector<std::thread> threads;
  threads.push_back(marking_thread(store, "bad", bad_error));
  for (int i = 0; i < kValid; ++i) {
    threads.emplace_back([&, i] {
      try {
        store.mark_message_processed(fmt::format("ok-{}", i));
      } catch (const std::exception&) {
        valid_failures.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(
      wait_until([&] { return p.stats().queued_commits == 1 + 1 + kValid; }));
  const std::uint64_t groups_before = p.stats().groups;
  release.open();
  blocker.join();
  for (std::thread& t : threads) t.join();
  p.set_decide_hook_for_testing({});

  EXPECT_EQ(p.stats().groups - groups_before, 1u);  // one group of 1 + 6
  EXPECT_EQ(valid_failures.load(), 0);
  ASSERT_TRUE(bad_error);
  EXPECT_THAT([&] { std::rethrow_exception(bad_error); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("enum value 50 out of range")));
  EXPECT_FALSE(store.is_message_processed("bad"));
  EXPECT_TRUE(store.is_healthy());
  db->close();
  db.reset();
  std::vector<std::string> present = {"blocker"};
  for (int i = 0; i < kValid; ++i) present.push_back(fmt::format("ok-{}", i));
  expect_reopened_views(present, {"bad"});
}

// close() while a commit is in flight waits for it; a call made while it
// waits throws IOError; the commit stands.
TEST_F(WriteFaultsTest, CloseWaitsForTheCommitInFlight) {
  auto db = open();
  CommitPipeline& p = pipeline(*db);
  Gate release;
  hold_decision_of(p, "in-flight", release);
  WorkflowStore& store = db->workflow_store();
  std::exception_ptr commit_error;
  std::thread committer = marking_thread(store, "in-flight", commit_error);
  ASSERT_TRUE(wait_until([&] { return p.stats().queued_commits == 1; }));
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    db->close();
    closed = true;
  });
  ASSERT_TRUE(wait_until([&] { return !p.usable(); }));
  EXPECT_THAT([&] { store.mark_message_processed("late"); },
              ThrowsMessage<IOError>(HasSubstr("is closed")));
  EXPECT_THROW(store.is_message_processed("in-flight"), IOError);
  EXPECT_FALSE(closed.load());  // the commit has not returned yet
  release.open();
  committer.join();
  closer.join();
  EXPECT_FALSE(commit_error);
  EXPECT_THROW(store.mark_message_processed("after"), IOError);
  EXPECT_THROW(db->add_commit_listener([](const CommitNotice&) {}), IOError);
  db.reset();
  expect_reopened_views({"in-flight"}, {"late", "after"});
}

// A poll_one(timeout) blocked in its wait wakes when the store closes and
// throws IOError, instead of sleeping out its timeout.
TEST_F(WriteFaultsTest, CloseWakesABlockedPoll) {
  auto db = open();
  Queue queue(*db);
  std::exception_ptr poll_error;
  const auto started = std::chrono::steady_clock::now();
  std::thread poller([&] {
    try {
      (void)queue.poll_one(10min);
    } catch (...) {
      poll_error = std::current_exception();
    }
  });
  // The poll leased nothing and waits (its commit went through).
  ASSERT_TRUE(wait_until([&] {
    return pipeline(*db).stats().commits == 0 &&
           pipeline(*db).stats().groups >= 1;
  }));
  db->close();
  poller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5min);
  ASSERT_TRUE(poll_error);
  EXPECT_THROW(std::rethrow_exception(poll_error), IOError);
  EXPECT_THROW(queue.push(testutil::start_workflow("w")), IOError);
  EXPECT_THROW((void)queue.size(), IOError);
}

// Eight committing threads and a running processor; close() in the middle.
// Every call either completes or throws IOError; nothing touches freed memory
// (run under ASan and TSan); every acknowledged commit survives.
TEST_F(WriteFaultsTest, CloseRacingWithCommittersAndAProcessorIsSafe) {
  DatabaseOptions o = options();
  o.file_system = nullptr;
  o.durability = Durability::kBuffered;
  auto db = open(o);
  auto queue = std::make_unique<Queue>(*db);
  QueueProcessorConfig config;
  config.max_workers = 2;
  config.poll_frequency = 20ms;
  config.dlq_check_interval = 0ms;
  std::atomic<int> handled{0};
  auto processor =
      std::make_unique<QueueProcessor>(db->workflow_store(), *queue, config);
  processor->register_handler("StartWorkflow", "StartWorkflowHandler",
                              [&](const Delivery&) { handled.fetch_add(1); });
  processor->start();

  constexpr int kThreads = 8;
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> other_errors{0};
  std::atomic<int> io_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string id = fmt::format("m-{}-{}", t, i);
        try {
          if (i % 4 == 0) {
            queue->push(testutil::start_workflow(id));
          } else {
            db->workflow_store().mark_message_processed(id);
            std::scoped_lock lock(mu);
            acknowledged.push_back(id);
          }
        } catch (const IOError&) {
          io_errors.fetch_add(1);
          return;
        } catch (const std::exception&) {
          other_errors.fetch_add(1);
          return;
        }
      }
    });
  }
  ASSERT_TRUE(wait_until([&] {
    return pipeline(*db).stats().commits >= 400 && handled.load() >= 5;
  }));
  db->close();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(io_errors.load(), kThreads);
  processor->stop();
  processor.reset();
  queue.reset();
  db.reset();

  std::vector<std::string> present;
  {
    std::scoped_lock lock(mu);
    present = acknowledged;
  }
  auto reopened = Database::open(dir_.path(), o);
  for (const std::string& id : present)
    ASSERT_TRUE(reopened->workflow_store().is_message_processed(id)) << id;
  reopened->close();
  EXPECT_TRUE(verify_store_views(dir_.path()).equal());
}

// Commit listeners are called in LSN order: a group's leader that gets to
// its notice while an earlier group's listener call still runs waits for it.
TEST_F(WriteFaultsTest, CommitListenersSeeGroupsInLsnOrder) {
  auto db = open();
  CommitPipeline& p = pipeline(*db);
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  std::atomic<int> calls{0};
  Gate first_in_listener;
  db->add_commit_listener([&](const CommitNotice& notice) {
    if (calls.fetch_add(1) == 0) {
      first_in_listener.open();
      // Hold this call until the next group's leader reached its notice:
      // it is either waiting for its turn or (out of order) already called.
      EXPECT_TRUE(wait_until([&] {
        {
          std::scoped_lock lock(mu);
          if (!seen.empty()) return true;
        }
        return p.listener_turn_waits_for_testing() > 0;
      }));
    }
    std::scoped_lock lock(mu);
    seen.push_back(notice.first_lsn);
  });
  std::thread first([&] { db->workflow_store().mark_message_processed("a"); });
  first_in_listener.wait();
  std::thread second([&] { db->workflow_store().mark_message_processed("b"); });
  first.join();
  second.join();
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2}));
  db->close();
}

// The background syncer sleeps while nothing is buffered (no wakeups at
// all), and a buffered commit wakes it.
TEST_F(WriteFaultsTest, IdleSyncerSleepsUntilABufferedCommit) {
  DatabaseOptions o = options();
  o.durability = Durability::kBuffered;
  o.buffered_sync_interval = 1ms;
  auto db = open(o);
  CommitPipeline& p = pipeline(*db);
  // An observation window, not a synchronisation: a syncer that polls every
  // 1 ms wakes many times in it; one that sleeps until work never does.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(p.syncer_wakeups_for_testing(), 0u);
  db->workflow_store().mark_message_processed("a");
  EXPECT_TRUE(wait_until([&] { return p.stats().durable_lsn == 1; }));
  EXPECT_GE(p.syncer_wakeups_for_testing(), 1u);
  db->close();
}

// ENOSPC inside a group: the group's earlier record was written whole, yet
// every commit of the group throws IOError, whose outcome is therefore
// unknown: after reopening, the earlier commit is present, the failed one
// absent, and nothing is half-applied.
TEST_F(WriteFaultsTest, IOErrorOnAWriteLeavesItsOutcomeUnknownNeverHalfDone) {
  // Records append (no zeros written ahead), so the space runs out at the
  // record this test picks.
  fs_->set_positioned_writes(false);
  auto db = open();
  CommitPipeline& p = pipeline(*db);
  WorkflowStore& store = db->workflow_store();
  store.mark_message_processed("m-0");
  const std::uint64_t before = fs_->stats().bytes_appended;
  store.mark_message_processed("m-1");
  const std::uint64_t record = fs_->stats().bytes_appended - before;
  ASSERT_GT(record, 0u);

  Gate release;
  hold_decision_of(p, "m-b", release);
  std::thread blocker([&] { store.mark_message_processed("m-b"); });
  ASSERT_TRUE(wait_until([&] { return p.stats().queued_commits == 1; }));
  std::exception_ptr errors[2];
  std::thread second = marking_thread(store, "m-2", errors[0]);
  ASSERT_TRUE(wait_until([&] { return p.stats().queued_commits == 2; }));
  std::thread third = marking_thread(store, "m-3", errors[1]);
  ASSERT_TRUE(wait_until([&] { return p.stats().queued_commits == 3; }));
  // Room for the blocker's record and m-2's, not m-3's.
  fs_->enospc_after(2 * record + record / 2, testutil::name_ends_with(".log"));
  release.open();
  blocker.join();
  second.join();
  third.join();
  p.set_decide_hook_for_testing({});
  for (const std::exception_ptr& error : errors) {
    ASSERT_TRUE(error);
    EXPECT_THAT([&] { std::rethrow_exception(error); },
                ThrowsMessage<IOError>(HasSubstr("No space left on device")));
  }
  EXPECT_THROW(db->close(), IOError);
  db.reset();
  expect_reopened_views({"m-0", "m-1", "m-b", "m-2"}, {"m-3"});
}

}  // namespace
}  // namespace wfstore
