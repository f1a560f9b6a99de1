// The record codec of the read models.

#include "wfstore_internal/view_records.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"

namespace wfstore::records {
namespace {

// Writes `payload` as the rest of a record: its schema version (u16), then its
// encoding. decode_versioned() reads it back.
template <typename Payload>
void encode_versioned(RecordWriter& writer, Payload payload) {
  writer.u16(Payload::kVersion);
  // Moved into the variant: a stage or workflow record is encoded without a
  // second copy of its JSON and tasks.
  writer.rest(encode_payload(EventPayload(std::move(payload))));
}

template <typename Payload>
Payload decode_versioned(RecordReader& reader, Table table) {
  const std::uint16_t version = reader.u16();
  EventPayload payload = decode_payload(Payload::kType, version, reader.rest());
  auto* typed = std::get_if<Payload>(&payload);
  if (typed == nullptr) {
    throw CorruptionError(fmt::format(
        "views table {}: record decoded to the wrong type", table_name(table)));
  }
  return std::move(*typed);
}

// ---- one field table per record ----
//
// Each k*Fields lists a record's members in stored order; encode_fields and
// decode_fields walk it in each direction, so a record's layout is written
// once. Stored form by member type: std::string str, std::optional<std::string>
// opt<str>, std::int64_t i64, std::optional<std::int64_t> opt<i64>,
// std::uint64_t u64, PackedStrings and StoredBytes str, std::string_view rest
// (the value's remaining bytes; last member only).

constexpr auto kStageOrderFields =
    std::tuple(&StageOrderEntry::stage, &StageOrderEntry::parent,
               &StageOrderEntry::requisites, &StageOrderEntry::outputs,
               &StageOrderEntry::ref_id);
constexpr auto kProcessedFields =
    std::tuple(&ProcessedRecord::processed_at, &ProcessedRecord::lsn,
               &ProcessedRecord::handler_type, &ProcessedRecord::execution_id);
constexpr auto kClaimFields =
    std::tuple(&ClaimRecord::execution_id, &ClaimRecord::claim_key,
               &ClaimRecord::stage_id, &ClaimRecord::claimed_at);
constexpr auto kQueueFields =
    std::tuple(&QueueRecord::execution_id, &QueueRecord::message_type,
               &QueueRecord::payload_cbor, &QueueRecord::deliver_at,
               &QueueRecord::max_attempts, &QueueRecord::attempts,
               &QueueRecord::lease_until, &QueueRecord::task_id);
constexpr auto kDeadLetterFields =
    std::tuple(&DeadLetterRecord::execution_id, &DeadLetterRecord::message_type,
               &DeadLetterRecord::payload_cbor, &DeadLetterRecord::max_attempts,
               &DeadLetterRecord::attempts, &DeadLetterRecord::error,
               &DeadLetterRecord::moved_at);

void put_field(RecordWriter& w, const std::string& v) { w.str(v); }
void put_field(RecordWriter& w, const std::optional<std::string>& v) {
  w.opt_str(v);
}
void put_field(RecordWriter& w, std::int64_t v) { w.i64(v); }
void put_field(RecordWriter& w, const std::optional<std::int64_t>& v) {
  w.opt_i64(v);
}
void put_field(RecordWriter& w, std::uint64_t v) { w.u64(v); }
void put_field(RecordWriter& w, std::string_view v) { w.rest(v); }
void put_field(RecordWriter& w, const PackedStrings& v) { w.str(v.bytes); }
void put_field(RecordWriter& w, const StoredBytes& v) { w.str(v.bytes); }

void get_field(RecordReader& r, std::string& v) { v = std::string(r.str()); }
void get_field(RecordReader& r, std::optional<std::string>& v) {
  v = r.opt_str();
}
void get_field(RecordReader& r, std::int64_t& v) { v = r.i64(); }
void get_field(RecordReader& r, std::optional<std::int64_t>& v) {
  v = r.opt_i64();
}
void get_field(RecordReader& r, std::uint64_t& v) { v = r.u64(); }
void get_field(RecordReader& r, std::string_view& v) { v = r.rest(); }
void get_field(RecordReader& r, PackedStrings& v) { v.bytes = r.str(); }
void get_field(RecordReader& r, StoredBytes& v) { v.bytes = r.str(); }

template <typename Record, typename Fields>
std::string encode_fields(const Record& record, const Fields& fields) {
  RecordWriter w;
  std::apply([&](auto... member) { (put_field(w, record.*member), ...); },
             fields);
  return w.take();
}

template <typename Record, typename Fields>
Record decode_fields(std::string_view value, Table table,
                     const Fields& fields) {
  RecordReader r(value, table);
  Record record;
  std::apply([&](auto... member) { (get_field(r, record.*member), ...); },
             fields);
  r.expect_end();
  return record;
}

}  // namespace

void RecordWriter::str(std::string_view s) {
  const auto size = static_cast<std::uint32_t>(s.size());
  out_.push_back(static_cast<char>(size >> 24));
  out_.push_back(static_cast<char>((size >> 16) & 0xff));
  out_.push_back(static_cast<char>((size >> 8) & 0xff));
  out_.push_back(static_cast<char>(size & 0xff));
  out_.append(s);
}

void RecordWriter::opt_str(const std::optional<std::string>& s) {
  u8(s ? 1 : 0);
  if (s) str(*s);
}

void RecordWriter::opt_i64(const std::optional<std::int64_t>& v) {
  u8(v ? 1 : 0);
  if (v) i64(*v);
}

std::string_view RecordReader::take(std::size_t n) {
  if (bytes_.size() - pos_ < n) {
    fail(fmt::format("needs {} more bytes at byte {}", n, pos_));
  }
  std::string_view part = bytes_.substr(pos_, n);
  pos_ += n;
  return part;
}

void RecordReader::fail(std::string_view why) const {
  throw CorruptionError(
      fmt::format("views table {}: record {}", table_name(table_), why));
}

std::uint8_t RecordReader::u8() {
  return static_cast<std::uint8_t>(take(1)[0]);
}

std::uint16_t RecordReader::u16() {
  const std::string_view b = take(2);
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(b[0]) << 8) |
                                    static_cast<std::uint8_t>(b[1]));
}

