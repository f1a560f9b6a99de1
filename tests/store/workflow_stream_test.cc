// WorkflowStream (docs/semantics.md §7.13): a workflow's stored history, then
// its live events, each LSN once and in LSN order, ending with the event that
// completes or deletes the workflow; on a writer open and on a read-only open
// beside a writer process.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/subscriptions.h"

#include "tests/store/subscription_test_util.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using testutil::running_workflow;
using testutil::TempDir;
using Lsns = std::vector<std::uint64_t>;
using Source = WorkflowStream::Source;
using End = WorkflowStream::End;

void set_status(WorkflowStore& store, const std::string& id,
                WorkflowStatus status) {
  Workflow wf = store.retrieve(id);
  wf.status = status;
  store.update_status(wf);
}

struct Followed {
  Lsns replay;
  Lsns live;
  End end = End::kStopped;
};

// Follows `id` on `db` with the history, recording each item's LSN by source;
// `on_item` runs after each.
Followed follow(
    Database& db, const std::string& id,
    const std::function<void(const WorkflowStream::Item&)>& on_item = nullptr,
    bool include_history = true,
    std::optional<std::chrono::milliseconds> timeout = std::chrono::seconds{
        60}) {
  Followed f;
  f.end = WorkflowStream(db, id).follow(
      [&](const WorkflowStream::Item& item) {
        (item.source == Source::kReplay ? f.replay : f.live)
            .push_back(item.event.lsn);
        if (on_item) on_item(item);
        return true;
      },
      include_history, timeout);
  return f;
}

class WorkflowStreamTest : public testutil::BufferedStoreTest {};

TEST_F(WorkflowStreamTest, ReplaysThenFollowsLiveUntilTheWorkflowCompletes) {
  store().store(running_workflow("w"));      // 1
  store().store(running_workflow("other"));  // 2
  store().pause("w", "ops");                 // 3
  std::thread writer;
  const Followed f = follow(*db_, "w", [&](const WorkflowStream::Item& item) {
    if (item.event.lsn != 3) return;
    // Once the replay reached its end: interleaved live commits.
    writer = std::thread([&] {
      store().resume("w");                                   // 4
      store().pause("other", "ops");                         // 5
      set_status(store(), "w", WorkflowStatus::kSucceeded);  // 6
      store().resume("other");                               // 7
    });
  });
  writer.join();
  EXPECT_EQ(f.end, End::kTerminal);
  EXPECT_EQ(f.replay, (Lsns{1, 3}));
  EXPECT_EQ(f.live, (Lsns{4, 6}));
  EXPECT_EQ(db_->stats().applied_lsn, 7u);
}

TEST_F(WorkflowStreamTest, ReplayIsTheStoredHistory) {
  store().store(running_workflow("w"));
  store().store(running_workflow("other"));
  store().pause("w", "ops");
  Lsns lsns;
  for (const Event& e : WorkflowStream(*db_, "w").replay())
    lsns.push_back(e.lsn);
  EXPECT_EQ(lsns, (Lsns{1, 3}));
  EXPECT_TRUE(WorkflowStream(*db_, "unknown").replay().empty());
}

TEST_F(WorkflowStreamTest, WithoutHistoryOnlyLiveEventsAreVisited) {
  store().store(running_workflow("w"));  // 1
  store().pause("w", "ops");             // 2
  // Commits until the stream saw one of them live, then completes w.
  std::atomic<bool> seen_live{false};
  std::thread writer([&] {
    while (!seen_live) {
      store().resume("w");
      store().pause("w", "ops");
    }
    set_status(store(), "w", WorkflowStatus::kTerminal);
  });
  const Followed f = follow(
      *db_, "w", [&](const WorkflowStream::Item&) { seen_live = true; }, false);
  writer.join();
  EXPECT_EQ(f.end, End::kTerminal);
  EXPECT_TRUE(f.replay.empty());
  ASSERT_FALSE(f.live.empty());
  EXPECT_GE(f.live.front(), 3u);
  EXPECT_EQ(f.live.back(), db_->stats().applied_lsn);
  for (std::size_t i = 1; i < f.live.size(); ++i)
    EXPECT_EQ(f.live[i], f.live[i - 1] + 1);  // w's every live event
}

TEST_F(WorkflowStreamTest, AWorkflowAlreadyCompleteEndsAtOnce) {
  store().store(running_workflow("w"));
  set_status(store(), "w", WorkflowStatus::kCanceled);
  store().store(running_workflow("later"));
  const Followed f = follow(*db_, "w");
  EXPECT_EQ(f.end, End::kTerminal);
  EXPECT_EQ(f.replay, (Lsns{1, 2}));
  EXPECT_TRUE(f.live.empty());
  // Stored complete: its first event ends it.
  store().store(
      testutil::bare_workflow("done", "app", WorkflowStatus::kSucceeded, 1));
  const Followed done = follow(*db_, "done");
  EXPECT_EQ(done.end, End::kTerminal);
  EXPECT_EQ(done.replay, (Lsns{4}));
}

TEST_F(WorkflowStreamTest, DeletionEndsTheStreamAfterVisitingIt) {
  store().store(running_workflow("w"));
  std::thread writer;
  const Followed f = follow(*db_, "w", [&](const WorkflowStream::Item& item) {
    if (item.event.lsn == 1)
      writer = std::thread([&] { store().delete_workflow("w"); });
  });
  writer.join();
  EXPECT_EQ(f.end, End::kTerminal);
  EXPECT_EQ(f.replay, (Lsns{1}));
  EXPECT_EQ(f.live, (Lsns{2}));
}

