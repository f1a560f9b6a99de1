// A wfstore record to and from librdkafka: the exporter, the bench's plain
// producer and the tests' producer queue records one way, and the consumer
// and the tests' plain consumer read them back one way.
//
// Thread-safety: as librdkafka's calls (any thread).

#pragma once

#include <cstdint>
#include <string>

#include <librdkafka/rdkafka.h>

#include "wfstore/kafka_record.h"

namespace wfstore {

// Queues `record` (key, value and every header, copied) for `topic` on
// producer `rk`, to `partition` (RD_KAFKA_PARTITION_UA: the partitioner's
// choice by key), polling `rk` while its queue is full. Returns null, or the
// error, which the caller destroys.
rd_kafka_error_t* produce_record(
    rd_kafka_t* rk, const std::string& topic, const KafkaRecord& record,
    std::int32_t partition = RD_KAFKA_PARTITION_UA);

// The key, value and headers (in order) of the consumed message `m`; a null
// key, value or header value reads as empty.
KafkaRecord record_of_message(const rd_kafka_message_t& m);

}  // namespace wfstore
