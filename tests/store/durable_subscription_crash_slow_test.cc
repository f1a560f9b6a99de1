// A durable subscription's follower process SIGKILLed at random moments
// while a writer process commits: every event is handled at least once, in
// order, each run resumes right after the checkpoint, and the checkpoint
// never passes an event whose handler call did not return. The handler
// records each LSN durably before it returns (appended to a file and
// fdatasynced), so the record outlives the kill; the parent checks the
// record and the checkpoint after each kill. Rounds:
// WFSTORE_SUBSCRIPTION_KILLS (default 20; the writer commits max(400, 20 x
// rounds) events).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/subscriptions.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using testutil::ChildProcess;
using testutil::TempDir;

constexpr char kName[] = "follower";

// The writer process: `commits` commits of one event each, ~2 ms apart (so
// that it commits through the first killed rounds at least).
void run_writer(const std::filesystem::path& dir, std::uint64_t commits,
                int report_fd) {
  auto db = Database::open(dir, testutil::quiet_options(Durability::kBuffered));
  for (std::uint64_t i = 0; i < commits; ++i) {
    db->workflow_store().store(testutil::bare_workflow(
        fmt::format("w{}", i), "app", WorkflowStatus::kRunning, 1));
    std::this_thread::sleep_for(std::chrono::microseconds{2000});
  }
  db->close();
  testutil::report_line(report_fd, "done");
}

// Appends `line` and '\n' to `fd` with one write(2), then fdatasyncs it;
// _exit(3) when either fails.
void record(int fd, const std::string& line) {
  const std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) !=
          static_cast<ssize_t>(text.size()) ||
      ::fdatasync(fd) != 0) {
    ::_exit(3);
  }
}

// The follower process: records "start <checkpoint>" in `handled_log`, then
// "h <lsn>" for each event before its handler call returns, until the
// checkpoint reaches `commits`; reports "h <lsn>" on the pipe too (after the
// record), for the parent to time its kill.
void run_follower(const std::filesystem::path& dir,
                  const std::filesystem::path& handled_log,
                  std::uint64_t commits, std::size_t batch, int report_fd) {
  const int log_fd = ::open(handled_log.c_str(),
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) ::_exit(3);
  auto db = Database::open_read_only(dir, testutil::quiet_options());
  DurableSubscriptions::Options o;
  o.batch_size = batch;
  o.poll_interval = std::chrono::milliseconds{1};
  DurableSubscriptions subs(*db, o);
  // Ends once the checkpoint reaches `commits` (at once when it is there).
  std::uint64_t last = subs.status(kName).checkpoint;
  record(log_fd, fmt::format("start {}", last));
  subs.run(
      kName,
      [&](const Event& event) {
        const std::string line = fmt::format("h {}", event.lsn);
        record(log_fd, line);
        testutil::report_line(report_fd, line);
        last = event.lsn;
      },
      [&] { return last >= commits; });
}

// The whole lines of `path` from byte `offset` on; advances `offset` past
// them (a line cut by the kill, without its '\n', is left: its handler call
// did not return).
std::vector<std::string> new_lines(const std::filesystem::path& path,
                                   std::size_t& offset) {
  const std::string text = testutil::read_file_bytes(path);
  std::vector<std::string> out;
  while (offset < text.size()) {
    const std::size_t nl = text.find('\n', offset);
    if (nl == std::string::npos) break;
    out.push_back(text.substr(offset, nl - offset));
    offset = nl + 1;
  }
  return out;
}

std::uint64_t checkpoint_of(const std::filesystem::path& dir) {
  auto db = Database::open_read_only(dir, testutil::quiet_options());
  return DurableSubscriptions(*db).status(kName).checkpoint;
}

TEST(DurableSubscriptionCrashTest, KilledFollowerNeverLosesOrSkipsAnEvent) {
  const TempDir dir;
  const TempDir records;
  const std::filesystem::path handled_log = records.path() / "handled.log";
  std::size_t handled_offset = 0;
  const std::uint32_t seed = testutil::random_seed();
  const long kills = testutil::env_knob("WFSTORE_SUBSCRIPTION_KILLS", 20);
  // The writer's commits: more rounds, more commits to kill them among.
  const std::uint64_t commits =
      std::max<std::uint64_t>(400, 20 * static_cast<std::uint64_t>(kills));
  std::mt19937 rng(seed);
  {
    auto db = Database::open(dir.path(), testutil::quiet_options());
    DurableSubscriptions(*db).create(kName, StartFrom::beginning());
    db->close();
  }
  // Forked while this process has no store open.
  ChildProcess writer =
      ChildProcess::spawn([&](int fd) { run_writer(dir.path(), commits, fd); });
  std::set<std::uint64_t> handled;
  std::uint64_t checkpoint = 0;
  int advanced_rounds = 0;  // killed runs that moved the checkpoint
  int redelivered = 0;      // events handled again after a kill
  const auto run_round = [&](std::optional<int> kill_after_lines) {
    const std::size_t batch =
        std::uniform_int_distribution<std::size_t>(1, 25)(rng);
    ChildProcess child = ChildProcess::spawn([&](int fd) {
      run_follower(dir.path(), handled_log, commits, batch, fd);
    });
    if (kill_after_lines) {
      for (int i = 0; i < *kill_after_lines; ++i) {
        if (!child.read_line()) break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds{
          std::uniform_int_distribution<int>(0, 3000)(rng)});
      child.kill_and_wait();
    } else {
      const int status = child.wait();
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << testutil::describe_wait_status(status);
    }
    // What this run recorded: it started at the checkpoint and handled
    // consecutive LSNs.
    const std::vector<std::string> lines =
        new_lines(handled_log, handled_offset);
    std::uint64_t expect = checkpoint + 1;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      if (i == 0) {
        ASSERT_EQ(line.rfind("start ", 0), 0u) << line;
        EXPECT_EQ(std::stoull(line.substr(6)), checkpoint);
        continue;
      }
      ASSERT_EQ(line.rfind("h ", 0), 0u) << line;
      const std::uint64_t lsn = std::stoull(line.substr(2));
      ASSERT_EQ(lsn, expect) << "out of order or skipped";
      if (!handled.insert(lsn).second) ++redelivered;
      ++expect;
    }
    const std::uint64_t now = checkpoint_of(dir.path());
    EXPECT_GE(now, checkpoint);
    // The checkpoint moved only over events this run handled.
    EXPECT_LE(now, std::max(checkpoint, expect - 1));
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
  std::printf(
      "%d of %ld killed runs moved the checkpoint; %d events handled again\n",
      advanced_rounds, kills, redelivered);
  ASSERT_EQ(writer.read_line(), std::optional<std::string>("done"));
  EXPECT_EQ(writer.wait(), 0);
  SCOPED_TRACE("the last, uninterrupted run");
  ASSERT_NO_FATAL_FAILURE(run_round(std::nullopt));
  EXPECT_EQ(checkpoint, commits);
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(commits));
}

}  // namespace
}  // namespace wfstore
