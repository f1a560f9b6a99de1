// Adversarial checks of the history API: log positions after SIGKILLed
// writers and their catch-up, a read-only open querying beside a live writer
// process, every byte of a bundle tampered with its checksum recomputed,
// forks whose own writer goes on (the hash chain continues), a fork of a
// log with a torn tail, odd workflow ids, and deleted and re-stored
// workflows.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/maintenance.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tests/store/history_script.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/sha256.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using testutil::ChildProcess;
using testutil::log_events;
using testutil::quiet_options;
using testutil::read_file_bytes;
using testutil::TempDir;
using testutil::write_bytes;

std::string rehash(std::string bytes) {
  bytes.resize(bytes.size() - 32);
  const Sha256Digest digest = sha256(bytes);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return bytes;
}

// The log's events against History: event_at of every LSN, every workflow's
// events and counts, and the whole log by count().
void expect_history_matches_log(Database& db,
                                const std::filesystem::path& dir) {
  const std::vector<Event> log = log_events(dir);
  const History history(db);
  ASSERT_EQ(history.current_lsn(), log.size());
  std::map<std::string, std::vector<Event>> by_workflow;
  for (const Event& e : log) {
    const std::optional<Event> at = history.event_at(e.lsn);
    ASSERT_TRUE(at) << "lsn " << e.lsn;
    ASSERT_EQ(*at, e) << "lsn " << e.lsn;
    if (!e.workflow_id.empty()) by_workflow[e.workflow_id].push_back(e);
  }
  EventQuery all;
  EXPECT_EQ(history.count(all), log.size());
  for (const auto& [id, events] : by_workflow) {
    EventQuery q;
    q.workflow_id = id;
    q.limit = SIZE_MAX;
    EXPECT_EQ(history.events(q), events) << id;
    EXPECT_EQ(history.count(q), events.size()) << id;
    q.ascending = false;
    q.offset = 1;
    std::vector<Event> reversed(events.rbegin(), events.rend());
    if (!reversed.empty()) reversed.erase(reversed.begin());
    EXPECT_EQ(history.events(q), reversed) << id;
  }
}

// A writer's loop: workflows stored, stages updated in transactions with
// queue traffic, deletes and re-stores of the same ids, forever.
void writer_loop(const std::filesystem::path& dir, Durability durability,
                 int round, int report_fd) {
  auto db = Database::open(dir, quiet_options(durability));
  WorkflowStore& store = db->workflow_store();
  Queue queue(*db);
  for (int i = 0;; ++i) {
    AuditScope audit({fmt::format("actor-{}", i % 3), "c", "", ""});
    const std::string id = fmt::format("r{}-w{}", round, i % 7);
    if (store.exists(id)) {
      if (i % 5 == 0) {
        store.delete_workflow(id);
      } else {
        Transaction txn = store.transaction(&queue);
        StageExecution stage = store.retrieve_stage(id + ".setup").stage();
        stage.context.mutable_value()["i"] = i;
        txn.store_stage(stage);
        txn.push_message(testutil::start_stage(id, id + ".setup"));
        txn.commit();
      }
    } else {
      store.store(testutil::diamond_workflow(id));
    }
    if (i % 10 == 0) testutil::report_line(report_fd, "tick");
  }
}

