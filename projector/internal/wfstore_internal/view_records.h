// The byte layouts of the read models' keys and values (see the table in
// wfstore_internal/fold.h) and the small record codec that fold()
// writes them with and the read side decodes them with. Workflow and stage
// records reuse the event codec's payload encoding (WorkflowStored /
// StageAdded), prefixed by the payload's schema version so that an older
// record upcasts like an old event.

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::records {

// Appends big-endian integers and length-prefixed strings.
class RecordWriter {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<char>(v >> 8));
    out_.push_back(static_cast<char>(v & 0xff));
  }
  void u64(std::uint64_t v) { keys::append_u64(out_, v); }
  void i64(std::int64_t v) { keys::append_i64(out_, v); }
  // u32be length, bytes.
  void str(std::string_view s);
  // u8 present, then the value when present.
  void opt_str(const std::optional<std::string>& s);
  void opt_i64(const std::optional<std::int64_t>& v);
  // The remaining bytes, unprefixed (only as the last field).
  void rest(std::string_view s) { out_.append(s); }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what RecordWriter wrote. Every read checks the remaining size and
// throws CorruptionError naming the table.
class RecordReader {
 public:
  RecordReader(std::string_view bytes, Table table)
      : bytes_(bytes), table_(table) {}

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint64_t u64();
  std::int64_t i64();
  std::string_view str();
  std::optional<std::string> opt_str();
  std::optional<std::int64_t> opt_i64();
  std::string_view rest();
  // Bytes not read yet.
  std::size_t remaining() const { return bytes_.size() - pos_; }
  void expect_end() const;

 private:
  std::string_view take(std::size_t n);
  [[noreturn]] void fail(std::string_view why) const;

  std::string_view bytes_;
  Table table_;
  std::size_t pos_ = 0;
};

// kWorkflows value: next_position:u64 payload_version:u16
// WorkflowStored-payload (the workflow without stages).
struct WorkflowRecord {
  Workflow summary;  // stages empty
  std::uint64_t next_position = 0;
};
std::string encode_workflow_record(const Workflow& summary,
                                   std::uint64_t next_position);
WorkflowRecord decode_workflow_record(std::string_view value);

// kStages value: workflow:u64 position:u64 payload_version:u16
// StageAdded-payload (the stage with its tasks in order).
struct StageRecord {
  StageExecution stage;
  std::uint64_t workflow = 0;  // surrogate
  std::uint64_t position = 0;  // in the workflow's stage order
};
std::string encode_stage_record(const StageExecution& stage,
                                std::uint64_t workflow, std::uint64_t position);
StageRecord decode_stage_record(std::string_view value);

// kStageOrder value: stage:u64 parent:u64 (0: not synthetic)
// requisites:str outputs:str ref_id:rest, where requisites holds the stage's
// requisite_stage_ref_ids in order, each as str (u32be length, bytes), and
// outputs the stage's outputs as CBOR (Json::cbor()), as its stages record
// holds them. A stage's requisites never change after it is added, and its
// outputs here are rewritten with its record, so the workflow's graph and an
// ancestor merge's inputs are read from this table alone.
struct PackedStrings {
  std::string_view bytes;  // borrowed from the value
  // The strings, in order. Throws CorruptionError for a malformed packing.
  std::vector<std::string_view> unpack() const;
};
// Bytes stored as str (u32be length, bytes), borrowed from the value.
struct StoredBytes {
  std::string_view bytes;
};
struct StageOrderEntry {
  std::uint64_t stage = 0;
  std::uint64_t parent = 0;
  PackedStrings requisites;
  // Not checked: OutputsMerge::add_stored checks what the merge decodes.
  StoredBytes outputs;
  std::string_view ref_id;  // borrowed from the value
};
std::string encode_stage_order(std::uint64_t stage, std::uint64_t parent,
                               const std::set<std::string>& requisites,
                               std::string_view outputs_cbor,
                               std::string_view ref_id);
StageOrderEntry decode_stage_order(std::string_view value);

