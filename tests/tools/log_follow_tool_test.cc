// `wfstore log --follow` run as a real process beside a writer (this test's
// process or a child process): the events so far, then each new commit's
// events as JSON Lines, in LSN order, flushed as they come; the filters;
// SIGINT and SIGTERM end it with exit 0; --limit and --to end it too.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/transaction.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/tool_process.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using testutil::TempDir;
using testutil::ToolProcess;

Workflow workflow(const std::string& id) {
  return testutil::bare_workflow(id, "app", WorkflowStatus::kRunning, 1);
}

class LogFollowToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (tmp_ / "store").string();
    auto db = Database::open(dir_, testutil::quiet_options());
    for (int i = 0; i < 3; ++i)
      db->workflow_store().store(workflow(fmt::format("wf-{}", i)));
    db->close();
  }
  std::vector<std::string> follow_args(std::vector<std::string> more = {}) {
    std::vector<std::string> args{"log", "--follow", "--json", "--dir", dir_};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  TempDir tmp_;
  std::string dir_;
};

TEST_F(LogFollowToolTest, PrintsEachCommitOfThisProcessAsItComesThenSigint) {
  ToolProcess follow(follow_args());
  for (std::uint64_t lsn = 1; lsn <= 3; ++lsn)
    ASSERT_EQ(follow.next_lsn(), lsn);
  auto db =
      Database::open(dir_, testutil::quiet_options(Durability::kBuffered));
  WorkflowStore& store = db->workflow_store();
  // One commit at a time: each is printed (and flushed) before the next.
  for (int i = 0; i < 20; ++i) {
    store.pause(fmt::format("wf-{}", i % 3), "ops");
    const std::optional<std::string> line = follow.read_line();
    ASSERT_TRUE(line) << "commit " << i << " was not printed";
    const nlohmann::json event = nlohmann::json::parse(*line);
    EXPECT_EQ(event.at("lsn"), 4 + 2 * i);
    EXPECT_EQ(event.at("type"), "WorkflowPaused");
    store.resume(fmt::format("wf-{}", i % 3));
    ASSERT_EQ(follow.next_lsn(), 5u + 2 * static_cast<std::uint64_t>(i));
  }
  follow.signal(SIGINT);
  EXPECT_EQ(follow.wait(), 0);
  EXPECT_EQ(follow.read_line(std::chrono::milliseconds{100}), std::nullopt);
}

TEST_F(LogFollowToolTest, PrintsInOrderTheCommitsOfAWriterProcess) {
  constexpr int kCommits = 300;
  // The follower first: forked before this process opens anything.
  ToolProcess follow(follow_args({"--poll-ms", "2"}));
  testutil::ChildProcess writer = testutil::ChildProcess::spawn([&](int fd) {
    auto db =
        Database::open(dir_, testutil::quiet_options(Durability::kBuffered));
    for (int i = 0; i < kCommits; ++i) {
      // Commits of one event and of several.
      if (i % 10 == 0) {
        Transaction txn = db->workflow_store().transaction();
        txn.mark_message_processed(fmt::format("m{}-a", i));
        txn.mark_message_processed(fmt::format("m{}-b", i));
        txn.commit();
      } else {
        db->workflow_store().store(workflow(fmt::format("w{}", i)));
      }
      std::this_thread::sleep_for(std::chrono::microseconds{200});
    }
    testutil::report_line(fd, fmt::format("{}", db->stats().applied_lsn));
    db->close();
  });
  const std::optional<std::string> last_line = writer.read_line();
  ASSERT_TRUE(last_line);
  const std::uint64_t last = std::stoull(*last_line);
  EXPECT_EQ(writer.wait(), 0);
  EXPECT_EQ(last, 3u + kCommits + kCommits / 10);
  for (std::uint64_t lsn = 1; lsn <= last; ++lsn) {
    const std::optional<std::uint64_t> got = follow.next_lsn();
    ASSERT_TRUE(got) << "lsn " << lsn << " was not printed";
    ASSERT_EQ(*got, lsn);
  }
  // Nothing more after the writer's last commit.
  EXPECT_EQ(follow.read_line(std::chrono::milliseconds{100}), std::nullopt);
  follow.signal(SIGINT);
  EXPECT_EQ(follow.wait(), 0);
}

