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

#include "wfstore/event.h"
#include "wfstore/subscriptions.h"

#include "tests/testutil/wait.h"

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

}  // namespace
}  // namespace wfstore
