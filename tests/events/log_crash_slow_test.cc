// Crash tests of the log: simulated power cuts at every step of a scripted
// sequence of commits and syncs, and SIGKILL of a real writer process at random
// moments. After each, the log reopens, every synced commit is present and
// whole, and verify passes.
//
// Knobs: WFSTORE_POWER_CUT_SEEDS (power cuts per step, default 40),
// WFSTORE_KILL_ROUNDS (SIGKILL rounds, default 30), WFSTORE_SEED (reproduce a
// run).

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events/log/log_recovery.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/log_test_util.h"
#include "wfstore_internal/log_verify.h"

namespace wfstore::log::testutil {
namespace {

using wfstore::testutil::env_knob;
using wfstore::testutil::FaultFileSystem;
using wfstore::testutil::random_seed;

// Commit shapes derived from the first LSN, so the checker needs no record of
// them.
std::uint32_t events_at(std::uint64_t lsn) {
  return 1 + static_cast<std::uint32_t>(lsn % 4);
}
std::size_t size_at(std::uint64_t lsn) {
  return lsn % 11 == 0 ? 40000 + lsn % 1000 : 300 + lsn % 400;
}

class LogCrashTest : public LogFixture {
 protected:
  // Reopens the log (recovery) and checks: every commit up to `synced` present
  // and whole, no commit beyond `appended`, dense LSNs, and verify passing.
  // Returns the last LSN.
  std::uint64_t check_reopen(std::uint64_t synced, std::uint64_t appended,
                             std::uint64_t roll_bytes) {
    std::uint64_t last = 0;
    {
      auto w = open_writer(roll_bytes);
      last = w->last_lsn();
    }
    EXPECT_GE(last, synced);
    EXPECT_LE(last, appended);
    const auto commits = read_all();
    EXPECT_TRUE(damages_.empty()) << damages_.front().reason;
    std::uint64_t expected = 1;
    for (const Commit& c : commits) {
      EXPECT_EQ(c.first_lsn, expected);
      EXPECT_EQ(c.event_count, events_at(c.first_lsn));
      EXPECT_TRUE(c.body == body_for(c.first_lsn, size_at(c.first_lsn)))
          << "commit " << c.first_lsn << " is not whole";
      expected = c.last_lsn() + 1;
    }
    EXPECT_EQ(expected - 1, last);
    const VerifyReport report = verify_log(fs_, dir_, store_id_);
    EXPECT_EQ(report.last_lsn, last);
    return last;
  }
};

TEST_F(LogCrashTest, PowerCutAtEveryStepKeepsEverySyncedCommit) {
  const std::uint32_t seed = random_seed();
  // 40 seeds per step catch a commit header that claims more durability than
  // was synced within the first few steps; the loop runs in seconds because
  // the fault file system skips real fsyncs.
  const long seeds_per_step = env_knob("WFSTORE_POWER_CUT_SEEDS", 40);
  constexpr std::uint64_t kRoll = 48 * 1024;
  // The script: 'a' appends the next commit, 's' syncs.
  const std::string script = "aasaaasasaaaaasaaasasasaaaaaaasaaasaasaaas";
  const auto root = dir_;
  int torn_tails = 0;
  int unsynced_kept = 0;
  for (std::size_t cut = 0; cut <= script.size(); ++cut) {
    for (long k = 0; k < seeds_per_step; ++k) {
      const std::uint32_t cut_seed =
          seed +
          static_cast<std::uint32_t>(cut * 131 + static_cast<std::size_t>(k));
      SCOPED_TRACE("cut after step " + std::to_string(cut) +
                   ", power-cut seed " + std::to_string(cut_seed));
      dir_ = root / ("run" + std::to_string(cut) + "_" + std::to_string(k));
      auto fault = std::make_shared<FaultFileSystem>();
      fault->set_real_syncs(false);
      fs_ = fault;
      std::uint64_t synced = 0;
      std::uint64_t appended = 0;
      {
        auto w = open_writer(kRoll);
        for (std::size_t i = 0; i < cut; ++i) {
          if (script[i] == 's') {
            w->sync();
          } else {
            const std::uint64_t lsn = w->last_lsn() + 1;
            w->append(lsn, events_at(lsn), 0, body_for(lsn, size_at(lsn)));
          }
          synced = w->durable_lsn();
          appended = w->last_lsn();
        }
        fault->power_cut(cut_seed);
      }
      warnings_.clear();
      auto reopen = std::make_shared<FaultFileSystem>();
      reopen->set_real_syncs(false);
      fs_ = reopen;
      const std::uint64_t last = check_reopen(synced, appended, kRoll);
      if (::testing::Test::HasFailure()) return;
      torn_tails += warnings_.empty() ? 0 : 1;
      unsynced_kept += last > synced ? 1 : 0;
    }
  }
  std::fprintf(stderr,
               "%d reopens truncated a torn tail, %d kept unsynced commits\n",
               torn_tails, unsynced_kept);
}

// The fixed case of a power cut the seeded loop finds only by chance:
// buffered appends over two pages of different blocks, nothing synced after
// the segment header, and a power cut that loses the first page (block 0's
// unsynced bytes read as zeros) and keeps the second (block 1, whose first
// whole commit the reader meets after resyncing). That commit vouches only
// for what was synced (lsn 0), so reopening cuts the tail with a warning and
// keeps the cut bytes in a side file; a header claiming more would make the
// damage look like lost durable data.
TEST_F(LogCrashTest, PowerCutLosingTheFirstPageAndKeepingTheSecondIsATornTail) {
  // The header (the zeros written ahead after it are synced with it).
  const std::uint64_t synced_end = kHeaderSize + kSegmentHeaderSize;
  {
    auto w = open_writer();
    for (std::uint64_t written = synced_end;
         written < kBlockSize + 2 * FaultFileSystem::kPageSize;) {
      const std::uint64_t lsn = w->last_lsn() + 1;
      w->append(lsn, 1, 0, body_for(lsn, 700));
      written += kHeaderSize + kCommitFixedSize + 700;
    }
    EXPECT_EQ(w->durable_lsn(), 0u);
    w->close();  // no sync; the zeros after the records are cut off
  }
  std::string image = read_file_bytes(segment_path(1));
  // Lose every unsynced page of block 0; keep block 1's pages.
  std::fill(image.begin() + static_cast<std::ptrdiff_t>(synced_end),
            image.begin() + kBlockSize, '\0');
  spit(segment_path(1), image);
  // The kept page holds a whole commit the reader reaches.
  std::uint64_t kept_commits = 0;
  {
    const auto file = fs_->open_readable(segment_path(1));
    SegmentReader reader(*file, segment_file_name(1), nullptr);
    std::string payload;
    RecordType type = RecordType::kZero;
    std::uint64_t offset = 0;
    while (reader.read(&payload, &type, &offset)) {
      Commit c;
      std::string error;
      if (offset >= kBlockSize && decode_commit(payload, &c, &error)) {
        ++kept_commits;
        EXPECT_EQ(c.durable_lsn, 0u) << "commit " << c.first_lsn;
      }
    }
  }
  ASSERT_GT(kept_commits, 0u);

  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 0u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("bytes of torn tail at offset " +
                              std::to_string(synced_end)),
            std::string::npos)
      << warnings_[0];
  EXPECT_EQ(std::filesystem::file_size(segment_path(1)), synced_end);
  EXPECT_EQ(
      read_file_bytes(dir_ / cut_file_name(segment_file_name(1), synced_end)),
      image.substr(synced_end));
  const std::uint64_t lsn = w->last_lsn() + 1;
  w->append(lsn, 1, 0, body_for(lsn, 700));
  w->sync();
  EXPECT_EQ(read_all().size(), 1u);
  EXPECT_TRUE(damages_.empty());
}

// The child: appends and syncs commits forever, reporting each synced LSN on
// `fd`.
[[noreturn]] void run_child(const std::filesystem::path& dir, const StoreId& id,
                            int fd) {
  try {
    WriterOptions options;
    options.roll_bytes = 64 * 1024;
    auto w = Writer::open(posix_file_system(), dir, id, options);
    for (;;) {
      const std::uint64_t lsn = w->last_lsn() + 1;
      w->append(lsn, events_at(lsn), 0, body_for(lsn, size_at(lsn)));
      w->sync();
      const std::uint64_t synced = w->durable_lsn();
      if (write(fd, &synced, sizeof synced) != sizeof synced) _exit(3);
    }
  } catch (...) {
    _exit(2);
  }
}

TEST_F(LogCrashTest, SigkillAtRandomMomentsKeepsEveryReportedCommit) {
  const std::uint32_t seed = random_seed();
  const long rounds = env_knob("WFSTORE_KILL_ROUNDS", 30);
  std::mt19937 rng(seed);
  std::uint64_t reported = 0;
  std::uint64_t last = 0;
  for (long round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " +
                 std::to_string(seed));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      run_child(dir_, store_id_, fds[1]);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(5, 120)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the child exited early with status " << WEXITSTATUS(status);
    std::uint64_t lsn = 0;
    while (read(fds[0], &lsn, sizeof lsn) == sizeof lsn)
      reported = std::max(reported, lsn);
    close(fds[0]);
    // A process crash loses no written data: everything appended is still
    // there.
    last = check_reopen(reported, UINT64_MAX, 64 * 1024);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(last, 0u);
  std::fprintf(stderr, "%ld kills, %llu lsns, %zu segments\n", rounds,
               static_cast<unsigned long long>(last),
               list_segments(*fs_, dir_).size());
}

}  // namespace
}  // namespace wfstore::log::testutil
