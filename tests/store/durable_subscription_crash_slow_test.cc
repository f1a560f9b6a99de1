// A durable subscription's follower process SIGKILLed at random moments
// while a writer process commits: every event is handled at least once, in
// order, each run resumes right after the checkpoint, and the checkpoint
// never passes an event whose handler call did not return. Rounds:
// WFSTORE_SUBSCRIPTION_KILLS (default 20).

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "wfstore/database.h"
#include "wfstore/subscriptions.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using testutil::ChildProcess;
using testutil::TempDir;

constexpr int kCommits = 400;
constexpr char kName[] = "follower";

// The writer process: kCommits commits of one event each, ~1 ms apart.
void run_writer(const std::filesystem::path& dir, int report_fd) {
  auto db = Database::open(dir, testutil::quiet_options(Durability::kBuffered));
  for (int i = 0; i < kCommits; ++i) {
    db->workflow_store().store(testutil::bare_workflow(
        fmt::format("w{}", i), "app", WorkflowStatus::kRunning, 1));
    std::this_thread::sleep_for(std::chrono::microseconds{800});
  }
  db->close();
  testutil::report_line(report_fd, "done");
}

// The follower process: reports "start <checkpoint>", then "h <lsn>" as each
// handler call returns, until the checkpoint reaches kCommits.
void run_follower(const std::filesystem::path& dir, std::size_t batch,
                  int report_fd) {
  auto db = Database::open_read_only(dir, testutil::quiet_options());
  DurableSubscriptions::Options o;
  o.batch_size = batch;
  o.poll_interval = std::chrono::milliseconds{1};
  DurableSubscriptions subs(*db, o);
  testutil::report_line(
      report_fd, fmt::format("start {}", subs.status(kName).checkpoint));
  std::uint64_t last = 0;
  subs.run(
      kName,
      [&](const Event& event) {
        testutil::report_line(report_fd, fmt::format("h {}", event.lsn));
        last = event.lsn;
      },
      [&] { return last >= kCommits; });
}

std::uint64_t checkpoint_of(const std::filesystem::path& dir) {
  auto db = Database::open_read_only(dir, testutil::quiet_options());
  return DurableSubscriptions(*db).status(kName).checkpoint;
}

TEST(DurableSubscriptionCrashTest, KilledFollowerNeverLosesOrSkipsAnEvent) {
  const TempDir dir;
  const std::uint32_t seed = testutil::random_seed();
  const long kills = testutil::env_knob("WFSTORE_SUBSCRIPTION_KILLS", 20);
  std::mt19937 rng(seed);
  {
    auto db = Database::open(dir.path(), testutil::quiet_options());
    DurableSubscriptions(*db).create(kName, StartFrom::beginning());
    db->close();
  }
  // Forked while this process has no store open.
  ChildProcess writer = ChildProcess::spawn(
      [&](int fd) { run_writer(dir.path(), fd); });
  std::set<std::uint64_t> handled;
  std::uint64_t checkpoint = 0;
  int advanced_rounds = 0;  // killed runs that moved the checkpoint
  const auto run_round = [&](std::optional<int> kill_after_lines) {
    const std::size_t batch =
        std::uniform_int_distribution<std::size_t>(1, 25)(rng);
    ChildProcess child = ChildProcess::spawn(
        [&](int fd) { run_follower(dir.path(), batch, fd); });
    std::vector<std::string> lines;
    if (kill_after_lines) {
      for (int i = 0; i < *kill_after_lines; ++i) {
        std::optional<std::string> line = child.read_line();
        if (!line) break;
        lines.push_back(*line);
      }
      std::this_thread::sleep_for(std::chrono::microseconds{
          std::uniform_int_distribution<int>(0, 3000)(rng)});
      child.kill_and_wait();
    } else {
      const int status = child.wait();
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << testutil::describe_wait_status(status);
    }
    for (std::string& line : child.drain()) lines.push_back(std::move(line));
    // This run started at the checkpoint and handled consecutive LSNs.
    std::uint64_t expect = checkpoint + 1;
    for (const std::string& line : lines) {
      if (line.rfind("start ", 0) == 0) {
        EXPECT_EQ(std::stoull(line.substr(6)), checkpoint);
        continue;
      }
      ASSERT_EQ(line.rfind("h ", 0), 0u) << line;
      const std::uint64_t lsn = std::stoull(line.substr(2));
      ASSERT_EQ(lsn, expect) << "out of order or skipped";
      handled.insert(lsn);
      ++expect;
    }
    const std::uint64_t now = checkpoint_of(dir.path());
    EXPECT_GE(now, checkpoint);
    // Everything up to the checkpoint was handled (its call returned).
    for (std::uint64_t lsn = 1; lsn <= now; ++lsn) {
      ASSERT_TRUE(handled.count(lsn) == 1)
          << "checkpoint " << now << " passed unhandled lsn " << lsn;
    }
    if (now > checkpoint) ++advanced_rounds;
    checkpoint = now;
  };
  for (long round = 0; round < kills; ++round) {
    SCOPED_TRACE(fmt::format("kill {}, seed {}", round, seed));
    ASSERT_NO_FATAL_FAILURE(
        run_round(std::uniform_int_distribution<int>(0, 40)(rng)));
  }
  std::printf("%d of %ld killed runs moved the checkpoint\n", advanced_rounds,
              kills);
  ASSERT_EQ(writer.read_line(), std::optional<std::string>("done"));
  EXPECT_EQ(writer.wait(), 0);
  SCOPED_TRACE("the last, uninterrupted run");
  ASSERT_NO_FATAL_FAILURE(run_round(std::nullopt));
  EXPECT_EQ(checkpoint, static_cast<std::uint64_t>(kCommits));
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(kCommits));
}

}  // namespace
}  // namespace wfstore