std::uint64_t RecordReader::u64() { return keys::decode_u64(take(8)); }

std::int64_t RecordReader::i64() { return keys::decode_i64(take(8)); }

std::string_view RecordReader::str() {
  const std::string_view b = take(4);
  std::uint32_t size = 0;
  for (char c : b) size = (size << 8) | static_cast<std::uint8_t>(c);
  return take(size);
}

std::optional<std::string> RecordReader::opt_str() {
  const std::uint8_t present = u8();
  if (present > 1) fail(fmt::format("bad presence byte {}", present));
  if (present == 0) return std::nullopt;
  return std::string(str());
}

std::optional<std::int64_t> RecordReader::opt_i64() {
  const std::uint8_t present = u8();
  if (present > 1) fail(fmt::format("bad presence byte {}", present));
  if (present == 0) return std::nullopt;
  return i64();
}

std::string_view RecordReader::rest() {
  std::string_view r = bytes_.substr(pos_);
  pos_ = bytes_.size();
  return r;
}

void RecordReader::expect_end() const {
  if (pos_ != bytes_.size()) {
    fail(fmt::format("has {} trailing bytes", bytes_.size() - pos_));
  }
}

std::string encode_workflow_record(const Workflow& summary,
                                   std::uint64_t next_position) {
  RecordWriter w;
  w.u64(next_position);
  encode_versioned(w, WorkflowStored{summary});
  return w.take();
}

WorkflowRecord decode_workflow_record(std::string_view value) {
  RecordReader r(value, Table::kWorkflows);
  WorkflowRecord record;
  record.next_position = r.u64();
  record.summary =
      decode_versioned<WorkflowStored>(r, Table::kWorkflows).workflow;
  return record;
}

std::string encode_stage_record(const StageExecution& stage,
                                std::uint64_t workflow,
                                std::uint64_t position) {
  RecordWriter w;
  w.u64(workflow);
  w.u64(position);
  encode_versioned(w, StageAdded{stage});
  return w.take();
}

StageRecord decode_stage_record(std::string_view value) {
  RecordReader r(value, Table::kStages);
  StageRecord record;
  record.workflow = r.u64();
  record.position = r.u64();
  record.stage = decode_versioned<StageAdded>(r, Table::kStages).stage;
  return record;
}

std::vector<std::string_view> PackedStrings::unpack() const {
  std::vector<std::string_view> out;
  RecordReader r(bytes, Table::kStageOrder);
  while (r.remaining() > 0) out.push_back(r.str());
  return out;
}

std::string encode_stage_order(std::uint64_t stage, std::uint64_t parent,
                               const std::set<std::string>& requisites,
                               std::string_view outputs_cbor,
                               std::string_view ref_id) {
  RecordWriter packed;
  for (const std::string& requisite : requisites) packed.str(requisite);
  const std::string bytes = packed.take();
  return encode_fields(
      StageOrderEntry{stage, parent, {bytes}, {outputs_cbor}, ref_id},
      kStageOrderFields);
}

StageOrderEntry decode_stage_order(std::string_view value) {
  return decode_fields<StageOrderEntry>(value, Table::kStageOrder,
                                        kStageOrderFields);
}

void append_start_time(std::string& key, std::optional<std::int64_t> time) {
  if (time) {
    key.push_back('\0');
    keys::append_u64(key, keys::descending(static_cast<std::uint64_t>(*time) ^
                                           (std::uint64_t{1} << 63)));
  } else {
    key.push_back('\1');
    keys::append_u64(key, 0);
  }
}

