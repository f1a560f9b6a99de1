// The log writer: appends, rolls, syncs, bad input, I/O failures that poison
// it, and a sync or roll waiting beside a failing concurrent sync.

#include "wfstore_internal/log_writer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/log_test_util.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using wfstore::testutil::FaultFileSystem;
using wfstore::testutil::name_ends_with;

class LogWriterTest : public LogFixture {};

TEST_F(LogWriterTest, FreshLogStartsAtLsnOneWithASyncedHeader) {
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 0u);
  EXPECT_EQ(w->durable_lsn(), 0u);
  EXPECT_EQ(w->last_hash(), Hash{});
  EXPECT_EQ(list_segments(*fs_, dir_), std::vector<std::uint64_t>{1});
  EXPECT_EQ(file_size(segment_path(1)), kHeaderSize + kSegmentHeaderSize);
}

TEST_F(LogWriterTest, AppendsAreReadBackWithTheirHashChain) {
  auto w = open_writer();
  const Hash h1 = w->append(1, 2, 111, "first");
  const Hash h2 = w->append(3, 1, 222, "second");
  EXPECT_EQ(w->last_lsn(), 3u);
  EXPECT_EQ(w->durable_lsn(), 0u);
  EXPECT_EQ(w->last_hash(), h2);
  w->sync();
  EXPECT_EQ(w->durable_lsn(), 3u);
  w->append(4, 1, 333, "third");
  const auto commits = read_all();
  ASSERT_EQ(commits.size(), 3u);
  EXPECT_EQ(commits[0].first_lsn, 1u);
  EXPECT_EQ(commits[0].last_lsn(), 2u);
  EXPECT_EQ(commits[0].timestamp_ms, 111);
  EXPECT_EQ(commits[0].body, "first");
  EXPECT_EQ(commits[0].prev_hash, Hash{});
  EXPECT_EQ(commits[0].hash, h1);
  EXPECT_EQ(commits[1].prev_hash, h1);
  EXPECT_EQ(commits[1].durable_lsn, 0u);
  EXPECT_EQ(commits[2].prev_hash, h2);
  EXPECT_EQ(commits[2].durable_lsn,
            3u);  // the writer's durable LSN when written
  EXPECT_EQ(commits[2].segment, segment_file_name(1));
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogWriterTest, LsnsStayDenseWithinCommitsAcrossSegmentRolls) {
  auto w = open_writer(2000);
  std::uint64_t lsn = 1;
  for (std::uint32_t i = 0; i < 40; ++i) {
    const std::uint32_t events = 1 + i % 7;
    w->append(lsn, events, 0, body_for(lsn, 100 + 37 * (i % 20)));
    lsn += events;
  }
  w->sync();
  const auto segments = list_segments(*fs_, dir_);
  ASSERT_GT(segments.size(), 5u);
  const auto commits = read_all();
  ASSERT_EQ(commits.size(), 40u);
  EXPECT_TRUE(damages_.empty());
  std::uint64_t expected = 1;
  for (const Commit& c : commits) {
    EXPECT_EQ(c.first_lsn, expected);
    EXPECT_EQ(c.body, body_for(c.first_lsn, c.body.size()));
    // A commit never spans segments: its segment starts at or before it, and
    // the next segment after its last LSN.
    const std::uint64_t seg = *parse_segment_file_name(c.segment);
    EXPECT_LE(seg, c.first_lsn);
    const auto next = std::upper_bound(segments.begin(), segments.end(), seg);
    if (next != segments.end()) {
      EXPECT_GT(*next, c.last_lsn());
    }
    expected = c.last_lsn() + 1;
  }
  // Sealed segments end at their last record; the live one too once closed
  // (the zeros written ahead are cut off).
  for (std::uint64_t seg : segments) {
    if (seg != segments.back()) {
      EXPECT_LE(file_size(segment_path(seg)), 2000u);
    }
  }
  EXPECT_GT(file_size(segment_path(segments.back())), kDefaultFillBytes);
  w.reset();
  EXPECT_LE(file_size(segment_path(segments.back())), 2000u);
  EXPECT_EQ(expected, lsn);
}

TEST_F(LogWriterTest, OneCommitLargerThanTheRollSizeGetsItsOwnSegment) {
  auto w = open_writer(1000);
  add(*w, 100);
  add(*w, 5000);
  add(*w, 100);
  EXPECT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(read_all().size(), 3u);
}