TEST_F(LogFollowToolTest, FiltersApplyEventByEventAndSigtermEndsIt) {
  ToolProcess follow(follow_args(
      {"--after", "1", "--workflow", "wf-1", "--type", "WorkflowPaused"}));
  auto db =
      Database::open(dir_, testutil::quiet_options(Durability::kBuffered));
  WorkflowStore& store = db->workflow_store();
  store.pause("wf-0", "ops");  // 4
  store.pause("wf-1", "ops");  // 5
  store.resume("wf-1");        // 6
  store.pause("wf-1", "ops");  // 7
  EXPECT_EQ(follow.next_lsn(), 5u);
  EXPECT_EQ(follow.next_lsn(), 7u);
  EXPECT_EQ(follow.read_line(std::chrono::milliseconds{100}), std::nullopt);
  follow.signal(SIGTERM);
  EXPECT_EQ(follow.wait(), 0);
}

// A stop signal while stdout is a full pipe (a reader not keeping up)
// interrupts no write: every event printed so far reaches the reader.
TEST_F(LogFollowToolTest, ASignalWhileStdoutIsFullLosesNoLine) {
  {
    auto db = Database::open(dir_, testutil::quiet_options());
    for (int i = 3; i < 400; ++i)
      db->workflow_store().store(workflow(fmt::format("wf-{}", i)));
    db->close();
  }
  ToolProcess follow(follow_args());
  ASSERT_TRUE(follow.wait_until_catching(SIGTERM));
  // Far more than a pipe holds: the process blocks writing.
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  follow.signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  std::uint64_t expected = 1;
  while (const std::optional<std::string> line = follow.read_line()) {
    ASSERT_EQ(nlohmann::json::parse(*line).at("lsn").get<std::uint64_t>(),
              expected);
    ++expected;
  }
  EXPECT_EQ(expected, 401u);
  EXPECT_EQ(follow.wait(), 0);
}

TEST_F(LogFollowToolTest, TextLinesAndLimitEndsIt) {
  ToolProcess follow({"log", "--follow", "--dir", dir_, "--limit", "5"});
  for (int i = 1; i <= 3; ++i) {
    const std::optional<std::string> line = follow.read_line();
    ASSERT_TRUE(line);
    EXPECT_THAT(*line, HasSubstr(fmt::format("lsn={} ", i)));
  }
  auto db =
      Database::open(dir_, testutil::quiet_options(Durability::kBuffered));
  db->workflow_store().pause("wf-0", "ops");
  db->workflow_store().pause("wf-1", "ops");
  db->workflow_store().pause("wf-2", "ops");
  EXPECT_THAT(follow.read_line().value_or(""), HasSubstr("lsn=4 "));
  EXPECT_THAT(follow.read_line().value_or(""), HasSubstr("lsn=5 "));
  EXPECT_EQ(follow.wait(), 0);  // by itself, after 5 events
  EXPECT_EQ(follow.read_line(), std::nullopt);
}

TEST_F(LogFollowToolTest, ToEndsItOnceThatLsnIsPrinted) {
  ToolProcess follow(follow_args({"--to", "4"}));
  for (std::uint64_t lsn = 1; lsn <= 3; ++lsn)
    ASSERT_EQ(follow.next_lsn(), lsn);
  auto db =
      Database::open(dir_, testutil::quiet_options(Durability::kBuffered));
  db->workflow_store().pause("wf-0", "ops");
  EXPECT_EQ(follow.next_lsn(), 4u);
  EXPECT_EQ(follow.wait(), 0);
}

TEST_F(LogFollowToolTest, BadArgumentsAreUsageErrors) {
  const auto run = [&](const std::string& args) {
    return testutil::run_tool("log --follow --dir " + dir_ + " " + args);
  };
  testutil::ToolRun r = run("--desc");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--desc"));
  EXPECT_EQ(run("--offset 1").status, 2);
  EXPECT_EQ(run("--workflow ''").status, 2);
  EXPECT_EQ(run("--poll-ms 0").status, 2);
  // Criteria `log` refuses are refused alike, not followed with nothing
  // matching (--to ends the run that would).
  r = run("--to 3 --since 2030-01-01T00:00:00Z --until 2020-01-01T00:00:00Z");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("is after to_time_ms"));
  r = run("--to 3 --entity delivery:abc");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("delivery id 'abc' is not a decimal"));
  r = run("--after 9");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("beyond"));
  r = testutil::run_tool("log --poll-ms 5 --dir " + dir_);
  EXPECT_EQ(r.status, 2) << r.output;
  r = testutil::run_tool("log --follow --dir " + (tmp_ / "nothing").string());
  EXPECT_EQ(r.status, 1) << r.output;
}

}  // namespace
}  // namespace wfstore
