// History's event queries: every criterion alone and combined, both
// directions, offset and limit, count, bad input; a property test against a
// brute-force filter of the whole log; the cost of one workflow's history
// among many; the views' checksum with the history indexes and the log
// positions.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/maintenance.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "store/database_impl.h"
#include "tests/store/history_script.h"
#include "tests/testutil/counting_file_system.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/keys.h"

namespace wfstore {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testutil::FakeClock;
using testutil::TempDir;

constexpr std::int64_t kStartMs = 1'700'000'000'000;

struct Fixture {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>(kStartMs);
  std::shared_ptr<testutil::CountingFileSystem> fs =
      std::make_shared<testutil::CountingFileSystem>();

  DatabaseOptions options(Durability durability = Durability::kSync) const {
    DatabaseOptions o = testutil::quiet_options(durability);
    o.clock = clock;
    o.file_system = fs;
    return o;
  }
};

// Several workflows under several actors, a transaction, queue traffic
// (push, lease, ack, dead letter, replay), pauses and a delete; the clock
// advances between commits (sometimes not at all).
void write_workload(Database& db, FakeClock& clock) {
  WorkflowStore& store = db.workflow_store();
  Queue queue(db);
  {
    AuditScope audit({"alice", "req-1", "", "api"});
    store.store(testutil::diamond_workflow("w1"));
    clock.advance(10);
    store.store(testutil::diamond_workflow("w2"));
  }
  clock.advance(10);
  {
    AuditScope audit({"bob", "req-2", "cause", "cli"});
    store.store(testutil::full_workflow("w3"));
    StageInExecution found = store.retrieve_stage("w1.build_linux");
    found.stage().status = WorkflowStatus::kRunning;
    store.store_stage(found.stage());
    clock.advance(5);
    Transaction txn = store.transaction();
    StageExecution deploy = store.retrieve_stage("w1.deploy").stage();
    deploy.status = WorkflowStatus::kSucceeded;
    txn.store_stage(deploy);
    txn.push_message(testutil::start_stage("w1", "w1.deploy_verify"));
    txn.mark_message_processed("m-1", "Handler", "w1");
    txn.commit();
  }
  clock.advance(7);
  {
    AuditScope audit({"alice", "req-3", "", "api"});
    store.pause("w2", "alice");
    const std::uint64_t d1 = queue.push(testutil::start_workflow("w2"));
    queue.push(testutil::start_workflow("w4"));
    clock.advance(1);
    std::optional<Delivery> leased = queue.poll_one();
    ASSERT_TRUE(leased);
    queue.ack(leased->id);
    queue.move_to_dlq(d1 + 1, "boom");
    queue.replay_dlq(d1 + 1);
  }
  clock.advance(20);
  store.resume("w2");
  store.delete_workflow("w3");
  {
    AuditScope audit({"carol", "req-1", "", ""});
    store.store(testutil::diamond_workflow("w4"));
    store.cancel("w4", "carol", "stop");
  }
}

bool brute_match(const Event& e, const EventQuery& q) {
  if (q.workflow_id && e.workflow_id != *q.workflow_id) return false;
  if (q.entity) {
    const std::vector<EntityRef> refs = event_entities(e.payload);
    if (std::find(refs.begin(), refs.end(), *q.entity) == refs.end())
      return false;
  }
  if (!q.types.empty() &&
      std::find(q.types.begin(), q.types.end(), e.type()) == q.types.end())
    return false;
  if (q.actor && e.audit.actor != *q.actor) return false;
  if (q.correlation_id && e.audit.correlation_id != *q.correlation_id)
    return false;
  if (q.from_lsn && e.lsn <= *q.from_lsn) return false;
  if (q.to_lsn && e.lsn > *q.to_lsn) return false;
  if (q.from_time_ms && e.timestamp_ms < *q.from_time_ms) return false;
  if (q.to_time_ms && e.timestamp_ms > *q.to_time_ms) return false;
  return true;
}

std::vector<Event> brute(const std::vector<Event>& log, const EventQuery& q,
                         bool paged = true) {
  std::vector<Event> out;
  for (const Event& e : log) {
    if (brute_match(e, q)) out.push_back(e);
  }
  if (!q.ascending) std::reverse(out.begin(), out.end());
  if (!paged) return out;
  const std::size_t from = std::min(q.offset, out.size());
  const std::size_t to = std::min(out.size(), from + q.limit);
  return std::vector<Event>(out.begin() + static_cast<std::ptrdiff_t>(from),
                            out.begin() + static_cast<std::ptrdiff_t>(to));
}

std::vector<std::uint64_t> lsns(const std::vector<Event>& events) {
  std::vector<std::uint64_t> out;
  for (const Event& e : events) out.push_back(e.lsn);
  return out;
}

class HistoryQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = Database::open(tmp_ / "store", fx_.options());
    write_workload(*db_, *fx_.clock);
    log_ = testutil::log_events(tmp_ / "store");
    ASSERT_GE(log_.size(), 18u);
  }

  // events() equals the brute force, count() its unpaged size.
  void expect_query(const EventQuery& q) {
    History history(*db_);
    const std::vector<Event> got = history.events(q);
    const std::vector<Event> want = brute(log_, q);
    EXPECT_EQ(lsns(got), lsns(want));
    EXPECT_EQ(got, want);
    EXPECT_EQ(history.count(q), brute(log_, q, false).size());
  }

  TempDir tmp_;
  Fixture fx_;
  std::unique_ptr<Database> db_;
  std::vector<Event> log_;
};

