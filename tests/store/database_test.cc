// Database and WorkflowStore through a real store directory: open/reopen, every
// method's basic behaviour, bad input changing nothing, optimistic locking
// under concurrency, group commit, the recovery rules, read-only opens and
// audit scopes.

#include "wfstore/database.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "store/commit_pipeline.h"
#include "store/database_impl.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/commands.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/view_meta.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::FakeClock;
using testutil::TempDir;
using testutil::Warnings;

// Every commit of the log in dir/log, in order.
std::vector<log::Commit> read_commits(const std::filesystem::path& dir) {
  const StoreDir store =
      StoreDir::open_existing(posix_file_system(), dir, false);
  log::Reader reader(posix_file_system(), store.log_dir(), store.id(), 1,
                     [](const log::Damage& d) { FAIL() << d.reason; });
  std::vector<log::Commit> commits;
  log::Commit commit;
  while (reader.next(&commit)) commits.push_back(commit);
  return commits;
}

// The LSN after the log's last commit in dir/log when the commits' LSNs are
// dense from 1; 0 at the first gap.
std::uint64_t dense_log_end(const std::filesystem::path& dir) {
  std::uint64_t expected = 1;
  for (const log::Commit& commit : read_commits(dir)) {
    if (commit.first_lsn != expected) return 0;
    expected = commit.last_lsn() + 1;
  }
  return expected;
}

StageExecution new_stage(const std::string& workflow_id, const std::string& id,
                         const std::string& ref) {
  StageExecution stage = testutil::bare_stage(workflow_id, id, ref, "wait");
  stage.name = ref;
  stage.tasks.push_back(
      testutil::make_task(id, 0, "t0", "Wait", WorkflowStatus::kNotStarted));
  return stage;
}

class DatabaseTest : public ::testing::Test {
 protected:
  DatabaseOptions options() {
    DatabaseOptions o;
    o.logger = warnings_.logger();
    o.clock = clock_;
    o.map_size = std::uint64_t{1} << 26;
    return o;
  }
  // options() in buffered mode over `fs`, the syncer running every
  // `sync_interval`.
  DatabaseOptions buffered_options(
      std::shared_ptr<testutil::FaultFileSystem> fs,
      std::chrono::milliseconds sync_interval) {
    DatabaseOptions o = options();
    o.file_system = std::move(fs);
    o.durability = Durability::kBuffered;
    o.buffered_sync_interval = sync_interval;
    return o;
  }
  std::unique_ptr<Database> open() {
    return Database::open(dir_.path(), options());
  }
  // open() over `fs`.
  std::unique_ptr<Database> open(std::shared_ptr<FileSystem> fs) {
    DatabaseOptions o = options();
    o.file_system = std::move(fs);
    return Database::open(dir_.path(), o);
  }

  TempDir dir_;
  Warnings warnings_;
  std::shared_ptr<FakeClock> clock_ =
      std::make_shared<FakeClock>(1'700'000'000'000);
};

TEST_F(DatabaseTest, OpenCreatesAndReopenKeepsEverything) {
  const Workflow stored = testutil::diamond_workflow("wf-1");
  // store() keeps every field; tasks are stored at version 0.
  Workflow wf = stored;
  for (StageExecution& stage : wf.stages) {
    for (TaskExecution& task : stage.tasks) task.version = 0;
  }
  {
    auto db = open();
    db->workflow_store().store(stored);
    const Workflow got = db->workflow_store().retrieve("wf-1");
    EXPECT_EQ(got, wf);
    EXPECT_EQ(db->stats().commits, 1u);
    EXPECT_EQ(db->stats().applied_lsn, 1u);
    db->close();
    db->close();
  }
  auto db = open();
  EXPECT_EQ(db->workflow_store().retrieve("wf-1"), wf);
  EXPECT_EQ(db->stats().applied_lsn, 1u);
  EXPECT_TRUE(warnings_.messages().empty());
  EXPECT_TRUE(db->workflow_store().is_healthy());
}

// is_healthy() means "the views can be read": a closed store's cannot.
TEST_F(DatabaseTest, IsHealthyIsFalseAfterClose) {
  auto db = open();
  WorkflowStore& store = db->workflow_store();
  store.mark_message_processed("m1");
  EXPECT_TRUE(store.is_healthy());
  db->close();
  EXPECT_FALSE(store.is_healthy());
  EXPECT_THROW(store.is_message_processed("m1"), IOError);
}

