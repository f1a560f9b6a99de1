// The Kafka record of one wfstore event (README "Streaming to Kafka"), the
// contract between the exporter and every consumer:
//
// - key: the event's workflow id; an event with no workflow (a queue event
//   outside a workflow, for one) is keyed by the store id, so the events of
//   one workflow share a partition and keep their order;
// - value: event_to_json(event) (wfstore/event.h), UTF-8 JSON text;
// - headers (UTF-8 text): kHeaderLsn (decimal), kHeaderType (the event type's
//   name), kHeaderSchemaVersion (decimal), kHeaderStoreId (the store id as
//   `wfstore stats` prints it), kHeaderCommitHash (the SHA-256 hash of the
//   event's commit record, 64 lowercase hex digits), kHeaderCommitLastLsn
//   (decimal: the last LSN of the event's commit, whose first is the value's
//   commit_id, so a reader knows when it holds a commit whole).
//
// A record is identified by (store id, LSN); the same LSN of the same store
// always carries the same content.
//
// Thread-safety: pure functions.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/errors.h"
#include "wfstore/event.h"

namespace wfstore {

inline constexpr std::string_view kHeaderLsn = "wfstore.lsn";
inline constexpr std::string_view kHeaderType = "wfstore.type";
inline constexpr std::string_view kHeaderSchemaVersion =
    "wfstore.schema_version";
inline constexpr std::string_view kHeaderStoreId = "wfstore.store_id";
inline constexpr std::string_view kHeaderCommitHash = "wfstore.commit_hash";
inline constexpr std::string_view kHeaderCommitLastLsn =
    "wfstore.commit_last_lsn";

// A Kafka record's key, value and headers (in this order), as sent or read.
struct KafkaRecord {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The record of `event` of store `store_id` (text form) whose commit record
// has hash `commit_hash_hex` (64 lowercase hex digits) and ends at LSN
// `commit_last_lsn`.
KafkaRecord kafka_record_of(const Event& event, const std::string& store_id,
                            const std::string& commit_hash_hex,
                            std::uint64_t commit_last_lsn);

// A record that is not a wfstore event record of the expected store: a
// wfstore header missing or repeated, a header or the value malformed, the
// headers disagreeing with the value, or (KafkaConsumer) the record of
// another store or one that does not fit the commit of the record before it
// (its first and last LSN and hash). The message names the record and what is wrong. A
// CorruptionError: the topic cannot give the store's events.
class ForeignRecordError : public CorruptionError {
 public:
  using CorruptionError::CorruptionError;
};

// A record read back: the event with the store and commit it belongs to.
struct DecodedRecord {
  std::string store_id;
  // 64 lowercase hex digits.
  std::string commit_hash;
  // The last LSN of the event's commit (event.commit_id is its first).
  std::uint64_t commit_last_lsn = 0;
  Event event;
};

// Decodes `record` (its lsn is event.lsn): reads the six wfstore headers
// (each exactly once; other headers are ignored), parses the value with
// event_from_json(), and checks that the headers' LSN, type and schema version
// are the value's, that the store id is a store id and the commit hash 64
// lowercase hex digits, that the commit's last LSN is at or after the
// event's (and its first, the value's commit_id, at or before) and makes a
// commit of at most kMaxCommitEvents (wfstore/limits.h), and that the key is
// the event's workflow id (the store id for an event without one). Throws
// ForeignRecordError naming what is wrong.
DecodedRecord decode_kafka_record(const KafkaRecord& record);

}  // namespace wfstore
