// The demo's streaming part (tools/kafka_demo.cc), built with Kafka only.

#pragma once

#include <filesystem>
#include <string>

namespace wfstore::tools {

// Streams every event of the store in `dir` (no writer running) to an
// in-process Kafka mock cluster, consumes the topic back, checks each event
// arrived exactly once in LSN order, folds the topic into a read replica in
// `replica_dir` (missing or empty) and compares the replica's view checksum
// and its retrieve(`workflow_id`) with the source's. Prints what it does;
// returns false when a check failed.
bool run_kafka_demo(const std::filesystem::path& dir,
                    const std::filesystem::path& replica_dir,
                    const std::string& workflow_id);

}  // namespace wfstore::tools
