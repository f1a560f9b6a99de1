// Binary encoding of a commit's events: the commit body that the log frames
// (the log adds first_lsn, event_count, timestamp_ms, durable_lsn and the hash
// chain around it), the per-type payload encodings, and the upcaster registry.
//
//   body     := format:u8 (=1) endian:u8 (=1) audit count:varint event*count
//   audit    := actor:str correlation_id:str causation_id:str source:str
//   event    := type:u16 schema_version:u16 workflow_id:str payload:bytes
//   payload  := endian:u8 (=1) field*   (that type's fields, in order below)
//
//   u8, u16, i64, u64   fixed width, little-endian (cereal portable binary)
//   bool                u8, 0 or 1
//   varint              unsigned LEB128, at most 10 bytes, no trailing 0x00
//   bytes, str          len:varint byte*len; str is UTF-8
//   json                bytes holding the value's CBOR (RFC 8949)
//   opt<T>              present:bool T?   (T only when present is 1)
//   list<T>             count:varint T*count
//   status, enums       u8: the model's stable integers
//
// An event's LSN is first_lsn + its index, its commit id is first_lsn, and the
// timestamp and audit are the commit's: none is repeated per event. The
// envelope's workflow_id is event_workflow_id(payload) (decoding checks it), so
// indexes and exporters read it without decoding payloads. The endian byte
// that starts each payload is cereal's portable-binary tag (1: little-endian).
//
// Payload fields (type id, name, version 1), in the order of each type's field
// table (events/catalogue/fields.h), which the codec follows:
//   1   WorkflowStored           workflow
//   2   WorkflowStatusUpdated    workflow_id:str status start_time:opt<i64>
//                                end_time:opt<i64> is_canceled:bool
//                                canceled_by:opt<str>
//                                cancellation_reason:opt<str>
//                                paused:opt<paused>
//   3   WorkflowStatusSet        workflow_id:str status start_time:opt<i64>
//                                end_time:opt<i64>
//   4   WorkflowPaused           workflow_id:str paused_by:str pause_time:i64
//   5   WorkflowResumed          workflow_id:str resume_time:i64
//   6   WorkflowCancelRequested  workflow_id:str canceled_by:str reason:str
//   7   WorkflowDeleted          workflow_id:str
//   20  StageAdded               stage
//   21  StageUpdated             execution_id:str stage_id:str version:i64
//                                status context:json outputs:json
//                                start_time:opt<i64> end_time:opt<i64>
//                                tasks:list<task>
//   22  StageRemoved             execution_id:str stage_id:str
//   40  MessageProcessed         message_id:str handler_type:opt<str>
//                                execution_id:opt<str> processed_at:i64
//   41  ProcessedMessagesPurged  cutoff:i64 count:u64
//   50  ClaimAcquired            execution_id:str claim_key:str stage_id:str
//                                claimed_at:i64
//   51  ClaimTransferred         execution_id:str claim_key:str
//                                from_stage_id:str to_stage_id:str
//                                claimed_at:i64
//   52  ClaimsPurged             claims:list<execution_id:str claim_key:str>
//   100 MessagePushed            delivery_id:u64 execution_id:str
//                                message_type:str payload:json deliver_at:i64
//                                max_attempts:opt<i64>
//   101 MessageLeased            delivery_id:u64 execution_id:str attempt:i64
//                                lease_until:i64
//   102 MessageAcked             delivery_id:u64 execution_id:str
//   103 MessageRescheduled       delivery_id:u64 execution_id:str
//                                deliver_at:i64
//   104 MessageLeaseExtended     delivery_id:u64 execution_id:str
//                                lease_until:i64
//   105 MessageDeadLettered      delivery_id:u64 execution_id:str error:str
//                                moved_at:i64
//   106 DeadLetterReplayed       delivery_id:u64 new_delivery_id:u64
//                                execution_id:str deliver_at:i64
//   107 QueueCleared             (no fields)
//   108 DeadLetterQueueCleared   (no fields)
//
//   workflow := id:str type:u8 application:str name:str status
//               stages:list<stage> context:json trigger start_time:opt<i64>
//               end_time:opt<i64> start_time_expiry:opt<i64> is_canceled:bool
//               canceled_by:opt<str> cancellation_reason:opt<str>
//               paused:opt<paused> pipeline_config_id:opt<str>
//               is_limit_concurrent:bool max_concurrent_executions:i64
//               keep_waiting_pipelines:bool origin:str
//   trigger  := type:str user:str parameters:json artifacts:json payload:json
//   paused   := paused_by:str pause_time:opt<i64> resume_time:opt<i64>
//               paused_ms:i64
//   stage    := id:str execution_id:str ref_id:str type:str name:str status
//               context:json outputs:json tasks:list<task>
//               requisite_stage_ref_ids:list<str> (sorted, unique)
//               parent_stage_id:opt<str> synthetic_stage_owner:opt<u8>
//               start_time:opt<i64> end_time:opt<i64>
//               start_time_expiry:opt<i64> scheduled_time:opt<i64> version:i64
//               join_type:u8 join_threshold:i64 split_type:u8
//               split_conditions:list<key:str value:str> (sorted, unique keys)
//               mi_config:opt<mi> deferred_choice_group:opt<str>
//               milestone_ref_id:opt<str> milestone_status:opt<str>
//               mutex_key:opt<str> cancel_region:opt<str>
//   mi       := count:i64 count_from_context:str sync_on_complete:bool
//               allow_dynamic:bool collection_from_context:str
//               join_threshold:i64 cancel_remaining:bool
//   task     := id:str name:str implementing_class:str status
//               start_time:opt<i64> end_time:opt<i64> stage_start:bool
//               stage_end:bool loop_start:bool loop_end:bool
//               task_exception_details:json version:i64
//
// Versioning: the body format byte covers the grammar above the payloads;
// each event type has its own schema version (the payload struct's kVersion).
// A payload written at an older version is upcast step by step (v -> v+1) by
// registered upcasters before it is decoded; type ids 0xFF00-0xFFFF are for
// test-only types (register_event_type_for_testing).
//
// Thread-safety: encoding and decoding are safe from any thread; register
// upcasters and test types before decoding concurrently (registration takes a
// lock, so it is safe, but a decode racing with it may miss the new entry).

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"

