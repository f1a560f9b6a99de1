// A `wfstore replicate` process following a growing topic, SIGKILLed again
// and again while records it was sent wait to be fetched or folded: each
// restart resumes after the replica's own applied LSN, and the replica in the
// end equals its source (checksum at the same applied LSN, every read). Knob:
// WFSTORE_REPLICA_KILLS (default 10).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
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
// until killed, or with --until-caught-up when `until_caught_up`. posix_spawn,
// not testutil::spawn_tool (fork, then code in the child): this process runs
// librdkafka's threads (the producer, the mock cluster) while it spawns.
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

// applied_lsn(), or 0 when the replica cannot be opened yet (while a run
// creates it).
std::uint64_t applied_lsn_or_zero(const std::filesystem::path& dir) {
  try {
    return applied_lsn(dir);
  } catch (const Error&) {
    return 0;
  }
}

// A spawned child, SIGKILLed and reaped when the test leaves early.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // Kills and reaps the child; returns its wait status.
  int kill_and_wait() {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
  // Waits up to `limit` for the child to end; its wait status, or nullopt
  // (the child still running) past the limit.
  std::optional<int> wait_for(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }
};

TEST(ReplicaCrashTest, ReplicaKilledMidFoldResumesAndEqualsTheSource) {
  ASSERT_FALSE(std::string(WFSTORE_TOOL_PATH).empty()) << "no wfstore tool";
  const long kills = testutil::env_knob("WFSTORE_REPLICA_KILLS", 10);
  ASSERT_GE(kills, 1) << "WFSTORE_REPLICA_KILLS";
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
  // The topic grows while the replica follows it: each round sends the next
  // chunk of records, waits until the replica (read beside it) shows it
  // folded something new, sends one more chunk and kills the run 0-149 ms
  // later. Every run must have applied more than the one before, and some
  // kills must come with records sent and not yet applied.
  testutil::TestProducer producer(cluster.bootstrap_servers());
  const std::size_t chunk =
      records.size() / (2 * static_cast<std::size_t>(kills) + 2) + 1;
  // Two chunks per round must leave records for the last run, and a chunk
  // must hold whole commits for the replica to apply anything.
  ASSERT_GE(chunk, 100u) << "WFSTORE_REPLICA_KILLS " << kills
                         << " is too many for " << records.size() << " records";
  std::size_t sent = 0;
  const auto send_chunk = [&] {
    const std::size_t end = std::min(records.size(), sent + chunk);
    for (; sent < end; ++sent) producer.send("t", records[sent]);
    producer.flush();
  };
  std::mt19937 rng(5);
  long killed_with_records_pending = 0;
  std::uint64_t last_applied = 0;
  for (long round = 0; round < kills; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    ChildGuard child{
        spawn_replicate(cluster.bootstrap_servers(), tmp / "r", false)};
    ASSERT_GT(child.pid, 0);
    send_chunk();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (applied_lsn_or_zero(tmp / "r") <= last_applied) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the replica never moved past " << last_applied;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // 0-149 ms after the next chunk is sent: before the consumer fetched it
    // (it waits up to 100 ms per fetch), while it folds it, or after.
    send_chunk();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    const int status = child.kill_and_wait();
    EXPECT_TRUE(WIFSIGNALED(status));
    // It was open before the kill: it must open after it.
    const std::uint64_t applied = applied_lsn(tmp / "r");
    EXPECT_GT(applied, last_applied);
    EXPECT_LE(applied, sent);
    if (applied < sent) ++killed_with_records_pending;
    last_applied = applied;
  }
  while (sent < records.size()) send_chunk();
  ChildGuard last{
      spawn_replicate(cluster.bootstrap_servers(), tmp / "r", true)};
  ASSERT_GT(last.pid, 0);
  const std::optional<int> status = last.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(status.has_value()) << "the last replicate run did not end";
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "the last replicate run failed";
  EXPECT_GT(killed_with_records_pending, 0)
      << "every kill came after its run had folded all it was sent";
  std::cout << fmt::format("{} kills, {} with records sent and not applied\n",
                           kills, killed_with_records_pending);
  EXPECT_EQ(applied_lsn(tmp / "r"), records.size());
  testutil::expect_replica_equals_source(tmp / "src", tmp / "r", "wf");
}

}  // namespace
}  // namespace wfstore
