// Feeding a topic in tests: the Kafka records of a real store's log
// (kafka_record_of of each event with its commit's hash), and a plain
// librdkafka producer that sends records to chosen partitions. Tests use it
// to build topics the exporter would never write: an LSN skipped, a run
// re-sent, records of another store or of nobody.

#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/kafka_record.h"

#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/kafka_client.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::testutil {

// The records of every event in the log of the store in `dir` (closed or
// open read-only elsewhere), in LSN order.
inline std::vector<KafkaRecord> records_of_store(
    const std::filesystem::path& dir) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, /*lock=*/false);
  const std::string store_id = store.id().to_string();
  log::Reader reader(
      fs, store.log_dir(), store.id(), 1, [](const log::Damage& d) {
        throw CorruptionError(fmt::format("test log damaged: {}", d.reason));
      });
  std::vector<KafkaRecord> out;
  log::Commit commit;
  while (reader.next(&commit)) {
    ViewChecksum hash{};
    std::copy(commit.hash.begin(), commit.hash.end(), hash.begin());
    const DecodedCommit decoded = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    for (const Event& event : decoded.events) {
      out.push_back(
          kafka_record_of(event, store_id, to_hex(hash), commit.last_lsn()));
    }
  }
  return out;
}

// The LSN in a record's header.
inline std::uint64_t record_lsn(const KafkaRecord& record) {
  for (const auto& [name, value] : record.headers) {
    if (name == kHeaderLsn) return std::stoull(value);
  }
  return 0;
}

// A plain producer (no idempotence, no transactions).
class TestProducer {
 public:
  explicit TestProducer(const std::string& brokers) {
    std::array<char, 512> error{};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error.data(),
                      error.size());
    rd_kafka_conf_set(conf, "log_level", "3", error.data(), error.size());
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw IOError(fmt::format("test producer: {}", error.data()));
    }
  }
  ~TestProducer() {
    rd_kafka_flush(rk_, 10000);
    rd_kafka_destroy(rk_);
  }
  TestProducer(const TestProducer&) = delete;
  TestProducer& operator=(const TestProducer&) = delete;

  // Sends `record` to `partition` of `topic` (RD_KAFKA_PARTITION_UA: the
  // partitioner's choice by key).
  void send(const std::string& topic, const KafkaRecord& record,
            std::int32_t partition = RD_KAFKA_PARTITION_UA) {
    if (rd_kafka_error_t* error =
            produce_record(rk_, topic, record, partition)) {
      const std::string text = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      throw IOError(fmt::format("test producer: {}", text));
    }
  }

  // Sends each record to partition lsn % partitions, so every partition holds
  // records past any LSN but the last few.
  void send_round_robin(const std::string& topic,
                        const std::vector<KafkaRecord>& records,
                        int partitions) {
    for (const KafkaRecord& record : records) {
      send(topic, record,
           static_cast<std::int32_t>(record_lsn(record) %
                                     static_cast<std::uint64_t>(partitions)));
    }
  }

  void flush() {
    ASSERT_EQ(rd_kafka_flush(rk_, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

}  // namespace wfstore::testutil