TEST_F(DatabaseTest, IsHealthyIsFalseAfterAReadOnlyStoreCloses) {
  open()->workflow_store().mark_message_processed("m1");
  auto reader = Database::open_read_only(dir_.path(), options());
  WorkflowStore& store = reader->workflow_store();
  EXPECT_TRUE(store.is_healthy());
  reader->close();
  EXPECT_FALSE(store.is_healthy());
}

TEST_F(DatabaseTest, IsHealthyIsFalseAfterACrash) {
  auto db = open();
  database_impl(*db).simulate_crash_for_testing();
  EXPECT_FALSE(db->workflow_store().is_healthy());
}

TEST_F(DatabaseTest, SecondWriterInProcessIsLocked) {
  auto db = open();
  EXPECT_THROW(Database::open(dir_.path(), options()), StoreLockedError);
}

TEST_F(DatabaseTest, EveryMethodBasics) {
  auto db = open();
  WorkflowStore& store = db->workflow_store();
  Workflow wf = testutil::diamond_workflow("wf-a");
  wf.application = "app";
  wf.pipeline_config_id = "cfg";
  wf.start_time = 100;
  store.store(wf);
  Workflow wf2 = testutil::diamond_workflow("wf-b");
  wf2.application = "app";
  wf2.start_time = 200;
  store.store(wf2);

  EXPECT_TRUE(store.exists("wf-a"));
  EXPECT_FALSE(store.exists("nope"));
  EXPECT_THROW(store.retrieve("nope"), WorkflowNotFoundError);
  EXPECT_THAT([&] { store.retrieve("nope"); },
              ThrowsMessage<WorkflowNotFoundError>(
                  HasSubstr("Execution not found: nope")));
  EXPECT_TRUE(store.retrieve_execution_summary("wf-a").stages.empty());
  EXPECT_EQ(store.count_by_application("app"), 2u);

  std::vector<std::string> ids;
  for (const Workflow& w : store.retrieve_by_application("app"))
    ids.push_back(w.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"wf-b", "wf-a"}));
  ids.clear();
  for (const Workflow& w : store.retrieve_by_pipeline_config_id("cfg"))
    ids.push_back(w.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"wf-a"}));
  WorkflowCriteria criteria;
  EXPECT_EQ(store.get_all_pending_workflows(criteria).ids().size(), 2u);

  // Stage reads and writes.
  StageInExecution sie = store.retrieve_stage("wf-a.deploy");
  EXPECT_EQ(sie.stage().id, "wf-a.deploy");
  StageExecution stage = sie.stage();
  const std::int64_t version = stage.version;
  stage.status = WorkflowStatus::kSucceeded;
  store.store_stage(stage, std::string("RUNNING"));
  EXPECT_EQ(stage.version, version + 1);
  EXPECT_EQ(store.retrieve_stage("wf-a.deploy").stage().status,
            WorkflowStatus::kSucceeded);
  StageExecution stale = sie.stage();
  EXPECT_THROW(store.store_stage(stale), ConcurrencyError);
  EXPECT_EQ(stale.version, version);
  EXPECT_THROW(store.retrieve_stage("missing"), StageNotFoundError);

  StageExecution extra = new_stage("wf-a", "wf-a.extra", "extra");
  extra.requisite_stage_ref_ids = {"deploy"};
  store.add_stage(extra);
  EXPECT_EQ(store.get_downstream_stages("wf-a", "deploy").stages.size(), 1u);
  EXPECT_GE(store.get_upstream_stages("wf-a", "deploy").stages.size(), 2u);
  EXPECT_FALSE(
      store.get_synthetic_stages("wf-a", "wf-a.deploy").stages.empty());
  EXPECT_TRUE(store.get_merged_ancestor_outputs("wf-a", "deploy").is_object());
  store.remove_stage("wf-a", "wf-a.extra");
  EXPECT_THROW(store.retrieve_stage("wf-a.extra"), StageNotFoundError);

  // Status, pause, resume, cancel.
  Workflow changed = store.retrieve("wf-b");
  changed.status = WorkflowStatus::kRunning;
  store.update_status(changed);
  EXPECT_EQ(store.retrieve("wf-b").status, WorkflowStatus::kRunning);
  store.pause("wf-b", "ops");
  EXPECT_EQ(store.retrieve("wf-b").status, WorkflowStatus::kPaused);
  clock_->advance(500);
  store.resume("wf-b");
  EXPECT_EQ(store.retrieve("wf-b").status, WorkflowStatus::kRunning);
  store.cancel("wf-b", "ops", "because");
  EXPECT_TRUE(store.retrieve("wf-b").is_canceled);

  // No-ops append nothing.
  const std::uint64_t lsn = db->stats().applied_lsn;
  store.resume("wf-b");
  store.update_status(testutil::diamond_workflow("missing"));
  store.delete_workflow("missing");
  store.pause("missing", "x");
  EXPECT_EQ(db->stats().applied_lsn, lsn);

  // Dedup ledger.
  EXPECT_FALSE(store.is_message_processed("m1"));
  store.mark_message_processed("m1", std::string("Handler"),
                               std::string("wf-a"));
  clock_->advance(10);
  store.mark_message_processed("m2");
  store.mark_message_processed("m1");
  EXPECT_TRUE(store.is_message_processed("m1"));
  EXPECT_EQ(store.get_processed_message_ids(),
            (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(store.get_processed_message_ids(1),
            (std::vector<std::string>{"m1"}));
  EXPECT_EQ(store.cleanup_old_processed_messages(std::chrono::milliseconds(5)),
            1u);
  EXPECT_FALSE(store.is_message_processed("m1"));
  EXPECT_TRUE(store.is_message_processed("m2"));

  store.delete_workflow("wf-a");
  EXPECT_FALSE(store.exists("wf-a"));
  EXPECT_EQ(store.count_by_application("app"), 1u);
  EXPECT_TRUE(store.is_healthy());
}

TEST_F(DatabaseTest, RangeSkipsWorkflowsDeletedAfterTheQuery) {
  auto db = open();
  WorkflowStore& store = db->workflow_store();
  for (const char* id : {"w1", "w2", "w3"}) {
    Workflow wf = testutil::diamond_workflow(id);
    wf.application = "app";
    store.store(wf);
  }
  WorkflowRange range = store.retrieve_by_application("app");
  store.delete_workflow("w2");
  std::vector<std::string> ids;
  for (const Workflow& w : range) ids.push_back(w.id);
  EXPECT_EQ(range.ids().size(), 3u);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "w2"), 0);
}