TEST_F(WorkflowStreamTest, TimeoutAndStopEndTheStream) {
  store().store(running_workflow("w"));
  const auto start = std::chrono::steady_clock::now();
  const Followed f =
      follow(*db_, "w", nullptr, true, std::chrono::milliseconds{100});
  EXPECT_EQ(f.end, End::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds{100});
  EXPECT_EQ(f.replay, (Lsns{1}));
  // A workflow with no event yet times out too (it may still be stored).
  EXPECT_EQ(
      follow(*db_, "none", nullptr, true, std::chrono::milliseconds{20}).end,
      End::kTimeout);
  EXPECT_EQ(WorkflowStream(*db_, "w").follow(
                [](const WorkflowStream::Item&) { return false; }),
            End::kStopped);
}

// The timeout is time without new events (the reference's), not the
// stream's whole time: a workflow with an event every 100 ms for 2 s is
// followed through all of them with a timeout of 1 s.
TEST_F(WorkflowStreamTest, TheTimeoutCountsFromTheLastEvent) {
  store().store(running_workflow("w"));  // 1
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
      store().pause("w", "ops");
      store().resume("w");
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const Followed f =
      follow(*db_, "w", nullptr, true, std::chrono::milliseconds{1000});
  const auto took = std::chrono::steady_clock::now() - start;
  writer.join();
  EXPECT_EQ(f.end, End::kTimeout);
  EXPECT_EQ(f.live.size(), 40u);
  EXPECT_GE(took, std::chrono::milliseconds{2900});
}

TEST_F(WorkflowStreamTest, ManyLiveEventsEachOnceInLsnOrder) {
  store().store(running_workflow("w"));
  constexpr int kRounds = 300;
  std::thread writer;
  const Followed f = follow(*db_, "w", [&](const WorkflowStream::Item& item) {
    if (item.event.lsn != 1) return;
    writer = std::thread([&] {
      for (int i = 0; i < kRounds; ++i) {
        store().pause("w", "ops");
        store().store(running_workflow(fmt::format("o{}", i)));
        store().resume("w");
      }
      set_status(store(), "w", WorkflowStatus::kSucceeded);
    });
  });
  writer.join();
  EXPECT_EQ(f.end, End::kTerminal);
  ASSERT_EQ(f.live.size(), 2u * kRounds + 1);
  Lsns expected;
  for (int i = 0; i < kRounds; ++i) {
    expected.push_back(2 + 3 * static_cast<std::uint64_t>(i));
    expected.push_back(4 + 3 * static_cast<std::uint64_t>(i));
  }
  expected.push_back(2 + 3 * static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(f.live, expected);
}

TEST_F(WorkflowStreamTest, BadWorkflowIdIsRefused) {
  EXPECT_THROW(follow(*db_, "", nullptr, true, std::chrono::milliseconds{10}),
               InvalidArgumentError);
  EXPECT_THROW(WorkflowStream(*db_, "w").follow(
                   [](const WorkflowStream::Item&) { return true; }, true,
                   std::nullopt, std::chrono::milliseconds{0}),
               InvalidArgumentError);
}

// A writer process commits the workflow's events interleaved with others';
// this process follows it on a read-only open. The writer holds back the
// second half of the workflow's life until the stream replayed, so the
// stream sees both sources.
TEST(WorkflowStreamProcessTest, ReadOnlyOpenFollowsAWriterProcess) {
  const TempDir dir;
  const std::filesystem::path go = dir.path() / "go";
  const std::filesystem::path store_dir = dir.path() / "store";
  constexpr int kHalf = 40;
  testutil::ChildProcess writer = testutil::ChildProcess::spawn([&](int fd) {
    auto db = Database::open(store_dir,
                             testutil::quiet_options(Durability::kBuffered));
    WorkflowStore& store = db->workflow_store();
    store.store(running_workflow("w"));
    const auto churn = [&](int i) {
      store.store(running_workflow(fmt::format("o{}", i)));
      store.pause("w", "ops");
      store.resume("w");
    };
    for (int i = 0; i < kHalf; ++i) churn(i);
    testutil::report_line(fd, "ready");
    while (!std::filesystem::exists(go))
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    for (int i = kHalf; i < 2 * kHalf; ++i) {
      churn(i);
      std::this_thread::sleep_for(std::chrono::microseconds{300});
    }
    set_status(store, "w", WorkflowStatus::kSucceeded);
    store.store(running_workflow("after"));
    db->close();
    testutil::report_line(fd, "done");
  });
  ASSERT_EQ(writer.read_line(), std::optional<std::string>("ready"));
  auto reader = Database::open_read_only(store_dir, testutil::quiet_options());
  const Followed f = follow(*reader, "w", [&](const WorkflowStream::Item&) {
    if (!std::filesystem::exists(go)) std::ofstream(go).put('\n');
  });
  ASSERT_EQ(writer.read_line(), std::optional<std::string>("done"));
  EXPECT_EQ(writer.wait(), 0);
  EXPECT_EQ(f.end, End::kTerminal);
  // Every event of the workflow once, in LSN order, replay before live.
  Lsns all = f.replay;
  all.insert(all.end(), f.live.begin(), f.live.end());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<std::uint64_t>(all.begin(), all.end()).size(), all.size());
  Lsns stored;
  for (const Event& e : WorkflowStream(*reader, "w").replay())
    stored.push_back(e.lsn);
  EXPECT_EQ(all, stored);
  EXPECT_EQ(stored.size(), 1u + 4u * kHalf + 1u);
  EXPECT_GE(f.replay.size(), 1u + 2u * kHalf);
  EXPECT_GE(f.live.size(), 2u * kHalf + 1);  // the held-back half, at least
  EXPECT_TRUE(ends_workflow(WorkflowStream(*reader, "w").replay().back()));
}

}  // namespace
}  // namespace wfstore