// The (null flag, descending time) part of the start-time index keys:
// u8 0 then ~(time with the sign bit flipped) for a set time, u8 1 then 0
// for none, so bytewise order is start_time descending, NULLs last.
void append_start_time(std::string& key, std::optional<std::int64_t> time);
inline constexpr std::size_t kStartTimeBytes = 9;
// Decodes the kStartTimeBytes that append_start_time wrote. Throws
// CorruptionError for any other size or a bad flag.
std::optional<std::int64_t> decode_start_time(std::string_view bytes);

// kByApplication / kByPipelineConfig key: (owner:u64, start time, wf:u64);
// kByStartTime key: (start time, wf:u64). Value of all three:
// status:u8 workflow-id:rest.
std::string start_index_key(std::optional<std::uint64_t> owner,
                            std::optional<std::int64_t> start_time,
                            std::uint64_t workflow);
std::string start_index_value(WorkflowStatus status,
                              std::string_view workflow_id);

// A processed message's record: processed_at:i64 lsn:u64
// handler_type:opt<str> execution_id:opt<str>.
struct ProcessedRecord {
  std::int64_t processed_at = 0;
  std::uint64_t lsn = 0;
  std::optional<std::string> handler_type;
  std::optional<std::string> execution_id;
};
std::string encode_processed(const ProcessedRecord& record);
// The record encode_processed() wrote. Throws CorruptionError. No query
// reads the record back today (a check needs only the id); the decoder keeps
// the record's encoding round-trip tested (ProcessedRecordTest).
ProcessedRecord decode_processed(std::string_view value);

// kProcessedMessages key: the message id's keys::id_hash (u64), so that a
// check is one lookup and a mark interns nothing. Value: the entries of the
// message ids sharing that hash, each message-id:str record:str (the encoded
// ProcessedRecord). kProcessedByTime key (processed_at:i64, lsn:u64), value
// message-id:rest.
std::string processed_key(std::string_view message_id);
// Whether the kProcessedMessages value `value` has an entry for
// `message_id`. Throws CorruptionError for a damaged value (an empty one
// included: the fold deletes an emptied key).
bool has_processed(std::string_view value, std::string_view message_id);
// Appends the entry of `message_id` to the kProcessedMessages value `value`.
void append_processed(std::string& value, std::string_view message_id,
                      const ProcessedRecord& record);
// The kProcessedMessages value `value` (nullopt: the key is absent) without
// the entry of `message_id` (empty when it was the only one). Throws
// CorruptionError for a damaged value or one without that entry.
std::string without_processed(std::optional<std::string_view> value,
                              std::string_view message_id);

// kClaims key (execution:u64, claim_key:u64), value execution_id:str
// claim_key:str stage_id:str claimed_at:i64.
struct ClaimRecord {
  std::string execution_id;
  std::string claim_key;
  std::string stage_id;
  std::int64_t claimed_at = 0;
};
std::string encode_claim(const ClaimRecord& record);
ClaimRecord decode_claim(std::string_view value);

// kQueueMessages key delivery:u64, value execution_id:str message_type:str
// payload:str (CBOR) deliver_at:i64 max_attempts:opt<i64> attempts:i64
// lease_until:opt<i64> task_id:str (the payload's task_id, "" when it has
// none: the delivery's key in kQueueTaskIndex without decoding the payload).
struct QueueRecord {
  std::string execution_id;
  std::string message_type;
  std::string payload_cbor;
  std::int64_t deliver_at = 0;
  std::optional<std::int64_t> max_attempts;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> lease_until;
  std::string task_id;
};
std::string encode_queue(const QueueRecord& record);
QueueRecord decode_queue(std::string_view value);

// The queue's poll index, kQueueReady: key (class:u64, deliver_at:i64,
// delivery:u64), value "" while unleased or lease_until:i64 while leased. The
// class partitions deliveries by how their attempt limit is known:
//   - without their own max_attempts: the attempts so far (0 .. 2^63-1), so a
//     poll with the queue's limit L reads only classes below L and the sweep
//     only classes from L on;
//   - with their own max_attempts: kQueueOwnLimit while attempts < that limit,
//     kQueueOwnLimitExhausted once they reached it.
// Every delivery has exactly one entry.
inline constexpr std::uint64_t kQueueOwnLimit = ~std::uint64_t{1};
inline constexpr std::uint64_t kQueueOwnLimitExhausted = ~std::uint64_t{0};
std::uint64_t queue_class(const QueueRecord& record);
std::string queue_ready_key(std::uint64_t queue_class, std::int64_t deliver_at,
                            std::uint64_t delivery);
