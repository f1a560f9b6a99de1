// Reading a store's events in LSN order (follow_events, durable
// subscriptions, the Kafka export: LogCursor under read_committed_events)
// across segments and commits of several events: every event once, in
// order, from any starting LSN, reading each block of the log about once.

#include "store/history/log_cursor.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/subscriptions.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "store/database_impl.h"
#include "tests/testutil/counting_file_system.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

constexpr std::uint64_t kRollBytes = std::uint64_t{64} * 1024;
constexpr int kCommits = 3000;

class LogCursorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_roll_bytes_for_testing(kRollBytes);
    DatabaseOptions o = testutil::quiet_options(Durability::kBuffered);
    o.file_system = fs_;
    db_ = Database::open(dir_, o);
    // Every seventh commit marks three messages in one transaction.
    WorkflowStore& store = db_->workflow_store();
    for (int i = 0; i < kCommits; ++i) {
      if (i % 7 == 0) {
        Transaction txn = store.transaction();
        for (int k = 0; k < 3; ++k) {
          txn.mark_message_processed(message_id(ids_.size()));
          ids_.push_back(message_id(ids_.size()));
        }
        txn.commit();
      } else {
        store.mark_message_processed(message_id(ids_.size()));
        ids_.push_back(message_id(ids_.size()));
      }
    }
  }
  void TearDown() override {
    if (db_) db_->close();
    set_log_roll_bytes_for_testing(0);
  }

  static std::string message_id(std::size_t i) {
    return fmt::format("message-{:06}", i);
  }

  // The events follow_events visits after `after` (below the last), `max`
  // at most.
  std::vector<Event> follow(std::uint64_t after, std::uint64_t max) {
    const std::uint64_t end = db_->stats().applied_lsn;
    std::vector<Event> out;
    follow_events(
        *db_, after,
        [&](const Event& event) {
          out.push_back(event);
          return out.size() < max && event.lsn < end;
        },
        nullptr);
    return out;
  }

  // Checks that `events` are the events at after+1, after+2, ...
  void expect_events_from(const std::vector<Event>& events,
                          std::uint64_t after) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      const std::uint64_t lsn = after + 1 + i;
      ASSERT_EQ(events[i].lsn, lsn);
      const auto* marked = std::get_if<MessageProcessed>(&events[i].payload);
      ASSERT_NE(marked, nullptr) << "lsn " << lsn;
      EXPECT_EQ(marked->message_id, ids_[lsn - 1]);
    }
  }

  testutil::TempDir temp_;
  std::filesystem::path dir_ = temp_ / "store";
  std::shared_ptr<testutil::CountingFileSystem> fs_ =
      std::make_shared<testutil::CountingFileSystem>();
  std::unique_ptr<Database> db_;
  std::vector<std::string> ids_;
};

TEST_F(LogCursorTest,
       FollowingFromTheStartReadsEveryEventOnceAndEachBlockOnce) {
  const std::uint64_t end = db_->stats().applied_lsn;
  ASSERT_EQ(end, ids_.size());
  const std::size_t segments = log::list_segments(*fs_, dir_ / "log").size();
  ASSERT_GE(segments, 4u);
  fs_->reset();
  const std::vector<Event> events = follow(0, end);
  ASSERT_EQ(events.size(), end);
  expect_events_from(events, 0);
  // Each block once, and a block or two more where each batch of 1,024
  // events starts and where each segment is found. Reading a block per
  // commit, as a cursor without the block it read last does, is 30 times
  // the log here.
  const std::uint64_t log = testutil::log_bytes(dir_);
  const std::uint64_t starts = end / 1024 + 1 + segments;
  EXPECT_LE(fs_->bytes_read(), log + 2 * starts * log::kBlockSize)
      << "log " << log << " bytes in " << segments << " segments";
}

TEST_F(LogCursorTest, FollowingFromAnyLsnStartsThere) {
  const std::uint64_t end = db_->stats().applied_lsn;
  // Inside a commit of three, at its last event, around a segment's first
  // LSN, and the last event.
  std::vector<std::uint64_t> starts = {1, 2, 3, 4, 500, end - 1};
  for (const std::uint64_t first : log::list_segments(*fs_, dir_ / "log")) {
    if (first > 1) {
      starts.push_back(first - 2);
      starts.push_back(first - 1);
      starts.push_back(first);
    }
  }
  for (const std::uint64_t after : starts) {
    SCOPED_TRACE(fmt::format("after lsn {}", after));
    const std::vector<Event> events = follow(after, 2000);
    ASSERT_EQ(events.size(), std::min<std::uint64_t>(2000, end - after));
    expect_events_from(events, after);
  }
}

// take_event() hands an event out without a copy; asked for again, the
// cursor decodes its commit again rather than return what was moved out.
TEST_F(LogCursorTest, AnEventTakenOutIsDecodedAgainWhenAskedAgain) {
  Database::Impl& impl = database_impl(*db_);
  const LmdbViews::Snapshot snapshot = impl.core().read();
  LogCursor log(snapshot, impl.store_dir(), impl.file_system());
  // LSNs 1-3 are the first transaction's three events.
  const Event taken = log.take_event(2);
  EXPECT_EQ(taken.lsn, 2u);
  EXPECT_EQ(log.commits_decoded(), 1u);
  const Event& again = log.event(2);
  EXPECT_EQ(log.commits_decoded(), 2u);
  EXPECT_EQ(again, taken);
  EXPECT_EQ(std::get<MessageProcessed>(log.take_event(3).payload).message_id,
            ids_[2]);
  EXPECT_EQ(std::get<MessageProcessed>(log.event(1).payload).message_id,
            ids_[0]);
  EXPECT_EQ(log.commits_decoded(), 2u);
  // Another commit and back: the taken event is decoded anew with it.
  EXPECT_EQ(log.event(4).lsn, 4u);
  EXPECT_EQ(std::get<MessageProcessed>(log.event(3).payload).message_id,
            ids_[2]);
  EXPECT_EQ(log.commits_decoded(), 4u);
}

}  // namespace
}  // namespace wfstore
