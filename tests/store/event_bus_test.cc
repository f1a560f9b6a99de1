// EventBus on a real store: each committed event once, in LSN order, never a
// rolled-back or rejected commit's; sync and async subscribers under 16
// committing threads; filters, enable/disable, unsubscribe, error isolation,
// stats, shutdown and reset; a bus on a read-only open following the writer.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/subscriptions.h"
#include "wfstore/transaction.h"

#include "tests/store/subscription_test_util.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::ReportedErrors;
using testutil::running_workflow;
using testutil::Seen;

constexpr std::chrono::seconds kWait{30};

// 1..n.
std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

class EventBusTest : public testutil::BufferedStoreTest {};

TEST_F(EventBusTest, SyncSubscriberGetsEachCommittedEventOnceInLsnOrder) {
  EventBus bus(*db_);
  Seen seen;
  bus.subscribe("all", seen.handler());
  for (int i = 0; i < 5; ++i)
    store().store(running_workflow("w" + std::to_string(i)));
  store().pause("w1", "ops");
  // Sync subscribers run before the commit's leader returns.
  EXPECT_EQ(seen.lsns(), one_to(6));
  EXPECT_EQ(seen.types().back(), EventType::kWorkflowPaused);
  const EventBusStats stats = bus.stats();
  EXPECT_EQ(stats.published, 6u);
  EXPECT_EQ(stats.delivered, 6u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.active, 1u);
  EXPECT_EQ(stats.last_lsn, 6u);
}

TEST_F(EventBusTest, RolledBackAndRejectedCommitsAreNeverPublished) {
  EventBus bus(*db_);
  Seen seen;
  bus.subscribe("all", seen.handler());
  store().store(running_workflow("w1"));
  {
    StageExecution stage = testutil::make_stage("w1", "build", "build", "Build",
                                                WorkflowStatus::kNotStarted);
    Transaction txn = store().transaction();
    txn.store_stage(stage);
    txn.rollback();
  }
  {
    StageExecution stage = testutil::make_stage("w1", "test", "test", "Test",
                                                WorkflowStatus::kNotStarted);
    Transaction txn = store().transaction();
    txn.store_stage(stage);
  }  // destroyed uncommitted: rolled back
  EXPECT_THROW(store().store(running_workflow("w1")), DuplicateError);
  store().store(running_workflow("w2"));
  EXPECT_EQ(seen.lsns(), one_to(2));
  EXPECT_EQ(bus.stats().published, 2u);
}