// With mapped_writes the live segment, and only it, is mapped; records of
// every size read back with their hash chain across rolls, a close (which
// cuts the zeros) and a reopen.
TEST_F(LogWriterTest, MappedWritesReadBackAcrossRollsAndAReopen) {
  constexpr std::uint64_t kRoll = 64 * 1024;
  auto w = open_writer(kRoll, /*mapped_writes=*/true);
  EXPECT_TRUE(wfstore::testutil::is_mapped_for_writes(segment_path(1)));
  std::vector<std::uint64_t> firsts;
  std::vector<std::size_t> sizes;
  const std::vector<std::size_t> cycle = {40, 200, 300, 2100, 5000, 90};
  for (int i = 0; i < 120; ++i) {
    const std::size_t size = cycle[static_cast<std::size_t>(i) % cycle.size()];
    firsts.push_back(add(*w, size));
    sizes.push_back(size);
  }
  const std::vector<std::uint64_t> segments = list_segments(*fs_, dir_);
  ASSERT_GE(segments.size(), 3u);
  for (const std::uint64_t segment : segments) {
    EXPECT_EQ(wfstore::testutil::is_mapped_for_writes(segment_path(segment)),
              segment == segments.back())
        << segment;
  }
  w.reset();
  EXPECT_FALSE(
      wfstore::testutil::is_mapped_for_writes(segment_path(segments.back())));
  w = open_writer(kRoll, /*mapped_writes=*/true);
  EXPECT_TRUE(
      wfstore::testutil::is_mapped_for_writes(segment_path(segments.back())));
  for (int i = 0; i < 10; ++i) {
    firsts.push_back(add(*w, 150));
    sizes.push_back(150);
  }
  const auto commits = read_all();
  EXPECT_TRUE(damages_.empty());
  ASSERT_EQ(commits.size(), firsts.size());
  for (std::size_t i = 0; i < commits.size(); ++i) {
    EXPECT_EQ(commits[i].first_lsn, firsts[i]);
    EXPECT_EQ(commits[i].body, body_for(firsts[i], sizes[i])) << i;
    if (i > 0) {
      EXPECT_EQ(commits[i].prev_hash, commits[i - 1].hash);
    }
  }
  EXPECT_EQ(commits.back().hash, w->last_hash());
}

TEST_F(LogWriterTest, RollSealsTheOldSegmentBeforeTheNewHeader) {
  auto fault = std::make_shared<FaultFileSystem>();
  fs_ = fault;
  auto w = open_writer(700);
  add(*w, 200);
  add(*w, 200);
  EXPECT_EQ(w->durable_lsn(), 0u);
  fault->reset_stats();
  add(*w, 200);  // rolls
  EXPECT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(w->durable_lsn(), 2u);
  EXPECT_EQ(fault->stats().file_syncs, 2u);  // the seal and the new header
  EXPECT_EQ(fault->stats().dir_syncs, 1u);
  // After a power cut, the sealed segment and the new header are there.
  fault->power_cut(wfstore::testutil::random_seed());
  w.reset();
  w = open_writer(700);
  EXPECT_GE(w->last_lsn(),
            2u);  // commit 3 was not synced: it may or may not survive
}