TEST_F(HistoryQueryTest, EveryCriterionAloneInBothDirections) {
  std::vector<EventQuery> queries;
  EventQuery q;
  queries.push_back(q);
  q.workflow_id = "w1";
  queries.push_back(q);
  q = {};
  q.workflow_id = "w3";  // deleted: its history stays
  queries.push_back(q);
  q = {};
  q.entity = EntityRef{EntityKind::kStage, "w1.deploy"};
  queries.push_back(q);
  q.entity = EntityRef{EntityKind::kTask, "w1.build_linux.t0"};
  queries.push_back(q);
  q.entity = EntityRef{EntityKind::kWorkflow, "w2"};
  queries.push_back(q);
  q.entity = EntityRef{EntityKind::kDelivery, "2"};
  queries.push_back(q);
  q = {};
  q.types = {EventType::kWorkflowStored};
  queries.push_back(q);
  q.types = {EventType::kMessagePushed, EventType::kStageUpdated,
             EventType::kMessagePushed};
  queries.push_back(q);
  q = {};
  q.actor = "alice";
  queries.push_back(q);
  q.actor = "";
  queries.push_back(q);
  q = {};
  q.correlation_id = "req-1";
  queries.push_back(q);
  q = {};
  q.from_lsn = 5;
  queries.push_back(q);
  q.to_lsn = 17;
  queries.push_back(q);
  q = {};
  q.from_time_ms = kStartMs + 20;
  queries.push_back(q);
  q.to_time_ms = kStartMs + 42;
  queries.push_back(q);
  q = {};
  q.to_time_ms = kStartMs - 1;
  queries.push_back(q);
  q = {};
  q.workflow_id = "nobody";
  queries.push_back(q);
  for (EventQuery query : queries) {
    for (bool ascending : {true, false}) {
      for (EventOrder order : {EventOrder::kLsn, EventOrder::kTimestamp}) {
        query.ascending = ascending;
        query.order = order;
        SCOPED_TRACE(testing::Message()
                     << "workflow " << query.workflow_id.value_or("-")
                     << " actor " << query.actor.value_or("-") << " asc "
                     << ascending);
        expect_query(query);
      }
    }
  }
}

TEST_F(HistoryQueryTest, CriteriaCombinedWithOffsetAndLimit) {
  EventQuery q;
  q.workflow_id = "w1";
  q.actor = "bob";
  expect_query(q);
  q.types = {EventType::kStageUpdated};
  expect_query(q);
  q = {};
  q.entity = EntityRef{EntityKind::kStage, "w1.deploy"};
  q.correlation_id = "req-2";
  q.from_lsn = 2;
  expect_query(q);
  q = {};
  q.types = {EventType::kMessagePushed, EventType::kWorkflowStored};
  q.from_time_ms = kStartMs + 10;
  q.to_time_ms = kStartMs + 60;
  q.offset = 1;
  q.limit = 2;
  expect_query(q);
  q.ascending = false;
  expect_query(q);
  q = {};
  q.offset = 3;
  q.limit = 4;
  q.ascending = false;
  expect_query(q);
  q.offset = 1000;
  expect_query(q);
  q = {};
  q.limit = 0;
  EXPECT_TRUE(History(*db_).events(q).empty());
  EXPECT_EQ(History(*db_).count(q), log_.size());
}

