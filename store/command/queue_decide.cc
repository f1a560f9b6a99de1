// decide() for the queue's commands (docs/write-path.md#the-queues-leases,
// docs/semantics.md §4.3-4.4).
//
// A poll with the queue's limit L reads, in each attempt class below L and in
// the class of deliveries with a limit of their own still within it, the
// first entry due; it passes over unexpired leases only. Expired leases are
// deliverable where they stand, and attempt-exhausted deliveries sit in
// classes the poll never reads, so neither costs a poll anything: a poll is
// O(classes present * log n), the classes being at most L + 1.

#include "store/command/queue_decide.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/message.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore::queue_decide {
namespace {

using records::add_ms;
using records::find_queue_record;
using records::queue_class_start;

void check_delay(std::int64_t delay_ms, std::string_view field) {
  if (delay_ms < 0) {
    throw InvalidArgumentError(
        fmt::format("{} must not be negative (got {} ms)", field, delay_ms));
  }
}

void check_positive(std::int64_t value, std::string_view field) {
  if (value <= 0) {
    throw InvalidArgumentError(
        fmt::format("{} must be positive (got {})", field, value));
  }
}

// A deliverable delivery: the poll takes the one first by (deliver_at, id).
struct Candidate {
  std::int64_t deliver_at = 0;
  std::uint64_t delivery = 0;

  bool operator<(const Candidate& other) const {
    return std::pair(deliver_at, delivery) <
           std::pair(other.deliver_at, other.delivery);
  }
};

// Lowers `best` to the first deliverable delivery of the poll-index classes
// [first_class, end_class) that comes before it, if any. Deliverable
// (docs/semantics.md §4.3): deliver_at <= now, and unleased or
// lease_until < now. Within a class entries are in (deliver_at, id) order, so
// the class's first deliverable entry is its best; the scan passes over
// unexpired leases, stops a class at the first entry not due (or not before
// `best`) and seeks to the next class.
void first_deliverable(const ViewReader& views, std::uint64_t first_class,
                       std::uint64_t end_class, std::int64_t now,
                       std::optional<Candidate>& best) {
  const std::string end = queue_class_start(end_class);
  std::uint64_t from = first_class;
  while (from < end_class) {
    std::optional<std::uint64_t> next;
    views.scan(Table::kQueueReady, queue_class_start(from), end,
               [&](std::string_view key, std::string_view value) {
                 const records::QueueReadyEntry entry =
                     records::decode_queue_ready(key, value);
                 const Candidate candidate{entry.deliver_at, entry.delivery};
                 if (entry.deliver_at <= now && (!best || candidate < *best)) {
                   if (entry.lease_until && *entry.lease_until >= now) {
                     return true;  // leased: pass over it
                   }
                   best = candidate;
                 }
                 // Nothing later in this class is better.
                 next = entry.queue_class + 1;
                 return false;
               });
    if (!next) return;  // the scan reached end_class
    from = *next;
  }
}

// The delivery's record, which the poll index names: its absence is
// corruption.
records::QueueRecord indexed_queue_record(const ViewReader& views,
                                          std::uint64_t delivery) {
  std::optional<records::QueueRecord> record =
      find_queue_record(views, delivery);
  if (!record) {
    throw CorruptionError(fmt::format(
        "views table queue_ready names delivery {}, which queue_messages lacks",
        delivery));
  }
  return std::move(*record);
}

// The decision of a command on one queued delivery: the event
// `make_event(record)` when the delivery is queued; no event, with `result`
// `result_if_missing`, when it is not.
template <typename MakeEvent>
Decision decide_on_delivery(const ViewReader& views, std::uint64_t delivery_id,
                            bool result_if_missing, MakeEvent make_event) {
  Decision decision;
  const std::optional<records::QueueRecord> record =
      find_queue_record(views, delivery_id);
  if (!record) {
    decision.result = result_if_missing;
    return decision;
  }
  decision.events.emplace_back(make_event(*record));
  return decision;
}

}  // namespace

Decision decide(const PushMessage& command, const ViewReader& views,
                const DecideContext& context) {
  check_delay(command.delay_ms, "delay");
  // message_to_wire() validates the message (validate_message()).
  nlohmann::json wire = message_to_wire(command.message, context.now_ms);
  const std::optional<int>& max_attempts =
      message_common(command.message).max_attempts;
  if (max_attempts) check_positive(*max_attempts, "max_attempts");
  Decision decision;
  decision.delivery_id = next_delivery_id(views);
  MessagePushed pushed;
  pushed.delivery_id = decision.delivery_id;
  pushed.execution_id = std::string(message_execution_id(command.message));
  pushed.message_type = std::string(message_type_name(command.message));
  pushed.payload = Json(std::move(wire));
  pushed.deliver_at = add_ms(context.now_ms, command.delay_ms);
  if (max_attempts) pushed.max_attempts = *max_attempts;
  decision.events.emplace_back(std::move(pushed));
  return decision;
}

