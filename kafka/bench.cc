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
    rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [name, value] : record.headers) {
      rd_kafka_header_add(headers, name.data(),
                          static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    // rd_kafka_produceva: the RD_KAFKA_V_* macros expand to C casts.
    std::array<rd_kafka_vu_t, 5> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem.ptr = const_cast<char*>(record.key.data());
    vus[1].u.mem.size = record.key.size();
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = const_cast<char*>(record.value.data());
    vus[2].u.mem.size = record.value.size();
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[4].u.headers = headers;
    for (;;) {
      rd_kafka_error_t* e = rd_kafka_produceva(rk, vus.data(), vus.size());
      if (e == nullptr) break;  // the headers now belong to the message
      const bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
      const std::string text = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      if (!full) {
        rd_kafka_headers_destroy(headers);
        rd_kafka_destroy(rk);
        throw IOError(fmt::format("raw producer: {}", text));
      }
      rd_kafka_poll(rk, 10);
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
