// Unit tests of the queue's decide() and fold() over the memory view store
// (docs/write-path.md#the-queues-leases, docs/semantics.md §4.3-4.4): delivery
// ids, the order, lease and task indexes, the queue record encoding, the meta
// counters, errors that change nothing, next_queue_due_time, and rebuild
// equivalence of a long random command sequence.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/limits.h"
#include "wfstore/message.h"

#include "tests/projector/state_machine_harness.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using testutil::run_task;
using testutil::start_workflow;

using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::ThrowsMessage;
using testutil::dump_all;
using testutil::Harness;

constexpr std::int64_t kLease = 1000;
constexpr std::int64_t kMaxAttempts = 3;

// Folds `payload` as an event at LSN 1.
void fold_payload(const EventPayload& payload, ViewStore& views) {
  Event event;
  event.lsn = 1;
  event.payload = payload;
  fold(event, views);
}

// The poll-index key of a delivery without its own limit, `attempts` made.
std::string ready_key(std::int64_t at, std::uint64_t delivery,
                      std::uint64_t attempts = 0) {
  return records::queue_ready_key(attempts, at, delivery);
}

std::size_t rows(const ViewReader& views, Table table) {
  return dump_table(views, table).size();
}

// The indexes agree with the records and the counters with the tables: one
// poll-index entry per delivery, in its attempt class, carrying its lease; a
// lease-index entry per leased delivery.
void expect_consistent(const ViewReader& views) {
  std::size_t leased = 0;
  std::size_t with_task = 0;
  for (const auto& [key, value] : dump_table(views, Table::kQueueMessages)) {
    const std::uint64_t id = keys::decode_u64(key);
    const records::QueueRecord record = records::decode_queue(value);
    const std::optional<std::string> entry =
        views.get(Table::kQueueReady,
                  records::queue_ready_key(records::queue_class(record),
                                           record.deliver_at, id));
    ASSERT_TRUE(entry) << id;
    EXPECT_EQ(*entry, records::queue_ready_value(record)) << id;
    if (record.max_attempts) {
      EXPECT_EQ(records::queue_class(record),
                record.attempts < *record.max_attempts
                    ? records::kQueueOwnLimit
                    : records::kQueueOwnLimitExhausted)
          << id;
    } else {
      EXPECT_EQ(records::queue_class(record),
                static_cast<std::uint64_t>(record.attempts))
          << id;
    }
    if (record.lease_until) {
      ++leased;
      EXPECT_TRUE(views.get(
          Table::kQueueLeases,
          records::queue_lease_key(
              std::max(*record.lease_until, record.deliver_at - 1), id)))
          << id;
    }
    const nlohmann::json payload =
        nlohmann::json::from_cbor(record.payload_cbor);
    if (payload.contains("task_id") && payload["task_id"] != "") ++with_task;
    EXPECT_LT(id, next_delivery_id(views));
  }
  const std::size_t queued = rows(views, Table::kQueueMessages);
  EXPECT_EQ(rows(views, Table::kQueueLeases), leased);
  EXPECT_EQ(rows(views, Table::kQueueReady), queued);
  EXPECT_EQ(rows(views, Table::kQueueTaskIndex), with_task);
  EXPECT_EQ(queue_size(views), queued);
  EXPECT_EQ(dead_letter_count(views), rows(views, Table::kDeadLetters));
}

// What a poll must lease, by docs/semantics.md §4.3 over every stored record
// (no index): the delivery first by (deliver_at, id) among those with
// deliver_at <= now, unleased or with lease_until < now, and attempts below
// their limit.
std::optional<std::uint64_t> reference_poll(const ViewReader& views,
                                            std::int64_t now,
                                            std::int64_t queue_limit) {
  std::optional<std::pair<std::int64_t, std::uint64_t>> best;
  for (const auto& [key, value] : dump_table(views, Table::kQueueMessages)) {
    const records::QueueRecord r = records::decode_queue(value);
    const std::pair<std::int64_t, std::uint64_t> order{r.deliver_at,
                                                       keys::decode_u64(key)};
    if (r.deliver_at > now) continue;
    if (r.lease_until && *r.lease_until >= now) continue;
    if (r.attempts >= r.max_attempts.value_or(queue_limit)) continue;
    if (!best || order < *best) best = order;
  }
  if (!best) return std::nullopt;
  return best->second;
}

// What check_and_move_expired must move, over every stored record: the
// deliveries whose attempts reached their limit, in id order.
std::vector<std::uint64_t> reference_exhausted(const ViewReader& views,
                                               std::int64_t queue_limit) {
  std::vector<std::uint64_t> ids;
  for (const auto& [key, value] : dump_table(views, Table::kQueueMessages)) {
    const records::QueueRecord r = records::decode_queue(value);
    if (r.attempts >= r.max_attempts.value_or(queue_limit)) {
      ids.push_back(keys::decode_u64(key));
    }
  }
  return ids;
}

