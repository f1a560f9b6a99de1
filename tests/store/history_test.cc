// for_each_event: every event of a store's log in LSN order with its envelope,
// from any LSN, stopping when asked; a torn tail ends the walk, damage before
// it is corruption; beside a live writer; a missing store is refused.

#include "wfstore/history.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/transaction.h"

#include "tests/testutil/log_test_util.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using wfstore::testutil::TempDir;

// Stores two workflows under an audit scope, marks three messages processed in
// one transaction and pauses a workflow: commits of one and of several events.
// Returns the last LSN.
std::uint64_t write_history(Database& db) {
  AuditScope audit({"alice@example.com", "release-7", "", "api"});
  WorkflowStore& store = db.workflow_store();
  store.store(wfstore::testutil::diamond_workflow("wf-1"));
  store.store(wfstore::testutil::diamond_workflow("wf-2"));
  Transaction txn = store.transaction();
  for (const char* id : {"msg-1", "msg-2", "msg-3"})
    txn.mark_message_processed(id, "StartStageHandler", "wf-2");
  txn.commit();
  store.pause("wf-1", "alice@example.com");
  return db.stats().applied_lsn;
}

std::uint64_t write_store(const std::filesystem::path& dir) {
  auto db = Database::open(dir);
  const std::uint64_t last = write_history(*db);
  db->close();
  return last;
}

std::vector<Event> all_events(const std::filesystem::path& dir,
                              std::uint64_t after_lsn = 0,
                              const Logger& logger = {}) {
  std::vector<Event> events;
  for_each_event(
      dir, after_lsn,
      [&](const Event& event) {
        events.push_back(event);
        return true;
      },
      logger);
  return events;
}

// The store's one segment file.
std::filesystem::path last_segment(const std::filesystem::path& dir) {
  std::filesystem::path last;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "log")) {
    if (entry.path().extension() == ".log" && entry.path() > last)
      last = entry.path();
  }
  return last;
}

TEST(HistoryTest, VisitsEveryEventInLsnOrderWithItsEnvelope) {
  const TempDir tmp;
  const std::uint64_t last = write_store(tmp / "store");
  const std::vector<Event> events = all_events(tmp / "store");
  ASSERT_EQ(events.size(), last);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& event = events[i];
    EXPECT_EQ(event.lsn, i + 1);
    EXPECT_LE(event.commit_id, event.lsn);
    EXPECT_GT(event.timestamp_ms, 0);
    EXPECT_EQ(event.audit.actor, "alice@example.com");
    EXPECT_EQ(event.audit.correlation_id, "release-7");
    EXPECT_EQ(event.audit.source, "api");
  }
  EXPECT_EQ(events.front().type(), EventType::kWorkflowStored);
  EXPECT_EQ(events.front().workflow_id, "wf-1");
  EXPECT_EQ(events.front().commit_id, 1u);
  // The transaction's three events share its commit.
  EXPECT_EQ(events[2].type(), EventType::kMessageProcessed);
  EXPECT_EQ(events[2].commit_id, 3u);
  EXPECT_EQ(events[4].commit_id, 3u);
  EXPECT_EQ(events[4].workflow_id, "wf-2");
  EXPECT_EQ(events.back().type(), EventType::kWorkflowPaused);
  EXPECT_EQ(events.back().workflow_id, "wf-1");
  EXPECT_EQ(event_to_json(events.back())["lsn"], last);
}

TEST(HistoryTest, StartsAfterAnLsnAndReturnsTheLastOneVisited) {
  const TempDir tmp;
  const std::uint64_t last = write_store(tmp / "store");
  ASSERT_GT(last, 3u);
  const std::vector<Event> events = all_events(tmp / "store", 2);
  ASSERT_EQ(events.size(), last - 2);
  EXPECT_EQ(events.front().lsn, 3u);
  std::size_t visits = 0;
  const auto count = [&](const Event&) { return ++visits, true; };
  EXPECT_EQ(for_each_event(tmp / "store", 0, count), last);
  EXPECT_EQ(visits, last);
  // Nothing after the end: the LSN given comes back.
  EXPECT_EQ(for_each_event(tmp / "store", last, count), last);
  EXPECT_EQ(for_each_event(tmp / "store", last + 10, count), last + 10);
  EXPECT_EQ(visits, last);
}

