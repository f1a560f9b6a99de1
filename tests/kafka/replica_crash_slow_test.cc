// A `wfstore replicate` process following a growing topic, SIGKILLed
// mid-fold again and again: each restart resumes after the replica's own
// applied LSN, and the replica in the end equals its source (checksum at the
// same applied LSN, every read). Knob: WFSTORE_REPLICA_KILLS (default 10).

#include <algorithm>
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
#include "wfstore/errors.h"
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

// Starts `wfstore replicate` with its output discarded: following the topic
// until killed, or with --until-caught-up when `until_caught_up`.
pid_t spawn_replicate(const std::string& brokers,
                      const std::filesystem::path& dir, bool until_caught_up) {
  const std::string tool = WFSTORE_TOOL_PATH;
  const std::string dir_text = dir.string();
  std::vector<const char*> argv = {
      tool.c_str(), "replicate", "--brokers", brokers.c_str(),
      "--topic",    "t",         "--dir",     dir_text.c_str()};
  if (until_caught_up) argv.push_back("--until-caught-up");
  argv.push_back(nullptr);
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

// applied_lsn(), or 0 when the replica cannot be opened yet: a kill can land
// after the replica's files were created and before its tables were. Once
// something was applied, a replica that cannot be opened shows as a step back
// to 0, which the test reports.
std::uint64_t applied_lsn_after_kill(const std::filesystem::path& dir) {
  try {
    return applied_lsn(dir);
  } catch (const Error&) {
    return 0;
  }
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
  // The topic grows while the replica follows it: before each kill the test
  // sends the next chunk of records, waits until the replica shows it folded
  // something new (its applied LSN, read beside it), sends one more chunk
  // and kills 0-15 ms later, while that chunk is being folded.
  testutil::TestProducer producer(cluster.bootstrap_servers());
  const std::size_t chunk =
      records.size() / (2 * static_cast<std::size_t>(kills) + 2) + 1;
  std::size_t sent = 0;
  const auto send_chunk = [&] {
    const std::size_t end = std::min(records.size(), sent + chunk);
    for (; sent < end; ++sent) producer.send("t", records[sent]);
    producer.flush();
  };
  std::mt19937 rng(5);
  long killed_mid_fold = 0;
  std::uint64_t last_applied = 0;
  for (long round = 0; round < kills; ++round) {
    const pid_t pid =
        spawn_replicate(cluster.bootstrap_servers(), tmp / "r", false);
    ASSERT_GT(pid, 0);
    send_chunk();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (applied_lsn_after_kill(tmp / "r") <= last_applied) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "round " << round << ": the replica never moved past "
          << last_applied;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    send_chunk();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 16));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << "round " << round;
    const std::uint64_t applied = applied_lsn_after_kill(tmp / "r");
    EXPECT_GT(applied, last_applied) << "round " << round;
    if (applied > last_applied && applied < records.size()) ++killed_mid_fold;
    last_applied = applied;
  }
  while (sent < records.size()) send_chunk();
  const pid_t pid =
      spawn_replicate(cluster.bootstrap_servers(), tmp / "r", true);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the last replicate run failed";
  EXPECT_EQ(killed_mid_fold, kills) << "kills that landed mid-fold";
  EXPECT_EQ(applied_lsn(tmp / "r"), records.size());
  testutil::expect_replica_equals_source(tmp / "src", tmp / "r", "wf");
}

}  // namespace
}  // namespace wfstore