TEST_F(EventBusTest, SixteenCommittingThreadsSeeEveryCommitOnceInLsnOrder) {
  constexpr int kThreads = 16;
  constexpr int kCommitsEach = 25;
  EventBus bus(*db_);
  Seen sync_seen;
  Seen async_seen;
  bus.subscribe("sync", sync_seen.handler());
  bus.subscribe("async", async_seen.handler(), {}, DeliveryMode::kAsync);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommitsEach; ++i) {
        store().store(running_workflow(fmt::format("t{}-{}", t, i)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(bus.wait_idle(kWait));
  const std::uint64_t total = kThreads * kCommitsEach;
  EXPECT_EQ(db_->stats().applied_lsn, total);
  EXPECT_EQ(sync_seen.lsns(), one_to(total));
  EXPECT_EQ(async_seen.lsns(), one_to(total));
  EXPECT_EQ(bus.stats().published, total);
  EXPECT_EQ(bus.stats().delivered, 2 * total);
}

TEST_F(EventBusTest, FiltersByTypeEntityKindAndWorkflow) {
  EventBus bus(*db_);
  Seen paused;
  Seen stages;
  Seen w2;
  Seen w2_paused;
  bus.subscribe("paused", paused.handler(),
                SubscriptionFilter{{EventType::kWorkflowPaused}, {}, {}});
  bus.subscribe("stages", stages.handler(),
                SubscriptionFilter{{}, {EntityKind::kStage}, {}});
  bus.subscribe("w2", w2.handler(), SubscriptionFilter{{}, {}, "w2"});
  bus.subscribe("w2-paused", w2_paused.handler(),
                SubscriptionFilter{{EventType::kWorkflowPaused}, {}, "w2"});
  store().store(running_workflow("w1"));  // lsn 1
  store().store(running_workflow("w2"));  // lsn 2
  store().pause("w1", "ops");             // lsn 3
  store().pause("w2", "ops");             // lsn 4
  StageExecution stage = testutil::make_stage("w2", "build", "build", "Build",
                                              WorkflowStatus::kNotStarted);
  store().add_stage(stage);  // lsn 5
  EXPECT_EQ(paused.lsns(), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(stages.lsns(), (std::vector<std::uint64_t>{5}));
  EXPECT_EQ(w2.lsns(), (std::vector<std::uint64_t>{2, 4, 5}));
  EXPECT_EQ(w2_paused.lsns(), (std::vector<std::uint64_t>{4}));
}

TEST_F(EventBusTest, DisabledSubscriptionMissesEventsAndUnsubscribeEndsIt) {
  EventBus bus(*db_);
  Seen seen;
  bus.subscribe("s", seen.handler());
  store().store(running_workflow("w1"));
  EXPECT_TRUE(bus.disable_subscription("s"));
  store().store(running_workflow("w2"));
  EXPECT_TRUE(bus.enable_subscription("s"));
  store().store(running_workflow("w3"));
  EXPECT_EQ(seen.lsns(), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_THAT(bus.subscriptions(), ElementsAre("s"));
  EXPECT_TRUE(bus.unsubscribe("s"));
  EXPECT_FALSE(bus.unsubscribe("s"));
  EXPECT_FALSE(bus.enable_subscription("s"));
  store().store(running_workflow("w4"));
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(bus.stats().active, 0u);
}

TEST_F(EventBusTest, ResubscribingReplacesTheSubscription) {
  EventBus bus(*db_);
  Seen first;
  Seen second;
  bus.subscribe("s", first.handler());
  bus.subscribe("s", second.handler());
  store().store(running_workflow("w1"));
  EXPECT_EQ(first.size(), 0u);
  EXPECT_EQ(second.size(), 1u);
  EXPECT_EQ(bus.stats().active, 1u);
}

// A subscriber and an error handler whose exceptions have no message (what()
// is null): both are contained, and delivery goes on.
TEST_F(EventBusTest, ExceptionsWithoutAMessageAreContained) {
  EventBusOptions options;
  options.error_handler = [](const std::string&, const Event&,
                             const std::exception_ptr&) {
    throw testutil::NullMessageError();
  };
  EventBus bus(*db_, options);
  Seen seen;
  bus.subscribe("bad",
                [](const Event&) { throw testutil::NullMessageError(); });
  bus.subscribe("good", seen.handler());
  store().store(running_workflow("w1"));
  store().store(running_workflow("w2"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  EXPECT_EQ(seen.lsns(), one_to(2));
  EXPECT_EQ(bus.stats().errors, 2u);
}

TEST_F(EventBusTest, ThrowingHandlerIsIsolatedAndReported) {
  ReportedErrors errors;
  EventBusOptions options;
  options.error_handler = errors.handler();
  EventBus bus(*db_, options);
  Seen seen;
  bus.subscribe("bad", [](const Event&) { throw std::runtime_error("boom"); });
  bus.subscribe("good", seen.handler());
  bus.subscribe(
      "bad-async", [](const Event&) { throw std::runtime_error("async boom"); },
      {}, DeliveryMode::kAsync);
  store().store(running_workflow("w1"));
  store().store(running_workflow("w2"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  EXPECT_EQ(seen.lsns(), one_to(2));
  std::vector<std::string> reported = errors.reported();
  std::sort(reported.begin(), reported.end());
  EXPECT_THAT(reported,
              ElementsAre("bad-async@1: async boom", "bad-async@2: async boom",
                          "bad@1: boom", "bad@2: boom"));
  EXPECT_EQ(bus.stats().errors, 4u);
  EXPECT_EQ(bus.stats().delivered, 2u);
  // The store is unharmed.
  EXPECT_TRUE(store().exists("w2"));
}

TEST_F(EventBusTest, SyncHandlerThatCommitsToTheStoreGetsIOError) {
  std::atomic<int> io_errors{0};
  EventBusOptions options;
  options.error_handler = [&](const std::string&, const Event&,
                              std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const IOError&) {
      ++io_errors;
    }
  };
  EventBus bus(*db_, options);
  bus.subscribe("commits", [&](const Event& event) {
    if (event.lsn == 1) store().store(running_workflow("from-handler"));
  });
  store().store(running_workflow("w1"));
  EXPECT_EQ(io_errors.load(), 1);
  EXPECT_FALSE(store().exists("from-handler"));
}

TEST_F(EventBusTest, AsyncHandlerMayCommitToTheStore) {
  EventBus bus(*db_);
  bus.subscribe(
      "echo",
      [&](const Event& event) {
        if (event.workflow_id == "w1") store().store(running_workflow("echo"));
      },
      {}, DeliveryMode::kAsync);
  store().store(running_workflow("w1"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  EXPECT_TRUE(store().exists("echo"));
}

TEST_F(EventBusTest, ShutdownIgnoresLaterCommitsAndResetStartsOver) {
  EventBus bus(*db_);
  Seen seen;
  bus.subscribe("s", seen.handler(), {}, DeliveryMode::kAsync);
  store().store(running_workflow("w1"));
  bus.shutdown(true);  // drains w1's event first
  EXPECT_EQ(seen.lsns(), one_to(1));
  store().store(running_workflow("w2"));
  bus.publish(Event{});
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(bus.stats().published, 1u);
  bus.reset();
  EXPECT_EQ(bus.stats().published, 0u);
  EXPECT_EQ(bus.stats().active, 0u);
  EXPECT_TRUE(bus.subscriptions().empty());
  Seen again;
  bus.subscribe("s", again.handler(), {}, DeliveryMode::kAsync);
  store().store(running_workflow("w3"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  EXPECT_EQ(again.lsns(), (std::vector<std::uint64_t>{3}));
}

TEST_F(EventBusTest, BadSubscriptionsAndOptionsAreRejected) {
  EventBus bus(*db_);
  EXPECT_THAT([&] { bus.subscribe("", [](const Event&) {}); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("id is empty")));
  EXPECT_THAT([&] { bus.subscribe("s", nullptr); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("handler")));
  EXPECT_TRUE(bus.subscriptions().empty());
  EventBusOptions no_workers;
  no_workers.max_workers = 0;
  EXPECT_THROW(EventBus(*db_, no_workers), InvalidArgumentError);
  EventBusOptions no_interval;
  no_interval.poll_interval = std::chrono::milliseconds{0};
  EXPECT_THROW(EventBus(*db_, no_interval), InvalidArgumentError);
}

TEST_F(EventBusTest, BusOnAReadOnlyOpenFollowsTheWriter) {
  store().store(running_workflow("before"));
  auto reader =
      Database::open_read_only(dir_.path(), testutil::quiet_options());
  EventBus bus(*reader);
  Seen sync_seen;
  Seen async_seen;
  bus.subscribe("sync", sync_seen.handler());
  bus.subscribe("async", async_seen.handler(), {}, DeliveryMode::kAsync);
  for (int i = 0; i < 20; ++i)
    store().store(running_workflow("w" + std::to_string(i)));
  // The follower starts after what the views held when the bus began.
  ASSERT_TRUE(testutil::wait_until([&] { return sync_seen.size() == 20; }));
  ASSERT_TRUE(bus.wait_idle(kWait));
  std::vector<std::uint64_t> expected;
  for (std::uint64_t lsn = 2; lsn <= 21; ++lsn) expected.push_back(lsn);
  EXPECT_EQ(sync_seen.lsns(), expected);
  EXPECT_EQ(async_seen.lsns(), expected);
  EXPECT_EQ(bus.stats().last_lsn, 21u);
}

TEST(EventBusStandaloneTest, PublishDeliversToMatchingSubscribers) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler(),
                SubscriptionFilter{{EventType::kWorkflowPaused}, {}, {}});
  Event paused;
  paused.lsn = 7;
  paused.payload = WorkflowPaused{"w", "ops", 1};
  Event deleted;
  deleted.lsn = 8;
  deleted.payload = WorkflowDeleted{"w"};
  bus.publish_batch({paused, deleted});
  EXPECT_EQ(seen.lsns(), (std::vector<std::uint64_t>{7}));
  EXPECT_EQ(bus.stats().published, 2u);
  EXPECT_EQ(bus.stats().delivered, 1u);
  EXPECT_EQ(bus.stats().last_lsn, 0u);  // not the store's
}

}  // namespace
}  // namespace wfstore
