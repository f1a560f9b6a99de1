// kafka_record_of (wfstore/kafka_record.h) and kafka::record_of.

#include "kafka/record_encode.h"

#include <string>
#include <utility>

namespace wfstore {

KafkaRecord kafka::record_of(EventJsonText&& event, const std::string& store_id,
                             const std::string& commit_hash_hex,
                             std::uint64_t commit_last_lsn) {
  KafkaRecord record;
  if (event.workflow_id.empty()) {
    record.key = store_id;
  } else {
    record.key = std::move(event.workflow_id);
  }
  record.value = std::move(event.json);
  record.headers = {
      {std::string(kHeaderLsn), std::to_string(event.lsn)},
      {std::string(kHeaderType), std::string(event_type_name(event.type))},
      {std::string(kHeaderSchemaVersion), std::to_string(event.schema_version)},
      {std::string(kHeaderStoreId), store_id},
      {std::string(kHeaderCommitHash), commit_hash_hex},
      {std::string(kHeaderCommitLastLsn), std::to_string(commit_last_lsn)},
  };
  return record;
}

KafkaRecord kafka_record_of(const Event& event, const std::string& store_id,
                            const std::string& commit_hash_hex,
                            std::uint64_t commit_last_lsn) {
  EventJsonText text;
  text.lsn = event.lsn;
  text.type = event.type();
  text.schema_version = event.schema_version();
  text.workflow_id = event.workflow_id;
  text.json = event_json_text(event);
  return kafka::record_of(std::move(text), store_id, commit_hash_hex,
                          commit_last_lsn);
}

}  // namespace wfstore