TEST_F(LogWriterTest, BadInputIsRejectedAndWritesNothing) {
  auto w = open_writer();
  add(*w);
  const std::uint64_t size = file_size(segment_path(1));
  EXPECT_THAT([&] { w->append(3, 1, 0, "x"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("first_lsn 3 is not dense")));
  EXPECT_THAT([&] { w->append(1, 1, 0, "x"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("first_lsn 1 is not dense")));
  EXPECT_THAT([&] { w->append(2, 0, 0, "x"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("event_count")));
  EXPECT_THAT(
      [&] {
        w->append(2, static_cast<std::uint32_t>(kMaxCommitEvents + 1), 0, "x");
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("event_count 100001 exceeds")));
  const std::string huge(kMaxCommitBytes + 1, 'h');
  EXPECT_THAT([&] { w->append(2, 1, 0, huge); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("commit body of")));
  EXPECT_EQ(file_size(segment_path(1)), size);
  EXPECT_EQ(w->last_lsn(), 1u);
  EXPECT_FALSE(w->poisoned());
  add(*w);  // still usable
  EXPECT_EQ(read_all().size(), 2u);
}

class LogWriterFaultTest : public LogFixture {
 protected:
  LogWriterFaultTest() { fs_ = fault_; }

  // The log reopens cleanly through a fresh file system, with the first `lsns`
  // commits.
  void expect_clean_reopen(std::uint64_t lsns) {
    fs_ = posix_file_system();
    auto w = open_writer();
    EXPECT_EQ(w->last_lsn(), lsns);
    add(*w);
    w->sync();
    const auto commits = read_all();
    EXPECT_EQ(commits.size(), lsns + 1);
    EXPECT_TRUE(damages_.empty());
  }

  std::shared_ptr<FaultFileSystem> fault_ = std::make_shared<FaultFileSystem>();
};

TEST_F(LogWriterFaultTest, FailedSyncPoisonsTheWriter) {
  auto w = open_writer();
  add(*w);
  fault_->fail_nth_sync(1);
  EXPECT_THROW(w->sync(), IOError);
  EXPECT_TRUE(w->poisoned());
  EXPECT_EQ(w->durable_lsn(), 0u);
  EXPECT_THAT(
      [&] { add(*w); },
      ThrowsMessage<IOError>(HasSubstr("unusable after an earlier failure")));
  EXPECT_THROW(w->sync(), IOError);  // a retried fsync could falsely succeed
  w.reset();
  expect_clean_reopen(1);
}

TEST_F(LogWriterFaultTest, FailedWritePoisonsTheWriter) {
  auto w = open_writer();
  add(*w);
  fault_->fail_nth_write(1);
  EXPECT_THROW(add(*w), IOError);
  EXPECT_EQ(w->last_lsn(), 1u);
  EXPECT_THROW(add(*w), IOError);
  w.reset();
  expect_clean_reopen(1);
}

TEST_F(LogWriterFaultTest,
       ShortWriteIsAnIOErrorAndTheTornTailIsDroppedOnReopen) {
  auto w = open_writer();
  add(*w);
  w->sync();
  const Commit first = read_all().at(0);
  const std::uint64_t torn_at =
      first.offset + kHeaderSize + kCommitFixedSize + first.body.size();
  fault_->short_write_nth(1, 50);
  EXPECT_THROW(add(*w), IOError);
  EXPECT_THROW(w->sync(), IOError);
  w.reset();
  expect_clean_reopen(1);
  ASSERT_EQ(warnings_.size(), 1u);
  // The 50 bytes went over zeros written ahead: the cut keeps them and the
  // zeros to the end of their block, not the zeros after it.
  EXPECT_THAT(warnings_[0], HasSubstr(fmt::format(
                                "dropped {} bytes of torn tail at offset {}",
                                kBlockSize - torn_at, torn_at)));
  EXPECT_THAT(warnings_[0], HasSubstr("zero bytes after them"));
}

// A writer that died between a new segment's header and the sync of its
// directory left the segment's name not durable. The next open syncs the
// directory before it appends there: commits it acknowledges in that segment
// survive a power cut.
TEST_F(LogWriterFaultTest, ASegmentAdoptedAtOpenHasADurableName) {
  const std::uint32_t seed = wfstore::testutil::random_seed();
  for (std::uint32_t round = 0; round < 20; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    dir_ = tmp_ / fmt::format("log-{}", round);
    fault_ = std::make_shared<FaultFileSystem>();
    fault_->set_real_syncs(false);
    fs_ = fault_;
    auto w = open_writer(700);
    add(*w, 200);
    add(*w, 200);
    w->sync();
    fault_->fail_nth_sync_dir(1);
    EXPECT_THROW(add(*w, 200), IOError);  // rolls: the new name's sync fails
    fault_->crash_process();
    w.reset();
    ASSERT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 3}));
    w = open_writer(700);
    EXPECT_EQ(w->last_lsn(), 2u);
    add(*w, 100);
    w->sync();  // acknowledged: LSN 3, in segment 3
    fault_->power_cut(seed + round);
    w.reset();
    fs_ = posix_file_system();
    w = open_writer(700);
    EXPECT_EQ(w->last_lsn(), 3u);
  }
}

// The live segment holds zeros written ahead; a process that dies leaves
// them, and the next open cuts them off without a warning or side file and
// appends where the records end.
TEST_F(LogWriterFaultTest, ZerosAheadOfADeadWriterAreCutSilentlyOnReopen) {
  auto w = open_writer();
  for (int i = 0; i < 5; ++i) add(*w, 3000);
  w->sync();
  const std::uint64_t size = file_size(segment_path(1));
  EXPECT_GE(size, kDefaultFillBytes);
  const std::uint64_t end =
      nonzero_end(*fs_->open_readable(segment_path(1)), 0);
  EXPECT_LT(end, 5 * 3200u);
  fault_->crash_process();
  w.reset();  // its handle died: closing it only warns
  warnings_.clear();
  w = open_writer();
  EXPECT_EQ(w->last_lsn(), 5u);
  EXPECT_TRUE(warnings_.empty());
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), segment_file_name(1));
  }
  // Filled ahead again by the open writer.
  add(*w, 3000);
  w->sync();
  EXPECT_GT(file_size(segment_path(1)), end + kDefaultFillBytes);
  ASSERT_EQ(read_all().size(), 6u);
  EXPECT_TRUE(damages_.empty());
  w.reset();  // close cuts the zeros off
  EXPECT_LT(file_size(segment_path(1)), 7 * 3200u);
  EXPECT_EQ(read_all().size(), 6u);
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogWriterFaultTest, EnospcIsAnIOErrorAndTheLogReopensCleanly) {
  auto w = open_writer();
  add(*w, 100);
  w->sync();
  fault_->enospc_after(1000, name_ends_with(".log"));
  // The records first fill the zeros written ahead (their space is taken);
  // the next fill fails (a warning: records append from there on) and then
  // the record past the end.
  EXPECT_THAT(
      [&] {
        for (int i = 0; i < 20; ++i) add(*w, 100 * 1024);
      },
      ThrowsMessage<IOError>(HasSubstr("No space left on device")));
  const std::uint64_t written = w->last_lsn();
  EXPECT_GT(written, 5u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("writing zeros ahead failed"));
  fault_->clear_faults();
  EXPECT_THROW(add(*w), IOError);
  w.reset();
  expect_clean_reopen(written);
}