TEST_F(HistoryQueryTest, RandomQueriesMatchABruteForceFilterOfTheLog) {
  std::mt19937_64 rng(20261205);
  std::vector<std::string> workflows = {"w1", "w2", "w3", "w4", "none"};
  std::vector<EntityRef> entities;
  std::set<std::string> seen;
  for (const Event& e : log_) {
    for (const EntityRef& ref : event_entities(e.payload)) {
      if (seen.insert(std::string(entity_kind_name(ref.kind)) + ref.id).second)
        entities.push_back(ref);
    }
  }
  const std::vector<std::string> actors = {"alice", "bob", "carol", ""};
  const std::vector<std::string> correlations = {"req-1", "req-2", "req-3", ""};
  const std::vector<EventType> types = {
      EventType::kWorkflowStored, EventType::kStageUpdated,
      EventType::kMessagePushed,  EventType::kMessageProcessed,
      EventType::kWorkflowPaused, EventType::kDeadLetterReplayed};
  const auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(rng() % n);
  };
  const std::uint64_t last = log_.back().lsn;
  const std::int64_t span = log_.back().timestamp_ms - kStartMs;
  for (int i = 0; i < 400; ++i) {
    EventQuery q;
    if (pick(4) == 0) q.workflow_id = workflows[pick(workflows.size())];
    if (pick(4) == 0) q.entity = entities[pick(entities.size())];
    if (pick(3) == 0) {
      for (std::size_t n = 1 + pick(3); n > 0; --n)
        q.types.push_back(types[pick(types.size())]);
    }
    if (pick(5) == 0) q.actor = actors[pick(actors.size())];
    if (pick(5) == 0)
      q.correlation_id = correlations[pick(correlations.size())];
    if (pick(3) == 0) q.from_lsn = pick(last);
    if (pick(3) == 0) q.to_lsn = q.from_lsn.value_or(0) + 1 + pick(last);
    if (pick(4) == 0)
      q.from_time_ms = kStartMs + static_cast<std::int64_t>(
                                      pick(static_cast<std::size_t>(span + 5)));
    if (pick(4) == 0) {
      q.to_time_ms =
          q.from_time_ms.value_or(kStartMs - 2) +
          static_cast<std::int64_t>(pick(static_cast<std::size_t>(span + 5)));
    }
    q.ascending = pick(2) == 0;
    q.order = pick(2) == 0 ? EventOrder::kLsn : EventOrder::kTimestamp;
    q.offset = pick(4) == 0 ? pick(10) : 0;
    q.limit = pick(3) == 0 ? 1 + pick(8) : 1000;
    SCOPED_TRACE(i);
    expect_query(q);
    // event_matches (log --follow's filter) selects what events() selects.
    History history(*db_);
    EventQuery unpaged = q;
    unpaged.ascending = true;
    unpaged.offset = 0;
    unpaged.limit = log_.size();
    std::vector<std::uint64_t> matched;
    for (const Event& e : log_) {
      if (event_matches(e, q)) matched.push_back(e.lsn);
    }
    EXPECT_EQ(matched, lsns(history.events(unpaged)));
  }
}

TEST_F(HistoryQueryTest, BadInputIsRefusedBeforeReading) {
  History history(*db_);
  fx_.fs->reset();
  const auto refused = [&](const EventQuery& q, const char* what) {
    EXPECT_THAT([&] { history.events(q); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(what)));
    EXPECT_THROW(history.count(q), InvalidArgumentError);
  };
  EventQuery q;
  q.from_lsn = 5;
  q.to_lsn = 5;
  refused(q, "from_lsn 5 must be below to_lsn 5");
  q = {};
  q.from_time_ms = 10;
  q.to_time_ms = 9;
  refused(q, "from_time_ms 10 is after to_time_ms 9");
  q = {};
  q.workflow_id = "";
  refused(q, "workflow id is empty");
  q = {};
  q.entity = EntityRef{EntityKind::kStage, ""};
  refused(q, "stage id is empty");
  q.entity = EntityRef{EntityKind::kWorkflow, ""};
  refused(q, "workflow id is empty");
  for (const char* bad :
       {"x1", "-1", "+1", "01", "1.0", " 1", "18446744073709551616"}) {
    q.entity = EntityRef{EntityKind::kDelivery, bad};
    refused(q, "is not a decimal number");
  }
  q.entity = EntityRef{static_cast<EntityKind>(9), "x"};
  refused(q, "unknown entity kind 9");
  q = {};
  q.types = {static_cast<EventType>(999)};
  refused(q, "unknown event type 999");
  EXPECT_EQ(fx_.fs->bytes_read(), 0u);
}