namespace wfstore {

inline constexpr std::uint8_t kCommitBodyFormatVersion = 1;

// Encodes one commit body. Throws InvalidArgumentError when there are no
// events or more than kMaxCommitEvents, or the body exceeds kMaxCommitBytes.
// The payloads are not validated here: entry points validate their input.
std::string encode_commit_body(const AuditMetadata& audit,
                               const std::vector<EventPayload>& payloads);

struct DecodedCommit {
  AuditMetadata audit;
  std::vector<Event> events;
};

// Decodes a commit body written by encode_commit_body, upcasting older
// payloads. `event_count` is the count the log's framing recorded. Throws
// CorruptionError (naming the event index and type) on any malformed input:
// truncation, trailing bytes, an unknown type or enum value, a size larger
// than the remaining input, a version newer than supported or without an
// upcaster path, a count other than `event_count`. Never allocates more than
// a small multiple of body.size().
DecodedCommit decode_commit_body(std::uint64_t first_lsn,
                                 std::int64_t timestamp_ms,
                                 std::size_t event_count,
                                 std::string_view body);

// decode_commit_body for a caller that decodes many commits: it keeps the
// readers (each a std::istream, whose construction was a tenth of decoding a
// small commit) from one commit to the next. Not thread-safe: one per thread.
class CommitDecoder {
 public:
  CommitDecoder();
  ~CommitDecoder();
  CommitDecoder(CommitDecoder&&) noexcept;
  CommitDecoder& operator=(CommitDecoder&&) noexcept;

  // As decode_commit_body; `body` need not outlive the call.
  DecodedCommit decode(std::uint64_t first_lsn, std::int64_t timestamp_ms,
                       std::size_t event_count, std::string_view body);

 private:
  struct Readers;
  std::unique_ptr<Readers> readers_;
};

// One payload's encoding at its current version (the `payload` of the grammar
// above, without the length prefix).
std::string encode_payload(const EventPayload& payload);

// Decodes a payload of `type` written at `schema_version`, upcasting it first.
// Throws CorruptionError as decode_commit_body does.
EventPayload decode_payload(EventType type, std::uint16_t schema_version,
                            std::string_view payload);

// The version this build writes for `type` (test-only types included), or 0
// for an unknown type.
std::uint16_t current_schema_version(EventType type);

// Turns a payload of version `from_version` into the same event's payload at
// from_version + 1. May throw CorruptionError for a payload it cannot convert.
using Upcaster = std::function<std::string(std::string_view old_payload)>;

// Registers the v -> v+1 step for `type`. Throws InvalidArgumentError when
// from_version is 0 or not below the type's current version, or a step for
// the same (type, from_version) exists.
void register_upcaster(EventType type, std::uint16_t from_version,
                       Upcaster to_next_version_payload);

// Decodes a current-version payload of a test-only type into a catalogue
// payload.
using PayloadDecoder = std::function<EventPayload(std::string_view payload)>;

// Registers a test-only event type: `type` must lie in 0xFF00-0xFFFF and
// not be registered yet (else InvalidArgumentError). Its payloads at
// `current_version` decode with `decode`; older ones go through the upcasters
// registered for `type` first. Decoding yields whatever payload `decode`
// returns, so the decoded Event reports that payload's type.
void register_event_type_for_testing(EventType type,
                                     std::uint16_t current_version,
                                     PayloadDecoder decode);

// Removes every test-only type and every upcaster.
void reset_event_registry_for_testing();

// Encodes an event's envelope and payload as the body does (for tests that
// hand-craft bodies): type, version, workflow_id and the length-prefixed
// payload bytes.
std::string encode_event_for_testing(EventType type,
                                     std::uint16_t schema_version,
                                     std::string_view workflow_id,
                                     std::string_view payload);

// A body holding `encoded_events` (each from encode_event_for_testing) after
// the audit and count; the count written is encoded_events.size().
std::string encode_body_for_testing(
    const AuditMetadata& audit, const std::vector<std::string>& encoded_events);

}  // namespace wfstore