Decision decide(const LeaseNext& command, const ViewReader& views,
                const DecideContext& context) {
  check_positive(command.lease_ms, "lease duration");
  check_positive(command.queue_max_attempts, "max_attempts");
  const std::int64_t now = context.now_ms;
  std::optional<Candidate> best;
  first_deliverable(views, 0,
                    static_cast<std::uint64_t>(command.queue_max_attempts), now,
                    best);
  first_deliverable(views, records::kQueueOwnLimit,
                    records::kQueueOwnLimitExhausted, now, best);
  Decision decision;
  if (!best) return decision;
  records::QueueRecord record = indexed_queue_record(views, best->delivery);
  LeasedMessage leased;
  leased.delivery_id = best->delivery;
  leased.message_type = record.message_type;
  leased.payload_cbor = std::move(record.payload_cbor);
  leased.attempts = record.attempts + 1;
  leased.lease_until = add_ms(now, command.lease_ms);
  decision.events.emplace_back(
      MessageLeased{best->delivery, record.execution_id, leased.attempts,
                    leased.lease_until});
  decision.delivery_id = best->delivery;
  decision.leased = std::move(leased);
  return decision;
}

Decision decide(const AckMessage& command, const ViewReader& views,
                const DecideContext&) {
  return decide_on_delivery(
      views, command.delivery_id, true,
      [&](const records::QueueRecord& record) {
        return MessageAcked{command.delivery_id, record.execution_id};
      });
}

Decision decide(const RescheduleMessage& command, const ViewReader& views,
                const DecideContext& context) {
  check_delay(command.delay_ms, "delay");
  return decide_on_delivery(views, command.delivery_id, true,
                            [&](const records::QueueRecord& record) {
                              return MessageRescheduled{
                                  command.delivery_id, record.execution_id,
                                  add_ms(context.now_ms, command.delay_ms)};
                            });
}

Decision decide(const ExtendLease& command, const ViewReader& views,
                const DecideContext& context) {
  check_positive(command.lease_ms, "lease duration");
  return decide_on_delivery(views, command.delivery_id, false,
                            [&](const records::QueueRecord& record) {
                              return MessageLeaseExtended{
                                  command.delivery_id, record.execution_id,
                                  add_ms(context.now_ms, command.lease_ms)};
                            });
}

Decision decide(const MoveToDeadLetters& command, const ViewReader& views,
                const DecideContext& context) {
  validate_string(command.error, "error");
  Decision decision = decide_on_delivery(
      views, command.delivery_id, false,
      [&](const records::QueueRecord& record) {
        return MessageDeadLettered{command.delivery_id, record.execution_id,
                                   command.error, context.now_ms};
      });
  if (!decision.events.empty()) decision.count = 1;
  return decision;
}

Decision decide(const MoveExpiredToDeadLetters& command,
                const ViewReader& views, const DecideContext& context) {
  check_positive(command.queue_max_attempts, "max_attempts");
  // The exhausted classes of the poll index: attempts from the queue's limit
  // on, and deliveries past their own limit. Events go in delivery id order.
  std::vector<std::uint64_t> exhausted;
  const ScanFn collect = [&](std::string_view key, std::string_view value) {
    exhausted.push_back(records::decode_queue_ready(key, value).delivery);
    return true;
  };
  views.scan(
      Table::kQueueReady,
      queue_class_start(static_cast<std::uint64_t>(command.queue_max_attempts)),
      queue_class_start(records::kQueueOwnLimit), collect);
  views.scan(Table::kQueueReady,
             queue_class_start(records::kQueueOwnLimitExhausted), "", collect);
  std::sort(exhausted.begin(), exhausted.end());
  Decision decision;
  for (const std::uint64_t delivery : exhausted) {
    const records::QueueRecord record = indexed_queue_record(views, delivery);
    decision.events.emplace_back(MessageDeadLettered{
        delivery, record.execution_id,
        fmt::format("Exceeded max_attempts ({})", record.attempts),
        context.now_ms});
  }
  decision.count = decision.events.size();
  return decision;
}

Decision decide(const ReplayDeadLetter& command, const ViewReader& views,
                const DecideContext& context) {
  Decision decision;
  const std::optional<std::string> value =
      views.get(Table::kDeadLetters, keys::encode_u64(command.delivery_id));
  if (!value) {
    decision.result = false;
    return decision;
  }
  const records::DeadLetterRecord letter = records::decode_dead_letter(*value);
  decision.delivery_id = next_delivery_id(views);
  decision.events.emplace_back(
      DeadLetterReplayed{command.delivery_id, decision.delivery_id,
                         letter.execution_id, context.now_ms});
  return decision;
}

Decision decide(const ClearQueue&, const ViewReader& views,
                const DecideContext&) {
  Decision decision;
  decision.count = queue_size(views);
  if (decision.count > 0) decision.events.emplace_back(QueueCleared{});
  return decision;
}

Decision decide(const ClearDeadLetters&, const ViewReader& views,
                const DecideContext&) {
  Decision decision;
  decision.count = dead_letter_count(views);
  if (decision.count > 0)
    decision.events.emplace_back(DeadLetterQueueCleared{});
  return decision;
}

}  // namespace wfstore::queue_decide