std::optional<std::int64_t> decode_start_time(std::string_view bytes) {
  if (bytes.size() != kStartTimeBytes ||
      static_cast<std::uint8_t>(bytes[0]) > 1) {
    throw CorruptionError(
        fmt::format("view key part {}: not a start time", keys::hex(bytes)));
  }
  if (bytes[0] == '\1') return std::nullopt;
  return static_cast<std::int64_t>(
      keys::descending(keys::decode_u64(bytes.substr(1))) ^
      (std::uint64_t{1} << 63));
}

std::string start_index_key(std::optional<std::uint64_t> owner,
                            std::optional<std::int64_t> start_time,
                            std::uint64_t workflow) {
  std::string key;
  key.reserve(25);
  if (owner) keys::append_u64(key, *owner);
  append_start_time(key, start_time);
  keys::append_u64(key, workflow);
  return key;
}

std::string start_index_value(WorkflowStatus status,
                              std::string_view workflow_id) {
  RecordWriter w;
  w.u8(static_cast<std::uint8_t>(status));
  w.rest(workflow_id);
  return w.take();
}

std::string encode_processed(const ProcessedRecord& record) {
  return encode_fields(record, kProcessedFields);
}

ProcessedRecord decode_processed(std::string_view value) {
  return decode_fields<ProcessedRecord>(value, Table::kProcessedMessages,
                                        kProcessedFields);
}

std::string processed_key(std::string_view message_id) {
  return keys::encode_u64(keys::id_hash(message_id));
}

namespace {

// Calls fn(message_id, entry_bytes) for each entry of a kProcessedMessages
// value until fn returns true; returns whether it did.
template <typename Fn>
bool find_processed_entry(std::string_view value, Fn fn) {
  // The fold deletes a key whose last entry goes: an empty value is damage.
  if (value.empty()) {
    throw CorruptionError("views table processed_messages: empty value");
  }
  RecordReader reader(value, Table::kProcessedMessages);
  while (reader.remaining() > 0) {
    const std::size_t start = value.size() - reader.remaining();
    const std::string_view id = reader.str();
    reader.str();  // The record.
    const std::size_t end = value.size() - reader.remaining();
    if (fn(id, value.substr(start, end - start))) return true;
  }
  return false;
}

}  // namespace

bool has_processed(std::string_view value, std::string_view message_id) {
  return find_processed_entry(
      value,
      [&](std::string_view id, std::string_view) { return id == message_id; });
}

void append_processed(std::string& value, std::string_view message_id,
                      const ProcessedRecord& record) {
  RecordWriter entry;
  entry.str(message_id);
  entry.str(encode_processed(record));
  value.append(entry.take());
}

std::string without_processed(std::optional<std::string_view> value,
                              std::string_view message_id) {
  std::string rest;
  bool found = false;
  if (value) {
    find_processed_entry(*value,
                         [&](std::string_view id, std::string_view entry) {
                           if (id == message_id) {
                             found = true;
                           } else {
                             rest.append(entry);
                           }
                           return false;
                         });
  }
  if (!found) {
    throw CorruptionError(fmt::format(
        "views table processed_messages: no entry for message '{}' that "
        "processed_by_time lists",
        message_id));
  }
  return rest;
}

std::string encode_claim(const ClaimRecord& record) {
  return encode_fields(record, kClaimFields);
}

ClaimRecord decode_claim(std::string_view value) {
  return decode_fields<ClaimRecord>(value, Table::kClaims, kClaimFields);
}

std::string encode_queue(const QueueRecord& record) {
  return encode_fields(record, kQueueFields);
}

QueueRecord decode_queue(std::string_view value) {
  return decode_fields<QueueRecord>(value, Table::kQueueMessages, kQueueFields);
}

std::uint64_t queue_class(const QueueRecord& record) {
  if (record.max_attempts) {
    return record.attempts < *record.max_attempts ? kQueueOwnLimit
                                                  : kQueueOwnLimitExhausted;
  }
  return static_cast<std::uint64_t>(std::max<std::int64_t>(record.attempts, 0));
}

std::string queue_ready_key(std::uint64_t queue_class, std::int64_t deliver_at,
                            std::uint64_t delivery) {
  std::string key = keys::encode_u64(queue_class);
  keys::append_i64(key, deliver_at);
  keys::append_u64(key, delivery);
  return key;
}

std::string queue_ready_value(const QueueRecord& record) {
  return record.lease_until ? keys::encode_i64(*record.lease_until)
                            : std::string();
}

std::string queue_class_start(std::uint64_t queue_class) {
  return queue_ready_key(queue_class, std::numeric_limits<std::int64_t>::min(),
                         0);
}

