// A crash loop over the whole write path, with real child processes: a writer
// child runs several committing threads, each commit one transaction of a
// stage update, a queue push and a dedup mark (one log record), and reports
// each commit over a pipe once commit() returned. The parent SIGKILLs the
// child at random moments (while it recovers the store, inside commits,
// between them) and after each kill checks the store:
//   - every reported commit is there: its stage version, its message, its
//     mark;
//   - nothing is half-applied: per thread, the stage's version n, the
//     messages and the marks of exactly the commits 0 .. n-1, and no others;
//   - the views equal a rebuild from the log (verify_store_views).
// Recovery alternates: after even kills the checker opens the store as its
// writer (recovering it) before checking; after odd kills it checks the
// store as the killed child left it through a read-only open, and the next
// writer child recovers it.
//
// Both durability modes: in kSync a reported commit was fdatasynced, in
// kBuffered it was written to the log, which a SIGKILL does not lose.
//
// Knobs: WFSTORE_CRASH_LOOP_KILLS (kills per durability mode, default 30),
// WFSTORE_CRASH_LOOP_THREADS (committing threads, default 3), WFSTORE_SEED.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "store/database_impl.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using testutil::ChildProcess;
using testutil::TempDir;

constexpr const char* kHandler = "CrashLoopWriter";

std::string workflow_id(int thread) {
  return fmt::format("crash-wf-{}", thread);
}
std::string stage_id(int thread) { return workflow_id(thread) + "-s"; }
// The task id of commit n's message and the id of its dedup mark.
std::string commit_tag(int thread, std::int64_t n) {
  return fmt::format("t{}-n{}", thread, n);
}

Workflow thread_workflow(int thread) {
  Workflow wf;
  wf.id = workflow_id(thread);
  wf.application = "crash-loop";
  wf.name = wf.id;
  StageExecution stage =
      testutil::bare_stage(wf.id, stage_id(thread), "counter", "counter");
  stage.name = "Counter";
  wf.stages.push_back(std::move(stage));
  return wf;
}

RunTask commit_message(int thread, std::int64_t n) {
  return testutil::run_task(workflow_id(thread), stage_id(thread),
                            commit_tag(thread, n), "crash.Counter");
}

DatabaseOptions store_options(Durability durability) {
  DatabaseOptions options;
  options.durability = durability;
  return options;
}

// The child: opens the store (recovering it), reports "open", then runs
// `threads` threads that commit until the process is killed. Commit n of
// thread t stores the thread's stage with context {"seq": n} (its version
// becomes n + 1), pushes RunTask t{t}-n{n} and marks t{t}-n{n} processed, in
// one transaction, then reports "t n".
void run_writer(const std::filesystem::path& dir, Durability durability,
                int threads, int report_fd) {
  auto db = Database::open(dir, store_options(durability));
  testutil::report_line(report_fd, "open");
  Queue queue(*db);
  WorkflowStore& store = db->workflow_store();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      StageExecution stage = store.retrieve_stage(stage_id(t)).stage();
      for (;;) {
        const std::int64_t n = stage.version;
        run_transaction(store, &queue, [&](Transaction& txn) {
          stage.context = Json(nlohmann::json{{"seq", n}});
          txn.store_stage(stage);
          txn.push_message(commit_message(t, n));
          txn.mark_message_processed(commit_tag(t, n), kHandler,
                                     workflow_id(t));
        });
        testutil::report_line(report_fd, fmt::format("{} {}", t, n));
      }
    });
  }
  // Never returns: the parent kills the process.
  for (std::thread& worker : workers) worker.join();
}

// The highest commit each thread reported, -1 for none.
using Reported = std::vector<std::int64_t>;

void record_line(const std::string& line, Reported& reported) {
  if (line == "open") return;
  std::istringstream in(line);
  int t = -1;
  std::int64_t n = -1;
  in >> t >> n;
  ASSERT_TRUE(in && t >= 0 && t < static_cast<int>(reported.size()))
      << "bad report line: " << line;
  reported[static_cast<std::size_t>(t)] =
      std::max(reported[static_cast<std::size_t>(t)], n);
}

