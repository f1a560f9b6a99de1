// Items 83, 87 and 88 of the spec's checklist (docs/semantics.md §10) on
// wfstore's subscriptions API: a workflow's interleaved LSNs read, streamed
// and subscribed to without a gap; the reference's event bus (docs/semantics.md §7.7) mapped
// onto EventBus; an async subscriber's order when its first call is slow.
//
// Where EventBus deliberately differs from the reference's bus, the test
// says so: there is no process-global bus (get_event_bus() /
// reset_event_bus()); a bus is an object attached to one Database.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/subscriptions.h"

#include "tests/store/subscription_test_util.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testutil::ReportedErrors;
using testutil::running_workflow;
using testutil::Seen;
using testutil::TempDir;

using Lsns = std::vector<std::uint64_t>;

constexpr std::chrono::seconds kWait{30};

// A standalone event of workflow `workflow_id` (the reference's bus tests
// publish hand-made events; these carry the LSN as their sequence).
Event paused_event(std::uint64_t lsn, const std::string& workflow_id) {
  Event e;
  e.lsn = lsn;
  e.workflow_id = workflow_id;
  e.payload = WorkflowPaused{workflow_id, "ops", 1};
  return e;
}

Event stage_event(std::uint64_t lsn, const std::string& workflow_id) {
  Event e;
  e.lsn = lsn;
  e.workflow_id = workflow_id;
  e.payload = StageAdded{testutil::make_stage(
      workflow_id, "build", "build", "Build", WorkflowStatus::kNotStarted)};
  return e;
}

// --- Item 83: interleaved LSNs -------------------------------------------

// Three workflows committed round-robin: wf-a holds LSNs 1, 4 and 7, wf-b 2,
// 5 and 8, wf-c 3, 6 and 9. The reference's audit warned of a "gap" in
// wf-a's sequence; in wfstore a workflow's events are a subsequence of the
// one LSN order, so nothing is reported and every reader sees wf-a's three
// events, complete and in order.
class Item83Test : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options = testutil::quiet_options(Durability::kBuffered);
    options.logger = warnings_.logger();
    db_ = Database::open(dir_.path(), options);
    WorkflowStore& store = db_->workflow_store();
    for (const char* id : {"wf-a", "wf-b", "wf-c"})
      store.store(running_workflow(id));
    for (const char* id : {"wf-a", "wf-b", "wf-c"}) store.pause(id, "ops");
    for (const char* id : {"wf-a", "wf-b", "wf-c"}) store.resume(id);
  }

  testutil::Warnings warnings_;
  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(Item83Test, Item83InterleavedLsnsOfAWorkflowHaveNoGap) {
  ASSERT_EQ(db_->stats().applied_lsn, 9u);
  const History history(*db_);
  EventQuery query;
  query.workflow_id = "wf-a";
  Lsns queried;
  for (const Event& e : history.events(query)) queried.push_back(e.lsn);
  EXPECT_EQ(queried, (Lsns{1, 4, 7}));

  // The stream's replay and its follow (which ends on a timeout: wf-a is
  // still running) see the same three events, once each.
  const WorkflowStream stream(*db_, "wf-a");
  Lsns replayed;
  for (const Event& e : stream.replay()) replayed.push_back(e.lsn);
  EXPECT_EQ(replayed, (Lsns{1, 4, 7}));
  Lsns followed;
  EXPECT_EQ(stream.follow(
                [&](const WorkflowStream::Item& item) {
                  EXPECT_EQ(item.source, WorkflowStream::Source::kReplay);
                  followed.push_back(item.event.lsn);
                  return true;
                },
                true, std::chrono::milliseconds{50}),
            WorkflowStream::End::kTimeout);
  EXPECT_EQ(followed, (Lsns{1, 4, 7}));

  // A durable subscription filtered to wf-a handles 1, 4 and 7 and its
  // checkpoint passes over the other workflows' LSNs.
  DurableSubscriptions subs(*db_);
  SubscriptionFilter only_a;
  only_a.workflow_id = "wf-a";
  subs.create("wf-a", StartFrom::beginning(), only_a);
  Seen durable;
  EXPECT_EQ(subs.catch_up("wf-a", durable.handler()), 3u);
  EXPECT_EQ(durable.lsns(), (Lsns{1, 4, 7}));
  EXPECT_EQ(subs.status("wf-a").checkpoint, 9u);
  EXPECT_EQ(subs.status("wf-a").lag, 0u);

  // Nothing was logged about a gap (nor anything else).
  EXPECT_THAT(warnings_.messages(), IsEmpty());
}

