// The folds of the queue's events: deliveries keyed by their dense delivery
// id, a poll index (attempt class, deliver_at, id) holding every delivery with
// its lease in the value (view_records.h), a lease index (expiry, id), a task
// index for has_pending_message_for_task, dead letters, and two counters in
// meta (view_meta.h).

#include "projector/fold/queue_fold.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/message.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore::queue_fold {
namespace {

using records::find_queue_record;

// The payload's task_id when it is a non-empty string, else "".
std::string payload_task_id(const Json& payload) {
  const nlohmann::json& value = payload.value();
  if (!value.is_object()) return "";
  const auto it = value.find("task_id");
  if (it == value.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

void add_counter(ViewStore& views, std::string_view name, std::int64_t delta) {
  const std::uint64_t current = meta_u64(views, name).value_or(0);
  const std::uint64_t next =
      delta < 0
          ? current - std::min(current, static_cast<std::uint64_t>(-delta))
          : current + static_cast<std::uint64_t>(delta);
  views.put(Table::kMeta, name, keys::encode_u64(next));
}

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

// Lets `change` modify a copy of the stored delivery, then replaces the
// stored one by it, index entries included. No-op when the delivery is absent.
template <typename Change>
void change_delivery(ViewStore& views, std::uint64_t delivery, Change change) {
  const std::optional<records::QueueRecord> before =
      find_queue_record(views, delivery);
  if (!before) return;
  records::QueueRecord after = *before;
  change(after);
  unindex(views, delivery, *before);
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
  if (views.contains(Table::kQueueMessages, key)) return;
  index(views, delivery, record);
  if (!record.task_id.empty()) {
    views.put(Table::kQueueTaskIndex,
              records::queue_task_key(record.task_id, delivery), "");
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
    views.del(Table::kQueueTaskIndex,
              records::queue_task_key(record.task_id, delivery));
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

}  // namespace

void fold(const MessagePushed& e, ViewStore& views) {
  insert_delivery(
      views, e.delivery_id,
      {e.execution_id, e.message_type, e.payload.cbor(), e.deliver_at,
       e.max_attempts, 0, std::nullopt, payload_task_id(e.payload)});
}

void fold(const MessageLeased& e, ViewStore& views) {
  change_delivery(views, e.delivery_id, [&](records::QueueRecord& record) {
    record.attempts = e.attempt;
    record.lease_until = e.lease_until;
  });
}

void fold(const MessageAcked& e, ViewStore& views) {
  const std::optional<records::QueueRecord> record =
      find_queue_record(views, e.delivery_id);
  if (record) remove_delivery(views, e.delivery_id, *record);
}

void fold(const MessageRescheduled& e, ViewStore& views) {
  change_delivery(views, e.delivery_id, [&](records::QueueRecord& record) {
    record.lease_until.reset();
    record.deliver_at = e.deliver_at;
  });
}

void fold(const MessageLeaseExtended& e, ViewStore& views) {
  change_delivery(views, e.delivery_id, [&](records::QueueRecord& record) {
    record.lease_until = e.lease_until;
  });
}

void fold(const MessageDeadLettered& e, ViewStore& views) {
  const std::optional<records::QueueRecord> record =
      find_queue_record(views, e.delivery_id);
  if (!record) return;
  remove_delivery(views, e.delivery_id, *record);
  views.put(
      Table::kDeadLetters, keys::encode_u64(e.delivery_id),
      records::encode_dead_letter({record->execution_id, record->message_type,
                                   record->payload_cbor, record->max_attempts,
                                   record->attempts, e.error, e.moved_at}));
  add_counter(views, kMetaDlqSize, 1);
}

void fold(const DeadLetterReplayed& e, ViewStore& views) {
  const std::string key = keys::encode_u64(e.delivery_id);
  const std::optional<std::string> value = views.get(Table::kDeadLetters, key);
  if (!value) return;
  records::DeadLetterRecord letter = records::decode_dead_letter(*value);
  views.del(Table::kDeadLetters, key);
  add_counter(views, kMetaDlqSize, -1);
  // Dead letters keep no task id: replays are rare, decode it.
  std::string task_id =
      payload_task_id(Json::from_cbor(letter.payload_cbor, "payload"));
  insert_delivery(
      views, e.new_delivery_id,
      {letter.execution_id, letter.message_type, std::move(letter.payload_cbor),
       e.deliver_at, letter.max_attempts, 0, std::nullopt, std::move(task_id)});
}

void fold(const QueueCleared&, ViewStore& views) {
  clear_table(views, Table::kQueueMessages);
  clear_table(views, Table::kQueueReady);
  clear_table(views, Table::kQueueLeases);
  clear_table(views, Table::kQueueTaskIndex);
  views.put(Table::kMeta, kMetaQueueSize, keys::encode_u64(0));
}

void fold(const DeadLetterQueueCleared&, ViewStore& views) {
  clear_table(views, Table::kDeadLetters);
  views.put(Table::kMeta, kMetaDlqSize, keys::encode_u64(0));
}

}  // namespace wfstore::queue_fold
