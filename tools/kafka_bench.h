// `wfstore bench --kafka` (tools/kafka_bench.cc), built with Kafka only.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wfstore::tools {

struct KafkaBenchOptions {
  // Events of the exported store.
  std::uint64_t events = 100000;
  // Commit-to-consumer latency samples.
  std::size_t latency_samples = 200;
  std::string dir;  // empty: a temporary directory
  bool json = false;
};

// Measures, against an in-process mock cluster: the export rate beside a
// plain producer's rate for the same records, the latency from a commit's
// acknowledgement to a consumer's delivery, a replica's fold rate beside the
// rebuild of the same views, and the exporter's peak memory (a `wfstore
// stream` process) for a store and one a quarter of its size. Prints lines, or
// one JSON document. Returns 0, or 1 when a check failed (an event missing,
// a replica unequal). Throws what the store and the Kafka classes throw.
int run_kafka_bench(const KafkaBenchOptions& options);

}  // namespace wfstore::tools
