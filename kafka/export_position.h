// The export position file of one topic, <store>/exports/<topic>.pos
// (wfstore/kafka_exporter.h): format, reading and writing, and the lag it
// implies.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/database.h"
#include "wfstore/kafka_exporter.h"

#include "wfstore_internal/committed_events.h"

namespace wfstore::kafka {

inline constexpr std::string_view kExportsDir = "exports";
inline constexpr std::string_view kPositionSuffix = ".pos";

struct ExportPosition {
  std::string topic;
  std::string store_id;
  std::string cluster_id;
  std::string transactional_id;
  std::uint64_t lsn = 0;  // the last LSN of the last committed batch
  // The kHeaderCommitHash of `lsn`'s record: proves, on resume, that the
  // store still holds the events the topic has.
  std::string commit_hash;
  std::int64_t updated_ms = 0;
};

inline constexpr std::size_t kMaxTopicLength = 249;

// Whether `topic` is a topic name the exporter takes: 1-kMaxTopicLength
// characters of [A-Za-z0-9._-], not "." or "..".
bool is_topic_name(std::string_view topic);

std::filesystem::path position_path(const StoreFiles& files,
                                    const std::string& topic);

// The position file of `topic`, or nullopt when there is none. Throws
// CorruptionError (damaged, or naming another topic), InvalidArgumentError
// (written for another store), IOError.
std::optional<ExportPosition> read_position(const StoreFiles& files,
                                            const std::string& topic);

// Replaces the position file atomically (write_file_atomically). Throws
// IOError.
void write_position(const StoreFiles& files, const ExportPosition& position);

// The lag of an export at `exported_lsn` in the store of `database`.
KafkaExportLag lag_of(Database& database, std::uint64_t exported_lsn);

}  // namespace wfstore::kafka