TEST_F(Item83Test, Item83InterleavedLsnsReachABusSubscriberInOrder) {
  EventBus bus(*db_);
  Seen a;
  SubscriptionFilter only_a;
  only_a.workflow_id = "wf-a";
  bus.subscribe("wf-a", a.handler(), only_a);
  // LSNs 10..18, wf-a holding 10, 13 and 16.
  WorkflowStore& store = db_->workflow_store();
  for (int round = 0; round < 3; ++round) {
    for (const char* id : {"wf-a", "wf-b", "wf-c"}) {
      Workflow wf = store.retrieve(id);
      wf.status =
          round == 2 ? WorkflowStatus::kSucceeded : WorkflowStatus::kRunning;
      store.update_status(wf);
    }
  }
  EXPECT_EQ(a.lsns(), (Lsns{10, 13, 16}));
  EXPECT_THAT(warnings_.messages(), IsEmpty());
}

// --- Item 87: the bus ----------------------------------------------------

TEST(SubscriptionsItemsTest, Item87SubscribeAndPublish) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish(paused_event(1, "wf-1"));
  EXPECT_EQ(seen.lsns(), (Lsns{1}));
}

// Item 87 on a store, whose commits feed its bus.
class SubscriptionsItemsStoreTest : public testutil::BufferedStoreTest {};

TEST_F(SubscriptionsItemsStoreTest, Item87SubscribeAndPublishFromAStore) {
  // wfstore's bus is fed by the store's commits, which is how the
  // reference's store publishes after appending.
  EventBus bus(*db_);
  Seen seen;
  bus.subscribe("s", seen.handler());
  store().store(running_workflow("wf-1"));
  store().pause("wf-1", "ops");
  EXPECT_EQ(seen.lsns(), (Lsns{1, 2}));
}

TEST(SubscriptionsItemsTest, Item87MultipleSubscribers) {
  EventBus bus;
  Seen first;
  Seen second;
  bus.subscribe("first", first.handler());
  bus.subscribe("second", second.handler());
  bus.publish(paused_event(1, "wf-1"));
  EXPECT_EQ(first.lsns(), (Lsns{1}));
  EXPECT_EQ(second.lsns(), (Lsns{1}));
}

TEST(SubscriptionsItemsTest, Item87FiltersByEventTypeEntityKindAndWorkflow) {
  EventBus bus;
  Seen by_type;
  Seen by_kind;
  Seen by_workflow;
  bus.subscribe("type", by_type.handler(),
                SubscriptionFilter{{EventType::kWorkflowPaused}, {}, {}});
  // The reference's entity_types: which entities an event touches.
  bus.subscribe("kind", by_kind.handler(),
                SubscriptionFilter{{}, {EntityKind::kStage}, {}});
  bus.subscribe("workflow", by_workflow.handler(),
                SubscriptionFilter{{}, {}, "wf-2"});
  bus.publish(paused_event(1, "wf-1"));
  bus.publish(stage_event(2, "wf-1"));
  bus.publish(paused_event(3, "wf-2"));
  bus.publish(stage_event(4, "wf-2"));
  EXPECT_EQ(by_type.lsns(), (Lsns{1, 3}));
  EXPECT_EQ(by_kind.lsns(), (Lsns{2, 4}));
  EXPECT_EQ(by_workflow.lsns(), (Lsns{3, 4}));
}

TEST(SubscriptionsItemsTest, Item87Unsubscribe) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish(paused_event(1, "wf-1"));
  EXPECT_TRUE(bus.unsubscribe("s"));
  EXPECT_FALSE(bus.unsubscribe("s"));
  bus.publish(paused_event(2, "wf-1"));
  EXPECT_EQ(seen.lsns(), (Lsns{1}));
  EXPECT_EQ(bus.stats().active, 0u);
}

