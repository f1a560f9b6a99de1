// The queue's decide and fold: deliveries keyed by their dense delivery id, a
// poll index (attempt class, deliver_at, id) holding every delivery with its
// lease in the value (view_records.h), a lease index (expiry, id), a task
// index for has_pending_message_for_task, dead letters, and two counters in
// meta.
//
// A poll with the queue's limit L reads, in each attempt class below L and in
// the class of deliveries with a limit of their own still within it, the
// first entry due; it passes over unexpired leases only. Expired leases are
// deliverable where they stand, and attempt-exhausted deliveries sit in
// classes the poll never reads, so neither costs a poll anything: a poll is
// O(classes present * log n), the classes being at most L + 1.

#include "projector/queue_machine.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/message.h"

#include "projector/overloaded.h"
#include "projector/view_records.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/views.h"

namespace wfstore::queue_machine {
namespace {

constexpr std::string_view kMetaQueueSize = "queue_size";
constexpr std::string_view kMetaDlqSize = "dlq_size";

constexpr std::int64_t kMinTime = std::numeric_limits<std::int64_t>::min();

// The first poll-index key of `queue_class`.
std::string class_start(std::uint64_t queue_class) {
  return records::queue_ready_key(queue_class, kMinTime, 0);
}

std::string task_prefix(std::string_view task_id) {
  std::string key;
  key.push_back(static_cast<char>((task_id.size() >> 8) & 0xFF));
  key.push_back(static_cast<char>(task_id.size() & 0xFF));
  key.append(task_id);
  return key;
}

std::string task_key(std::string_view task_id, std::uint64_t delivery) {
  std::string key = task_prefix(task_id);
  keys::append_u64(key, delivery);
  return key;
}

// The payload's task_id when it is a non-empty string, else "".
std::string payload_task_id(const Json& payload) {
  const nlohmann::json& value = payload.value();
  if (!value.is_object()) return "";
  const auto it = value.find("task_id");
  if (it == value.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::int64_t add_ms(std::int64_t now, std::int64_t delta) {
  if (delta > std::numeric_limits<std::int64_t>::max() - now) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return now + delta;
}

std::uint64_t meta_counter(const ViewReader& views, std::string_view name) {
  const std::optional<std::string> value = views.get(Table::kMeta, name);
  return value ? keys::decode_u64(*value) : 0;
}

void add_counter(ViewStore& views, std::string_view name, std::int64_t delta) {
  const std::uint64_t current = meta_counter(views, name);
  const std::uint64_t next =
      delta < 0
          ? current - std::min(current, static_cast<std::uint64_t>(-delta))
          : current + static_cast<std::uint64_t>(delta);
  views.put(Table::kMeta, name, keys::encode_u64(next));
}

std::optional<records::QueueRecord> find_record(const ViewReader& views,
                                                std::uint64_t delivery) {
  const std::optional<std::string> value =
      views.get(Table::kQueueMessages, keys::encode_u64(delivery));
  if (!value) return std::nullopt;
  return records::decode_queue(*value);
}

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

// --- fold helpers -----------------------------------------------------------

void put_record(ViewStore& views, std::uint64_t delivery,
                const records::QueueRecord& record) {
  views.put(Table::kQueueMessages, keys::encode_u64(delivery),
            records::encode_queue(record));
}

// Adds the delivery's poll-index entry and, while leased, its lease-index
// entry, both derived from `record`.
void index(ViewStore& views, std::uint64_t delivery,
           const records::QueueRecord& record) {
  views.put(Table::kQueueReady,
            records::queue_ready_key(records::queue_class(record),
                                     record.deliver_at, delivery),
            records::queue_ready_value(record));
  if (record.lease_until) {
    views.put(
        Table::kQueueLeases,
        records::queue_lease_key(records::queue_lease_expiry(record), delivery),
        "");
  }
}

// Removes the entries index() added for `record`.
void unindex(ViewStore& views, std::uint64_t delivery,
             const records::QueueRecord& record) {
  views.del(Table::kQueueReady,
            records::queue_ready_key(records::queue_class(record),
                                     record.deliver_at, delivery));
  if (record.lease_until) {
    views.del(Table::kQueueLeases,
              records::queue_lease_key(records::queue_lease_expiry(record),
                                       delivery));
  }
}

// Replaces the stored `before` of the delivery by `after`, index entries
// included.
void update_delivery(ViewStore& views, std::uint64_t delivery,
                     const records::QueueRecord& before,
                     const records::QueueRecord& after) {
  unindex(views, delivery, before);
  index(views, delivery, after);
  put_record(views, delivery, after);
}

void bump_next_delivery(ViewStore& views, std::uint64_t delivery_id) {
  if (delivery_id + 1 > next_delivery_id(views)) {
    views.put(Table::kMeta, kMetaNextDeliveryId,
              keys::encode_u64(delivery_id + 1));
  }
}

// Adds the delivery (unleased) and its index entries, `record.task_id`'s
// among them; a delivery already present is left alone.
void insert_delivery(ViewStore& views, std::uint64_t delivery,
                     const records::QueueRecord& record) {
  const std::string key = keys::encode_u64(delivery);
  if (views.get(Table::kQueueMessages, key)) return;
  index(views, delivery, record);
  if (!record.task_id.empty()) {
    views.put(Table::kQueueTaskIndex, task_key(record.task_id, delivery), "");
  }
  put_record(views, delivery, record);
  add_counter(views, kMetaQueueSize, 1);
  bump_next_delivery(views, delivery);
}

// Removes the delivery and its index entries.
void remove_delivery(ViewStore& views, std::uint64_t delivery,
                     const records::QueueRecord& record) {
  unindex(views, delivery, record);
  if (!record.task_id.empty()) {
    views.del(Table::kQueueTaskIndex, task_key(record.task_id, delivery));
  }
  views.del(Table::kQueueMessages, keys::encode_u64(delivery));
  add_counter(views, kMetaQueueSize, -1);
}

void clear_table(ViewStore& views, Table table) {
  std::vector<std::string> doomed;
  views.scan(table, "", "", [&](std::string_view key, std::string_view) {
    doomed.emplace_back(key);
    return true;
  });
  for (const std::string& key : doomed) views.del(table, key);
}

// --- decide helpers ---------------------------------------------------------

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
// [first_class, end_class) that comes before it, if any. Deliverable (spec
// §4.3): deliver_at <= now, and unleased or lease_until < now. Within a class
// entries are in (deliver_at, id) order, so the class's first deliverable
// entry is its best; the scan passes over unexpired leases, stops a class at
// the first entry not due (or not before `best`) and seeks to the next class.
void first_deliverable(const ViewReader& views, std::uint64_t first_class,
                       std::uint64_t end_class, std::int64_t now,
                       std::optional<Candidate>& best) {
  const std::string end = class_start(end_class);
  std::uint64_t from = first_class;
  while (from < end_class) {
    std::optional<std::uint64_t> next;
    views.scan(Table::kQueueReady, class_start(from), end,
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

// The first deliver_at > now of an unleased delivery in the poll index, or
// nullopt; attempt limits are ignored. Leased deliveries are due by the lease
// index. One seek per class present, plus one entry per leased delivery not
// yet due passed over.
std::optional<std::int64_t> next_unleased_due(const ViewReader& views,
                                              std::int64_t now) {
  std::optional<std::int64_t> due;
  const std::int64_t after = add_ms(now, 1);
  std::optional<std::string> from = records::queue_ready_key(0, after, 0);
  while (from) {
    std::optional<std::string> next;
    views.scan(Table::kQueueReady, *from, "",
               [&](std::string_view key, std::string_view value) {
                 const records::QueueReadyEntry entry =
                     records::decode_queue_ready(key, value);
                 if (entry.deliver_at < after) {
                   // The first entry of a class with entries due: seek past
                   // them.
                   next = records::queue_ready_key(entry.queue_class, after, 0);
                   return false;
                 }
                 if (!due || entry.deliver_at < *due) {
                   if (entry.lease_until)
                     return true;  // due by the lease index
                   due = entry.deliver_at;
                 }
                 // Nothing later in this class is sooner.
                 if (entry.queue_class != records::kQueueOwnLimitExhausted) {
                   next = class_start(entry.queue_class + 1);
                 }
                 return false;
               });
    from = std::move(next);
  }
  return due;
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
  std::optional<records::QueueRecord> record =
      find_record(views, best->delivery);
  if (!record) {
    throw CorruptionError(fmt::format(
        "views table queue_ready names delivery {}, which queue_messages lacks",
        best->delivery));
  }
  LeasedMessage leased;
  leased.delivery_id = best->delivery;
  leased.message_type = record->message_type;
  leased.payload_cbor = std::move(record->payload_cbor);
  leased.attempts = record->attempts + 1;
  leased.lease_until = add_ms(now, command.lease_ms);
  decision.events.emplace_back(
      MessageLeased{best->delivery, record->execution_id, leased.attempts,
                    leased.lease_until});
  decision.delivery_id = best->delivery;
  decision.leased = std::move(leased);
  return decision;
}

Decision decide(const AckMessage& command, const ViewReader& views,
                const DecideContext&) {
  Decision decision;
  const std::optional<records::QueueRecord> record =
      find_record(views, command.delivery_id);
  if (!record) return decision;
  decision.events.emplace_back(
      MessageAcked{command.delivery_id, record->execution_id});
  return decision;
}

Decision decide(const RescheduleMessage& command, const ViewReader& views,
                const DecideContext& context) {
  check_delay(command.delay_ms, "delay");
  Decision decision;
  const std::optional<records::QueueRecord> record =
      find_record(views, command.delivery_id);
  if (!record) return decision;
  decision.events.emplace_back(
      MessageRescheduled{command.delivery_id, record->execution_id,
                         add_ms(context.now_ms, command.delay_ms)});
  return decision;
}

Decision decide(const ExtendLease& command, const ViewReader& views,
                const DecideContext& context) {
  check_positive(command.lease_ms, "lease duration");
  Decision decision;
  const std::optional<records::QueueRecord> record =
      find_record(views, command.delivery_id);
  if (!record) {
    decision.result = false;
    return decision;
  }
  decision.events.emplace_back(
      MessageLeaseExtended{command.delivery_id, record->execution_id,
                           add_ms(context.now_ms, command.lease_ms)});
  return decision;
}

Decision decide(const MoveToDeadLetters& command, const ViewReader& views,
                const DecideContext& context) {
  validate_string(command.error, "error");
  Decision decision;
  const std::optional<records::QueueRecord> record =
      find_record(views, command.delivery_id);
  if (!record) {
    decision.result = false;
    return decision;
  }
  decision.events.emplace_back(
      MessageDeadLettered{command.delivery_id, record->execution_id,
                          command.error, context.now_ms});
  decision.count = 1;
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
      class_start(static_cast<std::uint64_t>(command.queue_max_attempts)),
      class_start(records::kQueueOwnLimit), collect);
  views.scan(Table::kQueueReady, class_start(records::kQueueOwnLimitExhausted),
             "", collect);
  std::sort(exhausted.begin(), exhausted.end());
  Decision decision;
  for (const std::uint64_t delivery : exhausted) {
    const std::optional<records::QueueRecord> record =
        find_record(views, delivery);
    if (!record) {
      throw CorruptionError(fmt::format(
          "views table queue_ready names delivery {}, which queue_messages "
          "lacks",
          delivery));
    }
    decision.events.emplace_back(MessageDeadLettered{
        delivery, record->execution_id,
        fmt::format("Exceeded max_attempts ({})", record->attempts),
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

void fold(const EventPayload& payload, ViewStore& views) {
  std::visit(
      Overloaded{
          [&](const MessagePushed& e) {
            insert_delivery(
                views, e.delivery_id,
                {e.execution_id, e.message_type, e.payload.cbor(), e.deliver_at,
                 e.max_attempts, 0, std::nullopt, payload_task_id(e.payload)});
          },
          [&](const MessageLeased& e) {
            const std::optional<records::QueueRecord> record =
                find_record(views, e.delivery_id);
            if (!record) return;
            records::QueueRecord leased = *record;
            leased.attempts = e.attempt;
            leased.lease_until = e.lease_until;
            update_delivery(views, e.delivery_id, *record, leased);
          },
          [&](const MessageAcked& e) {
            const std::optional<records::QueueRecord> record =
                find_record(views, e.delivery_id);
            if (record) remove_delivery(views, e.delivery_id, *record);
          },
          [&](const MessageRescheduled& e) {
            const std::optional<records::QueueRecord> record =
                find_record(views, e.delivery_id);
            if (!record) return;
            records::QueueRecord rescheduled = *record;
            rescheduled.lease_until.reset();
            rescheduled.deliver_at = e.deliver_at;
            update_delivery(views, e.delivery_id, *record, rescheduled);
          },
          [&](const MessageLeaseExtended& e) {
            const std::optional<records::QueueRecord> record =
                find_record(views, e.delivery_id);
            if (!record) return;
            records::QueueRecord extended = *record;
            extended.lease_until = e.lease_until;
            update_delivery(views, e.delivery_id, *record, extended);
          },
          [&](const MessageDeadLettered& e) {
            const std::optional<records::QueueRecord> record =
                find_record(views, e.delivery_id);
            if (!record) return;
            remove_delivery(views, e.delivery_id, *record);
            views.put(Table::kDeadLetters, keys::encode_u64(e.delivery_id),
                      records::encode_dead_letter(
                          {record->execution_id, record->message_type,
                           record->payload_cbor, record->max_attempts,
                           record->attempts, e.error, e.moved_at}));
            add_counter(views, kMetaDlqSize, 1);
          },
          [&](const DeadLetterReplayed& e) {
            const std::string key = keys::encode_u64(e.delivery_id);
            const std::optional<std::string> value =
                views.get(Table::kDeadLetters, key);
            if (!value) return;
            records::DeadLetterRecord letter =
                records::decode_dead_letter(*value);
            views.del(Table::kDeadLetters, key);
            add_counter(views, kMetaDlqSize, -1);
            // Dead letters keep no task id: replays are rare, decode it.
            std::string task_id = payload_task_id(
                Json::from_cbor(letter.payload_cbor, "payload"));
            insert_delivery(
                views, e.new_delivery_id,
                {letter.execution_id, letter.message_type,
                 std::move(letter.payload_cbor), e.deliver_at,
                 letter.max_attempts, 0, std::nullopt, std::move(task_id)});
          },
          [&](const QueueCleared&) {
            clear_table(views, Table::kQueueMessages);
            clear_table(views, Table::kQueueReady);
            clear_table(views, Table::kQueueLeases);
            clear_table(views, Table::kQueueTaskIndex);
            views.put(Table::kMeta, kMetaQueueSize, keys::encode_u64(0));
          },
          [&](const DeadLetterQueueCleared&) {
            clear_table(views, Table::kDeadLetters);
            views.put(Table::kMeta, kMetaDlqSize, keys::encode_u64(0));
          },
          [](const auto&) {},
      },
      payload);
}

}  // namespace wfstore::queue_machine

namespace wfstore {

std::uint64_t queue_size(const ViewReader& views) {
  return queue_machine::meta_counter(views, queue_machine::kMetaQueueSize);
}

std::uint64_t dead_letter_count(const ViewReader& views) {
  return queue_machine::meta_counter(views, queue_machine::kMetaDlqSize);
}

bool has_pending_message_for_task(const ViewReader& views,
                                  std::string_view task_id) {
  if (task_id.empty() || task_id.size() > 0xFFFF) return false;
  const std::string from = queue_machine::task_prefix(task_id);
  std::string to = from;
  to.append(8, '\xFF');
  to.push_back('\xFF');
  bool found = false;
  views.scan(Table::kQueueTaskIndex, from, to,
             [&](std::string_view, std::string_view) {
               found = true;
               return false;
             });
  return found;
}

std::optional<QueuedMessage> find_queued_message(const ViewReader& views,
                                                 std::uint64_t delivery_id) {
  std::optional<records::QueueRecord> record =
      queue_machine::find_record(views, delivery_id);
  if (!record) return std::nullopt;
  return QueuedMessage{delivery_id,
                       std::move(record->execution_id),
                       std::move(record->message_type),
                       std::move(record->payload_cbor),
                       record->deliver_at,
                       record->max_attempts,
                       record->attempts,
                       record->lease_until};
}

std::vector<StoredDeadLetter> list_dead_letters(
    const ViewReader& views, std::size_t limit,
    std::optional<std::string_view> message_type) {
  std::vector<StoredDeadLetter> letters;
  views.scan(Table::kDeadLetters, "", "",
             [&](std::string_view key, std::string_view value) {
               records::DeadLetterRecord r = records::decode_dead_letter(value);
               if (message_type && r.message_type != *message_type) return true;
               letters.push_back(StoredDeadLetter{
                   keys::decode_u64(key), std::move(r.execution_id),
                   std::move(r.message_type), std::move(r.payload_cbor),
                   r.max_attempts, r.attempts, std::move(r.error), r.moved_at});
               return true;
             });
  std::sort(letters.begin(), letters.end(),
            [](const StoredDeadLetter& a, const StoredDeadLetter& b) {
              return std::pair(a.moved_at, a.id) > std::pair(b.moved_at, b.id);
            });
  if (letters.size() > limit) letters.resize(limit);
  return letters;
}

std::optional<std::int64_t> next_queue_due_time(const ViewReader& views,
                                                std::int64_t now_ms) {
  std::optional<std::int64_t> due =
      queue_machine::next_unleased_due(views, now_ms);
  // A leased delivery is due one ms after its expiry: expiry >= now_ms.
  views.scan(Table::kQueueLeases, records::queue_lease_key(now_ms, 0), "",
             [&](std::string_view key, std::string_view) {
               keys::KeyReader reader(key);
               const std::int64_t at = queue_machine::add_ms(reader.i64(), 1);
               if (!due || at < *due) due = at;
               return false;
             });
  return due;
}

}  // namespace wfstore
