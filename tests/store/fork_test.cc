// History::fork: a fork at every LSN of a small store opens, verifies, records
// its origin and equals the original as of that LSN, while the original's
// files stay byte-identical; forks of forks, of a read-only open, of a store
// with many segments and beside a live writer; bad LSNs and targets, and
// damage, change nothing.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/maintenance.h"

#include "tests/store/history_script.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::capture_state;
using testutil::hash_files;
using testutil::log_events;
using testutil::quiet_options;
using testutil::run_history_script;
using testutil::ScriptedHistory;
using testutil::TempDir;

// The hash of the commit that ends at `lsn` in the store in `dir`.
std::string commit_hash_at(const std::filesystem::path& dir,
                           std::uint64_t lsn) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, false);
  log::Reader reader(fs, store.log_dir(), store.id(), lsn, {});
  log::Commit commit;
  while (reader.next(&commit)) {
    if (commit.last_lsn() == lsn) return log::to_hex(commit.hash);
  }
  return "";
}

// Checks a fork of the store in `source` taken at `lsn` (report `report`)
// against the original's recorded history.
void check_fork(const std::filesystem::path& source,
                const std::string& source_id, const ScriptedHistory& history,
                const std::vector<Event>& source_events, std::uint64_t lsn,
                const ForkReport& report, const std::filesystem::path& out) {
  SCOPED_TRACE(fmt::format("fork at lsn {}", lsn));
  const std::uint64_t end = report.last_lsn;
  EXPECT_GE(end, lsn);
  EXPECT_EQ(source_events[end - 1].commit_id, source_events[lsn - 1].commit_id);
  EXPECT_TRUE(end == source_events.size() ||
              source_events[end].commit_id == end + 1);
  EXPECT_EQ(report.events, end);
  EXPECT_GT(report.log_bytes, 0u);
  const ViewsVerifyReport verified = verify_store_views(out);
  EXPECT_TRUE(verified.equal())
      << ::testing::PrintToString(verified.differences);
  EXPECT_EQ(verified.applied_lsn, end);
  // The fork's log is the original's through `end`, event for event.
  const std::vector<Event> events = log_events(out);
  ASSERT_EQ(events.size(), end);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i], source_events[i]) << "lsn " << i + 1;
  }
  auto fork = Database::open(out, quiet_options());
  EXPECT_EQ(store_id(*fork), report.store_id);
  EXPECT_NE(report.store_id, source_id);
  const std::optional<ForkOrigin> origin = fork_origin(*fork);
  ASSERT_TRUE(origin);
  EXPECT_EQ(origin->source_store_id, source_id);
  EXPECT_EQ(origin->lsn, end);
  EXPECT_EQ(origin->commit_hash, commit_hash_at(source, end));
  EXPECT_EQ(capture_state(fork->workflow_store(), history.ids),
            history.states.at(end));
  // Its own history goes on from there.
  fork->workflow_store().store(testutil::diamond_workflow("after-fork"));
  EXPECT_EQ(History(*fork).current_lsn(), end + 1);
  fork->close();
}

class ForkTest : public ::testing::Test {
 protected:
  // Runs the script on a new store in dir_ and closes it.
  ScriptedHistory write_closed_store() {
    auto db = Database::open(dir_, quiet_options());
    ScriptedHistory history = run_history_script(*db);
    db->close();
    return history;
  }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
};

TEST_F(ForkTest, AForkAtEveryLsnEqualsTheOriginalAsOfThatLsn) {
  auto db = Database::open(dir_, quiet_options());
  const ScriptedHistory history = run_history_script(*db);
  const std::vector<Event> source_events = log_events(dir_);
  ASSERT_EQ(source_events.size(), history.last_lsn);
  const std::string source_id = store_id(*db);
  EXPECT_EQ(fork_origin(*db), std::nullopt);
  const auto before = hash_files(dir_);
  const History h(*db);
  bool mid_commit = false;
  for (std::uint64_t lsn = 1; lsn <= history.last_lsn; ++lsn) {
    mid_commit |= source_events[lsn - 1].commit_id != lsn;
    const auto out = tmp_ / fmt::format("fork-{}", lsn);
    const ForkReport report = h.fork(lsn, out);
    EXPECT_EQ(report.last_lsn, h.commit_end(lsn));
    check_fork(dir_, source_id, history, source_events, lsn, report, out);
    std::filesystem::remove_all(out);
  }
  EXPECT_TRUE(mid_commit);  // some forks were asked inside a commit
  EXPECT_EQ(hash_files(dir_), before);
  db->close();
}