struct Snapshot {
  testutil::TableDump tables;
  std::uint64_t log_size = 0;
};

TEST_F(DatabaseTest, BadInputChangesNothing) {
  auto db = open();
  WorkflowStore& store = db->workflow_store();
  store.store(testutil::diamond_workflow("wf"));
  const auto take = [&] {
    return Snapshot{testutil::dump_all(*db), testutil::log_bytes(dir_.path())};
  };
  const Snapshot before = take();

  const auto expect_unchanged = [&](const char* what) {
    const Snapshot after = take();
    EXPECT_EQ(after.tables, before.tables) << what;
    EXPECT_EQ(after.log_size, before.log_size) << what;
  };

  Workflow empty_id = testutil::diamond_workflow("");
  EXPECT_THROW(store.store(empty_id), InvalidArgumentError);
  expect_unchanged("empty id");
  Workflow long_id =
      testutil::diamond_workflow(std::string(kMaxStringBytes + 1, 'x'));
  EXPECT_THROW(store.store(long_id), InvalidArgumentError);
  expect_unchanged("long id");
  EXPECT_THROW(store.store(testutil::diamond_workflow("wf")), DuplicateError);
  expect_unchanged("existing id");

  StageExecution orphan = new_stage("no-such-wf", "orphan", "orphan");
  const StageExecution orphan_copy = orphan;
  EXPECT_THROW(store.add_stage(orphan), WorkflowNotFoundError);
  EXPECT_EQ(orphan, orphan_copy);
  expect_unchanged("stage of a missing workflow");

  StageExecution dup_ref = new_stage("wf", "wf.other", "deploy");
  const StageExecution dup_ref_copy = dup_ref;
  EXPECT_THROW(store.add_stage(dup_ref), DuplicateError);
  EXPECT_EQ(dup_ref, dup_ref_copy);
  expect_unchanged("duplicate ref_id");

  Workflow dup_stage = testutil::diamond_workflow("wf2");
  dup_stage.stages[1].id = dup_stage.stages[0].id;
  EXPECT_THROW(store.store(dup_stage), Error);
  expect_unchanged("duplicate stage id");

  StageExecution stage = store.retrieve_stage("wf.deploy").stage();
  const StageExecution stage_copy = stage;
  EXPECT_THAT([&] { store.store_stage(stage, std::string("RUNING")); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("expected_phase")));
  EXPECT_EQ(stage, stage_copy);
  expect_unchanged("expected_phase");

  WorkflowCriteria criteria;
  criteria.page_size = -1;
  EXPECT_THROW(store.retrieve_by_application("app", criteria),
               InvalidArgumentError);
  EXPECT_THROW(store.get_all_pending_workflows(criteria), InvalidArgumentError);
  expect_unchanged("negative page size");

  EXPECT_THROW(store.mark_message_processed(""), InvalidArgumentError);
  EXPECT_THROW(store.pause(std::string(kMaxStringBytes + 1, 'p'), "x"),
               InvalidArgumentError);
  expect_unchanged("message and pause ids");
}