// SIGKILLed writers (buffered and synced durability), a read-only open
// querying the store while each one runs, then a writer's reopen (catch-up):
// every event reads back by LSN as the log holds it.
TEST(HistoryReviewTest, LogPositionsAfterSigkilledWritersAndCatchUp) {
  const TempDir tmp;
  const std::filesystem::path dir = tmp / "store";
  Database::open(dir, quiet_options())->close();
  std::mt19937 rng(7);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    const Durability durability =
        round % 2 == 0 ? Durability::kBuffered : Durability::kSync;
    ChildProcess child = ChildProcess::spawn(
        [&](int fd) { writer_loop(dir, durability, round, fd); });
    ASSERT_TRUE(child.read_line());
    {
      // A reader beside the live writer: every LSN it sees reads back.
      auto reader = Database::open_read_only(dir, quiet_options());
      const History history(*reader);
      for (int i = 0; i < 30; ++i) {
        const std::uint64_t lsn = history.current_lsn();
        ASSERT_GT(lsn, 0u);
        const std::optional<Event> e = history.event_at(lsn);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->lsn, lsn);
        EventQuery q;
        q.workflow_id = e->workflow_id.empty() ? "none" : e->workflow_id;
        q.ascending = false;
        q.limit = 3;
        q.to_lsn = lsn;
        for (const Event& got : history.events(q)) {
          EXPECT_EQ(got.workflow_id, q.workflow_id);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      reader->close();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    child.kill_and_wait();
    auto db = Database::open(dir, quiet_options());
    expect_history_matches_log(*db, dir);
    db->close();
    if (HasFatalFailure()) return;
  }
  const ViewsVerifyReport verified = verify_store_views(dir);
  EXPECT_TRUE(verified.equal());
  rebuild_store_views(dir);
  auto db = Database::open(dir, quiet_options());
  expect_history_matches_log(*db, dir);
}

// The entries of the views' log_positions table of the store in `dir`.
std::vector<std::pair<std::string, std::string>> log_positions(
    const std::filesystem::path& dir) {
  LmdbViewsOptions options;
  options.read_only = true;
  return LmdbViews::open(dir / "views", options)->dump(Table::kLogPositions);
}

// The commit pipeline keeps the last log position it committed instead of
// reading it per commit: what a live writer records, group commits of
// several threads included, equals what a rebuild records from the log.
TEST(HistoryReviewTest, LiveLogPositionsEqualARebuilds) {
  const TempDir tmp;
  const std::filesystem::path dir = tmp / "store";
  // Two opens: the second's first commit finds the table the first left.
  for (int open = 0; open < 2; ++open) {
    auto db = Database::open(dir, quiet_options(Durability::kBuffered));
    WorkflowStore& store = db->workflow_store();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&store, open, t] {
        for (int i = 0; i < 200; ++i) {
          store.mark_message_processed(
              fmt::format("m-{}-{}-{}", open, t, i),
              std::string(static_cast<std::size_t>(200 + (i * 37) % 300), 'h'),
              std::nullopt);
          if (i % 50 == 0) {
            store.store(testutil::diamond_workflow(
                fmt::format("wf-{}-{}-{}", open, t, i)));
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    db->close();
  }
  const auto live = log_positions(dir);
  // 1,600 marks of 200-500 bytes fill dozens of 32 KiB log blocks.
  EXPECT_GT(live.size(), 20u);
  rebuild_store_views(dir);
  EXPECT_EQ(log_positions(dir), live);
}

// Every byte of a bundle changed with the checksum recomputed: each import
// either succeeds whole or fails with CorruptionError or InvalidArgumentError
// and changes nothing; never another error, never a crash.
TEST(HistoryReviewTest, EveryTamperedByteImportsWholeOrFailsCleanly) {
  const TempDir tmp;
  std::string bytes;
  {
    auto source = Database::open(tmp / "source", quiet_options());
    AuditScope audit({"a", "b", "c", "d"});
    Workflow wf = testutil::bare_workflow(
        "wf", "app", WorkflowStatus::kNotStarted, std::nullopt);
    source->workflow_store().store(wf);
    source->workflow_store().pause("wf", "ops");
    History(*source).export_workflow("wf", tmp / "wf.bundle");
    source->close();
    bytes = read_file_bytes(tmp / "wf.bundle");
  }
  ASSERT_LT(bytes.size(), 4096u);
  auto target =
      Database::open(tmp / "target", quiet_options(Durability::kBuffered));
  const std::filesystem::path file = tmp / "t.bundle";
  std::size_t imported = 0;
  for (std::size_t at = 0; at + 32 < bytes.size(); ++at) {
    for (const int mask : {0x01, 0x80, 0xff}) {
      std::string t = bytes;
      t[at] = static_cast<char>(static_cast<unsigned char>(t[at]) ^ mask);
      write_bytes(file, rehash(t));
      const std::uint64_t before = History(*target).current_lsn();
      try {
        const BundleInfo info = import_bundle(*target, file);
        ++imported;
        // Imported whole: undo it for the next one.
        if (target->workflow_store().exists(info.workflow_id)) {
          target->workflow_store().delete_workflow(info.workflow_id);
        }
      } catch (const CorruptionError&) {
        EXPECT_EQ(History(*target).current_lsn(), before) << at;
      } catch (const InvalidArgumentError&) {
        EXPECT_EQ(History(*target).current_lsn(), before) << at;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << at << " mask " << mask << ": unexpected "
                      << typeid(e).name() << ": " << e.what();
      }
    }
  }
  // Payload bytes (a name, a time) change without any check noticing.
  EXPECT_GT(imported, 0u);
  target->close();
  EXPECT_TRUE(verify_store_views(tmp / "target").equal());
}

// A fork at every commit boundary, then the fork's own writer commits: its
// log verifies end to end (the hash chain goes on from the original's).
TEST(HistoryReviewTest, AForksWriterContinuesAVerifiableHashChain) {
  const TempDir tmp;
  const std::filesystem::path dir = tmp / "store";
  auto db = Database::open(dir, quiet_options());
  const testutil::ScriptedHistory script = testutil::run_history_script(*db);
  const History history(*db);
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  for (std::uint64_t lsn = 1; lsn <= script.last_lsn;
       lsn = history.commit_end(lsn) + 1) {
    SCOPED_TRACE(lsn);
    const auto out = tmp / fmt::format("fork-{}", lsn);
    history.fork(lsn, out);
    {
      auto fork = Database::open(out, quiet_options());
      fork->workflow_store().store(testutil::diamond_workflow("after"));
      fork->workflow_store().pause("after", "me");
      fork->close();
    }
    const StoreDir store = StoreDir::open_existing(fs, out, false);
    const log::VerifyReport report =
        log::verify_log(fs, out / "log", store.id());
    EXPECT_EQ(report.last_lsn, history.commit_end(lsn) + 2);
    EXPECT_TRUE(verify_store_views(out).equal());
    std::filesystem::remove_all(out);
  }
  db->close();
}

// A store whose last segment ends in a torn write (a crash mid-append, not
// yet reopened by a writer): a read-only open forks it at its last commit;
// the fork opens, verifies and goes on; the original is untouched.
TEST(HistoryReviewTest, ForkOfALogWithATornTail) {
  const TempDir tmp;
  const std::filesystem::path dir = tmp / "store";
  {
    auto db = Database::open(dir, quiet_options());
    testutil::run_history_script(*db);
    db->close();
  }
  const std::vector<std::uint64_t> segments =
      log::list_segments(*posix_file_system(), dir / "log");
  const std::filesystem::path last =
      dir / "log" / log::segment_file_name(segments.back());
  {
    // A record header promising more bytes than follow.
    std::ofstream out(last, std::ios::binary | std::ios::app);
    const char torn[] = {'\x12', '\x34', '\x56', '\x78', '\x00',
                         '\x10', '\x01', 'x',    'y'};
    out.write(torn, sizeof torn);
  }
  const auto before = testutil::hash_files(dir);
  auto reader = Database::open_read_only(dir, quiet_options());
  const History history(*reader);
  const std::uint64_t end = history.current_lsn();
  ASSERT_GT(end, 0u);
  history.fork(end, tmp / "fork");
  reader->close();
  EXPECT_EQ(testutil::hash_files(dir), before);
  auto fork = Database::open(tmp / "fork", quiet_options());
  EXPECT_EQ(History(*fork).current_lsn(), end);
  fork->workflow_store().store(testutil::diamond_workflow("after"));
  fork->close();
  EXPECT_TRUE(verify_store_views(tmp / "fork").equal());
}

// Odd workflow ids, a delete and a re-store: history, as-of and diff.
TEST(HistoryReviewTest, OddIdsAndADeletedAndReStoredWorkflow) {
  const TempDir tmp;
  auto db = Database::open(tmp / "store", quiet_options());
  WorkflowStore& store = db->workflow_store();
  const std::vector<std::string> ids = {std::string("nul\0id", 6), "sp ace",
                                        "\xc3\xa9t\xc3\xa9",       "a:b",
                                        std::string(300, 'x'),     "%2F..%2F"};
  for (const std::string& id : ids) {
    store.store(testutil::bare_workflow(id, "app", WorkflowStatus::kNotStarted,
                                        std::nullopt));
  }
  const std::string& id = ids[1];
  const std::uint64_t stored = History(*db).current_lsn();
  store.delete_workflow(id);
  const std::uint64_t deleted = History(*db).current_lsn();
  Workflow again =
      testutil::bare_workflow(id, "app2", WorkflowStatus::kRunning, 5);
  store.store(again);
  const History history(*db);
  EXPECT_TRUE(history.workflow_as_of(id, stored));
  EXPECT_FALSE(history.workflow_as_of(id, deleted));
  ASSERT_TRUE(history.workflow_as_of(id, history.current_lsn()));
  EXPECT_EQ(*history.workflow_as_of(id, history.current_lsn()),
            store.retrieve(id));
  for (const std::string& each : ids) {
    EventQuery q;
    q.workflow_id = each;
    const std::vector<Event> events = history.events(q);
    ASSERT_FALSE(events.empty());
    for (const Event& e : events) EXPECT_EQ(e.workflow_id, each);
    EXPECT_EQ(history.entity_history({EntityKind::kWorkflow, each}), events);
  }
  EventQuery q;
  q.workflow_id = id;
  EXPECT_EQ(history.count(q), 3u);
  const WorkflowDiff diff = history.diff(id, stored, history.current_lsn());
  EXPECT_FALSE(diff.changes.empty());
}

}  // namespace
}  // namespace wfstore
