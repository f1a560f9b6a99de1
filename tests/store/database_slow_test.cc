// Rebuild equivalence after a long random workload, and SIGKILL crash loops:
// the views always equal a rebuild of the log, and every acknowledged sync
// commit survives.

#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/maintenance.h"

#include "tests/store/store_workload.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/checksum_view_store.h"

namespace wfstore {
namespace {

using testutil::TempDir;

struct ViewsState {
  testutil::TableDump tables;
  std::string checksum;
  std::uint64_t applied = 0;
};

ViewsState capture(const std::filesystem::path& dir) {
  auto db = Database::open_read_only(dir);
  LmdbViews& views = database_impl(*db).views();
  ViewsState state;
  state.tables = testutil::dump_all(*db, false);
  const LmdbViews::Snapshot snapshot = views.begin_read();
  state.checksum = to_hex(read_checksum(snapshot));
  state.applied = db->stats().applied_lsn;
  return state;
}

TEST(DatabaseSlowTest, RebuildEquivalenceAfterRandomWorkload) {
  const TempDir dir;
  const int ops =
      static_cast<int>(testutil::env_knob("WFSTORE_WORKLOAD_OPS", 5000));
  {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    auto db = Database::open(dir.path(), options);
    testutil::run_workload(db->workflow_store(), testutil::random_seed(), ops,
                           "w");
    EXPECT_GT(db->stats().commits, static_cast<std::uint64_t>(ops / 3));
    db->close();
  }
  const ViewsState live = capture(dir.path());
  const ViewsVerifyReport verify = verify_store_views(dir.path());
  EXPECT_TRUE(verify.equal()) << ::testing::PrintToString(verify.differences);
  EXPECT_EQ(verify.checksum, live.checksum);

  const RebuildReport rebuilt = rebuild_store_views(dir.path());
  EXPECT_EQ(rebuilt.applied_lsn, live.applied);
  EXPECT_EQ(rebuilt.checksum, live.checksum);
  const ViewsState after = capture(dir.path());
  EXPECT_EQ(after.checksum, live.checksum);
  ASSERT_EQ(after.tables.size(), live.tables.size());
  for (std::size_t i = 0; i < live.tables.size(); ++i) {
    EXPECT_EQ(after.tables[i], live.tables[i]) << table_name(kAllTables[i]);
  }
}

TEST(DatabaseSlowTest, SigkilledWriterReopensToARebuildWithEveryAckedCommit) {
  const TempDir dir;
  const long rounds = testutil::env_knob("WFSTORE_KILL_ROUNDS", 20);
  std::mt19937 rng(testutil::random_seed());
  std::uint64_t acked_max = 0;
  for (long round = 0; round < rounds; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const std::uint32_t seed = static_cast<std::uint32_t>(rng());
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      try {
        auto db = Database::open(dir.path());
        Database* raw = db.get();
        testutil::run_workload(
            db->workflow_store(), seed, 100000, fmt::format("r{}", round), [&] {
              const std::uint64_t lsn = raw->stats().applied_lsn;
              if (write(fds[1], &lsn, sizeof lsn) != sizeof lsn) _exit(3);
            });
      } catch (const std::exception&) {
        _exit(2);
      }
      _exit(0);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 200));
    kill(pid, SIGKILL);
    std::uint64_t lsn = 0;
    while (read(fds[0], &lsn, sizeof lsn) == sizeof lsn)
      acked_max = std::max(acked_max, lsn);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "round " << round << " child exited " << status;

    auto db = Database::open(dir.path());
    EXPECT_GE(db->stats().applied_lsn, acked_max) << "round " << round;
    db->close();
    db.reset();
    const ViewsVerifyReport verify = verify_store_views(dir.path());
    ASSERT_TRUE(verify.equal()) << "round " << round << ": "
                                << ::testing::PrintToString(verify.differences);
  }
  EXPECT_GT(acked_max, 0u);
}

}  // namespace
}  // namespace wfstore