// What next_queue_due_time must say, over every stored record.
std::optional<std::int64_t> reference_due(const ViewReader& views,
                                          std::int64_t now) {
  std::optional<std::int64_t> due;
  for (const auto& [key, value] : dump_table(views, Table::kQueueMessages)) {
    const records::QueueRecord r = records::decode_queue(value);
    std::int64_t at = r.deliver_at;
    if (r.lease_until &&
        *r.lease_until < std::numeric_limits<std::int64_t>::max()) {
      at = std::max(at, *r.lease_until + 1);
    } else if (r.lease_until) {
      at = std::numeric_limits<std::int64_t>::max();
    }
    if (at > now && (!due || at < *due)) due = at;
  }
  return due;
}

class QueueMachineTest : public ::testing::Test {
 protected:
  std::uint64_t push(const Message& message, std::int64_t delay = 0) {
    return h_.apply(PushMessage{message, delay}).delivery_id;
  }
  Decision lease() { return h_.apply(LeaseNext{kLease, kMaxAttempts}); }
  std::optional<std::uint64_t> lease_id() {
    const Decision d = lease();
    if (!d.leased) return std::nullopt;
    return d.leased->delivery_id;
  }
  // Decides `command` expecting an InvalidArgumentError mentioning `what`,
  // and checks that nothing changed.
  void expect_invalid(const Command& command, std::string_view what) {
    const auto before = dump_all(h_.views);
    EXPECT_THAT([&] { h_.apply(command); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(what)))
        << command_name(command);
    EXPECT_EQ(dump_all(h_.views), before);
  }

  Harness h_;
};

TEST_F(QueueMachineTest, PushAssignsDenseIdsAndIndexesDeliveries) {
  EXPECT_EQ(next_delivery_id(h_.views), 1u);
  EXPECT_EQ(push(start_workflow("wf")), 1u);
  EXPECT_EQ(push(run_task("wf", "stage", "t-1"), 50), 2u);
  const Decision third =
      h_.apply(PushMessage{run_task("wf", "stage", "t-1"), 0});
  EXPECT_EQ(third.delivery_id, 3u);
  ASSERT_THAT(third.events, SizeIs(1));
  const MessagePushed& pushed = std::get<MessagePushed>(third.events[0]);
  EXPECT_EQ(pushed.execution_id, "wf");
  EXPECT_EQ(pushed.message_type, "RunTask");
  EXPECT_EQ(pushed.deliver_at, h_.now_ms);
  EXPECT_FALSE(pushed.max_attempts);
  EXPECT_EQ(next_delivery_id(h_.views), 4u);
  EXPECT_EQ(queue_size(h_.views), 3u);
  EXPECT_EQ(meta_u64(h_.views, "queue_size"), 3u);
  EXPECT_TRUE(h_.views.get(Table::kQueueReady, ready_key(h_.now_ms + 50, 2)));
  EXPECT_EQ(rows(h_.views, Table::kQueueTaskIndex), 2u);
  EXPECT_TRUE(has_pending_message_for_task(h_.views, "t-1"));
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-"));
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-10"));
  const std::optional<QueuedMessage> stored = find_queued_message(h_.views, 2);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->message_type, "RunTask");
  EXPECT_EQ(stored->deliver_at, h_.now_ms + 50);
  EXPECT_EQ(stored->attempts, 0);
  EXPECT_EQ(message_from_wire("RunTask",
                              nlohmann::json::from_cbor(stored->payload_cbor)),
            Message{run_task("wf", "stage", "t-1")});
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, PushKeepsTheMessagesOwnMaxAttempts) {
  StartWorkflow message = start_workflow("wf");
  message.max_attempts = 1;
  push(message);
  const std::optional<QueuedMessage> stored = find_queued_message(h_.views, 1);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->max_attempts, 1);
  ASSERT_TRUE(lease_id());
  h_.now_ms += kLease + 1;
  EXPECT_FALSE(lease_id());  // its own limit (1), not the queue's (3)
}