TEST_F(LogWriterFaultTest, FailureWhileRollingPoisonsAndReopensCleanly) {
  auto w = open_writer(700);
  add(*w, 200);
  add(*w, 200);
  fault_->fail_nth_sync_dir(1);
  EXPECT_THROW(add(*w, 200), IOError);  // the new segment's directory sync
  EXPECT_THROW(add(*w, 200), IOError);
  w.reset();
  expect_clean_reopen(2);
}

class LogWriterSyncRaceTest : public LogWriterFaultTest {
 protected:
  // Runs w.sync_concurrently() on a second thread, as the store's background
  // syncer does; its fdatasync is held (holding the writer's sync lock) until
  // `waiter`, run on this thread, is about to wait for that lock, and then
  // fails. Returns what `waiter` threw (null if nothing).
  std::exception_ptr race_with_failing_concurrent_sync(
      Writer& w, const std::function<void()>& waiter) {
    std::mutex mu;
    std::condition_variable cv;
    bool parked = false;
    bool release = false;
    std::atomic<bool> armed{true};
    fault_->fail_nth_sync(1);
    fault_->set_sync_hook([&](const std::filesystem::path&) {
      if (!armed.exchange(false)) return;
      std::unique_lock lock(mu);
      parked = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    });
    w.set_sync_wait_hook_for_testing([&] {
      const std::scoped_lock lock(mu);
      release = true;
      cv.notify_all();
    });
    std::thread syncer([&] { EXPECT_THROW(w.sync_concurrently(), IOError); });
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return parked; });
    }
    std::exception_ptr error;
    try {
      waiter();
    } catch (...) {
      error = std::current_exception();
    }
    syncer.join();
    fault_->set_sync_hook({});
    w.set_sync_wait_hook_for_testing({});
    return error;
  }
};

// A sync() that waited for the lock while a concurrent fdatasync failed
// throws: its own fdatasync of the same descriptor could answer 0 for the
// data that failed.
TEST_F(LogWriterSyncRaceTest, SyncWaitingBesideAFailingConcurrentSyncThrows) {
  auto w = open_writer();
  add(*w);
  const std::exception_ptr error = race_with_failing_concurrent_sync(*w, [&] {
    add(*w);
    w->sync();
  });
  ASSERT_TRUE(error) << "sync() succeeded after a failed fdatasync";
  EXPECT_THAT(
      [&] { std::rethrow_exception(error); },
      ThrowsMessage<IOError>(HasSubstr("unusable after an earlier failure")));
  EXPECT_TRUE(w->poisoned());
  EXPECT_EQ(w->durable_lsn(), 0u);
  w.reset();
  expect_clean_reopen(2);
}

// A segment roll that waited for the lock while a concurrent fdatasync failed
// does not seal the segment (nor start the next one) on a false success.
TEST_F(LogWriterSyncRaceTest,
       RollWaitingBesideAFailingConcurrentSyncDoesNotSeal) {
  auto w = open_writer(700);
  add(*w, 200);
  add(*w, 200);
  const std::exception_ptr error =
      race_with_failing_concurrent_sync(*w, [&] { add(*w, 200); });  // rolls
  ASSERT_TRUE(error) << "the roll sealed the segment after a failed fdatasync";
  EXPECT_THROW(std::rethrow_exception(error), IOError);
  EXPECT_EQ(list_segments(*fs_, dir_), std::vector<std::uint64_t>{1});
  EXPECT_EQ(w->durable_lsn(), 0u);
  EXPECT_EQ(w->last_lsn(), 2u);
  w.reset();
  expect_clean_reopen(2);
}

}  // namespace
}  // namespace wfstore::log::testutil
