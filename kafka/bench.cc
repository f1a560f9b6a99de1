// bench_replica_fold (wfstore/kafka_bench.h).

#include <chrono>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/kafka_bench.h"
#include "wfstore/kafka_replica.h"
#include "wfstore/maintenance.h"

namespace wfstore {
namespace {

double per_second(std::uint64_t events, double seconds) {
  return seconds > 0 ? static_cast<double>(events) / seconds : 0.0;
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

}  // namespace wfstore