TEST_F(HistoryQueryTest, EventAtCommitEndAndTimes) {
  History history(*db_);
  EXPECT_EQ(history.current_lsn(), log_.back().lsn);
  EXPECT_EQ(history.event_at(0), std::nullopt);
  EXPECT_EQ(history.event_at(log_.back().lsn + 1), std::nullopt);
  for (const Event& e : log_) {
    EXPECT_EQ(history.event_at(e.lsn), e);
    std::uint64_t end = e.lsn;
    for (const Event& other : log_) {
      if (other.commit_id == e.commit_id) end = std::max(end, other.lsn);
    }
    EXPECT_EQ(history.commit_end(e.lsn), end);
    // The last LSN of the last commit whose time <= t.
    std::uint64_t at = 0;
    for (const Event& other : log_) {
      if (other.timestamp_ms <= e.timestamp_ms) at = other.lsn;
    }
    EXPECT_EQ(history.lsn_at_time(e.timestamp_ms), at);
  }
  EXPECT_EQ(history.lsn_at_time(kStartMs - 1), 0u);
  EXPECT_EQ(history.lsn_at_time(INT64_MIN), 0u);
  EXPECT_EQ(history.lsn_at_time(INT64_MAX), log_.back().lsn);
  EXPECT_THROW(history.commit_end(0), InvalidArgumentError);
  EXPECT_THROW(history.commit_end(log_.back().lsn + 1), InvalidArgumentError);
}

TEST_F(HistoryQueryTest, ReadOnlyOpenQueriesTheLiveStore) {
  auto reader =
      Database::open_read_only(tmp_ / "store", testutil::quiet_options());
  History history(*reader);
  EventQuery q;
  q.workflow_id = "w2";
  EXPECT_EQ(lsns(history.events(q)), lsns(brute(log_, q)));
  db_->workflow_store().pause("w1", "dave");
  EXPECT_EQ(history.current_lsn(), log_.back().lsn + 1);
  q.workflow_id = "w1";
  q.ascending = false;
  q.limit = 1;
  const std::vector<Event> latest = history.events(q);
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].type(), EventType::kWorkflowPaused);
}

TEST_F(HistoryQueryTest, ViewsEqualARebuildAndPositionsStayOutOfTheChecksum) {
  const std::string before =
      to_hex(read_checksum(database_impl(*db_).views().begin_read()));
  db_->close();
  db_.reset();
  EXPECT_TRUE(verify_store_views(tmp_ / "store").equal());
  // A copy of the views without their log positions has the same checksum
  // and still verifies; queries fall back to reading from segment starts.
  {
    auto db = Database::open(tmp_ / "store", fx_.options());
    database_impl(*db).views().write([](LmdbViews::WriteTxn& txn) {
      for (const auto& [key, value] : dump_table(txn, Table::kLogPositions))
        txn.del(Table::kLogPositions, key);
    });
    EXPECT_TRUE(database_impl(*db).views().dump(Table::kLogPositions).empty());
    EXPECT_EQ(to_hex(read_checksum(database_impl(*db).views().begin_read())),
              before);
    History history(*db);
    EventQuery q;
    q.workflow_id = "w1";
    q.ascending = false;
    EXPECT_EQ(history.events(q), brute(log_, q));
    db->close();
  }
  EXPECT_TRUE(verify_store_views(tmp_ / "store").equal());
  rebuild_store_views(tmp_ / "store");
  auto db = Database::open(tmp_ / "store", fx_.options());
  EXPECT_EQ(to_hex(read_checksum(database_impl(*db).views().begin_read())),
            before);
  EXPECT_FALSE(database_impl(*db).views().dump(Table::kLogPositions).empty());
}

std::uint64_t constant_hash(std::string_view) { return 42; }