TEST_F(QueueMachineTest, LeaseNextOrdersByDeliverAtThenId) {
  push(start_workflow("a"), 20);
  push(start_workflow("b"), 10);
  push(start_workflow("c"), 10);
  push(start_workflow("d"));
  EXPECT_EQ(lease_id(), 4u);
  EXPECT_FALSE(lease_id());  // the others are not due
  h_.now_ms += 10;
  EXPECT_EQ(lease_id(), 2u);
  EXPECT_EQ(lease_id(), 3u);
  EXPECT_FALSE(lease_id());
  h_.now_ms += 10;
  const Decision d = lease();
  ASSERT_TRUE(d.leased);
  EXPECT_EQ(d.leased->delivery_id, 1u);
  EXPECT_EQ(d.leased->attempts, 1);
  EXPECT_EQ(d.leased->lease_until, h_.now_ms + kLease);
  EXPECT_EQ(d.leased->message_type, "StartWorkflow");
  EXPECT_EQ(d.delivery_id, 1u);
  ASSERT_THAT(d.events, SizeIs(1));
  EXPECT_EQ(std::get<MessageLeased>(d.events[0]).attempt, 1);
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, NothingDeliverableAppendsNothing) {
  EXPECT_TRUE(lease().events.empty());
  push(start_workflow("later"), 100);
  const auto before = dump_all(h_.views);
  const Decision d = lease();
  EXPECT_TRUE(d.events.empty());
  EXPECT_FALSE(d.leased);
  EXPECT_EQ(dump_all(h_.views), before);
}

TEST_F(QueueMachineTest, LeasesMoveBetweenAttemptClassesAndTheLeaseIndex) {
  push(start_workflow("wf"));
  const std::int64_t pushed_at = h_.now_ms;
  ASSERT_EQ(lease_id(), 1u);
  // Attempt class 1 now, the lease in the value and in the lease index.
  EXPECT_FALSE(h_.views.get(Table::kQueueReady, ready_key(pushed_at, 1)));
  EXPECT_EQ(h_.views.get(Table::kQueueReady, ready_key(pushed_at, 1, 1)),
            keys::encode_i64(h_.now_ms + kLease));
  EXPECT_TRUE(h_.views.get(Table::kQueueLeases,
                           records::queue_lease_key(h_.now_ms + kLease, 1)));
  // An expired lease (lease_until < now) is deliverable again.
  h_.now_ms += kLease;
  EXPECT_FALSE(lease_id());
  h_.now_ms += 1;
  const Decision again = lease();
  ASSERT_TRUE(again.leased);
  EXPECT_EQ(again.leased->attempts, 2);
  expect_consistent(h_.views);
  // Extending re-keys the lease.
  h_.now_ms += 5;
  EXPECT_TRUE(h_.apply(ExtendLease{1, 5000}).result);
  const std::optional<QueuedMessage> extended =
      find_queued_message(h_.views, 1);
  ASSERT_TRUE(extended);
  EXPECT_EQ(extended->lease_until, h_.now_ms + 5000);
  EXPECT_EQ(rows(h_.views, Table::kQueueLeases), 1u);
  // Rescheduling clears it and keeps the attempts.
  h_.apply(RescheduleMessage{1, 30});
  const std::optional<QueuedMessage> m = find_queued_message(h_.views, 1);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->lease_until);
  EXPECT_EQ(m->deliver_at, h_.now_ms + 30);
  EXPECT_EQ(m->attempts, 2);
  EXPECT_EQ(rows(h_.views, Table::kQueueLeases), 0u);
  EXPECT_EQ(h_.views.get(Table::kQueueReady, ready_key(h_.now_ms + 30, 1, 2)),
            "");
  expect_consistent(h_.views);
  // Extending an unleased delivery leases it (the reference's UPDATE); it is
  // not polled before its deliver_at (docs/semantics.md §4.3: both conditions),
  // and it is due by the lease index no earlier than that.
  EXPECT_TRUE(h_.apply(ExtendLease{1, 10}).result);
  EXPECT_EQ(rows(h_.views, Table::kQueueLeases), 1u);
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms), h_.now_ms + 30);
  h_.now_ms += 20;  // the lease ended, deliver_at not reached
  EXPECT_FALSE(lease_id());
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms), h_.now_ms + 10);
  h_.now_ms += 10;
  EXPECT_EQ(lease_id(), 1u);
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, ExhaustedDeliveriesStayCountedUntilTheSweep) {
  push(start_workflow("wf"));
  for (int i = 0; i < kMaxAttempts; ++i) {
    ASSERT_TRUE(lease_id());
    h_.now_ms += kLease + 1;
  }
  EXPECT_FALSE(lease_id());
  h_.apply(RescheduleMessage{1, 0});
  EXPECT_FALSE(lease_id());
  EXPECT_EQ(queue_size(h_.views), 1u);
  StartWorkflow own = start_workflow("own");
  own.max_attempts = 5;
  push(own);
  const Decision sweep = h_.apply(MoveExpiredToDeadLetters{kMaxAttempts});
  EXPECT_EQ(sweep.count, 1u);
  ASSERT_THAT(sweep.events, SizeIs(1));
  EXPECT_EQ(std::get<MessageDeadLettered>(sweep.events[0]).error,
            "Exceeded max_attempts (3)");
  EXPECT_EQ(queue_size(h_.views), 1u);
  EXPECT_EQ(dead_letter_count(h_.views), 1u);
  EXPECT_EQ(meta_u64(h_.views, "dlq_size"), 1u);
  // A sweep that finds nothing appends nothing.
  EXPECT_TRUE(h_.apply(MoveExpiredToDeadLetters{kMaxAttempts}).events.empty());
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, AckRemovesTheDeliveryAndItsIndexes) {
  push(run_task("wf", "stage", "t-1"));
  ASSERT_EQ(lease_id(), 1u);
  const Decision ack = h_.apply(AckMessage{1});
  ASSERT_THAT(ack.events, SizeIs(1));
  EXPECT_EQ(std::get<MessageAcked>(ack.events[0]).execution_id, "wf");
  for (Table table : {Table::kQueueMessages, Table::kQueueReady,
                      Table::kQueueLeases, Table::kQueueTaskIndex}) {
    EXPECT_EQ(rows(h_.views, table), 0u) << table_name(table);
  }
  EXPECT_EQ(queue_size(h_.views), 0u);
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-1"));
  EXPECT_EQ(next_delivery_id(h_.views), 2u);  // never reused
  EXPECT_EQ(push(run_task("wf", "stage", "t-1")), 2u);
}