TEST_F(DatabaseTest, OptimisticLockingConcurrency) {
  DatabaseOptions o = options();
  o.durability = Durability::kBuffered;
  auto db = Database::open(dir_.path(), o);
  WorkflowStore& store = db->workflow_store();
  Workflow wf = testutil::diamond_workflow("wf");
  store.store(wf);
  StageExecution stage = store.retrieve_stage("wf.setup").stage();
  stage.context = nlohmann::json{{"n", 0}};
  store.store_stage(stage);
  const std::int64_t base_version = stage.version;

  constexpr int kThreads = 8;
  constexpr int kUpdates = 1000;
  std::atomic<int> successes{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (successes.load() < kUpdates) {
        StageInExecution current = store.retrieve_stage("wf.setup");
        StageExecution& s = current.stage();
        if (successes.load() >= kUpdates) return;
        const std::int64_t n = s.context.value().at("n").get<std::int64_t>();
        s.context.mutable_value()["n"] = n + 1;
        const std::int64_t before = s.version;
        try {
          store.store_stage(s);
          EXPECT_EQ(s.version, before + 1);
          if (successes.fetch_add(1) + 1 >= kUpdates) return;
        } catch (const ConcurrencyError&) {
          EXPECT_EQ(s.version, before);
          conflicts.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const StageExecution final_stage = store.retrieve_stage("wf.setup").stage();
  EXPECT_EQ(final_stage.version - base_version, successes.load());
  EXPECT_EQ(final_stage.context.value().at("n").get<int>(), successes.load());
  EXPECT_GE(successes.load(), kUpdates);
  EXPECT_LE(successes.load(), kUpdates + kThreads);
}

TEST_F(DatabaseTest, GroupCommitBatchesSyncs) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  auto db = open(fs);
  WorkflowStore& store = db->workflow_store();

  constexpr int kThreads = 16;
  constexpr int kPerThread = 8;
  std::atomic<int> live{kThreads};
  Database* raw = db.get();
  fs->set_sync_hook([&](const std::filesystem::path& path) {
    if (path.extension() != ".log") return;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (raw->stats().queued_commits <
               static_cast<std::uint64_t>(live.load()) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  const std::uint64_t syncs_before = db->stats().fdatasyncs;
  const std::uint64_t groups_before = db->stats().groups;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store.mark_message_processed(fmt::format("m-{}-{}", t, i));
      }
      live.fetch_sub(1);
    });
  }
  for (std::thread& t : threads) t.join();
  fs->set_sync_hook({});
  constexpr int kCommits = kThreads * kPerThread;
  const DatabaseStats stats = db->stats();
  EXPECT_EQ(stats.commits, static_cast<std::uint64_t>(kCommits));
  EXPECT_EQ(stats.applied_lsn, static_cast<std::uint64_t>(kCommits));
  EXPECT_EQ(stats.durable_lsn, static_cast<std::uint64_t>(kCommits));
  // A leader takes its group before it syncs; the threads that queue while the
  // hook holds that sync form the next group. So groups alternate between
  // nearly every thread and the few queued at the cut: about two syncs per
  // round of kThreads commits (16 here, 17 seen under ASan). Four times fewer
  // syncs than commits shows the batching without riding on that edge.
  EXPECT_LE(stats.fdatasyncs - syncs_before,
            static_cast<std::uint64_t>(kCommits / 4));
  EXPECT_LE(stats.groups - groups_before,
            static_cast<std::uint64_t>(kCommits / 4));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_TRUE(store.is_message_processed(fmt::format("m-{}-{}", t, i)));
    }
  }
  // Durable: a power cut keeps every acknowledged commit.
  fs->power_cut(testutil::random_seed());
  db.reset();
  db = open(fs);
  EXPECT_EQ(db->workflow_store().get_processed_message_ids().size(),
            static_cast<std::size_t>(kCommits));
  db->close();
  EXPECT_EQ(dense_log_end(dir_.path()),
            static_cast<std::uint64_t>(kCommits) + 1);
}