// Every id hashes alike: entity and audit queries still answer exactly
// (collisions are told apart by the index's check and the decoded event).
TEST(HistoryCollisionTest, CollidingIdsAreFilteredOut) {
  const keys::ScopedIdHashForTesting collide(&constant_hash);
  const TempDir tmp;
  Fixture fx;
  auto db = Database::open(tmp / "store", fx.options());
  write_workload(*db, *fx.clock);
  const std::vector<Event> log = testutil::log_events(tmp / "store");
  History history(*db);
  std::vector<EventQuery> queries(5);
  queries[0].entity = EntityRef{EntityKind::kStage, "w1.deploy"};
  queries[1].entity = EntityRef{EntityKind::kTask, "w2.setup.t0"};
  queries[2].actor = "bob";
  queries[3].correlation_id = "req-1";
  queries[4].entity = EntityRef{EntityKind::kStage, "w1.deploy"};
  queries[4].ascending = false;
  for (const EventQuery& q : queries) {
    EXPECT_EQ(history.events(q), brute(log, q));
    EXPECT_EQ(history.count(q), brute(log, q, false).size());
    EXPECT_FALSE(brute(log, q).empty());
  }
}

// The writer's log positions: at most one per log block, each where the
// log's reader finds that commit; a rebuild writes the same ones.
TEST(HistoryPositionsTest, OnePerBlockAtTheReadersOffsetsAndRebuiltAlike) {
  const TempDir tmp;
  Fixture fx;
  auto db = Database::open(tmp / "store", fx.options(Durability::kBuffered));
  for (int i = 0; i < 3000; ++i) {
    db->workflow_store().mark_message_processed("m" + std::to_string(i));
  }
  const auto positions = database_impl(*db).views().dump(Table::kLogPositions);
  db->close();
  const std::uint64_t blocks = testutil::log_bytes(tmp / "store") / 32768 + 1;
  EXPECT_LE(positions.size(), blocks);
  EXPECT_GE(positions.size(), blocks - 1);
  std::set<std::uint64_t> seen_blocks;
  for (const auto& [key, value] : positions) {
    keys::KeyReader reader(value);
    EXPECT_EQ(reader.u64(), 1u);  // one segment
    EXPECT_TRUE(seen_blocks.insert(reader.u64() / 32768).second);
  }
  rebuild_store_views(tmp / "store");
  auto reopened = Database::open(tmp / "store", fx.options());
  EXPECT_EQ(database_impl(*reopened).views().dump(Table::kLogPositions),
            positions);
  // Every event reads back through them.
  History history(*reopened);
  for (std::uint64_t lsn : {1u, 2u, 1500u, 2999u, 3000u}) {
    const std::optional<Event> event = history.event_at(lsn);
    ASSERT_TRUE(event);
    EXPECT_EQ(std::get<MessageProcessed>(event->payload).message_id,
              "m" + std::to_string(lsn - 1));
  }
}

// A transaction's events get consecutive LSNs in one commit; successive
// commits have increasing LSNs.
TEST(HistoryItemsTest, Item75ConsecutiveLsnsInOneCommit) {
  const TempDir tmp;
  auto db = Database::open(tmp / "store", testutil::quiet_options());
  WorkflowStore& store = db->workflow_store();
  store.store(testutil::diamond_workflow("w1"));
  Transaction txn = store.transaction();
  txn.mark_message_processed("a", "H", "w1");
  txn.mark_message_processed("b", "H", "w1");
  txn.push_message(testutil::start_workflow("w1"));
  txn.commit();
  store.pause("w1", "x");
  History history(*db);
  EventQuery q;
  q.workflow_id = "w1";
  const std::vector<Event> events = history.events(q);
  ASSERT_EQ(events.size(), 5u);
  for (std::size_t i = 1; i < events.size(); ++i)
    EXPECT_EQ(events[i].lsn, events[i - 1].lsn + 1);
  EXPECT_EQ(events[1].commit_id, events[1].lsn);
  EXPECT_EQ(events[2].commit_id, events[1].lsn);
  EXPECT_EQ(events[3].commit_id, events[1].lsn);
  EXPECT_EQ(history.commit_end(events[2].lsn), events[3].lsn);
  EXPECT_LT(events[0].commit_id, events[1].commit_id);
  EXPECT_LT(events[3].commit_id, events[4].commit_id);
}