TEST_F(QueueMachineTest, UnknownDeliveriesAreNoOps) {
  push(start_workflow("wf"));
  const auto before = dump_all(h_.views);
  const Decision ack = h_.apply(AckMessage{9});
  EXPECT_TRUE(ack.events.empty());
  EXPECT_TRUE(ack.result);
  const Decision reschedule = h_.apply(RescheduleMessage{9, 5});
  EXPECT_TRUE(reschedule.events.empty());
  EXPECT_TRUE(reschedule.result);
  const Decision extend = h_.apply(ExtendLease{9, 5});
  EXPECT_TRUE(extend.events.empty());
  EXPECT_FALSE(extend.result);
  const Decision move = h_.apply(MoveToDeadLetters{9, "x"});
  EXPECT_TRUE(move.events.empty());
  EXPECT_FALSE(move.result);
  EXPECT_EQ(move.count, 0u);
  const Decision replay = h_.apply(ReplayDeadLetter{9});
  EXPECT_TRUE(replay.events.empty());
  EXPECT_FALSE(replay.result);
  EXPECT_EQ(dump_all(h_.views), before);
  // Folding events of unknown deliveries changes no state either; the
  // history indexes record them (they are in the log).
  const auto state_before = testutil::dump_state(h_.views);
  const std::size_t typed_before =
      dump_table(h_.views, Table::kTypeEvents).size();
  const std::vector<EventPayload> payloads{
      MessageLeased{9, "", 1, 5},         MessageAcked{9, ""},
      MessageRescheduled{9, "", 5},       MessageLeaseExtended{9, "", 5},
      MessageDeadLettered{9, "", "x", 5}, DeadLetterReplayed{9, 10, "", 5}};
  for (const EventPayload& payload : payloads) fold_payload(payload, h_.views);
  EXPECT_EQ(testutil::dump_state(h_.views), state_before);
  EXPECT_EQ(dump_table(h_.views, Table::kTypeEvents).size(),
            typed_before + payloads.size());
}

TEST_F(QueueMachineTest, DeadLetterAndReplayKeepTheRecord) {
  StartWorkflow own = start_workflow("wf");
  own.max_attempts = 7;
  push(own);
  push(run_task("wf", "stage", "t-1"));
  ASSERT_EQ(lease_id(), 1u);
  h_.now_ms += 3;
  const Decision move = h_.apply(MoveToDeadLetters{2, "boom"});
  EXPECT_TRUE(move.result);
  EXPECT_EQ(move.count, 1u);
  h_.apply(MoveToDeadLetters{1, "bang"});
  EXPECT_EQ(queue_size(h_.views), 0u);
  EXPECT_EQ(dead_letter_count(h_.views), 2u);
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-1"));
  const std::vector<StoredDeadLetter> letters =
      list_dead_letters(h_.views, 10, std::nullopt);
  ASSERT_THAT(letters, SizeIs(2));
  EXPECT_EQ(letters[0].id, 2u);  // same moved_at: id descending
  EXPECT_EQ(letters[1].id, 1u);
  EXPECT_EQ(letters[1].error, "bang");
  EXPECT_EQ(letters[1].attempts, 1);
  EXPECT_EQ(letters[1].max_attempts, 7);
  EXPECT_EQ(letters[1].moved_at, h_.now_ms);
  EXPECT_THAT(list_dead_letters(h_.views, 10, "RunTask"), SizeIs(1));
  EXPECT_THAT(list_dead_letters(h_.views, 1, std::nullopt), SizeIs(1));

  h_.now_ms += 10;
  const Decision replay = h_.apply(ReplayDeadLetter{2});
  EXPECT_TRUE(replay.result);
  EXPECT_EQ(replay.delivery_id, 3u);
  EXPECT_EQ(dead_letter_count(h_.views), 1u);
  EXPECT_TRUE(has_pending_message_for_task(h_.views, "t-1"));
  const std::optional<QueuedMessage> replayed =
      find_queued_message(h_.views, 3);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->attempts, 0);
  EXPECT_EQ(replayed->deliver_at, h_.now_ms);
  EXPECT_EQ(replayed->message_type, "RunTask");
  h_.apply(ReplayDeadLetter{1});
  const std::optional<QueuedMessage> own_replayed =
      find_queued_message(h_.views, 4);
  ASSERT_TRUE(own_replayed);
  EXPECT_EQ(own_replayed->max_attempts, 7);
  EXPECT_EQ(next_delivery_id(h_.views), 5u);
  expect_consistent(h_.views);
}

