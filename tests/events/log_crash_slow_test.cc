// Crash tests of the log: simulated power cuts at every step of a scripted
// sequence of commits and syncs, and SIGKILL of a real writer process at random
// moments. After each, the log reopens, every synced commit is present and
// whole, and verify passes.
//
// Knobs: WFSTORE_POWER_CUT_SEEDS (power cuts per step, default 3),
// WFSTORE_KILL_ROUNDS (SIGKILL rounds, default 30), WFSTORE_SEED (reproduce a
// run).

#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/events/log_test_util.h"
#include "tests/testutil/fault_file_system.h"
#include "wfstore_internal/log_verify.h"

namespace wfstore::log::testing {
namespace {

using wfstore::testing::env_knob;
using wfstore::testing::FaultFileSystem;
using wfstore::testing::random_seed;

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
  const long seeds_per_step = env_knob("WFSTORE_POWER_CUT_SEEDS", 3);
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
      fs_ = std::make_shared<FaultFileSystem>();
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
}  // namespace wfstore::log::testing