TEST_F(ForkTest, AForkOfAForkAndOfAReadOnlyOpen) {
  const ScriptedHistory history = write_closed_store();
  auto ro = Database::open_read_only(dir_, quiet_options());
  const std::string source_id = store_id(*ro);
  const auto first = tmp_ / "fork-1";
  const ForkReport one = History(*ro).fork(history.last_lsn - 1, first);
  EXPECT_EQ(one.last_lsn, history.last_lsn - 1);
  ro->close();

  auto fork = Database::open(first, quiet_options());
  const auto second = tmp_ / "fork-2";
  const std::uint64_t at = history.states.begin()->first + 3;
  const ForkReport two = History(*fork).fork(at, second);
  fork->close();
  auto fork2 = Database::open(second, quiet_options());
  const std::optional<ForkOrigin> origin = fork_origin(*fork2);
  ASSERT_TRUE(origin);
  EXPECT_EQ(origin->source_store_id, one.store_id);
  EXPECT_NE(origin->source_store_id, source_id);
  EXPECT_EQ(origin->lsn, two.last_lsn);
  EXPECT_EQ(capture_state(fork2->workflow_store(), history.ids),
            testutil::state_as_of(history, at));
  fork2->close();
  EXPECT_TRUE(verify_store_views(second).equal());
}

// Appends `count` commits of one stored workflow each to the store in `dir`
// through a log writer that rolls segments at `roll_bytes`; the next open
// folds them.
void append_rolling(const std::filesystem::path& dir, int count,
                    std::uint64_t roll_bytes) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, true);
  log::WriterOptions options;
  options.roll_bytes = roll_bytes;
  auto writer = log::Writer::open(fs, store.log_dir(), store.id(), options);
  for (int i = 0; i < count; ++i) {
    const std::uint64_t lsn = writer->last_lsn() + 1;
    const std::string body = encode_commit_body(
        {}, {WorkflowStored{
                testutil::diamond_workflow(fmt::format("rolled-{}", i))}});
    writer->append(lsn, 1, 4'000'000'000'000 + i, body);
  }
  writer->sync();
  writer->close();
}

TEST_F(ForkTest, CopiesEverySegmentAndCutsTheLast) {
  const ScriptedHistory history = write_closed_store();
  append_rolling(dir_, 40, 20000);
  const std::vector<Event> source_events = log_events(dir_);
  auto db = Database::open(dir_, quiet_options());
  const History h(*db);
  const std::vector<std::uint64_t> segments =
      log::list_segments(*posix_file_system(), dir_ / "log");
  ASSERT_GT(segments.size(), 5u);
  const auto before = hash_files(dir_);
  // At a segment's last commit, at the next segment's first, and at the end.
  for (std::uint64_t lsn : {segments[3] - 1, segments[3], h.current_lsn()}) {
    const auto out = tmp_ / fmt::format("fork-{}", lsn);
    const ForkReport report = h.fork(lsn, out);
    EXPECT_EQ(report.last_lsn, lsn);
    EXPECT_TRUE(verify_store_views(out).equal());
    auto fork = Database::open(out, quiet_options());
    EXPECT_EQ(History(*fork).current_lsn(), lsn);
    EXPECT_EQ(capture_state(fork->workflow_store(), history.ids),
              history.states.at(history.last_lsn));
    // The rolled workflows stored at or before the LSN, and no other.
    for (const Event& event : source_events) {
      if (event.workflow_id.rfind("rolled-", 0) != 0) continue;
      EXPECT_EQ(fork->workflow_store().exists(event.workflow_id),
                event.lsn <= lsn)
          << event.workflow_id;
    }
    fork->close();
    const std::vector<std::uint64_t> copied =
        log::list_segments(*posix_file_system(), out / "log");
    EXPECT_EQ(copied.back(), *std::prev(std::upper_bound(segments.begin(),
                                                         segments.end(), lsn)));
  }
  EXPECT_EQ(hash_files(dir_), before);
  db->close();
}