// The stored record of delivery `id` (it must exist).
records::QueueRecord stored_record(const ViewReader& views, std::uint64_t id) {
  return records::decode_queue(
      views.get(Table::kQueueMessages, keys::encode_u64(id)).value());
}

TEST(QueueRecordTest, EveryFieldRoundTripsAndTheTaskIdEndsTheRecord) {
  records::QueueRecord record{
      "wf", "RunTask", std::string("\xa1\x00", 2), -5, 7, 3, 42, "t-1"};
  const std::string bytes = records::encode_queue(record);
  const records::QueueRecord back = records::decode_queue(bytes);
  EXPECT_EQ(back.execution_id, "wf");
  EXPECT_EQ(back.message_type, "RunTask");
  EXPECT_EQ(back.payload_cbor, record.payload_cbor);
  EXPECT_EQ(back.deliver_at, -5);
  EXPECT_EQ(back.max_attempts, 7);
  EXPECT_EQ(back.attempts, 3);
  EXPECT_EQ(back.lease_until, 42);
  EXPECT_EQ(back.task_id, "t-1");
  // The task id is the last field: u32be length, bytes.
  EXPECT_EQ(bytes.substr(bytes.size() - 7), std::string("\0\0\0\3t-1", 7));

  record.max_attempts.reset();
  record.lease_until.reset();
  record.task_id.clear();
  const std::string plain = records::encode_queue(record);
  const records::QueueRecord plain_back = records::decode_queue(plain);
  EXPECT_FALSE(plain_back.max_attempts);
  EXPECT_FALSE(plain_back.lease_until);
  EXPECT_EQ(plain_back.task_id, "");
  // A record of view schema 1 (no task id) is no record of this schema: the
  // views are rebuilt when their schema version differs, never read as is.
  EXPECT_THAT([&] { records::decode_queue(plain.substr(0, plain.size() - 4)); },
              ThrowsMessage<CorruptionError>(HasSubstr("queue_messages")));
  EXPECT_THROW(records::decode_queue(plain + "x"), CorruptionError);
}

TEST_F(QueueMachineTest, RecordsCarryThePayloadsTaskId) {
  push(run_task("wf", "stage", "t-1"));
  push(start_workflow("wf"));
  EXPECT_EQ(stored_record(h_.views, 1).task_id, "t-1");
  EXPECT_EQ(stored_record(h_.views, 2).task_id, "");
  // Leases, reschedules and extensions rewrite the record and keep it.
  ASSERT_EQ(lease_id(), 1u);
  EXPECT_EQ(stored_record(h_.views, 1).task_id, "t-1");
  h_.apply(ExtendLease{1, 5});
  h_.apply(RescheduleMessage{1, 0});
  EXPECT_EQ(stored_record(h_.views, 1).task_id, "t-1");
  expect_consistent(h_.views);
}

