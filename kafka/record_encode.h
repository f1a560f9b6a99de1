// The Kafka record of an event already written as JSON text: the one
// assembly of key and headers behind kafka_record_of (wfstore/kafka_record.h)
// and the exporter, which transcodes the log's commits straight to text.

#pragma once

#include <cstdint>
#include <string>

#include "wfstore/kafka_record.h"

#include "wfstore_internal/event_json_text.h"

namespace wfstore::kafka {

// The record of `event` (its text taken) of store `store_id`, whose commit
// record has hash `commit_hash_hex` and ends at LSN `commit_last_lsn`: what
// kafka_record_of() gives for the decoded event. Thread-safety: pure.
KafkaRecord record_of(EventJsonText&& event, const std::string& store_id,
                      const std::string& commit_hash_hex,
                      std::uint64_t commit_last_lsn);

}  // namespace wfstore::kafka
