// produce_record and record_of_message (wfstore_internal/kafka_client.h).

#include <vector>

#include "wfstore_internal/kafka_client.h"

namespace wfstore {

rd_kafka_error_t* produce_record(rd_kafka_t* rk, const std::string& topic,
                                 const KafkaRecord& record,
                                 std::int32_t partition) {
  // rd_kafka_produceva: the RD_KAFKA_V_* macros expand to C casts. Topic,
  // partition, flags, key, value and every header.
  std::vector<rd_kafka_vu_t> vu(5 + record.headers.size());
  std::size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[n++].u.cstr = topic.c_str();
  vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
  vu[n++].u.i32 = partition;
  vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vu[n].vtype = RD_KAFKA_VTYPE_KEY;
  vu[n].u.mem.ptr = const_cast<char*>(record.key.data());
  vu[n++].u.mem.size = record.key.size();
  vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[n].u.mem.ptr = const_cast<char*>(record.value.data());
  vu[n++].u.mem.size = record.value.size();
  for (const auto& [name, value] : record.headers) {
    vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
    vu[n].u.header.name = name.c_str();
    vu[n].u.header.val = value.data();
    vu[n++].u.header.size = static_cast<ssize_t>(value.size());
  }
  for (;;) {
    rd_kafka_error_t* err = rd_kafka_produceva(rk, vu.data(), n);
    if (err == nullptr ||
        rd_kafka_error_code(err) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return err;
    }
    rd_kafka_error_destroy(err);
    rd_kafka_poll(rk, 10);
  }
}

KafkaRecord record_of_message(const rd_kafka_message_t& m) {
  KafkaRecord record;
  if (m.key != nullptr) {
    record.key.assign(static_cast<const char*>(m.key), m.key_len);
  }
  if (m.payload != nullptr) {
    record.value.assign(static_cast<const char*>(m.payload), m.len);
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers.emplace_back(
          name, value == nullptr
                    ? std::string()
                    : std::string(static_cast<const char*>(value), size));
    }
  }
  return record;
}

}  // namespace wfstore