// A replayed dead letter gets its task id back (dead letters keep none), so
// that acking or dead-lettering the replay removes its task index entry.
TEST_F(QueueMachineTest,
       ReplayedDeliveriesLeaveTheTaskIndexOnAckAndDeadLetter) {
  push(run_task("wf", "stage", "t-1"));
  push(run_task("wf", "stage", "t-2"));
  h_.apply(MoveToDeadLetters{1, "boom"});
  h_.apply(MoveToDeadLetters{2, "boom"});
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-1"));
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-2"));
  ASSERT_TRUE(h_.apply(ReplayDeadLetter{1}).result);
  ASSERT_TRUE(h_.apply(ReplayDeadLetter{2}).result);
  EXPECT_EQ(stored_record(h_.views, 3).task_id, "t-1");
  EXPECT_EQ(stored_record(h_.views, 4).task_id, "t-2");
  EXPECT_TRUE(has_pending_message_for_task(h_.views, "t-1"));
  EXPECT_TRUE(has_pending_message_for_task(h_.views, "t-2"));
  EXPECT_EQ(rows(h_.views, Table::kQueueTaskIndex), 2u);

  ASSERT_EQ(lease_id(), 3u);
  h_.apply(AckMessage{3});
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-1"));
  EXPECT_TRUE(has_pending_message_for_task(h_.views, "t-2"));
  h_.apply(MoveToDeadLetters{4, "again"});
  EXPECT_FALSE(has_pending_message_for_task(h_.views, "t-2"));
  EXPECT_EQ(rows(h_.views, Table::kQueueTaskIndex), 0u);
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, ClearsCountAndEmptyClearsAppendNothing) {
  EXPECT_TRUE(h_.apply(ClearQueue{}).events.empty());
  EXPECT_TRUE(h_.apply(ClearDeadLetters{}).events.empty());
  for (int i = 0; i < 4; ++i)
    push(run_task("wf", "stage", "t-" + std::to_string(i)));
  h_.apply(MoveToDeadLetters{1, "x"});
  ASSERT_TRUE(lease_id());
  const Decision clear = h_.apply(ClearQueue{});
  EXPECT_EQ(clear.count, 3u);
  for (Table table : {Table::kQueueMessages, Table::kQueueReady,
                      Table::kQueueLeases, Table::kQueueTaskIndex}) {
    EXPECT_EQ(rows(h_.views, table), 0u) << table_name(table);
  }
  EXPECT_EQ(queue_size(h_.views), 0u);
  EXPECT_EQ(dead_letter_count(h_.views), 1u);
  EXPECT_EQ(h_.apply(ClearDeadLetters{}).count, 1u);
  EXPECT_EQ(dead_letter_count(h_.views), 0u);
  EXPECT_EQ(next_delivery_id(h_.views), 5u);
  expect_consistent(h_.views);
}

TEST_F(QueueMachineTest, InvalidCommandsChangeNothing) {
  push(start_workflow("wf"));
  expect_invalid(PushMessage{start_workflow("wf"), -1}, "delay");
  expect_invalid(
      PushMessage{start_workflow(std::string(kMaxStringBytes + 1, 'x')), 0},
      "execution_id");
  StartWorkflow zero = start_workflow("wf");
  zero.max_attempts = 0;
  expect_invalid(PushMessage{zero, 0}, "max_attempts");
  expect_invalid(LeaseNext{0, kMaxAttempts}, "lease duration");
  expect_invalid(LeaseNext{kLease, 0}, "max_attempts");
  expect_invalid(RescheduleMessage{1, -1}, "delay");
  expect_invalid(RescheduleMessage{9, -1}, "delay");
  expect_invalid(ExtendLease{1, 0}, "lease duration");
  expect_invalid(ExtendLease{1, -5}, "lease duration");
  expect_invalid(MoveToDeadLetters{1, std::string(kMaxStringBytes + 1, 'e')},
                 "error");
  expect_invalid(MoveExpiredToDeadLetters{0}, "max_attempts");
}

TEST_F(QueueMachineTest, TimesSaturateInsteadOfOverflowing) {
  push(start_workflow("wf"), std::numeric_limits<std::int64_t>::max());
  const std::optional<QueuedMessage> stored = find_queued_message(h_.views, 1);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->deliver_at, std::numeric_limits<std::int64_t>::max());
  EXPECT_FALSE(lease_id());
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms),
            std::numeric_limits<std::int64_t>::max());
}

TEST_F(QueueMachineTest, NextQueueDueTime) {
  EXPECT_FALSE(next_queue_due_time(h_.views, h_.now_ms));
  push(start_workflow("now"));
  EXPECT_FALSE(next_queue_due_time(h_.views, h_.now_ms));  // due already
  push(start_workflow("later"), 500);
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms), h_.now_ms + 500);
  ASSERT_EQ(lease_id(), 1u);  // lease_until = now + kLease
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms), h_.now_ms + 500);
  h_.now_ms += 600;
  ASSERT_EQ(lease_id(), 2u);
  // Leases end at now - 600 + kLease and now + kLease; due one ms later.
  EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms),
            h_.now_ms - 600 + kLease + 1);
  h_.apply(AckMessage{1});
  h_.apply(AckMessage{2});
  EXPECT_FALSE(next_queue_due_time(h_.views, h_.now_ms));
}

