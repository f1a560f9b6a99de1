// Export position files: a checked JSON file (checked_json_file.h) of format
// "wfstore-kafka-export 1", like the subscription checkpoints.

#include "kafka/export_position.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"

#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/checked_json_file.h"

namespace wfstore::kafka {
namespace {

constexpr std::string_view kHeader = "wfstore-kafka-export 1";

std::string encode(const ExportPosition& p) {
  return encode_checked_json(kHeader, {{"topic", p.topic},
                                       {"store_id", p.store_id},
                                       {"cluster_id", p.cluster_id},
                                       {"transactional_id", p.transactional_id},
                                       {"lsn", p.lsn},
                                       {"commit_hash", p.commit_hash},
                                       {"updated_ms", p.updated_ms}});
}

ExportPosition decode(const std::string& bytes,
                      const std::filesystem::path& path) {
  const nlohmann::json doc = decode_checked_json(
      bytes, kHeader, "export position file", "an export position file", path);
  try {
    ExportPosition p;
    p.topic = doc.at("topic").get<std::string>();
    p.store_id = doc.at("store_id").get<std::string>();
    p.cluster_id = doc.at("cluster_id").get<std::string>();
    p.transactional_id = doc.at("transactional_id").get<std::string>();
    p.lsn = doc.at("lsn").get<std::uint64_t>();
    p.commit_hash = doc.at("commit_hash").get<std::string>();
    p.updated_ms = doc.at("updated_ms").get<std::int64_t>();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw CorruptionError(
        fmt::format("export position file {}: {}", path.string(), e.what()));
  }
}

}  // namespace

bool is_topic_name(std::string_view topic) {
  return !topic.empty() && topic.size() <= kMaxTopicLength && topic != "." &&
         topic != ".." && std::all_of(topic.begin(), topic.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                  c == '.' || c == '_' || c == '-';
         });
}

std::filesystem::path position_path(const StoreFiles& files,
                                    const std::string& topic) {
  return files.dir / kExportsDir / (topic + std::string(kPositionSuffix));
}

std::optional<ExportPosition> read_position(const StoreFiles& files,
                                            const std::string& topic) {
  const std::filesystem::path path = position_path(files, topic);
  if (!files.fs->exists(path)) return std::nullopt;
  ExportPosition p = decode(files.fs->read_file(path), path);
  if (p.topic != topic) {
    throw CorruptionError(fmt::format(
        "export position file {} names topic '{}'", path.string(), p.topic));
  }
  if (p.store_id != files.store_id) {
    throw InvalidArgumentError(fmt::format(
        "export position file {} belongs to store {}, not to this store ({})",
        path.string(), p.store_id, files.store_id));
  }
  return p;
}

void write_position(const StoreFiles& files, const ExportPosition& position) {
  const std::filesystem::path dir = files.dir / kExportsDir;
  write_file_atomically(*files.fs, position_path(files, position.topic),
                        dir / ("." + position.topic + ".tmp"),
                        encode(position));
}

namespace {

// `name` with every byte outside printable ASCII, and backslash, as \xNN.
std::string escaped_file_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '\\') {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

// A Prometheus label value: backslash, double quote and line feed escaped
// (a damaged position's topic is a file name, which may hold any of them).
std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

KafkaExportLag lag_of(Database& database, std::uint64_t exported_lsn) {
  KafkaExportLag lag;
  lag.exported_lsn = exported_lsn;
  const CommittedEvents next = read_committed_events(
      database,
      std::min(exported_lsn, read_committed_events(database, 0, 0).current_lsn),
      1);
  lag.store_lsn = next.current_lsn;
  lag.lag_lsns =
      lag.store_lsn > exported_lsn ? lag.store_lsn - exported_lsn : 0;
  if (lag.lag_lsns > 0 && !next.events.empty()) {
    Clock* clock = database.options().clock.get();
    const std::int64_t now = clock != nullptr ? clock->now_ms() : 0;
    lag.lag_seconds = std::max<double>(
        0, static_cast<double>(now - next.events[0].timestamp_ms) / 1000.0);
  }
  return lag;
}

}  // namespace wfstore::kafka

namespace wfstore {

std::vector<KafkaExportStatus> read_export_positions(Database& database) {
  const StoreFiles files = store_files(database);
  const std::filesystem::path dir = files.dir / kafka::kExportsDir;
  std::vector<KafkaExportStatus> out;
  if (!files.fs->exists(dir)) return out;
  for (const std::string& entry : files.fs->list_dir(dir)) {
    const std::string_view suffix = kafka::kPositionSuffix;
    if (entry.size() <= suffix.size() || !entry.ends_with(suffix) ||
        entry.front() == '.') {
      continue;
    }
    const std::string topic = entry.substr(0, entry.size() - suffix.size());
    if (!kafka::is_topic_name(topic)) {
      // No exporter writes it; its name may be any bytes (not UTF-8, quotes,
      // line feeds): shown with those escaped, so listings and JSON hold.
      out.push_back({kafka::escaped_file_name(topic),
                     {},
                     {},
                     "not an export position: its name is not a Kafka topic"});
      continue;
    }
    std::optional<kafka::ExportPosition> p;
    try {
      p = kafka::read_position(files, topic);
    } catch (const CorruptionError& e) {
      out.push_back({topic, {}, {}, e.what()});
      continue;
    } catch (const InvalidArgumentError& e) {  // another store's file
      out.push_back({topic, {}, {}, e.what()});
      continue;
    } catch (const IOError& e) {  // unreadable: a directory, no permission
      out.push_back({topic, {}, {}, e.what()});
      continue;
    }
    if (!p) continue;
    out.push_back(
        {p->topic, p->cluster_id, kafka::lag_of(database, p->lsn), {}});
  }
  return out;
}

std::string export_metric_lines(const std::vector<KafkaExportStatus>& exports) {
  std::string out;
  for (KafkaExportStatus e : exports) {
    e.topic = kafka::escape_label_value(e.topic);
    if (!e.damage.empty()) {
      out += fmt::format("wfstore_kafka_export_damaged{{topic=\"{}\"}} 1\n",
                         e.topic);
      continue;
    }
    out += fmt::format("wfstore_kafka_export_lsn{{topic=\"{}\"}} {}\n", e.topic,
                       e.lag.exported_lsn);
    out += fmt::format("wfstore_kafka_export_lag_lsns{{topic=\"{}\"}} {}\n",
                       e.topic, e.lag.lag_lsns);
    out +=
        fmt::format("wfstore_kafka_export_lag_seconds{{topic=\"{}\"}} {:.3f}\n",
                    e.topic, e.lag.lag_seconds);
  }
  return out;
}

}  // namespace wfstore
