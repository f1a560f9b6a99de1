// bench_replica_fold and bench_raw_produce (wfstore/kafka_bench.h).

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "wfstore/errors.h"
#include "wfstore/kafka_bench.h"
#include "wfstore/kafka_replica.h"
#include "wfstore/maintenance.h"

#include "wfstore_internal/kafka_client.h"

namespace wfstore {
namespace {

double per_second(std::uint64_t events, double seconds) {
  return seconds > 0 ? static_cast<double>(events) / seconds : 0.0;
}

// Counts failed deliveries (the producer's opaque is the counter).
void count_failures(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message,
                    void* opaque) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    static_cast<std::atomic<std::uint64_t>*>(opaque)->fetch_add(1);
  }
}

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, name, value.c_str(), error.data(),
                        error.size()) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw IOError(fmt::format("raw producer: {}", error.data()));
  }
}

}  // namespace

ReplicaBenchResult bench_replica_fold(
    const std::string& brokers, const std::string& topic,
    const std::filesystem::path& store_dir,
    const std::filesystem::path& replica_dir) {
  ReplicaBenchResult result;
  KafkaReplicaOptions options;
  options.brokers = brokers;
  options.topic = topic;
  options.dir = replica_dir;
  const auto start = std::chrono::steady_clock::now();
  ReplicaProgress replica;
  {
    KafkaReplica r(options);
    replica = r.replicate_until_caught_up();
  }
  result.replica_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const RebuildReport rebuild = rebuild_store_views(store_dir);
  if (replica.applied_lsn != rebuild.applied_lsn) {
    throw CorruptionError(fmt::format(
        "the replica of topic '{}' reached lsn {}, the store ends at lsn {}",
        topic, replica.applied_lsn, rebuild.applied_lsn));
  }
  result.events = replica.events;
  result.replica_events_per_s =
      per_second(replica.events, result.replica_seconds);
  result.rebuild_seconds = rebuild.seconds;
  result.rebuild_events_per_s = per_second(rebuild.events, rebuild.seconds);
  result.checksums_equal = replica.view_checksum == rebuild.checksum;
  return result;
}

double bench_raw_produce(const std::string& brokers, const std::string& topic,
                         const std::vector<KafkaRecord>& records) {
  std::atomic<std::uint64_t> failures{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers);
  set(conf, "compression.type", "lz4");
  set(conf, "log_level", "3");
  rd_kafka_conf_set_dr_msg_cb(conf, count_failures);
  rd_kafka_conf_set_opaque(conf, &failures);
  std::array<char, 512> error{};
  rd_kafka_t* rk =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw IOError(fmt::format("raw producer: {}", error.data()));
  }
  const auto start = std::chrono::steady_clock::now();
  for (const KafkaRecord& record : records) {
    if (rd_kafka_error_t* e = produce_record(rk, topic, record)) {
      const std::string text = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      rd_kafka_destroy(rk);
      throw IOError(fmt::format("raw producer: {}", text));
    }
    rd_kafka_poll(rk, 0);
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 120000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  rd_kafka_destroy(rk);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || failures.load() != 0) {
    throw IOError(fmt::format(
        "raw producer: {} of {} records not delivered to topic '{}' ({})",
        failures.load(), records.size(), topic, rd_kafka_err2str(flushed)));
  }
  return seconds;
}

}  // namespace wfstore