std::string queue_ready_value(const QueueRecord& record);
// The first kQueueReady key of `queue_class`.
std::string queue_class_start(std::uint64_t queue_class);
// A kQueueReady entry decoded. Throws CorruptionError for a key that is not
// 24 bytes or a value that is neither empty nor 8 bytes.
struct QueueReadyEntry {
  std::uint64_t queue_class = 0;
  std::int64_t deliver_at = 0;
  std::uint64_t delivery = 0;
  std::optional<std::int64_t> lease_until;
};
QueueReadyEntry decode_queue_ready(std::string_view key,
                                   std::string_view value);

// The queue's lease index, kQueueLeases: key (expiry:i64, delivery:u64), value
// "", for every leased delivery, where expiry is max(lease_until,
// deliver_at - 1): the delivery is due again one ms after its expiry (a lease
// set on a delivery not yet due ends no earlier than its deliver_at).
// REQUIRES (queue_lease_expiry): record.lease_until is set.
std::int64_t queue_lease_expiry(const QueueRecord& record);
std::string queue_lease_key(std::int64_t expiry, std::uint64_t delivery);

// kDeadLetters key delivery:u64, value execution_id:str message_type:str
// payload:str (CBOR) max_attempts:opt<i64> attempts:i64 error:str
// moved_at:i64.
struct DeadLetterRecord {
  std::string execution_id;
  std::string message_type;
  std::string payload_cbor;
  std::optional<std::int64_t> max_attempts;
  std::int64_t attempts = 0;
  std::string error;
  std::int64_t moved_at = 0;
};
std::string encode_dead_letter(const DeadLetterRecord& record);
DeadLetterRecord decode_dead_letter(std::string_view value);

// Lookups of stored records through the ids table. Each returns nullopt when
// the id or the record is absent. Throw CorruptionError for a bad record.
std::optional<WorkflowRecord> load_workflow_record(const ViewReader& views,
                                                   std::uint64_t surrogate);
// The surrogate and the stored bytes of stage `stage_id`'s record, for
// readers that decode it once and keep it (decode_stage_record).
struct StageBytes {
  std::uint64_t surrogate = 0;
  std::string value;
};
std::optional<StageBytes> lookup_stage_record(const ViewReader& views,
                                              std::string_view stage_id);
// find_stage shares the decoded record (never null) with a per-thread memo of
// the last record it decoded, keyed by the record's bytes: a commit decides a
// stage update and then folds it, reading the same bytes twice, and the second
// read costs a compare instead of a decode. Decoding is a pure function of the
// bytes, so the memo cannot be stale. Copy the record to change it.
struct FoundStage {
  std::uint64_t surrogate = 0;
  std::shared_ptr<const StageRecord> record;
};
std::optional<FoundStage> find_stage(const ViewReader& views,
                                     std::string_view stage_id);

// The surrogate of workflow `id` when the workflow exists (an id stays
// interned after its workflow is deleted), else nullopt.
std::optional<std::uint64_t> workflow_surrogate(const ViewReader& views,
                                                std::string_view id);
// True when stage `stage_id` exists.
bool stage_exists(const ViewReader& views, std::string_view stage_id);

// kClaims key of the (execution, claim key) surrogates.
std::string claim_key(std::uint64_t execution, std::uint64_t claim);

// The queued delivery `delivery` as stored, or nullopt.
std::optional<QueueRecord> find_queue_record(const ViewReader& views,
                                             std::uint64_t delivery);

// kQueueTaskIndex keys: (u16 length, task id bytes, delivery:u64), value "".
// queue_task_prefix is the part before the delivery. REQUIRES: task_id is at
// most 0xFFFF bytes.
std::string queue_task_prefix(std::string_view task_id);
std::string queue_task_key(std::string_view task_id, std::uint64_t delivery);

// now + delta (milliseconds), saturating at the largest time.
std::int64_t add_ms(std::int64_t now, std::int64_t delta);

}  // namespace wfstore::records
