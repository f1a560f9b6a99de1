// Review tests of the subscriptions: what shutdown() promises to a sync
// subscriber whose publisher is in the middle of a batch.

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/subscriptions.h"

#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

Event event_at(std::uint64_t lsn) {
  Event e;
  e.lsn = lsn;
  e.workflow_id = "wf";
  e.payload = WorkflowDeleted{"wf"};
  return e;
}

TEST(EventBusReview, NoSyncHandlerCallStartsAfterShutdownReturned) {
  EventBus bus;
  std::atomic<int> calls{0};
  std::atomic<bool> in_first{false};
  std::atomic<bool> release{false};
  std::atomic<bool> shut{false};
  std::atomic<int> after_shutdown{0};
  bus.subscribe("slow", [&](const Event&) {
    if (shut.load()) after_shutdown.fetch_add(1);
    if (calls.fetch_add(1) == 0) {
      in_first.store(true);
      while (!release.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::thread publisher([&] {
    bus.publish_batch({event_at(1), event_at(2), event_at(3)});
  });
  while (!in_first.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bus.shutdown(false);
  shut.store(true);
  release.store(true);
  publisher.join();
  // The call in progress finished; the batch's later events were not
  // delivered once shutdown() had returned.
  EXPECT_EQ(after_shutdown.load(), 0);
  EXPECT_EQ(calls.load(), 1);
}

// `wfstore log --follow --poll-ms N` stops on SIGINT through `stop`: a long
// poll interval must not delay that by the whole interval (nor overflow).
TEST(FollowEventsReview, StopIsSeenDuringALongPollInterval) {
  testutil::TempDir dir;
  auto db = Database::open(dir.path(),
                           testutil::quiet_options(Durability::kBuffered));
  db->workflow_store().store(
      testutil::bare_workflow("w1", "app", WorkflowStatus::kRunning, 1));
  for (const std::chrono::milliseconds interval :
       {std::chrono::milliseconds(std::chrono::hours(1)),
        std::chrono::milliseconds::max()}) {
    std::atomic<bool> stop{false};
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      stop.store(true);
    });
    auto returned = std::async(std::launch::async, [&] {
      return follow_events(
          *db, 0, [](const Event&) { return true; },
          [&] { return stop.load(); }, interval);
    });
    const bool ended =
        returned.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    stopper.join();
    ASSERT_TRUE(ended) << "follow_events did not see stop within 5 s (poll "
                       << interval.count() << " ms)";
    EXPECT_EQ(returned.get(), 1u);
  }
}

// A stream's timeout ends a follow however long its poll interval, without
// overflowing the clock (milliseconds::max() as interval or timeout).
TEST(FollowEventsReview, StreamTimeoutIsSeenDuringALongPollInterval) {
  testutil::TempDir dir;
  auto db = Database::open(dir.path(),
                           testutil::quiet_options(Durability::kBuffered));
  db->workflow_store().store(
      testutil::bare_workflow("w1", "app", WorkflowStatus::kRunning, 1));
  const WorkflowStream stream(*db, "w1");
  auto returned = std::async(std::launch::async, [&] {
    return stream.follow([](const WorkflowStream::Item&) { return true; }, true,
                         std::chrono::milliseconds(100),
                         std::chrono::milliseconds::max());
  });
  ASSERT_EQ(returned.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_EQ(returned.get(), WorkflowStream::End::kTimeout);
  // No timeout at all: a visit that stops ends it.
  EXPECT_EQ(stream.follow([](const WorkflowStream::Item&) { return false; },
                          true, std::chrono::milliseconds::max(),
                          std::chrono::milliseconds::max()),
            WorkflowStream::End::kStopped);
}

}  // namespace
}  // namespace wfstore