TEST(HistoryTest, StopsWhenVisitReturnsFalseAndResumesFromItsResult) {
  const TempDir tmp;
  const std::uint64_t last = write_store(tmp / "store");
  std::vector<std::uint64_t> seen;
  const std::uint64_t stopped =
      for_each_event(tmp / "store", 0, [&](const Event& event) {
        seen.push_back(event.lsn);
        return seen.size() < 3;
      });
  EXPECT_EQ(stopped, 3u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
  const std::vector<Event> rest = all_events(tmp / "store", stopped);
  ASSERT_EQ(rest.size(), last - 3);
  EXPECT_EQ(rest.front().lsn, 4u);
}

TEST(HistoryTest, ATornTailEndsTheWalkWithAWarning) {
  const TempDir tmp;
  const std::uint64_t last = write_store(tmp / "store");
  {
    std::ofstream out(last_segment(tmp / "store"),
                      std::ios::binary | std::ios::app);
    out << std::string(300, '\xa5');
  }
  std::vector<std::string> warnings;
  const std::vector<Event> events =
      all_events(tmp / "store", 0, [&](LogLevel level, std::string_view m) {
        if (level == LogLevel::kWarning) warnings.emplace_back(m);
      });
  ASSERT_EQ(events.size(), last);
  EXPECT_EQ(events.back().lsn, last);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings.front(), HasSubstr("torn tail"));
}

// A walk beside a live writer in the same store: the record being written
// after the planned end is no torn tail, so no walk warns, and each walk's
// events are the store's, in LSN order, up to where the log ended.
TEST(HistoryTest, AWalkBesideALiveWriterReportsNoTornTail) {
  const TempDir tmp;
  auto db = Database::open(tmp / "store");
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 600; ++i) {
      db->workflow_store().store(
          wfstore::testutil::diamond_workflow("wf-" + std::to_string(i)));
    }
    done = true;
  });
  std::vector<std::string> warnings;
  int walks = 0;
  while (!done || walks == 0) {
    std::uint64_t expected = 1;
    for_each_event(
        tmp / "store", 0,
        [&](const Event& event) {
          EXPECT_EQ(event.lsn, expected);
          expected = event.lsn + 1;
          return true;
        },
        [&](LogLevel, std::string_view m) { warnings.emplace_back(m); });
    ++walks;
  }
  writer.join();
  db->close();
  EXPECT_GT(walks, 1);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(HistoryTest, DamageBeforeTheEndIsCorruption) {
  const TempDir tmp;
  {
    // Commits past the first 32 KiB block vouch for the first one as durable.
    auto db = Database::open(tmp / "store");
    for (int i = 0; i < 40; ++i) {
      db->workflow_store().store(
          wfstore::testutil::diamond_workflow("wf-" + std::to_string(i)));
    }
    db->close();
  }
  const std::filesystem::path segment = last_segment(tmp / "store");
  ASSERT_GT(std::filesystem::file_size(segment), 2u * 32768);
  // Every bit of a byte in the middle of the first commit (a fixed value may
  // be the one already there).
  wfstore::log::testutil::flip_bit(segment, 200, 0xff);
  EXPECT_THROW(all_events(tmp / "store"), CorruptionError);
}

TEST(HistoryTest, ReadsBesideALiveWriterUpToItsLastCommit) {
  const TempDir tmp;
  auto db = Database::open(tmp / "store");
  const std::uint64_t last = write_history(*db);
  const std::vector<Event> events = all_events(tmp / "store");
  ASSERT_EQ(events.size(), last);
  EXPECT_EQ(events.back().lsn, last);
  db->workflow_store().resume("wf-1");
  EXPECT_EQ(all_events(tmp / "store", last).size(), 1u);
  db->close();
}

TEST(HistoryTest, AMissingDirectoryIsRefused) {
  const TempDir tmp;
  EXPECT_THROW(all_events(tmp / "nothing"), InvalidArgumentError);
  std::filesystem::create_directories(tmp / "empty");
  EXPECT_THROW(all_events(tmp / "empty"), InvalidArgumentError);
}

}  // namespace
}  // namespace wfstore