// Checks the store in `db` against the reports; returns the number of
// commits it holds.
std::uint64_t check_commits(Database& db, int threads,
                            const Reported& reported) {
  WorkflowStore& store = db.workflow_store();
  std::vector<std::int64_t> versions;
  for (int t = 0; t < threads; ++t) {
    SCOPED_TRACE(fmt::format("thread {}", t));
    const StageExecution stage = store.retrieve_stage(stage_id(t)).stage();
    const std::int64_t version = stage.version;
    versions.push_back(version);
    // Every reported commit is there.
    EXPECT_GT(version, reported[static_cast<std::size_t>(t)])
        << "a reported commit of the stage was lost";
    if (version > 0) {
      EXPECT_EQ(stage.context.value().value("seq", std::int64_t{-1}),
                version - 1);
    }
  }

  // The marks and messages of exactly commits 0 .. version-1 of each thread.
  std::set<std::string> expected;
  for (int t = 0; t < threads; ++t) {
    for (std::int64_t n = 0; n < versions[static_cast<std::size_t>(t)]; ++n) {
      expected.insert(commit_tag(t, n));
    }
  }
  const LmdbViews::Snapshot views = database_impl(db).views().begin_read();
  const std::vector<std::string> marks =
      processed_message_ids(views, std::nullopt);
  EXPECT_EQ(marks.size(), expected.size());
  EXPECT_TRUE(std::set<std::string>(marks.begin(), marks.end()) == expected)
      << "the dedup marks differ from the stage versions";
  std::set<std::string> messages;
  std::uint64_t queued = 0;
  const std::uint64_t next_id = next_delivery_id(views);
  for (std::uint64_t id = 1; id < next_id; ++id) {
    const std::optional<QueuedMessage> m = find_queued_message(views, id);
    if (!m) continue;
    ++queued;
    EXPECT_EQ(m->message_type, "RunTask") << "delivery " << id;
    EXPECT_FALSE(m->lease_until) << "delivery " << id;
    const Message message = message_from_wire(
        m->message_type, Json::from_cbor(m->payload_cbor, "payload").value());
    messages.insert(std::get<RunTask>(message).task_id);
  }
  EXPECT_EQ(queued, expected.size());
  EXPECT_EQ(queue_size(views), queued);
  EXPECT_TRUE(messages == expected)
      << "the queued messages differ from the stage versions";
  EXPECT_EQ(next_id, expected.size() + 1) << "delivery ids are not dense";
  return expected.size();
}

void expect_views_equal_rebuild(const std::filesystem::path& dir) {
  const ViewsVerifyReport verify = verify_store_views(dir);
  EXPECT_TRUE(verify.equal()) << ::testing::PrintToString(verify.differences);
}

void run_crash_loop(Durability durability) {
  const TempDir dir;
  const std::uint32_t seed = testutil::random_seed();
  const long kills = testutil::env_knob("WFSTORE_CRASH_LOOP_KILLS", 30);
  const int threads = static_cast<int>(
      std::max(1L, testutil::env_knob("WFSTORE_CRASH_LOOP_THREADS", 3)));
  std::mt19937 rng(seed);
  {
    auto db = Database::open(dir.path(), store_options(durability));
    for (int t = 0; t < threads; ++t) {
      db->workflow_store().store(thread_workflow(t));
    }
    db->close();
  }
  Reported reported(static_cast<std::size_t>(threads), -1);
  int killed_before_open = 0;
  std::uint64_t commits = 0;
  for (long round = 0; round < kills; ++round) {
    SCOPED_TRACE(fmt::format("kill {}, seed {}", round, seed));
    // Kill after 0-60 reported lines (the first is "open") plus 0-2 ms:
    // during recovery, inside commits, between them.
    const int wait_lines = std::uniform_int_distribution<int>(0, 60)(rng);
    const int wait_us = std::uniform_int_distribution<int>(0, 2000)(rng);
    ChildProcess child = ChildProcess::spawn(
        [&](int fd) { run_writer(dir.path(), durability, threads, fd); });
    bool opened = false;
    ASSERT_NO_FATAL_FAILURE(testutil::kill_after_lines(
        child, wait_lines, std::chrono::microseconds(wait_us),
        [&](const std::string& line) {
          opened |= line == "open";
          record_line(line, reported);
        }));
    killed_before_open += opened ? 0 : 1;
    if (round % 2 == 0) {
      // The checker recovers the store.
      auto db = Database::open(dir.path(), store_options(durability));
      commits = check_commits(*db, threads, reported);
      db->close();
    } else {
      // The store as the child left it; the next writer recovers it.
      auto db = Database::open_read_only(dir.path(), store_options(durability));
      commits = check_commits(*db, threads, reported);
    }
    expect_views_equal_rebuild(dir.path());
    if (::testing::Test::HasFailure()) return;
  }
  std::int64_t reported_commits = 0;
  for (const std::int64_t n : reported) reported_commits += n + 1;
  EXPECT_GT(reported_commits, 0) << "no commit was reported";
  std::fprintf(stderr,
               "%ld kills (%d before the store was open), %d threads, %lld "
               "commits reported, %llu in the store\n",
               kills, killed_before_open, threads,
               static_cast<long long>(reported_commits),
               static_cast<unsigned long long>(commits));
}

TEST(CrashLoopSlowTest, SigkillInSyncModeLosesNoReportedCommitAndSplitsNone) {
  run_crash_loop(Durability::kSync);
}

TEST(CrashLoopSlowTest,
     SigkillInBufferedModeLosesNoReportedCommitAndSplitsNone) {
  run_crash_loop(Durability::kBuffered);
}

}  // namespace
}  // namespace wfstore