// Many threads of short buffered commits: the writer queue hands each queued
// call its result or the lead of the next group through a waiter the pipeline
// recycles, so a call that runs late must not take a later use of its waiter
// for its own (that made two leaders, or none: a hang). Every eighth queued
// call pauses between joining the queue and waiting, long enough for its
// group to finish and its waiter to be used again. Every call returns, once,
// and the log's commits are dense.
TEST_F(DatabaseTest, GroupCommitOfManyThreadsLeadsOnceAndLosesNoCall) {
  auto db = Database::open(
      dir_.path(), buffered_options(nullptr, std::chrono::milliseconds(5)));
  WorkflowStore& store = db->workflow_store();
  std::atomic<std::uint64_t> queued{0};
  database_impl(*db).pipeline()->set_queued_hook_for_testing([&] {
    if (queued.fetch_add(1) % 8 == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(300));
  });
  constexpr int kThreads = 16;
  constexpr int kPerThread = 1500;
  std::atomic<int> finished{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kPerThread; ++i) {
          store.mark_message_processed(fmt::format("m-{}-{}", t, i));
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        failures.fetch_add(1);
      }
      finished.fetch_add(1);
    });
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (finished.load() < kThreads &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (finished.load() < kThreads) {
    // A call asleep for good cannot be joined: end the test process.
    ADD_FAILURE() << kThreads - finished.load()
                  << " threads still wait for their commits";
    std::abort();
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_GT(queued.load(), 0U);
  database_impl(*db).pipeline()->set_queued_hook_for_testing({});
  constexpr int kCommits = kThreads * kPerThread;
  EXPECT_EQ(db->stats().commits, static_cast<std::uint64_t>(kCommits));
  EXPECT_EQ(db->stats().applied_lsn, static_cast<std::uint64_t>(kCommits));
  db->close();
  EXPECT_EQ(dense_log_end(dir_.path()),
            static_cast<std::uint64_t>(kCommits) + 1);
}

// A commit listener's exception whose what() is null is logged as "(no
// message)", and the commit and the next ones stand.
TEST_F(DatabaseTest, ListenerExceptionWithoutAMessageIsLogged) {
  auto db = open();
  CommitPipeline& pipeline = *database_impl(*db).pipeline();
  const std::uint64_t id = pipeline.add_listener(
      [](const CommitNotice&) { throw testutil::NullMessageError(); });
  db->workflow_store().mark_message_processed("a");
  db->workflow_store().mark_message_processed("b");
  pipeline.remove_listener(id);
  EXPECT_TRUE(warnings_.contains("threw: (no message)"));
  EXPECT_TRUE(db->workflow_store().is_message_processed("b"));
  db->close();
}

// A caller's file system may throw an exception whose what() is null: the
// log writer keeps "(no message)" as its reason instead of reading null.
TEST_F(DatabaseTest, FileSystemExceptionWithoutAMessagePoisonsTheWriter) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  auto db = open(fs);
  WorkflowStore& store = db->workflow_store();
  store.mark_message_processed("a");
  bool thrown = false;
  fs->set_sync_hook([&](const std::filesystem::path& path) {
    if (path.extension() != ".log" || thrown) return;
    thrown = true;
    throw testutil::NullMessageError();
  });
  EXPECT_THAT([&] { store.mark_message_processed("b"); },
              ThrowsMessage<IOError>(HasSubstr("(no message)")));
  EXPECT_THAT([&] { store.mark_message_processed("c"); },
              ThrowsMessage<IOError>(HasSubstr("(no message)")));
  fs->set_sync_hook({});
  EXPECT_THROW(db->close(), IOError);
  db.reset();
  db = open(fs);
  EXPECT_TRUE(db->workflow_store().is_message_processed("a"));
}