TEST_F(ForkTest, ForksWhileAnotherThreadCommits) {
  auto db = Database::open(dir_, quiet_options(Durability::kBuffered));
  run_history_script(*db);
  std::atomic<bool> stop{false};
  std::atomic<int> stored{0};
  std::thread writer([&] {
    while (!stop) {
      db->workflow_store().store(
          testutil::diamond_workflow(fmt::format("live-{}", stored.load())));
      ++stored;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const History h(*db);
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t lsn = h.current_lsn();
    const auto out = tmp_ / fmt::format("fork-{}", i);
    const ForkReport report = h.fork(lsn, out);
    EXPECT_EQ(report.last_lsn, lsn);
    EXPECT_TRUE(verify_store_views(out).equal());
    auto fork = Database::open(out, quiet_options());
    // Every live workflow the fork holds came before the fork's LSN.
    const std::vector<Event> events = log_events(out);
    int live = 0;
    for (const Event& event : events) {
      live += event.workflow_id.rfind("live-", 0) == 0 ? 1 : 0;
    }
    for (int k = 0; k < live; ++k) {
      EXPECT_NO_THROW(
          fork->workflow_store().retrieve(fmt::format("live-{}", k)));
    }
    EXPECT_THROW(fork->workflow_store().retrieve(fmt::format("live-{}", live)),
                 WorkflowNotFoundError);
    fork->close();
  }
  stop = true;
  writer.join();
  EXPECT_GT(stored.load(), 0);
  db->close();
}

TEST_F(ForkTest, BadLsnsAndTargetsChangeNothing) {
  auto db = Database::open(dir_, quiet_options());
  const ScriptedHistory history = run_history_script(*db);
  const History h(*db);
  const auto before = hash_files(dir_);
  const auto out = tmp_ / "fork";
  EXPECT_THAT([&] { h.fork(0, out); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("lsn 0")));
  EXPECT_THROW(h.fork(history.last_lsn + 1, out), InvalidArgumentError);
  EXPECT_FALSE(std::filesystem::exists(out));
  // A target that holds anything, or is a file.
  std::filesystem::create_directories(out);
  std::ofstream(out / "keep.txt") << "mine";
  EXPECT_THAT(
      [&] { h.fork(1, out); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("not an empty directory")));
  EXPECT_EQ(testutil::read_file_bytes(out / "keep.txt"), "mine");
  EXPECT_THROW(h.fork(1, out / "keep.txt"), InvalidArgumentError);
  EXPECT_EQ(testutil::read_file_bytes(out / "keep.txt"), "mine");
  // The original is a store: not a target either, nor a place inside it.
  EXPECT_THROW(h.fork(1, dir_), InvalidArgumentError);
  EXPECT_THAT(
      [&] { h.fork(1, dir_ / "forks" / "one"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("inside the store")));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "forks"));
  // An existing empty directory is a target.
  std::filesystem::create_directories(tmp_ / "empty");
  EXPECT_NO_THROW(h.fork(1, tmp_ / "empty"));
  EXPECT_EQ(hash_files(dir_), before);
  db->close();
  // A closed store.
  EXPECT_THROW(h.fork(1, tmp_ / "closed"), IOError);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "closed"));
}

TEST_F(ForkTest, DamageBeforeTheLsnFailsAndRemovesTheFork) {
  write_closed_store();
  append_rolling(dir_, 40, 20000);
  {
    auto db = Database::open(dir_, quiet_options());  // folds the new commits
    db->close();
  }
  // Flip a byte in the middle of the first segment, which a read-only open
  // does not read.
  const auto segment = dir_ / "log" / log::segment_file_name(1);
  std::string bytes = testutil::read_file_bytes(segment);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x40);
  std::ofstream(segment, std::ios::binary | std::ios::trunc) << bytes;
  const auto before = hash_files(dir_);
  auto ro = Database::open_read_only(dir_, quiet_options());
  const History h(*ro);
  const std::uint64_t last = h.current_lsn();
  // A fork into a missing directory (with a missing parent) is removed whole;
  // an existing empty one is emptied again.
  const auto out = tmp_ / "new" / "fork";
  EXPECT_THROW(h.fork(last, out), CorruptionError);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "new"));
  std::filesystem::create_directories(tmp_ / "empty");
  EXPECT_THROW(h.fork(last, tmp_ / "empty"), CorruptionError);
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "empty"));
  ro->close();
  EXPECT_EQ(hash_files(dir_), before);
}

}  // namespace
}  // namespace wfstore