// Only w1's events; the events after the 2nd of 5 are the remaining 3; JSON
// payload lists and dicts round-trip.
TEST(HistoryItemsTest, Item76EventsForWorkflowAndSince) {
  const TempDir tmp;
  auto db = Database::open(tmp / "store", testutil::quiet_options());
  WorkflowStore& store = db->workflow_store();
  store.store(testutil::diamond_workflow("w2"));
  Workflow w1 = testutil::diamond_workflow("w1");
  w1.context = Json(nlohmann::json{{"list", {1, 2, {{"k", "v"}}}},
                                   {"dict", {{"a", {{"b", nullptr}}}}}});
  store.store(w1);
  store.pause("w2", "x");
  store.pause("w1", "x");
  store.resume("w1");
  store.cancel("w1", "y", "why");
  Queue queue(*db);
  queue.push(testutil::start_workflow("w1"));
  History history(*db);
  EventQuery q;
  q.workflow_id = "w1";
  const std::vector<Event> events = history.events(q);
  ASSERT_EQ(events.size(), 5u);
  for (const Event& e : events) EXPECT_EQ(e.workflow_id, "w1");
  const auto& stored = std::get<WorkflowStored>(events[0].payload);
  EXPECT_EQ(stored.workflow.context.value(), w1.context.value());
  EXPECT_EQ(stored.workflow.id, "w1");
  EXPECT_EQ(stored.workflow.stages.size(), w1.stages.size());
  EXPECT_EQ(stored.workflow.stages[0].context.value(),
            w1.stages[0].context.value());
  q.from_lsn = events[1].lsn;
  EXPECT_EQ(history.events(q),
            std::vector<Event>(events.begin() + 2, events.end()));
  EXPECT_EQ(history.count(q), 3u);
}

TEST(HistoryItemsTest, Item79EventQueryDefaults) {
  const EventQuery q;
  EXPECT_FALSE(q.workflow_id);
  EXPECT_FALSE(q.entity);
  EXPECT_TRUE(q.types.empty());
  EXPECT_FALSE(q.actor);
  EXPECT_FALSE(q.correlation_id);
  EXPECT_FALSE(q.from_lsn);
  EXPECT_FALSE(q.to_lsn);
  EXPECT_FALSE(q.from_time_ms);
  EXPECT_FALSE(q.to_time_ms);
  EXPECT_EQ(q.limit, 1000u);
  EXPECT_EQ(q.offset, 0u);
  EXPECT_EQ(q.order, EventOrder::kLsn);
  EXPECT_TRUE(q.ascending);
  // The defaults select the first 1000 events in LSN order.
  const TempDir tmp;
  auto db = Database::open(tmp / "store",
                           testutil::quiet_options(Durability::kBuffered));
  Transaction txn = db->workflow_store().transaction();
  for (int i = 0; i < 1005; ++i) txn.mark_message_processed(std::to_string(i));
  txn.commit();
  const std::vector<Event> events = History(*db).events(q);
  ASSERT_EQ(events.size(), 1000u);
  for (std::size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i].lsn, i + 1);
  EXPECT_EQ(History(*db).count(q), 1005u);
}

// The history of one workflow among 20,000 other events reads a bounded
// part of the log, not the log.
TEST(HistoryCostTest, OneWorkflowAmongManyCostsItsOwnEvents) {
  const TempDir tmp;
  Fixture fx;
  DatabaseOptions options = fx.options(Durability::kBuffered);
  options.buffered_sync_interval = milliseconds::max();
  auto db = Database::open(tmp / "store", options);
  WorkflowStore& store = db->workflow_store();
  const std::vector<int> at = {10, 5000, 9000, 15000, 19990};
  std::size_t next = 0;
  store.store(testutil::diamond_workflow("target"));
  for (int i = 0; i < 20000; ++i) {
    if (next < at.size() && i == at[next]) {
      ++next;
      if (next % 2 == 1) {
        store.pause("target", "p");
      } else {
        store.resume("target");
      }
    }
    store.mark_message_processed("m" + std::to_string(i), "H", "other");
  }
  History history(*db);
  fx.fs->reset();
  EventQuery q;
  q.workflow_id = "target";
  const std::vector<Event> events = history.events(q);
  EXPECT_EQ(events.size(), 6u);
  const std::uint64_t log = testutil::log_bytes(tmp / "store");
  const std::uint64_t read = fx.fs->bytes_read();
  // Each event costs at most a block or two of reading.
  EXPECT_LT(read, 6 * 3 * 32768u) << "log " << log;
  EXPECT_LT(read * 10, log);
  fx.fs->reset();
  q.ascending = false;
  q.limit = 2;
  EXPECT_EQ(history.events(q).size(), 2u);
  EXPECT_LT(fx.fs->bytes_read(), 2 * 3 * 32768u);
  fx.fs->reset();
  EXPECT_EQ(history.count(q), 6u);
  EXPECT_EQ(fx.fs->bytes_read(), 0u);  // the index answers
}

}  // namespace
}  // namespace wfstore