TEST_F(DatabaseTest, FailedSyncPoisonsWrites) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  auto db = open(fs);
  WorkflowStore& store = db->workflow_store();
  store.mark_message_processed("a");
  fs->fail_nth_sync(1, testutil::name_ends_with(".log"));
  EXPECT_THROW(store.mark_message_processed("b"), IOError);
  EXPECT_THAT([&] { store.mark_message_processed("c"); },
              ThrowsMessage<IOError>(HasSubstr("poisoned")));
  // Reads too: one state for the whole write path.
  EXPECT_THROW(store.is_message_processed("a"), IOError);
  EXPECT_THROW(db->close(), IOError);
  db.reset();
  db = open(fs);
  EXPECT_TRUE(db->workflow_store().is_message_processed("a"));
  EXPECT_FALSE(db->workflow_store().is_message_processed("c"));
}

TEST_F(DatabaseTest, LogCutBelowDurableLsnIsCorruption) {
  {
    auto db = open();
    for (int i = 0; i < 3; ++i)
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    db->close();
  }
  const std::vector<log::Commit> commits = read_commits(dir_.path());
  ASSERT_EQ(commits.size(), 3u);
  std::filesystem::resize_file(dir_.path() / "log" / commits.back().segment,
                               commits.back().offset);
  EXPECT_THAT([&] { open(); }, ThrowsMessage<CorruptionError>(HasSubstr(
                                   "below the views' durable lsn 3")));
}

// A kBuffered writer writes its records through a mapping of the live
// segment (no system call per commit); a kSync one, whose every fdatasync
// would make the next record's page fault, writes them. Either way a reopen
// reads every commit back.
TEST_F(DatabaseTest, OnlyABufferedWriterMapsItsLiveSegment) {
  for (const Durability durability :
       {Durability::kBuffered, Durability::kSync}) {
    SCOPED_TRACE(durability == Durability::kBuffered ? "buffered" : "sync");
    testutil::TempDir dir;
    auto db = Database::open(dir.path(), testutil::quiet_options(durability));
    for (int i = 0; i < 50; ++i) {
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    }
    const std::vector<log::Commit> before = read_commits(dir.path());
    ASSERT_FALSE(before.empty());
    EXPECT_EQ(testutil::is_mapped_for_writes(dir.path() / "log" /
                                             before.back().segment),
              durability == Durability::kBuffered);
    db->close();
    EXPECT_EQ(read_commits(dir.path()).size(), before.size());
    db = Database::open(dir.path(), testutil::quiet_options(durability));
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(
          db->workflow_store().is_message_processed(fmt::format("m{}", i)));
    }
  }
}

// The background syncer fdatasyncs beside the commit queue: while its sync is
// stuck, buffered commits still complete; once it finishes they are durable.
TEST_F(DatabaseTest, BufferedCommitsDoNotWaitForTheBackgroundSync) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  const DatabaseOptions o = buffered_options(fs, std::chrono::milliseconds(1));
  auto db = Database::open(dir_.path(), o);
  WorkflowStore& store = db->workflow_store();
  std::mutex mu;
  std::condition_variable cv;
  bool syncing = false;  // Guarded by mu.
  bool release = false;  // Guarded by mu.
  fs->set_sync_hook([&](const std::filesystem::path& path) {
    if (path.extension() != ".log") return;
    std::unique_lock lock(mu);
    syncing = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
  });
  store.mark_message_processed("first");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(30), [&] { return syncing; }));
  }
  // The syncer is inside its fdatasync; these commits must not queue behind
  // it.
  std::atomic<bool> committed{false};
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i)
      store.mark_message_processed(fmt::format("m{}", i));
    committed = true;
  });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!committed && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(committed.load());
  {
    std::scoped_lock lock(mu);
    release = true;
  }
  cv.notify_all();
  writer.join();
  fs->set_sync_hook({});
  const auto synced_by =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (db->stats().durable_lsn < 21 &&
         std::chrono::steady_clock::now() < synced_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(db->stats().durable_lsn, 21u);
  // Durable: a power cut keeps all of them.
  fs->power_cut(testutil::random_seed());
  db.reset();
  auto reopened = Database::open(dir_.path(), o);
  EXPECT_TRUE(reopened->workflow_store().is_message_processed("first"));
  EXPECT_TRUE(reopened->workflow_store().is_message_processed("m19"));
}