TEST(SubscriptionsItemsTest, Item87DisableAndReEnable) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  EXPECT_TRUE(bus.disable_subscription("s"));
  bus.publish(paused_event(1, "wf-1"));
  EXPECT_TRUE(bus.enable_subscription("s"));
  bus.publish(paused_event(2, "wf-1"));
  EXPECT_EQ(seen.lsns(), (Lsns{2}));
  EXPECT_FALSE(bus.disable_subscription("unknown"));
  EXPECT_FALSE(bus.enable_subscription("unknown"));
}

TEST(SubscriptionsItemsTest, Item87AsyncDelivery) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler(), {}, DeliveryMode::kAsync);
  bus.publish(paused_event(1, "wf-1"));
  bus.publish(paused_event(2, "wf-1"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  EXPECT_EQ(seen.lsns(), (Lsns{1, 2}));
  // On the bus's worker, not on the publishing thread.
  for (const std::thread::id id : seen.threads()) {
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(SubscriptionsItemsTest, Item87ErrorIsolationWithTheErrorHandler) {
  ReportedErrors errors;
  EventBusOptions options;
  options.error_handler = errors.handler();
  EventBus bus(options);
  Seen good;
  bus.subscribe("bad", [](const Event&) { throw std::runtime_error("boom"); });
  bus.subscribe("good", good.handler());
  bus.publish(paused_event(1, "wf-1"));
  EXPECT_EQ(good.lsns(), (Lsns{1}));
  EXPECT_THAT(errors.reported(), ElementsAre("bad@1: boom"));
  EXPECT_EQ(bus.stats().errors, 1u);
  EXPECT_EQ(bus.stats().delivered, 1u);
}

TEST(SubscriptionsItemsTest, Item87PublishBatch) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish_batch(
      {paused_event(1, "wf-1"), paused_event(2, "wf-1"), stage_event(3, "x")});
  EXPECT_EQ(seen.lsns(), (Lsns{1, 2, 3}));
  EXPECT_EQ(bus.stats().published, 3u);
}

TEST(SubscriptionsItemsTest, Item87StatsPublishedAndDeliveredTwoErrorsZero) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish(paused_event(1, "wf-1"));
  bus.publish(paused_event(2, "wf-1"));
  const EventBusStats stats = bus.stats();
  EXPECT_EQ(stats.published, 2u);
  EXPECT_EQ(stats.delivered, 2u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.active, 1u);
}

TEST(SubscriptionsItemsTest, Item87GetSubscriptions) {
  EventBus bus;
  bus.subscribe("zeta", [](const Event&) {});
  bus.subscribe(
      "alpha", [](const Event&) {}, {}, DeliveryMode::kAsync);
  bus.subscribe("mid", [](const Event&) {});
  bus.disable_subscription("mid");  // listed while disabled
  EXPECT_THAT(bus.subscriptions(), ElementsAre("alpha", "mid", "zeta"));
}

TEST(SubscriptionsItemsTest, Item87ShutdownIgnoresLaterPublishes) {
  EventBus bus;
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish(paused_event(1, "wf-1"));
  bus.shutdown(true);
  bus.publish(paused_event(2, "wf-1"));
  bus.publish_batch({paused_event(3, "wf-1")});
  EXPECT_EQ(seen.lsns(), (Lsns{1}));
  EXPECT_EQ(bus.stats().published, 1u);
}

TEST(SubscriptionsItemsTest, Item87ResetZeroesTheStats) {
  EventBus bus;
  bus.subscribe("s", [](const Event& e) {
    if (e.lsn == 2) throw std::runtime_error("boom");
  });
  bus.publish_batch({paused_event(1, "wf-1"), paused_event(2, "wf-1")});
  bus.shutdown(true);
  ASSERT_EQ(bus.stats().published, 2u);
  ASSERT_EQ(bus.stats().errors, 1u);
  bus.reset();
  const EventBusStats stats = bus.stats();
  EXPECT_EQ(stats.published, 0u);
  EXPECT_EQ(stats.delivered, 0u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.active, 0u);
  EXPECT_THAT(bus.subscriptions(), IsEmpty());
  // And ends the shutdown.
  Seen seen;
  bus.subscribe("s", seen.handler());
  bus.publish(paused_event(3, "wf-1"));
  EXPECT_EQ(seen.lsns(), (Lsns{3}));
}

// The reference's get_event_bus() is a process-wide singleton and
// reset_event_bus() replaces it. wfstore has no global bus on purpose: a bus
// belongs to the Database it is attached to (several stores in one process,
// tests in parallel), so the program keeps the object it made. What the
// singleton gave, one bus every part of a program publishes to, is the one
// EventBus attached to the store; a second bus on the same store is
// independent (its own subscriptions and stats), and replacing a bus is
// destroying it and making another.
TEST_F(SubscriptionsItemsStoreTest, Item87NoGlobalBusEachBusIsItsOwnObject) {
  auto bus = std::make_unique<EventBus>(*db_);
  EventBus other(*db_);
  Seen first;
  Seen second;
  bus->subscribe("s", first.handler());
  other.subscribe("s", second.handler());
  store().store(running_workflow("wf-1"));
  EXPECT_EQ(first.lsns(), (Lsns{1}));
  EXPECT_EQ(second.lsns(), (Lsns{1}));
  // "reset_event_bus()": a new bus starts with no subscriptions or stats.
  bus = std::make_unique<EventBus>(*db_);
  EXPECT_THAT(bus->subscriptions(), IsEmpty());
  EXPECT_EQ(bus->stats().published, 0u);
  store().store(running_workflow("wf-2"));
  EXPECT_EQ(first.lsns(), (Lsns{1}));  // the old bus is gone
  EXPECT_EQ(second.lsns(), (Lsns{1, 2}));
  EXPECT_EQ(bus->stats().published, 1u);
}

// --- Item 88: async order with a slow first call -------------------------

TEST(SubscriptionsItemsTest, Item88AsyncSubscriberKeepsPublishOrderWhenSlow) {
  EventBusOptions options;
  options.max_workers = 4;  // idle workers that could run later events
  EventBus bus(options);
  std::mutex mu;
  Lsns order;
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};
  bus.subscribe(
      "slow-first",
      [&](const Event& event) {
        const int now = ++running;
        int seen = most_running.load();
        while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
        }
        if (event.lsn == 1)
          std::this_thread::sleep_for(std::chrono::milliseconds{200});
        {
          const std::scoped_lock lock(mu);
          order.push_back(event.lsn);
        }
        --running;
      },
      {}, DeliveryMode::kAsync);
  for (std::uint64_t lsn = 1; lsn <= 20; ++lsn)
    bus.publish(paused_event(lsn, "wf-1"));
  ASSERT_TRUE(bus.wait_idle(kWait));
  Lsns expected;
  for (std::uint64_t lsn = 1; lsn <= 20; ++lsn) expected.push_back(lsn);
  const std::scoped_lock lock(mu);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(most_running.load(), 1);  // never two calls at once
}

TEST(SubscriptionsItemsTest, Item88AsyncOrderOnAStoreWithCommittingThreads) {
  const TempDir dir;
  auto db = Database::open(dir.path(),
                           testutil::quiet_options(Durability::kBuffered));
  EventBus bus(*db);
  Seen seen;
  std::atomic<bool> first{true};
  Seen recorder;
  const EventHandler record = recorder.handler();
  bus.subscribe(
      "slow-first",
      [&](const Event& event) {
        if (first.exchange(false))
          std::this_thread::sleep_for(std::chrono::milliseconds{200});
        record(event);
      },
      {}, DeliveryMode::kAsync);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        db->workflow_store().store(
            running_workflow(fmt::format("t{}-{}", t, i)));
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(bus.wait_idle(kWait));
  Lsns expected;
  for (std::uint64_t lsn = 1; lsn <= 100; ++lsn) expected.push_back(lsn);
  EXPECT_EQ(recorder.lsns(), expected);
}

}  // namespace
}  // namespace wfstore
