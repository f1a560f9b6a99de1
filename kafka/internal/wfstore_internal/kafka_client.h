// Queuing one wfstore record on a librdkafka producer: the exporter's, the
// bench's plain producer and the tests' producer send records this one way.
//
// Thread-safety: as rd_kafka_produceva (any thread).

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

}  // namespace wfstore
