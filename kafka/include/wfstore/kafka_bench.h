// The replica's figure for `wfstore bench --kafka`: the fold rate of a read
// replica fed from a topic beside the rebuild rate of the same store's views,
// measured in the same run.
//
// Thread-safety: a free function; it opens everything it uses itself.

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wfstore/kafka_record.h"

namespace wfstore {

struct ReplicaBenchResult {
  std::uint64_t events = 0;
  // A replica built from nothing: consumer connect, read, decode and fold.
  double replica_seconds = 0;
  double replica_events_per_s = 0;
  // rebuild_store_views() of the source store: log read, decode and fold.
  double rebuild_seconds = 0;
  double rebuild_events_per_s = 0;
  // The replica's view checksum equals the rebuilt views' at the same LSN.
  bool checksums_equal = false;
};

// Replicates `topic` (holding every event of the closed store in
// `store_dir`) into `replica_dir` (missing or empty) until caught up, then
// rebuilds the store's views. Throws what KafkaReplica and
// rebuild_store_views throw, and CorruptionError when the replica stops short
// of the store's last LSN.
ReplicaBenchResult bench_replica_fold(const std::string& brokers,
                                      const std::string& topic,
                                      const std::filesystem::path& store_dir,
                                      const std::filesystem::path& replica_dir);

// The bound of the exporter's rate in the same run: sends `records` to
// `topic` with a plain producer (no idempotence, no transactions; lz4, as the
// exporter) and waits until every one is acknowledged. Returns the seconds it
// took. Throws IOError when librdkafka fails or a delivery fails.
double bench_raw_produce(const std::string& brokers, const std::string& topic,
                         const std::vector<KafkaRecord>& records);

}  // namespace wfstore
