// The queue's reads over the views (views.h): its counters, the task index,
// deliveries, dead letters and the next due time.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_records.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using records::add_ms;

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
                   next = records::queue_class_start(entry.queue_class + 1);
                 }
                 return false;
               });
    from = std::move(next);
  }
  return due;
}

}  // namespace

std::uint64_t queue_size(const ViewReader& views) {
  return meta_u64(views, kMetaQueueSize).value_or(0);
}

std::uint64_t dead_letter_count(const ViewReader& views) {
  return meta_u64(views, kMetaDlqSize).value_or(0);
}

bool has_pending_message_for_task(const ViewReader& views,
                                  std::string_view task_id) {
  if (task_id.empty() || task_id.size() > 0xFFFF) return false;
  const std::string from = records::queue_task_prefix(task_id);
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
      records::find_queue_record(views, delivery_id);
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
               letters.push_back(
                   StoredDeadLetter{std::move(r), keys::decode_u64(key)});
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
  std::optional<std::int64_t> due = next_unleased_due(views, now_ms);
  // A leased delivery is due one ms after its expiry: expiry >= now_ms.
  views.scan(Table::kQueueLeases, records::queue_lease_key(now_ms, 0), "",
             [&](std::string_view key, std::string_view) {
               keys::KeyReader reader(key);
               const std::int64_t at = add_ms(reader.i64(), 1);
               if (!due || at < *due) due = at;
               return false;
             });
  return due;
}

}  // namespace wfstore