// Counts the reads of a view store: each get, each scan (a seek) and each
// entry a scan visits.
class CountingViewReader final : public ViewReader {
 public:
  explicit CountingViewReader(const ViewReader& base) : base_(base) {}

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override {
    ++reads;
    return base_.get(table, key);
  }
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse) const override {
    ++reads;
    base_.scan(
        table, from_key, to_key,
        [&](std::string_view key, std::string_view value) {
          ++reads;
          return fn(key, value);
        },
        reverse);
  }

  mutable std::size_t reads = 0;

 private:
  const ViewReader& base_;
};

struct QueueReads {
  std::size_t poll = 0;
  std::optional<std::uint64_t> polled;
  std::size_t sweep = 0;
  std::size_t swept = 0;
  std::size_t due = 0;
};

// Folds a queue of `stuck` deliveries of each kind a poll must not pay for
// (attempt-exhausted with an expired lease; exhausted and rescheduled;
// exhausted under their own limit; expired leases behind one older expired
// lease), `exhausted` more that the sweep moves, and `fresh` deliverable
// ones; then counts the view reads of a poll, a sweep and a due time.
QueueReads count_queue_reads(int stuck, int exhausted, int fresh) {
  constexpr std::int64_t kNow = 1'000'000;
  MemoryViewStore views;
  std::uint64_t id = 0;
  std::int64_t at = 1000;
  auto add = [&](std::optional<std::int64_t> own_limit, std::int64_t attempts,
                 bool expired_lease) {
    ++id;
    fold_payload(MessagePushed{id, "wf", "StartWorkflow",
                               Json(nlohmann::json::object()), ++at, own_limit},
                 views);
    if (attempts > 0) {
      fold_payload(MessageLeased{id, "wf", attempts,
                                 expired_lease ? kNow - 10 : kNow + 60'000},
                   views);
    }
    return id;
  };
  // The oldest deliverable delivery: an expired lease.
  const std::uint64_t first = add(std::nullopt, 1, true);
  for (int i = 0; i < stuck; ++i) {
    add(std::nullopt, kMaxAttempts, true);
    const std::uint64_t rescheduled = add(std::nullopt, kMaxAttempts + 2, true);
    fold_payload(MessageRescheduled{rescheduled, "wf", kNow - 5}, views);
    add(2, 2, true);
    add(std::nullopt, 1 + i % (kMaxAttempts - 1), true);
  }
  for (int i = 0; i < exhausted; ++i) add(std::nullopt, kMaxAttempts, false);
  for (int i = 0; i < fresh; ++i) add(std::nullopt, 0, false);

  QueueReads result;
  CountingViewReader counting(views);
  const Decision poll =
      decide(LeaseNext{kLease, kMaxAttempts}, counting, DecideContext{kNow});
  result.poll = counting.reads;
  if (poll.leased) result.polled = poll.leased->delivery_id;
  EXPECT_EQ(result.polled, first);
  counting.reads = 0;
  const Decision sweep = decide(MoveExpiredToDeadLetters{kMaxAttempts},
                                counting, DecideContext{kNow});
  result.sweep = counting.reads;
  result.swept = sweep.events.size();
  counting.reads = 0;
  next_queue_due_time(counting, kNow);
  result.due = counting.reads;
  return result;
}

// A poll reads a bounded number of entries however many leases expired or
// deliveries exhausted their attempts: 10,000 of each cost it what 10 do. The
// sweep reads what it moves, not the queue.
TEST(QueueReadCostTest, PollReadsDoNotGrowWithExpiredOrExhaustedDeliveries) {
  const QueueReads few = count_queue_reads(10, 0, 0);
  const QueueReads many = count_queue_reads(10'000, 0, 0);
  SCOPED_TRACE(::testing::Message()
               << "poll reads " << few.poll << " vs " << many.poll);
  EXPECT_LE(few.poll, 16u);
  EXPECT_EQ(many.poll, few.poll);
  EXPECT_LE(many.due, few.due + 2);
}

TEST(QueueReadCostTest, SweepReadsWhatItMovesNotTheQueue) {
  const QueueReads small = count_queue_reads(0, 10, 10);
  const QueueReads large = count_queue_reads(0, 10, 10'000);
  EXPECT_EQ(small.swept, 10u);
  EXPECT_EQ(large.swept, 10u);
  EXPECT_EQ(large.sweep, small.sweep);
  EXPECT_LE(small.sweep, 3u * 10u + 6u);
  EXPECT_EQ(large.poll, small.poll);
}

// A long random sequence of queue commands decided and folded one by one
// gives the same views as all of its events folded at once into a fresh
// store, and keeps the indexes and counters consistent on the way.
TEST_F(QueueMachineTest, RandomCommandsRebuildToIdenticalViews) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937 rng(seed);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const long steps = testutil::env_knob("WFSTORE_QUEUE_MACHINE_STEPS", 3000);
  auto pick = [&](std::uint32_t n) { return rng() % n; };
  auto some_delivery = [&]() -> std::uint64_t {
    return 1 + pick(static_cast<std::uint32_t>(next_delivery_id(h_.views)) + 1);
  };
  for (long step = 0; step < steps; ++step) {
    h_.now_ms += static_cast<std::int64_t>(pick(400));
    Command command;
    switch (pick(12)) {
      case 0:
      case 1:
      case 2: {
        Message message =
            pick(2) == 0 ? Message{start_workflow("wf")}
                         : Message{run_task("wf", "stage",
                                            "t-" + std::to_string(pick(20)))};
        if (pick(4) == 0) {
          message_common(message).max_attempts = static_cast<int>(1 + pick(4));
        }
        command = PushMessage{std::move(message),
                              static_cast<std::int64_t>(pick(3) * 300)};
        break;
      }
      case 3:
      case 4:
        // The queue's limit varies, as across reopens with other options.
        command = LeaseNext{kLease, static_cast<std::int64_t>(1 + pick(4))};
        break;
      case 5:
        command = AckMessage{some_delivery()};
        break;
      case 6:
        command = RescheduleMessage{some_delivery(),
                                    static_cast<std::int64_t>(pick(500))};
        break;
      case 7:
        command = ExtendLease{some_delivery(),
                              static_cast<std::int64_t>(1 + pick(2000))};
        break;
      case 8:
        command = MoveToDeadLetters{some_delivery(), "random"};
        break;
      case 9:
        command = pick(3) == 0 ? Command{MoveExpiredToDeadLetters{
                                     static_cast<std::int64_t>(1 + pick(4))}}
                               : Command{ReplayDeadLetter{some_delivery()}};
        break;
      case 10:
        command = pick(20) == 0 ? Command{ClearQueue{}}
                                : Command{LeaseNext{kLease, kMaxAttempts}};
        break;
      default:
        command = pick(30) == 0 ? Command{ClearDeadLetters{}}
                                : Command{AckMessage{some_delivery()}};
        break;
    }
    // Polls, sweeps and due times agree with docs/semantics.md §4.3 read off
    // every record.
    EXPECT_EQ(next_queue_due_time(h_.views, h_.now_ms),
              reference_due(h_.views, h_.now_ms))
        << "step " << step;
    std::optional<std::uint64_t> expected_lease;
    std::vector<std::uint64_t> expected_moves;
    if (const auto* poll = std::get_if<LeaseNext>(&command)) {
      expected_lease =
          reference_poll(h_.views, h_.now_ms, poll->queue_max_attempts);
    } else if (const auto* sweep =
                   std::get_if<MoveExpiredToDeadLetters>(&command)) {
      expected_moves = reference_exhausted(h_.views, sweep->queue_max_attempts);
    }
    const Decision decision = h_.apply(command);
    if (std::holds_alternative<LeaseNext>(command)) {
      EXPECT_EQ(decision.leased
                    ? std::optional<std::uint64_t>(decision.leased->delivery_id)
                    : std::nullopt,
                expected_lease)
          << "step " << step;
    } else if (std::holds_alternative<MoveExpiredToDeadLetters>(command)) {
      std::vector<std::uint64_t> moved;
      for (const EventPayload& event : decision.events) {
        moved.push_back(std::get<MessageDeadLettered>(event).delivery_id);
      }
      EXPECT_EQ(moved, expected_moves) << "step " << step;
    }
    if (HasFailure()) return;
    if (step % 250 == 0) {
      expect_consistent(h_.views);
      if (HasFailure()) return;
    }
  }
  expect_consistent(h_.views);
  EXPECT_GT(h_.log.size(), static_cast<std::size_t>(steps) / 2);
  // Every queue event type occurred.
  std::vector<std::size_t> seen(std::variant_size_v<EventPayload>);
  for (const Event& event : h_.log) ++seen[event.payload.index()];
  for (const EventPayload& kind : std::vector<EventPayload>{
           MessagePushed{}, MessageLeased{}, MessageAcked{},
           MessageRescheduled{}, MessageLeaseExtended{}, MessageDeadLettered{},
           DeadLetterReplayed{}, QueueCleared{}, DeadLetterQueueCleared{}}) {
    EXPECT_GT(seen[kind.index()], 0u) << kind.index();
  }
  MemoryViewStore rebuilt;
  fold_events(h_.log, rebuilt);
  EXPECT_EQ(dump_all(rebuilt), dump_all(h_.views));
}

}  // namespace
}  // namespace wfstore