TEST_F(DatabaseTest, LostBufferedTailRebuildsWithWarning) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  const DatabaseOptions o = buffered_options(fs, std::chrono::hours(1));
  {
    auto db = Database::open(dir_.path(), o);
    for (int i = 0; i < 3; ++i)
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    EXPECT_EQ(db->stats().durable_lsn, 0u);
    database_impl(*db).simulate_crash_for_testing();
  }
  const std::vector<log::Commit> commits = read_commits(dir_.path());
  ASSERT_EQ(commits.size(), 3u);
  std::filesystem::resize_file(dir_.path() / "log" / commits[1].segment,
                               commits[1].offset);
  auto db = Database::open(dir_.path(), o);
  EXPECT_TRUE(warnings_.contains("lost buffered tail"))
      << ::testing::PrintToString(warnings_.messages());
  EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
  EXPECT_FALSE(db->workflow_store().is_message_processed("m1"));
  EXPECT_EQ(db->stats().applied_lsn, 1u);
  db->workflow_store().mark_message_processed("m9");
  EXPECT_EQ(db->stats().applied_lsn, 2u);
}

TEST_F(DatabaseTest, UncleanCloseAcrossRebootRebuilds) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  DatabaseOptions o = options();
  o.file_system = fs;
  set_boot_id_for_testing("boot-1");
  {
    auto db = Database::open(dir_.path(), o);
    db->workflow_store().store(testutil::diamond_workflow("wf"));
    database_impl(*db).simulate_crash_for_testing();
  }
  {
    // Same boot: catch up, no rebuild.
    auto db = Database::open(dir_.path(), o);
    EXPECT_FALSE(warnings_.contains("rebuilding"));
    database_impl(*db).simulate_crash_for_testing();
  }
  set_boot_id_for_testing("boot-2");
  {
    auto db = Database::open(dir_.path(), o);
    EXPECT_TRUE(warnings_.contains("not closed cleanly before a reboot"));
    EXPECT_TRUE(db->workflow_store().exists("wf"));
    db->close();
  }
  const std::size_t warned = warnings_.messages().size();
  set_boot_id_for_testing("boot-3");
  {
    // A clean close survives a reboot.
    auto db = Database::open(dir_.path(), o);
    EXPECT_EQ(warnings_.messages().size(), warned);
    db->close();
  }
  set_boot_id_for_testing("");
}

TEST_F(DatabaseTest, CatchUpAfterCrashFoldsTheLogTail) {
  {
    auto db = open();
    db->workflow_store().store(testutil::diamond_workflow("wf"));
    db->close();
  }
  // Append commits to the log behind the views' back, through a second store
  // dir copy.
  const TempDir other;
  std::filesystem::copy(dir_.path(), other.path(),
                        std::filesystem::copy_options::recursive);
  {
    auto db = Database::open(other.path(), options());
    db->workflow_store().mark_message_processed("late");
    db->close();
  }
  std::filesystem::remove_all(other.path() / "views");
  std::filesystem::copy(dir_.path() / "views", other.path() / "views");
  auto db = Database::open(other.path(), options());
  EXPECT_TRUE(db->workflow_store().is_message_processed("late"));
  EXPECT_FALSE(warnings_.contains("rebuilding"));
}

TEST_F(DatabaseTest, ReadOnlyOpenInWriterProcessSharesViews) {
  auto db = open();
  db->workflow_store().store(testutil::diamond_workflow("wf"));
  auto reader = Database::open_read_only(dir_.path(), options());
  EXPECT_TRUE(reader->workflow_store().exists("wf"));
  db->workflow_store().mark_message_processed("m");
  EXPECT_TRUE(reader->workflow_store().is_message_processed("m"));
  EXPECT_EQ(database_impl(*db).views().environment_for_testing(),
            database_impl(*reader).views().environment_for_testing());
  EXPECT_THAT([&] { reader->workflow_store().mark_message_processed("x"); },
              ThrowsMessage<IOError>(HasSubstr("read-only")));
}

TEST_F(DatabaseTest, ReadOnlyOpenOfMissingStoreFails) {
  EXPECT_THROW(Database::open_read_only(dir_.path() / "nothing", options()),
               Error);
}

