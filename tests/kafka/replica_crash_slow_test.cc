// A `wfstore replicate` process SIGKILLed mid-fold, again and again: each
// restart resumes after the replica's own applied LSN, and the replica in the
// end equals its source (checksum at the same applied LSN, every read). Knob:
// WFSTORE_REPLICA_KILLS (default 10).

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/kafka/replica_compare.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

extern char** environ;

namespace wfstore {
namespace {

// Starts `wfstore replicate` with its output discarded.
pid_t spawn_replicate(const std::string& brokers,
                      const std::filesystem::path& dir) {
  const std::string tool = WFSTORE_TOOL_PATH;
  const std::string dir_text = dir.string();
  std::vector<const char*> argv = {
      tool.c_str(),        "replicate", "--brokers", brokers.c_str(),
      "--topic",           "t",         "--dir",     dir_text.c_str(),
      "--until-caught-up", nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, tool.c_str(), &actions, nullptr,
                             const_cast<char* const*>(argv.data()), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  return pid;
}

std::uint64_t applied_lsn(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / "views" / "data.mdb")) return 0;
  auto db = Database::open_read_only(dir, testutil::quiet_options());
  return summarize_store(*db).applied_lsn;
}

TEST(ReplicaCrashTest, ReplicaKilledMidFoldResumesAndEqualsTheSource) {
  ASSERT_FALSE(std::string(WFSTORE_TOOL_PATH).empty()) << "no wfstore tool";
  const long kills = testutil::env_knob("WFSTORE_REPLICA_KILLS", 10);
  testutil::TempDir tmp;
  KafkaMockCluster cluster(1);
  cluster.create_topic("t", 4);
  {
    auto db = Database::open(tmp / "src", testutil::quiet_options());
    testutil::run_workload(db->workflow_store(), 21, 6000, "wf");
    db->close();
  }
  const std::vector<KafkaRecord> records =
      testutil::records_of_store(tmp / "src");
  {
    testutil::TestProducer producer(cluster.bootstrap_servers());
    for (const KafkaRecord& r : records) producer.send("t", r);
    producer.flush();
  }
  // The kills land within the time one whole run takes on this machine and
  // build, measured first: a fixed delay outlasts the whole fold on a fast
  // build, and no kill would land mid-fold.
  std::uint64_t whole_run_ms = 0;
  {
    const auto started = std::chrono::steady_clock::now();
    const pid_t pid =
        spawn_replicate(cluster.bootstrap_servers(), tmp / "whole");
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    whole_run_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started)
            .count());
  }
  std::mt19937 rng(5);
  long killed_mid_fold = 0;
  std::uint64_t last_applied = 0;
  for (long round = 0; round < kills; ++round) {
    const pid_t pid = spawn_replicate(cluster.bootstrap_servers(), tmp / "r");
    ASSERT_GT(pid, 0);
    // Between a tenth and three fifths of a whole run.
    std::this_thread::sleep_for(std::chrono::milliseconds(
        whole_run_ms / 10 + rng() % (whole_run_ms / 2 + 1)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    const std::uint64_t applied = applied_lsn(tmp / "r");
    EXPECT_GE(applied, last_applied) << "round " << round;
    last_applied = applied;
    if (WIFSIGNALED(status) && applied < records.size()) ++killed_mid_fold;
    if (WIFEXITED(status)) {
      EXPECT_EQ(WEXITSTATUS(status), 0) << "round " << round;
    }
  }
  const pid_t pid = spawn_replicate(cluster.bootstrap_servers(), tmp / "r");
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the last replicate run failed";
  EXPECT_GT(killed_mid_fold, 0) << "no kill landed before the end";
  EXPECT_EQ(applied_lsn(tmp / "r"), records.size());
  testutil::expect_replica_equals_source(tmp / "src", tmp / "r", "wf");
}

}  // namespace
}  // namespace wfstore