QueueReadyEntry decode_queue_ready(std::string_view key,
                                   std::string_view value) {
  keys::KeyReader reader(key);
  QueueReadyEntry entry;
  entry.queue_class = reader.u64();
  entry.deliver_at = reader.i64();
  entry.delivery = reader.u64();
  reader.expect_done();
  if (!value.empty()) {
    if (value.size() != 8) {
      throw CorruptionError(
          fmt::format("views table queue_ready key {}: value of {} bytes",
                      keys::hex(key), value.size()));
    }
    entry.lease_until = keys::decode_i64(value);
  }
  return entry;
}

std::int64_t queue_lease_expiry(const QueueRecord& record) {
  const std::int64_t before_due =
      record.deliver_at == std::numeric_limits<std::int64_t>::min()
          ? record.deliver_at
          : record.deliver_at - 1;
  return std::max(record.lease_until.value_or(before_due), before_due);
}

std::string queue_lease_key(std::int64_t expiry, std::uint64_t delivery) {
  std::string key = keys::encode_i64(expiry);
  keys::append_u64(key, delivery);
  return key;
}

std::string encode_dead_letter(const DeadLetterRecord& record) {
  return encode_fields(record, kDeadLetterFields);
}

DeadLetterRecord decode_dead_letter(std::string_view value) {
  return decode_fields<DeadLetterRecord>(value, Table::kDeadLetters,
                                         kDeadLetterFields);
}

std::optional<WorkflowRecord> load_workflow_record(const ViewReader& views,
                                                   std::uint64_t surrogate) {
  const std::optional<std::string> value =
      views.get(Table::kWorkflows, keys::encode_u64(surrogate));
  if (!value) return std::nullopt;
  return decode_workflow_record(*value);
}

std::optional<StageBytes> lookup_stage_record(const ViewReader& views,
                                              std::string_view stage_id) {
  const std::optional<std::uint64_t> surrogate =
      keys::lookup_id(views, stage_id);
  if (!surrogate) return std::nullopt;
  std::optional<std::string> value =
      views.get(Table::kStages, keys::encode_u64(*surrogate));
  if (!value) return std::nullopt;
  return StageBytes{*surrogate, std::move(*value)};
}

std::optional<FoundStage> find_stage(const ViewReader& views,
                                     std::string_view stage_id) {
  const std::optional<StageBytes> found = lookup_stage_record(views, stage_id);
  if (!found) return std::nullopt;
  // Larger records are decoded each time rather than kept per thread.
  constexpr std::size_t kMaxMemoBytes = std::size_t{64} * 1024;
  struct Memo {
    std::string bytes;
    std::shared_ptr<const StageRecord> record;
  };
  thread_local Memo memo;
  if (memo.record && memo.bytes == found->value) {
    return FoundStage{found->surrogate, memo.record};
  }
  auto record =
      std::make_shared<const StageRecord>(decode_stage_record(found->value));
  if (found->value.size() <= kMaxMemoBytes) {
    memo.record.reset();  // a throwing assign below leaves no stale pair
    memo.bytes = found->value;
    memo.record = record;
  }
  return FoundStage{found->surrogate, std::move(record)};
}

std::optional<std::uint64_t> workflow_surrogate(const ViewReader& views,
                                                std::string_view id) {
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, id);
  if (!surrogate ||
      !views.contains(Table::kWorkflows, keys::encode_u64(*surrogate))) {
    return std::nullopt;
  }
  return surrogate;
}

bool stage_exists(const ViewReader& views, std::string_view stage_id) {
  const std::optional<std::uint64_t> surrogate =
      keys::lookup_id(views, stage_id);
  return surrogate &&
         views.contains(Table::kStages, keys::encode_u64(*surrogate));
}

std::string claim_key(std::uint64_t execution, std::uint64_t claim) {
  return keys::make_key({execution, claim});
}

std::optional<QueueRecord> find_queue_record(const ViewReader& views,
                                             std::uint64_t delivery) {
  const std::optional<std::string> value =
      views.get(Table::kQueueMessages, keys::encode_u64(delivery));
  if (!value) return std::nullopt;
  return decode_queue(*value);
}

std::string queue_task_prefix(std::string_view task_id) {
  std::string key;
  key.push_back(static_cast<char>((task_id.size() >> 8) & 0xFF));
  key.push_back(static_cast<char>(task_id.size() & 0xFF));
  key.append(task_id);
  return key;
}

std::string queue_task_key(std::string_view task_id, std::uint64_t delivery) {
  std::string key = queue_task_prefix(task_id);
  keys::append_u64(key, delivery);
  return key;
}

std::int64_t add_ms(std::int64_t now, std::int64_t delta) {
  if (delta > std::numeric_limits<std::int64_t>::max() - now) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return now + delta;
}

}  // namespace wfstore::records
