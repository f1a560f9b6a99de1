// kafka_record_of (wfstore/kafka_record.h).

#include <string>

#include "wfstore/kafka_record.h"

#include "wfstore_internal/event_json_text.h"

namespace wfstore {

KafkaRecord kafka_record_of(const Event& event, const std::string& store_id,
                            const std::string& commit_hash_hex,
                            std::uint64_t commit_last_lsn) {
  KafkaRecord record;
  record.key = event.workflow_id.empty() ? store_id : event.workflow_id;
  record.value = event_json_text(event);
  record.headers = {
      {std::string(kHeaderLsn), std::to_string(event.lsn)},
      {std::string(kHeaderType), std::string(event_type_name(event.type()))},
      {std::string(kHeaderSchemaVersion),
       std::to_string(event.schema_version())},
      {std::string(kHeaderStoreId), store_id},
      {std::string(kHeaderCommitHash), commit_hash_hex},
      {std::string(kHeaderCommitLastLsn), std::to_string(commit_last_lsn)},
  };
  return record;
}

}  // namespace wfstore