TEST_F(DatabaseTest, AuditScopeGoesIntoCommits) {
  {
    auto db = open();
    {
      AuditScope outer(AuditFields{"alice", "corr-1", "cause-1", "cli"});
      db->workflow_store().mark_message_processed("m1");
      {
        AuditScope inner(AuditFields{"bob", "", "", ""});
        db->workflow_store().mark_message_processed("m2");
      }
      db->workflow_store().mark_message_processed("m3");
    }
    db->workflow_store().mark_message_processed("m4");
    db->close();
  }
  std::vector<std::string> actors;
  for (const log::Commit& commit : read_commits(dir_.path())) {
    const DecodedCommit decoded = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    actors.push_back(decoded.audit.actor);
    if (decoded.audit.actor == "alice") {
      EXPECT_EQ(decoded.audit.source, "cli");
    }
  }
  EXPECT_EQ(actors, (std::vector<std::string>{"alice", "bob", "alice", ""}));
}

TEST_F(DatabaseTest, SmallMapGrowsUnderLoad) {
  DatabaseOptions o = options();
  o.map_size = std::uint64_t{1} << 20;
  o.durability = Durability::kBuffered;
  auto db = Database::open(dir_.path(), o);
  const std::uint64_t initial = database_impl(*db).views().map_size();
  for (int i = 0; i < 150; ++i) {
    db->workflow_store().store(testutil::full_workflow(fmt::format("wf{}", i)));
  }
  EXPECT_GT(database_impl(*db).views().map_size(), initial);
  for (int i = 0; i < 150; ++i)
    EXPECT_TRUE(db->workflow_store().exists(fmt::format("wf{}", i)));
  EXPECT_EQ(db->stats().commits, 150u);
}

// The views' meta holds, after every commit, the log's durable LSN and the
// commit's timestamp as of that commit, although a commit whose values equal
// what meta holds writes neither (most commits of a busy buffered store): the
// values are checked here, not which puts were made.
TEST_F(DatabaseTest, ViewsMetaHoldsTheDurableLsnAndTimestampOfTheLastCommit) {
  auto fs = std::make_shared<testutil::FaultFileSystem>();
  auto db = Database::open(
      dir_.path(), buffered_options(fs, std::chrono::milliseconds::max()));
  const auto meta = [&] {
    const LmdbViews::Snapshot snapshot =
        database_impl(*db).views().begin_read();
    return std::pair{meta_u64(snapshot, kMetaDurableLsn),
                     meta_i64(snapshot, kMetaLastTimestamp)};
  };
  const auto mark = [&](const std::string& id, Durability durability) {
    std::vector<Command> commands;
    commands.push_back(MarkMessageProcessed{id, std::nullopt, std::nullopt});
    database_impl(*db).pipeline()->commit(std::move(commands), durability);
  };
  const std::int64_t t0 = clock_->now_ms();
  using Meta =
      std::pair<std::optional<std::uint64_t>, std::optional<std::int64_t>>;

  mark("a", Durability::kBuffered);  // lsn 1, not durable
  EXPECT_EQ(meta(), (Meta{0u, t0}));
  mark("b", Durability::kBuffered);  // same durable LSN and timestamp
  EXPECT_EQ(meta(), (Meta{0u, t0}));
  mark("c", Durability::kSync);  // its fdatasync makes lsn 1-3 durable
  EXPECT_EQ(meta(), (Meta{3u, t0}));
  clock_->advance(5);
  mark("d", Durability::kBuffered);
  EXPECT_EQ(meta(), (Meta{3u, t0 + 5}));
  clock_->advance(-100);  // timestamps never decrease
  mark("e", Durability::kBuffered);
  EXPECT_EQ(meta(), (Meta{3u, t0 + 5}));
  mark("f", Durability::kSync);
  EXPECT_EQ(meta(), (Meta{6u, t0 + 5}));
  db->close();

  // The reopen starts from what meta holds: the next commit's timestamp does
  // not go below it and its durable LSN is the log's.
  db = Database::open(dir_.path(),
                      buffered_options(fs, std::chrono::milliseconds::max()));
  mark("g", Durability::kSync);
  EXPECT_EQ(meta(), (Meta{7u, t0 + 5}));
  db->close();
}

TEST_F(DatabaseTest, TimestampsNeverDecrease) {
  auto db = open();
  db->workflow_store().mark_message_processed("a");
  clock_->advance(-1000);
  db->workflow_store().mark_message_processed("b");
  db->close();
  const std::vector<log::Commit> commits = read_commits(dir_.path());
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[1].timestamp_ms, commits[0].timestamp_ms);
}

}  // namespace
}  // namespace wfstore
